"""The v2 report (``benchmarks/v2/report.md`` + ``gap_vs_tokens.png``): per regime, UBA as the package
recommends it (the budget rule, ``suggest_schedule``) and at its plain default (phi 1, no floor) vs each of
the three strongest baselines, with gap, seed spread and paired per-seed gaps.

Works on partial results (an interrupted sweep): every number says how many seeds it rests on, a
regime whose cells are not all finished is marked **partial**, and a best LR at an edge of its grid is
marked (the grid is extended by the sweep; until then the comparison is provisional).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .config import (
    AUTO_NAMES,
    DEFAULT_NAME,
    SCHEDULE_FREE,
    V2_DEFAULT_PHI,
    SweepConfig,
    is_baseline,
    uba_name,
)
from .grid import planned_cells
from .model_page import render_model_page
from .schedules import cell_key, spec_key
from .summary import Best, phi_of, summarize

STRONGEST = 3
# Not a schedule of its own: per budget, the UBA schedule ``uba_hf.suggest_schedule`` picks at that budget's
# tokens per parameter (what the package recommends when the budget is known).
RULE = "uba-rule"
SUBJECTS = {
    RULE: "UBA by the budget rule (`uba_hf.suggest_schedule` at each budget's tokens/param)",
    DEFAULT_NAME: f'UBA-default (phi = {V2_DEFAULT_PHI:g}, no floor: `lr_scheduler_type="uba"` without kwargs)',
}


def regime(stats: dict[str, Any] | None, budget: int) -> dict[str, float] | None:
    """Tokens seen, tokens per non-embedding parameter and epochs of one budget (None without stats)."""
    if not stats:
        return None
    tokens = budget * stats["tokens_per_update"]
    return {
        "tokens": tokens,
        "tokens_per_param": tokens / stats["non_embedding_params"],
        "epochs": tokens / stats["train_tokens"],
    }


def paired_gaps(a: Best, b: Best, records: list[dict[str, Any]], budget: int) -> list[tuple[int, float]]:
    """``(seed, loss_a - loss_b)`` for the seeds both ran at their best LRs (same init and data order)."""
    by = {}
    for best in (a, b):
        spec = spec_key(best.name, budget)
        by[best.name] = {
            r["seed"]: r["eval_loss"]
            for r in records
            if r.get("kind") == "run" and r["spec"] == spec and r["budget"] == budget and r["lr"] == best.lr
        }
    seeds = sorted(set(by[a.name]) & set(by[b.name]))
    return [(s, by[a.name][s] - by[b.name][s]) for s in seeds]


def subject_schedule(subject: str, reg: dict[str, float] | None) -> str | None:
    """The schedule name ``subject`` stands for at a regime (``RULE``: the rule's pick; None if unknown)."""
    if subject != RULE:
        return subject
    if reg is None:
        return None
    from .v2 import budget_rule

    picked = budget_rule(reg["tokens_per_param"])
    return uba_name(picked["phi"], picked["min_lr_ratio"])


def _lookup(row: dict[str, Best], name: str | None, budget: int) -> Best | None:
    """``row[name]``, or the entry of another name that runs the same schedule (uba-phi1 = uba-default)."""
    if name is None:
        return None
    if name in row:
        return row[name]
    spec = spec_key(name, budget)
    return next((b for n, b in row.items() if spec_key(n, budget) == spec), None)


def _ranked_baselines(row: dict[str, Best]) -> list[Best]:
    """The baselines of one budget's row, best (lowest mean loss) first."""
    return sorted((b for n, b in row.items() if is_baseline(n)), key=lambda b: b.mean)


def compare_to_baselines(
    cfg: SweepConfig,
    records: list[dict[str, Any]],
    baselines: set[str] | None = None,
    subject: str = DEFAULT_NAME,
) -> list[dict[str, Any]]:
    """Per budget: UBA (``subject``: UBA-default, or ``RULE``) vs each of the (up to) three strongest
    baselines (or vs each of ``baselines`` that has runs at that budget), as plain numbers."""
    table = summarize(cfg, records)
    stats = next((r for r in records if r.get("kind") == "stats"), None)
    done = {cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) for r in records if r.get("kind") == "run"}
    out = []
    for budget in cfg.budgets:
        row = table.get(budget, {})
        planned = [c for c in planned_cells(cfg) if c[1] == budget]
        n_done = sum(cell_key(spec_key(c[0], c[1]), *c[1:]) in done for c in planned)
        reg = regime(stats, budget)
        uba = _lookup(row, subject_schedule(subject, reg), budget)
        bases = _ranked_baselines(row)
        bases = [b for b in bases if b.name in baselines] if baselines is not None else bases[:STRONGEST]
        comps = []
        for base in bases:
            if uba is None:
                break
            pairs = paired_gaps(uba, base, records, budget)
            comps.append(
                {
                    "baseline": base,
                    "gap": uba.mean - base.mean,
                    "spread": math.hypot(uba.std, base.std) if min(uba.n, base.n) > 1 else None,
                    "paired": pairs,
                }
            )
        out.append(
            {
                "budget": budget,
                "regime": reg,
                "uba": uba,
                "comparisons": comps,
                "cells_done": n_done,
                "cells_planned": len(planned),
            }
        )
    return out


