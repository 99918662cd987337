"""Every shipped recipe is loaded and validated by the tool that will read it (no stale keys).

Pretraining YAML: the pretrain CLI's own parser (unknown keys are an error there), plus the header
arithmetic (global batch in tokens, token budget). DeepSpeed JSON: DeepSpeed's strict ZeRO config
model and its DeepSpeedConfig, after the Trainer has filled the "auto" values. Accelerate YAML:
Accelerate's config loader and launch-argument validation (which launcher, how many processes),
plus the FSDP plugin built from what the launcher would export. SLURM: the sbatch script run with
stand-ins for srun / scontrol / accelerate, its arguments parsed by Accelerate's launch parser.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import TINY, TINY_FLOOR, TINY_PHI, closed_form, tiny_olmo2

from uba_hf import zero_config_schedule
from uba_hf.pretrain.cli import parse_args
from uba_hf.pretrain.models import PRESETS

ROOT = Path(__file__).resolve().parents[2]
PRETRAIN = sorted((ROOT / "recipes" / "pretrain").glob("olmo2-*.yaml"))
DS_JSON = sorted((ROOT / "recipes" / "deepspeed").glob("*.json"))
ACCELERATE = sorted((ROOT / "recipes" / "accelerate").glob("*.yaml"))
SBATCH = ROOT / "recipes" / "slurm" / "pretrain.sbatch"


def test_the_recipe_sets_are_complete():
    assert {p.stem for p in PRETRAIN} == {f"olmo2-{s}" for s in ("20m", "60m", "150m", "300m", "1b", "7b")}
    assert {p.stem for p in DS_JSON} == {"zero2", "zero2_offload", "zero3", "zero3_offload"}
    assert {p.stem for p in ACCELERATE} == {
        "single_process",
        "multi_cpu",
        "multi_gpu",
        "fsdp",
        "deepspeed_zero2",
        "deepspeed_zero2_offload",
        "deepspeed_zero3",
        "deepspeed_zero3_offload",
        "multi_node",
    }
    assert SBATCH.is_file()


# --------------------------------------------------------------------------------- pretraining YAML


def _header_numbers(text: str) -> dict[str, int]:
    """The global batch and budget the recipe's header comment promises."""

    def num(s: str) -> int:
        return int(s.replace(",", ""))

    batch = re.search(
        r"= (\d+) x (\d+) x (\d+) = ([\d,]+) sequences x ([\d,]+) tokens = ([\d,]+) tokens per optimizer update", text
    )
    budget = re.search(r"-> ([\d,]+) x ([\d,]+) = ([\d,]+) tokens", text)
    assert batch and budget, "header must state the global batch and the token budget"
    per_device, accumulation, processes, sequences, block, tokens = map(num, batch.groups())
    steps, tokens_again, total = map(num, budget.groups())
    assert per_device * accumulation * processes == sequences and sequences * block == tokens == tokens_again
    assert steps * tokens == total
    return dict(per_device=per_device, accumulation=accumulation, block=block, steps=steps, processes=processes)


@pytest.mark.parametrize("path", PRETRAIN, ids=lambda p: p.stem)
def test_pretrain_recipe_parses_with_the_cli_and_matches_its_header(path):
    text = path.read_text()
    recipe = yaml.safe_load(text)
    # bf16 needs a GPU (or use_cpu) to pass TrainingArguments' checks on this CPU machine.
    model, data, uba, run, training = parse_args([str(path), "--use_cpu", "true"])
    assert model.model_preset == path.stem and model.model_preset in PRESETS
    header = _header_numbers(text)
    assert training.per_device_train_batch_size == header["per_device"]
    assert training.gradient_accumulation_steps == header["accumulation"]
    assert data.block_size == header["block"] and training.max_steps == header["steps"]
    assert data.block_size <= PRESETS[path.stem].max_position_embeddings
    # OLMo-style optimisation.
    assert (training.adam_beta1, training.adam_beta2, training.weight_decay, training.max_grad_norm) == (
        0.9,
        0.95,
        0.1,
        1.0,
    )
    assert training.bf16 and training.lr_scheduler_type.value == "uba" and "learning_rate" in recipe
    assert 0 < training.get_warmup_steps(training.max_steps) < training.max_steps // 5
    assert uba.phi is None and uba.min_lr_ratio is None  # the job picks them (the zero-config choice)
    # A real hub corpus, streamed, and the OLMo-2 tokenizer (parsed only, never downloaded here).
    assert data.dataset_name.count("/") == 1 and not Path(data.dataset_name).exists()
    assert data.streaming and training.max_steps > 0
    assert data.tokenizer_name == "allenai/OLMo-2-1124-7B"


