"""UBA through clients this package does not control: ``uba-run`` in front of an unmodified
HfArgumentParser script (tests/clients/train_stock.py, the stock Trainer), TRL's SFTTrainer, and the
real launchers (torchrun, ``accelerate launch`` with the shipped recipe, ``deepspeed --module``).

The training runs compare the LR of every update with the closed form of docs/schedule.md. The
wrapper's own behaviour is tested in tests/library/test_run.py.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import (
    LRRecorder,
    assert_clean,
    closed_form,
    ds_config_with_scheduler_block,
    excerpt,
    free_port,
    launcher_env,
    needs_cpu_only,
    run_launcher,
    tiny_olmo2,
)

ROOT = Path(__file__).resolve().parents[2]
CLIENT = str(ROOT / "tests" / "clients" / "train_stock.py")
ZERO2 = ROOT / "recipes" / "deepspeed" / "zero2.json"
LR, W, N, PHI, RATIO, SAVE = 1e-3, 2, 8, 1.0, 0.1, 4
WRAP = [sys.executable, "-m", "uba_hf.run"]

# ------------------------------------------------------------------------------ the stock Trainer


def client_args(out: Path, *extra: str) -> list[str]:
    return [
        *("--output_dir", str(out), "--lr_scheduler_type", "uba"),
        *("--lr_scheduler_kwargs", json.dumps({"phi": PHI, "min_lr_ratio": RATIO})),
        *("--max_steps", str(N), "--warmup_steps", str(W), "--learning_rate", str(LR)),
        *("--per_device_train_batch_size", "4", "--save_steps", str(SAVE), "--logging_steps", "1"),
        *("--report_to", "none", "--disable_tqdm", "true", "--seed", "0"),
        *extra,
    ]


def expected(steps, budget: int = N) -> dict[int, float]:
    return {s: LR * closed_form(s, W, budget, PHI, RATIO) for s in steps}


def reports(out: Path, n: int) -> list[dict]:
    found = sorted(out.glob("rank*.json"))
    assert len(found) == n, found
    recs = [json.loads(p.read_text()) for p in found]
    for rec in recs:
        rec["lrs"] = {int(k): v for k, v in rec["lrs"].items()}
    return recs


CPU = ("--use_cpu", "true")


def one_process(out: Path, *extra: str) -> list[str]:
    return [*WRAP, CLIENT, *client_args(out, *CPU, *extra)]


def torchrun(out: Path, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port())),
        *("-m", "uba_hf.run", CLIENT, *client_args(out, *CPU, *extra)),
    ]


def accelerate(out: Path, *extra: str) -> list[str]:
    """The command of multi_cpu.yaml's header and docs/compatibility.md's client table, run with
    ACCELERATE_USE_CPU=1 in the environment and without the script's own ``--use_cpu``."""
    return [
        *(sys.executable, "-m", "accelerate.commands.launch", "--config_file"),
        *(str(ROOT / "recipes" / "accelerate" / "multi_cpu.yaml"), "--main_process_port", str(free_port())),
        *("-m", "uba_hf.run", CLIENT, *client_args(out, *extra)),
    ]


LAUNCHERS = {"one_process": (one_process, 1), "torchrun": (torchrun, 2), "accelerate": (accelerate, 2)}


