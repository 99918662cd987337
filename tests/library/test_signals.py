"""Signals on every path a CPU can run: SIGTERM and Ctrl-C with ``PreemptionCallback`` on the stock ``Trainer``
through ``uba-run`` (one process and ``accelerate launch`` with two), a SIGKILLed rank under ``UBATrainer``
(``accelerate launch``, DeepSpeed ZeRO-2), Ctrl-C on ``uba-pretrain`` under ``accelerate launch``, and SIGTERM and
Ctrl-C on ``uba-pretrain`` under ``accelerate launch`` with DeepSpeed ZeRO-2.

Every run is real: a launcher started in its own session, signalled as a terminal (Ctrl-C: the foreground
process group) or a scheduler would. ``accelerate launch`` starts its workers in sessions of their own, so the
signal reaches the launcher, whose agent passes it on to every worker once. The resumes are compared with the
closed form of docs/schedule.md at every update, and every update must run exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    ACCELERATE,
    PORT_TAKEN,
    TINY,
    TINY_FLOOR,
    TINY_PHI,
    assert_clean,
    closed_form,
    excerpt,
    free_port,
    popen_group,
    rank_reports,
    run_launcher,
    tiny_launch,
)

from uba_hf.checkpoints import COMPLETE_MARKER, checkpoint_problems

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLIENT = str(ROOT / "tests" / "clients" / "train_stock.py")
LR, W, N, SAVE, PHI, RATIO = 1e-3, 2, 12, 4, 1.0, 0.1
CPU_ENV = {"ACCELERATE_USE_CPU": "1"}  # Accelerate does not pass multi_cpu.yaml's use_cpu on (see the recipe)


def expected(steps, phi: float = PHI, ratio: float = RATIO) -> list[float]:
    return [LR * closed_form(s, W, N, phi, ratio) for s in steps]


def start(cmd: Callable[[], list[str]], paths: list[Path], timeout: float = 240, **env: str) -> subprocess.Popen:
    """Start ``cmd()`` in its own session (process group), as a shell starts a foreground job, and wait until every
    one of ``paths`` exists. Once more, with a fresh port, if the rendezvous port was taken meanwhile (as
    conftest.run_launcher)."""
    for attempt in (1, 2):
        proc = popen_group(cmd(), **env)
        deadline = time.time() + timeout
        while not all(p.exists() for p in paths):
            if proc.poll() is not None:
                output = proc.stdout.read()
                if attempt == 1 and any(sign in output for sign in PORT_TAKEN):
                    break
                pytest.fail(f"the run ended (exit {proc.returncode}) before {paths} appeared:\n{output[-12000:]}")
            if time.time() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"no {paths} within {timeout} s:\n{excerpt(proc.communicate()[0])}")
            time.sleep(0.05)
        else:
            return proc
    raise AssertionError("unreachable")


def ended(proc: subprocess.Popen, since: float, timeout: float = 120) -> tuple[str, float]:
    """The launcher's output and how many seconds after ``since`` it exited; a hang fails the test."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"still running {timeout} s after the signal:\n{excerpt(proc.communicate()[0])}")
    return out, time.time() - since


# ------------------------------------------------------------------ the stock Trainer + PreemptionCallback


LAUNCHES = {"one_process": 1, "accelerate_2": 2, "zero2": 2}  # processes


def stock(out: Path, launch: str, *extra: str) -> list[str]:
    """tests/clients/train_stock.py (the stock Trainer) through uba-run: alone, under accelerate launch (DDP), or
    under accelerate launch with DeepSpeed ZeRO-2."""
    args = [
        *("--output_dir", str(out), "--lr_scheduler_type", "uba"),
        *("--lr_scheduler_kwargs", json.dumps({"phi": PHI, "min_lr_ratio": RATIO})),
        *("--max_steps", str(N), "--warmup_steps", str(W), "--learning_rate", str(LR), "--save_steps", str(SAVE)),
        *("--per_device_train_batch_size", "4", "--logging_steps", "1", "--report_to", "none"),
        *("--disable_tqdm", "true", "--seed", "0", "--preemption", "true", *extra),
    ]
    if launch == "one_process":
        return [sys.executable, "-m", "uba_hf.run", CLIENT, *args, "--use_cpu", "true"]
    if launch == "zero2":
        recipe = str(ROOT / "recipes" / "accelerate" / "deepspeed_zero2.yaml")
        args += ["--use_cpu", "true"]
    else:  # the multi-CPU recipe's own command: ACCELERATE_USE_CPU=1 (CPU_ENV), no --use_cpu
        recipe = str(ROOT / "recipes" / "accelerate" / "multi_cpu.yaml")
    port = str(free_port())
    return [*ACCELERATE, recipe, "--num_processes", "2", "--main_process_port", port, "-m", "uba_hf.run", CLIENT, *args]


