"""The main job as a user meets it: --help, mistakes answered in one line before any expensive work, TensorBoard
under output_dir, run_clm-style result files and model card, a portable tokenizer, and quiet logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, TINY_PHI

ROOT = Path(__file__).resolve().parents[2]
PRETRAIN = str(ROOT / "scripts" / "pretrain.py")


def run(*args: str, cwd=None, timeout: float = 600, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **env_extra}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess, fragment: str, prog: str = "uba-pretrain") -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{prog}: error: ") and fragment in last, last


def test_help_has_a_description_the_recipe_positional_and_the_jobs_options_first():
    proc = run(PRETRAIN, "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("usage: uba-pretrain [RECIPE.yaml] [--key value ...]")
    assert "Pretrain an OLMo-2 style decoder from scratch with the UBA learning-rate schedule." in text
    assert "RECIPE.yaml   optional YAML recipe" in text
    sections = ["model (ModelArguments):", "data (DataArguments):", "UBA schedule (UBAArguments):"]
    sections += ["run (RunArguments):", "Transformers TrainingArguments:"]
    positions = [text.index(s) for s in sections]
    assert positions == sorted(positions)
    assert positions[-1] < text.index("--per_device_train_batch_size") and text.index("--phi") < positions[-1]


def test_no_arguments_prints_usage_and_trains_nothing(tmp_path):
    proc = run(PRETRAIN, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: uba-pretrain [RECIPE.yaml]")
    assert "Try `uba-pretrain tiny`" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no ./trainer_output, nothing written


@pytest.mark.slow
def test_abbreviated_flags_are_errors_not_prefix_matches(tmp_path):
    one_line_error(
        run(PRETRAIN, "--output_dir", str(tmp_path / "o"), "--max_step", "30"), "unrecognized arguments: --max_step 30"
    )


@pytest.mark.slow
def test_uba_run_help_and_missing_script():
    proc = run("-m", "uba_hf.run", "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: python -m uba_hf.run (or uba-run) TARGET")
    assert 'Registers the "uba" scheduler type first' in proc.stdout
    one_line_error(run("-m", "uba_hf.run", "no_such_script.py", "--x"), "'no_such_script.py' is not a file", "uba-run")
    one_line_error(run("-m", "uba_hf.run", "-m", "no_such.module"), "no module named 'no_such.module'", "uba-run")


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--lr_scheduler_kwargs", '{"min_lr": 1e-5}'], "min_lr"),
        (
            ["--report_to", "tensorboard"],
            "--report_to tensorboard: the tensorboard package is not installed; pip install",
        ),
        (["--output_dir", "{file}/sub"], "is a file, not a folder (its parent"),
        (["--dataset_name", "someone/corpus"], "the hub (http://127.0.0.1:9) is unreachable"),
    ],
    ids=["lr_scheduler_kwargs", "missing-tensorboard", "unwritable-output_dir", "hub-unreachable"],
)
def test_mistakes_are_one_line_before_any_data_work(tmp_path, args, fragment):
    """Each answered in one line, exit 2, before the corpus is read (no tokenizer trained or cached)."""
    (tmp_path / "file").write_text("a file, not a folder")
    (tmp_path / "site").mkdir()
    # An environment without tensorboard: a sitecustomize that makes both packages unimportable.
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import sys\nsys.modules['tensorboard'] = None\nsys.modules['tensorboardX'] = None\n"
    )
    args = [a.replace("{file}", str(tmp_path / "file")) for a in args]
    proc = run(
        PRETRAIN,
        TINY,
        *("--output_dir", str(tmp_path / "out")),
        *args,
        UBA_HF_CACHE=str(tmp_path / "cache"),
        PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]),
        HF_HUB_OFFLINE="0",
        HF_DATASETS_OFFLINE="0",
        HF_ENDPOINT="http://127.0.0.1:9",  # nothing listens on the discard port: refused at once
    )
    one_line_error(proc, fragment)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out" / "tokenizer").exists()


# ------------------------------------------------------------------------------------- a finished run


@pytest.fixture(scope="module")
def finished(tmp_path_factory, small_text_corpus):
    """One short run with TensorBoard, from another working directory, its stdout and stderr going to files."""
    tmp = tmp_path_factory.mktemp("finished")
    out, cwd = tmp / "run", tmp / "cwd"
    cwd.mkdir()
    with open(tmp / "stdout.txt", "w") as stdout, open(tmp / "stderr.txt", "w") as stderr:
        proc = subprocess.run(
            [sys.executable, PRETRAIN, TINY, "--output_dir", str(out), "--report_to", "tensorboard"]
            + ["--max_steps", "4", "--warmup_steps", "1", "--logging_steps", "1", "--eval_steps", "2"]
            + ["--save_steps", "2", "--max_eval_blocks", "8", "--dataset_name", str(small_text_corpus)]
            + ["--vocab_size", "512", "--block_size", "64", "--per_device_train_batch_size", "4"],
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "UBA_HF_CACHE": str(tmp / "cache")},
            timeout=600,
        )
    logs = (tmp / "stdout.txt").read_text() + (tmp / "stderr.txt").read_text()
    assert proc.returncode == 0, logs[-3000:]
    return out, cwd, logs


@pytest.mark.slow
def test_tensorboard_logs_every_scalar_under_output_dir(finished):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, cwd, _ = finished
    assert not (cwd / "runs").exists()  # nothing in the current directory
    (folder,) = (out / "runs").iterdir()
    events = EventAccumulator(str(folder))
    events.Reload()
    steps = {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    assert steps["eval/loss"] == [0, 2, 4]  # before training and during it; the one at the last update is final
    assert steps["train/loss"] == steps["train/learning_rate"] == steps["train/tokens_per_second"] == [1, 2, 3, 4]


@pytest.mark.slow
def test_run_clm_result_files_model_card_and_portable_tokenizer(finished):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    out, _, _ = finished
    train = json.loads((out / "train_results.json").read_text())
    evaluation = json.loads((out / "eval_results.json").read_text())
    combined = json.loads((out / "all_results.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert train["train_loss"] == pytest.approx(metrics["train_loss"]) and train["train_samples"] > 0
    assert evaluation["eval_loss"] == pytest.approx(metrics["eval_loss"])
    assert evaluation["perplexity"] == pytest.approx(metrics["perplexity"])
    assert combined == {**train, **evaluation}
    card = (out / "README.md").read_text()
    assert "## Pretraining with uba-hf" in card and "4/4 optimizer updates" in card
    assert "fine-tuned" not in card and "This model was pretrained from scratch on the " in card
    assert f"{metrics['eval_loss_init']:.4f} at initialisation -> {metrics['eval_loss']:.4f}" in card
    for folder in (out, out / "tokenizer"):
        config = json.loads((folder / "tokenizer_config.json").read_text())
        assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and config["model_max_length"] == 64
        tok = PreTrainedTokenizerFast.from_pretrained(str(folder))
        assert tok.model_max_length == 64 and tok.eos_token == "<|endoftext|>"
        assert AutoTokenizer.from_pretrained(str(folder))("def main(")["input_ids"] == tok("def main(")["input_ids"]


@pytest.mark.slow
def test_logs_written_to_files_are_clean(finished):
    _, _, logs = finished
    assert "\x1b[" not in logs and "\r" not in logs  # no progress-bar redraws or cursor movements
    assert "Setting accelerator to CPU" not in logs  # DeepSpeed is not used by this run
    for line in (f"UBA schedule: phi={TINY_PHI}", "Model: tiny", "Eval loss at initialisation"):
        assert logs.count(line) == 1, line


HELP_IMPORTS_NOTHING_HEAVY = """
import sys
from uba_hf_cli import {entry}
sys.argv = ["prog", "--help"]
try:
    {entry}()