def test_the_tiny_recipes_header_gives_the_readmes_measurement_and_todays_pick():
    """The header gave 2m54s, 5,323 tokens/s and phi 0.025, figures of earlier versions: now the README's
    measurement of the main job, at the phi the job picks today."""
    header = "\n".join(line for line in Path(TINY).read_text().splitlines() if line.startswith("#"))
    readme = " ".join((ROOT / "README.md").read_text().split())
    flat = " ".join(header.replace("#", " ").split())
    figures = re.findall(r"\d+ min \d+ s|[\d,]+ tokens/s|\d\.\d\d -> \d\.\d\d", flat)
    assert figures == ["2 min 43 s", "5,903 tokens/s", "9.03 -> 4.51"]
    assert all(figure in readme for figure in figures)
    assert f"the zero-config choice, phi {TINY_PHI:g} and the {TINY_FLOOR:.0%} floor" in flat
    assert "m54s" not in flat and "5,323" not in flat


@pytest.mark.parametrize("path", PRETRAIN, ids=lambda p: p.stem)
def test_every_olmo_recipe_leaves_phi_to_the_zero_config_choice_and_says_what_it_picks(path):
    """No OLMo recipe sets phi or the floor: the job picks them from the peak LR and the budget. Each recipe's comment
    gives the LR area (peak LR x updates) and the pick at it."""
    _, _, uba, _, training = parse_args([str(path), "--use_cpu", "true"])
    assert uba.phi is None and uba.min_lr_ratio is None
    pick = zero_config_schedule(training.max_steps, training.learning_rate)
    text = path.read_text()
    assert f"an LR area of {training.learning_rate:g} x {training.max_steps:,} updates = {pick['lr_area']:.3g}" in text
    assert f"(phi {pick['phi']:g}) to a {pick['min_lr_ratio']:.0%} floor" in text


def test_pretrain_recipes_grow_in_batch_and_budget():
    tokens = []
    for path in sorted(PRETRAIN, key=lambda p: PRESETS[p.stem].nominal_params):
        h = _header_numbers(path.read_text())
        tokens.append((h["per_device"] * h["accumulation"] * h["processes"] * h["block"], h["steps"]))
    per_update = [t for t, _ in tokens]
    total = [t * s for t, s in tokens]
    assert per_update == sorted(per_update) and total == sorted(total)


# Under DeepSpeed ZeRO / FSDP (their recommended launchers) compilation is untested here: those recipes leave it off.
COMPILED = {"olmo2-20m", "olmo2-60m", "olmo2-150m", "olmo2-300m"}


@pytest.mark.parametrize("path", PRETRAIN, ids=lambda p: p.stem)
def test_gpu_recipe_throughput_options_reach_training_arguments(path):
    """bf16, fused AdamW, compile, pinned memory in TrainingArguments; the attention kernel and per-document
    attention in the job's model and data arguments (docs/scaling.md, "Throughput on GPUs")."""
    from transformers.training_args import OptimizerNames

    model, data, _, _, training = parse_args([str(path), "--use_cpu", "true"])
    assert training.bf16 and training.optim == OptimizerNames.ADAMW_TORCH_FUSED
    assert training.torch_compile == (path.stem in COMPILED)
    assert model.attn_implementation == "sdpa" and data.document_attention
    # use_cpu turns pinning off; without it (and without bf16, which needs a GPU here) the recipe's value stays.
    assert parse_args([str(path), "--bf16", "false"])[4].dataloader_pin_memory


def test_attn_implementation_reaches_the_model_config(small_text_corpus):
    """sdpa is Transformers' own default, so the check overrides it: --attn_implementation eager must reach the
    model the job builds, and the collator flattens only for FlashAttention."""
    from uba_hf.pretrain.cli import build_model_for
    from uba_hf.pretrain.collator import block_collator
    from uba_hf.pretrain.data import get_tokenizer, load_corpus

    small = json.dumps(dict(num_hidden_layers=1, hidden_size=64, intermediate_size=128, num_attention_heads=2))
    argv = [str(PRETRAIN[0]), "--use_cpu", "true", "--config_overrides", small, "--vocab_size", "300"]
    argv += ["--dataset_name", str(small_text_corpus), "--tokenizer_name", str(small_text_corpus / "missing")]
    for attn in ("eager", "sdpa"):
        model_args, data, _, _, _ = parse_args([*argv, "--attn_implementation", attn])
        data.tokenizer_name = None  # train the small BPE instead of reading the hub's
        tokenizer = get_tokenizer(data, load_corpus(data))
        model = build_model_for(model_args, tokenizer, data.block_size)
        assert model.config._attn_implementation == attn
        collator = block_collator(data, tokenizer.eos_token_id, model.config._attn_implementation)
        assert collator.document_attention and not collator.flatten


