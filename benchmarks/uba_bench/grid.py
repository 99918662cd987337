"""The cells a sweep plans, each schedule's LR grid per budget, and the grid's extension when the best LR
sits at an edge of it.

A schedule compared at a best LR that is the smallest or largest one tried may be better still outside
the grid, so its comparison is not final. With ``SweepConfig.extend_grid`` the sweep then runs the next
point outward (every seed), at the grid's own spacing, until the best is inside or
``max_grid_extensions`` points were added; the report marks what is still at an edge.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from .config import BASELINES, BASELINES_V2, SweepConfig
from .schedules import cell_key, spec_key


def _runs_by_lr(records, spec: str, budget: int) -> dict[float, dict[int, float]]:
    out: dict[float, dict[int, float]] = defaultdict(dict)
    for r in records:
        if r.get("kind") == "run" and r["spec"] == spec and r["budget"] == budget:
            loss = r["eval_loss"]
            out[float(r["lr"])][int(r["seed"])] = loss if math.isfinite(loss) else math.inf
    return out


def planned_cells(cfg: SweepConfig) -> list[tuple[str, int, float, int]]:
    """``(name, budget, lr, seed)`` for every distinct run (names that resolve to the same schedule share it)."""
    seen, cells = set(), []
    # Seeds outermost: an interrupted sweep still has complete tables for the first seed(s).
    for seed in cfg.seeds:
        for budget in cfg.budgets:
            for name in cfg.schedules_at(budget):
                spec = spec_key(name, budget)
                for lr in cfg.lrs_for(name, budget):
                    key = cell_key(spec, budget, lr, seed)
                    if key not in seen:
                        seen.add(key)
                        names = BASELINES + tuple(n for n in BASELINES_V2 if n not in BASELINES)
                        run_name = next((b for b in names if spec_key(b, budget) == spec), name)
                        cells.append((run_name, int(budget), float(lr), int(seed)))
    return cells


def lr_grid(cfg: SweepConfig, name: str, budget: int, records) -> list[float]:
    """The LRs of ``name`` at ``budget``: its configured grid, plus (``extend_grid``) the points added since."""
    grid = set(cfg.lrs_for(name, budget))
    if cfg.extend_grid:
        grid |= set(_runs_by_lr(records, spec_key(name, budget), budget))
    return sorted(grid)


def grid_ratio(cfg: SweepConfig, name: str, budget: int) -> float:
    """Spacing of the configured grid (geometric mean step); 3 for a one-point grid."""
    grid = cfg.lrs_for(name, budget)
    return (grid[-1] / grid[0]) ** (1 / (len(grid) - 1)) if len(grid) > 1 and grid[0] > 0 else 3.0


def edge_of(cfg: SweepConfig, name: str, budget: int, records) -> str | None:
    """``"low"``/``"high"`` when the best LR (mean over all seeds, complete grid only) is an edge, else None."""
    by_lr = _runs_by_lr(records, spec_key(name, budget), budget)
    grid = lr_grid(cfg, name, budget, records)
    if len(grid) < 2 or any(len(by_lr.get(lr, {})) < len(cfg.seeds) for lr in grid):
        return None
    means = {lr: statistics.fmean(by_lr[lr][s] for s in cfg.seeds) for lr in grid}
    best = min(grid, key=lambda lr: means[lr])
    return "low" if best == grid[0] else ("high" if best == grid[-1] else None)


def grid_extensions(cfg: SweepConfig, records: list[dict[str, Any]]) -> list[tuple[str, int, float, int]]:
    """Cells ``(name, budget, lr, seed)`` that extend every grid whose best LR is at an edge."""
    cells, seen = [], set()
    for name, budget, _, _ in planned_cells(cfg):
        if (name, budget) in seen:
            continue
        seen.add((name, budget))
        grid = lr_grid(cfg, name, budget, records)
        if len(grid) - len(cfg.lrs_for(name, budget)) >= cfg.max_grid_extensions:
            continue
        edge = edge_of(cfg, name, budget, records)
        if edge is None:
            continue
        ratio = grid_ratio(cfg, name, budget)
        lr = float(f"{(grid[0] / ratio if edge == 'low' else grid[-1] * ratio):.3g}")
        cells += [(name, int(budget), lr, int(seed)) for seed in cfg.seeds]
    return cells
