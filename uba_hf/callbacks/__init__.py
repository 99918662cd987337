"""Trainer callbacks, one per file: they work with the stock ``transformers.Trainer`` too."""

from .checkpoint import CheckpointCompletionCallback
from .lr_trace import LRTraceCallback
from .preemption import PreemptionCallback

__all__ = ["CheckpointCompletionCallback", "LRTraceCallback", "PreemptionCallback"]
