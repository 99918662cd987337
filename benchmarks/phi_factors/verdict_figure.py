"""The README's "Does it help?" figure: per regime, zero-config UBA's paired gap to the best tuned baseline.

    python benchmarks/phi_factors/verdict_figure.py    # writes benchmarks/phi_factors/verdict.png

Reads the committed results through the harness (``uba_bench.phi_factors_report``, the numbers of
``report.md``'s zero-config table): in each of the 21 judged regimes, the mean of the per-seed (paired) gaps in
final validation loss between zero-config UBA and the best tuned of linear-to-zero, WSD-1sqrt, cosine-to-10% and
schedule-free, every schedule at its own best peak LR. No training runs.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for uba_bench and this study

from uba_bench.summary import summarize  # noqa: E402

from phi_factors.plan import FACTORS_DIR  # noqa: E402
from phi_factors.report import _best_baseline, _gap, judged_regimes  # noqa: E402
from phi_factors.rule_picks import area_rule_best  # noqa: E402

FIGURE = Path(__file__).with_name("verdict.png")
TARGET = 0.01  # within 0.01 nats of the best tuned baseline: the target the rule was judged by


def verdict_rows(root: Path = FACTORS_DIR) -> list[dict[str, Any]]:
    """One row per judged regime with a zero-config result, sorted by its mean gap (best first): ``label`` (the
    regime's name in ``report.md``, its updates and tokens per update), ``held_out``, ``mean`` and ``per_seed``
    (zero-config minus the best tuned baseline, nats) and ``baseline`` (which baseline that was)."""
    rows = []
    for reg in judged_regimes(root):
        row = summarize(reg["cfg"], reg["runs"]).get(reg["budget"], {})
        base = _best_baseline(row)
        gap = _gap(area_rule_best(reg["runs"], reg["budget"]), base, reg["runs"], reg["budget"]) if row else None
        if gap is not None:
            mean, per_seed = gap
            tokens = reg["cfg"].batch_size * reg["cfg"].block_size
            label = f"{reg['label']}: {reg['budget']:,} updates x {tokens:,} tokens"
            rows.append(dict(label=label, held_out=not reg["fitted"], mean=mean, per_seed=per_seed, baseline=base.name))
    return sorted(rows, key=lambda r: r["mean"])


def verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of the README's lead: the mean and worst gap over all regimes and over the held-out ones, and
    how many regimes are within the target."""
    held = [r for r in rows if r["held_out"]]
    worst = max(rows, key=lambda r: r["mean"])
    return dict(
        regimes=len(rows),
        held_out=len(held),
        mean=statistics.fmean(r["mean"] for r in rows),
        mean_held_out=statistics.fmean(r["mean"] for r in held),
        worst=worst["mean"],
        worst_label=worst["label"],
        worst_baseline=worst["baseline"],
        within=sum(r["mean"] <= TARGET for r in rows),
        within_held_out=sum(r["mean"] <= TARGET for r in held),
    )


def draw(rows: list[dict[str, Any]], path: Path = FIGURE) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 0.28 * len(rows) + 1.8), dpi=120)
    for y, r in enumerate(rows):
        color = "tab:orange" if r["held_out"] else "tab:blue"
        seeds = r["per_seed"] or [r["mean"]]
        ax.plot([min(seeds), max(seeds)], [y, y], color=color, lw=1.2, alpha=0.6)
        ax.scatter(seeds, [y] * len(seeds), s=9, color=color, alpha=0.6)
        ax.scatter([r["mean"]], [y], s=40, color=color, marker="D", zorder=3)
        ax.annotate(f"vs {r['baseline']}", (max(seeds), y), xytext=(5, -3), textcoords="offset points", fontsize=6)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['label']}{'  (held out)' if r['held_out'] else ''}" for r in rows], fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvspan(-1, TARGET, color="tab:green", alpha=0.08, label=f"within {TARGET} nats of the best tuned baseline")
    ax.set_xlim(
        min(min(r["per_seed"] or [r["mean"]]) for r in rows) - 0.02,
        max(max(r["per_seed"] or [r["mean"]]) for r in rows) + 0.09,
    )
    ax.invert_yaxis()
    ax.scatter([], [], marker="D", color="tab:blue", label="fitted on: mean of 3 seeds (dots: each seed)")
    ax.scatter([], [], marker="D", color="tab:orange", label="held out from the rule's fit")
    ax.set_xlabel(
        "zero-config UBA minus the best tuned baseline, final validation loss in nats (< 0: UBA ahead)", fontsize=8
    )
    ax.set_title(
        "Zero-config UBA against the best tuned of linear, WSD-1sqrt, cosine-to-10% and schedule-free", fontsize=9
    )
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    rows = verdict_rows()
    draw(rows)
    v = verdict(rows)
    print(
        f"wrote {FIGURE}: {v['regimes']} regimes ({v['held_out']} held out); mean {v['mean']:+.3f} "
        f"(held out {v['mean_held_out']:+.3f}), worst {v['worst']:+.3f} ({v['worst_label']}, {v['worst_baseline']}); "
        f"within {TARGET}: {v['within']} ({v['within_held_out']} held out)"
    )
    for r in rows:
        print(f"  {r['mean']:+.3f} {r['label']}{' (held out)' if r['held_out'] else ''} vs {r['baseline']}")
