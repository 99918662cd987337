"""``CheckpointCompletionCallback``: the schedule record and the completion marker, written last.

Transformers writes a checkpoint file by file and nothing marks the end, so a job killed mid-save
leaves a folder that looks like a checkpoint. ``on_save`` runs after the Trainer has written every
file of ``checkpoint-N``; this callback waits until every process has finished its part (model
shards, DeepSpeed states), then, on the main process only, writes the schedule record
(``uba_schedule.json``) and finally the completion marker (``uba_checkpoint.json``, with the run's
identity) that ``uba_hf.checkpoints`` checks before resuming.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..checkpoints import SCHEDULE_RECORD_NAME, write_completion_marker, write_json_atomic

logger = logging.getLogger("uba_hf")


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class CheckpointCompletionCallback(TrainerCallback):
    """Write ``uba_schedule.json`` (when ``schedule_record(state)`` returns one) and the completion marker.

    Args:
        schedule_record: ``state -> dict | None``, the record of the schedule in use at this save.
        run_identity: what identifies the run (``uba_hf.checkpoints.run_identity``), recorded in the
            marker so that ``--resume_from_checkpoint latest`` never picks another run's checkpoint.
        on_complete: called on every process once the checkpoint is complete (the marker written).
    """

    def __init__(
        self,
        schedule_record: Callable[[Any], dict[str, Any] | None] | None = None,
        run_identity: dict[str, Any] | None = None,
        on_complete: Callable[[], None] | None = None,
    ) -> None:
        self.schedule_record = schedule_record
        self.run_identity = run_identity
        self.on_complete = on_complete

    def on_save(self, args, state, control, **kwargs):
        _barrier()  # every process has written its part of the checkpoint
        if args.should_save:
            folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
            if not os.path.isdir(folder):  # e.g. hyperparameter search, which saves under a run folder
                logger.warning("No checkpoint folder %s to mark complete.", folder)
            else:
                record = self.schedule_record(state) if self.schedule_record is not None else None
                if record is not None:
                    write_json_atomic(os.path.join(folder, SCHEDULE_RECORD_NAME), record)
                write_completion_marker(folder, self.run_identity)
        _barrier()  # nobody resumes or rotates before the marker exists
        if self.on_complete is not None:
            self.on_complete()
        return control
