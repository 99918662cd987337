"""Schedule names -> what a user passes to ``TrainingArguments``, and the LR each update gets."""

from __future__ import annotations

import json
import logging
from typing import Any

import torch

from uba_hf import register_uba_scheduler

from .config import (
    AUTO_NAMES,
    COSINE_MIN_LR_RATE,
    DEFAULT_NAME,
    FLOOR_SUFFIX,
    SCHEDULE_FREE,
    V2_DEFAULT_PHI,
    WSD_DECAY_FRACTION,
    ZERO_CONFIG,
    ZERO_CONFIG_NAMES,
    parse_uba_name,
)

# ``optim`` of ``TrainingArguments`` per schedule name; every other schedule uses Transformers' default AdamW.
OPTIMIZERS = {SCHEDULE_FREE: "schedule_free_adamw"}

logger = logging.getLogger("uba_hf")


def warmup_steps(budget: int, fraction: float) -> int:
    return int(round(budget * fraction))


def schedule_spec(name: str, budget: int, phi: float | None = None) -> tuple[str, dict[str, Any]]:
    """``(lr_scheduler_type, lr_scheduler_kwargs)`` that a user would pass to ``TrainingArguments``."""
    if name == DEFAULT_NAME:
        return "uba", {"phi": float(V2_DEFAULT_PHI)}
    if name == ZERO_CONFIG:  # UBATrainer picks phi and the floor (uba_hf.zero_config); the record says which
        return "uba", {}
    parsed = parse_uba_name(name)
    if parsed is None and name in AUTO_NAMES:  # a retired arm: the phi its probe picked, read from its record
        if phi is None:
            raise ValueError(f"{name} (phi from a curvature probe) is retired: it runs no more; give the phi it ran.")
        parsed = float(phi), (COSINE_MIN_LR_RATE if name.endswith(FLOOR_SUFFIX) else 0.0)
    if parsed is not None:
        phi, floor = parsed
        return "uba", ({"phi": phi, "min_lr_ratio": floor} if floor else {"phi": phi})
    if name == "cosine":
        return "cosine", {}
    if name == "cosine-min10":
        return "cosine_with_min_lr", {"min_lr_rate": COSINE_MIN_LR_RATE}
    if name == "linear":
        return "linear", {}
    if name == "wsd":
        return "warmup_stable_decay", {"num_decay_steps": int(round(WSD_DECAY_FRACTION * budget))}
    if name in ("wsd-1sqrt", "wsd-linear"):
        decay = name[len("wsd-") :].replace("1sqrt", "1-sqrt")
        return "warmup_stable_decay", {
            "num_decay_steps": int(round(WSD_DECAY_FRACTION * budget)),
            "decay_type": decay,
            "min_lr_ratio": 0.0,
        }
    if name == "constant":
        return "constant_with_warmup", {}
    if name == SCHEDULE_FREE:
        # The optimizer warms up itself (Transformers passes ``warmup_steps`` to it); the schedule stays flat.
        return "constant", {}
    raise ValueError(f"Unknown schedule {name!r}.")


def run_spec(name: str, budget: int, phi: float | None = None) -> tuple[str, dict[str, Any]]:
    """What a run passes: :func:`schedule_spec` with the floor spelled out for UBA without one (``min_lr_ratio``
    0). A name without ``-min10`` means no floor, while UBA given no floor picks one itself (``uba_hf.zero_config``).
    The results' identity (``spec_key``) is the spec without it, so the runs written before it was spelled out
    keep their keys."""
    kind, kwargs = schedule_spec(name, budget, phi)
    if kind == "uba" and name != ZERO_CONFIG and "min_lr_ratio" not in kwargs:
        kwargs = {**kwargs, "min_lr_ratio": 0.0}
    return kind, kwargs


def spec_key(name: str, budget: int) -> str:
    """Identity of what runs. ``uba-auto`` (and ``-min10``) is its own key (its phi differs per seed).

    UBA with phi = 2 *is* Transformers' cosine (same LR at every step; pinned by tests/research/test_bench.py),
    so ``uba-phi2`` shares the ``cosine`` runs and ``uba-phi2-min10`` the ``cosine-min10`` runs.
    """
    if name in AUTO_NAMES or name in ZERO_CONFIG_NAMES:
        return name
    parsed = parse_uba_name(name)
    if parsed is not None and parsed[0] == 2.0:
        name = "cosine-min10" if parsed[1] else "cosine"
    kind, kwargs = schedule_spec(name, budget)
    optim = OPTIMIZERS.get(name)
    return json.dumps([kind, kwargs, optim] if optim else [kind, kwargs], sort_keys=True)


def cell_key(spec: str, budget: int, lr: float, seed: int) -> str:
    return json.dumps([spec, int(budget), float(lr), int(seed)])


def scheduler_lrs(
    name: str, budget: int, peak_lr: float, warmup_fraction: float, phi: float | None = None
) -> list[float]:
    """The LR of every update ``0..budget-1`` of a schedule, built by ``transformers.get_scheduler``.

    ``schedule-free``: the LR its optimizer uses (``scheduled_lr``: its own linear warmup, then flat), from a
    real ``AdamWScheduleFree`` built with the arguments Transformers gives it."""
    from transformers import get_scheduler

    register_uba_scheduler()
    kind, kwargs = run_spec(name, budget, phi)
    if name == SCHEDULE_FREE:
        return _schedule_free_lrs(budget, peak_lr, warmup_steps(budget, warmup_fraction))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak_lr)
    sched = get_scheduler(
        kind,
        opt,
        num_warmup_steps=warmup_steps(budget, warmup_fraction),
        num_training_steps=budget,
        scheduler_specific_kwargs=kwargs,
    )
    lrs = []
    for _ in range(budget):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def _schedule_free_lrs(budget: int, peak_lr: float, warmup: int) -> list[float]:
    from schedulefree import AdamWScheduleFree

    p = torch.nn.Parameter(torch.zeros(1))
    opt = AdamWScheduleFree([p], lr=peak_lr, warmup_steps=warmup)
    opt.train()
    lrs = []
    for _ in range(budget):
        p.grad = torch.ones_like(p)
        opt.step()
        lrs.append(opt.param_groups[0]["scheduled_lr"])
    return lrs


def lr_sample_steps(budget: int, warmup: int) -> list[int]:
    """Update indices at which every run records the LR it used (checked against closed forms in tests)."""
    steps = {0, max(0, warmup // 2), warmup, (warmup + budget) // 2, budget - budget // 10, budget - 1}
    return sorted(s for s in steps if 0 <= s < budget)
