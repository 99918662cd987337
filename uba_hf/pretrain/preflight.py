"""Checks and decisions the pretraining job makes before any expensive work.

Each function here either raises a one-line ``UBAConfigError`` or changes nothing but what it says:
which checkpoint to resume (only one of *this* run), whether that checkpoint already finished the
budget, which stale checkpoints a fresh ``--overwrite_output_dir`` run removes, whether the output
folder is writable and the requested loggers are installed, where TensorBoard writes, and how much
each process logs. ``cli.run`` calls them before loading the corpus.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transformers import TrainingArguments

from ..arguments import resolve_uba_kwargs
from ..checkpoints import resolve_resume_checkpoint, sorted_checkpoints
from ..errors import UBAConfigError
from ..registry import UBA_SCHEDULER_NAME
from ..trainer import UBATrainer

logger = logging.getLogger("uba_hf")

# Data / model settings that may change on resume without making it another run (the attention kernel computes
# the same attention).
_NOT_IDENTITY = {
    "preprocessing_num_workers",
    "max_eval_blocks",
    "streaming",
    "trust_remote_code",
    "attn_implementation",
}
# Settings added after 0.2.0, recorded only away from the value that reproduces earlier versions, so that their
# checkpoints still resume with `latest`.
_RECORDED_WHEN_NOT = {"document_attention": False}
_LATEST = ("true", "latest")


def uses_uba(training: TrainingArguments) -> bool:
    return str(getattr(training.lr_scheduler_type, "value", training.lr_scheduler_type)) == UBA_SCHEDULER_NAME


def schedule_kwargs(training: TrainingArguments, uba_args) -> dict[str, Any]:
    """The UBA ``phi`` / ``min_lr_ratio`` the trainer will use; validates ``--lr_scheduler_kwargs`` now,
    not after tokenizing and building the model."""
    return resolve_uba_kwargs(training.lr_scheduler_kwargs, uba_args) if uses_uba(training) else {}


def identity_sections(model_args, data_args) -> dict[str, Any]:
    """The data and model part of the run identity (the trainer adds schedule and seed)."""

    def settings(obj) -> dict[str, Any]:
        return {
            k: v
            for k, v in dataclasses.asdict(obj).items()
            if k not in _NOT_IDENTITY and not (k in _RECORDED_WHEN_NOT and v == _RECORDED_WHEN_NOT[k])
        }

    return {"data": settings(data_args), "model": settings(model_args)}


def pretrain_identity(model_args, data_args, training: TrainingArguments, uba_kwargs: dict[str, Any]) -> dict:
    """The identity ``UBATrainer(run_identity=identity_sections(...))`` will record, computed before the
    trainer exists (``latest`` must be resolved before deciding on the initial evaluation)."""
    return UBATrainer.identity(training, uba_kwargs, **identity_sections(model_args, data_args))


def resolve_resume(training: TrainingArguments, identity: dict[str, Any]) -> str | None:
    """The checkpoint to resume: ``latest`` only among this run's checkpoints (others skipped with a
    warning that names the differing settings); an explicit path is taken as given."""
    value = training.resume_from_checkpoint
    is_latest = value is True or (isinstance(value, str) and value.lower() in _LATEST)
    return resolve_resume_checkpoint(value, training.output_dir, identity if is_latest else None)


def finished_budget(resume: str | None, training: TrainingArguments) -> tuple[int, int] | None:
    """``(update, budget)`` when the checkpoint to resume already reached the budget, else None.

    The stock Trainer would run one more update past the budget and overwrite the final outputs; a
    requeued job that already finished must be a no-op instead.
    """
    if resume is None:
        return None
    state_file = Path(resume) / "trainer_state.json"
    if not state_file.is_file():
        return None
    state = json.loads(state_file.read_text())
    budget = training.max_steps if training.max_steps > 0 else int(state.get("max_steps") or 0)
    step = int(state.get("global_step", 0))
    return (step, budget) if budget > 0 and step >= budget else None


def remove_stale_checkpoints(training: TrainingArguments) -> list[str]:
    """A fresh run with ``--overwrite_output_dir`` *removes* the ``checkpoint-*`` folders of earlier runs.

    Called just before training, so a mistake found while reading the data keeps them. Removed rather
    than moved aside: ``overwrite`` is the user's statement that the folder's run is
    disposable, and moving would grow the disk use with every rerun of a recipe that sets it. Left in
    place they would be found by a later ``--resume_from_checkpoint latest``. Main process only; the
    others wait.
    """
    removed: list[str] = []
    with training.main_process_first(desc="removing stale checkpoints", local=False):
        if training.process_index == 0:
            for path in sorted_checkpoints(training.output_dir):
                shutil.rmtree(path)
                removed.append(path.name)
            if removed:
                logger.warning(
                    "--overwrite_output_dir: removed %d checkpoint folder(s) of an earlier run from %s: %s",
                    len(removed),
                    training.output_dir,
                    ", ".join(removed),
                )
    return removed


def check_output_dir_writable(output_dir: str) -> None:
    """Create ``output_dir`` and write a file there now, rather than fail at the first save. A file on the
    way (the folder itself, or a parent) is named as such: the OS error would say only "File exists"."""
    blocking = next((p for p in (Path(output_dir), *Path(output_dir).parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        where = "" if blocking == Path(output_dir) else f" (its parent {str(blocking)!r} is a file)"
        raise UBAConfigError(
            f"--output_dir {output_dir!r} is a file, not a folder{where}; choose another --output_dir."
        )
    probe = Path(output_dir) / f".uba_write_test.{os.getpid()}"
    try:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise UBAConfigError(
            f"--output_dir {output_dir!r} is not writable ({err.strerror or err}); choose another --output_dir."
        ) from None


@contextmanager
def nothing_left_on_config_error(output_dir: str):
    """A run refused for a configuration error (``UBAConfigError``: a missing ``--train_file``, bad JSON...)
    leaves no ``output_dir`` behind when there was none before: the checks create it (and the tokenizer is
    saved there) before the last of them can fail."""
    existed = os.path.lexists(output_dir)
    try:
        yield
    except UBAConfigError:
        if not existed:
            shutil.rmtree(output_dir, ignore_errors=True)
        raise


_INSTALL_HINTS = {"tensorboard": "pip install 'uba-hf[tensorboard]'"}


def check_loggers(training: TrainingArguments) -> None:
    """Every ``--report_to`` integration must be installed: a one-line error now, not a traceback after
    the corpus is tokenized."""
    from transformers.integrations import get_available_reporting_integrations

    available = set(get_available_reporting_integrations())
    for name in training.report_to or []:
        if name not in ("all", "none") and name not in available:
            hint = _INSTALL_HINTS.get(name, f"pip install {name}")
            raise UBAConfigError(
                f"--report_to {name}: the {name} package is not installed; {hint}, or drop it from --report_to."
            )


class _DropDeepSpeedCpuBanner(logging.Filter):
    """DeepSpeed, imported by Transformers whenever it is installed, warns "Setting accelerator to CPU"
    on every CPU run, DeepSpeed used or not."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Setting accelerator to CPU")


