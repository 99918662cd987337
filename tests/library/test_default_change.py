"""Changing the package default is safe: a run saved under an earlier default, with no phi or floor given, resumes
on the curve it started with (the checkpoint's values are adopted, with a log line), and only values given
explicitly are checked against the checkpoint.

The checkpoints under ``tests/fixtures/release-0.2.0/`` were written by uba-hf 0.2.0 at its default (phi 1, no
floor) after 6 of 12 updates (``tests/fixtures/make_release_checkpoints.py``). Today a run without phi or floor
takes the zero-config choice (phi 0.01 with a 10% floor at these 12 updates of LR 1e-2), on the stock path and in
``UBATrainer`` alike; the first test checks that this differs from the release's default and is what a new run
gets."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from conftest import closed_form, tiny_training_args, train_tiny
from transformers import Trainer

from uba_hf import UBAArguments, UBATrainer, zero_config_schedule
from uba_hf.checkpoints import SCHEDULE_RECORD_NAME

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "release-0.2.0"
RELEASE_DEFAULT = {"phi": 1.0, "min_lr_ratio": 0.0}
N, W, LR = 12, 3, 1e-2


def expected(phi: float, min_lr_ratio: float, steps) -> list[float]:
    return [LR * closed_form(s, W, N, phi, min_lr_ratio) for s in steps]


def copy_run(tmp_path: Path, name: str) -> Path:
    shutil.copytree(FIXTURES / name, tmp_path / "out")
    return tmp_path / "out"


def args(out: Path, **kw):
    return tiny_training_args(out, max_steps=N, warmup_steps=W, lr_scheduler_type="uba", **kw)


def test_a_new_run_without_phi_gets_the_zero_config_choice_on_the_stock_path_and_in_uba_trainer(tmp_path):
    pick = zero_config_schedule(N, LR)
    new = {"phi": pick["phi"], "min_lr_ratio": pick["min_lr_ratio"]}
    assert new == {"phi": 0.01, "min_lr_ratio": 0.1} != RELEASE_DEFAULT
    for trainer_class in (Trainer, UBATrainer):
        _, rec, _ = train_tiny(trainer_class, args(tmp_path / trainer_class.__name__))
        assert rec.lrs == pytest.approx(expected(**new, steps=range(N)), rel=1e-12)


def test_uba_trainer_resumes_a_release_default_run_with_latest_on_its_own_curve(tmp_path, caplog):
    out = copy_run(tmp_path, "uba_trainer")
    with caplog.at_level(logging.INFO, logger="uba_hf"):
        trainer, rec, _ = train_tiny(UBATrainer, args(out, save_strategy="steps", save_steps=3), resume="latest")
    assert trainer.state.global_step == N and rec.steps == list(range(6, N))
    assert {k: trainer.uba_kwargs[k] for k in RELEASE_DEFAULT} == RELEASE_DEFAULT  # what ran, as it ran
    assert rec.lrs == pytest.approx(expected(**RELEASE_DEFAULT, steps=range(6, N)), rel=1e-12)
    adopted = [r.getMessage() for r in caplog.records if "UBA: resuming with" in r.getMessage()]
    assert adopted == [
        "UBA: resuming with phi=1.0, min_lr_ratio=0.0 recorded in the scheduler state (not given now: the run "
        "continues on the curve it started on)."
    ]
    # What the run continued with is what its next checkpoints record.
    record = json.loads((out / "checkpoint-12" / SCHEDULE_RECORD_NAME).read_text())
    assert {k: record[k] for k in RELEASE_DEFAULT} == RELEASE_DEFAULT


def test_uba_trainer_checks_only_the_values_given(tmp_path):
    out = copy_run(tmp_path, "uba_trainer")
    ckpt = str(out / "checkpoint-6")
    with pytest.raises(ValueError, match=r"phi: checkpoint 1.0 vs now 0.5"):
        train_tiny(UBATrainer, args(out), resume=ckpt, uba_args=UBAArguments(phi="0.5"))
    with pytest.raises(ValueError, match=r"min_lr_ratio: checkpoint 0.0 vs now 0.1"):
        train_tiny(UBATrainer, args(out), resume=ckpt, uba_args=UBAArguments(min_lr_ratio=0.1))
    # phi given and equal to the checkpoint's, the floor not given: adopted.
    _, rec, _ = train_tiny(UBATrainer, args(out), resume=ckpt, uba_args=UBAArguments(phi="1"))
    assert rec.lrs == pytest.approx(expected(**RELEASE_DEFAULT, steps=range(6, N)), rel=1e-12)


def test_stock_trainer_resumes_a_release_default_run_and_checks_only_the_values_given(tmp_path, caplog):
    out = copy_run(tmp_path, "stock_trainer")
    ckpt = str(out / "checkpoint-6")
    with caplog.at_level(logging.INFO, logger="uba_hf"):
        _, rec, _ = train_tiny(Trainer, args(out), resume=ckpt)
    assert rec.lrs == pytest.approx(expected(**RELEASE_DEFAULT, steps=range(6, N)), rel=1e-12)
    assert "UBA: resuming with phi=1.0, min_lr_ratio=0.0 recorded in the scheduler state" in caplog.text
    with pytest.raises(ValueError, match=r"phi: checkpoint 1.0 vs now 0.5"):
        train_tiny(Trainer, args(out, lr_scheduler_kwargs={"phi": 0.5}), resume=ckpt)
