"""Running cells: data, model, one stock-Trainer run per cell, the resumable results file."""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from uba_hf import register_uba_scheduler
from uba_hf.callbacks import LRTraceCallback

from .config import SCHEDULE_FREE, SCHEMA, ZERO_CONFIG, SweepConfig
from .grid import grid_extensions, planned_cells
from .schedules import (
    OPTIMIZERS,
    cell_key,
    lr_sample_steps,
    run_spec,
    spec_key,
    warmup_steps,
)

logger = logging.getLogger("uba_hf")


@dataclass
class SweepData:
    train: Any
    eval: Any
    vocab_size: int
    eos_token_id: int
    pad_token_id: int


def prepare_data(cfg: SweepConfig) -> SweepData:
    """A fixed subset of the embedded corpus's train files, the validation files, a BPE trained on the subset."""
    from datasets import DatasetDict

    from uba_hf.pretrain.data import DataArguments, get_tokenizer, load_corpus, tokenize_and_pack

    corpus_kwargs = {"dataset_name": cfg.dataset_name, "text_sample_by": "document"} if cfg.dataset_name else {}
    args = DataArguments(
        block_size=cfg.block_size, vocab_size=cfg.vocab_size, preprocessing_num_workers=1, **corpus_kwargs
    )
    corpus = load_corpus(args)
    train = corpus["train"].shuffle(seed=0)
    if cfg.train_docs is not None:
        train = train.select(range(min(cfg.train_docs, len(train))))
    val = corpus["validation"]
    if cfg.validation_docs is not None:
        val = val.select(range(min(cfg.validation_docs, len(val))))
    corpus = DatasetDict(train=train, validation=val)
    tokenizer = get_tokenizer(args, corpus)
    train_blocks = tokenize_and_pack(corpus["train"], tokenizer, args)
    eval_blocks = tokenize_and_pack(corpus["validation"], tokenizer, args, max_blocks=cfg.eval_blocks)
    return SweepData(train_blocks, eval_blocks, len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id)


def make_model(cfg: SweepConfig, data: SweepData, seed: int):
    from transformers import set_seed

    from uba_hf.pretrain.models import build_model, preset_config

    set_seed(seed)
    config = preset_config(
        cfg.model_preset,
        vocab_size=data.vocab_size,
        eos_token_id=data.eos_token_id,
        pad_token_id=data.pad_token_id,
        bos_token_id=data.eos_token_id,
        max_position_embeddings=max(cfg.block_size, 64),
        **cfg.model_overrides,
    )
    return build_model(config)


def model_stats(cfg: SweepConfig, data: SweepData) -> dict[str, Any]:
    """Sizes the report needs for tokens per parameter and epochs (non-embedding = without the input
    embedding and the output head)."""
    model = make_model(cfg, data, 0)
    total = sum(p.numel() for p in model.parameters())
    emb = {id(model.get_input_embeddings().weight): model.get_input_embeddings().weight.numel()}
    emb[id(model.get_output_embeddings().weight)] = model.get_output_embeddings().weight.numel()
    return {
        "kind": "stats",
        "total_params": total,
        "non_embedding_params": total - sum(emb.values()),
        "train_blocks": len(data.train),
        "train_tokens": len(data.train) * cfg.block_size,
        "tokens_per_update": cfg.block_size * cfg.batch_size,
    }


class _ScheduleFreeLRTrace:
    """The LR each ``schedule_free_adamw`` update used (its ``scheduled_lr``: own warmup, then flat),
    read after the step that set it; the scheduler's LR (``LRTraceCallback``) is only the flat peak."""

    def __new__(cls):
        from transformers import TrainerCallback

        class Trace(TrainerCallback):
            def __init__(self) -> None:
                self.trace: list[float] = []

            def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
                self.trace.append(float(optimizer.param_groups[0]["scheduled_lr"]))

        return Trace()


