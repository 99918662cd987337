"""The commands the job prints to paste after an interruption: resume from this run's newest checkpoint, or rerun.

``main`` prints one after Ctrl-C outside training (or a second Ctrl-C during it, which aborts the save); the
pre-emption report (``outputs.report_preempted``) prints the resume command.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from ..checkpoints import latest_complete_checkpoint
from ..errors import UBAConfigError
from .preflight import pretrain_identity, schedule_kwargs

RESUME_FLAGS = ("--resume_from_checkpoint", "--resume-from-checkpoint")


def _command(argv: list[str]) -> str:
    """``argv`` as a command to paste into a shell: ``python scripts/pretrain.py ...`` when the job was started as
    that script, else ``uba-pretrain ...``; under a launcher (more than one process) the launcher's part is the
    user's to add."""
    script = sys.argv[0] if sys.argv else ""
    prefix = f"python {shlex.quote(script)}" if Path(script).name == "pretrain.py" else "uba-pretrain"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        prefix = f"<your launcher and its options> {shlex.quote(script)}"
    return f"{prefix} {shlex.join(argv)}".rstrip()


def _without_resume(argv: list[str]) -> list[str]:
    """``argv`` without ``--resume_from_checkpoint`` and its value (``--flag value`` or ``--flag=value``)."""
    kept: list[str] = []
    skip_value = False
    for arg in argv:
        if skip_value:
            skip_value = False
        elif arg.split("=", 1)[0] in RESUME_FLAGS:
            skip_value = "=" not in arg
        else:
            kept.append(arg)
    return kept


def resume_command(argv: list[str]) -> str:
    """The command that continues this job from its newest complete checkpoint: the same arguments, with
    ``--resume_from_checkpoint latest`` in place of any other value."""
    return _command([*_without_resume(argv), "--resume_from_checkpoint", "latest"])


def run_identity_of(args: tuple[Any, ...]) -> dict[str, Any] | None:
    """The identity the run's checkpoints will record, from the arguments as parsed (the trainer later writes the
    phi it chose into ``lr_scheduler_kwargs``, which would make it another run's); None when the schedule's
    arguments are wrong (``run`` says how)."""
    model_args, data_args, uba_args, _, training = args
    try:
        return pretrain_identity(model_args, data_args, training, schedule_kwargs(training, uba_args))
    except UBAConfigError:
        return None


def interrupted_message(
    argv: list[str], args: tuple[Any, ...] | None, identity: dict[str, Any] | None, held_files_before: bool
) -> str:
    """What Ctrl-C outside training (or a second Ctrl-C during it, which aborts the save) leaves, and the command to
    paste: with a complete checkpoint of this run in output_dir, the resume command; without one, the command that
    reruns the job (``--overwrite_output_dir true`` added when this run left files in an output_dir that was empty
    or absent before it: the same command would be refused for them)."""
    if args is None:  # interrupted while reading the arguments: nothing written
        return f"uba-pretrain: interrupted before the run started; nothing written. Rerun it with:\n  {_command(argv)}"
    run_args, training = args[3], args[4]
    out = training.output_dir
    checkpoint = latest_complete_checkpoint(out, identity, quiet=True)
    if checkpoint is not None:
        return (
            f"uba-pretrain: interrupted; nothing saved since {checkpoint}. Resume from it with:\n"
            f"  {resume_command(argv)}"
        )
    given = training.resume_from_checkpoint
    if isinstance(given, str) and given.lower() not in ("true", "latest", "false") and os.path.isdir(given):
        return (
            f"uba-pretrain: interrupted; nothing saved since {given}. Resume from it with the same command:\n"
            f"  {_command(argv)}"
        )
    rerun = _without_resume(argv)
    holds_files = os.path.isdir(out) and any(Path(out).iterdir())
    if holds_files and not held_files_before and not run_args.overwrite_output_dir:
        rerun += ["--overwrite_output_dir", "true"]
    return (
        f"uba-pretrain: interrupted before the first checkpoint: there is no checkpoint to resume in {out}. "
        f"Rerun the job with:\n  {_command(rerun)}"
    )
