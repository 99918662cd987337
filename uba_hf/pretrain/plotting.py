"""LR-curve figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..schedule import uba_lr_lambda


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed); imported only when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_lr_schedule(
    path: str,
    used_lrs: Sequence[tuple[int, float]],
    peak_lr: float,
    num_training_steps: int,
    num_warmup_steps: int,
    phi: float,
    min_lr_ratio: float,
    segments: Sequence[dict[str, Any]] | None = None,
) -> None:
    """The LR actually used per update over the UBA curve and, for reference, cosine at the same budget.

    After a re-budget (``segments``, docs/schedule.md), each earlier plan is drawn dashed and the plan
    the run follows now solid.
    """
    plt = pyplot()
    segments = list(segments or [])
    horizon = max([num_training_steps, *(seg["end"] for seg in segments)])
    steps = list(range(horizon + 1))
    kw = dict(num_warmup_steps=num_warmup_steps, min_lr_ratio=min_lr_ratio)

    def curve(p: float, plan: list[dict[str, Any]] | None = None, budget: int = num_training_steps) -> list[float]:
        return [peak_lr * uba_lr_lambda(s, phi=p, num_training_steps=budget, segments=plan, **kw) for s in steps]

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for i in range(1, len(segments)):  # the plans before each re-budget
        ax.plot(
            steps,
            curve(phi, segments[:i], segments[i - 1]["end"]),
            color="tab:blue",
            ls="--",
            lw=1,
            alpha=0.35 + 0.5 * i / len(segments),
            label=f"earlier plan: budget {segments[i - 1]['end']} (re-budgeted at update {segments[i]['start']})",
        )
    ax.plot(steps, curve(phi, segments or None), label=f"UBA closed form (phi={phi:g})", color="tab:blue", lw=2)
    ax.plot(steps, curve(2.0), label="cosine, same budget (UBA phi=2)", color="tab:gray", ls="--")
    if used_lrs:
        xs, ys = zip(*used_lrs, strict=True)
        ax.scatter(xs, ys, s=8, color="tab:red", label="LR used per update (logged)", zorder=3)
    ax.set_xlabel("optimizer update")
    ax.set_ylabel("learning rate")
    rebudgeted = f", re-budgeted {len(segments) - 1}x" if segments else ""
    ax.set_title(f"UBA schedule: budget {num_training_steps} updates, warmup {num_warmup_steps}{rebudgeted}")
    ax.legend(fontsize=7 if segments else None)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
