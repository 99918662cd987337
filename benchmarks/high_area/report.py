"""The high-area study's report (``report.md``), from whatever results exist: every schedule at its own best peak LR
(the LR with the most seeds, then the lowest mean), paired per-seed gaps with their standard error, the best UBA of
any phi and floor, and the zero-config rule's pick (``uba_hf.zero_config``) read off the fixed-phi runs at each LR.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from study import ANCHOR_RESULTS, HERE, REGIMES, SCHEDULES, Regime, losses_by_lr
from uba_bench.config import uba_name
from uba_bench.runner import read_results
from uba_bench.summary import phi_of

from uba_hf.zero_config import zero_config_schedule


@dataclass
class Best:
    name: str
    lr: float
    losses: dict[int, float]  # seed -> final validation loss

    @property
    def mean(self) -> float:
        return statistics.fmean(self.losses.values())

    @property
    def std(self) -> float:
        return statistics.stdev(self.losses.values()) if len(self.losses) > 1 else 0.0


@dataclass
class Gap:
    """``a - b`` per common seed: the mean and its standard error (None with one seed)."""

    per_seed: list[float]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.per_seed)

    @property
    def se(self) -> float | None:
        n = len(self.per_seed)
        return statistics.stdev(self.per_seed) / math.sqrt(n) if n > 1 else None

    def __str__(self) -> str:
        se = f" ± {self.se:.3f}" if self.se is not None else ""
        return f"{self.mean:+.3f}{se} (n={len(self.per_seed)})"


def gap(a: Best, b: Best) -> Gap:
    seeds = sorted(set(a.losses) & set(b.losses))
    return Gap([a.losses[s] - b.losses[s] for s in seeds])


def best_of(cells: dict[float, dict[int, float]], name: str) -> Best | None:
    """The LR with the most seeds, then the lowest mean (an LR run on seed 0 only never beats one run on all)."""
    if not cells:
        return None
    lr = min(cells, key=lambda x: (-len(cells[x]), statistics.fmean(cells[x].values())))
    return Best(name, lr, dict(cells[lr]))


def rule_pick(budget: int, lr: float) -> str | None:
    """The fixed schedule the zero-config rule runs at this budget and peak LR (None between the areas where its phi
    is interpolated: no grid point holds it)."""
    choice = zero_config_schedule(budget, lr)
    name = uba_name(choice["phi"], choice["min_lr_ratio"])
    return "cosine-min10" if name == uba_name(2.0, 0.1) else name


def regime_table(records: list[dict], budget: int, names) -> dict[str, Best]:
    out = {}
    for name in names:
        b = best_of(losses_by_lr(records, name, budget), name)
        if b is not None:
            out[name] = b
    return out


def zero_config_best(records: list[dict], budget: int) -> Best | None:
    cells = {}
    for lr in sorted({float(r["lr"]) for r in records if r.get("kind") == "run" and r["budget"] == budget}):
        name = rule_pick(budget, lr)
        got = losses_by_lr(records, name, budget).get(lr) if name in SCHEDULES else None
        if got:
            cells[lr] = got
    best = best_of(cells, "zero-config")
    if best is not None:
        best.name = f"zero-config ({rule_pick(budget, best.lr)})"
    return best


def _records(r: Regime) -> list[dict]:
    return r.records()


def anchor_records(anchor: str) -> list[dict]:
    out = []
    for path in ANCHOR_RESULTS[anchor]:
        out += read_results(path) if Path(path).exists() else []
    return out


def _fmt_phi(name: str) -> tuple[str, str]:
    p = phi_of(name)
    return (f"{p[0]:g}", f"{p[1]:g}") if p else ("-", "-")


def _summary_row(label: str, factor: str, budget: int, tokens: int, records: list[dict]) -> tuple[str, dict]:
    table = regime_table(records, budget, SCHEDULES)
    if not table:
        return f"| {label} | {factor} | {budget} x {tokens} | no runs yet | | | | | | |", {}
    everything = min(table.values(), key=lambda b: (-len(b.losses), b.mean))
    uba = [b for n, b in table.items() if phi_of(n)]
    best_uba = min(uba, key=lambda b: (-len(b.losses), b.mean)) if uba else None
    zc = zero_config_best(records, budget)
    lin = table.get("linear")
    cols = [
        f"`{everything.name}` at {everything.lr:g} (area {everything.lr * budget:.0f})",
        f"`{best_uba.name}` at {best_uba.lr:g}" if best_uba else "-",
        str(gap(best_uba, lin)) if best_uba and lin else "-",
        f"{zc.name} at {zc.lr:g} (area {zc.lr * budget:.0f})" if zc else "-",
        str(gap(zc, best_uba)) if zc and best_uba else "-",
        str(gap(zc, everything)) if zc else "-",
        str(min(len(b.losses) for b in table.values())),
    ]
    return f"| {label} | {factor} | {budget} x {tokens} | " + " | ".join(cols) + " |", table


def _regime_section(r: Regime, records: list[dict]) -> list[str]:
    table = regime_table(records, r.budget, r.schedules)
    if not table:
        return []
    ranked = sorted(table.values(), key=lambda b: (-len(b.losses), b.mean))
    top, lin = ranked[0], table.get("linear")
    lines = [
        f"## {r.name}: {r.factor} ({r.budget} updates of {r.batch_size} x 64 tokens)",
        "",
        "| rank | schedule | phi | floor | best LR | LR area | loss (mean ± std) | seeds | minus the best (paired) | "
        "minus linear (paired) | per seed, minus the best |",
        "|---:|---|---:|---:|---:|---:|---|---:|---|---|---|",
    ]
    for i, b in enumerate(ranked, 1):
        phi, floor = _fmt_phi(b.name)
        tried = sorted(losses_by_lr(records, b.name, r.budget))
        edge = " (edge)" if len(tried) > 1 and b.lr in (tried[0], tried[-1]) else ""
        g = gap(b, top)
        lines.append(
            f"| {i} | `{b.name}` | {phi} | {floor} | {b.lr:g}{edge} | {b.lr * r.budget:.0f} | {b.mean:.4f} ± "
            f"{b.std:.4f} | {len(b.losses)} | {'best' if b is top else g} | "
            f"{gap(b, lin) if lin and b is not lin else '-'} | {', '.join(f'{x:+.3f}' for x in g.per_seed)} |"
        )
    lrs = sorted({float(x["lr"]) for x in records if x.get("kind") == "run" and x["seed"] == 0})
    lines += ["", "Seed 0 at every LR (the LR landscape; `-`: not run):", ""]
    lines += ["| schedule | " + " | ".join(f"{lr:g}" for lr in lrs) + " |", "|---|" + "---:|" * len(lrs)]
    for name in r.schedules:
        cells = losses_by_lr(records, name, r.budget, 0)
        row = [f"{cells[lr][0]:.4f}" if lr in cells else "-" for lr in lrs]
        lines.append(f"| `{name}` | " + " | ".join(row) + " |")
    return [*lines, ""]


def write_report(path: Path = HERE / "report.md") -> str:
    lines = [
        "# High LR areas and the optimizer's other settings (issue 41)",
        "",
        "Generated by `python benchmarks/high_area/study.py report` from the results files, partial or not. Every",
        "schedule at its own best peak LR (the LR with the most seeds, then the lowest mean); LRs tuned on seed 0,",
        "seeds 1 and 2 at seed 0's best LR. Gaps are paired per seed (same initialisation and data order): the mean ±",
        "its standard error over n seeds. The zero-config pick is the rule of `uba_hf.zero_config` at each LR, read",
        "off the fixed-phi run it picks there (the same LR at every update); `-` where none ran.",
        "",
        "## Summary",
        "",
        "| regime | factor | updates x tokens | best of all | best UBA (any phi, floor) | best UBA minus linear | "
        "zero-config | zero-config minus best UBA | zero-config minus best of all | min seeds |",
        "|---|---|---|---|---|---|---|---|---|---:|",
    ]
    sections = []
    anchors_done = set()
    for r in REGIMES:
        if r.anchor in ANCHOR_RESULTS and r.anchor not in anchors_done:  # an anchor run before this study
            anchors_done.add(r.anchor)
            budget, batch = r.budget, r.batch_size
            row, _ = _summary_row(f"{r.anchor} (anchor)", "reference", budget, batch * 64, anchor_records(r.anchor))
            lines.append(row)
        records = _records(r)
        if not any(x.get("kind") == "run" for x in records):
            continue
        row, _ = _summary_row(r.name, r.factor, r.budget, r.batch_size * 64, records)
        lines.append(row)
        sections += _regime_section(r, records)
    text = "\n".join([*lines, "", *sections])
    path.write_text(text)
    return text
