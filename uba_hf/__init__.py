"""uba-hf: the Unified Budget-Aware (UBA) learning-rate schedule for HuggingFace Transformers.

Importing this package registers ``"uba"`` with Transformers (``SchedulerType``, ``get_scheduler``,
``TrainingArguments``, ``HfArgumentParser`` choices). Registration is idempotent.

The library is this package's top level; ``uba_hf.pretrain`` is the pretraining job (extra
``[pretrain]``) and imports the library, never the other way round.
"""

from .arguments import UBAArguments
from .errors import UBAConfigError
from .registry import UBA_SCHEDULER_NAME, register_uba_scheduler
from .schedule import (
    DEFAULT_PHI,
    UBASchedule,
    get_uba_schedule_with_warmup,
    suggest_schedule,
    uba_factor,
    uba_lr_lambda,
)
from .trainer import UBATrainer

__version__ = "0.3.0"

register_uba_scheduler()

__all__ = [
    "DEFAULT_PHI",
    "UBAArguments",
    "UBAConfigError",
    "UBASchedule",
    "UBATrainer",
    "UBA_SCHEDULER_NAME",
    "get_uba_schedule_with_warmup",
    "register_uba_scheduler",
    "suggest_schedule",
    "uba_factor",
    "uba_lr_lambda",
]
