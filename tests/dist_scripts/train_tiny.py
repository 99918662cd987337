"""A tiny UBATrainer run launched by tests/library/test_distributed.py under a real launcher.

    accelerate launch --config_file recipes/accelerate/multi_cpu.yaml tests/dist_scripts/train_tiny.py OUT [--k v]
    torchrun --nproc_per_node 2 tests/dist_scripts/train_tiny.py OUT --deepspeed recipes/deepspeed/zero2.json

The model is the ``tiny`` OLMo-2 preset (with a small vocabulary), the data fixed pseudo-random token
blocks with a learnable pattern. Every ``--key value`` after OUT is a ``TrainingArguments`` or
``UBAArguments`` field, or ``--step_sleep SECONDS`` (a pause after each update, for the kill tests), or
``--storage_fault RANK:checkpoint-N:ERRNO`` (that rank's storage for ``OUT/checkpoint-N`` full (``ENOSPC``) or
read-only (``EROFS``): ``conftest.StorageFault``, installed in that process before training).
Each process writes ``OUT/rank{R}.json``: world size, the LR of every update (read from the engine's
own optimizer just before it steps), the block ids of every micro-batch it trained on, the files it
opened for writing under OUT, and what scheduler / optimizer / engine were really in use.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from transformers import HfArgumentParser, TrainerCallback, TrainingArguments  # noqa: E402

from uba_hf import UBAArguments, UBATrainer  # noqa: E402
from uba_hf.pretrain.models import build_model, preset_config  # noqa: E402
from uba_hf.schedule import uba_lr_lambda  # noqa: E402

VOCAB = 256
SEQ = 32
N_BLOCKS = 256

WRITES: set[str] = set()


def _audit(event: str, args: tuple) -> None:
    """Record every file this process opens for writing (or renames into place) under OUT."""
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing:
            WRITES.add(os.fsdecode(args[0]))
    elif event in ("os.rename", "os.replace") and args:
        WRITES.add(os.fsdecode(args[1]))


def _watch_writes() -> None:
    """Also catch the writers that bypass Python's ``open``: ``torch.save`` (C++ zip writer) and
    safetensors (Rust), which the Trainer calls through these module attributes."""
    import transformers.modeling_utils as modeling_utils

    sys.addaudithook(_audit)
    torch_save, safe_save = torch.save, modeling_utils.safe_save_file

    def recording_torch_save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            WRITES.add(os.fspath(f))
        return torch_save(obj, f, *args, **kwargs)

    def recording_safe_save(tensors, filename, *args, **kwargs):
        WRITES.add(os.fspath(filename))
        return safe_save(tensors, filename, *args, **kwargs)

    torch.save = recording_torch_save
    modeling_utils.safe_save_file = recording_safe_save


class Blocks(torch.utils.data.Dataset):
    """Block i starts at a pseudo-random token and counts up (next token = token + 1 mod VOCAB)."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        starts = torch.randperm(VOCAB, generator=g).repeat(N_BLOCKS // VOCAB + 1)[:N_BLOCKS]
        self.blocks = (starts[:, None] + torch.arange(SEQ)) % VOCAB
        # A block is identified by its start token: unique, since the starts are a permutation.
        assert N_BLOCKS <= VOCAB

    def __len__(self) -> int:
        return N_BLOCKS

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


@dataclass
class ScriptArguments:
    step_sleep: float = field(default=0.0, metadata={"help": "Seconds to sleep after each update (kill tests)."})
    storage_fault: str = field(
        default="", metadata={"help": "RANK:checkpoint-N:ERRNO: that rank's writes there fail (fault tests)."}
    )


