"""Kill it, resume it, corrupt it: the budget and the LR sequence come out right."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from conftest import TINY, TINY_FLOOR, TINY_PHI, LRRecorder, TokenDataset, closed_form, tiny_olmo2, tiny_training_args
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import TrainingArguments

from uba_hf import UBATrainer, uba_lr_lambda
from uba_hf.checkpoints import COMPLETE_MARKER, checkpoint_problems, resolve_resume_checkpoint
from uba_hf.zero_config import zero_config_schedule

ROOT = Path(__file__).resolve().parents[2]
N, W, SAVE = 30, 3, 10
RUN_ARGS = [
    TINY,
    "--max_steps",
    str(N),
    "--warmup_steps",
    str(W),
    "--save_steps",
    str(SAVE),
    "--save_total_limit",
    "2",
    "--eval_strategy",
    "no",
    "--logging_steps",
    "1",
    "--max_eval_blocks",
    "16",
]


class Job(NamedTuple):
    """Where this module's runs cache their tokenizer, and the small corpus they train on: the recipe's corpus
    and 16 x 128-token updates only made each of the five runs minutes long, to show the same resumes."""

    cache: Path
    corpus: Path


SMALL = ["--vocab_size", "512", "--block_size", "64", "--per_device_train_batch_size", "4"]
SMALL += ["--preprocessing_num_workers", "1"]


def popen(out: Path, job: Job, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "UBA_HF_CACHE": str(job.cache)}
    args = [*RUN_ARGS, *SMALL, "--dataset_name", str(job.corpus), "--output_dir", str(out), *extra]
    return subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "pretrain.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, f"run ended before {path} appeared: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline, f"timed out waiting for {path}"
        time.sleep(0.05)


def train_logs(out: Path) -> dict[int, dict]:
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return {h["step"]: h for h in history if "loss" in h}


@pytest.fixture(scope="module")
def job(tmp_path_factory, small_text_corpus) -> Job:
    return Job(tmp_path_factory.mktemp("cache"), small_text_corpus)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, job):
    out = tmp_path_factory.mktemp("ref") / "run"
    code, _, err = finish(popen(out, job))
    assert code == 0, err[-3000:]
    return out


def assert_same_run(resumed: Path, reference: Path) -> None:
    got, ref = train_logs(resumed), train_logs(reference)
    assert sorted(got) == sorted(ref) == list(range(1, N + 1))  # no update lost or repeated
    assert [got[s]["learning_rate"] for s in got] == [ref[s]["learning_rate"] for s in ref]  # identical LR
    for s in got:
        assert got[s]["learning_rate"] == pytest.approx(3e-3 * closed_form(s - 1, W, N, TINY_PHI, TINY_FLOOR), rel=1e-9)
    # Same data order and state: the loss curves agree tightly.
    assert [got[s]["loss"] for s in got] == pytest.approx([ref[s]["loss"] for s in ref], rel=1e-4)
    assert json.loads((resumed / "metrics.json").read_text())["global_step"] == N


def signal_after_first_checkpoint(out: Path, job: Job, sig: int) -> tuple[int, str, str]:
    """Start a run, send ``sig`` once checkpoint-10 is complete, and wait for the process to end."""
    proc = popen(out, job)
    wait_for(out / "checkpoint-10" / COMPLETE_MARKER, proc)
    proc.send_signal(sig)
    return finish(proc)


@pytest.mark.slow
def test_sigkill_then_resume_latest_equals_uninterrupted(tmp_path, job, reference):
    out = tmp_path / "run"
    code, _, _ = signal_after_first_checkpoint(out, job, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not (out / "metrics.json").exists()
    code, stdout, err = finish(popen(out, job, "--resume_from_checkpoint", "latest"))
    assert code == 0, err[-3000:]
    assert_same_run(out, reference)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_then_resumes(tmp_path, job, reference):
    out = tmp_path / "run"
    code, stdout, err = signal_after_first_checkpoint(out, job, signal.SIGTERM)
    assert code == 143, err[-3000:]
    step = int(stdout.split("pre-empted at update ")[1].split("/")[0])
    assert 10 <= step < N
    assert checkpoint_problems(out / f"checkpoint-{step}") == []
    code, _, err = finish(popen(out, job, "--resume_from_checkpoint", "latest"))
    assert code == 0, err[-3000:]
    assert_same_run(out, reference)


@pytest.mark.slow
def test_truncated_or_partial_checkpoint_is_detected(tmp_path, reference):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    good, newest = run / "checkpoint-20", run / "checkpoint-30"
    assert checkpoint_problems(good) == [] and checkpoint_problems(newest) == []
    # Truncate the newest checkpoint's weights, as a crash or a full disk would.
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    problems = checkpoint_problems(newest)
    assert len(problems) == 1 and "model.safetensors" in problems[0] and "truncated" in problems[0]
    with pytest.raises(ValueError, match=r"checkpoint-30' is incomplete or corrupt.*newest complete.*checkpoint-20"):
        resolve_resume_checkpoint(str(newest), run)
    assert resolve_resume_checkpoint("latest", run) == str(good)  # skipped in favour of the previous one
    # A save interrupted before its marker: also skipped.
    (good / COMPLETE_MARKER).unlink()
    assert "no completion marker" in checkpoint_problems(good)[0]
    with pytest.raises(ValueError, match="no complete checkpoint"):
        resolve_resume_checkpoint(True, run)


@pytest.mark.slow
def test_save_total_limit_keeps_the_good_checkpoints(reference):
    assert sorted(p.name for p in reference.glob("checkpoint-*")) == ["checkpoint-20", "checkpoint-30"]


def tiny_args(tmp_path, **kw) -> TrainingArguments:
    return tiny_training_args(tmp_path / "out", **{"warmup_steps": 2, "save_strategy": "steps", "save_steps": 5, **kw})


def test_resume_with_another_accumulation_factor_keeps_the_budget(tmp_path):
    UBATrainer(model=tiny_olmo2(), args=tiny_args(tmp_path), train_dataset=TokenDataset(n=256)).train()
    rec = LRRecorder()
    trainer = UBATrainer(
        model=tiny_olmo2(),
        args=tiny_args(tmp_path, gradient_accumulation_steps=3),
        train_dataset=TokenDataset(n=256),
        callbacks=[rec],
    )
    trainer.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-5"))
    assert trainer.state.global_step == 12 and rec.steps == list(range(5, 12))
    pick = zero_config_schedule(12, 1e-2)  # no phi: the run's choice
    want = [1e-2 * closed_form(s, 2, 12, pick["phi"], pick["min_lr_ratio"]) for s in range(5, 12)]
    assert rec.lrs == pytest.approx(want, rel=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    phi=st.floats(min_value=1e-6, max_value=1e6),
    budget=st.integers(min_value=1, max_value=10**7),
    warmup_frac=st.floats(min_value=0.0, max_value=1.0),
    step_frac=st.floats(min_value=0.0, max_value=10.0),
    min_ratio=st.floats(min_value=0.0, max_value=0.999),
)
def test_multiplier_is_finite_nonnegative_and_bounded(phi, budget, warmup_frac, step_frac, min_ratio):
    warmup = int(warmup_frac * budget)
    step = int(step_frac * budget)
    value = uba_lr_lambda(step, num_warmup_steps=warmup, num_training_steps=budget, phi=phi, min_lr_ratio=min_ratio)
    assert math.isfinite(value) and 0.0 <= value <= 1.0
    if step >= warmup:
        assert value >= min_ratio - 1e-12


def test_checkpoint_files_load_without_executing_code(tmp_path):
    """Scheduler and optimizer states load with weights_only=True (no pickled code)."""
    UBATrainer(model=tiny_olmo2(), args=tiny_args(tmp_path, max_steps=5), train_dataset=TokenDataset()).train()
    ckpt = tmp_path / "out" / "checkpoint-5"
    for name in ("scheduler.pt", "optimizer.pt"):
        torch.load(ckpt / name, weights_only=True)


def test_yaml_recipe_cannot_run_code(tmp_path, capsys):
    from uba_hf.pretrain.cli import main

    marker = tmp_path / "pwned"
    recipe = tmp_path / "evil.yaml"
    recipe.write_text(f'max_steps: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert main([str(recipe)]) == 2
    assert not marker.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a valid YAML recipe" in err[0]
