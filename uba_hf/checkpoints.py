"""Checkpoint integrity: the budget must survive crashes.

Transformers writes a checkpoint file by file into ``checkpoint-N/`` and nothing marks the end, so
a job killed mid-save leaves a folder that looks like a checkpoint. ``UBATrainer`` therefore writes
a completion marker last (``uba_checkpoint.json``: every file with its size), after all processes
have finished writing (``uba_hf.callbacks.CheckpointCompletionCallback``); :func:`checkpoint_problems`
checks it, and :func:`resolve_resume_checkpoint` resumes from the newest *complete* checkpoint, or
refuses a broken one by name. ``uba_schedule.json`` beside it records the schedule in use.

A save that fails half way (disk full, storage turned read-only) must not look complete either, even when it
got as far as ``trainer_state.json`` (the file a checkpoint without a marker is judged by): ``UBATrainer``
creates ``uba_checkpoint.pending`` first (:func:`mark_checkpoint_pending`), and the marker replaces it.
:func:`describe_write_failure` says, in one line, what went wrong.

Run identity: an output folder can hold checkpoints of several runs (a rerun into the same folder, a
recipe with ``overwrite_output_dir``), and "the newest complete checkpoint" may then be another run's.
The marker therefore also records the run's identity (:func:`run_identity`: schedule, seed, and
whatever data / model settings the caller adds), and ``latest`` skips checkpoints whose identity
differs, saying why. The budget is not part of it: the scheduler's own state checks the budget. Nor is
``rebudget``: it says how to continue (on a new decay segment), not what was trained, so ``latest
--rebudget`` extends the run's own newest checkpoint.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from .arguments import UBA_SCHEDULE_KWARGS
from .errors import UBAConfigError

logger = logging.getLogger("uba_hf")

COMPLETE_MARKER = "uba_checkpoint.json"
PENDING_MARKER = "uba_checkpoint.pending"
SCHEDULE_RECORD_NAME = "uba_schedule.json"
CHECKPOINT_NAME_RE = re.compile(r"^checkpoint-(\d+)$")
# Schedule arguments that say how to resume, not what was trained: left out of the identity, and ignored in a
# marker that records them (else a re-budgeted run's checkpoints would refuse a plain resume).
RESUME_OPTIONS = ("rebudget",)
_IGNORED_IN_MARKERS = {f"schedule.{name}" for name in RESUME_OPTIONS}


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
    logging / saving / evaluation cadence, output folder) must not be in it; neither is the budget, nor
    the ``RESUME_OPTIONS`` among ``schedule_kwargs``.
    """
    schedule = {"lr_scheduler_type": str(getattr(lr_scheduler_type, "value", lr_scheduler_type))}
    kept = {key: value for key, value in (schedule_kwargs or {}).items() if key not in RESUME_OPTIONS}
    schedule.update(learning_rate=float(learning_rate), **kept)
    return _jsonable({"schedule": schedule, "seed": int(seed), **sections})


def write_completion_marker(checkpoint_dir: str | os.PathLike, identity: dict[str, Any] | None = None) -> None:
    """Record every file of the checkpoint with its size, and the run's identity; written last and atomically."""
    root = Path(checkpoint_dir)
    files = {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in (COMPLETE_MARKER, PENDING_MARKER) and not p.name.endswith(".tmp")
    }
    marker: dict[str, Any] = {"files": files}
    if identity is not None:
        marker["run"] = _jsonable(identity)
    write_json_atomic(root / COMPLETE_MARKER, marker)
    (root / PENDING_MARKER).unlink(missing_ok=True)


def mark_checkpoint_pending(checkpoint_dir: str | os.PathLike) -> None:
    """Create ``checkpoint_dir`` with ``uba_checkpoint.pending`` in it, before any file of the checkpoint: until
    the completion marker replaces it, the folder is an interrupted save, whatever else it holds."""
    root = Path(checkpoint_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / PENDING_MARKER).touch()


