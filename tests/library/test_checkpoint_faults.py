"""A checkpoint write that fails half way (disk full, storage turned read-only): the run stops with one line
that names the folder and the cause, the partial folder is never taken for a complete checkpoint, and
``latest`` resumes the previous one exactly. In one process, under ``accelerate launch`` with two (DDP and
DeepSpeed ZeRO-2, the fault on one rank only), and what the stock ``Trainer`` does instead (in one process, and
through ``uba-run`` on ZeRO-2 with two).

The faults are injected where the bytes reach storage (``open`` for writing, ``torch.save``, the safetensors
writer, ``mkdir``) for files under the failing ``checkpoint-N``: tests run as root here, and root ignores
permission bits, so ``chmod -w`` cannot make a folder read-only. Where this process may mount a filesystem
(root on Linux), the same faults also come from a real size-limited tmpfs and a real read-only remount.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    ROOT,
    TINY,
    TINY_FLOOR,
    TINY_PHI,
    LRRecorder,
    StorageFault,
    TokenDataset,
    assert_clean,
    closed_form,
    excerpt,
    rank_reports,
    run_launcher,
    stock_launch,
    tiny_launch,
    tiny_olmo2,
    tiny_training_args,
    train_tiny,
)
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from uba_hf import CheckpointWriteError, UBAConfigError, UBATrainer
from uba_hf.checkpoints import (
    COMPLETE_MARKER,
    PENDING_MARKER,
    checkpoint_problems,
    resolve_resume_checkpoint,
    sorted_checkpoints,
)
from uba_hf.zero_config import zero_config_schedule

N, W, SAVE, LR = 12, 2, 5, 1e-2


def args(out: Path, **kw):
    return tiny_training_args(out, warmup_steps=W, save_strategy="steps", save_steps=SAVE, **kw)


def trainer(out: Path, recorder: LRRecorder | None = None, **kw) -> UBATrainer:
    callbacks = [recorder] if recorder is not None else []
    return UBATrainer(model=tiny_olmo2(), args=args(out, **kw), train_dataset=TokenDataset(), callbacks=callbacks)


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
        "import errno, pathlib, sys, pytest; from conftest import StorageFault; from uba_hf.pretrain.cli import main; "
        f"StorageFault(pytest.MonkeyPatch(), pathlib.Path({str(out / 'checkpoint-4')!r}), 0, errno.EROFS); "
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


# ------------------------------------------------------------------ several processes: one rank's write fails


def agent_summary(output: str) -> tuple[dict[int, int], int]:
    """From the launcher's (torch elastic agent's) failure summary: every failed rank's exit code (-15: terminated by
    the agent) and the rank it names as the root cause (the first to fail)."""
    pattern = r"rank\s+: (\d) \(local_rank: \d\)\s+exitcode\s+: (-?\d+)"
    codes = {int(r): int(c) for r, c in re.findall(pattern, output)}
    return codes, int(re.findall(pattern, output.split("Root Cause")[-1])[0][0])


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["multi_cpu.yaml", "deepspeed_zero2.yaml"], ids=["accelerate_ddp", "zero2"])
def test_one_rank_disk_full_ends_the_launch_in_seconds_and_latest_resumes_the_previous(tmp_path, recipe):
    """``accelerate launch``, 2 CPU processes (DDP, or DeepSpeed ZeRO-2), tests/dist_scripts/train_tiny.py
    (``UBATrainer``); rank 1's storage for checkpoint-8, the second save, is full from its first byte (its RNG state
    under DDP, its optimizer partition under ZeRO-2), rank 0's is fine. Rank 1 raises ``CheckpointWriteError``, one
    line naming the folder, the cause and checkpoint-4; its process exits 1 and the launcher's agent stops rank 0:
    the launch exits 1 within seconds of the failed write (rank 0, waiting in a collective for rank 1, is released
    when rank 1's process exits: gloo reports the closed connection). Nothing marks checkpoint-8 complete;
    ``latest`` resumes checkpoint-4 with the closed-form LR at every remaining update, each once."""
    out, n, save, lr = tmp_path / "run", 12, 4, 1e-3
    failing, previous = out / "checkpoint-8", out / "checkpoint-4"
    args = ["--use_cpu", "true", "--max_steps", str(n), "--warmup_steps", "2", "--learning_rate", str(lr)]
    args += ["--save_steps", str(save), "--phi", "1.0", "--min_lr_ratio", "0.1"]

    proc = run_launcher(tiny_launch(recipe, out, *args, "--storage_fault", "1:checkpoint-8:ENOSPC"))
    exited = time.time()
    output = proc.stdout
    lines = [line for line in output.splitlines() if "CheckpointWriteError: " in line]
    failed = [line for line in lines if line.startswith("[rank1]:")]
    assert proc.returncode == 1 and len(failed) == 1, excerpt(output)
    assert f"could not write checkpoint {failing}: No space left on device ({failing}{os.sep}" in failed[0]
    assert f"the newest complete checkpoint is {previous} (continue with --resume_from_checkpoint latest)" in failed[0]
    written = Path(failed[0].split("No space left on device (")[1].split(")")[0])  # the file whose write failed
    assert written.stat().st_size == 0 and ("rank_1" in written.name or written.name == "rng_state_1.pth")
    took = exited - written.stat().st_mtime
    # The agent's summary: rank 1 failed first (exit 1); rank 0 exited 1 itself (CheckpointWriteError from the
    # collective that broke, "Connection closed by peer") or was terminated by the agent (-15), whichever came first.
    codes, root_cause = agent_summary(output)
    other = [line.split("could not write checkpoint ")[1][:160] for line in lines if line.startswith("[rank0]:")]
    print(f"{recipe}: rank 1's write failed; launcher exit {proc.returncode} {took:.1f} s later; exit codes {codes}")
    print(f"{recipe}: rank 0 said {other or 'nothing'}; gloo closed: {'Connection closed by peer' in output}")
    assert codes[1] == 1 and root_cause == 1 and codes.get(0) in (1, -15)
    assert took < 20, excerpt(output)
    assert all("No space left" not in line for line in lines if line.startswith("[rank0]:"))  # rank 0 wrote fine
    assert not list(out.glob("rank*.json")) and not (out / f"checkpoint-{n}").exists()  # nobody trained on

    # The partial folder: rank 0's files, rank 1's empty one, the pending mark, no completion marker.
    assert (failing / PENDING_MARKER).is_file() and not (failing / COMPLETE_MARKER).exists()
    assert (failing / "model.safetensors").stat().st_size > 0
    assert checkpoint_problems(failing) == [
        "no completion marker: the save was interrupted (or the folder was copied partially)"
    ]
    assert checkpoint_problems(previous) == [] and resolve_resume_checkpoint("latest", out) == str(previous)
    with pytest.raises(UBAConfigError, match=f"checkpoint-8' is incomplete.*newest complete.*{previous.name}"):
        resolve_resume_checkpoint(str(failing), out)

    resumed = run_launcher(tiny_launch(recipe, out, *args, "--resume_from_checkpoint", "latest"), timeout=300)
    assert_clean(resumed)
    assert f"Skipping incomplete checkpoint {failing}" in resumed.stdout
    assert f"resuming from {previous} (update {save} of {n})" in resumed.stdout
    want = [lr * closed_form(s, 2, n, 1.0, 0.1) for s in range(save, n)]
    for rec in rank_reports(out, 2):
        assert rec["global_step"] == n and rec["lrs"] == pytest.approx(want, rel=1e-12, abs=1e-18)  # 4..11, once
        assert sorted(map(int, rec["losses"])) == list(range(1, n + 1))  # none lost, none repeated
    assert all(checkpoint_problems(p) == [] for p in sorted_checkpoints(out))  # checkpoint-8 rewritten, complete


# ---------------------------------------------------------------------------------------------- the stock Trainer


@pytest.mark.slow
@pytest.mark.parametrize("file", ["optimizer.pt", "trainer_state.json"])
def test_stock_trainer_partial_checkpoint_is_taken_by_get_last_checkpoint_not_by_latest(
    tmp_path, monkeypatch, caplog, file
):
    """The stock ``Trainer`` (UBA through ``lr_scheduler_type="uba"``), the disk full half way through
    checkpoint-10's ``file`` (its first 1,000 bytes fit): the Trainer raises the writer's own ``OSError``, and no
    marker is written. ``trainer_state.json`` is the Trainer's last file: failing there leaves every other file
    complete and it truncated. ``get_last_checkpoint`` (run_clm's ``latest``) takes the partial folder either way,
    and resuming it fails; this package's ``latest`` (``resolve_resume_checkpoint``) skips it and resumes
    checkpoint-5 with the closed-form LR at every remaining update, each once."""
    out = tmp_path / "out"
    failing, previous = out / "checkpoint-10", out / "checkpoint-5"
    kwargs = dict(lr_scheduler_type="uba", lr_scheduler_kwargs={"phi": 1.0, "min_lr_ratio": 0.1})
    with monkeypatch.context() as patch:
        StorageFault(patch, failing / file, 1000, errno.ENOSPC)
        with pytest.raises(OSError) as caught:
            train_tiny(Trainer, args(out, **kwargs))
    assert type(caught.value) is OSError and caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(failing / file) and (failing / file).stat().st_size == 1000
    names = {p.name for p in failing.iterdir()}
    if file == "trainer_state.json":  # every file of the checkpoint is there, the last one truncated
        assert names == {p.name for p in previous.iterdir()}
    else:
        assert "trainer_state.json" not in names and "scheduler.pt" not in names

    assert get_last_checkpoint(str(out)) == str(failing)  # the stock resolver takes the partial folder
    error = json.JSONDecodeError if file == "trainer_state.json" else FileNotFoundError
    with pytest.raises(error) as resuming:  # the Trainer reads trainer_state.json first: truncated, or missing
        train_tiny(Trainer, args(out, **kwargs), resume=str(failing))
    assert file == "trainer_state.json" or resuming.value.filename == str(failing / "trainer_state.json")

    reason = "no completion marker" if file == "optimizer.pt" else "unreadable trainer_state.json"
    assert len(checkpoint_problems(failing)) == 1 and checkpoint_problems(failing)[0].startswith(reason)
    with caplog.at_level(logging.WARNING, logger="uba_hf"):
        resume = resolve_resume_checkpoint("latest", out)
    assert resume == str(previous) and f"Skipping incomplete checkpoint {failing}: {reason}" in caplog.text
    trainer_, rec, losses = train_tiny(Trainer, args(out, **kwargs), resume=resume)
    assert trainer_.state.global_step == N and rec.steps == list(range(SAVE, N))  # every remaining update once
    assert rec.lrs == pytest.approx([LR * closed_form(s, W, N, 1.0, 0.1) for s in range(SAVE, N)], rel=1e-12)
    assert sorted(losses) == list(range(1, N + 1))


@pytest.mark.slow
@pytest.mark.parametrize(
    "full", ["checkpoint-8", "checkpoint-8/rng_state_1.pth"], ids=["optimizer_partition", "rng_state"]
)
def test_stock_trainer_on_zero2_one_rank_disk_full_ends_the_launch_and_latest_resumes_the_previous(
    tmp_path, caplog, full
):
    """The stock ``Trainer`` (tests/clients/train_stock.py, ``lr_scheduler_type="uba"`` through ``uba-run``) under
    ``accelerate launch`` with DeepSpeed ZeRO-2, 2 CPU processes; rank 1's storage full at the second save, rank 0's
    fine: from checkpoint-8's first byte (rank 1's first file there is its optimizer partition, written inside the
    engine's save), or from its RNG state on (its last file, written after the engine's save). Rank 1 raises the
    writer's own ``OSError`` and exits 1; rank 0, waiting in a collective for it (the engine's closing barrier, or
    the next update's), is released when rank 1's process exits, and the launch exits 1 within seconds. Rank 0
    writes ``trainer_state.json`` only after the engine's barrier: in the second case the partial folder has it, and
    only rank 1's empty RNG file tells. ``get_last_checkpoint`` takes the partial folder either way; ``latest``
    skips it and resumes checkpoint-4 with the closed-form LR at every remaining update, each once."""
    out, n, save, lr = tmp_path / "run", 12, 4, 1e-3
    failing, previous = out / "checkpoint-8", out / "checkpoint-4"
    args = ["--lr_scheduler_type", "uba", "--lr_scheduler_kwargs", json.dumps({"phi": 1.0, "min_lr_ratio": 0.1})]
    args += ["--max_steps", str(n), "--warmup_steps", "2", "--learning_rate", str(lr), "--save_steps", str(save)]
    args += ["--per_device_train_batch_size", "4", "--logging_steps", "1", "--report_to", "none"]
    args += ["--disable_tqdm", "true", "--seed", "0", "--use_cpu", "true"]

    proc = run_launcher(stock_launch("deepspeed_zero2.yaml", out, *args, "--storage_fault", f"1:{full}:ENOSPC"))
    exited = time.time()
    output = proc.stdout
    # Rank 1: the writer's own error, with its traceback (nothing of this package's one line on this path).
    failed = [line for line in output.splitlines() if line.startswith("[rank1]: OSError: ")]
    assert proc.returncode == 1 and len(failed) == 1 and "CheckpointWriteError" not in output, excerpt(output)
    partition = failing / "global_step8" / "zero_pp_rank_1_mp_rank_00_optim_states.pt"
    written = partition if full == "checkpoint-8" else failing / "rng_state_1.pth"
    assert failed[0] == f"[rank1]: OSError: [Errno 28] No space left on device: '{written}'"
    assert written.stat().st_size == 0
    took = exited - written.stat().st_mtime
    # Rank 0: released from the collective by the closed connection, then exits 1 itself or is terminated by the
    # agent (-15), whichever comes first; where it waited, when it printed its error before the agent's SIGTERM.
    codes, root_cause = agent_summary(output)
    assert codes[1] == 1 and root_cause == 1 and codes.get(0) in (1, -15), excerpt(output)
    rank0 = [line for line in output.splitlines() if line.startswith("[rank0]: ")]
    frame = r'site-packages/((?:deepspeed/runtime|transformers|accelerate/accelerator)[\w/]*\.py)", line \d+, in (\w+)'
    waited = [":".join(f) for f in re.findall(frame, "\n".join(rank0))][-2:]  # the innermost, wrappers left out
    print(f"stock Trainer on ZeRO-2, rank 1 full at {written.name}: launcher exit {proc.returncode} {took:.1f} s after")
    print(f"  the failed write; exit codes {codes}; rank 0 printed {rank0[-1][:90] if rank0 else 'nothing'!r}")
    print(f"  rank 0 waited in {waited}")
    assert all("Connection closed by peer" in line for line in rank0 if "Error: " in line), excerpt(output)
    if waited:  # the engine's closing barrier; the next update's first collective (num_items_in_batch)
        engine_save, next_update = "deepspeed/runtime/engine.py:save_checkpoint", "accelerate/accelerator.py:gather"
        assert waited[-1] == (engine_save if full == "checkpoint-8" else next_update), waited
    assert took < 15, excerpt(output)
    assert not list(out.glob("rank*.json")) and not (out / f"checkpoint-{n}").exists()  # nobody trained on

    # The partial folder. Rank 0's partition and DeepSpeed's own `latest` tag are there in both cases: the tag names
    # global_step8 also where rank 1's partition in it is empty.
    assert (failing / "global_step8" / "zero_pp_rank_0_mp_rank_00_optim_states.pt").stat().st_size > 0
    assert (failing / "latest").read_text() == "global_step8"
    if full == "checkpoint-8":
        assert not (failing / "trainer_state.json").exists() and not list(failing.glob("rng_state*"))
        reason = "no completion marker"
    else:
        assert partition.stat().st_size > 0 and (failing / "rng_state_0.pth").stat().st_size > 0
        assert json.loads((failing / "trainer_state.json").read_text())["global_step"] == 8  # reads fine
        reason = "rng_state_1.pth is truncated (0 bytes"
    assert get_last_checkpoint(str(out)) == str(failing)  # the stock resolver takes the partial folder
    assert len(checkpoint_problems(failing)) == 1 and checkpoint_problems(failing)[0].startswith(reason)
    with caplog.at_level(logging.WARNING, logger="uba_hf"):
        resume = resolve_resume_checkpoint("latest", out)
    assert resume == str(previous) and f"Skipping incomplete checkpoint {failing}: {reason}" in caplog.text

    # Resume what `latest` gave, through the same launch.
    resumed = run_launcher(stock_launch("deepspeed_zero2.yaml", out, *args, "--resume_from_checkpoint", resume))
    assert_clean(resumed)
    want = [lr * closed_form(s, 2, n, 1.0, 0.1) for s in range(save, n)]
    for rec in rank_reports(out, 2):
        assert rec["resumed_from"] == str(previous) and rec["global_step"] == n and rec["zero_stage"] == 2
        assert sorted(map(int, rec["lrs"])) == list(range(save, n))  # each remaining update once
        assert list(rec["lrs"].values()) == pytest.approx(want, rel=1e-12, abs=1e-18)
        assert rec["logged_steps"] == list(range(1, n + 1))  # none lost, none repeated
    assert all(checkpoint_problems(p) == [] for p in sorted_checkpoints(out))  # checkpoint-8 rewritten, whole
