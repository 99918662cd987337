"""UBA under real multi-process engines on CPU: Accelerate (DDP over gloo), DeepSpeed ZeRO-2/3, FSDP.

Every run is a real launcher (``accelerate launch`` with a shipped recipe) starting two processes
of tests/dist_scripts/train_tiny.py (the tiny OLMo-2 preset, 10 updates) or of the pretrain CLI.
Each process reports what it saw in ``rank{R}.json``; the tests compare those reports with a
single-process run and with the closed form of docs/schedule.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    TINY_FLOOR,
    TINY_PHI,
    assert_clean,
    closed_form,
    ds_config_with_scheduler_block,
    free_port,
    segment_closed_form,
)
from conftest import run_launcher as run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "tests" / "dist_scripts" / "train_tiny.py")
RECIPES = ROOT / "recipes" / "accelerate"
LR, WARMUP, BUDGET, PHI = 1e-3, 2, 10, 1.0  # train_tiny.py's defaults


def accelerate(config: str, *args: str, num_processes: int = 2, launcher_args: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(RECIPES / config),
        "--num_processes", str(num_processes),
        "--main_process_port", str(free_port()),
        *launcher_args,
        *args,
    ]  # fmt: skip


def records(out: Path, n: int = 2) -> list[dict]:
    found = sorted(out.glob("rank*.json"))
    assert len(found) == n, found
    recs = [json.loads(p.read_text()) for p in found]
    assert [r["rank"] for r in recs] == list(range(n))
    return recs


def expected_lrs(steps, warmup=WARMUP, budget=BUDGET, phi=PHI, r=0.0, lr=LR) -> list[float]:
    return [lr * closed_form(s, warmup, budget, phi, r) for s in steps]


def losses(rec: dict) -> dict[int, float]:
    return {int(step): loss for step, loss in rec["losses"].items()}


# --------------------------------------------------------------------------------- Accelerate DDP


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, per-device batch 8 = the global batch of the two-process runs (2 x 4)."""
    out = tmp_path_factory.mktemp("single")
    proc = run([sys.executable, SCRIPT, str(out), "--use_cpu", "true", "--per_device_train_batch_size", "8"])
    assert_clean(proc)
    (rec,) = records(out, 1)
    assert rec["world_size"] == 1 and rec["torch_world_size"] == 1
    return rec


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    proc = run(accelerate("multi_cpu.yaml", SCRIPT, str(out), "--use_cpu", "true"))
    assert_clean(proc)
    return out, records(out)


def test_accelerate_multi_cpu_recipe_runs_two_gloo_processes(ddp):
    _, recs = ddp
    for rec in recs:
        assert rec["world_size"] == 2 and rec["torch_world_size"] == 2
        assert rec["backend"] == "gloo"
        assert rec["distributed_type"] == "DistributedType.MULTI_CPU"
        assert rec["engine_class"] == "DistributedDataParallel"
        assert rec["global_step"] == rec["max_steps"] == BUDGET


def test_ranks_see_different_batches_that_together_are_the_single_process_batch(ddp, reference):
    _, (r0, r1) = ddp
    assert len(r0["batches"]) == len(r1["batches"]) == len(reference["batches"]) == BUDGET
    for step, (a, b, whole) in enumerate(zip(r0["batches"], r1["batches"], reference["batches"], strict=True)):
        assert len(a) == len(b) == 4
        assert not set(a) & set(b), f"update {step}: both ranks trained on blocks {set(a) & set(b)}"
        assert a + b == whole, f"update {step}: the global batch differs from the single-process run"


def test_lr_at_every_update_equals_single_process_and_closed_form(ddp, reference):
    _, recs = ddp
    want = expected_lrs(range(BUDGET))
    assert reference["lrs"] == pytest.approx(want, rel=1e-12, abs=1e-18)
    for rec in recs:
        assert rec["lrs"] == reference["lrs"]  # bit for bit
        assert rec["scheduler_is_uba"] and rec["scheduler_class"] == "UBASchedule"
        assert rec["scheduler_kwargs"]["num_training_steps"] == BUDGET  # budget = updates, not micro-batches
        # DDP averages the two ranks' gradients: same updates as one process on the whole batch.
        assert losses(rec) == pytest.approx(losses(reference), rel=1e-4)


def test_exactly_one_process_writes_the_checkpoints(ddp):
    out, (r0, r1) = ddp
    assert r0["should_save"] and not r1["should_save"]
    for step in (5, 10):
        ckpt = f"checkpoint-{step}/"
        for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json", "uba_schedule.json"):
            assert ckpt + name in r0["writes"], (name, r0["writes"])
        record = json.loads((out / ckpt / "uba_schedule.json").read_text())
        assert record["num_training_steps"] == BUDGET and record["num_warmup_steps"] == WARMUP
    # The other process writes nothing but its own RNG state (needed for an exact resume).
    assert set(r1["writes"]) == {"checkpoint-5/rng_state_1.pth", "checkpoint-10/rng_state_1.pth"}