@pytest.mark.parametrize("launch", list(LAUNCHES))
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stock_trainer_preemption_callback_saves_exits_and_resumes_exactly(tmp_path, launch, sig):
    """Signal the launcher's process group after checkpoint-4 (Ctrl-C at a terminal; SIGTERM as SLURM's scancel):
    every rank stops at the same update S and saves checkpoint-S, the launcher exits 128 + signal; resuming that
    checkpoint runs updates S..N-1 once each, at the closed-form LR."""
    processes, env = LAUNCHES[launch], CPU_ENV if launch == "accelerate_2" else {}
    out = tmp_path / "run"
    ckpt = out / f"checkpoint-{SAVE}"
    saved = [ckpt / "trainer_state.json", *(ckpt / f"rng_state_{r}.pth" for r in range(1, processes))]
    proc = start(lambda: stock(out, launch, "--step_sleep", "0.5"), saved, **env)
    os.killpg(proc.pid, sig)
    output, took = ended(proc, time.time())
    print(f"{launch}, {sig.name}: exit {proc.returncode} {took:.1f} s after the signal")
    assert proc.returncode == 128 + sig, excerpt(output)
    assert output.count(f"Received signal {int(sig)}: saving a checkpoint") == processes
    recs = rank_reports(out, processes)
    stop = recs[0]["global_step"]
    assert SAVE <= stop < N
    for rec in recs:  # every rank stopped at the same update, each for the signal it was sent
        assert rec["preempted"] and rec["signal_received"] == rec["stop_signal"] == sig and rec["global_step"] == stop
        assert rec["logged_steps"] == list(range(1, stop + 1))
        assert list(map(float, rec["lrs"].values())) == pytest.approx(expected(range(stop)), rel=1e-12, abs=1e-18)
    saved = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert saved == sorted({SAVE, stop})  # the one saved on the signal, nothing later
    engine_state = [f"global_step{stop}"] if launch == "zero2" else ["scheduler.pt", "optimizer.pt"]
    for name in ("trainer_state.json", "model.safetensors", *engine_state):
        assert (out / f"checkpoint-{stop}" / name).exists(), name
    assert all((out / f"checkpoint-{stop}" / f"rng_state_{r}.pth").exists() for r in range(1, processes))

    resumed = run_launcher(
        stock(out, launch, "--resume_from_checkpoint", str(out / f"checkpoint-{stop}")), timeout=300, **env
    )
    assert_clean(resumed)
    for rec in rank_reports(out, processes):
        assert rec["resumed_from"].endswith(f"checkpoint-{stop}") and rec["global_step"] == N
        assert sorted(map(int, rec["lrs"])) == list(range(stop, N))  # each remaining update once
        assert list(rec["lrs"].values()) == pytest.approx(expected(range(stop, N)), rel=1e-12, abs=1e-18)
        assert rec["logged_steps"] == list(range(1, N + 1))  # none lost, none repeated


# ------------------------------------------------------------------ a SIGKILLed rank under UBATrainer


def worker_of(proc: subprocess.Popen, rank: int):
    """The launcher's worker process of ``rank`` (a ``psutil.Process``)."""
    import psutil

    found = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.environ().get("RANK") == str(rank)]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("recipe", ["multi_cpu.yaml", "deepspeed_zero2.yaml"], ids=["accelerate_ddp", "zero2"])
