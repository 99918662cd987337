"""A checkpoint write that fails half way (disk full, storage turned read-only): the run stops with one line
that names the folder and the cause, the partial folder is never taken for a complete checkpoint, and
``latest`` resumes the previous one exactly.

The faults are injected where the bytes reach storage (``open`` for writing, ``torch.save``, the safetensors
writer, ``mkdir``) for files under the failing ``checkpoint-N``: tests run as root here, and root ignores
permission bits, so ``chmod -w`` cannot make a folder read-only. Where this process may mount a filesystem
(root on Linux), the same faults also come from a real size-limited tmpfs and a real read-only remount.
"""

from __future__ import annotations

import builtins
import errno
import io
import logging
import os
from pathlib import Path

import pytest
import safetensors.torch
import torch
import transformers.modeling_utils
from conftest import LRRecorder, TokenDataset, closed_form, tiny_olmo2, tiny_training_args

from uba_hf import CheckpointWriteError, UBATrainer
from uba_hf.checkpoints import COMPLETE_MARKER, checkpoint_problems, resolve_resume_checkpoint

N, W, SAVE, LR = 12, 2, 5, 1e-2


def args(out: Path, **kw):
    return tiny_training_args(out, warmup_steps=W, save_strategy="steps", save_steps=SAVE, **kw)


def trainer(out: Path, recorder: LRRecorder | None = None, **kw) -> UBATrainer:
    callbacks = [recorder] if recorder is not None else []
    return UBATrainer(model=tiny_olmo2(), args=args(out, **kw), train_dataset=TokenDataset(), callbacks=callbacks)


class StorageFault:
    """Storage under ``folder`` that takes ``capacity`` more bytes, then fails with ``code`` (ENOSPC: a full
    disk; EROFS with capacity 0: storage turned read-only, where creating the folder fails too)."""

    def __init__(self, monkeypatch, folder: Path, capacity: int, code: int) -> None:
        self.folder, self.left, self.code = str(folder), capacity, code
        real_open, real_mkdir, real_torch_save = builtins.open, os.mkdir, torch.save

        def fault_open(file, mode="r", *a, **k):
            f = real_open(file, mode, *a, **k)
            return self.wrap(f, file) if self.covers(file) and any(c in mode for c in "wax+") else f

        def fault_mkdir(path, *a, **k):
            if self.covers(path) and self.code == errno.EROFS:
                raise OSError(self.code, os.strerror(self.code), os.fspath(path))
            return real_mkdir(path, *a, **k)

        def fault_torch_save(obj, f, *a, **k):
            if not (isinstance(f, (str, os.PathLike)) and self.covers(f)):
                return real_torch_save(obj, f, *a, **k)
            buffer = io.BytesIO()
            real_torch_save(obj, buffer, *a, **k)
            with fault_open(f, "wb") as out:
                out.write(buffer.getvalue())

        def fault_safe_save(tensors, filename, metadata=None):
            with fault_open(filename, "wb") as out:
                out.write(safetensors.torch.save(tensors, metadata=metadata))

        monkeypatch.setattr(builtins, "open", fault_open)
        monkeypatch.setattr(os, "mkdir", fault_mkdir)
        monkeypatch.setattr(torch, "save", fault_torch_save)
        monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", fault_safe_save)

    def covers(self, path) -> bool:
        return os.path.abspath(os.fspath(path)).startswith(self.folder + os.sep) or os.fspath(path) == self.folder

    def wrap(self, f, name):
        fault = self
        write = f.write

        def limited_write(data):
            if len(data) > fault.left:
                write(data[: fault.left])  # what fits is written: the file is left truncated
                fault.left = 0
                f.flush()
                raise OSError(fault.code, os.strerror(fault.code), os.fspath(name))
            fault.left -= len(data)
            return write(data)

        f.write = limited_write
        return f


