"""Each schedule's best peak LR per budget (mean and spread over seeds), shared by every report of the harness:
the v2 report (``report.py``), its per-model pages (``model_page.py``), the figures (``plots.py``) and the
phi-factor study's report (``benchmarks/phi_factors/report.py``)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import COSINE_MIN_LR_RATE, DEFAULT_NAME, V2_DEFAULT_PHI, SweepConfig, parse_uba_name
from .grid import lr_grid
from .schedules import spec_key


def _mean_spread(xs: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


@dataclass
class Best:
    name: str
    budget: int
    lr: float
    mean: float
    std: float
    n: int
    losses: list[float]
    lrs_tried: int
    complete: bool  # every LR of the grid with every seed finished
    grid: tuple[float, ...] = ()  # the LRs of this schedule's grid (configured + extensions)
    edge: bool = False  # best LR is the smallest or largest of the grid: possibly better outside it


def summarize(cfg: SweepConfig, records: Iterable[dict[str, Any]]) -> dict[int, dict[str, Best]]:
    """Per budget and schedule name: the best LR by mean final validation loss over seeds, among the LRs run on
    the most seeds."""
    by_cell: dict[tuple[str, int, float], dict[int, float]] = defaultdict(dict)
    for r in records:
        if r.get("kind") == "run" and math.isfinite(r["eval_loss"]):
            by_cell[(r["spec"], r["budget"], r["lr"])][r["seed"]] = r["eval_loss"]
        elif r.get("kind") == "run":
            by_cell[(r["spec"], r["budget"], r["lr"])][r["seed"]] = math.inf
    records = list(records)
    table: dict[int, dict[str, Best]] = {}
    for budget in cfg.budgets:
        row: dict[str, Best] = {}
        for name in cfg.schedules:
            spec = spec_key(name, budget)
            best, n_full = None, 0
            grid = lr_grid(cfg, name, budget, records)
            for lr in grid:
                seeds = by_cell.get((spec, budget, float(lr)), {})
                losses = [seeds[s] for s in cfg.seeds if s in seeds]
                if len(losses) == len(cfg.seeds):
                    n_full += 1
                if not losses:
                    continue
                mean, std = _mean_spread(losses)
                # More seeds first (an LR run on one seed only, as when the LR is tuned on the first seed, does
                # not beat one run on all of them by luck), then the lower mean.
                if best is None or (len(losses), -mean) > (best.n, -best.mean):
                    best = Best(name, budget, float(lr), mean, std, len(losses), losses, 0, False)
            if best is not None:
                best.lrs_tried = n_full
                best.complete = n_full == len(grid)
                best.grid = tuple(grid)
                best.edge = len(grid) > 1 and best.lr in (grid[0], grid[-1])
                row[name] = best
        table[budget] = row
    return table


def phi_of(name: str) -> tuple[float, float] | None:
    """``(phi, floor)`` of a fixed-phi UBA schedule, including the baselines that *are* UBA: v2 runs phi 1
    and phi 2 once, as UBA-default and cosine / cosine-min10 (pinned step for step by tests/research/test_bench.py)."""
    if name == DEFAULT_NAME:
        return float(V2_DEFAULT_PHI), 0.0
    return {"cosine": (2.0, 0.0), "cosine-min10": (2.0, COSINE_MIN_LR_RATE)}.get(name) or parse_uba_name(name)