def phi_lines(cfg: SweepConfig, records: list[dict[str, Any]]) -> list[str]:
    """Per budget and floor: the loss of every fixed phi (best LR), the best phi, a best phi at an end of the
    phi grid (extend the grid that way), the best phi's paired gap to the strongest baseline, and uba-auto
    against the best fixed phi."""
    table = summarize(cfg, records)
    lines = []
    for budget in cfg.budgets:
        row = table.get(budget, {})
        top = next(iter(_ranked_baselines(row)), None)
        for floor in sorted({f for n in cfg.schedules if (pf := phi_of(n)) for f in [pf[1]]}):
            by_phi = {phi_of(n)[0]: b for n, b in row.items() if phi_of(n) and phi_of(n)[1] == floor}
            if len(by_phi) < 2:
                continue
            best = min(by_phi, key=lambda k: by_phi[k].mean)
            grid = sorted({phi_of(n)[0] for n in cfg.schedules_at(budget) if phi_of(n) and phi_of(n)[1] == floor})
            cells = ", ".join(f"{k:g}: {by_phi[k].mean:.4f} (n={by_phi[k].n})" for k in sorted(by_phi))
            text = f"- {budget} updates, floor {floor:g}: {cells}; best phi **{best:g}**"
            if best == grid[0]:
                text += " (**low edge of the phi grid: extend it downward**)"
            elif best == grid[-1]:
                text += " (**high edge of the phi grid: extend it upward**)"
            # Does any phi catch the strongest baseline? (Skipped when the best phi *is* it: cosine-min10.)
            if top is not None and top.name != by_phi[best].name:
                gaps = [g for _, g in paired_gaps(by_phi[best], top, records, budget)]
                if gaps:
                    per_seed = ", ".join(f"{g:+.4f}" for g in gaps)
                    text += f"; minus the best baseline `{top.name}`: {sum(gaps) / len(gaps):+.4f} (paired: {per_seed})"
            auto = next((row[n] for n in AUTO_NAMES if n in row and (n != AUTO_NAMES[0]) == bool(floor)), None)
            if auto is not None:
                text += f"; `{auto.name}` {auto.mean:.4f} ({auto.mean - by_phi[best].mean:+.4f} vs the best fixed phi)"
            lines.append(text + ".")
    return lines


def _best_text(b: Best) -> str:
    edge = ", **grid edge**" if b.edge else ""
    return f"{b.mean:.4f} ± {b.std:.4f} (n={b.n}, LR {b.lr:g}{edge})"


def _comparison_table(cfg: SweepConfig, records: list[dict[str, Any]], subject: str) -> list[str]:
    lines = [
        "| budget | tokens/param | epochs | cells | UBA | baseline | baseline loss | gap | seed spread "
        "| paired gaps (seed: gap) |",
        "|---:|---:|---:|---|---|---|---|---:|---:|---|",
    ]
    for r in compare_to_baselines(cfg, records, subject=subject):
        reg = r["regime"]
        tpp = f"{reg['tokens_per_param']:.2f}" if reg else "n/a"
        ep = f"{reg['epochs']:.3f}" if reg else "n/a"
        cells = f"{r['cells_done']}/{r['cells_planned']}" + (
            "" if r["cells_done"] >= r["cells_planned"] else " (partial)"
        )
        name = subject_schedule(subject, reg)
        uba = _best_text(r["uba"]) if r["uba"] else "no runs yet"
        if subject == RULE:
            uba = f"`{name}`: {uba}" if name else "pick unknown (no stats yet)"
        if not r["comparisons"]:
            lines.append(f"| {r['budget']} | {tpp} | {ep} | {cells} | {uba} | n/a | | | | |")
        for c in r["comparisons"]:
            spread = f"{c['spread']:.4f}" if c["spread"] is not None else "n/a (1 seed)"
            unequal = " (unequal seeds: see paired)" if r["uba"].n != c["baseline"].n else ""
            paired = ", ".join(f"{s}: {g:+.4f}" for s, g in c["paired"])
            lines.append(
                f"| {r['budget']} | {tpp} | {ep} | {cells} | {uba} | `{c['baseline'].name}` | "
                f"{_best_text(c['baseline'])} | {c['gap']:+.4f}{unequal} | {spread} | {paired} |"
            )
    return [*lines, ""]


