"""The schedule UBA picks itself when no ``phi`` is given (on every path: ``lr_scheduler_type="uba"``,
``get_scheduler("uba")``, ``get_uba_schedule_with_warmup``, ``UBATrainer``, ``uba-pretrain``): phi and the floor from
the run's **LR area**, its peak LR times its optimizer updates. Both are known wherever a schedule is built: the
budget is an argument and the peak LR is the optimizer's.

Why that number: with AdamW each update moves a weight by about the LR, so the area is how far the run can move
the weights, and a run that cannot move them far wants the LR high for as long as it can. In this package's
phi-factor study it ordered the regimes where the model's size, the corpus, the tokens per parameter and the
gradient noise scale did not (docs/phi.md, "The zero-config choice").

* up to ``LATE_DECAY_LR_AREA`` (20): the late decay, phi 0.01 (like WSD with a ~13% cooldown);
* from ``EARLY_DECAY_LR_AREA`` (30): phi 1 (the LR above cosine's, decayed over the run);
* in between, phi moves log-linearly from one to the other;
* the floor is 10% below ``FLOOR_UNTIL_LR_AREA`` (60) and 0 from there (long runs did better decaying to zero).

It is a fit on small models trained with AdamW (0.13M-1.05M non-embedding parameters, areas 0.3-156; docs/phi.md
gives where it was checked on regimes it was not fitted on). It needs nothing the Trainer does not know, and
costs nothing: no probe runs before the first update. With another optimizer family (SGD, whose LR has other
units) the thresholds do not apply: give phi.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .errors import UBAConfigError

__all__ = [
    "EARLY_DECAY_LR_AREA",
    "FLOOR_UNTIL_LR_AREA",
    "LATE_DECAY_LR_AREA",
    "count_parameters",
    "peak_learning_rate",
    "zero_config_line",
    "zero_config_schedule",
]

LATE_DECAY_LR_AREA = 20.0
"""At or below this peak LR x optimizer updates the zero-config phi is 0.01 (a late decay)."""
LATE_DECAY_PHI = 0.01
EARLY_DECAY_LR_AREA = 30.0
"""At or above this peak LR x optimizer updates the zero-config phi is 1."""
EARLY_DECAY_PHI = 1.0
FLOOR_UNTIL_LR_AREA = 60.0
"""Below this peak LR x optimizer updates the zero-config floor is 10%, from it on 0."""
FLOOR = 0.1


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Total, embedding (input and output embeddings, a tied pair once) and non-embedding parameter counts.

    Under DeepSpeed ZeRO-3 a parameter's own tensor is a shard; its full size is ``ds_numel``."""

    def size(p: torch.nn.Parameter) -> int:
        return int(getattr(p, "ds_numel", p.numel()))

    total = sum(size(p) for p in model.parameters())
    embedding_modules = [model.get_input_embeddings()] if hasattr(model, "get_input_embeddings") else []
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None:
        embedding_modules.append(output)
    seen: set[int] = set()
    embedding = 0
    for module in embedding_modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                embedding += size(p)
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


def peak_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The peak LR the zero-config choice reads: the largest base LR of the optimizer's param groups (their
    ``initial_lr`` once a scheduler has set it, else their ``lr``). Param groups with their own LRs share one
    schedule shape; the largest LR is the one that moves weights farthest."""
    lrs = [float(group.get("initial_lr", group["lr"])) for group in optimizer.param_groups]
    if not lrs:
        raise UBAConfigError("The optimizer has no param groups: there is no LR to schedule.")
    return max(lrs)


def zero_config_schedule(num_training_steps: int, learning_rate: float) -> dict[str, Any]:
    """The phi and floor a UBA schedule picks when none is given, from the run's LR area (peak LR x updates).

    Returns ``{"phi", "min_lr_ratio", "lr_area", "reason"}`` for a budget of ``num_training_steps`` optimizer
    updates at a peak LR of ``learning_rate`` (AdamW's); ``reason`` is the line that is logged. A UBA schedule built
    without phi (or without the floor) takes the missing values from here, with ``learning_rate =
    peak_learning_rate(optimizer)``, and exposes the dict as ``UBASchedule.zero_config``; ``UBATrainer`` records it
    in every checkpoint.

    >>> s = zero_config_schedule(400, 3e-3)      # the LR cannot move the weights far: decay late
    >>> s["phi"], s["min_lr_ratio"]
    (0.01, 0.1)
    >>> s = zero_config_schedule(400, 0.1)       # it can: decay early, still to a 10% floor
    >>> s["phi"], s["min_lr_ratio"]
    (1.0, 0.1)
    >>> zero_config_schedule(100_000, 3e-3)["min_lr_ratio"]   # very far: decay to zero
    0.0
    """
    if isinstance(num_training_steps, bool) or not isinstance(num_training_steps, int) or num_training_steps < 1:
        raise UBAConfigError(
            f"`num_training_steps` must be an integer >= 1 for the zero-config schedule; got {num_training_steps!r}."
        )
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise UBAConfigError(
            f"`learning_rate` must be a number > 0 for the zero-config schedule; got {learning_rate!r}. "
            "With a zero LR nothing is decayed: give phi and min_lr_ratio."
        )
    area = float(learning_rate) * num_training_steps
    lo, hi = LATE_DECAY_LR_AREA, EARLY_DECAY_LR_AREA
    if area <= lo:
        phi, where = LATE_DECAY_PHI, f"<= {lo:g}: late decay"
    elif area >= hi:
        phi, where = EARLY_DECAY_PHI, f">= {hi:g}: early decay"
    else:
        x = math.log(area / lo) / math.log(hi / lo)
        phi = math.exp(math.log(LATE_DECAY_PHI) + x * math.log(EARLY_DECAY_PHI / LATE_DECAY_PHI))
        phi, where = float(f"{phi:.3g}"), f"between {lo:g} and {hi:g}"
    floor = FLOOR if area < FLOOR_UNTIL_LR_AREA else 0.0
    reason = (
        f"peak LR {learning_rate:g} x {num_training_steps} updates = LR area {area:.3g} ({where}; floor {floor:g} "
        f"{'below' if floor else 'from'} {FLOOR_UNTIL_LR_AREA:g})"
    )
    return {"phi": phi, "min_lr_ratio": floor, "lr_area": area, "reason": reason}


def zero_config_line(choice: dict[str, Any], picked: Sequence[str], given: dict[str, float] | None = None) -> str:
    """The one log line of a zero-config pick: the values ``picked`` from ``choice`` (``zero_config_schedule``'s
    dict), then those ``given`` by the user, then the reason."""
    values = [f"{key}={choice[key]:g}" for key in picked]
    values += [f"{key}={value:g} (as given)" for key, value in (given or {}).items()]
    return f"UBA zero-config: {', '.join(values)}, from {choice['reason']}"