def quiet_logs(training: TrainingArguments) -> None:
    """One copy of each line: only the main process logs at INFO (the others at ``--log_level_replica``,
    which the CLI defaults to ``error``); no DeepSpeed accelerator banner unless DeepSpeed is used; and no progress
    bars when stderr is not a terminal (a log file would fill with carriage returns and
    cursor-movement escapes)."""
    if not (training.deepspeed or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"):
        deepspeed_logger = logging.getLogger("DeepSpeed")
        if not any(isinstance(f, _DropDeepSpeedCpuBanner) for f in deepspeed_logger.filters):
            deepspeed_logger.addFilter(_DropDeepSpeedCpuBanner())
    if training.should_log and training.log_level == "passive":
        logger.setLevel(logging.INFO)
    else:
        logger.setLevel(training.get_process_log_level())
    if not sys.stderr.isatty():
        import datasets
        from transformers.utils import logging as hf_logging

        training.disable_tqdm = True
        datasets.disable_progress_bars()
        hf_logging.disable_progress_bar()


def prepare_output_dir(training: TrainingArguments) -> None:
    """After the cheap checks, before any data work: a writable output_dir and installed loggers
    (``UBATrainer`` puts TensorBoard's events under output_dir)."""
    check_output_dir_writable(training.output_dir)
    check_loggers(training)


def report_already_complete(resume: str, step: int, budget: int, training: TrainingArguments) -> dict[str, Any]:
    """Resuming a checkpoint that already reached the budget is a no-op (a requeued finished job)."""
    if training.process_index == 0:
        print(
            f"[uba-pretrain] already complete: {resume} is at update {step}/{budget}; nothing to train, "
            f"nothing written (outputs in {training.output_dir})",
            flush=True,
        )
    return {"already_complete": True, "global_step": step}
