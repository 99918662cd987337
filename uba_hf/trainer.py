"""``UBATrainer``: a ``transformers.Trainer`` that runs the UBA schedule over its own budget.

The Trainer already derives the number of optimizer updates (``max_steps``, or epochs times updates
per epoch) and passes it to ``create_scheduler``; that number *is* the UBA budget. This subclass
extends the Trainer only through public points:

* ``__init__``: resolves which schedule to run and parses the ``phi`` / ``min_lr_ratio`` given (``UBAArguments``
  or ``lr_scheduler_kwargs``), then hands them to the stock machinery via ``lr_scheduler_kwargs`` (so
  ``get_scheduler`` and DeepSpeed's path build the same :class:`uba_hf.schedule.UBASchedule`);
* ``create_scheduler``: the schedule picks what is not given (``uba_hf.zero_config``, from the run's peak LR times
  its updates) and logs its pick; the trainer records that pick in every checkpoint and logs the schedule once;
* ``train``: resumes only from a *complete* checkpoint, and ``True`` / ``"latest"`` only from one of
  this run (its identity, recorded in every checkpoint's marker, must match); a checkpoint write that
  fails half way (disk full, read-only storage) ends it with one ``CheckpointWriteError`` line;
* ``save_model``: marks a ``checkpoint-N`` folder pending before its first file, and holds
  ``args.save_total_limit`` back until the completion marker (the older checkpoints are deleted after it,
  with Transformers' ``rotate_checkpoints``), so that a save that fails half way is never taken for a
  complete checkpoint and never costs the previous one;
* a ``TrainerCallback`` (``on_save``) writes the schedule record and the completion marker, and another
  logs which checkpoint a resume starts from.

The resume check is the scheduler's own: ``UBASchedule.load_state_dict`` refuses a checkpoint whose
budget, warmup, phi or floor differs, on this path and on the stock Trainer's alike; with
``UBAArguments(rebudget=True)`` it continues a checkpoint with another budget on a new decay segment
(docs/schedule.md, "Re-budgeting"), and the schedule record lists the segments.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import SchedulerType, rotate_checkpoints

from .arguments import UBA_SCHEDULE_KWARGS, UBAArguments, resolve_uba_kwargs
from .callbacks import CheckpointCompletionCallback, ResumeLogCallback
from .checkpoints import (
    CHECKPOINT_NAME_RE,
    describe_write_failure,
    mark_checkpoint_pending,
    read_schedule_record,
    resolve_resume_checkpoint,
    run_identity,
)
from .deepspeed import check_no_scheduler_block
from .errors import CheckpointWriteError
from .logs import log_info
from .registry import register_uba_scheduler
from .schedule import UBASchedule

logger = logging.getLogger("uba_hf")

# Transformers' own default; with default_to_uba=True, UBATrainer reads it as "no schedule chosen".
_TRANSFORMERS_DEFAULT_SCHEDULER = TrainingArguments.__dataclass_fields__["lr_scheduler_type"].default


class UBATrainer(Trainer):
    """``Trainer`` with UBA as its schedule and the budget checked across resume.

    Beyond the stock ``Trainer`` with ``lr_scheduler_type="uba"``: it logs ``phi`` and the budget, refuses
    a resume with another budget, warmup, phi or floor (unless ``rebudget``), writes a completion marker and
    ``uba_schedule.json`` with every checkpoint, resumes ``--resume_from_checkpoint latest`` from the newest
    complete one, saves and exits on SIGTERM, refuses a DeepSpeed config with its own scheduler, and
    records the zero-config choice (phi and the floor when no phi is given, from the run's peak LR times its
    updates, as on every path: ``uba_hf.zero_config``; ``phi="auto"`` says the same explicitly) in every
    checkpoint. The budget is ``max_steps``
    optimizer updates, or the updates the Trainer derives from ``num_train_epochs``.

    Example::

        import uba_hf
        from transformers import TrainingArguments

        args = TrainingArguments(output_dir="out", max_steps=10_000, warmup_steps=0.01, learning_rate=3e-4)
        trainer = uba_hf.UBATrainer(
            model=model,
            args=args,
            train_dataset=train_dataset,
            uba_args=uba_hf.UBAArguments(phi="1.0", min_lr_ratio=0.1),
        )
        trainer.train()  # resume later with trainer.train(resume_from_checkpoint="latest")

    Which schedule runs (the whole rule):

    * ``lr_scheduler_type="uba"``: UBA.
    * ``lr_scheduler_type`` left at Transformers' default (``"linear"``): UBA while ``default_to_uba``
      is True (the default), because ``TrainingArguments`` cannot tell "left at the default" from
      "chose linear". Pass ``default_to_uba=False`` when your arguments always name a schedule (the
      pretraining CLI does: its default is ``"uba"``), and an explicit ``"linear"`` then means linear.
    * any other type: that schedule, with a warning that UBA is off.

    The schedule type and the UBA values given (parsed) are written to ``args.lr_scheduler_type`` /
    ``args.lr_scheduler_kwargs``, and after ``train()`` the phi and floor that ran, so that saved arguments say what
    ran.

    Args:
        uba_args: ``phi``, ``min_lr_ratio`` and ``rebudget``. They can also come from
            ``TrainingArguments.lr_scheduler_kwargs``; giving both with different values is an error.
        default_to_uba: read Transformers' default ``"linear"`` as "not chosen" (see above).
        run_identity: extra sections of the run's identity (e.g. ``{"data": {...}, "model": {...}}``),
            added to the schedule and seed that the trainer records itself; see
            ``uba_hf.checkpoints.run_identity``.
        *args, **kwargs: as for ``transformers.Trainer``.
    """

    def __init__(
        self,
        *args: Any,
        uba_args: UBAArguments | None = None,
        default_to_uba: bool = True,
        run_identity: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        register_uba_scheduler()
        super().__init__(*args, **kwargs)
        chosen = SchedulerType(self.args.lr_scheduler_type)
        unset = default_to_uba and chosen == SchedulerType(_TRANSFORMERS_DEFAULT_SCHEDULER)
        self.uses_uba = chosen == SchedulerType.UBA or unset
        self.uba_args = uba_args or UBAArguments()
        self.zero_config: dict[str, Any] | None = None  # what the zero-config choice measured and picked
        self._resume_checkpoint: str | None = None
        self._checkpoint_in_progress: str | None = None  # from save_model until the completion marker
        self._held_save_total_limit: list[int | None] = []  # args.save_total_limit while it is held back
        if self.uses_uba:
            # What the user gave; a value not given is the zero-config choice, or the checkpoint's on a resume
            # (``create_scheduler``).
            self.uba_kwargs = resolve_uba_kwargs(self.args.lr_scheduler_kwargs, uba_args)
            self.args.lr_scheduler_type = SchedulerType.UBA
            self.args.lr_scheduler_kwargs = dict(self.uba_kwargs)
            ds_config = getattr(self.args, "hf_deepspeed_config", None)
            if ds_config is not None:
                check_no_scheduler_block(ds_config.config)
        else:
            self.uba_kwargs = {}
            logger.warning(
                "UBATrainer: lr_scheduler_type=%r was chosen explicitly, so the UBA schedule is not used%s.",
                chosen.value,
                f" (UBAArguments {uba_args.to_scheduler_kwargs()} ignored)" if uba_args is not None else "",
            )
        self.run_identity = self.identity(self.args, self.uba_kwargs, **(run_identity or {}))
        self.add_callback(
            CheckpointCompletionCallback(self._schedule_record_at_save, self.run_identity, self._checkpoint_complete)
        )
        self.add_callback(ResumeLogCallback(lambda: self._resume_checkpoint))
        self._tensorboard_under_output_dir()

    def _tensorboard_under_output_dir(self) -> None:
        """TensorBoard events go to ``output_dir/runs/<time>`` from the first log on. Transformers'
        ``TensorBoardCallback`` picks that folder only at ``on_train_begin``; a log before it (an evaluation
        before training) opens its writer with no folder, under ``./runs`` of the current directory. Its
        ``logging_dir`` (or the ``TENSORBOARD_LOGGING_DIR`` the user set) is fixed here instead."""
        from transformers.integrations import TensorBoardCallback

        for callback in self.callback_handler.callbacks:
            if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
                callback.logging_dir = os.path.join(self.args.output_dir, "runs", time.strftime("%Y%m%d-%H%M%S"))
                if self.is_world_process_zero():
                    logger.info(
                        "TensorBoard logs: %s (tensorboard --logdir %s)",
                        callback.logging_dir,
                        os.path.dirname(callback.logging_dir),
                    )

    @staticmethod
    def identity(args: TrainingArguments, uba_kwargs: dict[str, Any], **sections: Any) -> dict[str, Any]:
        """The run identity this trainer records (the UBA values as given: ``"auto"`` stays ``"auto"``, a value
        not given is absent), for callers that must resolve ``latest`` before building the trainer."""
        return run_identity(args.lr_scheduler_type, args.learning_rate, args.seed, uba_kwargs, **sections)

    def uba_schedule_state(self) -> dict[str, Any] | None:
        """The live scheduler's schedule record (``UBASchedule.uba``: after a re-budget, its warmup and
        segments), or None before the scheduler exists or when it is not UBA."""
        scheduler = getattr(self.lr_scheduler, "scheduler", self.lr_scheduler)  # Accelerate wraps it
        return dict(scheduler.uba) if isinstance(scheduler, UBASchedule) else None

    def uba_schedule_record(self, num_training_steps: int) -> dict[str, Any]:
        """The arguments that fully determine the LR at every update of this run (after a re-budget, the
        scheduler's own warmup and its segments)."""
        live = self.uba_schedule_state() or {}
        return {
            "lr_scheduler_type": SchedulerType.UBA.value,
            "num_training_steps": int(num_training_steps),
            "num_warmup_steps": int(live.get("num_warmup_steps", self.args.get_warmup_steps(num_training_steps))),
            **{key: live.get(key, self.uba_kwargs.get(key)) for key in UBA_SCHEDULE_KWARGS},
            **({"segments": live["segments"]} if live.get("segments") else {}),
            **({"zero_config": self.zero_config} if self.zero_config is not None else {}),
        }

    def _schedule_record_at_save(self, state) -> dict[str, Any] | None:
        return self.uba_schedule_record(state.max_steps) if self.uses_uba else None

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """The stock ``create_scheduler`` builds the :class:`UBASchedule` from the values given; it picks what is
        missing. A new run logs that pick here, before training (once, on the main process), and records it in every
        checkpoint (``uba_schedule.json``); a resume keeps the checkpoint's. Then the schedule in one line."""
        building = self.uses_uba and self.lr_scheduler is None
        scheduler = super().create_scheduler(num_training_steps=num_training_steps, optimizer=optimizer)
        live = getattr(scheduler, "scheduler", scheduler)  # Accelerate wraps it
        if not (building and isinstance(live, UBASchedule)):
            return scheduler
        if self._resume_checkpoint is not None:
            # A value not given is the checkpoint's (UBASchedule.load_state_dict), and so is the choice behind it.
            self.zero_config = (read_schedule_record(self._resume_checkpoint) or {}).get("zero_config")
        else:
            if "phi" in live.not_given:  # a phi given with the floor left out is the user's schedule
                self.zero_config = live.zero_config
            note = live.pop_zero_config_note()
            if note is not None and self.is_world_process_zero():
                log_info(note)
        if self.is_world_process_zero():
            from_checkpoint = self._resume_checkpoint is not None
            shown = {
                key: "the checkpoint's" if from_checkpoint and key in live.not_given else live.uba[key]
                for key in UBA_SCHEDULE_KWARGS
            }
            budget, warmup = live.uba["num_training_steps"], live.uba["num_warmup_steps"]
            logger.info(
                "UBA schedule: phi=%s, budget=%d optimizer updates (warmup %d, decay %d), min_lr_ratio=%s",
                shown["phi"],
                budget,
                warmup,
                budget - warmup,
                shown["min_lr_ratio"],
            )
        return scheduler

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """``Trainer.save_model``. It writes the first files of a ``checkpoint-N`` save (the Trainer then adds the
        optimizer, scheduler, RNG and trainer states), so the folder is marked pending here, before any of them.

        The Trainer deletes the checkpoints over ``save_total_limit`` as soon as the new one's files are written,
        before its completion marker: a failure or a kill in between would leave no complete checkpoint. So the
        limit is held back from here (after ``training_args.bin`` recorded it) until the marker is written, and
        the old checkpoints are deleted then (``_checkpoint_complete``), or not at all when the save fails."""
        is_checkpoint = output_dir is not None and CHECKPOINT_NAME_RE.match(
            os.path.basename(os.path.normpath(output_dir))
        )
        if is_checkpoint:
            self._checkpoint_in_progress = output_dir
            if self.args.should_save:
                mark_checkpoint_pending(output_dir)
        super().save_model(output_dir, _internal_call=_internal_call)
        if is_checkpoint and not self._held_save_total_limit:
            self._held_save_total_limit.append(self.args.save_total_limit)
            self.args.save_total_limit = None

    def _release_save_total_limit(self) -> None:
        if self._held_save_total_limit:
            self.args.save_total_limit = self._held_save_total_limit.pop()

    def _checkpoint_complete(self) -> None:
        """The completion marker is written: delete the checkpoints over ``save_total_limit``, as the Trainer does
        (the newest and the best are kept)."""
        folder, self._checkpoint_in_progress = self._checkpoint_in_progress, None
        self._release_save_total_limit()
        if folder is not None and self.args.should_save:
            rotate_checkpoints(
                output_dir=os.path.dirname(os.path.normpath(folder)),
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, **kwargs: Any):
        """``Trainer.train``, resuming only from a *complete* checkpoint (``True`` = newest complete one).

        Raises:
            CheckpointWriteError: a checkpoint write failed half way (its cause is the original exception); the
                folder is left without its completion marker, and the message names the checkpoint to resume.
        """
        resume_from_checkpoint = resolve_resume_checkpoint(
            resume_from_checkpoint, self.args.output_dir, self.run_identity
        )
        self._resume_checkpoint = resume_from_checkpoint
        self._checkpoint_in_progress = None
        try:
            output = super().train(resume_from_checkpoint=resume_from_checkpoint, trial=trial, **kwargs)
        except Exception as err:
            folder, self._checkpoint_in_progress = self._checkpoint_in_progress, None
            if folder is None:
                raise
            message = describe_write_failure(folder, err, self.run_identity)
            raise CheckpointWriteError(message, folder) from err
        finally:
            self._release_save_total_limit()
        # What ran: the schedule's pick, or the values a resume took from the checkpoint (UBASchedule).
        live = self.uba_schedule_state()
        if live is not None:
            self.uba_kwargs.update({key: live[key] for key in UBA_SCHEDULE_KWARGS})
            self.args.lr_scheduler_kwargs = dict(self.uba_kwargs)
        return output
