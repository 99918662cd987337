"""uba-hf: the Unified Budget-Aware (UBA) learning-rate schedule for HuggingFace Transformers.

Importing this package registers ``"uba"`` with Transformers (``SchedulerType``, ``get_scheduler``,
``TrainingArguments``, ``HfArgumentParser`` choices). Registration is idempotent.
"""

from .registry import UBA_SCHEDULER_NAME, register_uba_scheduler
from .schedule import DEFAULT_PHI, get_uba_schedule_with_warmup, uba_factor, uba_lr_lambda
from .trainer import UBAArguments, UBATrainer

__version__ = "0.1.0"

register_uba_scheduler()

__all__ = [
    "DEFAULT_PHI",
    "UBAArguments",
    "UBATrainer",
    "UBA_SCHEDULER_NAME",
    "get_uba_schedule_with_warmup",
    "register_uba_scheduler",
    "uba_factor",
    "uba_lr_lambda",
]