def install_storage_fault(spec: str, out: str, rank: int) -> None:
    """``--storage_fault``: ``conftest.install_storage_fault`` (tests/conftest.py, the single-process tests' fault)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    from conftest import install_storage_fault as install

    install(spec, out, rank)


class Probe(TrainerCallback):
    """LR of every update, read from the optimizer that the engine really steps."""

    def __init__(self, step_sleep: float = 0.0) -> None:
        self.lrs: list[float] = []
        self.step_sleep = step_sleep
        self.trainer: RecordingTrainer | None = None

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.step_sleep)

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        engine = self.trainer.model_wrapped
        if hasattr(engine, "get_lr"):  # DeepSpeedEngine: the LR its ZeRO optimizer will apply
            lr = float(engine.get_lr()[0])
        else:
            lr = float(optimizer.param_groups[0]["lr"])
        self.lrs.append(lr)


class RecordingTrainer(UBATrainer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[list[int]] = []

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.batches.append([int(row[0]) for row in inputs["input_ids"].tolist()])
        return super().training_step(model, inputs, num_items_in_batch)


def train(argv: list[str]) -> None:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("uba_hf").setLevel(logging.INFO)  # the package's own lines, as the pretraining job shows them
    out, rest = argv[0], argv[1:]
    defaults = dict(
        output_dir=out,
        max_steps=10,
        warmup_steps=2,
        learning_rate=1e-3,
        per_device_train_batch_size=4,
        logging_steps=1,
        save_strategy="steps",
        save_steps=5,
        report_to="none",
        seed=0,
        data_seed=0,
        dataloader_num_workers=0,
        weight_decay=0.1,
        adam_beta1=0.9,
        adam_beta2=0.95,
        max_grad_norm=1.0,
    )
    parser = HfArgumentParser((TrainingArguments, UBAArguments, ScriptArguments))
    # A fixed schedule (phi 1, no floor: what tests/library/test_distributed.py checks), not the zero-config choice;
    # a --phi / --min_lr_ratio given later on the command line wins.
    base = [f"--{k}={v}" for k, v in defaults.items()] + ["--phi=1.0", "--min_lr_ratio=0.0"]
    training, uba, script = parser.parse_args_into_dataclasses(args=base + rest)
    resume = training.resume_from_checkpoint
    training.resume_from_checkpoint = None

    torch.manual_seed(0)
    config = preset_config(
        "tiny", vocab_size=VOCAB, max_position_embeddings=SEQ, pad_token_id=0, bos_token_id=1, eos_token_id=2
    )
    model = build_model(config)
    # ZeRO-3: were the parameters partitioned as they were created (deepspeed.zero.Init), or built in
    # full on every process first? (uba_hf.models.build_model calls the constructor directly.)
    partitioned_at_construction = hasattr(next(model.parameters()), "ds_id")
    probe = Probe(script.step_sleep)
    trainer = RecordingTrainer(model=model, args=training, uba_args=uba, train_dataset=Blocks(), callbacks=[probe])
    probe.trainer = trainer
    _watch_writes()
    if script.storage_fault:
        install_storage_fault(script.storage_fault, out, training.process_index)
    trainer.train(resume_from_checkpoint=resume)

    engine = trainer.model_wrapped
    scheduler = getattr(trainer.lr_scheduler, "scheduler", trainer.lr_scheduler)
    lambdas = getattr(scheduler, "lr_lambdas", [None])
    lam = getattr(lambdas[0], "func", None)
    ds_config = getattr(engine, "config", None) if hasattr(engine, "zero_optimization_stage") else None
    out_abs = os.path.abspath(out) + os.sep
    record = {
        "rank": training.process_index,
        "world_size": training.world_size,
        "torch_world_size": torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1,
        "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "distributed_type": str(trainer.accelerator.state.distributed_type),
        "should_save": training.should_save,
        "lrs": probe.lrs,
        "global_step": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "batches": trainer.batches,
        "writes": sorted(os.path.relpath(p, out) for p in WRITES if os.path.abspath(p).startswith(out_abs)),
        "scheduler_class": type(scheduler).__name__,
        "scheduler_is_uba": lam is uba_lr_lambda,
        "scheduler_kwargs": {k: v for k, v in getattr(lambdas[0], "keywords", {}).items()},
        "engine_class": type(engine).__name__,
        "zero_stage": engine.zero_optimization_stage() if hasattr(engine, "zero_optimization_stage") else None,
        "engine_lr_scheduler": type(engine.lr_scheduler).__name__ if hasattr(engine, "lr_scheduler") else None,
        "ds_config_has_scheduler": isinstance(ds_config, dict) and "scheduler" in ds_config,
        "inner_optimizer_class": type(getattr(getattr(engine, "optimizer", None), "optimizer", None)).__name__,
        "fsdp": trainer.is_fsdp_enabled,
        "zero3_partitioned_at_construction": partitioned_at_construction,
        "losses": {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h},
    }
    with open(os.path.join(out, f"rank{training.process_index}.json"), "w") as f:
        json.dump(record, f, indent=1)
    trainer.accelerator.wait_for_everyone()


def main(argv: list[str]) -> None:
    train(argv)
    # Clean shutdown. The trainer, model and optimizer are gone once train() returns; collect their
    # reference cycles so that nothing but the registry holds the process group, then destroy it:
    # its destructor joins the gloo worker threads while the interpreter is still alive. Left to
    # interpreter exit, a worker still releasing a finished collective's tensors needs the GIL
    # during finalisation and the process aborts ("terminate called without an active exception",
    # seen with torch 2.13 + gloo under CPU contention).
    gc.collect()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