def test_pretrain_cli_under_accelerate_two_processes(tmp_path):
    """The real main job (scripts/pretrain.py, tiny preset) with the multi-CPU recipe."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sources = sorted(Path(json.__file__).parent.glob("*.py")) + sorted(Path(subprocess.__file__).parent.glob("a*.py"))
    for i, src in enumerate(sources[:24]):
        (corpus / f"doc{i:02d}.txt").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "run"
    steps, warmup, lr, per_device, block = 6, 2, 3e-3, 4, 64
    proc = run(
        accelerate(
            "multi_cpu.yaml",
            str(ROOT / "scripts" / "pretrain.py"),
            str(ROOT / "recipes" / "pretrain" / "tiny.yaml"),
            *("--dataset_name", str(corpus), "--vocab_size", "512", "--block_size", str(block)),
            *("--max_steps", str(steps), "--warmup_steps", str(warmup), "--learning_rate", str(lr)),
            *("--per_device_train_batch_size", str(per_device), "--logging_steps", "1"),
            *("--eval_steps", "3", "--save_steps", "3", "--max_eval_blocks", "8", "--preprocessing_num_workers", "1"),
            *("--output_dir", str(out)),
        ),
        timeout=400,
        UBA_HF_CACHE=str(tmp_path / "cache"),
    )
    assert_clean(proc)
    assert proc.stdout.count("[uba-pretrain] eval loss") == 1, "exactly one process reports"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_step"] == metrics["budget"] == steps
    assert metrics["tokens_seen"] == steps * per_device * 2 * block  # the global batch spans both processes
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    logged = {h["step"] - 1: h["learning_rate"] for h in history if "learning_rate" in h}
    assert sorted(logged) == list(range(steps))
    for s, got in logged.items():
        assert got == pytest.approx(lr * closed_form(s, warmup, steps, TINY_PHI, TINY_FLOOR), rel=1e-9, abs=1e-15), s
    # A CPU has no known peak FLOP/s: tokens/s only, and the log says why there is no MFU.
    assert all("tokens_per_second" in h and "mfu" not in h for h in history if "loss" in h)
    assert "MFU unknown" in proc.stdout
    # One copy of each log line (the main process logs), and no DeepSpeed banner: this run does not use it.
    assert proc.stdout.count("Model: tiny") == 1 and proc.stdout.count("UBA schedule: phi") == 1
    assert "Setting accelerator to CPU" not in proc.stdout
    for step in (3, 6):
        assert json.loads((out / f"checkpoint-{step}" / "uba_schedule.json").read_text())["num_training_steps"] == 6


# --------------------------------------------------------------------------------- DeepSpeed


@pytest.fixture(scope="module", params=[2, 3], ids=["zero2", "zero3"])
def zero(request, tmp_path_factory):
    stage = request.param
    out = tmp_path_factory.mktemp(f"zero{stage}")
    proc = run(accelerate(f"deepspeed_zero{stage}.yaml", SCRIPT, str(out), "--use_cpu", "true"))
    assert_clean(proc)
    return stage, out, records(out)


def test_deepspeed_engine_trains_with_the_shipped_config_and_steps_uba(zero):
    stage, _, recs = zero
    for rec in recs:
        assert rec["distributed_type"] == "DistributedType.DEEPSPEED"
        assert rec["engine_class"] == "DeepSpeedEngine" and rec["zero_stage"] == stage
        assert rec["world_size"] == 2 and rec["torch_world_size"] == 2
        assert rec["inner_optimizer_class"] == "AdamW"  # the Trainer's torch AdamW, wrapped by ZeRO
        assert not rec["ds_config_has_scheduler"] and rec["engine_lr_scheduler"] == "NoneType"
        # The one scheduler that moves the LR is UBA, over the budget in optimizer updates.
        assert rec["scheduler_class"] == "UBASchedule" and rec["scheduler_is_uba"]
        assert rec["scheduler_kwargs"] == {
            "num_warmup_steps": WARMUP,
            "num_training_steps": BUDGET,
            "phi": PHI,
            "min_lr_ratio": 0.0,
        }
        # LR read from the DeepSpeed engine itself before each of its optimizer steps.
        assert rec["lrs"] == pytest.approx(expected_lrs(range(BUDGET)), rel=1e-12, abs=1e-18)
    r0, r1 = recs
    assert all(not set(a) & set(b) for a, b in zip(r0["batches"], r1["batches"], strict=True))
    # ZeRO: each process writes its own optimizer-state shard; only the main one writes the rest.
    assert "checkpoint-5/uba_schedule.json" in r0["writes"]
    assert all("rank_1" in w or w.endswith("rng_state_1.pth") for w in r1["writes"]), r1["writes"]


def test_deepspeed_checkpoint_resumes_on_the_same_curve(zero, tmp_path):
    stage, out, recs = zero
    resumed_out = tmp_path / "resumed"
    proc = run(
        accelerate(
            f"deepspeed_zero{stage}.yaml",
            SCRIPT,
            str(resumed_out),
            *("--use_cpu", "true", "--resume_from_checkpoint", str(out / "checkpoint-5")),
        )
    )
    assert_clean(proc)
    # One line from the main process says what was resumed, not one per rank.
    assert proc.stdout.count("resuming from") == 1 and f"{out / 'checkpoint-5'} (update 5 of {BUDGET})" in proc.stdout
    for rec in records(resumed_out):
        assert rec["global_step"] == BUDGET and len(rec["lrs"]) == BUDGET - 5
        assert rec["lrs"] == pytest.approx(expected_lrs(range(5, BUDGET)), rel=1e-12, abs=1e-18)
        # Weights and ZeRO optimizer state came back too: the resumed updates match the uninterrupted ones.
        after = {s: v for s, v in losses(rec).items() if s > 5}
        assert sorted(after) == list(range(6, BUDGET + 1))
        assert after == pytest.approx({s: losses(recs[0])[s] for s in after}, rel=1e-5)


def test_deepspeed_resume_with_another_budget_is_refused(zero, tmp_path):
    stage, out, _ = zero
    proc = run(
        accelerate(
            f"deepspeed_zero{stage}.yaml",
            SCRIPT,
            str(tmp_path / "other"),
            *("--use_cpu", "true", "--max_steps", "12", "--resume_from_checkpoint", str(out / "checkpoint-5")),
        )
    )
    assert proc.returncode != 0
    assert "Cannot resume from" in proc.stdout and "num_training_steps: checkpoint 10 vs now 12" in proc.stdout


def test_deepspeed_rebudget_continues_on_the_segment(zero, tmp_path):
    """Through DeepSpeed's engine checkpoint: --rebudget from checkpoint-5 to a 14-update budget."""
    stage, out, _ = zero
    proc = run(
        accelerate(
            f"deepspeed_zero{stage}.yaml",
            SCRIPT,
            str(tmp_path / "longer"),
            *("--use_cpu", "true", "--max_steps", "14", "--rebudget", "true"),
            *("--resume_from_checkpoint", str(out / "checkpoint-5")),
        )
    )
    assert_clean(proc)
    m = closed_form(5, WARMUP, BUDGET, PHI, 0.0)  # the multiplier the old plan scheduled for update 5
    for rec in records(tmp_path / "longer"):
        assert rec["global_step"] == 14 and len(rec["lrs"]) == 14 - 5
        expected = [LR * segment_closed_form(s, 5, m, 14, PHI, 0.0) for s in range(5, 14)]
        assert rec["lrs"] == pytest.approx(expected, rel=1e-12, abs=1e-18)