VERDICT_BASELINES = ("linear", "cosine-min10", "wsd-1sqrt", SCHEDULE_FREE)  # the strongest four


def verdict_table(cfg: SweepConfig, records: list[dict[str, Any]]) -> list[str]:
    """One row per (UBA subject, budget): the mean paired gap to each of ``VERDICT_BASELINES`` with the
    per-seed gaps in brackets (the tables of `docs/benchmarks.md`)."""
    head = " | ".join(f"vs `{b}`" for b in VERDICT_BASELINES)
    lines = [f"| UBA | budget | tokens/param | {head} |", "|---|---:|---:|" + "---|" * len(VERDICT_BASELINES)]
    for subject in SUBJECTS:
        for r in compare_to_baselines(cfg, records, baselines=set(VERDICT_BASELINES), subject=subject):
            reg = r["regime"]
            tpp = f"{reg['tokens_per_param']:.1f}" if reg else "n/a"
            pick = subject_schedule(subject, reg)
            label = "UBA-default" if subject == DEFAULT_NAME else (f"rule: `{pick}`" if pick else "rule (no stats yet)")
            by_name = {c["baseline"].name: c for c in r["comparisons"]}
            cells = []
            for b in VERDICT_BASELINES:
                c = by_name.get(b)
                if c is None or not c["paired"]:
                    cells.append("n/a")
                    continue
                gaps = [g for _, g in c["paired"]]
                cells.append(f"{sum(gaps) / len(gaps):+.3f} ({', '.join(f'{g:+.3f}' for g in gaps)})")
            lines.append(f"| {label} | {r['budget']} | {tpp} | {' | '.join(cells)} |")
    return [*lines, ""]