def training_arguments(cfg: SweepConfig, name: str, budget: int, lr: float, seed: int, output_dir: str):
    """The ``TrainingArguments`` of one cell: what a user passes to select the schedule (and optimizer)."""
    from transformers import TrainingArguments

    kind, kwargs = run_spec(name, budget)
    return TrainingArguments(
        output_dir=output_dir,
        max_steps=budget,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=32,
        learning_rate=lr,
        lr_scheduler_type=kind,
        lr_scheduler_kwargs=dict(kwargs),
        warmup_steps=warmup_steps(budget, cfg.warmup_fraction),
        weight_decay=cfg.weight_decay,
        adam_beta2=cfg.adam_beta2,
        max_grad_norm=cfg.max_grad_norm,
        seed=seed,
        data_seed=seed,
        logging_steps=max(1, budget // 10),
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        dataloader_num_workers=0,
        **({"optim": OPTIMIZERS[name]} if name in OPTIMIZERS else {}),
    )


def train_cell(cfg: SweepConfig, data: SweepData, name: str, budget: int, lr: float, seed: int) -> dict[str, Any]:
    """One run with the stock ``transformers.Trainer`` (``UBATrainer`` for the zero-config choice); returns its
    JSONL record."""
    from transformers import Trainer, default_data_collator
    from transformers.trainer_callback import PrinterCallback

    register_uba_scheduler()
    zero_config = name == ZERO_CONFIG
    kind, kwargs = run_spec(name, budget)
    warmup = warmup_steps(budget, cfg.warmup_fraction)
    model = make_model(cfg, data, seed)
    with tempfile.TemporaryDirectory(prefix="uba-bench-") as out:
        args = training_arguments(cfg, name, budget, lr, seed, out)
        trace = LRTraceCallback() if name != SCHEDULE_FREE else _ScheduleFreeLRTrace()
        trainer_cls = Trainer
        if zero_config:  # as users run it: UBATrainer with nothing given picks phi and the floor itself
            from functools import partial

            from uba_hf import UBAArguments, UBATrainer

            uba = UBAArguments()
            args.lr_scheduler_kwargs = {}
            trainer_cls = partial(UBATrainer, uba_args=uba)
        trainer = trainer_cls(
            model=model,
            args=args,
            train_dataset=data.train,
            eval_dataset=data.eval,
            data_collator=default_data_collator,
            callbacks=[trace],
        )
        trainer.remove_callback(PrinterCallback)
        start = time.perf_counter()
        out_train = trainer.train()
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        eval_loss = trainer.evaluate()["eval_loss"]
        eval_seconds = time.perf_counter() - start
        if name == SCHEDULE_FREE and trainer.optimizer.param_groups[0]["train_mode"]:
            # Trainer.evaluate switches a schedule-free optimizer to eval mode (the averaged weights x).
            raise RuntimeError("schedule-free was evaluated in train mode (at y, not the averaged weights x)")
    used = dict(trace.trace) if name != SCHEDULE_FREE else dict(enumerate(trace.trace))
    extra: dict[str, Any] = {}
    if zero_config:
        kwargs = {k: v for k, v in trainer.uba_kwargs.items() if k == "phi" or v}
        extra = {"zero_config": trainer.zero_config}
    train_losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    return {
        "kind": "run",
        "schema": SCHEMA,
        "schedule": name,
        "spec": spec_key(name, budget),
        "lr_scheduler_type": kind,
        "lr_scheduler_kwargs": kwargs,
        "optim": OPTIMIZERS.get(name),
        "phi": kwargs.get("phi"),
        "budget": int(budget),
        "warmup_steps": warmup,
        "lr": float(lr),
        "seed": int(seed),
        "eval_loss": float(eval_loss),
        "train_loss": float(out_train.training_loss),
        "final_train_loss": train_losses[-1][1] if train_losses else None,
        "global_step": trainer.state.global_step,
        "lr_samples": {str(s): used[s] for s in lr_sample_steps(budget, warmup) if s in used},
        "train_seconds": train_seconds,
        "seconds_per_update": train_seconds / max(1, budget),
        "eval_seconds": eval_seconds,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **extra,
    }


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a results file; a truncated last line (killed mid-write) is ignored."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("Skipping an unreadable line of %s (interrupted write?)", path)
    return records


def _append(path: Path, record: dict[str, Any]) -> None:
    """One whole line per record; after a write torn by a kill, start on a fresh line (else the next record
    would be glued to the torn one and lost)."""
    torn = False
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_sweep(
    cfg: SweepConfig, results: str | os.PathLike, log=print, workers: int = 1, cells: list | None = None
) -> dict[str, int]:
    """Run every missing cell of ``cfg`` (or of ``cells``, ``(name, budget, lr, seed)`` tuples of ``cfg``'s
    setup), appending to ``results``. Returns counts (ran, skipped, total).

    ``workers`` > 1 trains that many cells at once, each in its own process with ``cfg.threads`` torch
    threads (two one-thread workers use both cores of this machine; every cell's result is the same as
    with one worker, since a cell depends only on its seed). This process alone writes the results file."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    results = Path(results)
    results.parent.mkdir(parents=True, exist_ok=True)
    records = read_results(results)
    setup = cfg.setup_key()
    header = next((r for r in records if r.get("kind") == "setup"), None)
    if header is None:
        _append(results, {"kind": "setup", "schema": SCHEMA, "setup": setup, "environment": environment()})
    elif not cfg.same_setup(header["setup"]):
        raise ValueError(
            f"{results} holds a sweep with another setup ({header['setup']}); use another results file or delete it."
        )
    done = {cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) for r in records if r.get("kind") == "run"}
    if cells is None:
        cells = planned_cells(cfg) + (grid_extensions(cfg, records) if cfg.extend_grid else [])
    todo = [c for c in cells if cell_key(spec_key(c[0], c[1]), *c[1:]) not in done]
    log(f"[budget-sweep] {len(cells)} cells, {len(cells) - len(todo)} already in {results}, {len(todo)} to run")
    counts = {"ran": 0, "skipped": len(cells) - len(todo), "total": len(cells)}
    if not todo:
        return counts
    data = prepare_data(cfg)
    if not any(r.get("kind") == "stats" for r in records):
        _append(results, model_stats(cfg, data))
    start = time.perf_counter()
    while todo:
        counts["ran"] += _run_cells(cfg, data, todo, results, start, log, workers)
        if not cfg.extend_grid:
            break
        # Best LR at a grid edge: the next point outward, for every seed (decided on complete seeds only).
        records = read_results(results)
        done = {cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) for r in records if r.get("kind") == "run"}
        todo = [c for c in grid_extensions(cfg, records) if cell_key(spec_key(c[0], c[1]), *c[1:]) not in done]
        counts["total"] += len(todo)
        for name, budget, lr, _ in todo[:: len(cfg.seeds)]:
            log(f"[budget-sweep] grid edge: {name} budget={budget}: extending its LR grid with {lr:g}")
    return counts


_WORKER_DATA: dict[str, Any] = {}


def _worker_init(cfg: SweepConfig) -> None:
    """A spawned worker: the parent's thread count and quiet logging (a fresh interpreter has neither)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    logging.getLogger().setLevel(logging.WARNING)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    _WORKER_DATA["data"] = prepare_data(cfg)


def _worker_train(cfg: SweepConfig, cell: tuple[str, int, float, int]) -> dict[str, Any]:
    return train_cell(cfg, _WORKER_DATA["data"], *cell)


def _run_cells(cfg, data, todo, results: Path, start: float, log, workers: int = 1) -> int:
    def finish(i: int, cell, record: dict[str, Any]) -> None:
        _append(results, record)
        name, budget, lr, seed = cell
        log(
            f"[budget-sweep] {i + 1}/{len(todo)} {name} budget={budget} lr={lr:g} seed={seed}: "
            f"eval_loss={record['eval_loss']:.4f} ({record['train_seconds']:.1f}s; "
            f"{(time.perf_counter() - start) / 60:.1f} min elapsed)"
        )

    if workers <= 1:
        for i, cell in enumerate(todo):
            finish(i, cell, train_cell(cfg, data, *cell))
        return len(todo)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no forked torch state
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(cfg,))
    try:
        futures = {pool.submit(_worker_train, cfg, cell): cell for cell in todo}
        for i, future in enumerate(as_completed(futures)):
            finish(i, futures[future], future.result())
    finally:  # on an error, cells not yet started are dropped (the finished ones are in the file)
        pool.shutdown(wait=True, cancel_futures=True)
    return len(todo)


def environment() -> dict[str, str]:
    import accelerate
    import datasets
    import transformers

    from uba_hf import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "datasets": datasets.__version__,
        "uba_hf": __version__,
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
    }
