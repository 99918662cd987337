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
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
import transformers.modeling_utils
from conftest import (
    ROOT,
    TINY,
    TINY_FLOOR,
    TINY_PHI,
    LRRecorder,
    TokenDataset,
    closed_form,
    tiny_olmo2,
    tiny_training_args,
)
from transformers import TrainerCallback

from uba_hf import CheckpointWriteError, UBATrainer
from uba_hf.checkpoints import COMPLETE_MARKER, checkpoint_problems, resolve_resume_checkpoint, sorted_checkpoints
from uba_hf.zero_config import zero_config_schedule

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


def fail(tmp_path, monkeypatch, capacity: int, code: int, **kw) -> tuple[CheckpointWriteError, Path]:
    """Train with checkpoint-10's storage failing: one line that names the folder, the cause and checkpoint-5;
    the partial folder has no completion marker and is reported incomplete."""
    out = tmp_path / "out"
    failing = out / "checkpoint-10"
    with monkeypatch.context() as patch:
        StorageFault(patch, failing, capacity, code)
        with pytest.raises(CheckpointWriteError) as caught:
            trainer(out, **kw).train()
    assert isinstance(caught.value.__cause__, OSError) and caught.value.__cause__.errno == code
    check_failure(caught.value, failing, code)
    return caught.value, failing


def check_failure(error: CheckpointWriteError, failing: Path, code: int) -> None:
    message = str(error)
    assert "\n" not in message and str(failing) in message and os.strerror(code) in message
    assert f"newest complete checkpoint is {failing.parent / 'checkpoint-5'}" in message
    assert checkpoint_problems(failing.parent / "checkpoint-5") == []
    if failing.exists():
        assert not (failing / COMPLETE_MARKER).exists()
        assert any("no completion marker" in p for p in checkpoint_problems(failing))


def resume_latest(failing: Path, caplog, **kw) -> None:
    """``latest`` skips the partial folder with a warning and resumes checkpoint-5: every remaining update
    once, the closed-form LR at each; every checkpoint left is complete (checkpoint-10 rewritten)."""
    partial = failing.exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="uba_hf"):
        rec = LRRecorder()
        resumed = trainer(failing.parent, rec, **kw)
        resumed.train(resume_from_checkpoint="latest")
    if partial:
        assert f"Skipping incomplete checkpoint {failing}" in caplog.text
    assert resumed.state.global_step == N and rec.steps == list(range(SAVE, N))  # every update once
    pick = zero_config_schedule(N, LR)  # no phi given: the run's choice
    want = [LR * closed_form(s, W, N, pick["phi"], pick["min_lr_ratio"]) for s in range(SAVE, N)]
    assert rec.lrs == pytest.approx(want, rel=1e-12)
    assert all(checkpoint_problems(p) == [] for p in sorted_checkpoints(failing.parent))


def test_disk_full_in_the_optimizer_state_stops_with_one_line_and_latest_resumes_the_previous(
    tmp_path, monkeypatch, caplog
):
    # Room for the weights (about 100 kB) and part of the optimizer state, then ENOSPC.
    _, failing = fail(tmp_path, monkeypatch, capacity=150_000, code=errno.ENOSPC)
    assert 0 < (failing / "optimizer.pt").stat().st_size and not (failing / "trainer_state.json").exists()
    resume_latest(failing, caplog)


def test_disk_full_after_trainer_state_is_not_taken_for_complete_nor_rotates_the_previous_away(
    tmp_path, monkeypatch, caplog
):
    # Everything the Trainer writes fits (measured on the same run, uninterrupted); the schedule record does not.
    # trainer_state.json, by which a folder without a marker is judged, is there: only the pending mark says
    # that the save did not finish. With save_total_limit=1 the Trainer would already have deleted checkpoint-5
    # (the probe keeps 2: its training_args.bin has the same size).
    done = tmp_path / "probe" / "checkpoint-10"
    with monkeypatch.context() as patch:
        StorageFault(patch, done, 1 << 40, errno.ENOSPC)  # the same writers, room for all
        trainer(done.parent, save_total_limit=2).train()
    sizes = sum(p.stat().st_size for p in done.iterdir() if not p.name.startswith("uba_"))
    _, failing = fail(tmp_path, monkeypatch, capacity=sizes, code=errno.ENOSPC, save_total_limit=1)
    assert (failing / "trainer_state.json").is_file()
    with pytest.raises(ValueError, match="checkpoint-10' is incomplete"):
        resolve_resume_checkpoint(str(failing), failing.parent)
    resume_latest(failing, caplog, save_total_limit=1)
    assert [p.name for p in sorted_checkpoints(failing.parent)] == ["checkpoint-12"]  # the limit still applies


