"""The pretraining job's budget: --max_steps, --max_tokens or --tokens_per_param (uba_hf/pretrain/budget.py),
recipes whose warmup scales with any budget, and re-budgeting a run from the command line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import TINY, TINY_FLOOR, TINY_PHI, closed_form, segment_closed_form

from uba_hf import zero_config_schedule
from uba_hf.pretrain.budget import TokenBudget, resolve_budget, schedule_advice
from uba_hf.pretrain.cli import main, parse_args

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes" / "pretrain").glob("*.yaml"))


def budget_of(*argv: str, non_embedding_parameters: int | None = None) -> tuple[TokenBudget, int]:
    _, data, _, run, training = parse_args(list(argv))
    budget = resolve_budget(run, training, data.block_size)
    if non_embedding_parameters is not None:
        budget = budget.with_parameters(training, non_embedding_parameters)
    return budget, training.max_steps


def test_max_tokens_on_the_tiny_recipe_gives_30_updates():
    budget, max_steps = budget_of(TINY, "--max_tokens", "61440")
    assert max_steps == 30 and budget.tokens_per_update == 16 * 128
    assert budget.record(max_steps) == {
        "budget_from": "max_tokens",
        "tokens_per_update": 2048,
        "num_training_tokens": 61440,
        "max_tokens": 61440,
    }
    # Not a multiple of the update size: rounded up, so at least the asked tokens are trained on.
    assert budget_of(TINY, "--max_tokens", "61441")[1] == 31
    # Tokens per update = block x per-device batch x accumulation x processes.
    assert budget_of(TINY, "--max_tokens", "61440", "--gradient_accumulation_steps", "3")[1] == math.ceil(61440 / 6144)
    assert budget_of(TINY, "--max_tokens", "61440", "--block_size", "64")[1] == 60


def test_tokens_per_param_is_a_multiple_of_non_embedding_parameters():
    budget, max_steps = budget_of(TINY, "--tokens_per_param", "20")
    assert max_steps == -1 and budget.given == "tokens_per_param"  # unknown until the model exists
    budget, max_steps = budget_of(TINY, "--tokens_per_param", "20", non_embedding_parameters=1_050_752)
    assert budget.max_tokens == 21_015_040 and max_steps == math.ceil(21_015_040 / 2048) == 10_262
    record = budget.record(max_steps)
    assert record["tokens_per_param"] == 20.0 and record["non_embedding_parameters"] == 1_050_752
    assert record["num_training_tokens"] == 10_262 * 2048 >= 21_015_040


def test_a_command_line_budget_replaces_the_recipes_in_any_unit():
    assert budget_of(TINY)[1] == 400  # the recipe's own max_steps
    assert budget_of(TINY, "--max_steps", "30")[1] == 30
    assert budget_of(TINY, "--max_tokens=4096")[1] == 2
    budget, _ = budget_of(TINY, "--tokens_per_param", "1")
    assert budget.given == "tokens_per_param"
    assert budget_of("--output_dir", "x")[0].given == "epochs"  # no budget at all: the Trainer's epochs


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--max_steps", "30", "--max_tokens", "61440"], "Give one budget, not --max_steps 30 and --max_tokens 61440"),
        (
            ["--max_tokens", "61440", "--tokens_per_param", "20"],
            "Give one budget, not --max_tokens 61440 and --tokens_per_param 20.0",
        ),
        (["--max_tokens", "0"], "--max_tokens must be a number of tokens >= 1"),
        (["--tokens_per_param", "-1"], "--tokens_per_param must be a finite number > 0"),
        (["{both_in_recipe}"], "Give one budget, not --max_steps 5 and --max_tokens 100"),
    ],
)
def test_two_budgets_are_a_one_line_error_naming_both(tmp_path, capsys, argv, message):
    recipe = tmp_path / "both.yaml"
    recipe.write_text("max_steps: 5\nmax_tokens: 100\n")
    argv = [str(recipe) if a == "{both_in_recipe}" else a for a in argv]
    if not argv[0].endswith(".yaml"):
        argv = [TINY, *argv]
    code = main([*argv, "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()  # refused before any data or model work


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_states_warmup_as_a_fraction_of_the_budget(path):
    recipe = yaml.safe_load(path.read_text())
    assert 0 < recipe["warmup_steps"] < 1, "warmup must scale with the budget (Transformers reads < 1 as a ratio)"
    _, _, _, _, training = parse_args([str(path), "--use_cpu", "true", "--max_steps", "30"])
    assert 1 <= training.get_warmup_steps(30) <= 3  # an overridden budget never breaks the recipe
    assert training.get_warmup_steps(recipe["max_steps"]) == round(recipe["warmup_steps"] * recipe["max_steps"])


def cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "UBA_HF_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pretrain.py"), *args], capture_output=True, text=True, env=env
    )


@pytest.mark.slow
def test_tiny_recipe_with_max_steps_30_runs_then_rebudgets_in_tokens(tmp_path, small_text_corpus):
    """The new user's first command, then the run extended in tokens from its checkpoint-20. Small: the recipe's
    model and schedule on the small corpus, 4 blocks of 64 tokens per update (with the recipe's corpus and
    16 x 128 tokens this took 4.5 min on 2 busy cores, to show nothing more about budgets)."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    tokens_per_update = 4 * 64
    data = ["--dataset_name", str(small_text_corpus), "--vocab_size", "512", "--preprocessing_num_workers", "1"]
    data += ["--block_size", "64", "--per_device_train_batch_size", "4", "--max_eval_blocks", "8"]
    small = [*data, "--logging_steps", "1", "--save_steps", "10", "--output_dir", str(out)]
    proc = cli(TINY, "--max_steps", "30", *small, cache=cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The recipe gives no phi: the zero-config choice, in one line with its reason, at INFO; no note beside it.
    choice = zero_config_schedule(30, 3e-3)
    line = f"INFO uba_hf: UBA zero-config: phi={TINY_PHI:g}, min_lr_ratio={TINY_FLOOR:g}, from {choice['reason']}"
    assert proc.stderr.count("UBA zero-config") == 1 and line in proc.stderr and "This run trains" not in proc.stderr
    first = json.loads((out / "metrics.json").read_text())
    assert first["budget"] == first["global_step"] == 30 and first["num_warmup_steps"] == 3
    assert first["num_training_tokens"] == 30 * tokens_per_update and first["budget_from"] == "max_steps"
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    old = {h["step"] - 1: h["learning_rate"] for h in history if "learning_rate" in h}

    resume = ["--resume_from_checkpoint", str(out / "checkpoint-20")]
    extended = ["--max_tokens", str(40 * tokens_per_update)]
    refused = cli(TINY, *extended, *resume, *small, cache=cache)
    assert refused.returncode == 2 and "--rebudget" in refused.stderr.strip().splitlines()[-1]
    proc = cli(TINY, *extended, "--rebudget", "true", *resume, *small, cache=cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "UBA re-budget at update 20: budget 30 -> 40 updates" in proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["budget"] == metrics["global_step"] == 40 and metrics["budget_from"] == "max_tokens"
    assert metrics["num_training_tokens"] == metrics["max_tokens"] == 40 * tokens_per_update
    record = json.loads((out / "checkpoint-30" / "uba_schedule.json").read_text())
    assert record["num_training_tokens"] == 40 * tokens_per_update and record["num_warmup_steps"] == 3
    m = record["segments"][-1]["start_multiplier"]
    assert record["segments"] == [
        {"start": 3, "start_multiplier": 1.0, "end": 30},
        {"start": 20, "start_multiplier": m, "end": 40},
    ]
    assert m == pytest.approx(closed_form(20, 3, 30, TINY_PHI, TINY_FLOOR), rel=1e-12)
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    new = {h["step"] - 1: h["learning_rate"] for h in history if "learning_rate" in h and h["step"] > 20}
    assert sorted(new) == list(range(20, 40))
    assert abs(new[20] - old[19]) <= max(abs(old[s] - old[s + 1]) for s in range(3, 29))
    for s, lr in new.items():
        assert lr == pytest.approx(3e-3 * segment_closed_form(s, 20, m, 40, TINY_PHI, TINY_FLOOR), rel=1e-9)
    assert (out / "lr_schedule.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Against the zero-config choice (phi 0.01 here): trained as given, with one line of advice.
    other = [*data, "--save_strategy", "no", "--output_dir", str(tmp_path / "phi4")]
    proc = cli(TINY, "--max_steps", "2", "--phi", "4", *other, cache=cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "with phi=4, min_lr_ratio=0.1 (as given)" in proc.stderr
    assert "the zero-config choice would be phi=0.01, min_lr_ratio=0.1, from peak LR 0.003 x 2 updates" in proc.stderr
    assert json.loads((tmp_path / "phi4" / "metrics.json").read_text())["phi"] == 4.0


def test_schedule_advice_names_the_zero_config_choice_only_when_the_run_departs_from_it():
    """The job's note compares a given phi / floor with the zero-config choice at the run's budget and peak LR."""
    late = zero_config_schedule(400, 3e-3)  # phi 0.01, floor 0.1
    assert schedule_advice({"phi": late["phi"], "min_lr_ratio": late["min_lr_ratio"]}, 400, 3e-3) is None
    assert schedule_advice({"phi": 0.01}, 400, 3e-3) is None  # no floor given: the default, 0.1, the same
    assert schedule_advice({"min_lr_ratio": 0.0}, 400, 3e-3) is None  # no phi: the choice itself is logged
    assert schedule_advice({"phi": "auto"}, 400, 3e-3) is None
    assert schedule_advice({}, 400, 3e-3) is None  # not a UBA run
    early = zero_config_schedule(400, 0.1)
    assert schedule_advice({"phi": 1, "min_lr_ratio": 0.1}, 400, 0.1) is None  # an int phi is the same phi
    note = schedule_advice({"phi": 4.0, "min_lr_ratio": 0.0}, 400, 0.1)
    assert note.startswith("This run trains with phi=4, min_lr_ratio=0 (as given).")
    assert (
        f"choice would be phi={early['phi']:g}, min_lr_ratio={early['min_lr_ratio']:g}, from {early['reason']}" in note
    )


def test_lr_schedule_png_draws_the_old_plan_dashed_and_the_new_one_solid(tmp_path, monkeypatch):
    from uba_hf.pretrain import plotting

    plt = plotting.pyplot()
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to inspect it
    m = closed_form(20, 3, 30, 1.0, 0.1)
    segments = [{"start": 3, "start_multiplier": 1.0, "end": 30}, {"start": 20, "start_multiplier": m, "end": 40}]
    path = tmp_path / "lr_schedule.png"
    plotting.plot_lr_schedule(str(path), [(0, 0.0)], 3e-3, 40, 3, 1.0, 0.1, segments=segments)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    old, new = lines["earlier plan: budget 30 (re-budgeted at update 20)"], lines["UBA closed form (phi=1)"]
    assert old.get_linestyle() == "--" and new.get_linestyle() == "-"
    assert list(new.get_xdata()) == list(range(1, 41))  # update k at x = k, with the LR after k - 1 updates
    steps = range(40)
    assert list(old.get_ydata()) == pytest.approx([3e-3 * closed_form(s, 3, 30, 1.0, 0.1) for s in steps], rel=1e-12)
    planned = [
        3e-3 * (closed_form(s, 3, 30, 1.0, 0.1) if s < 20 else segment_closed_form(s, 20, m, 40, 1.0, 0.1))
        for s in steps
    ]
    assert list(new.get_ydata()) == pytest.approx(planned, rel=1e-12)


@pytest.mark.slow
def test_a_tokens_per_param_run_finishes_and_records_its_budget(tmp_path, small_text_corpus):
    """It used to stop after training with a TypeError (the parameter count given twice to metrics.json)."""
    out = tmp_path / "out"
    argv = [TINY, "--output_dir", str(out), "--dataset_name", str(small_text_corpus), "--vocab_size", "512"]
    argv += ["--block_size", "64", "--per_device_train_batch_size", "4", "--preprocessing_num_workers", "1"]
    argv += ["--eval_strategy", "no", "--save_strategy", "no", "--tokens_per_param", "0.001", "--warmup_steps", "1"]
    os.environ["UBA_HF_CACHE"] = str(tmp_path / "cache")
    try:
        assert main(argv) == 0
    finally:
        del os.environ["UBA_HF_CACHE"]
    metrics = json.loads((out / "metrics.json").read_text())
    # 0.001 x 1,050,752 non-embedding parameters = 1,051 tokens at 256 tokens per update: 5 updates.
    assert (metrics["budget_from"], metrics["max_tokens"], metrics["budget"], metrics["global_step"]) == (
        "tokens_per_param",
        1051,
        5,
        5,
    )
    assert metrics["non_embedding_parameters"] == 1_050_752 and metrics["tokens_per_param"] == 0.001
