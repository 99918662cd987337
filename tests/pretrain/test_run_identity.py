"""``latest`` resumes only this run's checkpoints; a finished run resumed is a no-op; Ctrl-C saves and says how
to resume, a second Ctrl-C aborts at once."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TINY, TokenDataset, tiny_olmo2, tiny_training_args
from transformers import TrainerControl, TrainingArguments

from uba_hf import UBAArguments, UBATrainer
from uba_hf.callbacks import PreemptionCallback
from uba_hf.checkpoints import COMPLETE_MARKER, identity_differences, read_run_identity

ROOT = Path(__file__).resolve().parents[2]


def trainer_args(tmp_path, **kw) -> TrainingArguments:
    return tiny_training_args(
        tmp_path / "out", **{"max_steps": 6, "warmup_steps": 1, "save_strategy": "steps", "save_steps": 3, **kw}
    )


def test_latest_skips_another_runs_checkpoints_and_names_the_difference(tmp_path, caplog):
    UBATrainer(
        model=tiny_olmo2(), args=trainer_args(tmp_path), train_dataset=TokenDataset(), run_identity={"data": "a"}
    ).train()
    marker_identity = read_run_identity(tmp_path / "out" / "checkpoint-6")
    assert marker_identity["seed"] == 0 and marker_identity["data"] == "a"
    # phi and the floor were not given: they are not part of the identity (a resume takes the checkpoint's).
    assert marker_identity["schedule"] == {"lr_scheduler_type": "uba", "learning_rate": 0.01}

    other = UBATrainer(
        model=tiny_olmo2(),
        args=trainer_args(tmp_path, seed=1),
        train_dataset=TokenDataset(),
        run_identity={"data": "a"},
    )
    with caplog.at_level(logging.WARNING, logger="uba_hf"):
        with pytest.raises(ValueError, match="no complete checkpoint-\\* folder of this run"):
            other.train(resume_from_checkpoint=True)
    skipped = [r.getMessage() for r in caplog.records if "belongs to another run" in r.getMessage()]
    assert len(skipped) == 2 and "checkpoint-6" in skipped[0] and "seed=0 there, 1 now" in skipped[0]

    # The same run (same settings) finds its newest checkpoint; another data setting does not.
    same = UBATrainer(
        model=tiny_olmo2(),
        args=trainer_args(tmp_path, max_steps=9),
        train_dataset=TokenDataset(),
        run_identity={"data": "a"},
    )
    assert identity_differences(marker_identity, same.run_identity) == []
    other_data = UBATrainer(
        model=tiny_olmo2(), args=trainer_args(tmp_path), train_dataset=TokenDataset(), run_identity={"data": "b"}
    )
    assert identity_differences(marker_identity, other_data.run_identity) == ["data='a' there, 'b' now"]
    # `rebudget` says how to resume, not what was trained: not recorded, and ignored where uba-hf 0.2.0 did.
    rebudgeting = UBATrainer(
        model=tiny_olmo2(),
        args=trainer_args(tmp_path, max_steps=9),
        train_dataset=TokenDataset(),
        run_identity={"data": "a"},
        uba_args=UBAArguments(rebudget=True),
    )
    assert rebudgeting.run_identity == same.run_identity
    recorded_by_0_2_0 = {**marker_identity, "schedule": {**marker_identity["schedule"], "rebudget": True}}
    assert identity_differences(recorded_by_0_2_0, same.run_identity) == []


def _interrupt_main_thread() -> None:
    """Ctrl-C, delivered to the main thread, where Python runs signal handlers: ``os.kill(getpid())`` may
    land on any thread of this process (torch and tokenizers start some)."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    time.sleep(0.01)  # Python runs the handler between bytecodes


