"""The v2 report (``benchmarks/v2/report.md`` + ``gap_vs_tokens.png``): per regime, UBA at the package
default vs each of the three strongest baselines, with gap, seed spread and paired per-seed gaps.

Works on partial results (an interrupted sweep): every number says how many seeds it rests on, a
regime whose cells are not all finished is marked **partial**, and a best LR at an edge of its grid is
marked (the grid is extended by the sweep; until then the comparison is provisional).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from uba_hf.schedule import DEFAULT_PHI

from .config import AUTO_NAMES, COSINE_MIN_LR_RATE, DEFAULT_NAME, SweepConfig, is_baseline, parse_uba_name
from .report import Best, render_markdown, summarize
from .runner import planned_cells
from .schedules import cell_key, spec_key

STRONGEST = 3


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


def compare_default(
    cfg: SweepConfig, records: list[dict[str, Any]], baselines: set[str] | None = None
) -> list[dict[str, Any]]:
    """Per budget: UBA-default vs each of the (up to) three strongest baselines (or vs each of
    ``baselines`` that has runs at that budget), as plain numbers."""
    table = summarize(cfg, records)
    stats = next((r for r in records if r.get("kind") == "stats"), None)
    done = {cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) for r in records if r.get("kind") == "run"}
    out = []
    for budget in cfg.budgets:
        row = table.get(budget, {})
        planned = [c for c in planned_cells(cfg) if c[1] == budget]
        n_done = sum(cell_key(spec_key(c[0], c[1]), *c[1:]) in done for c in planned)
        uba = row.get(DEFAULT_NAME)
        bases = sorted((b for n, b in row.items() if is_baseline(n)), key=lambda b: b.mean)
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
                "regime": regime(stats, budget),
                "uba": uba,
                "comparisons": comps,
                "cells_done": n_done,
                "cells_planned": len(planned),
            }
        )
    return out


def phi_of(name: str) -> tuple[float, float] | None:
    """``(phi, floor)`` of a fixed-phi UBA schedule, including the baselines that *are* UBA (cosine = phi 2)."""
    if name == DEFAULT_NAME:
        return float(DEFAULT_PHI), 0.0
    return {"cosine": (2.0, 0.0), "cosine-min10": (2.0, COSINE_MIN_LR_RATE)}.get(name) or parse_uba_name(name)


def phi_lines(cfg: SweepConfig, records: list[dict[str, Any]]) -> list[str]:
    """Per budget and floor: the loss of every fixed phi (best LR), the best phi, a best phi at an end of the
    phi grid (extend the grid that way), and uba-auto against the best fixed phi."""
    table = summarize(cfg, records)
    lines = []
    for budget in cfg.budgets:
        row = table.get(budget, {})
        for floor in sorted({f for n in cfg.schedules if (pf := phi_of(n)) for f in [pf[1]]}):
            by_phi = {phi_of(n)[0]: b for n, b in row.items() if phi_of(n) and phi_of(n)[1] == floor}
            if len(by_phi) < 2:
                continue
            best = min(by_phi, key=lambda k: by_phi[k].mean)
            grid = sorted({phi_of(n)[0] for n in cfg.schedules if phi_of(n) and phi_of(n)[1] == floor})
            cells = ", ".join(f"{k:g}: {by_phi[k].mean:.4f} (n={by_phi[k].n})" for k in sorted(by_phi))
            text = f"- {budget} updates, floor {floor:g}: {cells}; best phi **{best:g}**"
            if best == grid[0]:
                text += " (**low edge of the phi grid: extend it downward**)"
            elif best == grid[-1]:
                text += " (**high edge of the phi grid: extend it upward**)"
            auto = next((row[n] for n in AUTO_NAMES if n in row and (n != AUTO_NAMES[0]) == bool(floor)), None)
            if auto is not None:
                text += f"; `{auto.name}` {auto.mean:.4f} ({auto.mean - by_phi[best].mean:+.4f} vs the best fixed phi)"
            lines.append(text + ".")
    return lines


def _best_text(b: Best) -> str:
    edge = ", **grid edge**" if b.edge else ""
    return f"{b.mean:.4f} ± {b.std:.4f} (n={b.n}, LR {b.lr:g}{edge})"


def render_v2(groups: dict[str, tuple[str, SweepConfig, list[dict[str, Any]]]], command: str = "") -> str:
    """``report.md``: one table per model; rows = (budget, baseline), UBA-default vs that baseline."""
    lines = ["# Benchmark v2: UBA at the package default vs the strongest baselines", ""]
    lines.append(
        f'UBA-default = `lr_scheduler_type="uba"` at phi = {DEFAULT_PHI:g} (`uba_hf.DEFAULT_PHI`), min_lr_ratio 0. '
        "Each schedule at its own best peak LR (lowest mean over seeds). Gap = UBA-default minus the baseline "
        "(negative: UBA better); seed spread = sqrt(std_a^2 + std_b^2); paired gaps: per seed (same "
        "initialisation and data order), each side at its own best LR. Baselines ranked by their mean loss at "
        f"that budget; the {STRONGEST} strongest shown. Details per model: `sweep.md`, `main-job.md`."
    )
    lines.append("")
    for _group, (title, cfg, records) in groups.items():
        rows = compare_default(cfg, records)
        done = sum(r["cells_done"] for r in rows)
        planned = sum(r["cells_planned"] for r in rows)
        state = "complete" if done >= planned else f"**partial: {done} / {planned} cells finished**"
        lines += [f"## {title} ({state})", ""]
        lines.append(
            "| budget | tokens/param | epochs | cells | UBA-default | baseline | baseline loss | gap | seed spread "
            "| paired gaps (seed: gap) |"
        )
        lines.append("|---:|---:|---:|---|---|---|---|---:|---:|---|")
        for r in rows:
            reg = r["regime"]
            tpp = f"{reg['tokens_per_param']:.2f}" if reg else "n/a"
            ep = f"{reg['epochs']:.3f}" if reg else "n/a"
            cells = f"{r['cells_done']}/{r['cells_planned']}" + (
                "" if r["cells_done"] >= r["cells_planned"] else " (partial)"
            )
            uba = _best_text(r["uba"]) if r["uba"] else "no runs yet"
            if not r["comparisons"]:
                lines.append(f"| {r['budget']} | {tpp} | {ep} | {cells} | {uba} | n/a | | | | |")
            for c in r["comparisons"]:
                spread = f"{c['spread']:.4f}" if c["spread"] is not None else "n/a (1 seed)"
                paired = ", ".join(f"{s}: {g:+.4f}" for s, g in c["paired"])
                lines.append(
                    f"| {r['budget']} | {tpp} | {ep} | {cells} | {uba} | `{c['baseline'].name}` | "
                    f"{_best_text(c['baseline'])} | {c['gap']:+.4f} | {spread} | {paired} |"
                )
        lines.append("")
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
    lines.append("`gap_vs_tokens.png`: the gap to each of the three strongest baselines against tokens per parameter.")
    if command:
        lines += ["", f"Command: {command}"]
    lines.append("")
    return "\n".join(lines)


def plot_gap_vs_tokens(groups: dict[str, tuple[str, SweepConfig, list[dict[str, Any]]]], path: os.PathLike) -> None:
    """Gap (UBA-default minus baseline, nats) vs tokens per non-embedding parameter: one line per baseline
    that is among the three strongest in some regime, at every regime it ran in; the bar spans the per-seed
    gaps."""
    from uba_hf.pretrain.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    linestyles = {"sweep": "-", "main-job": "--"}
    colors: dict[str, str] = {}
    partial = False
    for group, (_title, cfg, records) in groups.items():
        series: dict[str, list[tuple[float, float, float, float]]] = {}
        strongest = {c["baseline"].name for r in compare_default(cfg, records) for c in r["comparisons"]}
        for r in compare_default(cfg, records, baselines=strongest):
            partial |= r["cells_done"] < r["cells_planned"]
            if r["regime"] is None:
                continue
            for c in r["comparisons"]:
                gaps = [g for _, g in c["paired"]] or [c["gap"]]
                series.setdefault(c["baseline"].name, []).append(
                    (r["regime"]["tokens_per_param"], c["gap"], c["gap"] - min(gaps), max(gaps) - c["gap"])
                )
        for name, pts in sorted(series.items()):
            xs, ys, lo, hi = zip(*sorted(pts), strict=True)
            color = colors.setdefault(name, f"C{len(colors)}")
            ax.errorbar(
                xs,
                ys,
                yerr=[lo, hi],
                marker="o",
                capsize=3,
                color=color,
                ls=linestyles.get(group, ":"),
                label=f"vs {name} ({group})",
            )
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("tokens per non-embedding parameter")
    ax.set_ylabel("UBA-default minus baseline (nats; < 0 = UBA better)")
    ax.set_title(
        "UBA-default vs every baseline that is among the three strongest in a regime\n(each at its best LR); "
        "point: gap of the means; bar: the per-seed (paired) gaps"
        + ("\nPARTIAL: not every cell finished (see report.md)" if partial else "")
    )
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
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
        paths[f"{g}.md"].write_text(render_markdown(cfg, records, command=command, title=f"v2: {title}"))
        paths[f"{g}.png"] = root / f"{g}.png"
        plot_budget_sweep(cfg, records, paths[f"{g}.png"])
    return paths