def test_deepspeed_config_with_a_scheduler_block_fails_clearly(tmp_path):
    config = ds_config_with_scheduler_block()
    path = tmp_path / "with_scheduler.json"
    path.write_text(json.dumps(config))
    proc = run([sys.executable, SCRIPT, str(tmp_path / "out"), "--use_cpu", "true", "--deepspeed", str(path)])
    assert proc.returncode != 0
    assert "UBAConfigError: The DeepSpeed config has a 'scheduler' block (WarmupDecayLR)" in proc.stdout
    assert "would replace the UBA schedule" in proc.stdout
    assert not (tmp_path / "out" / "rank0.json").exists()  # failed before any training


# --------------------------------------------------------------------------------- FSDP


def test_fsdp_recipe_launches_two_cpu_processes_with_exact_lr(tmp_path):
    """The FSDP recipe goes through `accelerate launch` (FSDP2 settings exported to the processes).

    On CPU Accelerate 1.15 does not shard: AcceleratorState turns on FSDP only from a MULTI_GPU /
    NPU / XPU / ... run, never from MULTI_CPU, so the processes train data-parallel (gloo). The
    UBA LR is exact either way; if a later Accelerate shards on CPU, the FSDP branch checks it.
    """
    out = tmp_path / "fsdp"
    proc = run(
        accelerate(
            "fsdp.yaml",
            SCRIPT,
            str(out),
            *("--use_cpu", "true", "--max_steps", "4", "--save_strategy", "no"),
            launcher_args=("--mixed_precision", "no"),  # bf16 autocast on CPU is slow and beside the point
        )
    )
    assert_clean(proc)
    for rec in records(out):
        assert rec["world_size"] == 2 and rec["backend"] == "gloo"
        if rec["fsdp"]:
            assert rec["distributed_type"] == "DistributedType.FSDP"
        else:
            assert rec["distributed_type"] == "DistributedType.MULTI_CPU"
        assert rec["scheduler_is_uba"]
        assert rec["lrs"] == pytest.approx(expected_lrs(range(4), budget=4), rel=1e-12, abs=1e-18)