def launch(name: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    build, _ = LAUNCHERS[name]
    # Accelerate does not pass the recipe's use_cpu to the processes it starts (see multi_cpu.yaml).
    env = {"ACCELERATE_USE_CPU": "1"} if name == "accelerate" else {}
    return run_launcher(build(out, *extra), timeout=300, **env)


@pytest.fixture(scope="module", params=list(LAUNCHERS))
def stock_run(request, tmp_path_factory):
    name = request.param
    out = tmp_path_factory.mktemp(name)
    proc = launch(name, out)
    assert_clean(proc)
    return name, out, reports(out, LAUNCHERS[name][1])


@pytest.mark.slow
def test_stock_trainer_through_uba_run_lr_exact_at_every_update(stock_run):
    name, _, recs = stock_run
    for rec in recs:
        assert rec["world_size"] == rec["torch_world_size"] == LAUNCHERS[name][1]
        assert rec["scheduler_class"] == "UBASchedule" and rec["global_step"] == N
        assert rec["scheduler_state_uba"] == {
            "num_training_steps": N,
            "num_warmup_steps": W,
            "phi": PHI,
            "min_lr_ratio": RATIO,
        }
        assert rec["lrs"] == pytest.approx(expected(range(N)), rel=1e-12, abs=1e-18)
    if len(recs) == 2:
        assert recs[0]["lrs"] == recs[1]["lrs"]
    if name == "accelerate":  # what ran is what the recipe tells a user to run
        header = (ROOT / "recipes" / "accelerate" / "multi_cpu.yaml").read_text().split("compute_environment")[0]
        assert "ACCELERATE_USE_CPU=1 accelerate launch --config_file recipes/accelerate/multi_cpu.yaml" in header


@pytest.mark.slow
def test_stock_trainer_resume_with_another_max_steps_is_refused(stock_run, tmp_path):
    name, out, _ = stock_run
    proc = launch(name, tmp_path / "other", "--max_steps", "12", "--resume_from_checkpoint", str(out / "checkpoint-4"))
    assert proc.returncode != 0
    assert "Cannot resume from" in proc.stdout and "num_training_steps: checkpoint 8 vs now 12" in proc.stdout
    assert not list((tmp_path / "other").glob("rank*.json"))


@pytest.mark.slow
def test_stock_trainer_resume_with_the_same_max_steps_is_exact(stock_run, tmp_path):
    name, out, full = stock_run
    proc = launch(name, tmp_path / "resumed", "--resume_from_checkpoint", str(out / "checkpoint-4"))
    assert_clean(proc)
    for rec, uninterrupted in zip(reports(tmp_path / "resumed", LAUNCHERS[name][1]), full, strict=True):
        assert sorted(rec["lrs"]) == list(range(SAVE, N)) and rec["global_step"] == N
        assert rec["lrs"] == {s: uninterrupted["lrs"][s] for s in range(SAVE, N)}  # bit for bit


# ------------------------------------------------------------------------------ DeepSpeed


@pytest.mark.slow
def test_deepspeed_launcher_zero2_through_uba_run_steps_uba_on_the_engine(tmp_path):
    """``deepspeed --module uba_hf.run`` puts ``--local_rank=N`` before the script; ZeRO-2 from the
    shipped JSON on 2 CPU processes; the LR read from the DeepSpeed engine is the closed form, and
    the engine's checkpoint refuses a resume with another budget (the scheduler's own state)."""

    def deepspeed(out: Path, *extra: str) -> list[str]:
        return [
            *(sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "2", "--master_port", str(free_port())),
            *("--module", "uba_hf.run", CLIENT, *client_args(out, *CPU, "--deepspeed", str(ZERO2), *extra)),
        ]

    out = tmp_path / "zero2"
    proc = run_launcher(deepspeed(out), timeout=300)
    assert_clean(proc)
    assert "'uba_hf.run', '--local_rank=0'" in proc.stdout  # the launcher's own log of what it started
    for rec in reports(out, 2):
        assert rec["world_size"] == rec["torch_world_size"] == 2
        assert rec["engine_class"] == "DeepSpeedEngine" and rec["zero_stage"] == 2
        assert not rec["ds_config_has_scheduler"] and rec["scheduler_class"] == "UBASchedule"
        assert rec["lrs"] == pytest.approx(expected(range(N)), rel=1e-12, abs=1e-18)
    other = tmp_path / "other"
    proc = run_launcher(deepspeed(other, "--max_steps", "12", "--resume_from_checkpoint", str(out / "checkpoint-4")))
    assert proc.returncode != 0
    assert "Cannot resume from" in proc.stdout and "num_training_steps: checkpoint 8 vs now 12" in proc.stdout
    assert not list(other.glob("rank*.json"))


@pytest.mark.slow
def test_deepspeed_json_with_a_scheduler_block_is_refused_on_every_rank(tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(ds_config_with_scheduler_block()))
    out = tmp_path / "out"
    proc = run_launcher(torchrun(out, "--deepspeed", str(path)), timeout=300)
    assert proc.returncode != 0
    assert proc.stdout.count("uba-run: error: The DeepSpeed config has a 'scheduler' block (WarmupDecayLR)") == 2
    assert "Traceback" not in proc.stdout.split("uba-run: error")[0]
    assert not out.exists()  # stopped before the Trainer created anything


# ------------------------------------------------------------------------------ TRL


def _offline_tokenizer():
    """A byte-level BPE tokenizer trained here, in memory: no hub."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [f"def f{i}(x):\n    return x + {i}\n" for i in range(64)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<eos>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>"), texts


def test_trl_sft_trainer_with_uba_lr_exact(tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tokenizer, texts = _offline_tokenizer()
    config = SFTConfig(
        output_dir=str(tmp_path),
        lr_scheduler_type="uba",
        lr_scheduler_kwargs={"phi": PHI, "min_lr_ratio": RATIO},
        max_steps=N,
        warmup_steps=W,
        learning_rate=LR,
        per_device_train_batch_size=4,
        max_length=16,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        # TRL's default (gradient checkpointing on) under the name Transformers 5 reads: TRL's own default is
        # `gradient_checkpointing=True`, a deprecated alias that makes Transformers warn.
        activation_checkpointing=True,
    )
    model = tiny_olmo2(vocab_size=len(tokenizer), seq_len=16, pad_token_id=tokenizer.pad_token_id)
    recorder = LRRecorder()
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_dict({"text": texts}),
        processing_class=tokenizer,
        callbacks=[recorder],
    )
    trainer.train()
    assert type(trainer.lr_scheduler).__name__ == "UBASchedule"
    assert recorder.steps == list(range(N))
    assert recorder.lrs == pytest.approx(list(expected(range(N)).values()), rel=1e-12, abs=1e-18)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == N


@pytest.mark.slow
def test_trl_cli_through_uba_run_trains_with_uba(tmp_path):
    """``uba-run trl sft ...``: TRL's console script, found by name, re-launches its training script
    through ``accelerate launch`` in a new process, which registers "uba" at start-up (uba_hf/_children)."""
    tokenizer, texts = _offline_tokenizer()
    model_dir, data_dir, out = tmp_path / "model", tmp_path / "data", tmp_path / "out"
    tiny_olmo2(vocab_size=len(tokenizer), seq_len=16, pad_token_id=tokenizer.pad_token_id).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data_dir.mkdir()
    (data_dir / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    cmd = [
        *(*WRAP, "trl", "sft", "--model_name_or_path", str(model_dir), "--dataset_name", str(data_dir)),
        *("--max_length", "16", "--save_steps", str(N)),
        *client_args(out, *CPU),
    ]
    proc = run_launcher(cmd, timeout=300)
    assert_clean(proc)
    state = torch.load(out / f"checkpoint-{N}" / "scheduler.pt", weights_only=True)
    assert state["uba"] == {"num_training_steps": N, "num_warmup_steps": W, "phi": PHI, "min_lr_ratio": RATIO}
    history = json.loads((out / f"checkpoint-{N}" / "trainer_state.json").read_text())["log_history"]
    logged = {h["step"] - 1: h["learning_rate"] for h in history if "learning_rate" in h}  # as test_distributed
    assert logged == pytest.approx(expected(range(N)), rel=1e-12, abs=1e-18)


@pytest.mark.slow
def test_child_processes_register_uba_and_run_the_sitecustomize_they_shadow(tmp_path):
    other = tmp_path / "other_site"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['OTHER_SITECUSTOMIZE_RAN'] = '1'\n")
    children = ROOT / "uba_hf" / "_children"
    code = (
        "import os\nfrom transformers.trainer_utils import SchedulerType\n"
        "print(os.environ.get('OTHER_SITECUSTOMIZE_RAN'), 'uba' in [s.value for s in SchedulerType])"
    )
    env = launcher_env(PYTHONPATH=os.pathsep.join([str(children), str(other), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "True"]


# ------------------------------------------------------------------------------ a dead rank


@pytest.mark.slow
def test_a_killed_rank_ends_the_launch_and_latest_resumes_exactly(tmp_path):
    """SIGKILL rank 1 after checkpoint-4 (the documented multi-CPU accelerate command): the launcher
    exits non-zero within 60 s; ``--resume_from_checkpoint latest`` then finishes the budget with the
    closed-form LR, every update exactly once."""
    import psutil

    out = tmp_path / "run"
    budget = 12
    cmd = accelerate(out, "--max_steps", str(budget), "--step_sleep", "0.5")
    launcher = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=launcher_env(ACCELERATE_USE_CPU="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        ckpt = out / "checkpoint-4"
        deadline = time.time() + 240
        while not ((ckpt / "trainer_state.json").exists() and (ckpt / "rng_state_1.pth").exists()):
            assert launcher.poll() is None, launcher.stdout.read()[-3000:]
            assert time.time() < deadline, "no checkpoint-4 within 240 s"
            time.sleep(0.05)
        rank1 = [p for p in psutil.Process(launcher.pid).children(recursive=True) if p.environ().get("RANK") == "1"]
        assert len(rank1) == 1, rank1
        rank1[0].kill()
        killed_at = time.time()
        try:
            output, _ = launcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the launcher was still running 60 s after a rank was killed")
        took = time.time() - killed_at
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, 9)
            launcher.communicate()
    assert launcher.returncode != 0, excerpt(output)
    print(f"launcher exited {launcher.returncode} {took:.1f} s after SIGKILL of rank 1")
    assert not (out / "checkpoint-8").exists()

    proc = run_launcher(accelerate(out, "--max_steps", str(budget), "--resume_from_checkpoint", "latest"),
                        timeout=300, ACCELERATE_USE_CPU="1")  # fmt: skip
    assert_clean(proc)
    for rec in reports(out, 2):
        assert rec["resumed_from"].endswith("checkpoint-4") and rec["global_step"] == budget
        assert rec["lrs"] == pytest.approx(expected(range(4, budget), budget=budget), rel=1e-12, abs=1e-18)
        assert rec["logged_steps"] == list(range(1, budget + 1))  # none lost, none repeated


@pytest.mark.slow
@needs_cpu_only
def test_multi_cpu_recipe_without_the_cpu_flag_is_refused_not_split(tmp_path):
    """What happened before: two rank-0 runs in one output_dir, exit 0. Through uba-run: exit 2 on each rank."""
    out = tmp_path / "split"
    cmd = accelerate(out)
    proc = run_launcher(cmd, timeout=300)  # no ACCELERATE_USE_CPU, no --use_cpu
    assert proc.returncode != 0
    assert proc.stdout.count("uba-run: error: 2 processes were launched on a machine without GPUs") == 2, excerpt(
        proc.stdout
    )
    assert not out.exists()