@pytest.mark.slow
def test_tiny_preset_trains_compiled_with_the_recipes_options_and_the_exact_lr(small_text_corpus, tmp_path):
    """The tiny preset with the GPU recipes' options (torch_compile by inductor, bf16, fused AdamW, SDPA, document
    attention) on CPU: Dynamo compiled graphs, and every update's LR is the closed form."""
    import torch

    from uba_hf.pretrain.cli import run

    torch._dynamo.reset()
    argv = [TINY, "--dataset_name", str(small_text_corpus), "--vocab_size", "512", "--block_size", "64"]
    argv += ["--per_device_train_batch_size", "4", "--max_steps", "5", "--logging_steps", "1", "--eval_strategy", "no"]
    argv += ["--save_strategy", "no", "--output_dir", str(tmp_path), "--torch_compile", "true", "--bf16", "true"]
    argv += ["--optim", "adamw_torch_fused", "--attn_implementation", "sdpa", "--document_attention", "true"]
    metrics = run(*parse_args(argv))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0
    logs = json.loads((tmp_path / "trainer_state.json").read_text())["log_history"]
    lrs = [h["learning_rate"] for h in logs if "learning_rate" in h]  # the LR each update used, in order
    expected = [
        metrics["learning_rate"] * closed_form(s, metrics["num_warmup_steps"], 5, TINY_PHI, TINY_FLOOR)
        for s in range(metrics["budget"])
    ]
    assert metrics["global_step"] == 5 and lrs == pytest.approx(expected, rel=1e-12, abs=0)
    assert all(math.isfinite(h["loss"]) for h in logs if "loss" in h)


# --------------------------------------------------------------------------------- DeepSpeed JSON


@pytest.mark.parametrize("path", DS_JSON, ids=lambda p: p.stem)
def test_deepspeed_json_is_valid_and_leaves_optimizer_and_schedule_to_the_trainer(path):
    from deepspeed.runtime.config import DeepSpeedConfig
    from deepspeed.runtime.zero.config import DeepSpeedZeroConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    raw = json.loads(path.read_text())
    assert "scheduler" not in raw, "a scheduler block would replace UBA"
    assert "optimizer" not in raw, "the Trainer's AdamW (and UBA on it) must be used"
    stage = int(path.stem[4])
    assert raw["zero_optimization"]["stage"] == stage
    offload = raw["zero_optimization"].get("offload_optimizer", {}).get("device")
    assert offload == ("cpu" if "offload" in path.stem else None)
    if stage == 3 and "offload" in path.stem:
        assert raw["zero_optimization"]["offload_param"]["device"] == "cpu"
    for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps"):
        assert raw[key] == "auto"  # filled from the Trainer: one source of truth for the batch

    # Fill "auto" exactly as the Trainer does, then validate with DeepSpeed's own (strict) models.
    args = TrainingArguments(
        str(path.parent),
        use_cpu=True,
        bf16=True,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        report_to="none",
    )
    config = HfTrainerDeepSpeedConfig(str(path))
    config.trainer_config_process(args)
    config.trainer_config_finalize(args, tiny_olmo2(), 10)
    assert "auto" not in json.dumps(config.config)
    DeepSpeedZeroConfig(**config.config["zero_optimization"])  # extra="forbid": no stale ZeRO keys
    ds = DeepSpeedConfig(config.config)
    assert ds.zero_optimization_stage == stage and ds.train_batch_size == 8 and ds.gradient_clipping == 1.0
    assert ds.scheduler_name is None and ds.optimizer_name is None
    assert config.config["bf16"]["enabled"] is True


# --------------------------------------------------------------------------------- Accelerate YAML

EXPECTED_LAUNCH = {
    # recipe: (launcher Accelerate picks, processes, machines)
    "single_process": ("simple", 1, 1),
    "multi_cpu": ("multi_gpu", 2, 1),  # torchrun; resolved to MULTI_CPU + gloo on a CPU-only host
    "multi_gpu": ("multi_gpu", 8, 1),
    "fsdp": ("fsdp", 8, 1),
    "deepspeed_zero2": ("deepspeed", 8, 1),
    "deepspeed_zero2_offload": ("deepspeed", 8, 1),
    "deepspeed_zero3": ("deepspeed", 8, 1),
    "deepspeed_zero3_offload": ("deepspeed", 8, 1),
    "multi_node": ("multi_gpu", 16, 2),
}


