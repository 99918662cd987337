"""``ResumeLogCallback``: one line that says which checkpoint a run resumed and where it stands.

Transformers logs the resume only at its own INFO level (off by default) and without the budget, so a
user could not tell from the log which checkpoint ``latest`` picked; this line says it, on the main
process: ``resuming from <checkpoint> (update N of M)``, M being the budget of this ``train()`` call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

logger = logging.getLogger("uba_hf")


class ResumeLogCallback(TrainerCallback):
    """Log ``resuming from <checkpoint> (update N of M)`` at the start of a resumed ``train()``.

    Args:
        checkpoint: ``() -> str | None``, the checkpoint ``train()`` resumes (``UBATrainer`` knows it). Without
            it (the stock Trainer, which does not tell callbacks), the checkpoint is ``args.resume_from_checkpoint``
            when that is a folder, else ``output_dir/checkpoint-N`` when it exists (what ``latest`` picks).
    """

    def __init__(self, checkpoint: Callable[[], str | None] | None = None) -> None:
        self.checkpoint = checkpoint

    def _checkpoint(self, args, step: int) -> str:
        named = self.checkpoint() if self.checkpoint is not None else None
        if named:
            return str(named)
        given = args.resume_from_checkpoint
        if isinstance(given, str) and os.path.isdir(given):
            return given
        newest = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{step}")
        return newest if os.path.isdir(newest) else "a checkpoint"

    def on_train_begin(self, args, state, control, **kwargs):
        # The Trainer has loaded the checkpoint's state by now: a resumed run starts past update 0.
        if state.global_step > 0 and state.is_world_process_zero:
            where = self._checkpoint(args, state.global_step)
            logger.info("resuming from %s (update %d of %d)", where, state.global_step, state.max_steps)