def across_regimes(groups: dict[str, tuple[str, SweepConfig, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Every schedule's gap to the best schedule of each regime (model and budget), across both models: the
    evidence for a default that has to serve models nobody tuned it on.

    The best of a regime is the lowest mean among schedules with every seed at their best LR; a gap is the
    mean of the per-seed (paired) gaps to it. ``worst`` is the largest gap over the regimes where the
    schedule has every seed (None until it has one); ``complete`` counts those regimes. One more row,
    ``RULE``, takes at each regime the schedule ``suggest_schedule`` picks there."""
    regimes: list[dict[str, Any]] = []
    gaps: dict[str, dict[int, tuple[float, int]]] = {}
    for group, (_title, cfg, records) in groups.items():
        table = summarize(cfg, records)
        stats = next((r for r in records if r.get("kind") == "stats"), None)
        for budget in cfg.budgets:
            row = table.get(budget, {})
            full = [b for b in row.values() if b.n == len(cfg.seeds)]
            if not full:
                continue
            best = min(full, key=lambda b: b.mean)
            reg = regime(stats, budget)
            regimes.append(
                {
                    "group": group,
                    "budget": budget,
                    "tokens_per_param": reg["tokens_per_param"] if reg else None,
                    "best": best,
                    "seeds": len(cfg.seeds),
                    "rule": subject_schedule(RULE, reg),
                }
            )
            for name, b in row.items():
                pairs = [g for _, g in paired_gaps(b, best, records, budget)]
                if pairs:
                    gaps.setdefault(name, {})[len(regimes) - 1] = (sum(pairs) / len(pairs), len(pairs))
    # The budget rule as one more row: at each regime, the gap of the schedule it picks there.
    rule = {i: gaps[r["rule"]][i] for i, r in enumerate(regimes) if i in gaps.get(r["rule"], {})}
    if rule:
        gaps[RULE] = rule
    rows = []
    for name, by_regime in gaps.items():
        full = [g for i, (g, n) in by_regime.items() if n == regimes[i]["seeds"]]
        rows.append({"name": name, "gaps": by_regime, "worst": max(full) if full else None, "complete": len(full)})
    rows.sort(key=lambda r: (-r["complete"], math.inf if r["worst"] is None else r["worst"], r["name"]))
    return {"regimes": regimes, "rows": rows}


def across_regimes_table(groups: dict[str, tuple[str, SweepConfig, list[dict[str, Any]]]]) -> list[str]:
    """``across_regimes`` as markdown: one row per schedule, one column per regime, then the worst gap."""
    found = across_regimes(groups)
    regimes = found["regimes"]
    if not regimes:
        return []
    heads = [
        f"{r['group']} {r['tokens_per_param']:.2g} t/p" if r["tokens_per_param"] else f"{r['group']} {r['budget']}"
        for r in regimes
    ]
    lines = [
        f"| schedule | {' | '.join(heads)} | worst (regimes with every seed) |",
        "|---|" + "---:|" * (len(regimes) + 1),
        "| best of the regime | " + " | ".join(f"`{r['best'].name}` {r['best'].mean:.4f}" for r in regimes) + " | |",
    ]
    for row in found["rows"]:
        cells = []
        for i, reg in enumerate(regimes):
            g = row["gaps"].get(i)
            if g is None:
                cells.append("")
            else:
                cells.append(f"{g[0]:+.3f}" + ("" if g[1] == reg["seeds"] else f" ({g[1]} seed{'s' * (g[1] > 1)})"))
        worst = "n/a" if row["worst"] is None else f"{row['worst']:+.3f} ({row['complete']} of {len(regimes)})"
        lines.append(f"| `{row['name']}` | {' | '.join(cells)} | {worst} |")
    return [*lines, ""]


def render_v2(groups: dict[str, tuple[str, SweepConfig, list[dict[str, Any]]]], command: str = "") -> str:
    """``report.md``: per model, one table per UBA subject (the rule, the default); rows = (budget, baseline)."""
    lines = ["# Benchmark v2: UBA as the package recommends it vs the strongest baselines", ""]
    lines.append(
        "Two UBA subjects per model: the budget rule (`uba_hf.suggest_schedule(tokens_per_param)`: the phi and "
        "floor the package recommends when the budget is known; its pick per budget is named in the table) and "
        f'UBA-default (phi = {V2_DEFAULT_PHI:g}, min_lr_ratio 0: what `lr_scheduler_type="uba"` gave without kwargs '
        "when v2 ran). Each schedule at its own best peak LR (lowest mean over seeds). Gap = UBA minus the "
        "baseline (negative: UBA better); seed spread = sqrt(std_a^2 + std_b^2); paired gaps: per seed (same "
        "initialisation and data order), each side at its own best LR. Baselines ranked by their mean loss at "
        f"that budget; the {STRONGEST} strongest shown. Details per model: `sweep.md`, `main-job.md`."
    )
    lines.append("")
    for _group, (title, cfg, records) in groups.items():
        rows = compare_to_baselines(cfg, records)
        done = sum(r["cells_done"] for r in rows)
        planned = sum(r["cells_planned"] for r in rows)
        state = "complete" if done >= planned else f"**partial: {done} / {planned} cells finished**"
        lines += [f"## {title} ({state})", ""]
        lines += [
            "Verdict: mean of the per-seed (paired) gaps, UBA minus baseline, each at its best LR; the per-seed "
            "gaps in brackets (fewer than 3 while the sweep runs).",
            "",
            *verdict_table(cfg, records),
        ]
        for subject, heading in SUBJECTS.items():
            lines += [f"### {heading}", "", *_comparison_table(cfg, records, subject)]
        phis = phi_lines(cfg, records)
        if phis:
            lines += ["Fixed phi (each at its best LR; mean final loss, n seeds):", "", *phis, ""]
        edges = [
            f"`{b.name}` at {budget} (LR {b.lr:g})"
            for budget, row in summarize(cfg, records).items()
            for b in row.values()
            if b.edge
        ]
        if edges:
            lines += [f"Best LR still at a grid edge (provisional; the sweep extends these): {', '.join(edges)}.", ""]
    across = across_regimes_table(groups)
    if across:
        lines += [
            "## Across both models: how far behind each regime's best",
            "",
            "Per regime (model, tokens per non-embedding parameter), the mean per-seed (paired) gap of each "
            "schedule at its best LR to the regime's best schedule (lowest mean with every seed); fewer seeds "
            "are named. Worst: the largest gap over the regimes where the schedule has every seed, and how many "
            "those are. A default has to serve models nobody tuned it on: a small worst case across both models "
            "is what makes a setting safe to recommend untested.",
            "",
            *across,
        ]
    lines.append(
        "`gap_vs_tokens.png`: the gap of each UBA subject to the baselines that are among the three strongest "
        "in some regime, against tokens per parameter."
    )
    if command:
        lines += ["", f"Command: {command}"]
    lines.append("")
    return "\n".join(lines)


def plot_gap_vs_tokens(groups: dict[str, tuple[str, SweepConfig, list[dict[str, Any]]]], path: os.PathLike) -> None:
    """Gap (UBA minus baseline, nats) vs tokens per non-embedding parameter, one panel per UBA subject (the
    rule, the default): one line per baseline that is among the three strongest in some regime, at every
    regime it ran in; the point is the mean of the per-seed (paired) gaps, the bar their range."""
    from uba_hf.pretrain.plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, len(SUBJECTS), figsize=(14, 5.5), dpi=120, sharey=True, squeeze=False)
    axes = axes[0]
    linestyles = {"sweep": "-", "main-job": "--"}
    colors: dict[str, str] = {}
    partial = False
    for ax, (subject, heading) in zip(axes, SUBJECTS.items(), strict=True):
        for group, (_title, cfg, records) in groups.items():
            series: dict[str, list[tuple[float, float, float, float]]] = {}
            strongest = {c["baseline"].name for r in compare_to_baselines(cfg, records) for c in r["comparisons"]}
            for r in compare_to_baselines(cfg, records, baselines=strongest, subject=subject):
                partial |= r["cells_done"] < r["cells_planned"]
                if r["regime"] is None:
                    continue
                for c in r["comparisons"]:
                    # The mean of the paired gaps (= the gap of the means once both sides have every seed).
                    gaps = [g for _, g in c["paired"]] or [c["gap"]]
                    mid = sum(gaps) / len(gaps)
                    series.setdefault(c["baseline"].name, []).append(
                        (r["regime"]["tokens_per_param"], mid, mid - min(gaps), max(gaps) - mid)
                    )
            for name, pts in sorted(series.items()):
                xs, ys, lo, hi = zip(*sorted(pts), strict=True)
                style = dict(marker="o", capsize=3, color=colors.setdefault(name, f"C{len(colors)}"))
                ax.errorbar(xs, ys, yerr=[lo, hi], ls=linestyles.get(group, ":"), label=f"vs {name} ({group})", **style)
        ax.axhline(0.0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("tokens per non-embedding parameter")
        ax.set_title(heading.split(" (")[0], fontsize=10)
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    axes[0].set_ylabel("UBA minus baseline (nats; < 0 = UBA better)")
    fig.suptitle(
        "UBA vs the baselines that are among the three strongest in some regime, each at its best LR; "
        "point: mean per-seed (paired) gap, bar: their range"
        + ("\nPARTIAL: not every cell finished (see report.md)" if partial else ""),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_v2_report(root: Path, command: str = "") -> dict[str, Path]:
    """``report.md``, ``gap_vs_tokens.png`` and per model ``<group>.md`` / ``<group>.png`` under ``root``."""
    from .plots import plot_budget_sweep
    from .v2 import GROUPS, group_config, group_records

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    groups = {g: (title, group_config(g), group_records(g, root)) for g, title in GROUPS.items()}
    paths = {"md": root / "report.md", "png": root / "gap_vs_tokens.png"}
    paths["md"].write_text(render_v2(groups, command))
    plot_gap_vs_tokens(groups, paths["png"])
    for g, (title, cfg, records) in groups.items():
        paths[f"{g}.md"] = root / f"{g}.md"
        paths[f"{g}.md"].write_text(render_model_page(cfg, records, command=command, title=f"v2: {title}"))
        paths[f"{g}.png"] = root / f"{g}.png"
        plot_budget_sweep(cfg, records, paths[f"{g}.png"])
    return paths
