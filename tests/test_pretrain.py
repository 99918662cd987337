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

ROOT = Path(__file__).resolve().parents[1]
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
    (["--phi", "-1"], "`phi` must be a finite number > 0"),
    (["--phi", "nan"], "`phi` must be a finite number > 0"),
    (["--min_lr_ratio", "1.0"], "`min_lr_ratio` must be in [0, 1)"),
    (["--max_steps", "10", "--warmup_steps", "20"], "`num_warmup_steps` (20) must be <= `num_training_steps` (10)"),
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
    assert proc.stderr.strip().splitlines()[-1].startswith("uba-pretrain: error: `phi` must be")