def _launch_args(path: Path, *extra: str):
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args = launch_command_parser().parse_args(["--config_file", str(path), *extra, "scripts/pretrain.py"])
    args, _, _ = _validate_launch_command(args)
    if args.use_deepspeed and not args.cpu:
        launcher = "deepspeed"
    elif args.use_fsdp and not args.cpu:
        launcher = "fsdp"
    elif args.multi_gpu and not args.cpu:
        launcher = "multi_gpu"
    else:
        launcher = "simple"
    return args, launcher


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_recipe_loads_and_selects_the_intended_launch(path, monkeypatch):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    monkeypatch.chdir(ROOT)  # recipes name the DeepSpeed JSON relative to the repository root
    config = load_config_from_file(str(path))  # ClusterConfig(**yaml): an unknown key is a TypeError
    assert isinstance(config, ClusterConfig)
    args, launcher = _launch_args(path)
    assert (launcher, args.num_processes, args.num_machines) == EXPECTED_LAUNCH[path.stem]
    if launcher == "deepspeed":
        ds_file = ROOT / config.deepspeed_config["deepspeed_config_file"]
        assert ds_file.is_file() and ds_file.parent.name == "deepspeed"
        assert ds_file.stem == path.stem.removeprefix("deepspeed_")
        assert config.deepspeed_config["zero3_init_flag"] == (ds_file.stem.startswith("zero3"))


def test_fsdp_recipe_builds_the_fsdp2_plugin_it_promises(monkeypatch):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env
    from transformers.models.olmo2.modeling_olmo2 import Olmo2DecoderLayer

    args, launcher = _launch_args(ROOT / "recipes" / "accelerate" / "fsdp.yaml")
    assert launcher == "fsdp" and args.mixed_precision == "bf16"
    env = prepare_multi_gpu_env(args)
    for key, value in env.items():
        if key.startswith(("FSDP_", "ACCELERATE_")):
            monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True  # full shard
    assert plugin.activation_checkpointing is True
    assert plugin.transformer_cls_names_to_wrap == [Olmo2DecoderLayer.__name__]
    assert any(isinstance(m, Olmo2DecoderLayer) for m in tiny_olmo2().modules())
    assert plugin.state_dict_type.name == "SHARDED_STATE_DICT"


def test_multi_node_template_takes_the_per_node_flags():
    path = ROOT / "recipes" / "accelerate" / "multi_node.yaml"
    assert "MAIN_NODE_ADDRESS" in path.read_text()
    args, launcher = _launch_args(
        path,
        *("--num_machines", "4", "--num_processes", "32", "--machine_rank", "3"),
        *("--main_process_ip", "10.0.0.1", "--main_process_port", "29500"),
    )
    assert launcher == "multi_gpu"
    assert (args.num_machines, args.num_processes, args.machine_rank, args.main_process_ip) == (4, 32, 3, "10.0.0.1")


# --------------------------------------------------------------------------------- SLURM


def test_sbatch_example_launches_accelerate_with_per_node_arguments(tmp_path, monkeypatch):
    """Run the sbatch script with stand-ins for srun / scontrol / accelerate and check what it launches."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    stubs = {
        "scontrol": 'printf "node-a\\nnode-b\\nnode-c\\nnode-d\\n"',
        # srun runs its command once per node: two nodes are enough to see the per-node rank.
        "srun": 'shift; for n in 0 3; do SLURM_NODEID=$n "$@"; done',
        "accelerate": f'printf "%s\\n" "$@" > "{calls}.$SLURM_NODEID"',
    }
    for name, body in stubs.items():
        script = bin_dir / name
        script.write_text(f"#!/bin/bash\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_JOB_NODELIST": "node-[a-d]",
        "SLURM_NNODES": "4",
        "EXTRA_ARGS": "--resume_from_checkpoint latest",
    }
    proc = subprocess.run(["bash", str(SBATCH)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for rank in (0, 3):
        argv = Path(f"{calls}.{rank}").read_text().split("\n")[:-1]
        assert argv[0] == "launch"
        monkeypatch.chdir(ROOT)
        args, launcher = _launch_args(
            ROOT / argv[argv.index("--config_file") + 1],
            *argv[argv.index("--num_machines") : argv.index("scripts/pretrain.py")],
        )
        assert launcher == "deepspeed"
        assert (args.num_machines, args.num_processes, args.machine_rank) == (4, 32, rank)
        assert args.main_process_ip == "node-a" and args.main_process_port == 29500
        tail = argv[argv.index("scripts/pretrain.py") + 1 :]
        assert tail == ["recipes/pretrain/olmo2-7b.yaml", "--resume_from_checkpoint", "latest"]
        assert (ROOT / tail[0]).is_file()
