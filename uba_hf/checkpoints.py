"""Checkpoint integrity: the budget must survive crashes.

Transformers writes a checkpoint file by file into ``checkpoint-N/`` and nothing marks the end, so
a job killed mid-save leaves a folder that looks like a checkpoint. ``UBATrainer`` therefore writes
a completion marker last (``uba_checkpoint.json``: every file with its size), after all processes
have finished writing (``uba_hf.callbacks.CheckpointCompletionCallback``); :func:`checkpoint_problems`
checks it, and :func:`resolve_resume_checkpoint` resumes from the newest *complete* checkpoint, or
refuses a broken one by name. ``uba_schedule.json`` beside it records the schedule in use.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from .errors import UBAConfigError

logger = logging.getLogger("uba_hf")

COMPLETE_MARKER = "uba_checkpoint.json"
SCHEDULE_RECORD_NAME = "uba_schedule.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: readers never see half a file."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_schedule_record(checkpoint_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The checkpoint's ``uba_schedule.json``, or None when it has none."""
    path = Path(checkpoint_dir) / SCHEDULE_RECORD_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def write_completion_marker(checkpoint_dir: str | os.PathLike) -> None:
    """Record every file of the checkpoint with its size; written last and atomically."""
    root = Path(checkpoint_dir)
    files = {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != COMPLETE_MARKER and not p.name.endswith(".tmp")
    }
    write_json_atomic(root / COMPLETE_MARKER, {"files": files})


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
        if (root / SCHEDULE_RECORD_NAME).is_file() or not (root / "trainer_state.json").is_file():
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
            raise UBAConfigError(
                f"resume_from_checkpoint={value}: no complete checkpoint-* folder in {str(output_dir)!r}."
            )
        return str(latest)
    path = Path(value)
    if not path.exists():
        raise UBAConfigError(f"resume_from_checkpoint {str(value)!r}: no such checkpoint folder.")
    problems = checkpoint_problems(path)
    if problems:
        previous = latest_complete_checkpoint(path.parent)
        hint = f" The newest complete checkpoint is {str(previous)!r}." if previous else ""
        raise UBAConfigError(f"Checkpoint {str(value)!r} is incomplete or corrupt: {'; '.join(problems)}.{hint}")
    return str(path)
