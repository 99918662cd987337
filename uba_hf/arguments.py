"""``UBAArguments``: the schedule's own arguments, as an ``HfArgumentParser`` dataclass.

The budget is not here on purpose: it is ``TrainingArguments.max_steps`` (or the number of updates
the Trainer derives from ``num_train_epochs``), counted in optimizer updates; warmup is
``TrainingArguments.warmup_steps`` (a count, or a ratio of the budget when < 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import UBAConfigError
from .schedule import validate_min_lr_ratio, validate_phi, validate_schedule_args

__all__ = [
    "PHI_AUTO",
    "UBAArguments",
    "UBA_KWARGS",
    "UBA_SCHEDULE_KWARGS",
    "check_uba_kwargs",
    "parse_min_lr_ratio",
    "parse_phi",
    "resolve_uba_kwargs",
    "validate_uba_args",
]

PHI_AUTO = "auto"
UBA_SCHEDULE_KWARGS = ("phi", "min_lr_ratio")  # the curve's own parameters (recorded in checkpoints)
UBA_KWARGS = (*UBA_SCHEDULE_KWARGS, "rebudget")  # everything lr_scheduler_kwargs may hold for "uba"


def parse_phi(value: Any) -> float | None:
    """``phi`` as given on a command line, in a recipe, in ``lr_scheduler_kwargs`` or in Python: a number > 0
    (or its text), or ``"auto"`` / ``None``, which mean the same: not given, so the schedule picks it
    (``UBASchedule``). Every entry point parses with this, so everything after it sees a float or None."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == PHI_AUTO:
            return None
        try:
            value = float(text)
        except ValueError:
            raise UBAConfigError(f"`phi` must be a finite number > 0 or '{PHI_AUTO}'; got {value!r}.") from None
    return validate_phi(value)


