"""``UBAArguments``: the schedule's own arguments, as an ``HfArgumentParser`` dataclass.

The budget is not here on purpose: it is ``TrainingArguments.max_steps`` (or the number of updates
the Trainer derives from ``num_train_epochs``), counted in optimizer updates; warmup is
``TrainingArguments.warmup_steps`` (a count, or a ratio of the budget when < 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import UBAConfigError
from .registry import check_uba_kwargs
from .schedule import validate_phi, validate_schedule_args

__all__ = ["PHI_AUTO", "UBAArguments", "parse_phi", "resolve_uba_kwargs", "validate_uba_args"]

PHI_AUTO = "auto"


def parse_phi(value: Any) -> float | str:
    """``phi`` as given on a command line, in a recipe or in Python: a number > 0, or ``"auto"``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == PHI_AUTO:
            return PHI_AUTO
        try:
            value = float(text)
        except ValueError:
            raise UBAConfigError(f"`phi` must be a finite number > 0 or '{PHI_AUTO}'; got {value!r}.") from None
    return validate_phi(value)


def validate_uba_args(
    phi: float | str | None, min_lr_ratio: float | None, num_warmup_steps: int = 0, num_training_steps: int = 1
) -> None:
    """The schedule's own checks (the budget part only when given); ``"auto"`` and ``None`` (not given) are
    resolved later (the zero-config choice, or the checkpoint's value on a resume), so they are checked as any
    valid value would be."""
    phi = 1.0 if phi in (None, PHI_AUTO) else phi
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
        self.phi = None if self.phi is None else parse_phi(self.phi)
        validate_uba_args(self.phi, self.min_lr_ratio)
        if not isinstance(self.rebudget, bool):
            raise UBAConfigError(f"`rebudget` must be true or false; got {self.rebudget!r}.")

    def to_scheduler_kwargs(self) -> dict[str, float | str | bool]:
        """``lr_scheduler_kwargs`` for ``"uba"``: the values given (``rebudget`` only when set)."""
        given = {"phi": self.phi, "min_lr_ratio": self.min_lr_ratio, "rebudget": self.rebudget or None}
        return {key: value for key, value in given.items() if value is not None}


def _ratio(value: Any) -> float:
    """``min_lr_ratio`` from ``lr_scheduler_kwargs`` (JSON: a number, or a string of one), as a float; anything else
    (null, a list, a mapping, true / false, text) is the one-line error, not a TypeError / ValueError traceback."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise UBAConfigError(f"`min_lr_ratio` must be a number in [0, 1) (eta_min / eta_max); got {value!r}.") from None


def resolve_uba_kwargs(lr_scheduler_kwargs: dict | None, uba_args: UBAArguments | None) -> dict[str, Any]:
    """The UBA kwargs the user gave, from ``uba_args`` and ``TrainingArguments.lr_scheduler_kwargs``; the same
    key given in both with different values is an error. Keys not given are absent (the package decides them).

    Validated now (the budget-independent parts) rather than at the first training step.
    """
    from_training_args = check_uba_kwargs(lr_scheduler_kwargs)
    resolved = uba_args.to_scheduler_kwargs() if uba_args is not None else {}
    for key, value in from_training_args.items():
        value = parse_phi(value) if key == "phi" else value if key == "rebudget" else _ratio(value)
        if key in resolved and value != resolved[key]:
            raise UBAConfigError(
                f"UBA `{key}` is given twice with different values: lr_scheduler_kwargs has {value!r}, "
                f"UBAArguments has {resolved[key]!r}. Give it in one place."
            )
        resolved[key] = value
    if not resolved.get("rebudget", True):
        del resolved["rebudget"]
    validate_uba_args(resolved.get("phi"), resolved.get("min_lr_ratio"))
    return resolved
