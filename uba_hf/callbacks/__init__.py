"""Trainer callbacks, one per file: they work with the stock ``transformers.Trainer`` too."""

from .checkpoint import CheckpointCompletionCallback
from .lr_trace import LRTraceCallback
from .preemption import PreemptionCallback
from .resume import ResumeLogCallback

__all__ = ["CheckpointCompletionCallback", "LRTraceCallback", "PreemptionCallback", "ResumeLogCallback"]
