"""Random kills and random checkpoint write faults (issue 38): short fixed-seed versions of the chaos benchmark
(benchmarks/reliability/chaos.py, whose README has the long runs and their figures).

* Random write faults, in this process (``UBATrainer``, the tiny model): a seeded sequence of faults at random
  points of the checkpoint writer (a full disk after a random number of bytes, leaving that file truncated;
  storage turned read-only; a complete checkpoint's file cut short at rest), each followed by a resume from
  ``latest``. Every fault is one ``CheckpointWriteError`` line naming the folder and the cause; the run reaches its
  budget with every update once, the closed-form LR at each, and the uninterrupted run's weights, bit for bit.
* Random kills of the real ``uba-pretrain`` (subprocess, SIGKILL aimed at checkpoint writes), through the benchmark
  script itself with a fixed seed.
"""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, LRRecorder, StorageFault, TokenDataset, closed_form, tiny_olmo2, tiny_training_args

from uba_hf import CheckpointWriteError, UBATrainer
from uba_hf.checkpoints import checkpoint_problems, latest_complete_checkpoint, sorted_checkpoints
from uba_hf.zero_config import zero_config_schedule

N, W, SAVE, LR = 8, 2, 2, 1e-2
CHAOS = ROOT / "benchmarks" / "reliability" / "chaos.py"


def make_trainer(out: Path, recorder: LRRecorder | None = None) -> UBATrainer:
    args = tiny_training_args(out, max_steps=N, warmup_steps=W, save_strategy="steps", save_steps=SAVE)
    args.save_total_limit = 2
    callbacks = [recorder] if recorder is not None else []
    return UBATrainer(model=tiny_olmo2(), args=args, train_dataset=TokenDataset(n=256), callbacks=callbacks)


def test_random_checkpoint_write_faults_fixed_seed(tmp_path):
    reference = make_trainer(tmp_path / "reference")
    reference.train()
    want = reference.model.state_dict()

    rng, out = random.Random(38), tmp_path / "out"
    faults: list[str] = []
    kinds = {"ENOSPC": 0, "EROFS": 0, "truncated": 0}
    recorder = LRRecorder()
    for _attempt in range(30):
        latest = latest_complete_checkpoint(out, quiet=True)
        assert latest is None or checkpoint_problems(latest) == []
        done = int(latest.name.split("-")[1]) if latest else 0
        if len(faults) < 5:
            kind = rng.choice(["ENOSPC", "EROFS", "truncated"])
            complete = [p for p in sorted_checkpoints(out) if not checkpoint_problems(p)]
            if kind == "truncated" and complete:  # at rest: a complete checkpoint's file cut short, as a partial copy
                victim = rng.choice(complete)
                cut = rng.choice(sorted(p for p in victim.iterdir() if p.is_file() and not p.name.startswith("uba_")))
                os.truncate(cut, rng.randrange(0, cut.stat().st_size))
                assert checkpoint_problems(victim) != []
                kinds[kind] += 1
                faults.append(f"{victim.name}/{cut.name} cut short")
                continue
            kind = "ENOSPC" if kind == "truncated" else kind
            failing = out / f"checkpoint-{min(N, done + SAVE * rng.randint(1, 2))}"
            capacity = rng.randrange(0, 300_000) if kind == "ENOSPC" else 0  # a checkpoint here is ~350 kB
            with pytest.MonkeyPatch.context() as patch:
                StorageFault(patch, failing, capacity, getattr(errno, kind))
                with pytest.raises(CheckpointWriteError) as caught:
                    make_trainer(out, recorder).train(resume_from_checkpoint=str(latest) if latest else None)
            message = str(caught.value)
            assert "\n" not in message and message.startswith(f"could not write checkpoint {failing}: "), message
            assert os.strerror(getattr(errno, kind)) in message, message
            assert not (failing / "uba_checkpoint.json").exists()
            kinds[kind] += 1
            faults.append(message)
            continue
        final = make_trainer(out, recorder)
        final.train(resume_from_checkpoint=str(latest) if latest else None)
        break
    assert kinds == {"ENOSPC": 3, "EROFS": 1, "truncated": 1}  # what seed 38 draws; every write fault was hit
    logged = [(h["step"], h["learning_rate"]) for h in final.state.log_history if "loss" in h]
    assert [s for s, _ in logged] == list(range(1, N + 1))  # every update once, across the failures
    pick = zero_config_schedule(N, LR)
    expected = [LR * closed_form(s - 1, W, N, pick["phi"], pick["min_lr_ratio"]) for s, _ in logged]
    assert [lr for _, lr in logged] == pytest.approx(expected, rel=1e-12)
    got = final.model.state_dict()
    assert all(torch.equal(got[name], want[name]) for name in want)  # bit for bit the uninterrupted run's weights


@pytest.mark.slow
def test_random_kills_of_uba_pretrain_fixed_seed(tmp_path):
    """The benchmark script: the real ``uba-pretrain`` (one process), SIGKILLed twice, each time a random 0-50 ms
    after it began writing a new checkpoint folder, resumed with ``latest`` each time (seed 38)."""
    results = tmp_path / "results.json"
    cmd = [sys.executable, str(CHAOS), "--path", "pretrain", "--mode", "kill", "--seed", "38", "--events", "2"]
    cmd += ["--max_steps", "8", "--save_steps", "2", "--warmup_steps", "2", "--write_share", "1", "--write_window"]
    cmd += ["0.05", "--work", str(tmp_path), "--results", str(results)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert results.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(results.read_text())
    assert r["checks"] == dict.fromkeys(
        ["finished", "updates_once", "lr_closed_form", "weights_equal", "resumes_complete"], True
    ), r
    assert proc.returncode == 0 and r["verdict"] == "pass"
    assert r["kills"] == 2 and r["kills_aimed_at_write"] == 2
    assert r["lost_updates"] == 0 and r["repeated_updates"] == 0 and r["final_max_abs_diff"] == 0.0
    assert r["lr_max_rel_error"] <= 1e-9
