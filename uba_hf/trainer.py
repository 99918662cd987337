"""``UBATrainer``: a ``transformers.Trainer`` that runs the UBA schedule over its own budget.

The Trainer already derives the number of optimizer updates (``max_steps``, or epochs times updates
per epoch) and passes it to ``create_scheduler``; that number *is* the UBA budget. This subclass
only:

* resolves which schedule to run (UBA unless the user explicitly picked another one) and its
  ``phi`` / ``min_lr_ratio``, then hands them to the stock machinery via ``lr_scheduler_kwargs``
  (so DeepSpeed's scheduler callback and ``get_scheduler`` build the same thing);
* logs ``phi`` and the budget once;
* writes the schedule's arguments next to ``scheduler.pt`` in every checkpoint and, on resume,
  refuses a checkpoint whose budget differs from the current one. ``LambdaLR.state_dict`` keeps
  only the step counter, so without this check a resumed run with another ``max_steps`` would
  silently jump to another curve.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import SchedulerType

from .checkpoints import resolve_resume_checkpoint, write_completion_marker
from .registry import UBA_KWARGS, check_uba_kwargs, register_uba_scheduler
from .schedule import DEFAULT_PHI, validate_phi, validate_schedule_args

logger = logging.getLogger("uba_hf")

SCHEDULE_RECORD_NAME = "uba_schedule.json"
PHI_AUTO = "auto"
# Transformers' own default; UBATrainer reads it as "no schedule chosen".
_TRANSFORMERS_DEFAULT_SCHEDULER = TrainingArguments.__dataclass_fields__["lr_scheduler_type"].default


def parse_phi(value: Any) -> float | str:
    """``phi`` as given on a command line, in a recipe or in Python: a number > 0, or ``"auto"``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == PHI_AUTO:
            return PHI_AUTO
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"`phi` must be a finite number > 0 or 'auto'; got {value!r}.") from None
    return validate_phi(value)


@dataclass
class UBAArguments:
    """Arguments of the UBA schedule, parseable by ``HfArgumentParser``.

    The budget is not here on purpose: it is ``TrainingArguments.max_steps`` (or the number of
    updates the Trainer derives from ``num_train_epochs``), counted in optimizer updates.
    Warmup is ``TrainingArguments.warmup_steps`` (a count, or a ratio of the budget when < 1).
    """

    phi: str = field(
        default=str(DEFAULT_PHI),
        metadata={
            "help": "UBA shape parameter, a number > 0 (2 = cosine; < 2 keeps the LR high longer; > 2 decays "
            "earlier), or 'auto' (curvature probe, see docs/phi.md). "
            f"Default {DEFAULT_PHI}: best fixed phi in our sweep."
        },
    )
    min_lr_ratio: float = field(
        default=0.0, metadata={"help": "Final LR as a fraction of each param group's peak LR, in [0, 1)."}
    )
    phi_probe_batches: int = field(
        default=4, metadata={"help": "phi='auto': training batches the curvature probe averages over."}
    )
    phi_probe_lanczos_steps: int = field(
        default=20, metadata={"help": "phi='auto': Lanczos steps per probe vector (HVPs = steps x batches)."}
    )

    def __post_init__(self) -> None:
        self.phi = parse_phi(self.phi)
        validate_uba_args(self.phi, self.min_lr_ratio)
        if self.phi_probe_batches < 1 or self.phi_probe_lanczos_steps < 2:
            raise ValueError("`phi_probe_batches` must be >= 1 and `phi_probe_lanczos_steps` >= 2.")

    def to_scheduler_kwargs(self) -> dict[str, float | str]:
        return {"phi": self.phi, "min_lr_ratio": self.min_lr_ratio}


def validate_uba_args(
    phi: float | str, min_lr_ratio: float, num_warmup_steps: int = 0, num_training_steps: int = 1
) -> None:
    """The schedule's own checks (the budget part only when given); ``"auto"`` is resolved later by the probe."""
    validate_schedule_args(num_warmup_steps, num_training_steps, DEFAULT_PHI if phi == PHI_AUTO else phi, min_lr_ratio)


def _same_value(now: Any, saved: Any) -> bool:
    """Equal, with floats compared up to rounding (they went through JSON)."""
    if isinstance(now, float) and isinstance(saved, (int, float)) and not isinstance(saved, bool):
        return math.isclose(now, saved)
    return now == saved


class LRTraceCallback(TrainerCallback):
    """Records ``(update index, LR of param group 0)`` for every optimizer update, read just before
    ``optimizer.step()``: the LR that update actually uses (0-based index = scheduler step)."""

    def __init__(self) -> None:
        self.trace: list[tuple[int, float]] = []

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.trace.append((state.global_step, float(optimizer.param_groups[0]["lr"])))