except SystemExit:
    pass
heavy = sorted(name for name in ("torch", "transformers", "datasets", "uba_hf") if name in sys.modules)
print("imported:", heavy, file=sys.stderr)
"""


@pytest.mark.parametrize("entry", ["pretrain_main", "run_main"])
def test_help_answers_without_importing_torch_transformers_or_datasets(entry):
    """``uba-pretrain --help`` / ``uba-run --help`` took 12-14 s of imports; the console scripts answer it from
    ``uba_hf_cli.usage``, on any Transformers version (no text rendered for one version)."""
    proc = run("-c", HELP_IMPORTS_NOTHING_HEAVY.format(entry=entry))
    assert proc.stdout.startswith("usage: ") and "--help" not in proc.stderr, proc.stderr
    assert "imported: []" in proc.stderr


def test_short_help_names_every_option_of_the_job_and_only_real_ones():
    """The short ``--help`` is written by hand: it must not lose an option of the job, nor name one that is gone."""
    import dataclasses
    import re

    from uba_hf.pretrain.cli import ARGUMENT_CLASSES, build_parser
    from uba_hf_cli.usage import HELP_ALL_FLAG, PRETRAIN_HELP

    job = {f.name for cls in ARGUMENT_CLASSES if cls.__name__ != "TrainingArguments" for f in dataclasses.fields(cls)}
    named = set(re.findall(r"--(\w+)", PRETRAIN_HELP)) - {"help", "key", "options", "max"}  # prose, --max-steps
    real = {action.dest for action in build_parser()._actions}
    assert len(job) > 25 and job - named == set()
    assert named - real == set()
    assert f"uba-pretrain {HELP_ALL_FLAG}" in PRETRAIN_HELP


def test_help_all_lists_every_option_of_the_installed_transformers_once():
    from uba_hf.pretrain.cli import build_parser, parse_args

    proc = run(PRETRAIN, "--help-all")
    live = build_parser().format_help()
    assert proc.returncode == 0 and proc.stdout == live, proc.stderr[-2000:]
    flags = [line.split()[0].rstrip(",") for line in live.splitlines() if line.startswith("  --")]
    assert len(flags) == len(set(flags)) > 100 and not [f for f in flags if "-" in f[2:]]
    assert "--max_steps MAX_STEPS\n" in live and "--max-steps" not in live
    assert "Transformers TrainingArguments:" in live and "--per_device_train_batch_size" in live
    assert parse_args(["--output_dir", "x", "--max-steps", "3"])[-1].max_steps == 3  # the dashed alias still works


def test_parser_takes_no_prefixes_and_groups_the_jobs_options_first():
    """The fast, in-process half of the CLI-surface checks above."""
    from uba_hf.pretrain.cli import build_parser, parse_args

    with pytest.raises(ValueError, match="unrecognized arguments: --max_step 3"):
        parse_args(["--output_dir", "x", "--max_step", "3"])
    titles = [group.title for group in build_parser()._action_groups]
    assert titles[-5:] == [
        "model (ModelArguments)",
        "data (DataArguments)",
        "UBA schedule (UBAArguments)",
        "run (RunArguments)",
        "Transformers TrainingArguments",
    ]