def _errno_of(err: BaseException) -> OSError | None:
    """The first ``OSError`` with an errno in ``err``'s chain of causes."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno:
            return err
        err = err.__cause__ or err.__context__
    return None


def describe_write_failure(
    checkpoint_dir: str | os.PathLike, err: BaseException, identity: dict[str, Any] | None = None
) -> str:
    """One line: which checkpoint could not be written, why, and which checkpoint ``latest`` resumes instead
    (of the run ``identity`` when given).

    The cause is the OS error when there is one; a writer that reports only its own symptom (``torch.save`` on
    a full disk raises ``RuntimeError: ... unexpected pos``) is explained by the state of the filesystem.
    """
    folder = Path(checkpoint_dir)
    detail = " ".join(f"{type(err).__name__}: {err}".split())[:300]
    os_error = _errno_of(err)
    if os_error is not None:
        cause = os.strerror(os_error.errno) + (f" ({os_error.filename})" if os_error.filename else "")
        if os_error is not err:  # what the writer said, too
            cause += f" [{detail}]"
    else:
        state = _filesystem_state(folder)
        cause = f"{state} [{detail}]" if state else detail
    previous = latest_complete_checkpoint(folder.parent, identity, quiet=True)
    after = (
        f"the newest complete checkpoint is {previous} (continue with --resume_from_checkpoint latest)"
        if previous is not None
        else "no complete checkpoint to resume from"
    )
    return f"could not write checkpoint {folder}: {cause}; it is left incomplete, {after}"


def _filesystem_state(folder: Path) -> str | None:
    """ "read-only file system" or "no space left on device" when the filesystem of ``folder`` is in that state."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:
        return None
    stats = os.statvfs(existing)
    if stats.f_flag & os.ST_RDONLY:
        return os.strerror(errno.EROFS)
    free = stats.f_bavail * stats.f_frsize
    if free < 1 << 20:
        return f"{os.strerror(errno.ENOSPC)} ({free:,} bytes free)"
    return None


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
    adopted = {f"schedule.{key}" for key in UBA_SCHEDULE_KWARGS} - set(new)
    return [
        f"{key}={old.get(key, '<unset>')!r} there, {new.get(key, '<unset>')!r} now"
        for key in sorted((set(old) | set(new)) - adopted - _IGNORED_IN_MARKERS)
        if old.get(key, "<unset>") != new.get(key, "<unset>")
    ]


def checkpoint_problems(checkpoint_dir: str | os.PathLike) -> list[str]:
    """What is wrong with a checkpoint folder (empty list: complete).

    Folders without a marker (written by the stock Trainer) are judged by ``trainer_state.json``, which
    Transformers writes last: it must be there and read as JSON. A save that fails while writing it (a full disk)
    leaves it truncated, with every other file in place; ``transformers.trainer_utils.get_last_checkpoint`` takes
    such a folder, and resuming it fails on the JSON (tests/library/test_checkpoint_faults.py, the stock Trainer).

    "Last" holds for the main process only. With several processes each writes its own ``rng_state_R.pth`` after
    the optimizer state, and nothing waits for them before the main process writes ``trainer_state.json``: a rank
    whose disk fills there leaves that file empty or truncated under a ``trainer_state.json`` that reads fine, and
    resuming fails on that rank (``EOFError``; measured on DeepSpeed ZeRO-2,
    tests/library/test_checkpoint_faults.py). So every ``rng_state*.pth`` must also be whole: ``torch.save`` writes a
    zip archive whose directory comes last, which an empty or truncated file lacks.
    """
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return [f"{root} is not a folder"]
    marker = root / COMPLETE_MARKER
    if not marker.is_file():
        written_by_uba = (root / SCHEDULE_RECORD_NAME).is_file() or (root / PENDING_MARKER).is_file()
        state = root / "trainer_state.json"
        if written_by_uba or not state.is_file():
            return ["no completion marker: the save was interrupted (or the folder was copied partially)"]
        try:
            json.loads(state.read_bytes())
        except ValueError as err:
            return [f"unreadable trainer_state.json ({err}): the save was interrupted (or the file copied partially)"]
        return [
            f"{rng.name} is truncated ({rng.stat().st_size:,} bytes, not a whole torch.save archive): the save was "
            "interrupted on a process (or the file copied partially)"
            for rng in sorted(root.glob("rng_state*.pth"))
            if not zipfile.is_zipfile(rng)
        ]
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
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := CHECKPOINT_NAME_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_complete_checkpoint(
    output_dir: str | os.PathLike, identity: dict[str, Any] | None = None, quiet: bool = False
) -> Path | None:
    """The newest checkpoint without problems (and, given ``identity``, of that run); the others newer
    than it are skipped with a warning that says why (none when ``quiet``)."""
    for path in reversed(sorted_checkpoints(output_dir)):
        problems = checkpoint_problems(path)
        if problems:
            if not quiet:
                logger.warning("Skipping incomplete checkpoint %s: %s", path, "; ".join(problems))
            continue
        differences = identity_differences(read_run_identity(path), identity) if identity is not None else []
        if differences:
            if not quiet:
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