def _resolve_uba_kwargs(args: TrainingArguments, uba_args: UBAArguments | None) -> dict[str, float]:
    """Merge ``uba_args`` with ``args.lr_scheduler_kwargs``; a conflict between the two is an error."""
    from_training_args = check_uba_kwargs(args.lr_scheduler_kwargs)
    resolved = uba_args.to_scheduler_kwargs() if uba_args is not None else {"phi": DEFAULT_PHI, "min_lr_ratio": 0.0}
    for key, value in from_training_args.items():
        value = parse_phi(value) if key == "phi" else float(value)
        if uba_args is not None and value != resolved[key]:
            raise ValueError(
                f"UBA `{key}` is given twice with different values: lr_scheduler_kwargs has {value!r}, "
                f"UBAArguments has {resolved[key]!r}. Give it in one place."
            )
        resolved[key] = value
    # Validate now (budget-independent parts) rather than at the first training step.
    validate_uba_args(resolved["phi"], resolved["min_lr_ratio"])
    return resolved


class UBATrainer(Trainer):
    """``Trainer`` with UBA as its schedule and the budget checked across resume.

    Args:
        uba_args: ``phi`` and ``min_lr_ratio``. They can also come from
            ``TrainingArguments.lr_scheduler_kwargs``; giving both with different values is an error.
        *args, **kwargs: as for ``transformers.Trainer``.

    Schedule choice: UBA is used when ``lr_scheduler_type`` is ``"uba"`` or left at Transformers'
    default (``"linear"``, which this class reads as "not chosen"). Any other type is an explicit
    choice and is honoured (with a warning that UBA is off). The resolved choice is written back to
    ``args.lr_scheduler_type`` / ``args.lr_scheduler_kwargs`` so that saved arguments say what ran.
    """

    def __init__(self, *args: Any, uba_args: UBAArguments | None = None, **kwargs: Any) -> None:
        register_uba_scheduler()
        super().__init__(*args, **kwargs)
        chosen = SchedulerType(self.args.lr_scheduler_type)
        self.uses_uba = chosen in (SchedulerType.UBA, SchedulerType(_TRANSFORMERS_DEFAULT_SCHEDULER))
        self.uba_args = uba_args or UBAArguments()
        self.phi_probe: dict[str, Any] | None = None
        self._resume_checkpoint: str | None = None
        if self.uses_uba:
            self.uba_kwargs = _resolve_uba_kwargs(self.args, uba_args)
            self.args.lr_scheduler_type = SchedulerType.UBA
            self.args.lr_scheduler_kwargs = dict(self.uba_kwargs)
            self._check_deepspeed_scheduler()
        else:
            self.uba_kwargs = {}
            logger.warning(
                "UBATrainer: lr_scheduler_type=%r was chosen explicitly, so the UBA schedule is not used%s.",
                chosen.value,
                f" (UBAArguments {uba_args.to_scheduler_kwargs()} ignored)" if uba_args is not None else "",
            )

    def _check_deepspeed_scheduler(self) -> None:
        """A ``scheduler`` block in a DeepSpeed config silently replaces the Trainer's schedule."""
        ds_config = getattr(self.args, "hf_deepspeed_config", None)
        if ds_config is not None and "scheduler" in ds_config.config:
            raise ValueError(
                "The DeepSpeed config has a 'scheduler' block "
                f"({ds_config.config['scheduler'].get('type', '?')}), which would replace the UBA schedule. "
                "Remove the 'scheduler' block (the recipes in recipes/deepspeed/ have none) or pick that "
                "schedule explicitly with another --lr_scheduler_type."
            )

    def uba_schedule_record(self, num_training_steps: int) -> dict[str, Any]:
        """The arguments that fully determine the LR at every update of this run."""
        return {
            "lr_scheduler_type": SchedulerType.UBA.value,
            "num_training_steps": int(num_training_steps),
            "num_warmup_steps": int(self.args.get_warmup_steps(num_training_steps)),
            **{key: self.uba_kwargs[key] for key in UBA_KWARGS},
            **({"phi_auto": self.phi_probe} if self.phi_probe is not None else {}),
        }

    def _resolve_auto_phi(self) -> None:
        """``phi="auto"``: reuse the checkpoint's phi on resume, else probe the curvature once, before the
        first update, and pick phi with ``suggest_phi`` (see docs/phi.md)."""
        if self.uba_kwargs.get("phi") != PHI_AUTO:
            return
        saved_path = os.path.join(self._resume_checkpoint or "", SCHEDULE_RECORD_NAME)
        if self._resume_checkpoint and os.path.isfile(saved_path):
            with open(saved_path) as f:
                saved = json.load(f)
            self.phi_probe = saved.get("phi_auto")
            phi = float(saved["phi"])
            logger.info("phi='auto': reusing phi=%.4g from %s", phi, self._resume_checkpoint)
        else:
            import torch

            from .curvature import estimate_curvature_causal_lm, suggest_phi

            rng = torch.get_rng_state()  # drawing probe batches must not shift the training data order
            batches = []
            for batch in self.get_train_dataloader():
                batches.append({k: v.to(self.args.device) for k, v in batch.items() if torch.is_tensor(v)})
                if len(batches) == self.uba_args.phi_probe_batches:
                    break
            torch.set_rng_state(rng)
            estimate = estimate_curvature_causal_lm(
                self.model, batches, lanczos_steps=self.uba_args.phi_probe_lanczos_steps, num_probes=1
            )
            kappa = estimate.condition_number
            phi = suggest_phi(kappa) if math.isfinite(kappa) and kappa >= 1 else DEFAULT_PHI
            self.phi_probe = {
                "condition_number": kappa if math.isfinite(kappa) else None,
                "top_eigenvalue": estimate.top_eigenvalue,
                "num_hvps": estimate.num_hvps,
                "seconds": round(estimate.seconds, 3),
                "suggested_phi": phi,
            }
            logger.info(
                "phi='auto': curvature probe kappa=%.4g (top eigenvalue %.4g, %d HVPs, %.1fs) -> phi=%.4g",
                kappa,
                estimate.top_eigenvalue,
                estimate.num_hvps,
                estimate.seconds,
                phi,
            )
        self.uba_kwargs["phi"] = phi
        self.args.lr_scheduler_kwargs = dict(self.uba_kwargs)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.uses_uba and self.lr_scheduler is None:
            self._resolve_auto_phi()
            record = self.uba_schedule_record(num_training_steps)
            validate_schedule_args(
                record["num_warmup_steps"], record["num_training_steps"], record["phi"], record["min_lr_ratio"]
            )
        if self.uses_uba and self.lr_scheduler is None and self.is_world_process_zero():
            logger.info(
                "UBA schedule: phi=%s, budget=%d optimizer updates (warmup %d, decay %d), min_lr_ratio=%s",
                record["phi"],
                record["num_training_steps"],
                record["num_warmup_steps"],
                record["num_training_steps"] - record["num_warmup_steps"],
                record["min_lr_ratio"],
            )
        return super().create_scheduler(num_training_steps=num_training_steps, optimizer=optimizer)

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, **kwargs: Any):
        """``Trainer.train``, resuming only from a *complete* checkpoint (``True`` = newest complete one)."""
        resume_from_checkpoint = resolve_resume_checkpoint(resume_from_checkpoint, self.args.output_dir)
        self._resume_checkpoint = resume_from_checkpoint
        return super().train(resume_from_checkpoint=resume_from_checkpoint, trial=trial, **kwargs)

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        # Every process has written its part (model shards, DeepSpeed states) before the marker.
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
            write_completion_marker(folder)

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        super()._save_optimizer_and_scheduler(output_dir)
        if self.uses_uba and self.args.should_save:
            record = self.uba_schedule_record(self.state.max_steps)
            tmp = os.path.join(output_dir, SCHEDULE_RECORD_NAME + ".tmp")
            with open(tmp, "w") as f:
                json.dump(record, f, indent=2, sort_keys=True)
            os.replace(tmp, os.path.join(output_dir, SCHEDULE_RECORD_NAME))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        if checkpoint is not None and self.uses_uba:
            self._check_resumed_schedule(checkpoint)
        super()._load_optimizer_and_scheduler(checkpoint)

    def _check_resumed_schedule(self, checkpoint: str) -> None:
        path = os.path.join(checkpoint, SCHEDULE_RECORD_NAME)
        if not os.path.isfile(path):
            logger.warning(
                "Checkpoint %s has no %s (not written by UBATrainer): cannot check that its schedule matches.",
                checkpoint,
                SCHEDULE_RECORD_NAME,
            )
            return
        with open(path) as f:
            saved = json.load(f)
        current = self.uba_schedule_record(self.state.max_steps)
        diffs = [key for key in current if not _same_value(current[key], saved.get(key))]
        if diffs:
            detail = ", ".join(f"{key}: checkpoint {saved.get(key)!r} vs now {current[key]!r}" for key in diffs)
            raise ValueError(
                f"Cannot resume from {checkpoint}: the UBA schedule differs ({detail}). The LR would jump to "
                "another curve. Resume with the checkpoint's max_steps / warmup_steps / phi / min_lr_ratio, or "
                "start a new run from the checkpoint's weights (--model_name_or_path "
                f"{checkpoint}) with the new budget."
            )