def parse_min_lr_ratio(value: Any) -> float | None:
    """``min_lr_ratio`` as given: a number in [0, 1) (or its text), or ``None`` (not given: the schedule picks it)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise UBAConfigError(
                f"`min_lr_ratio` must be a number in [0, 1) (eta_min / eta_max); got {value!r}."
            ) from None
    return validate_min_lr_ratio(value)


def check_uba_kwargs(kwargs: dict | None, where: str = "lr_scheduler_kwargs") -> dict[str, Any]:
    """``lr_scheduler_kwargs`` for ``"uba"`` parsed: ``phi`` and ``min_lr_ratio`` as floats, ``rebudget`` as
    ``True``; a key not given (``None``, ``phi="auto"``, ``rebudget=False``) is absent. Unknown keys and bad
    values raise :class:`UBAConfigError` naming ``where``."""
    kwargs = dict(kwargs or {})
    unknown = sorted(set(kwargs) - set(UBA_KWARGS))
    if unknown:
        hint = ""
        if "min_lr" in unknown or "min_lr_rate" in unknown:
            hint = " Express the floor as `min_lr_ratio` (eta_min / eta_max), applied to each param group's own LR."
        raise UBAConfigError(
            f"`{where}` for lr_scheduler_type 'uba' accepts only {list(UBA_KWARGS)}; got unknown {unknown}.{hint}"
        )
    if not isinstance(kwargs.get("rebudget", False), bool):
        raise UBAConfigError(f"`{where}` 'rebudget' must be true or false; got {kwargs['rebudget']!r}.")
    parsed = {
        "phi": parse_phi(kwargs.get("phi")),
        "min_lr_ratio": parse_min_lr_ratio(kwargs.get("min_lr_ratio")),
        "rebudget": kwargs.get("rebudget") or None,
    }
    return {key: value for key, value in parsed.items() if value is not None}


def validate_uba_args(
    phi: float | None, min_lr_ratio: float | None, num_warmup_steps: int = 0, num_training_steps: int = 1
) -> None:
    """The schedule's own checks of a budget and warmup known before the schedule exists (a job's early check);
    ``phi`` / ``min_lr_ratio`` ``None`` (not given: the schedule picks them) are checked as any valid value
    would be."""
    phi = 1.0 if phi is None else phi
    min_lr_ratio = 0.0 if min_lr_ratio is None else min_lr_ratio
    validate_schedule_args(num_warmup_steps, num_training_steps, phi, min_lr_ratio)


@dataclass
class UBAArguments:
    """Arguments of the UBA schedule, parseable by ``HfArgumentParser``; ``UBATrainer(uba_args=...)`` takes them.

    Fields: ``phi`` (a number > 0, or ``"auto"``: the zero-config choice, the same as not giving it to
    ``UBATrainer``; a string so that the command line can say either), ``min_lr_ratio`` (the floor, a fraction
    of each param group's peak LR) and ``rebudget`` (continue a resumed run on a new budget instead of refusing
    it). Bad values raise :class:`UBAConfigError`.

    Example:

    >>> from transformers import HfArgumentParser
    >>> parser = HfArgumentParser(UBAArguments)
    >>> (uba_args,) = parser.parse_args_into_dataclasses(["--phi", "0.5", "--min_lr_ratio", "0.1"])
    >>> uba_args.phi, uba_args.min_lr_ratio
    (0.5, 0.1)
    >>> uba_args.to_scheduler_kwargs()  # the same as lr_scheduler_kwargs for the stock Trainer
    {'phi': 0.5, 'min_lr_ratio': 0.1}
    """

    _argument_group_name = "UBA schedule (UBAArguments)"  # its section in an HfArgumentParser's --help

    phi: str | None = field(
        default=None,
        metadata={
            "help": "UBA shape parameter, a number > 0 (2 = cosine; < 2 keeps the LR high longer; > 2 decays "
            f"earlier). Not given (or '{PHI_AUTO}'): the zero-config choice, phi and the floor from the run's "
            "peak LR times its updates (docs/phi.md); a resume takes the checkpoint's."
        },
    )
    min_lr_ratio: float | None = field(
        default=None,
        metadata={
            "help": "Final LR as a fraction of each param group's peak LR, in [0, 1). Not given: the zero-config "
            "choice's floor (0.1 below an LR area of 60, else 0; docs/phi.md); a resume takes the checkpoint's."
        },
    )
    rebudget: bool = field(
        default=False,
        metadata={
            "help": "On a resume with another budget (max_steps / max_tokens), continue from the LR the run has "
            "reached and decay, with the same phi and floor, to the floor at the new budget (docs/schedule.md, "
            "'Re-budgeting'). Without it, such a resume is refused."
        },
    )

    def __post_init__(self) -> None:
        # Parsed here, where the command line and Python enter: a float, or None for a value not given.
        self.phi = parse_phi(self.phi)
        self.min_lr_ratio = parse_min_lr_ratio(self.min_lr_ratio)
        if not isinstance(self.rebudget, bool):
            raise UBAConfigError(f"`rebudget` must be true or false; got {self.rebudget!r}.")

    def to_scheduler_kwargs(self) -> dict[str, float | bool]:
        """``lr_scheduler_kwargs`` for ``"uba"``: the values given (``rebudget`` only when set)."""
        given = {"phi": self.phi, "min_lr_ratio": self.min_lr_ratio, "rebudget": self.rebudget or None}
        return {key: value for key, value in given.items() if value is not None}


def resolve_uba_kwargs(lr_scheduler_kwargs: dict | None, uba_args: UBAArguments | None) -> dict[str, Any]:
    """The UBA kwargs the user gave, from ``uba_args`` and ``TrainingArguments.lr_scheduler_kwargs``, parsed
    (:func:`check_uba_kwargs`); the same key given in both with different values is an error. Keys not given are
    absent: the schedule picks them, or takes the checkpoint's on a resume."""
    resolved = uba_args.to_scheduler_kwargs() if uba_args is not None else {}
    for key, value in check_uba_kwargs(lr_scheduler_kwargs).items():
        if key in resolved and value != resolved[key]:
            raise UBAConfigError(
                f"UBA `{key}` is given twice with different values: lr_scheduler_kwargs has {value!r}, "
                f"UBAArguments has {resolved[key]!r}. Give it in one place."
            )
        resolved[key] = value
    return resolved
