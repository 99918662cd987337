"""The UBA learning-rate schedule: pure math and a Transformers-shaped constructor.

UBA (Unified Budget-Aware, Tang et al., "Stepsize anything: A unified learning rate schedule for
budgeted-iteration training", NeurIPS 2025, arXiv 2505.24452) decays the learning rate over a fixed
budget of ``T`` optimizer updates as

    eta(t) = eta_min + (eta_max - eta_min) * 2 c(t) / (2 phi + (2 - phi) c(t)),
    c(t)   = 1 + cos(pi t / T),

with one knob ``phi > 0``: ``phi = 2`` is cosine annealing, ``phi < 2`` holds the LR high for longer
(WSD-like as phi -> 0), ``phi > 2`` decays earlier.

This module imports nothing from Transformers, so the math stays testable on its own. Like
Transformers' ``optimization.py``, the multiplier is a module-level function bound with
``functools.partial``: the scheduler pickles, and its ``state_dict()`` round-trips. The
specification is docs/schedule.md.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Sequence
from functools import partial
from types import MappingProxyType
from typing import Any

from torch.optim.lr_scheduler import LambdaLR

from .errors import UBAConfigError
from .logs import log_info
from .zero_config import peak_learning_rate, zero_config_line, zero_config_schedule

# phi and the floor have no fixed defaults: a schedule built without them takes them from its own budget and its
# optimizer's peak LR (``uba_hf.zero_config``), and a resume takes the checkpoint's (``adopt_recorded``), so that a
# run resumes on the curve its checkpoint records, whatever picked it.

# The deprecated budget rule of ``suggest_schedule``, by tokens per non-embedding parameter: below the switch phi 1
# with a 10% floor, from it on phi 4 to zero. The measurements behind it: docs/phi.md, "The budget rule".
SHORT_BUDGET_TOKENS_PER_PARAM = 2.5
SHORT_BUDGET_SCHEDULE = MappingProxyType({"phi": 1.0, "min_lr_ratio": 0.1})  # read-only: the rule is global
LONG_BUDGET_SCHEDULE = MappingProxyType({"phi": 4.0, "min_lr_ratio": 0.0})

__all__ = [
    "LONG_BUDGET_SCHEDULE",
    "SHORT_BUDGET_SCHEDULE",
    "SHORT_BUDGET_TOKENS_PER_PARAM",
    "UBASchedule",
    "get_uba_schedule_with_warmup",
    "suggest_schedule",
    "uba_factor",
    "uba_lr_lambda",
    "validate_min_lr_ratio",
    "validate_phi",
    "validate_schedule_args",
]


def validate_phi(phi: float, name: str = "phi") -> float:
    """Return ``phi`` as a float, or raise ``ValueError`` if it is not a finite number > 0."""
    if isinstance(phi, bool) or not isinstance(phi, (int, float)):
        raise UBAConfigError(f"`{name}` must be a finite number > 0 (e.g. 1.0); got {phi!r}.")
    phi = float(phi)
    if not math.isfinite(phi) or phi <= 0.0:
        raise UBAConfigError(
            f"`{name}` must be a finite number > 0 (phi=2 is cosine, phi<2 keeps the LR high longer); got {phi!r}."
        )
    return phi


def validate_min_lr_ratio(min_lr_ratio: float) -> float:
    """Return ``min_lr_ratio`` as a float, or raise ``ValueError`` if it is not a number in [0, 1)."""
    if isinstance(min_lr_ratio, bool) or not isinstance(min_lr_ratio, (int, float)):
        raise UBAConfigError(f"`min_lr_ratio` must be a number in [0, 1) (eta_min / eta_max); got {min_lr_ratio!r}.")
    min_lr_ratio = float(min_lr_ratio)
    if not (0.0 <= min_lr_ratio < 1.0):  # also rejects NaN
        raise UBAConfigError(f"`min_lr_ratio` must be in [0, 1) (eta_min / eta_max); got {min_lr_ratio!r}.")
    return min_lr_ratio


def suggest_schedule(tokens_per_param: float) -> dict[str, float]:
    """``{"phi", "min_lr_ratio"}`` for a budget of ``tokens_per_param`` tokens per non-embedding parameter.

    The budget-only rule (``SHORT_BUDGET_TOKENS_PER_PARAM`` and the two schedules in ``uba_hf.schedule``): short
    budgets keep the LR up (phi 1, 10% floor), longer ones decay early and to zero (phi 4). Returns a new dict,
    usable as ``lr_scheduler_kwargs`` for ``"uba"``. It reads the budget alone, and the best phi depends on the
    peak LR too (``docs/phi.md``, "The budget rule"): prefer leaving phi out.

    Args:
        tokens_per_param: training tokens over non-embedding parameters (20 is Chinchilla's ratio).

    Example:

    >>> import warnings
    >>> with warnings.catch_warnings():  # deprecated (a FutureWarning)
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     short, long = suggest_schedule(1.0), suggest_schedule(20.0)
    >>> short  # a short budget: keep the LR up, stop at a 10% floor
    {'phi': 1.0, 'min_lr_ratio': 0.1}
    >>> long  # a long one: decay early, to zero
    {'phi': 4.0, 'min_lr_ratio': 0.0}

    Pass it on as ``TrainingArguments(lr_scheduler_type="uba", lr_scheduler_kwargs=suggest_schedule(20.0))``.

    Deprecated (a ``FutureWarning``; to be removed in 0.5.0): every UBA schedule built without a phi picks it from
    the budget *and* the peak LR (:func:`uba_hf.zero_config_schedule`), which this rule cannot.
    """
    import warnings

    warnings.warn(
        "uba_hf.suggest_schedule is deprecated and will be removed in 0.5.0: leave phi out with UBATrainer / "
        "uba-pretrain (they pick phi and the floor from the budget and the peak LR), or call "
        "uba_hf.zero_config_schedule(num_training_steps, learning_rate).",
        FutureWarning,
        stacklevel=2,
    )
    if isinstance(tokens_per_param, bool) or not isinstance(tokens_per_param, numbers.Real):
        raise UBAConfigError(f"`tokens_per_param` must be a number > 0; got {tokens_per_param!r}.")
    if not math.isfinite(tokens_per_param) or tokens_per_param <= 0:
        raise UBAConfigError(f"`tokens_per_param` must be a finite number > 0; got {tokens_per_param!r}.")
    short = tokens_per_param < SHORT_BUDGET_TOKENS_PER_PARAM
    return dict(SHORT_BUDGET_SCHEDULE if short else LONG_BUDGET_SCHEDULE)


def _validate_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UBAConfigError(f"`{name}` must be an integer number of optimizer updates >= {minimum}; got {value!r}.")
    return value


def validate_schedule_args(
    num_warmup_steps: int, num_training_steps: int, phi: float, min_lr_ratio: float
) -> tuple[int, int, float, float]:
    """Check every schedule argument and return them normalised (ints, floats).

    Raises ``ValueError`` naming the argument and the allowed range.
    """
    num_training_steps = _validate_int(num_training_steps, "num_training_steps", 1)
    num_warmup_steps = _validate_int(num_warmup_steps, "num_warmup_steps", 0)
    if num_warmup_steps > num_training_steps:
        raise UBAConfigError(
            f"`num_warmup_steps` ({num_warmup_steps}) must be <= `num_training_steps` ({num_training_steps}): "
            "the warmup is part of the budget. Shorten the warmup or raise the budget."
        )
    phi = validate_phi(phi)
    return num_warmup_steps, num_training_steps, phi, validate_min_lr_ratio(min_lr_ratio)


def uba_factor(t: float, total: float, phi: float) -> float:
    """The UBA decay factor in [0, 1] at update ``t`` of a decay budget of ``total`` updates.

    ``2 c / (2 phi + (2 - phi) c)`` with ``c = 1 + cos(pi t / total)``: 1 at ``t = 0``, 0 at
    ``t = total``, monotone in between. The denominator is > 0 for every ``phi > 0`` and ``c`` in
    [0, 2] (it is ``2 phi`` at ``c = 0`` and ``4`` at ``c = 2``, linear in between).

    Example: halfway through the decay, phi 2 is cosine's 0.5 and phi 1 keeps two thirds of the peak.

    >>> uba_factor(0, 100, phi=1.0), uba_factor(100, 100, phi=1.0)
    (1.0, 0.0)
    >>> round(uba_factor(50, 100, phi=2.0), 4), round(uba_factor(50, 100, phi=1.0), 4)
    (0.5, 0.6667)
    """
    progress = float(t) / float(max(1, total))
    # Same float operations as Transformers' cosine, so that phi=2 reproduces it bit for bit.
    c = 1.0 + math.cos(math.pi * progress)
    if phi > 2.0:  # 2 phi + (2 - phi) c cancels (0 at c = 2 from phi ~1e17 on): the same sum, of two terms >= 0
        return 2.0 * c / (2.0 * c + phi * (2.0 - c))
    return 2.0 * c / (2.0 * phi + (2.0 - phi) * c)


def uba_lr_lambda(
    current_step: int,
    *,
    num_warmup_steps: int,
    num_training_steps: int,
    phi: float,
    min_lr_ratio: float,
    segments: Sequence[dict[str, Any]] | None = None,
) -> float:
    """The ``LambdaLR`` multiplier at scheduler step ``current_step`` (0-based).

    Linear warmup ``s / max(1, W)`` for ``s < W`` (as in Transformers), then the UBA factor over the
    remaining ``N - W`` updates mapped to ``[min_lr_ratio, 1]``, then ``min_lr_ratio`` forever.

    ``segments`` (only after a re-budget, see :meth:`UBASchedule.load_state_dict`): the decay plans in
    the order they were made, each ``{"start": S, "start_multiplier": m, "end": N}``; the first is the
    original decay (``S = W``, ``m = 1``). Step ``s >= W`` follows the last segment with ``S <= s``:
    ``r + (m - r) * f(s - S; T = N - S)`` before its end, ``r`` after it.

    Example: 2 warmup updates, a budget of 10, phi 1, a 10% floor (0.7 = 0.1 + 0.9 x 2/3 at mid-decay).

    >>> kw = dict(num_warmup_steps=2, num_training_steps=10, phi=1.0, min_lr_ratio=0.1)
    >>> [round(uba_lr_lambda(s, **kw), 4) for s in (0, 1, 2, 6, 10, 50)]
    [0.0, 0.5, 1.0, 0.7, 0.1, 0.1]
    """
    if current_step < num_warmup_steps:
        return float(current_step) / float(max(1, num_warmup_steps))
    start, start_multiplier, end = num_warmup_steps, 1.0, num_training_steps
    for segment in segments or ():
        if current_step >= segment["start"]:
            start, start_multiplier, end = segment["start"], segment["start_multiplier"], segment["end"]
    if current_step >= end:
        return min_lr_ratio
    factor = uba_factor(current_step - start, end - start, phi)
    # Same order of operations as Transformers' cosine_with_min_lr (start_multiplier is 1.0 there).
    return factor * (start_multiplier - min_lr_ratio) + min_lr_ratio


SCHEDULE_STATE_KEY = "uba"
SCHEDULE_FIELDS = ("num_training_steps", "num_warmup_steps", "phi", "min_lr_ratio")
REBUDGET_HINT = (
    "to change this run's budget from here, resume with --rebudget (UBAArguments(rebudget=True), or "
    'lr_scheduler_kwargs={"rebudget": true}): the LR continues from where it is and decays to the floor at '
    "the new budget"
)


def schedule_mismatch(
    saved: dict[str, Any], current: dict[str, Any], fields: Sequence[str] = SCHEDULE_FIELDS
) -> list[str]:
    """``"key: checkpoint X vs now Y"`` for every schedule field that differs (floats up to rounding)."""
    diffs = []
    for key in fields:
        old, new = saved.get(key), current.get(key)
        same = (
            math.isclose(float(old), float(new), rel_tol=1e-12, abs_tol=0.0)
            if isinstance(old, (int, float)) and isinstance(new, (int, float))
            else old == new
        )
        if not same:
            diffs.append(f"{key}: checkpoint {old!r} vs now {new!r}")
    return diffs


def mismatch_message(diffs: list[str], where: str = "this checkpoint") -> str:
    """The one message for a resume whose schedule differs (UBATrainer, the stock Trainer, DeepSpeed)."""
    return (
        f"Cannot resume from {where}: the UBA schedule differs ({'; '.join(diffs)}). The LR would jump to "
        "another curve mid-decay. Ways forward: resume with the checkpoint's values (max_steps, warmup_steps, "
        f"phi, min_lr_ratio); {REBUDGET_HINT}; or start a new run from the checkpoint's weights (e.g. "
        "--model_name_or_path CHECKPOINT) with the new budget."
    )


def rebudget_state(saved: dict[str, Any], current_step: int, new_budget: int) -> dict[str, Any]:
    """The schedule record of a run that had ``saved`` and continues from update ``current_step`` with
    ``new_budget`` updates in all: a new decay segment is appended (docs/schedule.md, "Re-budgeting").

    The segment starts at ``S = max(current_step, W)`` (a re-budget inside the warmup finishes the
    warmup first) at the multiplier the run had reached there, ``m = lambda_old(S)``, and decays with
    the same phi to the same floor at ``new_budget``. Update ``S`` thus uses exactly the LR the old
    plan had scheduled for it: the change at the join is one step of the old curve.
    """
    warmup = saved["num_warmup_steps"]
    start = max(int(current_step), warmup)
    if new_budget <= current_step or new_budget < warmup:
        raise UBAConfigError(
            f"Cannot re-budget to {new_budget} updates at update {current_step}"
            + (f" (warmup {warmup})" if current_step < warmup else "")
            + f": the new budget (max_steps / max_tokens) must be > {current_step}"
            + (f" and >= the warmup {warmup}." if current_step < warmup else ", the updates already run.")
        )
    old_segments = saved.get("segments") or [
        {"start": warmup, "start_multiplier": 1.0, "end": saved["num_training_steps"]}
    ]
    old_kwargs = {key: saved[key] for key in SCHEDULE_FIELDS}
    start_multiplier = uba_lr_lambda(start, **old_kwargs, segments=old_segments)
    segment = {"start": start, "start_multiplier": start_multiplier, "end": int(new_budget)}
    return {**old_kwargs, "num_training_steps": int(new_budget), "segments": [*old_segments, segment]}


def adopt_recorded(
    current: dict[str, Any], recorded: dict[str, Any], not_given: Sequence[str], where: str
) -> dict[str, Any]:
    """``current`` with the values of ``not_given`` keys taken from a checkpoint's ``recorded`` schedule.

    A value the user did not give cannot conflict with a checkpoint: the run continues with what it started
    with (whatever picked it when it started), and says so in one line.
    The keys the user gave are left as they are, for the caller to check against the checkpoint.
    """
    adopted = {key: recorded[key] for key in not_given if key in recorded}
    if adopted:
        values = ", ".join(f"{key}={value!r}" for key, value in adopted.items())
        log_info(
            f"UBA: resuming with {values} recorded in {where} (not given now: the run continues on the curve it "
            "started on)."
        )
    return {**current, **adopted}


# UBASchedule attributes of this process, not of the run: how it loads a checkpoint's state, and the zero-config
# choice it made and has yet to log. Never saved in the state itself.
_HOW_TO_LOAD = ("rebudget", "not_given", "zero_config", "zero_config_note")


class UBASchedule(LambdaLR):
    """The UBA ``LambdaLR``, whose checkpoint records the schedule and refuses to resume on another one.

    Its ``state_dict()`` also records the schedule, and ``load_state_dict()`` refuses a state recorded with
    another one, or, with ``rebudget=True``, continues it on a new budget.

    ``LambdaLR`` checkpoints only its step counter, so a run resumed with another ``max_steps``
    (or warmup, phi, floor) would silently continue on another curve. The guard lives here, in the
    scheduler, so it holds on every path that restores one: ``UBATrainer``, the stock ``Trainer``
    (``scheduler.pt``), Accelerate's wrapped scheduler and DeepSpeed's engine checkpoint. A state
    without the record (an older checkpoint, a plain ``LambdaLR``) loads with a warning.

    ``rebudget=True``: a state with another budget is continued on a new decay segment
    (:func:`rebudget_state`); phi and the floor must still match, and the run keeps its own warmup.
    The segments are part of the state, so a later resume (with the new budget) is exact.

    ``phi`` / ``min_lr_ratio`` ``None`` (not given): the zero-config choice for a new run, from the budget and the
    optimizer's peak LR (:func:`uba_hf.zero_config_schedule`; one log line), and the state's own values on a
    resume (:func:`adopt_recorded`), so a run resumes exactly on the curve it started on. Only values given
    explicitly are checked against the state. This is the one place that fills a value not given: the pick is
    ``self.zero_config`` (``zero_config_schedule``'s dict with the ``learning_rate`` and ``num_training_steps`` it
    read; None when both were given or a checkpoint's state replaced it), logged at the first step where
    Transformers' messages show (``uba_hf.logs``) unless an owner takes the line first (``pop_zero_config_note``).

    Build it with :func:`get_uba_schedule_with_warmup` (or ``transformers.get_scheduler("uba", ...)``).

    Example: a state saved for a budget of 100 updates does not load into a schedule of 200.

    >>> import torch
    >>> opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    >>> saved = get_uba_schedule_with_warmup(opt, 0, 100).state_dict()
    >>> get_uba_schedule_with_warmup(opt, 0, 200).load_state_dict(saved)
    Traceback (most recent call last):
    ...
    uba_hf.errors.UBAConfigError: ...
    """

    def __init__(
        self,
        optimizer,
        *,
        num_warmup_steps: int,
        num_training_steps: int,
        phi: float | None,
        min_lr_ratio: float | None,
        last_epoch: int = -1,
        rebudget: bool = False,
    ) -> None:
        # None: not given, so the zero-config choice now, and the checkpoint's value on a resume.
        given = {key: value for key, value in (("phi", phi), ("min_lr_ratio", min_lr_ratio)) if value is not None}
        self.not_given = tuple(key for key in ("phi", "min_lr_ratio") if key not in given)
        choice = None
        if self.not_given:
            budget = _validate_int(num_training_steps, "num_training_steps", 1)
            peak_lr = peak_learning_rate(optimizer)
            choice = {**zero_config_schedule(budget, peak_lr), "learning_rate": peak_lr, "num_training_steps": budget}
            phi = choice["phi"] if phi is None else phi
            min_lr_ratio = choice["min_lr_ratio"] if min_lr_ratio is None else min_lr_ratio
        num_warmup_steps, num_training_steps, phi, min_lr_ratio = validate_schedule_args(
            num_warmup_steps, num_training_steps, phi, min_lr_ratio
        )
        if not isinstance(rebudget, bool):
            raise UBAConfigError(f"`rebudget` must be true or false; got {rebudget!r}.")
        # In __dict__, so LambdaLR.state_dict() saves it with the step counter.
        self.uba = {
            "num_training_steps": num_training_steps,
            "num_warmup_steps": num_warmup_steps,
            "phi": phi,
            "min_lr_ratio": min_lr_ratio,
        }
        super().__init__(optimizer, partial(uba_lr_lambda, **self.uba), last_epoch)
        self.rebudget = rebudget  # set after LambdaLR's first step; not part of the state (see state_dict)
        # What the zero-config rule picked (its dict, with the peak LR and budget it read), or None when both were
        # given or a checkpoint's state replaced the choice; logged at the first step, once that is known.
        self.zero_config = choice
        self.zero_config_note = None
        if choice is not None:
            given = {key: self.uba[key] for key in given}
            self.zero_config_note = zero_config_line(choice, self.not_given, given)

    def step(self, *args: Any, **kwargs: Any) -> None:
        note = self.pop_zero_config_note()
        if note is not None:
            log_info(note)
        super().step(*args, **kwargs)

    def pop_zero_config_note(self) -> str | None:
        """The zero-config pick's log line, not yet logged (None when there is none), handed to the caller, which
        logs it instead of the first step: ``UBATrainer`` logs it before training, beside the schedule it runs."""
        note, self.zero_config_note = getattr(self, "zero_config_note", None), None
        return note

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        for key in _HOW_TO_LOAD:  # how this run loads a state, not what the state is
            state.pop(key, None)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = {key: value for key, value in state_dict.items() if key not in _HOW_TO_LOAD}
        saved = state_dict.get(SCHEDULE_STATE_KEY)
        if saved is None:
            logging.getLogger("uba_hf").warning(
                "The scheduler state has no UBA schedule record (an older checkpoint, or not a UBA schedule): "
                "cannot check that its budget matches this run's %s.",
                self.uba,
            )
            state_dict = {**state_dict, SCHEDULE_STATE_KEY: self.uba}
        else:
            # The run continues with the checkpoint's values (adopt_recorded says so), not this process's choice.
            self.zero_config = self.zero_config_note = None
            self.uba = adopt_recorded(self.uba, saved, self.not_given, "the scheduler state")
            # A re-budgeted run's warmup is history (the state keeps it); a ratio warmup re-derived from the
            # new budget would differ, so it is compared only while the run is on its first plan.
            keep_warmup = self.rebudget or bool(saved.get("segments"))
            fields = [key for key in SCHEDULE_FIELDS if not (keep_warmup and key == "num_warmup_steps")]
            diffs = schedule_mismatch(saved, self.uba, fields)
            if keep_warmup and saved["num_warmup_steps"] != self.uba["num_warmup_steps"]:
                logging.getLogger("uba_hf").info(
                    "UBA: keeping the run's own warmup of %d updates (the arguments now give %d).",
                    saved["num_warmup_steps"],
                    self.uba["num_warmup_steps"],
                )
            new_budget = self.uba["num_training_steps"]
            if self.rebudget and diffs and all(d.startswith("num_training_steps:") for d in diffs):
                saved = rebudget_state(saved, state_dict["last_epoch"], new_budget)
                segment = saved["segments"][-1]
                logging.getLogger("uba_hf").info(
                    "UBA re-budget at update %d: budget %d -> %d updates; the LR continues from multiplier %.6g "
                    "at update %d and decays (phi=%s) to the floor %s at update %d.",
                    state_dict["last_epoch"],
                    saved["segments"][-2]["end"],
                    new_budget,
                    segment["start_multiplier"],
                    segment["start"],
                    saved["phi"],
                    saved["min_lr_ratio"],
                    new_budget,
                )
                state_dict = {**state_dict, SCHEDULE_STATE_KEY: saved}
            elif diffs:
                if self.rebudget:
                    others = "; ".join(d for d in diffs if not d.startswith("num_training_steps:"))
                    raise UBAConfigError(
                        f"Cannot re-budget from this checkpoint: {others}. "
                        "A re-budget changes only the budget: keep phi and min_lr_ratio as in the checkpoint."
                    )
                raise UBAConfigError(mismatch_message(diffs))
        super().load_state_dict(state_dict)
        # The multiplier follows the loaded record (its warmup and segments), not the constructor's arguments.
        self.lr_lambdas = [partial(uba_lr_lambda, **self.uba) for _ in self.optimizer.param_groups]


def get_uba_schedule_with_warmup(
    optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    phi: float | None = None,
    min_lr_ratio: float | None = None,
    last_epoch: int = -1,
    rebudget: bool = False,
) -> LambdaLR:
    """Create a UBA schedule: linear warmup from 0, then UBA decay to ``min_lr_ratio * lr``.

    Shaped like Transformers' ``get_*_schedule_with_warmup``.

    Args:
        optimizer: the optimizer whose param groups' LRs are scheduled; each group decays from its
            own base LR to ``min_lr_ratio`` times that LR (the floor is a ratio, so groups with
            different base LRs stay consistent).
        num_warmup_steps: updates of linear warmup, counted inside the budget.
        num_training_steps: the budget ``N`` in optimizer updates (not micro-batches): gradient
            accumulation and data parallelism do not change it.
        phi: the UBA shape parameter, a finite number > 0. ``2`` is cosine. ``None`` (not given): the
            zero-config choice from ``num_training_steps`` and the optimizer's peak LR
            (:func:`uba_hf.zero_config_schedule`, logged), and on a resume the checkpoint's phi.
        min_lr_ratio: ``eta_min / eta_max`` in [0, 1). ``None``: the zero-config choice's floor, and on a
            resume the checkpoint's floor.
        last_epoch: index of the last scheduler step when resuming, as in ``LambdaLR``.
        rebudget: on ``load_state_dict``, continue a state recorded with another budget on a new decay
            segment instead of refusing it (docs/schedule.md, "Re-budgeting").

    Returns:
        :class:`UBASchedule`, a ``torch.optim.lr_scheduler.LambdaLR`` whose state carries the budget
        and refuses to load a state with another one.

    Raises:
        UBAConfigError (a ``ValueError``): for a non-positive/NaN/inf ``phi``, ``min_lr_ratio`` outside
            [0, 1), a warmup longer than the budget, or non-integer budgets.

    Example: step the scheduler once per optimizer update; after the budget the LR stays at the floor.

    >>> import torch
    >>> model = torch.nn.Linear(2, 2)
    >>> optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    >>> scheduler = get_uba_schedule_with_warmup(
    ...     optimizer, num_warmup_steps=10, num_training_steps=100, phi=1.0, min_lr_ratio=0.1
    ... )
    >>> lrs = []
    >>> for _ in range(100):
    ...     optimizer.step()
    ...     scheduler.step()
    ...     lrs.append(scheduler.get_last_lr()[0])
    >>> round(lrs[9], 6), round(lrs[54], 6), round(lrs[99], 6)  # peak; mid-decay: 0.1 + 0.9 x 2/3; floor
    (0.001, 0.0007, 0.0001)
    """
    return UBASchedule(
        optimizer,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        phi=phi,
        min_lr_ratio=min_lr_ratio,
        last_epoch=last_epoch,
        rebudget=rebudget,
    )
