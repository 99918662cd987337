"""``PreemptionCallback``: on SIGTERM or Ctrl-C (SIGINT), save a checkpoint after this update, then stop.

SLURM and Kubernetes send SIGTERM some time before they kill a job; a user at a terminal presses
Ctrl-C. Both get the same treatment: the current update finishes, a checkpoint is saved, training
stops and the caller prints how to resume. A second signal of the same kind aborts at once (the
handler that was installed before training runs: ``KeyboardInterrupt`` for Ctrl-C, termination for
SIGTERM), for when the save itself must not be waited for. Every rank must stop at the same update,
or the next collective hangs, so the signal is all-reduced: a rank that got none stops too, and knows
which signal stopped the run (``stop_signal``), so that every rank exits with the same code.

A signal that is ignored when training starts stays ignored: a shell ignores Ctrl-C for the commands a script
starts in the background (``uba-pretrain ... &``), so that Ctrl-C on the script does not reach them.
"""

from __future__ import annotations

import logging
import signal

from transformers import TrainerCallback

logger = logging.getLogger("uba_hf")


class PreemptionCallback(TrainerCallback):
    """On SIGTERM or SIGINT, finish the current update, save a checkpoint and stop training.

    ``preempted`` tells the caller that training ended early and ``stop_signal`` which signal stopped it,
    the same on every rank (exit with ``128 + stop_signal``, as if the signal had ended the job);
    ``signal_received`` is the signal this process got itself (``None`` on a rank stopped for another's); resume
    with ``--resume_from_checkpoint latest``. A second signal of the same kind restores the previous
    handler and re-raises the signal: Ctrl-C twice aborts at once. The previous handlers are restored
    when training ends; Trainer has no event for a training that raises, so a caller that goes on after
    an exception calls ``restore_signal_handlers()`` in a ``finally`` (the pretraining CLI does).
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.signals = signals
        self.preempted = False
        self.signal_received: int | None = None
        self.stop_signal: int | None = None
        self._requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.signal_received == signum:
            logger.warning("Received signal %d again: aborting now, without saving.", signum)
            self.restore_signal_handlers()
            signal.raise_signal(signum)
            return
        self._requested = True
        self.signal_received = self.signal_received or signum
        logger.warning(
            "Received signal %d: saving a checkpoint after this update, then stopping (send it again to abort "
            "at once).",
            signum,
        )

    def restore_signal_handlers(self) -> None:
        """Put back the handlers that were installed before training (idempotent)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def on_train_begin(self, args, state, control, **kwargs):
        self.restore_signal_handlers()  # a train() that raised left ours installed: never stack them
        self.preempted, self.signal_received, self.stop_signal, self._requested = False, None, None, False
        for sig in self.signals:
            if signal.getsignal(sig) is signal.SIG_IGN:
                logger.info(
                    "%s is ignored in this process (as for a command started with &): it will not stop training.",
                    signal.Signals(sig).name,
                )
                continue
            self._previous[sig] = signal.signal(sig, self._handle)

    def _agreed_signal(self, args) -> int:
        """The signal any rank got (the highest number if they differ), 0 for none: all ranks must stop at the
        same update, or the next collective hangs, and exit with the same code."""
        import torch
        import torch.distributed as dist

        local = (self.signal_received or 0) if self._requested else 0
        if not (dist.is_available() and dist.is_initialized()):
            return local
        flag = torch.tensor([float(local)], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())

    def on_step_end(self, args, state, control, **kwargs):
        if not self.preempted and (agreed := self._agreed_signal(args)):
            self.preempted, self.stop_signal = True, agreed
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.restore_signal_handlers()
