"""``benchmarks/phi_factors/report.md``: per regime, the best phi without and with the 10% floor, every
schedule's paired gap to the regime's best, and what changing one factor did to them."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from .config import is_baseline
from .phi_factors import FACTORS_DIR, REGIMES, SETUPS, Regime, anchor_records, regime_config
from .report import paired_gaps
from .runner import read_results
from .summary import Best, phi_of, summarize


def regime_records(regime: Regime, root: Path = FACTORS_DIR) -> list[dict[str, Any]]:
    records = [r for s in SETUPS if s.regime == regime for r in read_results(s.results(root))]
    runs = [r for r in records if r.get("kind") == "run"]
    if regime.anchor:
        runs += anchor_records(regime)
    return runs


def _phi_label(name: str) -> str:
    parsed = phi_of(name)
    return f"{parsed[0]:g}" if parsed else "-"


def _gap_cell(b: Best, best: Best, runs: list[dict[str, Any]], budget: int) -> str:
    if b is best:
        return "best"
    gaps = paired_gaps(b, best, runs, budget)
    if not gaps:
        return "n/a"
    mean = statistics.fmean(g for _, g in gaps)
    return f"{mean:+.4f} ({', '.join(f'{g:+.3f}' for _, g in gaps)})"


def regime_section(regime: Regime, runs: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    cfg = regime_config(regime)
    row = summarize(cfg, runs).get(regime.budget, {})
    lines = [
        f"## {regime.name}: {regime.factor} ({regime.model} model, batch {regime.batch_size}, {regime.budget} updates)",
        "",
    ]
    if not row:
        return [*lines, "No runs yet.", ""], {}
    ranked = sorted(row.values(), key=lambda b: b.mean)
    best = ranked[0]
    lines += [
        "| rank | schedule | phi | floor | best LR | loss (mean ± std) | seeds | paired gap to best (per seed) |",
        "|---:|---|---:|---:|---:|---|---:|---|",
    ]
    for i, b in enumerate(ranked, 1):
        parsed = phi_of(b.name)
        floor = f"{parsed[1]:g}" if parsed else "-"
        edge = " (edge)" if b.edge else ""
        lines.append(
            f"| {i} | `{b.name}` | {_phi_label(b.name)} | {floor} | {b.lr:g}{edge} | {b.mean:.4f} ± {b.std:.4f} "
            f"| {b.n} | {_gap_cell(b, best, runs, regime.budget)} |"
        )
    uba = [b for b in ranked if phi_of(b.name)]
    no_floor = next((b for b in uba if phi_of(b.name)[1] == 0), None)
    floored = next((b for b in uba if phi_of(b.name)[1] > 0), None)
    summary = {
        "best": best.name,
        "best_phi": phi_of(no_floor.name)[0] if no_floor else None,
        "best_floored_phi": phi_of(floored.name)[0] if floored else None,
        "best_baseline": next((b.name for b in ranked if is_baseline(b.name)), None),
        "seeds": min(b.n for b in ranked),
    }
    return [*lines, ""], summary


def all_regimes(root: Path = FACTORS_DIR) -> list[tuple[str, Any, list[dict[str, Any]], int]]:
    """``(label, config, runs, budget)`` of every regime measured: v2's and this study's (anchors once)."""
    from .v2 import GROUPS, group_config, group_records

    out = []
    for group in GROUPS:
        cfg, runs = group_config(group), group_records(group)
        out += [(f"{group} {b}", cfg, runs, b) for b in cfg.budgets]
    for regime in REGIMES:
        if not regime.anchor:
            out.append((regime.name, regime_config(regime), regime_records(regime, root), regime.budget))
    return out


def render(root: Path = FACTORS_DIR, command: str = "") -> str:
    sections: list[str] = []
    summary_rows = [
        "| regime | factor | model | batch (tokens/update) | updates | best of all | best phi, no floor | "
        "best phi, 10% floor | best baseline | min seeds |",
        "|---|---|---|---:|---:|---|---:|---:|---|---:|",
    ]
    for regime in REGIMES:
        block, s = regime_section(regime, regime_records(regime, root))
        sections += block
        if s:
            block_tokens = 64 if regime.model == "sweep" else 128
            phis = [f"{s[k]:g}" if s[k] is not None else "n/a (none run yet)" for k in ("best_phi", "best_floored_phi")]
            summary_rows.append(
                f"| {regime.name} | {regime.factor} | {regime.model} | {regime.batch_size} "
                f"({regime.batch_size * block_tokens}) | {regime.budget} | `{s['best']}` | {phis[0]} | "
                f"{phis[1]} | `{s['best_baseline']}` | {s['seeds']} |"
            )
    sections += [
        "## A peak LR off its optimum",
        "",
        "Mean paired loss penalty of the LR one grid step below / above each schedule's best (sweep model: "
        "factor 2 apart; main job's model: factor ~3); *edge*: the best is at that end of the grid. Columns: v2's "
        "regimes (model, updates) and this study's. Worst: the largest penalty of any column.",
        "",
        *lr_sensitivity_table(all_regimes(root), SENSITIVITY_NAMES),
        "",
    ]
    head = [
        "# What sets the best phi: one factor at a time",
        "",
        "Each regime changes one factor of a benchmark v2 regime (see `benchmarks/uba_bench/phi_factors.py`). "
        "Every schedule at its own best peak LR (lowest mean over the seeds it has); paired gaps are per seed "
        "(same initialisation and data order), at each schedule's best LR. A best LR marked (edge) may be "
        "better outside its grid (the sweep extends it). Partial results are shown as they are.",
        "",
        f"Generated by {command}." if command else "",
        "",
        *summary_rows,
        "",
    ]
    return "\n".join([*head, *sections])


def write_factors_report(root: Path = FACTORS_DIR, command: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "report.md"
    path.write_text(render(root, command))
    return path


# v2 ran phi 1 without a floor under the name of the package default (the same runs).
_ALIASES = {"uba-phi1": "uba-default"}
SENSITIVITY_NAMES = [
    "linear",
    "wsd-1sqrt",
    "cosine-min10",
    "schedule-free",
    "uba-phi1",
    "uba-phi1-min10",
    "uba-phi0.25",
    "uba-phi0.25-min10",
    "uba-phi0.025-min10",
]


def lr_penalties(row: dict[str, Best], runs: list[dict[str, Any]], budget: int) -> dict[str, tuple]:
    """Per schedule: ``(lower LR, its mean paired penalty, higher LR, its penalty)`` next to the best LR of its
    grid (None where the best sits at that edge): how much a peak LR one grid step off its optimum costs."""
    from .schedules import spec_key

    out = {}
    for name, best in row.items():
        spec = spec_key(name, budget)
        by_lr: dict[float, dict[int, float]] = {}
        for r in runs:
            if r.get("kind") == "run" and r["spec"] == spec and r["budget"] == budget:
                by_lr.setdefault(float(r["lr"]), {})[int(r["seed"])] = r["eval_loss"]
        grid = sorted(by_lr)
        i = grid.index(best.lr)
        sides = []
        for j in (i - 1, i + 1):
            if 0 <= j < len(grid):
                seeds = set(by_lr[grid[j]]) & set(by_lr[best.lr])
                pen = statistics.fmean(by_lr[grid[j]][s] - by_lr[best.lr][s] for s in seeds) if seeds else None
                sides += [grid[j], pen]
            else:
                sides += [None, None]
        out[name] = tuple(sides)
    return out


def lr_sensitivity_table(regimes: list[tuple[str, Any, list[dict[str, Any]], int]], names: list[str]) -> list[str]:
    """Rows: schedules; columns: regimes; cells: the penalty of the LR one grid step below / above the best."""
    head = "| schedule | " + " | ".join(r[0] for r in regimes) + " | worst |"
    lines = [head, "|---|" + "---:|" * (len(regimes) + 1)]
    tables = []
    for _, cfg, runs, budget in regimes:
        row = summarize(cfg, runs).get(budget, {})
        tables.append(lr_penalties(row, runs, budget))
    for name in names:
        cells, worst = [], None
        for t in tables:
            key = name if name in t else _ALIASES.get(name)
            if key not in t:
                cells.append("")
                continue
            _, lo, _, hi = t[key]
            vals = [v for v in (lo, hi) if v is not None]
            cells.append(" / ".join("edge" if v is None else f"{v:+.3f}" for v in (lo, hi)))
            if vals:
                worst = max(vals) if worst is None else max(worst, *vals)
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {'' if worst is None else f'{worst:+.3f}'} |")
    return lines