def test_second_sigint_aborts_at_once():
    callback = PreemptionCallback()
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own Ctrl-C handler before training
    callback.on_train_begin(None, None, None)
    try:
        _interrupt_main_thread()
        assert callback._requested and callback.signal_received == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            _interrupt_main_thread()
            time.sleep(0.5)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler before training is back
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_signal_ignored_before_training_stays_ignored_and_sigterm_still_saves():
    """A shell ignores Ctrl-C for a command a script starts with `&`: Ctrl-C on the script must not stop it."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    callback = PreemptionCallback()
    try:
        callback.on_train_begin(None, None, None)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        _interrupt_main_thread()
        assert not callback._requested and callback.signal_received is None
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
        time.sleep(0.01)
        assert callback._requested and callback.signal_received == signal.SIGTERM
        callback.on_train_end(None, None, None)
        assert signal.getsignal(signal.SIGTERM) is previous[signal.SIGTERM]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def test_a_second_train_starts_unpreempted_with_the_handlers_from_before_the_first():
    """The same callback in a second ``train()``, also after a first that raised (no ``on_train_end``)."""
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    callback = PreemptionCallback(signals=(signal.SIGINT,))
    try:
        callback.on_train_begin(None, None, None)
        _interrupt_main_thread()
        assert callback.on_step_end(None, None, TrainerControl()).should_training_stop and callback.preempted
        callback.on_train_begin(None, None, None)  # the first train() raised after the signal
        assert not callback.preempted and callback.signal_received is None
        assert not callback.on_step_end(None, None, TrainerControl()).should_training_stop
        callback.restore_signal_handlers()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
def test_a_run_that_raises_in_training_puts_the_signal_handlers_back(tmp_path, small_text_corpus, monkeypatch):
    """Trainer has no event for a training that raises: the CLI restores the handlers itself."""
    from uba_hf.pretrain.cli import PretrainTrainer, main

    def fail(self, *args, **kwargs):
        raise RuntimeError("a bad batch")

    monkeypatch.setattr(PretrainTrainer, "training_step", fail)
    monkeypatch.setenv("UBA_HF_CACHE", str(tmp_path / "cache"))
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    argv = [TINY, "--output_dir", str(tmp_path / "out"), "--dataset_name", str(small_text_corpus)]
    argv += ["--vocab_size", "512", "--block_size", "64", "--preprocessing_num_workers", "1", "--max_steps", "4"]
    argv += ["--eval_strategy", "no", "--config_overrides", '{"num_hidden_layers": 1}']
    with pytest.raises(RuntimeError, match="a bad batch"):
        main(argv)
    assert {sig: signal.getsignal(sig) for sig in before} == before


# ------------------------------------------------------------------------------------ the CLI, end to end


def cli(out: Path, cache: Path, corpus: Path, *extra: str, popen: bool = False):
    cmd = [sys.executable, str(ROOT / "scripts" / "pretrain.py"), TINY, "--output_dir", str(out)]
    cmd += [
        "--dataset_name",
        str(corpus),
        "--vocab_size",
        "512",
        "--block_size",
        "64",
        "--preprocessing_num_workers",
        "1",
    ]
    cmd += ["--per_device_train_batch_size", "4", "--warmup_steps", "1", "--logging_steps", "1"]
    cmd += ["--eval_strategy", "no", "--max_eval_blocks", "8", *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "UBA_HF_CACHE": str(cache)}
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.mark.slow
def test_resume_picks_only_this_run_ctrl_c_saves_and_finished_runs_are_no_ops(tmp_path, small_text_corpus):
    out, cache, aside, corpus = tmp_path / "run", tmp_path / "cache", tmp_path / "aside", small_text_corpus
    # Run A: seed 0, finished; its checkpoint-8 is the newest in the folder.
    a = cli(out, cache, corpus, "--seed", "0", "--max_steps", "8", "--save_steps", "4")
    assert a.returncode == 0, a.stderr[-3000:]
    assert "no evaluation (--eval_strategy no)" in a.stdout and not (out / "eval_results.json").exists()
    a_speeds = [
        h["tokens_per_second"]
        for h in json.loads((out / "trainer_state.json").read_text())["log_history"]
        if "loss" in h
    ]
    shutil.copytree(out / "checkpoint-8", aside)

    # A finished run resumed (a SLURM requeue): exit 0, "already complete", nothing written.
    before = tree(out)
    done = cli(out, cache, corpus, "--seed", "0", "--max_steps", "8", "--resume_from_checkpoint", "latest")
    assert done.returncode == 0 and "already complete" in done.stdout and "update 8/8" in done.stdout, done.stderr
    assert tree(out) == before

    # Another seed: A's checkpoints are skipped by name and reason; none of this run -> one line, exit 2.
    other = cli(out, cache, corpus, "--seed", "2", "--max_steps", "8", "--resume_from_checkpoint", "latest")
    assert other.returncode == 2, other.stderr[-2000:]
    assert "Skipping" in other.stderr and "checkpoint-8" in other.stderr and "seed=0 there, 2 now" in other.stderr
    assert other.stderr.strip().splitlines()[-1].startswith("uba-pretrain: error: resume_from_checkpoint=latest")
    assert tree(out) == before

    # Run B (seed 1) into the same folder with overwrite_output_dir (the recipe sets it): A's checkpoints are
    # removed, and Ctrl-C after B's first checkpoint finishes the update, saves, says how to resume, exits 130.
    b = cli(out, cache, corpus, "--seed", "1", "--max_steps", "8", "--save_steps", "2", popen=True)
    deadline = time.time() + 600
    while not (out / "checkpoint-2" / COMPLETE_MARKER).exists():
        assert b.poll() is None and time.time() < deadline, b.stderr.read()[-2000:]
        time.sleep(0.05)
    b.send_signal(signal.SIGINT)
    stdout, stderr = b.communicate(timeout=600)
    assert b.returncode == 130, stderr[-3000:]
    assert "removed 2 checkpoint folder(s) of an earlier run" in stderr and "checkpoint-4, checkpoint-8" in stderr
    assert "Traceback" not in stderr and "--resume_from_checkpoint latest" in stdout
    paste = [line for line in stdout.splitlines() if line.startswith("  python ")]  # the resume command, to paste
    assert len(paste) == 1 and paste[0].startswith(f"  python {ROOT / 'scripts' / 'pretrain.py'} {TINY} --output_dir")
    assert paste[0].endswith("--seed 1 --max_steps 8 --save_steps 2 --resume_from_checkpoint latest")
    stopped = int(stdout.split("at update ")[1].split("/")[0])
    assert 2 < stopped < 8 and read_run_identity(out / f"checkpoint-{stopped}")["seed"] == 1

    # Put A's newest checkpoint back, as a run without the clean-up would have left it: `latest` must skip it.
    shutil.copytree(aside, out / "checkpoint-8")
    resumed = cli(
        out, cache, corpus, "--seed", "1", "--max_steps", "8", "--save_steps", "2", "--resume_from_checkpoint", "latest"
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Skipping" in resumed.stderr and "seed=0 there, 1 now" in resumed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from"].endswith(f"checkpoint-{stopped}") and metrics["global_step"] == 8
    assert read_run_identity(out / "checkpoint-8")["seed"] == 1  # B's final save replaced A's folder
    # The tokens/s clock restarts at the first update after the resume: counting the updates before the
    # checkpoint as done in this run would inflate the first figure by a factor of ~`stopped`.
    logs = [h for h in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in h]
    first_after_resume = next(h for h in logs if h["step"] == stopped + 1)
    assert first_after_resume["tokens_per_second"] < 2.5 * max(a_speeds)


@pytest.mark.slow
def test_latest_rebudget_extends_a_finished_run_says_which_checkpoint_and_evaluates_once(tmp_path, small_text_corpus):
    """The README's re-budget with ``latest`` instead of a checkpoint path; the final evaluation is the one the
    Trainer ran at the last update, not a second one after training."""
    out, cache, corpus = tmp_path / "run", tmp_path / "cache", small_text_corpus
    every_2 = ["--save_steps", "2", "--eval_strategy", "steps", "--eval_steps", "2"]
    first = cli(out, cache, corpus, "--max_steps", "4", *every_2)
    assert first.returncode == 0, first.stderr[-3000:]
    evaluations = [h for h in json.loads((out / "trainer_state.json").read_text())["log_history"] if "eval_loss" in h]
    assert [h["step"] for h in evaluations] == [2, 4]
    assert json.loads((out / "eval_results.json").read_text())["eval_loss"] == evaluations[-1]["eval_loss"]

    longer = cli(
        out, cache, corpus, "--max_steps", "6", *every_2, "--resume_from_checkpoint", "latest", "--rebudget", "true"
    )
    assert longer.returncode == 0, longer.stderr[-3000:]
    assert f"resuming from {out / 'checkpoint-4'} (update 4 of 6)" in longer.stderr
    assert "another run" not in longer.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from"] == str(out / "checkpoint-4") and metrics["global_step"] == metrics["budget"] == 6
    # docs/outputs.md names every file the run left, and every key of metrics.json.
    outputs_doc = (ROOT / "docs" / "outputs.md").read_text()
    names = {p.name for p in out.iterdir() if not p.name.startswith("checkpoint-")}
    names |= {p.name for p in (out / "checkpoint-6").iterdir()} | {p.name for p in (out / "tokenizer").iterdir()}
    assert sorted(n for n in names if n not in outputs_doc) == []
    assert sorted(key for key in metrics if f"`{key}`" not in outputs_doc) == []


def test_settings_added_after_0_2_0_keep_its_checkpoints_resumable():
    """A pretraining checkpoint saved by 0.2.0 recorded its data and model settings without document_attention
    and attn_implementation: at their defaults the identity leaves them out, so `latest` still finds it; turning
    document attention on makes another run, changing the attention kernel does not."""
    from uba_hf.pretrain.cli import ModelArguments
    from uba_hf.pretrain.data import DataArguments
    from uba_hf.pretrain.preflight import identity_sections

    def sections(**data):
        return identity_sections(ModelArguments(attn_implementation="sdpa"), DataArguments(**data))

    saved_by_0_2_0 = {key: dict(value) for key, value in sections().items()}
    assert "document_attention" not in saved_by_0_2_0["data"] and "attn_implementation" not in saved_by_0_2_0["model"]
    assert identity_differences(saved_by_0_2_0, sections()) == []
    assert identity_differences(saved_by_0_2_0, sections(document_attention=True)) == [
        "data.document_attention='<unset>' there, True now"
    ]


# ----------------------------------------------------------- Ctrl-C outside training: what to paste next


def test_ctrl_c_before_the_first_checkpoint_says_none_exists_and_gives_the_rerun_command(tmp_path, capsys, monkeypatch):
    """It used to say "continue with --resume_from_checkpoint latest if one exists", which then failed (exit 2)."""
    import uba_hf.pretrain.cli as cli_module

    out = tmp_path / "out"

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "load_corpus", ctrl_c)
    assert cli_module.main([TINY, "--output_dir", str(out), "--max_steps", "3"]) == 130
    assert capsys.readouterr().err.splitlines() == [
        f"uba-pretrain: interrupted before the first checkpoint: there is no checkpoint to resume in {out}. Rerun the "
        "job with:",
        f"  uba-pretrain {TINY} --output_dir {out} --max_steps 3",  # the recipe sets overwrite_output_dir
    ]

    # Without a recipe, once the job has written into the output_dir (the tokenizer): the same command would be
    # refused ("already holds files"), so the rerun command allows it, and with it the rerun gets past that check.
    def writes_then_ctrl_c(*args, **kwargs):
        (out / "tokenizer.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "load_corpus", writes_then_ctrl_c)
    assert cli_module.main(["--output_dir", str(out), "--max_steps", "3"]) == 130
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"  uba-pretrain --output_dir {out} --max_steps 3 --overwrite_output_dir true"
    assert cli_module.main(["--output_dir", str(out), "--max_steps", "3"]) == 2
    assert "already holds files" in capsys.readouterr().err

    def reached_the_data(*args, **kwargs):
        raise RuntimeError("reached the data")

    monkeypatch.setattr(cli_module, "load_corpus", reached_the_data)
    with pytest.raises(RuntimeError, match="reached the data"):
        cli_module.main(shlex.split(err[-1])[1:])


@pytest.mark.slow
def test_ctrl_c_after_a_checkpoint_prints_the_resume_command_and_it_resumes(tmp_path, small_text_corpus, capsys):
    """A second Ctrl-C (abort, no save) during update 3, after checkpoint-2: the command printed resumes it."""
    import uba_hf.pretrain.cli as cli_module

    out = tmp_path / "out"
    argv = [TINY, "--output_dir", str(out), "--dataset_name", str(small_text_corpus), "--vocab_size", "512"]
    argv += ["--block_size", "64", "--per_device_train_batch_size", "4", "--preprocessing_num_workers", "1"]
    argv += ["--eval_strategy", "no", "--max_steps", "4", "--save_steps", "2", "--warmup_steps", "1"]
    training_step = cli_module.PretrainTrainer.training_step

    def ctrl_c_at_update_3(self, *args, **kwargs):
        if self.state.global_step == 2:
            raise KeyboardInterrupt
        return training_step(self, *args, **kwargs)

    os.environ["UBA_HF_CACHE"] = str(tmp_path / "cache")
    try:
        cli_module.PretrainTrainer.training_step = ctrl_c_at_update_3
        try:
            assert cli_module.main(argv) == 130
        finally:
            cli_module.PretrainTrainer.training_step = training_step
        err = capsys.readouterr().err.splitlines()
        assert err[-2:] == [
            f"uba-pretrain: interrupted; nothing saved since {out / 'checkpoint-2'}. Resume from it with:",
            f"  uba-pretrain {shlex.join(argv)} --resume_from_checkpoint latest",
        ]
        assert cli_module.main(shlex.split(err[-1])[1:]) == 0  # pasted
    finally:
        del os.environ["UBA_HF_CACHE"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from"] == str(out / "checkpoint-2") and metrics["global_step"] == 4