def test_uba_trainer_killed_rank_ends_the_launch_and_latest_resumes_exactly(tmp_path, recipe):
    """SIGKILL rank 1 once checkpoint-4 is complete (its marker written): the launcher exits non-zero within
    seconds; ``--resume_from_checkpoint latest`` resumes checkpoint-4 at the closed-form LR, every update once."""
    out = tmp_path / "run"
    args = [
        *("--use_cpu", "true", "--max_steps", str(N), "--warmup_steps", str(W), "--learning_rate", str(LR)),
        *("--save_steps", str(SAVE), "--phi", str(PHI), "--min_lr_ratio", str(RATIO)),
    ]

    def launch(*extra: str) -> list[str]:
        return tiny_launch(recipe, out, *args, *extra)

    proc = start(lambda: launch("--step_sleep", "0.5"), [out / f"checkpoint-{SAVE}" / COMPLETE_MARKER])
    worker_of(proc, rank=1).kill()
    output, took = ended(proc, time.time(), timeout=60)
    print(f"{recipe}: launcher exited {proc.returncode} {took:.1f} s after SIGKILL of rank 1")
    assert proc.returncode != 0, excerpt(output)
    assert not list(out.glob("rank*.json"))  # nobody finished
    assert all(checkpoint_problems(p) for p in out.glob("checkpoint-*") if p.name != f"checkpoint-{SAVE}")

    resumed = run_launcher(launch("--resume_from_checkpoint", "latest"), timeout=300)
    assert_clean(resumed)
    assert f"resuming from {out / f'checkpoint-{SAVE}'} (update {SAVE} of {N})" in resumed.stdout
    for rec in rank_reports(out, 2):
        assert rec["global_step"] == N and rec["scheduler_kwargs"]["phi"] == PHI
        assert rec["lrs"] == pytest.approx(expected(range(SAVE, N)), rel=1e-12, abs=1e-18)  # updates 4..11, once
        assert sorted(map(int, rec["losses"])) == list(range(1, N + 1))  # none lost, none repeated


# ------------------------------------------------------------------ Ctrl-C on uba-pretrain under accelerate


