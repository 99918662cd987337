"""Checkpoint integrity and pre-emption: the budget must survive crashes.

Transformers writes a checkpoint file by file into ``checkpoint-N/`` and nothing marks the end, so
a job killed mid-save leaves a folder that looks like a checkpoint. ``UBATrainer`` therefore writes
a completion marker last (``uba_checkpoint.json``: every file with its size), after all processes
have finished writing; :func:`checkpoint_problems` checks it, and :func:`resolve_resume_checkpoint`
resumes from the newest *complete* checkpoint, or refuses a broken one by name.

:class:`PreemptionCallback` turns SIGTERM (what SLURM and Kubernetes send before killing a job)
into "save a checkpoint at the end of this update, then stop".
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
from pathlib import Path

from transformers import TrainerCallback

logger = logging.getLogger("uba_hf")

COMPLETE_MARKER = "uba_checkpoint.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def write_completion_marker(checkpoint_dir: str | os.PathLike) -> None:
    """Record every file of the checkpoint with its size; written last and atomically."""
    root = Path(checkpoint_dir)
    files = {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != COMPLETE_MARKER and not p.name.endswith(".tmp")
    }
    tmp = root / (COMPLETE_MARKER + ".tmp")
    tmp.write_text(json.dumps({"files": files}, indent=1, sort_keys=True))
    os.replace(tmp, root / COMPLETE_MARKER)


def checkpoint_problems(checkpoint_dir: str | os.PathLike) -> list[str]:
    """What is wrong with a checkpoint folder (empty list: complete).

    Folders without a marker (written by the stock Trainer) are checked only for
    ``trainer_state.json``, which Transformers writes last.
    """
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return [f"{root} is not a folder"]
    marker = root / COMPLETE_MARKER
    if not marker.is_file():
        if (root / "uba_schedule.json").is_file() or not (root / "trainer_state.json").is_file():
            return ["no completion marker: the save was interrupted (or the folder was copied partially)"]
        return []
    try:
        files = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError) as err:
        return [f"unreadable {COMPLETE_MARKER}: {err}"]
    problems = []
    for name, size in files.items():
        path = root / name
        if not path.is_file():
            problems.append(f"missing {name}")
        elif path.stat().st_size != size:
            problems.append(f"{name} has {path.stat().st_size} bytes, expected {size} (truncated or rewritten)")
    return problems


def sorted_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """``checkpoint-N`` folders of ``output_dir``, oldest step first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _CHECKPOINT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_complete_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest checkpoint without problems; broken newer ones are skipped with a warning."""
    for path in reversed(sorted_checkpoints(output_dir)):
        problems = checkpoint_problems(path)
        if not problems:
            return path
        logger.warning("Skipping incomplete checkpoint %s: %s", path, "; ".join(problems))
    return None


def resolve_resume_checkpoint(value: str | bool | None, output_dir: str | os.PathLike) -> str | None:
    """``None``/``False`` -> None; ``True``/``"latest"``/``"true"`` -> newest complete checkpoint of
    ``output_dir``; a path -> that path if complete. Raises ``ValueError`` with the reason otherwise."""
    if value is None or value is False or (isinstance(value, str) and value.lower() == "false"):
        return None
    if value is True or (isinstance(value, str) and value.lower() in ("true", "latest")):
        latest = latest_complete_checkpoint(output_dir)
        if latest is None:
            raise ValueError(f"resume_from_checkpoint={value}: no complete checkpoint-* folder in {str(output_dir)!r}.")
        return str(latest)
    path = Path(value)
    if not path.exists():
        raise ValueError(f"resume_from_checkpoint {str(value)!r}: no such checkpoint folder.")
    problems = checkpoint_problems(path)
    if problems:
        previous = latest_complete_checkpoint(path.parent)
        hint = f" The newest complete checkpoint is {str(previous)!r}." if previous else ""
        raise ValueError(f"Checkpoint {str(value)!r} is incomplete or corrupt: {'; '.join(problems)}.{hint}")
    return str(path)


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
