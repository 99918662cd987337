"""uba-hf: the Unified Budget-Aware (UBA) learning-rate schedule for HuggingFace Transformers.

Importing this package registers ``"uba"`` with Transformers (``SchedulerType``, ``get_scheduler``,
``TrainingArguments``, ``HfArgumentParser`` choices). Registration is idempotent.

Public names:

* ``get_uba_schedule_with_warmup`` builds the schedule (a :class:`UBASchedule`, a ``LambdaLR``), shaped like
  Transformers' ``get_*_schedule_with_warmup``; ``uba_factor`` and ``uba_lr_lambda`` are its pure math.
* ``zero_config_schedule(num_training_steps, learning_rate)``: the phi and floor a UBA schedule takes when none
  is given, on every path (from the run's peak LR times its updates; docs/phi.md). A resume that does not give
  them takes the checkpoint's, so a run outlives a change of the rule. There is no fixed default.
* ``suggest_schedule(tokens_per_param)``: deprecated, the budget-only rule.
* ``UBA_SCHEDULER_NAME`` (``"uba"``) and ``register_uba_scheduler``: the registration with Transformers.
* ``UBATrainer`` and ``UBAArguments``: a ``Trainer`` that runs UBA by default and guards its budget.
* ``UBAConfigError``: every user mistake (a ``ValueError``); ``CheckpointWriteError``: a checkpoint write that
  failed half way (disk full, read-only storage; an ``OSError``).

Example:

>>> import torch, uba_hf
>>> from transformers import get_scheduler
>>> opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
>>> kwargs = {"phi": 2.0, "min_lr_ratio": 0.0}  # phi 2 is cosine: half the peak at mid-budget
>>> sched = get_scheduler("uba", opt, num_warmup_steps=0, num_training_steps=10, scheduler_specific_kwargs=kwargs)
>>> [round(sched.lr_lambdas[0](s), 4) for s in (0, 5, 10)]
[1.0, 0.5, 0.0]

The library is this package's top level; ``uba_hf.pretrain`` is the pretraining job (extra
``[pretrain]``) and imports the library, never the other way round.
"""

from .arguments import UBAArguments
from .errors import CheckpointWriteError, UBAConfigError
from .registry import UBA_SCHEDULER_NAME, register_uba_scheduler
from .schedule import (
    UBASchedule,
    get_uba_schedule_with_warmup,
    suggest_schedule,
    uba_factor,
    uba_lr_lambda,
)
from .trainer import UBATrainer
from .zero_config import zero_config_schedule

__version__ = "0.4.0"

register_uba_scheduler()

__all__ = [
    "CheckpointWriteError",
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
    "zero_config_schedule",
]

_REMOVED = {"DEFAULT_PHI": "phi", "DEFAULT_MIN_LR_RATIO": "min_lr_ratio"}


def __getattr__(name: str):
    """Removed names fail with the way forward. An ``ImportError``: ``from uba_hf import DEFAULT_PHI`` would
    replace an ``AttributeError``'s message with its own."""
    if name in _REMOVED:
        raise ImportError(
            f"uba_hf.{name} was removed in 0.4.0: a UBA schedule built without {_REMOVED[name]} takes it from the "
            "run's budget and peak LR, uba_hf.zero_config_schedule(num_training_steps, learning_rate); give "
            f"{_REMOVED[name]} explicitly for a fixed value."
        )
    raise AttributeError(f"module 'uba_hf' has no attribute {name!r}")