@pytest.mark.parametrize("to", ["launcher", "rank_1"])
def test_uba_pretrain_ctrl_c_under_accelerate_stops_every_rank_at_one_update(tmp_path, small_text_corpus, to):
    """Ctrl-C once checkpoint-3 is complete: both ranks stop at the same update S, checkpoint-S is complete (rank 1's
    RNG state in it) and nothing later is saved. ``launcher``: SIGINT to the foreground process group, as a terminal
    sends it; exit 130. ``rank_1``: SIGINT to rank 1 alone (``kill -INT`` of one worker): rank 0 learns it through
    the all-reduced signal and stops at the same update; both exit 130, but the first to exit is a failure to the
    launcher's agent, which terminates the other (past its save: the completion marker is written between two
    barriers) and exits 1."""
    out = tmp_path / "run"

    def cmd() -> list[str]:
        recipe = str(ROOT / "recipes" / "accelerate" / "multi_cpu.yaml")
        return [
            *ACCELERATE, recipe, "--main_process_port", str(free_port()),
            str(ROOT / "scripts" / "pretrain.py"), TINY, "--dataset_name", str(small_text_corpus),
            *("--vocab_size", "512", "--block_size", "64", "--per_device_train_batch_size", "4"),
            *("--max_steps", "200", "--warmup_steps", "2", "--save_steps", "3", "--eval_strategy", "no"),
            *("--logging_steps", "1", "--preprocessing_num_workers", "1", "--output_dir", str(out)),
            *("--log_level_replica", "warning"),  # rank 1 says when it got the signal too
        ]  # fmt: skip

    proc = start(
        cmd, [out / "checkpoint-3" / COMPLETE_MARKER], timeout=400, UBA_HF_CACHE=str(tmp_path / "cache"), **CPU_ENV
    )
    if to == "launcher":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        worker_of(proc, rank=1).send_signal(signal.SIGINT)
    output, took = ended(proc, time.time())
    print(f"uba-pretrain under accelerate, Ctrl-C to {to}: exit {proc.returncode} {took:.1f} s after the signal")
    assert took < 30, "the agent kills workers still running 30 s after it passed the signal on"
    assert "interrupted; nothing saved" not in output, excerpt(output)
    if to == "launcher":
        # accelerate launch exits 128 + the signal it got once its agent has stopped the workers, whatever their
        # exit codes: that each rank stopped cleanly shows in the output (no traceback) and the checkpoint.
        assert proc.returncode == 130, excerpt(output)
        assert output.count("Received signal 2: saving a checkpoint") == 2  # each rank, once
        assert "Traceback" not in output, excerpt(output)
    else:
        assert proc.returncode == 1 and "exitcode  : 130" in output, excerpt(output)
        assert "exitcode  : 143" not in output  # rank 0 exits for Ctrl-C too, unless the agent terminated it first
        assert output.count("Received signal 2: saving a checkpoint") == 1  # rank 1 only
        assert "(SIGINT): checkpoint-" in output  # rank 0 stopped for rank 1's signal, and knows which
    assert output.count("pre-empted at update ") == 1  # the main process says where
    stop = int(output.split("pre-empted at update ")[1].split("/")[0])
    assert 3 <= stop < 200
    ckpt = out / f"checkpoint-{stop}"
    assert checkpoint_problems(ckpt) == [] and (ckpt / "rng_state_1.pth").exists()  # rank 1 saved there too
    assert max(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*")) == stop
    history = json.loads((ckpt / "trainer_state.json").read_text())["log_history"]
    assert [h["step"] for h in history if "loss" in h] == list(range(1, stop + 1))


# ------------------------------------------------------------------ SIGTERM and Ctrl-C on uba-pretrain on ZeRO-2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_uba_pretrain_on_zero2_stops_every_rank_at_one_update_and_resumes_exactly(tmp_path, small_text_corpus, sig):
    """``uba-pretrain`` under ``accelerate launch`` with recipes/accelerate/deepspeed_zero2.yaml (2 CPU processes),
    signalled in its process group once checkpoint-3 is complete (SIGTERM as a scheduler sends it, SIGINT as a
    terminal's Ctrl-C): the agent passes the signal on to both ranks, both stop at the same update S and save
    checkpoint-S (both ranks' ZeRO partitions, rank 1's RNG state), nothing later; the launcher exits 128 + signal.
    ``latest`` then resumes checkpoint-S: every update of the budget logged once, at the closed-form LR."""
    out, n = tmp_path / "run", 12

    def cmd(*extra: str) -> list[str]:
        recipe = str(ROOT / "recipes" / "accelerate" / "deepspeed_zero2.yaml")
        return [
            *ACCELERATE, recipe, "--num_processes", "2", "--main_process_port", str(free_port()),
            str(ROOT / "scripts" / "pretrain.py"), TINY, "--dataset_name", str(small_text_corpus),
            *("--vocab_size", "512", "--block_size", "64", "--per_device_train_batch_size", "4"),
            *("--max_steps", str(n), "--warmup_steps", "2", "--save_steps", "3", "--eval_strategy", "no"),
            *("--logging_steps", "1", "--preprocessing_num_workers", "1", "--output_dir", str(out)),
            *("--log_level_replica", "warning", *extra),  # rank 1 says when it got the signal too
        ]  # fmt: skip

    cache = {"UBA_HF_CACHE": str(tmp_path / "cache")}
    proc = start(cmd, [out / "checkpoint-3" / COMPLETE_MARKER], timeout=400, **cache)
    os.killpg(proc.pid, sig)
    output, took = ended(proc, time.time())
    assert proc.returncode == 128 + sig and took < 30, excerpt(output)  # the agent kills workers left after 30 s
    assert output.count(f"Received signal {int(sig)}: saving a checkpoint") == 2  # each rank, once
    assert "Traceback" not in output and "interrupted; nothing saved" not in output, excerpt(output)
    assert output.count("pre-empted at update ") == 1  # the main process says where
    stop = int(output.split("pre-empted at update ")[1].split("/")[0])
    print(f"uba-pretrain on ZeRO-2, {sig.name} to the process group: stopped at update {stop}, exit {proc.returncode} "
          f"{took:.1f} s after the signal")  # fmt: skip
    assert 3 <= stop < n
    ckpt = out / f"checkpoint-{stop}"
    assert checkpoint_problems(ckpt) == [] and (ckpt / "rng_state_1.pth").exists()  # rank 1 saved there too
    assert [p.name for p in ckpt.glob("global_step*")] == [f"global_step{stop}"]  # the engine saved once, there
    for rank in (0, 1):  # each rank's optimizer partition, at that update
        assert (ckpt / f"global_step{stop}" / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt").stat().st_size > 0
    assert max(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*")) == stop

    resumed = run_launcher(cmd("--resume_from_checkpoint", "latest"), timeout=300, **cache)
    assert_clean(resumed)
    assert f"resuming from {ckpt} (update {stop} of {n})" in resumed.stdout
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    logged = [(h["step"], h["learning_rate"]) for h in history if "loss" in h]  # the run's, across the signal
    assert [step for step, _ in logged] == list(range(1, n + 1))  # every update, each once
    want = [3e-3 * closed_form(step - 1, 2, n, TINY_PHI, TINY_FLOOR) for step, _ in logged]  # the recipe's peak LR
    assert [lr for _, lr in logged] == pytest.approx(want, rel=1e-9)
