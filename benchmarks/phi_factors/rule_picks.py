"""A zero-config rule's result in a regime: its pick at each LR, read off the runs of that schedule (fixed-phi runs of
the grid, the same LR at every update, and UBATrainer runs under the pick they recorded), for the LR-area rule
(``uba_hf.zero_config``) and 0.4.0's development rule (updates per non-embedding parameter) that it replaced."""

from __future__ import annotations

import math
import statistics
from typing import Any

from uba_bench.summary import Best


def with_zero_config_runs_as_fixed(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``runs`` and, for each zero-config run (either rule, through UBATrainer), a copy under the fixed schedule it
    recorded, where the grid did not run that schedule at that LR and seed: the same LR at every update, so a rule's
    pick at an LR can be read off either."""
    from uba_bench.config import ZERO_CONFIG_NAMES, uba_name
    from uba_bench.schedules import spec_key

    runs = [r for r in runs if r.get("kind") == "run"]
    have = {(r["spec"], r["budget"], float(r["lr"]), r["seed"]) for r in runs}
    extra = []
    for r in runs:
        if r["spec"] in ZERO_CONFIG_NAMES:
            z = r["zero_config"]
            spec = spec_key(uba_name(z["phi"], z["min_lr_ratio"]), r["budget"])
            if (spec, r["budget"], float(r["lr"]), r["seed"]) not in have:
                have.add((spec, r["budget"], float(r["lr"]), r["seed"]))
                extra.append({**r, "spec": spec})
    return runs + extra


def _fixed_pick_best(runs: list[dict[str, Any]], budget: int, pick_at) -> Best | None:
    """A rule's pick where it did not run through UBATrainer: at each LR the regime ran, the fixed schedule the rule
    picks there (``pick_at(lr)``: a schedule name), if the grid ran it at that LR; the best such LR, among those with
    the most seeds. Paired gaps then compare it like any schedule."""
    from uba_bench.schedules import spec_key

    runs = [r for r in runs if r.get("kind") == "run" and r["budget"] == budget]
    cells: dict[tuple[str, float], dict[int, float]] = {}
    for lr in sorted({float(r["lr"]) for r in runs}):
        name = pick_at(lr)
        spec = spec_key(name, budget)
        losses = {r["seed"]: r["eval_loss"] for r in runs if r["spec"] == spec and float(r["lr"]) == lr}
        if losses:
            cells[(name, lr)] = losses
    if not cells:
        return None
    top = max(len(v) for v in cells.values())
    (name, lr), losses = min(
        ((k, v) for k, v in cells.items() if len(v) == top), key=lambda kv: statistics.fmean(kv[1].values())
    )
    values = [losses[k] for k in sorted(losses)]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Best(name, budget, lr, statistics.fmean(values), std, len(values), values, len(cells), True)


def area_rule_pick(budget: int, lr: float) -> str:
    """The LR-area rule's pick (``uba_hf.zero_config``) at one LR, as a fixed schedule name."""
    from uba_bench.config import uba_name

    from uba_hf import zero_config_schedule

    z = zero_config_schedule(budget, lr)
    return uba_name(z["phi"], z["min_lr_ratio"])


def area_rule_best(runs: list[dict[str, Any]], budget: int) -> Best | None:
    """The LR-area rule in a regime (its zero-config runs read as the fixed schedule each recorded, see
    ``with_zero_config_runs_as_fixed``): its pick at each LR, the best LR among those with the most seeds."""
    return _fixed_pick_best(runs, budget, lambda lr: area_rule_pick(budget, lr))


def ran_through_trainer(runs: list[dict[str, Any]], best: Best) -> bool:
    """Whether every seed of ``best`` (the LR-area rule's pick at its best LR) ran through UBATrainer: zero-config
    runs at that LR that recorded that pick."""
    from uba_bench.config import ZERO_CONFIG, uba_name

    pick = area_rule_pick(best.budget, best.lr)
    seeds = {
        r["seed"]
        for r in runs
        if r.get("kind") == "run"
        and r["spec"] == ZERO_CONFIG
        and r["budget"] == best.budget
        and float(r["lr"]) == best.lr
        and uba_name(r["zero_config"]["phi"], r["zero_config"]["min_lr_ratio"]) == pick
    }
    return len(seeds) >= best.n


def retired_rule_pick(budget: int, non_embedding_parameters: int) -> tuple[float, float]:
    """0.4.0's development rule (updates per non-embedding parameter; replaced by the LR area before a release): phi
    0.01 up to 6.5e-4, 1 from 2.4e-3, log-linear between; a 10% floor below 2e-2. Kept here to report its results."""
    rho, lo, hi = budget / non_embedding_parameters, 6.5e-4, 2.4e-3
    if rho <= lo:
        phi = 0.01
    elif rho >= hi:
        phi = 1.0
    else:
        phi = float(f"{0.01 * 100 ** (math.log(rho / lo) / math.log(hi / lo)):.3g}")
    return phi, (0.1 if rho < 2e-2 else 0.0)


def retired_rule_best(row: dict[str, Best], runs: list[dict[str, Any]], budget: int, n: int | None) -> Best | None:
    """The retired rule in a regime: its UBATrainer runs (``uba-zero``) where it ran, else its pick's best LR."""
    from uba_bench.config import RETIRED_ZERO_CONFIG, uba_name

    if RETIRED_ZERO_CONFIG in row:
        return row[RETIRED_ZERO_CONFIG]
    if n is None:
        return None
    name = uba_name(*retired_rule_pick(budget, n))
    return _fixed_pick_best(runs, budget, lambda lr: name)
