"""Register ``"uba"`` as a Transformers scheduler type.

After ``import uba_hf``:

* ``SchedulerType("uba")`` is a real member (iteration, argparse choices and ``HfArgumentParser``
  see it, so ``--lr_scheduler_type uba`` parses);
* ``transformers.get_scheduler("uba", ...)`` builds :func:`uba_hf.get_uba_schedule_with_warmup`;
* ``TrainingArguments(lr_scheduler_type="uba", lr_scheduler_kwargs={...})`` works with the stock
  ``Trainer``.

``SchedulerType`` is a closed ``Enum``; Python offers no public API to add a member, so
:func:`register_uba_scheduler` adds one exactly the way ``EnumType`` builds its own members (name and
value maps, member list, class attribute). It is the only place where this package touches
Transformers' internals, it is idempotent, and it runs at import time because ``HfArgumentParser``
reads the choices when a parser is built.
"""

from __future__ import annotations

from transformers import optimization
from transformers.trainer_utils import SchedulerType

from .arguments import UBA_KWARGS, UBA_SCHEDULE_KWARGS, check_uba_kwargs
from .schedule import get_uba_schedule_with_warmup

UBA_SCHEDULER_NAME = "uba"
"""The name Transformers knows UBA by once ``uba_hf`` is imported (``SchedulerType("uba")``).

Use it as ``lr_scheduler_type="uba"``, ``--lr_scheduler_type uba`` or ``get_scheduler("uba", ...)``."""
_MEMBER_NAME = "UBA"
__all__ = [
    "UBA_KWARGS",
    "UBA_SCHEDULER_NAME",
    "UBA_SCHEDULE_KWARGS",
    "check_uba_kwargs",
    "register_uba_scheduler",
]


def _uba_scheduler_type() -> SchedulerType:
    """Unpickling hook: ``SchedulerType.UBA`` pickles as a call to this, so loading a pickled
    ``TrainingArguments`` in a fresh process imports ``uba_hf`` and registers the member first."""
    register_uba_scheduler()
    return SchedulerType(UBA_SCHEDULER_NAME)


def _reduce_uba_member(protocol: int = 2):
    return (_uba_scheduler_type, ())


def _uba_from_get_scheduler(optimizer, num_warmup_steps: int, num_training_steps: int, **kwargs):
    """The ``TYPE_TO_SCHEDULER_FUNCTION`` entry: ``get_scheduler`` passes the user's ``scheduler_specific_kwargs``
    (the stock Trainer's ``lr_scheduler_kwargs``) straight through, so they are parsed here, where they enter;
    a value not given (``None``, ``"auto"``) is left to the schedule, which picks it."""
    kwargs = check_uba_kwargs(kwargs, "scheduler_specific_kwargs / lr_scheduler_kwargs")
    return get_uba_schedule_with_warmup(
        optimizer, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps, **kwargs
    )


def register_uba_scheduler() -> SchedulerType:
    """Add ``SchedulerType.UBA = "uba"`` and its scheduler function. Idempotent; returns the member.

    ``import uba_hf`` calls it, so you need it only where ``uba_hf`` cannot be imported first (a process
    started by a launcher imports it through ``uba-run``). Afterwards ``transformers.get_scheduler("uba",
    optimizer, num_warmup_steps=..., num_training_steps=..., scheduler_specific_kwargs={"phi": ...,
    "min_lr_ratio": ...})`` builds :func:`uba_hf.get_uba_schedule_with_warmup`, and ``"uba"`` is one of
    ``HfArgumentParser``'s ``--lr_scheduler_type`` choices.

    Example:

    >>> from transformers import SchedulerType
    >>> register_uba_scheduler() is register_uba_scheduler() is SchedulerType("uba")
    True
    """
    member = SchedulerType._value2member_map_.get(UBA_SCHEDULER_NAME)
    if member is None:
        member = str.__new__(SchedulerType, UBA_SCHEDULER_NAME)
        member._name_ = _MEMBER_NAME
        member._value_ = UBA_SCHEDULER_NAME
        member._sort_order_ = len(SchedulerType._member_names_)
        member.__objclass__ = SchedulerType
        member.__init__(UBA_SCHEDULER_NAME)
        member.__reduce_ex__ = _reduce_uba_member
        # Set the class attribute before the member maps: EnumType.__setattr__ refuses to rebind names
        # that are already members.
        setattr(SchedulerType, _MEMBER_NAME, member)
        SchedulerType._member_map_[_MEMBER_NAME] = member
        SchedulerType._value2member_map_[UBA_SCHEDULER_NAME] = member
        SchedulerType._member_names_.append(_MEMBER_NAME)
    optimization.TYPE_TO_SCHEDULER_FUNCTION[member] = _uba_from_get_scheduler
    return member
