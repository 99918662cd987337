"""Checkpoint integrity: the budget must survive crashes.

Transformers writes a checkpoint file by file into ``checkpoint-N/`` and nothing marks the end, so
a job killed mid-save leaves a folder that looks like a checkpoint. ``UBATrainer`` therefore writes
a completion marker last (``uba_checkpoint.json``: every file with its size), after all processes
have finished writing (``uba_hf.callbacks.CheckpointCompletionCallback``); :func:`checkpoint_problems`
checks it, and :func:`resolve_resume_checkpoint` resumes from the newest *complete* checkpoint, or
refuses a broken one by name. ``uba_schedule.json`` beside it records the schedule in use.

Run identity: an output folder can hold checkpoints of several runs (a rerun into the same folder, a
recipe with ``overwrite_output_dir``), and "the newest complete checkpoint" may then be another run's.
The marker therefore also records the run's identity (:func:`run_identity`: schedule, seed, and
whatever data / model settings the caller adds), and ``latest`` skips checkpoints whose identity
differs, saying why. The budget is not part of it: the scheduler's own state checks the budget.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from .errors import UBAConfigError
from .schedule import DEFAULTS as SCHEDULE_DEFAULTS

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


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples -> lists, enums -> strings), so identities compare equal."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def run_identity(
    lr_scheduler_type: str,
    learning_rate: float,
    seed: int,
    schedule_kwargs: dict[str, Any] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """What makes two checkpoints parts of the same run: the schedule (type, peak LR, ``phi`` as requested,
    ``min_lr_ratio``), the seed, and ``sections`` (e.g. ``data=...``, ``model=...``) from the caller.

    Settings that may legitimately change on resume (number of processes, gradient accumulation,
    logging / saving / evaluation cadence, output folder) must not be in it; neither is the budget.
    """
    schedule = {"lr_scheduler_type": str(getattr(lr_scheduler_type, "value", lr_scheduler_type))}
    schedule.update(learning_rate=float(learning_rate), **(schedule_kwargs or {}))
    return _jsonable({"schedule": schedule, "seed": int(seed), **sections})


def write_completion_marker(checkpoint_dir: str | os.PathLike, identity: dict[str, Any] | None = None) -> None:
    """Record every file of the checkpoint with its size, and the run's identity; written last and atomically."""
    root = Path(checkpoint_dir)
    files = {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != COMPLETE_MARKER and not p.name.endswith(".tmp")
    }
    marker: dict[str, Any] = {"files": files}
    if identity is not None:
        marker["run"] = _jsonable(identity)
    write_json_atomic(root / COMPLETE_MARKER, marker)


def read_run_identity(checkpoint_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run identity recorded in the checkpoint's marker, or None (no marker, or written without one)."""
    marker = Path(checkpoint_dir) / COMPLETE_MARKER
    try:
        return json.loads(marker.read_text()).get("run")
    except (OSError, ValueError):
        return None


def _flatten(identity: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in identity.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def identity_differences(recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """Why a checkpoint is not part of the run ``current`` (empty list: it is), one phrase per setting."""
    if recorded is None:
        return ["it records no run identity (saved by another tool or an older uba-hf)"]
    old, new = _flatten(recorded), _flatten(_jsonable(current))
    # A schedule value the run does not give is taken from the checkpoint on resume: it cannot conflict with it.
    adopted = {f"schedule.{key}" for key in SCHEDULE_DEFAULTS} - set(new)
    return [
        f"{key}={old.get(key, '<unset>')!r} there, {new.get(key, '<unset>')!r} now"
        for key in sorted((set(old) | set(new)) - adopted)
        if old.get(key, "<unset>") != new.get(key, "<unset>")
    ]


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


def latest_complete_checkpoint(output_dir: str | os.PathLike, identity: dict[str, Any] | None = None) -> Path | None:
    """The newest checkpoint without problems (and, given ``identity``, of that run); the others newer
    than it are skipped with a warning that says why."""
    for path in reversed(sorted_checkpoints(output_dir)):
        problems = checkpoint_problems(path)
        if problems:
            logger.warning("Skipping incomplete checkpoint %s: %s", path, "; ".join(problems))
            continue
        differences = identity_differences(read_run_identity(path), identity) if identity is not None else []
        if differences:
            logger.warning("Skipping %s: it belongs to another run (%s).", path, "; ".join(differences))
            continue
        return path
    return None


def resolve_resume_checkpoint(
    value: str | bool | None, output_dir: str | os.PathLike, identity: dict[str, Any] | None = None
) -> str | None:
    """``None``/``False`` -> None; ``True``/``"latest"``/``"true"`` -> newest complete checkpoint of
    ``output_dir`` (of the run ``identity`` when given); a path -> that path if complete (a path of
    another run is the user's explicit choice: resumed, with a warning). Raises ``UBAConfigError``
    with the reason otherwise."""
    if value is None or value is False or (isinstance(value, str) and value.lower() == "false"):
        return None
    if value is True or (isinstance(value, str) and value.lower() in ("true", "latest")):
        latest = latest_complete_checkpoint(output_dir, identity)
        if latest is None:
            others = " of this run" if identity is not None and sorted_checkpoints(output_dir) else ""
            raise UBAConfigError(
                f"resume_from_checkpoint={value}: no complete checkpoint-* folder{others} in {str(output_dir)!r}"
                + (" (see the warnings above); start a fresh run or name a checkpoint path." if others else ".")
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
    if identity is not None and (differences := identity_differences(read_run_identity(path), identity)):
        logger.warning("Resuming %s as asked, although it was saved by another run: %s.", path, "; ".join(differences))
    return str(path)
