"""The files a finished run leaves, where a ``run_clm.py`` user looks for them.

* ``train_results.json``, ``eval_results.json``, ``all_results.json``: through the Trainer's own
  ``save_metrics`` (the format of Transformers' example scripts);
* ``README.md``: the Trainer's model card draft, plus what this job adds (schedule, budget, data,
  the loss before and after);
* the tokenizer's ``tokenizer_config.json`` names ``PreTrainedTokenizerFast`` (Transformers 5 writes
  ``TokenizersBackend``, a name Transformers 4 cannot load; both versions load the former) and a
  ``model_max_length`` equal to the block size the model was trained at (not ~1e30).
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
from pathlib import Path
from typing import Any

logger = logging.getLogger("uba_hf")

TOKENIZER_CLASS = "PreTrainedTokenizerFast"
FINE_TUNED_FROM_NOTHING = "This model is a fine-tuned version of [](https://huggingface.co/) on "


def finalize_tokenizer_config(folder: str | os.PathLike, model_max_length: int) -> None:
    """Rewrite ``folder/tokenizer_config.json`` with a portable class name and a real context length."""
    path = Path(folder) / "tokenizer_config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text())
    if config.get("tokenizer_class") in (None, "TokenizersBackend"):
        config["tokenizer_class"] = TOKENIZER_CLASS
    config["model_max_length"] = int(model_max_length)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def write_result_files(trainer, train_metrics: dict[str, Any], eval_metrics: dict[str, Any] | None) -> None:
    """``train_results.json`` / ``eval_results.json`` / ``all_results.json``, as ``run_clm.py`` writes them
    (main process only, through ``Trainer.save_metrics``)."""
    trainer.save_metrics("train", train_metrics)
    if eval_metrics:
        eval_metrics = dict(eval_metrics)
        eval_metrics.setdefault("perplexity", math.exp(min(eval_metrics["eval_loss"], 50.0)))
        trainer.save_metrics("eval", eval_metrics)


def write_model_card(trainer, metrics: dict[str, Any], dataset: str, model_name: str) -> None:
    """The Trainer's model card (``README.md`` in ``output_dir``) with this job's summary appended."""
    if not trainer.is_world_process_zero():
        return
    trainer.create_model_card(model_name=model_name, tasks="text-generation", dataset=dataset)
    card = Path(trainer.args.output_dir) / "README.md"
    if not getattr(trainer.model.config, "_name_or_path", ""):  # built from a config: pretrained from scratch
        # Transformers reads the empty name as the base model: "a fine-tuned version of [](https://huggingface.co/)".
        text = card.read_text(encoding="utf-8")
        card.write_text(text.replace(FINE_TUNED_FROM_NOTHING, "This model was pretrained from scratch on "), "utf-8")
    init, final = metrics.get("eval_loss_init"), metrics.get("eval_loss")
    loss = (
        f"evaluation loss {init:.4f} at initialisation -> {final:.4f}"
        if init is not None and final is not None
        else (f"final evaluation loss {final:.4f}" if final is not None else "no evaluation (--eval_strategy no)")
    )
    schedule = metrics.get("lr_scheduler_type")
    if schedule == "uba":
        schedule = f"UBA (phi={metrics.get('phi')}, min_lr_ratio={metrics.get('min_lr_ratio')})"
    lines = [
        "",
        "## Pretraining with uba-hf",
        "",
        f"Pretrained from scratch by `uba-pretrain` on `{dataset}`: {metrics['global_step']}/{metrics['budget']} "
        f"optimizer updates, {metrics['tokens_seen']:,} tokens, peak LR {metrics['learning_rate']}, "
        f"schedule {schedule} with {metrics['num_warmup_steps']} warmup updates; {loss}.",
        f"{metrics['parameters']:,} parameters ({metrics['non_embedding_parameters']:,} non-embedding).",
        "All numbers of the run are in `all_results.json` and `metrics.json`.",
        "",
    ]
    with open(card, "a", encoding="utf-8") as f:
        f.write("\n".join(lines))


def report_preempted(trainer, signum: int | None, command: str | None = None) -> dict[str, Any]:
    """Say where the checkpoint is and how to continue (main process): ``command``, the resume command to paste,
    on a line of its own; the caller exits with 128 + signal."""
    step = trainer.state.global_step
    if trainer.is_world_process_zero():
        how = (
            f"resume with:\n  {command}"
            if command
            else "continue with the same command plus --resume_from_checkpoint latest"
        )
        print(
            f"[uba-pretrain] pre-empted at update {step}/{trainer.state.max_steps} "
            f"({signal.Signals(signum).name if signum else 'signal on another rank'}): checkpoint-{step} saved in "
            f"{trainer.args.output_dir}; {how}",
            flush=True,
        )
    return {"preempted": True, "global_step": step, "signal": signum or signal.SIGTERM}


def write_run_clm_outputs(trainer, train_out, eval_metrics, metrics, model_args, data_args) -> None:
    """``train_results.json`` / ``eval_results.json`` / ``all_results.json``, the model card, and portable
    tokenizer configs in ``output_dir`` and ``output_dir/tokenizer``."""
    try:
        samples = {"train_samples": len(trainer.train_dataset)}
    except TypeError:  # a streamed corpus has no length
        samples = {}
    write_result_files(trainer, {**train_out.metrics, **samples}, eval_metrics)
    dataset = data_args.train_file or data_args.dataset_name
    write_model_card(trainer, metrics, dataset, model_args.model_name_or_path or model_args.model_preset)
    for folder in (trainer.args.output_dir, os.path.join(trainer.args.output_dir, "tokenizer")):
        finalize_tokenizer_config(folder, data_args.block_size)
