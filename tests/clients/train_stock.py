"""A client written the way HF's examples/pytorch/language-modeling/run_clm.py is: ``HfArgumentParser``
-> ``TrainingArguments`` -> the stock ``transformers.Trainer``. It imports nothing from uba_hf (unless
``--preemption true`` or ``--storage_fault``), so ``--lr_scheduler_type uba`` works only through the wrapper:

    uba-run tests/clients/train_stock.py --output_dir OUT --lr_scheduler_type uba --max_steps 8 ...
    torchrun --nproc_per_node 2 -m uba_hf.run tests/clients/train_stock.py ... --use_cpu true
    accelerate launch --config_file recipes/accelerate/multi_cpu.yaml -m uba_hf.run tests/clients/train_stock.py ...

The model is a tiny randomly initialised OLMo-2, the data fixed token blocks with a learnable
pattern (next token = token + 1). ``--resume_from_checkpoint latest`` resumes from the newest
checkpoint in ``output_dir`` (run_clm's ``get_last_checkpoint``). ``--preemption true`` adds
``uba_hf.callbacks.PreemptionCallback``, as a script does to save and stop on SIGTERM / Ctrl-C, and
then exits with ``128 + signal``. ``--storage_fault RANK:checkpoint-N[/FILE]:ERRNO`` makes that rank's
storage for ``OUTPUT_DIR/checkpoint-N`` (or that file in it) full (``ENOSPC``) or read-only (``EROFS``):
``conftest.install_storage_fault``, as in tests/dist_scripts/train_tiny.py (it imports tests/conftest.py, and
with it uba_hf). Each process writes
``OUTPUT_DIR/rank{R}.json``: the LR the optimizer (or the DeepSpeed engine) applies at every update,
keyed by the 0-based update index, and what scheduler / engine were in use.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser, Olmo2Config, Olmo2ForCausalLM, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint


@dataclass
class ClientArguments:
    vocab_size: int = field(default=128, metadata={"help": "Tokens in the vocabulary (and distinct blocks)."})
    seq_len: int = field(default=16, metadata={"help": "Tokens per block."})
    step_sleep: float = field(default=0.0, metadata={"help": "Seconds to sleep after each update (kill tests)."})
    preemption: bool = field(
        default=False, metadata={"help": "Add uba_hf.callbacks.PreemptionCallback; exit 128 + signal when it stops."}
    )
    storage_fault: str = field(
        default="", metadata={"help": "RANK:checkpoint-N:ERRNO: that rank's writes there fail (fault tests)."}
    )


class Blocks(torch.utils.data.Dataset):
    def __init__(self, vocab_size: int, seq_len: int) -> None:
        starts = torch.randperm(vocab_size, generator=torch.Generator().manual_seed(0))
        self.blocks = (starts[:, None] + torch.arange(seq_len)) % vocab_size

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


class LRProbe(TrainerCallback):
    """The LR of every update, read just before the optimizer steps from what really applies it."""

    def __init__(self, step_sleep: float) -> None:
        self.lrs: dict[int, float] = {}
        self.step_sleep = step_sleep
        self.trainer: Trainer | None = None

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        engine = self.trainer.model_wrapped
        if hasattr(engine, "get_lr"):  # DeepSpeedEngine: the LR its ZeRO optimizer will apply
            lr = float(engine.get_lr()[0])
        else:
            lr = float(self.trainer.optimizer.param_groups[0]["lr"])
        self.lrs[state.global_step] = lr

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.step_sleep)


def main() -> int:
    parser = HfArgumentParser((ClientArguments, TrainingArguments))
    if len(sys.argv) == 2 and sys.argv[1].endswith(".json"):
        client, training = parser.parse_json_file(os.path.abspath(sys.argv[1]))
    else:
        client, training = parser.parse_args_into_dataclasses()
    resume = training.resume_from_checkpoint
    if resume == "latest":
        resume = get_last_checkpoint(training.output_dir)

    torch.manual_seed(training.seed)
    config = Olmo2Config(
        vocab_size=client.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=client.seq_len,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    probe = LRProbe(client.step_sleep)
    callbacks: list[TrainerCallback] = [probe]
    if client.preemption:  # what a script adds to get SIGTERM / Ctrl-C handling (docs/reliability.md)
        from uba_hf.callbacks import PreemptionCallback

        callbacks.append(preemption := PreemptionCallback())
    trainer = Trainer(
        model=Olmo2ForCausalLM(config),
        args=training,
        train_dataset=Blocks(client.vocab_size, client.seq_len),
        callbacks=callbacks,
    )
    probe.trainer = trainer
    if client.storage_fault:  # the test's fault, as tests/dist_scripts/train_tiny.py installs it
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
        from conftest import install_storage_fault

        install_storage_fault(client.storage_fault, training.output_dir, training.process_index)
    trainer.train(resume_from_checkpoint=resume)

    engine = trainer.model_wrapped
    scheduler = getattr(trainer.lr_scheduler, "scheduler", trainer.lr_scheduler)  # Accelerate wraps it
    ds_config = getattr(engine, "config", None) if hasattr(engine, "zero_optimization_stage") else None
    record = {
        "rank": training.process_index,
        "world_size": training.world_size,
        "torch_world_size": torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1,
        "resumed_from": resume,
        "lrs": probe.lrs,
        "global_step": trainer.state.global_step,
        "logged_steps": [h["step"] for h in trainer.state.log_history if "loss" in h],
        "scheduler_class": type(scheduler).__name__,
        "scheduler_state_uba": scheduler.state_dict().get("uba"),
        "engine_class": type(engine).__name__,
        "zero_stage": engine.zero_optimization_stage() if hasattr(engine, "zero_optimization_stage") else None,
        "ds_config_has_scheduler": isinstance(ds_config, dict) and "scheduler" in ds_config,
        "preempted": client.preemption and preemption.preempted,
        "signal_received": preemption.signal_received if client.preemption else None,
        "stop_signal": preemption.stop_signal if client.preemption else None,
    }
    with open(os.path.join(training.output_dir, f"rank{training.process_index}.json"), "w") as f:
        json.dump(record, f, indent=1)
    trainer.accelerator.wait_for_everyone()
    return 128 + record["stop_signal"] if record["preempted"] else 0


if __name__ == "__main__":
    code = main()
    # Clean shutdown (see tests/dist_scripts/train_tiny.py): collect the trainer's cycles, then destroy
    # the process group while the interpreter is still alive.
    gc.collect()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    sys.exit(code)  # as if the signal had ended the job (uba-pretrain's convention)