def test_storage_turned_read_only_stops_with_one_line_and_latest_resumes_the_previous(tmp_path, monkeypatch, caplog):
    error, failing = fail(tmp_path, monkeypatch, capacity=0, code=errno.EROFS)
    assert not failing.exists() and "Read-only file system" in str(error)
    resume_latest(failing, caplog)


# ------------------------------------------------------------------ a real filesystem (where this process may mount)


@pytest.fixture
def tmpfs(tmp_path):
    """A mount point with ``mount(options)``: a real tmpfs (root on Linux only; skipped elsewhere)."""
    point = tmp_path / "fs"
    point.mkdir()

    def mount(options: str, remount: bool = False) -> None:
        flags = ["-o", f"remount,{options}"] if remount else ["-t", "tmpfs", "-o", options, "tmpfs"]
        proc = subprocess.run(["mount", *flags, str(point)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")

    yield point, mount
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_a_really_full_disk(tmpfs, caplog):
    # 600 kB: checkpoint-5 (about 350 kB) fits, checkpoint-10 does not. torch.save reports a full disk as
    # "RuntimeError: ... unexpected pos": the line says what the filesystem says instead.
    point, mount = tmpfs
    mount("size=600k")
    failing = point / "out" / "checkpoint-10"
    with pytest.raises(CheckpointWriteError) as caught:
        trainer(point / "out").train()
    check_failure(caught.value, failing, errno.ENOSPC)
    assert any("no completion marker" in p for p in checkpoint_problems(failing))
    mount("size=8m", remount=True)  # space freed: resume
    resume_latest(failing, caplog)


class ReadOnlyAfter(TrainerCallback):
    def __init__(self, step: int, mount) -> None:
        self.step, self.mount = step, mount

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            self.mount("ro", remount=True)


def test_storage_really_turned_read_only(tmpfs, caplog):
    point, mount = tmpfs
    mount("size=8m")
    failing = point / "out" / "checkpoint-10"
    t = UBATrainer(
        model=tiny_olmo2(),
        args=args(point / "out"),
        train_dataset=TokenDataset(),
        callbacks=[ReadOnlyAfter(SAVE + 1, mount)],
    )
    with pytest.raises(CheckpointWriteError) as caught:
        t.train()
    check_failure(caught.value, failing, errno.EROFS)
    mount("rw", remount=True)
    resume_latest(failing, caplog)


# ---------------------------------------------------------------------------------------------- uba-pretrain


def test_uba_pretrain_exits_1_with_one_line_and_resumes_latest(tmp_path, small_text_corpus):
    """The CLI in its own process, the storage of checkpoint-4 read-only (injected as above, in that process):
    exit 1, one error line naming the folder and the cause, no traceback; ``latest`` then finishes the run
    from checkpoint-2: the run's log has every update once, at the closed-form LR."""
    out, n, w = tmp_path / "out", 6, 1
    argv = [TINY, "--output_dir", str(out), "--max_steps", str(n), "--warmup_steps", str(w), "--save_steps", "2"]
    argv += ["--eval_strategy", "no", "--logging_steps", "1", "--max_eval_blocks", "8"]
    argv += ["--dataset_name", str(small_text_corpus), "--vocab_size", "512", "--block_size", "64"]
    argv += ["--per_device_train_batch_size", "4", "--preprocessing_num_workers", "1"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "UBA_HF_CACHE": str(tmp_path / "cache")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    faulty = (
        "import errno, sys, pytest, test_checkpoint_faults as t; from uba_hf.pretrain.cli import main; "
        f"t.StorageFault(pytest.MonkeyPatch(), t.Path({str(out / 'checkpoint-4')!r}), 0, errno.EROFS); "
        "raise SystemExit(main(sys.argv[1:]))"
    )
    proc = subprocess.run([sys.executable, "-c", faulty, *argv], capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("uba-pretrain: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert str(out / "checkpoint-4") in errors[0] and "Read-only file system" in errors[0]
    assert f"newest complete checkpoint is {out / 'checkpoint-2'}" in errors[0]
    resume = [sys.executable, "-m", "uba_hf.pretrain.cli", *argv, "--resume_from_checkpoint", "latest"]
    proc = subprocess.run(resume, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    logged = [(h["step"], h["learning_rate"]) for h in history if "loss" in h]  # the run's, across the failure
    assert [step for step, _ in logged] == list(range(1, n + 1))  # every update, each once
    expected = [3e-3 * closed_form(step - 1, w, n, TINY_PHI, TINY_FLOOR) for step, _ in logged]
    assert [lr for _, lr in logged] == pytest.approx(expected, rel=1e-9)


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
