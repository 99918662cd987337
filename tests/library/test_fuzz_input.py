"""Fuzzed input (issue 38): short fixed-seed versions of benchmarks/reliability/fuzz.py. Every input either runs or is
refused with one line that names the argument (``UBAConfigError``; ``uba-pretrain``: exit 2, one
``uba-pretrain: error:`` line, no traceback, nothing written)."""

from __future__ import annotations

import logging
import math
from collections import Counter

import pytest
from conftest import ROOT, TINY, tiny_olmo2, tiny_training_args
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability.fuzz import CliFuzz, fuzz_cli, fuzz_kwargs

from uba_hf import UBAConfigError, UBATrainer, uba_lr_lambda

assert (ROOT / "benchmarks" / "reliability" / "fuzz.py").is_file()


def problems(records: list[dict]) -> list[dict]:
    return [r for r in records if r["outcome"] not in ("ran", "refused")]


def test_fuzzed_lr_scheduler_kwargs_run_or_are_refused_in_one_line():
    records = fuzz_kwargs(150, seed=38)
    assert problems(records) == []
    counts = Counter(r["outcome"] for r in records)
    assert len(records) == 150 and counts["ran"] >= 10 and counts["refused"] >= 100, counts


@pytest.mark.parametrize("value", ["abc", [0.1], {"a": 1}, True, False])
def test_min_lr_ratio_that_is_not_a_number_is_one_line(tmp_path, value):
    """Found by the fuzzer: these were a ValueError / TypeError from ``float()`` with a traceback (uba-pretrain
    exited 1 with it), and ``false`` was taken as a 0 floor. (``null`` is "not given", like a missing key: the
    schedule picks the floor; ``tests/library/test_trainer.py`` pins that.)"""
    args = tiny_training_args(tmp_path, lr_scheduler_kwargs={"min_lr_ratio": value})
    with pytest.raises(UBAConfigError, match=r"^`min_lr_ratio` must be a number in \[0, 1\) .*; got "):
        UBATrainer(model=tiny_olmo2(), args=args)


@pytest.mark.parametrize(
    "flag, value, says",
    [
        ("adam_beta2", "2", "--adam_beta2 must be a finite number in [0, 1); got 2.0."),
        ("per_device_train_batch_size", "0", "--per_device_train_batch_size must be at least 1; got 0."),
        ("learning_rate", "inf", "--learning_rate must be a finite number in [0, inf); got inf."),
        (
            "max_steps",
            "0",
            "--max_steps must be a number of optimizer updates >= 1 (or -1: the budget from --num_train_epochs)",
        ),
    ],
)
def test_numbers_the_optimizer_or_loader_would_refuse_later_are_one_line(tmp_path, capsys, flag, value, says):
    """Found by the fuzzer: an optimizer beta outside [0, 1) and a batch size of 0 failed after the data and the model
    were loaded, with a traceback; an infinite LR trained on NaN; --max_steps 0 was refused late, naming
    `num_training_steps`. Now one line, before anything is read or written."""
    from uba_hf.pretrain.cli import main

    out = tmp_path / "out"
    assert main([TINY, "--output_dir", str(out), f"--{flag}", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("uba-pretrain: error: ") and says in err[0], err
    assert not out.exists()


@settings(max_examples=200, deadline=None)
@given(phi=st.floats(min_value=2.0, max_value=1.7e308), budget=st.integers(min_value=1, max_value=10**6))
def test_a_huge_phi_decays_from_1_without_dividing_by_zero(phi, budget):
    """Found by the fuzzer: from phi ~1e17 on, ``2 phi + (2 - phi) c`` cancelled to 0 at the first update
    (ZeroDivisionError; inexact before that). The multiplier is 1 there, and finite in [0, 1] all along."""
    values = [
        uba_lr_lambda(s, num_warmup_steps=0, num_training_steps=budget, phi=phi, min_lr_ratio=0.0)
        for s in (0, budget // 2, budget)
    ]
    assert values[0] == 1.0 and all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values)


@pytest.mark.slow
def test_fuzzed_uba_pretrain_flags_and_recipes_run_or_exit_2_in_one_line(tmp_path):
    import transformers.trainer

    callbacks, handlers = list(transformers.trainer.DEFAULT_CALLBACKS), list(logging.getLogger().handlers)
    fuzzer = CliFuzz(tmp_path)
    fuzz_cli("flags", 6, 38, fuzzer)
    fuzz_cli("recipe", 6, 38, fuzzer)
    # Its one-update runs leave the process as they found it: a Trainer built afterwards trains to its budget.
    assert transformers.trainer.DEFAULT_CALLBACKS == callbacks and logging.getLogger().handlers == handlers
    assert len(fuzzer.records) == 12
    assert problems(fuzzer.records) == [], problems(fuzzer.records)
    counts = Counter(r["outcome"] for r in fuzzer.records)
    assert counts["refused"] >= 6, counts
