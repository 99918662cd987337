"""``LRTraceCallback``: the LR every optimizer update actually used."""

from __future__ import annotations

from transformers import TrainerCallback


class LRTraceCallback(TrainerCallback):
    """Records ``(update index, LR of param group 0)`` for every optimizer update, read just before
    ``optimizer.step()``: the LR that update actually uses (0-based index = scheduler step)."""

    def __init__(self) -> None:
        self.trace: list[tuple[int, float]] = []

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.trace.append((state.global_step, float(optimizer.param_groups[0]["lr"])))
