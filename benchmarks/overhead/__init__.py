"""The overhead study as a package, so that another study can time the scheduler as this one does
(``benchmarks/gpu_check.py``: ``from overhead import time_scheduler_steps``, with ``benchmarks/`` on its path)."""

from .overhead import time_scheduler_steps

__all__ = ["time_scheduler_steps"]
