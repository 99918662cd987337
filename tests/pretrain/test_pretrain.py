"""The main job end to end (subprocess, YAML recipe + overrides) and its user-facing errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, TINY_FLOOR, TINY_PHI, closed_form
from transformers import AutoModelForCausalLM, AutoTokenizer

from uba_hf.pretrain.cli import main, parse_args

ROOT = Path(__file__).resolve().parents[2]
PEAK_FLOPS = 1e12  # given explicitly: a CPU has no known peak, so without it no MFU is logged


def cli(*args: str, env_extra: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pretrain.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "run"
    cache = tmp_path_factory.mktemp("cache")
    proc = cli(
        TINY,
        "--max_steps",
        "40",
        "--warmup_steps",
        "4",
        "--logging_steps",
        "1",
        "--eval_steps",
        "20",
        "--save_steps",
        "20",
        "--max_eval_blocks",
        "32",
        "--output_dir",
        str(out),
        "--peak_flops",
        str(PEAK_FLOPS),
        env_extra={"UBA_HF_CACHE": str(cache)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.mark.slow
def test_default_recipe_produces_every_output(tiny_run):
    out, proc = tiny_run
    for name in (
        "checkpoint-20",
        "checkpoint-40",
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "trainer_state.json",
        "metrics.json",
        "lr_schedule.png",
        "tokenizer/tokenizer.json",
    ):
        assert (out / name).exists(), name
    assert (out / "lr_schedule.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "checkpoint-20" / "uba_schedule.json").read_text())["num_training_steps"] == 40
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "train_loss",
        "eval_loss",
        "perplexity",
        "tokens_seen",
        "wall_seconds",
        "tokens_per_second",
        "world_size",
        "phi",
        "budget",
    ):
        assert metrics[key] is not None, key
    assert metrics["budget"] == metrics["global_step"] == 40 and metrics["phi"] == TINY_PHI
    assert metrics["tokens_seen"] == 40 * 16 * 128 and metrics["world_size"] == 1
    # Learning on real text: the final eval loss is well below the loss at initialisation.
    assert metrics["eval_loss"] < metrics["eval_loss_init"] - 1.0
    assert f"eval loss {metrics['eval_loss_init']:.4f} -> {metrics['eval_loss']:.4f}" in proc.stdout


@pytest.mark.slow
def test_logged_lr_loss_throughput_and_closed_form(tiny_run):
    out, _ = tiny_run
    metrics = json.loads((out / "metrics.json").read_text())
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    train_logs = [h for h in history if "loss" in h]
    assert [h["step"] for h in train_logs] == list(range(1, 41))
    for h in train_logs:  # the LR logged at step k is the one update k-1 used
        assert h["learning_rate"] == pytest.approx(
            3e-3 * closed_form(h["step"] - 1, 4, 40, TINY_PHI, TINY_FLOOR), rel=1e-9
        )
        assert h["tokens_per_second"] > 0 and h["grad_norm"] > 0
        mfu = h["tokens_per_second"] * metrics["flops_per_token"] / PEAK_FLOPS
        assert h["mfu"] == pytest.approx(mfu, rel=1e-3, abs=1e-5)
    evals = [h for h in history if "eval_loss" in h]
    assert [h["step"] for h in evals] == [20, 40]  # the evaluation at the last update is the final one


@pytest.mark.slow
def test_saved_model_and_tokenizer_load_and_generate(tiny_run):
    out, _ = tiny_run
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert model.config.model_type == "olmo2" and model.config.vocab_size == len(tok)
    ids = tok("def main(", return_tensors="pt", add_special_tokens=False)
    gen = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] == ids["input_ids"].shape[1] + 8
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate.py"), str(out), "--max_new_tokens", "5"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0 and proc.stdout.startswith("def "), proc.stderr[-2000:]


def test_recipe_then_overrides_win(tmp_path):
    model, data, uba, run, training = parse_args([TINY, "--max_steps", "7", "--phi", "0.5", "--output_dir", "x"])
    assert training.max_steps == 7 and training.output_dir == "x" and uba.phi == 0.5
    assert data.block_size == 128 and model.model_preset == "tiny" and training.learning_rate == 3e-3
    _, _, uba, _, training = parse_args([TINY])
    assert (uba.phi, uba.min_lr_ratio, training.max_steps) == (None, None, 400)  # the job picks them
    # Plain flags without a recipe work too.
    _, _, uba, _, training = parse_args(["--output_dir", "y", "--max_steps", "3"])
    assert training.max_steps == 3 and uba.min_lr_ratio is None  # not given: the job's choice (or a checkpoint's)


BAD = [
    # (args, expected message fragment)
    (["{recipe_unknown}"], "unknown key(s) ['lr_schedule']"),
    (["--max_steps", "ten"], "invalid int value: 'ten'"),
    (["--no_such_flag", "1"], "unrecognized arguments: --no_such_flag 1"),
    (["--model_preset", "olmo2-3b"], "Unknown --model_preset 'olmo2-3b'; valid presets: tiny"),
    (["--resume_from_checkpoint", "{tmp}/nope"], "no such checkpoint folder"),
    (["--dataset_name", "{tmp}/missing.jsonl"], "no such file or folder"),
    (["--streaming", "true", "--max_steps", "-1"], "--streaming needs --max_steps"),
    (["--output_dir", "{existing}", "--overwrite_output_dir", "false"], "already holds files"),
    (["{missing_recipe}"], "does not exist"),
    (["--train_file", "{tmp}/missing.txt"], "missing.txt"),
    (["--output_dir", "{file}"], "is a file, not a folder; choose another --output_dir"),
    (["--output_dir", "{file}/sub"], "is a file, not a folder (its parent"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[b[1][:40] for b in BAD])
def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "bad.yaml").write_text("max_steps: 5\nlr_schedule: cosine\n")
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "model.safetensors").write_text("precious")
    subs = {
        "{recipe_unknown}": str(tmp_path / "bad.yaml"),
        "{missing_recipe}": str(tmp_path / "missing.yaml"),
        "{existing}": str(tmp_path / "existing"),
        "{file}": str(tmp_path / "file"),
        "{tmp}": str(tmp_path),
    }
    (tmp_path / "file").write_text("a file where a folder is expected")
    argv = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        argv.append(a)
    if not argv[0].endswith(".yaml"):
        argv = ["--output_dir", str(tmp_path / "out"), *argv]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("uba-pretrain: error: ") and message in err[0], err
    assert (tmp_path / "existing" / "model.safetensors").read_text() == "precious"
    assert not (tmp_path / "out").exists()  # a refused run leaves nothing that was not there before


def test_cli_error_in_subprocess_has_no_traceback(tmp_path):
    proc = cli("--output_dir", str(tmp_path / "o"), "--phi", "0")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("uba-pretrain: error: --phi must be")


PHI_RULE = "--phi must be a finite number > 0 (2 = cosine; < 2 keeps the LR high longer) or 'auto'"
TOO_LONG = "the warmup is part of the budget. Shorten the warmup or raise the budget."
BUDGET_MISTAKES = [
    # (args after the tiny recipe, the whole error line after "uba-pretrain: error: ")
    (
        ["--max_steps", "0"],
        "--max_steps must be a number of optimizer updates >= 1 (or -1: the budget from --num_train_epochs); got 0.",
    ),
    (
        ["--max_steps", "-2"],
        "--max_steps must be a number of optimizer updates >= 1 (or -1: the budget from --num_train_epochs); got -2.",
    ),
    (
        ["--max_steps", "-1", "--num_train_epochs", "0"],
        "--num_train_epochs must be a number > 0 (the budget when no "
        "--max_steps, --max_tokens or --tokens_per_param is given); got 0.0.",
    ),
    (["--max_tokens", "0"], "--max_tokens must be a number of tokens >= 1; got 0."),
    (["--tokens_per_param", "0"], "--tokens_per_param must be a finite number > 0 (20 = Chinchilla); got 0.0."),
    (
        ["--warmup_steps", "-3"],
        "--warmup_steps must be >= 0: a number of updates, or a fraction < 1 of the budget; got -3.0.",
    ),
    (
        ["--max_steps", "10", "--warmup_steps", "20"],
        f"--warmup_steps 20 is longer than the budget of 10 updates (from --max_steps): {TOO_LONG}",
    ),
    # 4,096 tokens at 16 blocks of 128 tokens per update: 2 updates.
    (
        ["--max_tokens", "4096", "--warmup_steps", "5"],
        f"--warmup_steps 5 is longer than the budget of 2 updates (from --max_tokens 4,096): {TOO_LONG}",
    ),
    # The tiny preset's 1,050,752 non-embedding parameters, counted before the model (or the corpus) exists.
    (
        ["--tokens_per_param", "0.001", "--warmup_steps", "50"],
        f"--warmup_steps 50 is longer than the budget of 1 "
        f"update (from --tokens_per_param 0.001 x 1,050,752 non-embedding parameters = 1,051 tokens): {TOO_LONG}",
    ),
    (["--phi", "0"], f"{PHI_RULE}; got '0'."),
    (["--phi", "-1"], f"{PHI_RULE}; got '-1'."),
    (["--phi", "nan"], f"{PHI_RULE}; got 'nan'."),
    (["--phi", "fast"], f"{PHI_RULE}; got 'fast'."),
    (
        ["--min_lr_ratio", "1.0"],
        "--min_lr_ratio must be a number in [0, 1): the final LR as a fraction of the peak LR; got 1.0.",
    ),
    (
        ["--lr_scheduler_kwargs", '{"phi": 0}'],
        '--lr_scheduler_kwargs {"phi": 0}: `phi` must be a finite number > 0 '
        "(phi=2 is cosine, phi<2 keeps the LR high longer); got 0.0.",
    ),
]


@pytest.mark.parametrize("args,line", BUDGET_MISTAKES, ids=[" ".join(b[0]) for b in BUDGET_MISTAKES])
def test_budget_and_schedule_mistakes_name_the_flag_before_any_data_or_model_work(
    tmp_path, capsys, monkeypatch, args, line
):
    """Each budget or schedule mistake: one line naming the flag the user typed, exit 2, before the corpus is read
    or the model built (`--max_steps 0` used to build the model and evaluate it, then fail on
    `num_training_steps`), and no output_dir left behind."""
    import uba_hf.pretrain.cli as cli_module

    def too_late(*args, **kwargs):
        raise AssertionError("the check ran after data or model work had started")

    monkeypatch.setattr(cli_module, "load_corpus", too_late)
    monkeypatch.setattr(cli_module, "build_model_for", too_late)
    code = main([TINY, "--output_dir", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert (code, err) == (2, [f"uba-pretrain: error: {line}"])
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ what a finished or resumed run leaves


def test_a_resumed_runs_lr_figure_has_every_update_at_its_own_number(tmp_path):
    """The trace travels with the checkpoint: after a resume the figure has all 6 updates (it had the logged ones
    only, every `logging_steps`, before the checkpoint), update k drawn at x = k (it was drawn at k - 1)."""
    from conftest import TokenDataset, tiny_olmo2, tiny_training_args
    from transformers import TrainerCallback

    from uba_hf import UBATrainer
    from uba_hf.pretrain.plotting import ResumableLRTrace, lr_points, plot_lr_schedule

    class StopAfter3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step == 3

    args = tiny_training_args(
        tmp_path / "out", max_steps=6, warmup_steps=1, logging_steps=4, save_strategy="steps", save_steps=3
    )
    first = ResumableLRTrace()
    UBATrainer(model=tiny_olmo2(), args=args, train_dataset=TokenDataset(), callbacks=[first, StopAfter3()]).train()
    assert [step for step, _ in first.trace] == [0, 1, 2]

    resumed = ResumableLRTrace()
    trainer = UBATrainer(model=tiny_olmo2(), args=args, train_dataset=TokenDataset(), callbacks=[resumed])
    trainer.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-3"))
    assert resumed.trace[:3] == first.trace  # the checkpoint's, bit for bit
    points = lr_points(trainer.state.log_history, resumed.trace)
    assert [k for k, _ in points] == [1, 2, 3, 4, 5, 6]
    phi, floor = trainer.uba_kwargs["phi"], trainer.uba_kwargs["min_lr_ratio"]
    assert (phi, floor) == (0.01, 0.1)  # the zero-config choice at an LR area of 0.06
    for k, lr in points:  # update k used the LR of the closed form after k - 1 updates
        assert lr == pytest.approx(1e-2 * closed_form(k - 1, 1, 6, phi, floor), rel=1e-12, abs=1e-18)
    drawn = plot_lr_schedule(str(tmp_path / "lr.png"), points, 1e-2, 6, 1, phi, floor)
    assert drawn == {"xlabel": "optimizer update k (1 to 6), at the LR it used", "used": points}
    assert (tmp_path / "lr.png").stat().st_size > 10_000


def test_the_model_card_of_a_model_pretrained_from_scratch_says_so(tmp_path):
    """Transformers takes the empty name of a model built from a config for a base model: "a fine-tuned version of
    [](https://huggingface.co/)"."""
    from conftest import TokenDataset, tiny_olmo2, tiny_training_args

    from uba_hf import UBATrainer
    from uba_hf.pretrain.outputs import write_model_card

    trainer = UBATrainer(model=tiny_olmo2(), args=tiny_training_args(tmp_path), train_dataset=TokenDataset())
    metrics = dict(global_step=12, budget=12, tokens_seen=3072, learning_rate=0.01, lr_scheduler_type="uba", phi=0.01)
    metrics.update(min_lr_ratio=0.1, num_warmup_steps=3, parameters=100, non_embedding_parameters=90, eval_loss=4.0)
    write_model_card(trainer, metrics, "embedded:stdlib", "tiny")
    card = (tmp_path / "README.md").read_text()
    assert "fine-tuned" not in card and "https://huggingface.co/)" not in card
    assert "This model was pretrained from scratch on the embedded:stdlib dataset." in card
    assert "Pretrained from scratch by `uba-pretrain` on `embedded:stdlib`: 12/12 optimizer updates" in card


def test_the_resume_flags_help_names_latest():
    """Transformers' text said the Trainer does not use the flag; the job does, and `latest` is its usual value."""
    from uba_hf.pretrain.cli import build_parser

    help_text = " ".join(build_parser().format_help().split())
    assert (
        "--resume_from_checkpoint RESUME_FROM_CHECKPOINT Continue a run: 'latest' resumes the newest complete "
        "checkpoint of this run in --output_dir (other runs' skipped, docs/reliability.md); or the path of a "
        "checkpoint-N folder. A run pre-empted or interrupted prints the command to paste. (default: None)"
    ) in help_text


def test_a_warmup_longer_than_an_epochs_budget_is_named_once_the_corpus_is_read(
    tmp_path, capsys, monkeypatch, small_text_corpus
):
    """A budget in epochs is known once the corpus is tokenized: the check runs then, before the model is built (it
    used to fail inside the Trainer, on `num_warmup_steps`)."""
    import uba_hf.pretrain.cli as cli_module

    def too_late(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(cli_module, "build_model_for", too_late)
    monkeypatch.setenv("UBA_HF_CACHE", str(tmp_path / "cache"))
    argv = ["--output_dir", str(tmp_path / "out"), "--dataset_name", str(small_text_corpus), "--vocab_size", "512"]
    argv += ["--block_size", "64", "--per_device_train_batch_size", "4", "--preprocessing_num_workers", "1"]
    code = main([*argv, "--num_train_epochs", "1", "--warmup_steps", "1000"])  # one epoch: 358 batches of 4 blocks
    err = capsys.readouterr().err.strip().splitlines()
    assert (code, err[-1:]) == (
        2,
        [
            "uba-pretrain: error: --warmup_steps 1000 is longer than the budget of 358 updates (from "
            "--num_train_epochs): the warmup is part of the budget. Shorten the warmup or raise the budget."
        ],
    )
    assert not (tmp_path / "out").exists()
