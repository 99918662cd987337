"""Figures: final loss vs budget, and the LR curves of the sweep's schedules."""

from __future__ import annotations

import logging
import os
from typing import Any

from uba_hf.pretrain.plotting import pyplot

from .config import (
    AUTO,
    AUTO_NAMES,
    DEFAULT_NAME,
    FLOOR_SUFFIX,
    SCHEDULE_FREE,
    SweepConfig,
    is_baseline,
)
from .schedules import (
    scheduler_lrs,
    spec_key,
    warmup_steps,
)
from .summary import summarize

logger = logging.getLogger("uba_hf")

_COLORS = {
    DEFAULT_NAME: "tab:blue",
    "uba-phi0.5": "tab:cyan",
    "uba-phi1": "tab:blue",
    "uba-phi2": "tab:orange",
    "uba-phi4": "tab:green",
    "uba-phi0.5-min10": "tab:gray",
    "uba-phi1-min10": "navy",
    "cosine": "tab:orange",
    "cosine-min10": "tab:red",
    "linear": "tab:olive",
    "wsd": "tab:brown",
    "constant": "tab:pink",
    "wsd-1sqrt": "tab:brown",
    "wsd-linear": "peru",
    SCHEDULE_FREE: "black",
    "uba-phi0.0025": "darkslategray",
    "uba-phi0.005": "darkgreen",
    "uba-phi0.01": "teal",
    "uba-phi0.025": "darkcyan",
    "uba-phi0.05": "cadetblue",
    "uba-phi0.1": "lightblue",
    "uba-phi0.25": "deepskyblue",
    AUTO: "tab:purple",
    AUTO + FLOOR_SUFFIX: "indigo",
}


def _style(name: str) -> dict[str, Any]:
    # A floored phi without a colour of its own takes its unfloored twin's (its marker tells them apart).
    color = _COLORS.get(name) or _COLORS.get(name.removesuffix(FLOOR_SUFFIX), "tab:gray")
    if name == DEFAULT_NAME:
        return dict(color=color, lw=2.6, marker="o", zorder=5)
    if name in AUTO_NAMES:
        return dict(color=color, lw=2, marker="D" if name == AUTO else "P", ls="-.")
    if name.startswith("uba-phi"):
        return dict(color=color, lw=1.3, marker="." if FLOOR_SUFFIX not in name else "x", ls="--")
    return dict(color=color, lw=1.6, marker="s", ls="-", alpha=0.85)


def _distinct(cfg: SweepConfig, budget: int) -> list[tuple[str, str]]:
    """``(name, label)`` per distinct schedule; names that run the same schedule share one label."""
    out, seen = [], set()
    for name in cfg.schedules:
        spec = spec_key(name, budget)
        if spec in seen:
            continue
        seen.add(spec)
        same = [n for n in cfg.schedules if n != name and n not in AUTO_NAMES and spec_key(n, budget) == spec]
        out.append((name, " = ".join([name, *same])))
    return out


def plot_budget_sweep(cfg: SweepConfig, records: list[dict[str, Any]], path: str | os.PathLike) -> None:
    """Left: final loss vs budget per schedule (best LR, mean ± std). Right: the same minus the best baseline."""
    from matplotlib.ticker import NullFormatter

    plt = pyplot()
    table = summarize(cfg, records)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), dpi=120)
    best_base = {}
    for b in cfg.budgets:
        base = [table[b][n].mean for n in cfg.schedules if is_baseline(n) and n in table.get(b, {})]
        if base:
            best_base[b] = min(base)
    for name, label in _distinct(cfg, cfg.budgets[0]):
        pts = [(b, table[b][name]) for b in cfg.budgets if name in table.get(b, {})]
        if not pts:
            continue
        xs = [b for b, _ in pts]
        style = _style(name)
        ax.errorbar(xs, [p.mean for _, p in pts], yerr=[p.std for _, p in pts], label=label, capsize=3, **style)
        rel = [(b, p) for b, p in pts if b in best_base]
        if rel:
            ax2.errorbar(
                [b for b, _ in rel],
                [p.mean - best_base[b] for b, p in rel],
                yerr=[p.std for _, p in rel],
                label=label,
                capsize=3,
                **style,
            )
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_xticks(cfg.budgets)
        a.set_xticklabels([str(b) for b in cfg.budgets])
        a.xaxis.set_minor_formatter(NullFormatter())
        a.set_xlabel("budget (optimizer updates)")
        a.grid(alpha=0.3, which="both")
    ax.set_ylabel("final validation loss (best LR; mean ± std over seeds)")
    ax.set_title("Final loss vs budget, each schedule at its own best peak LR")
    ax2.axhline(0.0, color="black", lw=0.8)
    ax2.set_ylabel("loss minus the best baseline's loss (nats; < 0 = better)")
    ax2.set_title("Relative to the best baseline at each budget")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_lr_curves(
    cfg: SweepConfig, path: str | os.PathLike, budget: int | None = None, title: str | None = None
) -> None:
    """The LR used at every update by each schedule of ``cfg`` (peak 1), built by ``get_scheduler``."""
    plt = pyplot()
    budget = budget or cfg.budgets[len(cfg.budgets) // 2]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for name, label in _distinct(cfg, budget):
        lrs = scheduler_lrs(name, budget, 1.0, cfg.warmup_fraction)
        style = _style(name)
        style.pop("marker", None)
        if name.endswith(FLOOR_SUFFIX):  # the same colour as its unfloored twin: a dotted line tells them apart
            style["ls"] = ":"
        ax.plot(range(budget), lrs, label=label, **style)
    ax.set_xlabel("optimizer update")
    ax.set_ylabel("LR / peak LR")
    warmup = warmup_steps(budget, cfg.warmup_fraction)
    ax.set_title(title or f"LR schedules at a budget of {budget} updates (warmup {warmup})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
