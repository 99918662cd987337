"""LR-curve figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence

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
) -> None:
    """The LR actually used per update over the UBA curve and, for reference, cosine at the same budget."""
    plt = pyplot()
    steps = list(range(num_training_steps + 1))

    def curve(p: float) -> list[float]:
        kw = dict(num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps, min_lr_ratio=min_lr_ratio)
        return [peak_lr * uba_lr_lambda(s, phi=p, **kw) for s in steps]

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(steps, curve(phi), label=f"UBA closed form (phi={phi:g})", color="tab:blue", lw=2)
    ax.plot(steps, curve(2.0), label="cosine, same budget (UBA phi=2)", color="tab:gray", ls="--")
    if used_lrs:
        xs, ys = zip(*used_lrs, strict=True)
        ax.scatter(xs, ys, s=8, color="tab:red", label="LR used per update (logged)", zorder=3)
    ax.set_xlabel("optimizer update")
    ax.set_ylabel("learning rate")
    ax.set_title(f"UBA schedule: budget {num_training_steps} updates, warmup {num_warmup_steps}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