def fail(tmp_path, monkeypatch, capacity: int, code: int) -> tuple[CheckpointWriteError, Path]:
    """Train with checkpoint-10's storage failing: one line that names the folder, the cause and checkpoint-5;
    the partial folder has no completion marker and is reported incomplete."""
    out = tmp_path / "out"
    failing = out / "checkpoint-10"
    with monkeypatch.context() as patch:
        StorageFault(patch, failing, capacity, code)
        with pytest.raises(CheckpointWriteError) as caught:
            trainer(out).train()
    message = str(caught.value)
    assert "\n" not in message and str(failing) in message and os.strerror(code) in message
    assert f"newest complete checkpoint is {out / 'checkpoint-5'}" in message
    assert isinstance(caught.value.__cause__, OSError) and caught.value.__cause__.errno == code
    assert checkpoint_problems(out / "checkpoint-5") == []
    if failing.exists():
        assert not (failing / COMPLETE_MARKER).exists()
        assert any("no completion marker" in p for p in checkpoint_problems(failing))
    return caught.value, failing


def resume_latest(failing: Path, caplog) -> None:
    """``latest`` skips the partial folder with a warning and resumes checkpoint-5: every remaining update
    once, the closed-form LR at each; the resumed run writes checkpoint-10 complete."""
    partial = failing.exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="uba_hf"):
        rec = LRRecorder()
        resumed = trainer(failing.parent, rec)
        resumed.train(resume_from_checkpoint="latest")
    if partial:
        assert f"Skipping incomplete checkpoint {failing}" in caplog.text
    assert resumed.state.global_step == N and rec.steps == list(range(SAVE, N))  # every update once
    assert rec.lrs == pytest.approx([LR * closed_form(s, W, N, 1.0, 0.0) for s in range(SAVE, N)], rel=1e-12)
    assert checkpoint_problems(failing) == []


def test_disk_full_in_the_optimizer_state_stops_with_one_line_and_latest_resumes_the_previous(
    tmp_path, monkeypatch, caplog
):
    # Room for the weights (about 100 kB) and part of the optimizer state, then ENOSPC.
    _, failing = fail(tmp_path, monkeypatch, capacity=150_000, code=errno.ENOSPC)
    assert 0 < (failing / "optimizer.pt").stat().st_size and not (failing / "trainer_state.json").exists()
    resume_latest(failing, caplog)


def test_disk_full_after_trainer_state_is_not_taken_for_complete(tmp_path, monkeypatch, caplog):
    # Everything the Trainer writes fits (measured on the same run, uninterrupted); the schedule record does not.
    # trainer_state.json, by which a folder without a marker is judged, is there: only the pending mark says
    # that the save did not finish.
    done = tmp_path / "probe" / "checkpoint-10"
    with monkeypatch.context() as patch:
        StorageFault(patch, done, 1 << 40, errno.ENOSPC)  # the same writers, room for all
        trainer(done.parent).train()
    sizes = sum(p.stat().st_size for p in done.iterdir() if not p.name.startswith("uba_"))
    _, failing = fail(tmp_path, monkeypatch, capacity=sizes, code=errno.ENOSPC)
    assert (failing / "trainer_state.json").is_file()
    with pytest.raises(ValueError, match="checkpoint-10' is incomplete"):
        resolve_resume_checkpoint(str(failing), failing.parent)
    resume_latest(failing, caplog)


def test_storage_turned_read_only_stops_with_one_line_and_latest_resumes_the_previous(tmp_path, monkeypatch, caplog):
    error, failing = fail(tmp_path, monkeypatch, capacity=0, code=errno.EROFS)
    assert not failing.exists() and "Read-only file system" in str(error)
    resume_latest(failing, caplog)


def test_another_failure_during_training_is_not_reported_as_a_checkpoint_write(tmp_path, monkeypatch):
    class Boom(RuntimeError):
        pass

    def fail_at_update_7(*a, **k):
        raise Boom("not storage")

    t = trainer(tmp_path / "out")
    original = t.training_step
    monkeypatch.setattr(
        t, "training_step", lambda *a, **k: fail_at_update_7() if t.state.global_step == 7 else original(*a, **k)
    )
    with pytest.raises(Boom):
        t.train()
