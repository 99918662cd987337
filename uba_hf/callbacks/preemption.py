"""``PreemptionCallback``: on SIGTERM, save a checkpoint after this update, then stop.

SLURM and Kubernetes send SIGTERM some time before they kill a job. Every rank must stop at the same
update, or the next collective hangs, so the flag is all-reduced.
"""

from __future__ import annotations

import logging
import signal

from transformers import TrainerCallback

logger = logging.getLogger("uba_hf")


class PreemptionCallback(TrainerCallback):
    """On SIGTERM, finish the current update, save a checkpoint and stop training.

    ``preempted`` tells the caller that training ended early; resume with
    ``--resume_from_checkpoint latest``. The previous handler is restored when training ends.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM,)) -> None:
        self.signals = signals
        self.preempted = False
        self._requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self._requested = True
        logger.warning("Received signal %d: saving a checkpoint after this update, then stopping.", signum)

    def on_train_begin(self, args, state, control, **kwargs):
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def _any_rank_requested(self, args) -> bool:
        """All ranks must stop at the same update, or the next collective hangs."""
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self._requested
        flag = torch.tensor([1.0 if self._requested else 0.0], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def on_step_end(self, args, state, control, **kwargs):
        if not self.preempted and self._any_rank_requested(args):
            self.preempted = True
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
