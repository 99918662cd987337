"""A directory ``uba-run`` puts first on ``PYTHONPATH`` for the processes its target starts.

Some CLIs train in processes they start themselves: ``trl sft`` re-launches TRL's training script
through ``accelerate launch``; other CLIs use ``torchrun`` the same way. Those new
Python processes never ran ``uba-run``, so without help they would answer ``--lr_scheduler_type
uba`` with "invalid choice". The ``sitecustomize`` module here, which Python imports at start-up
from ``PYTHONPATH``, registers ``"uba"`` in each of them.
"""
