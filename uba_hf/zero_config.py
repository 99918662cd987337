"""The schedule UBA picks itself when no ``phi`` is given and the model is known (``UBATrainer``,
``uba-pretrain``): phi and the floor from the run's **updates per non-embedding parameter**.

Why that number: in this package's phi-factor study (``benchmarks/phi_factors/``, docs/phi.md) the best phi
moved with the batch at equal tokens (a larger batch, so fewer updates, wanted a later decay) and with the
model at equal batch (the larger model wanted a later decay at the same updates). Neither tokens per
parameter, nor the batch, nor the batch over the gradient noise scale ordered the regimes measured; the
updates the budget allows per non-embedding parameter did, on both models:

* up to ``LATE_DECAY_UPDATES_PER_PARAM`` (6.5e-4): the late decay, phi 0.01 (like WSD with a ~13% cooldown);
* from ``EARLY_DECAY_UPDATES_PER_PARAM`` (2.4e-3): phi 1 (the LR above cosine's, decayed over the run);
* in between, phi moves log-linearly from one to the other;
* the floor is 10% below ``FLOOR_UNTIL_UPDATES_PER_PARAM`` (2e-2) and 0 from there (long runs did better
  decaying to zero).

It is a fit on two small models (0.13M and 1.05M non-embedding parameters; docs/phi.md gives where it was
checked on regimes it was not fitted on). The count costs nothing: no probe runs before the first update.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .errors import UBAConfigError

__all__ = [
    "EARLY_DECAY_UPDATES_PER_PARAM",
    "FLOOR_UNTIL_UPDATES_PER_PARAM",
    "LATE_DECAY_UPDATES_PER_PARAM",
    "count_parameters",
    "zero_config_schedule",
]

LATE_DECAY_UPDATES_PER_PARAM = 6.5e-4
"""At or below this many optimizer updates per non-embedding parameter the zero-config phi is 0.01 (a late decay)."""
LATE_DECAY_PHI = 0.01
EARLY_DECAY_UPDATES_PER_PARAM = 2.4e-3
"""At or above this many optimizer updates per non-embedding parameter the zero-config phi is 1."""
EARLY_DECAY_PHI = 1.0
FLOOR_UNTIL_UPDATES_PER_PARAM = 2e-2
"""Below this many optimizer updates per non-embedding parameter the zero-config floor is 10%, from it on 0."""
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


def zero_config_schedule(num_training_steps: int, non_embedding_parameters: int) -> dict[str, Any]:
    """The phi and floor UBATrainer picks when none is given, from the run's updates per non-embedding parameter.

    Returns ``{"phi", "min_lr_ratio", "updates_per_param", "reason"}`` for a budget of ``num_training_steps``
    optimizer updates of a model with ``non_embedding_parameters`` parameters outside its embeddings; ``reason`` is
    the line ``UBATrainer`` logs, and the whole dict is what it records in every checkpoint. Pass ``phi`` and
    ``min_lr_ratio`` on as ``lr_scheduler_kwargs`` to use the choice on the stock path.

    >>> s = zero_config_schedule(100, 1_000_000)          # few updates for the model: decay late
    >>> s["phi"], s["min_lr_ratio"]
    (0.01, 0.1)
    >>> s = zero_config_schedule(5_000, 1_000_000)        # many: decay early, still to a 10% floor
    >>> s["phi"], s["min_lr_ratio"]
    (1.0, 0.1)
    >>> zero_config_schedule(50_000, 1_000_000)["min_lr_ratio"]   # very many: decay to zero
    0.0
    """
    for name, value in (
        ("num_training_steps", num_training_steps),
        ("non_embedding_parameters", non_embedding_parameters),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UBAConfigError(f"`{name}` must be an integer >= 1 for the zero-config schedule; got {value!r}.")
    rho = num_training_steps / non_embedding_parameters
    lo, hi = LATE_DECAY_UPDATES_PER_PARAM, EARLY_DECAY_UPDATES_PER_PARAM
    if rho <= lo:
        phi, where = LATE_DECAY_PHI, f"<= {lo:g}: late decay"
    elif rho >= hi:
        phi, where = EARLY_DECAY_PHI, f">= {hi:g}: early decay"
    else:
        x = math.log(rho / lo) / math.log(hi / lo)
        phi = math.exp(math.log(LATE_DECAY_PHI) + x * math.log(EARLY_DECAY_PHI / LATE_DECAY_PHI))
        phi, where = float(f"{phi:.3g}"), f"between {lo:g} and {hi:g}"
    floor = FLOOR if rho < FLOOR_UNTIL_UPDATES_PER_PARAM else 0.0
    reason = (
        f"{num_training_steps} updates / {non_embedding_parameters:,} non-embedding parameters = {rho:.3g} "
        f"updates per parameter ({where}; floor {floor:g} {'below' if floor else 'from'} "
        f"{FLOOR_UNTIL_UPDATES_PER_PARAM:g})"
    )
    return {"phi": phi, "min_lr_ratio": floor, "updates_per_param": rho, "reason": reason}
