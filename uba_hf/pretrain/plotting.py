"""LR-curve figures (matplotlib, Agg backend: no display needed), and the LR trace they draw, kept across resumes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers.trainer_callback import ExportableState

from ..callbacks import LRTraceCallback
from ..schedule import uba_lr_lambda


class ResumableLRTrace(LRTraceCallback, ExportableState):
    """``LRTraceCallback`` whose trace is saved with every checkpoint (``trainer_state.json``, under
    ``stateful_callbacks``, which the completion marker covers) and taken back when a run resumes from one: the
    trace of a resumed run holds every update's LR, those before the checkpoint included."""

    def state(self) -> dict[str, Any]:
        return {"args": {}, "attributes": {"trace": [[step, lr] for step, lr in self.trace]}}

    def on_train_begin(self, args, state, control, **kwargs):
        saved = state.stateful_callbacks.get(type(self).__name__)
        if state.global_step > 0 and isinstance(saved, dict):  # resumed: the checkpoint's trace, up to its update
            trace = saved.get("attributes", {}).get("trace", [])
            self.trace = [(int(step), float(lr)) for step, lr in trace if step < state.global_step]


def lr_points(log_history: Sequence[dict[str, Any]], trace: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """``(k, LR used by update k)`` for k = 1, 2, ...: from the trace (index k - 1, read before update k), and from
    the logged history (``step`` k) for updates the trace lacks (before a resume from a checkpoint saved without
    it)."""
    used = {h["step"]: h["learning_rate"] for h in log_history if "learning_rate" in h}
    used.update((step + 1, lr) for step, lr in trace)
    return sorted(used.items())


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
) -> dict[str, Any]:
    """The LR each update used (``used_lrs``: ``(k, LR)`` for update k, 1 = the first, as :func:`lr_points` gives
    them) over the UBA curve and, for reference, cosine at the same budget; update k is drawn at x = k, with the
    LR the schedule gives after k - 1 updates. Returns the x-axis label and the points drawn.

    After a re-budget (``segments``, docs/schedule.md), each earlier plan is drawn dashed and the plan
    the run follows now solid.
    """
    plt = pyplot()
    segments = list(segments or [])
    horizon = max([num_training_steps, *(seg["end"] for seg in segments)])
    steps = list(range(1, horizon + 1))  # update k
    kw = dict(num_warmup_steps=num_warmup_steps, min_lr_ratio=min_lr_ratio)

    def curve(p: float, plan: list[dict[str, Any]] | None = None, budget: int = num_training_steps) -> list[float]:
        return [peak_lr * uba_lr_lambda(k - 1, phi=p, num_training_steps=budget, segments=plan, **kw) for k in steps]

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
        ax.scatter(xs, ys, s=8, color="tab:red", label="LR each update used (recorded)", zorder=3)
    xlabel = f"optimizer update k (1 to {horizon}), at the LR it used"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    rebudgeted = f", re-budgeted {len(segments) - 1}x" if segments else ""
    ax.set_title(f"UBA schedule: budget {num_training_steps} updates, warmup {num_warmup_steps}{rebudgeted}")
    ax.legend(fontsize=7 if segments else None)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return {"xlabel": xlabel, "used": list(used_lrs)}
