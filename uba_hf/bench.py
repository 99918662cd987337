"""Budget sweep: does UBA reach a lower loss than the usual schedules at the same update budget?

Trains the same small OLMo-2 on the same blocks of the embedded corpus under every schedule, budget,
peak LR and seed of a :class:`SweepConfig`, with Transformers' **stock** ``Trainer`` and the
schedules selected the way users select them (``lr_scheduler_type`` + ``lr_scheduler_kwargs``; UBA is
``"uba"``, registered by ``import uba_hf``). Every finished run appends one JSON line to a results
file; a rerun skips the cells already there, so an interrupted sweep resumes where it stopped.

Cells are keyed by what actually runs (scheduler type and kwargs, budget, LR, seed), so two schedule
*names* that resolve to the same schedule (``uba-default`` and ``uba-phi1`` while
``DEFAULT_PHI == 1``) share their runs and both appear in the report. ``uba-auto`` picks phi per
seed with :func:`uba_hf.curvature.suggest_phi` from a curvature probe of the *initial* model (fixed
probe settings, fixed batches); the probe is stored once per seed as a ``"kind": "probe"`` line.

``python scripts/budget_sweep.py`` runs the default sweep and writes ``benchmarks/``;
``--quick`` runs a handful of tiny cells (seconds) to prove the harness works.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger("uba_hf")

BASELINES = ("cosine", "cosine-min10", "linear", "wsd", "constant")
AUTO = "uba-auto"
DEFAULT_NAME = "uba-default"
FIXED_PHIS = (0.5, 1.0, 2.0, 4.0)
WSD_DECAY_FRACTION = 0.2
COSINE_MIN_LR_RATE = 0.1
# UBA with the same 10% floor as ``cosine-min10`` (phi = 2 with that floor *is* cosine-min10): the
# like-for-like comparison with the floored baseline. Named ``uba-phi<phi>-min10``.
FLOORED_PHIS = (0.5, 1.0)
FLOOR_SUFFIX = "-min10"
AUTO_NAMES = (AUTO, AUTO + FLOOR_SUFFIX)  # phi from the probe, without and with the 10% floor
SCHEMA = 1


def all_schedule_names() -> list[str]:
    return [
        DEFAULT_NAME,
        *(f"uba-phi{p:g}" for p in FIXED_PHIS),
        *(f"uba-phi{p:g}{FLOOR_SUFFIX}" for p in FLOORED_PHIS),
        *BASELINES,
        *AUTO_NAMES,
    ]


def parse_uba_name(name: str) -> tuple[float, float] | None:
    """``(phi, min_lr_ratio)`` of a fixed-phi UBA name (``uba-phi1``, ``uba-phi0.5-min10``), else None."""
    if not name.startswith("uba-phi"):
        return None
    body, floor = name[len("uba-phi") :], 0.0
    if body.endswith(FLOOR_SUFFIX):
        body, floor = body[: -len(FLOOR_SUFFIX)], COSINE_MIN_LR_RATE
    return float(body), floor


@dataclass
class SweepConfig:
    """Everything that defines a sweep. The defaults are the full sweep (about 90 min on 2 CPU cores)."""

    schedules: list[str] = field(default_factory=all_schedule_names)
    budgets: list[int] = field(default_factory=lambda: [100, 200, 400])
    lrs: list[float] = field(default_factory=lambda: [1e-2, 3e-2, 5e-2, 1e-1, 2e-1, 3e-1, 1.0])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    warmup_fraction: float = 0.1
    # Model: OLMo-2 "tiny" preset shrunk to 2 layers of width 64.
    model_preset: str = "tiny"
    model_overrides: dict[str, Any] = field(
        default_factory=lambda: dict(
            hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, intermediate_size=256
        )
    )
    # Data: a fixed subset of the embedded corpus (stdlib sources), split by file.
    block_size: int = 64
    batch_size: int = 8
    vocab_size: int = 4096
    train_docs: int | None = 400  # None: the whole train split
    validation_docs: int | None = None  # None: the whole validation split
    eval_blocks: int = 128
    weight_decay: float = 0.1
    max_grad_norm: float = 1.0
    adam_beta2: float = 0.95
    # uba-auto probe: fixed settings (the probe's kappa depends on lanczos_steps).
    probe_batches: int = 2
    probe_batch_size: int = 8
    probe_lanczos_steps: int = 20
    probe_num_probes: int = 3
    probe_seed: int = 0
    # One thread: on a shared 2-core machine two threads stall on each other when a core is taken away.
    threads: int | None = 1

    def __post_init__(self) -> None:
        unknown = sorted(set(self.schedules) - set(all_schedule_names()))
        if unknown:
            raise ValueError(f"Unknown schedule name(s) {unknown}; valid: {all_schedule_names()}.")
        if not self.budgets or not self.lrs or not self.seeds or not self.schedules:
            raise ValueError("A sweep needs at least one schedule, budget, LR and seed.")
        if any(int(b) < 10 for b in self.budgets):
            raise ValueError(f"Budgets must be >= 10 updates; got {self.budgets}.")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"`warmup_fraction` must be in [0, 1); got {self.warmup_fraction}.")

    def setup_key(self) -> dict[str, Any]:
        """The fields every run of the sweep shares; a results file must not mix two setups."""
        d = asdict(self)
        for k in ("schedules", "budgets", "lrs", "seeds", "threads"):
            d.pop(k)
        return d


def quick_config(**overrides: Any) -> SweepConfig:
    """A handful of tiny cells (well under a minute on a laptop CPU): proves the harness, measures nothing."""
    base = dict(
        schedules=[DEFAULT_NAME, "uba-phi1", "uba-phi2", "cosine", "wsd", AUTO],
        budgets=[10, 20],
        lrs=[3e-3],
        seeds=[0],
        model_overrides=dict(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, intermediate_size=64
        ),
        block_size=32,
        batch_size=4,
        vocab_size=512,
        train_docs=30,
        validation_docs=10,
        eval_blocks=16,
        probe_batches=1,
        probe_batch_size=4,
        probe_lanczos_steps=8,
        probe_num_probes=1,
    )
    base.update(overrides)
    return SweepConfig(**base)


def main_job_config(**overrides: Any) -> SweepConfig:
    """The main job's model and data (``recipes/pretrain/tiny.yaml``: the ``tiny`` preset at full width,
    about 3M parameters, 16 x 128-token blocks per update, 400 updates) for the schedules that matter
    after the full sweep: the best baseline and UBA with the same floor, fixed and ``"auto"`` phi.
    A second, larger point: 4 LRs around the recipe's 3e-3, 3 seeds (36 runs of about 3 min on one core)."""
    base = dict(
        schedules=["cosine-min10", "uba-phi1-min10", AUTO + FLOOR_SUFFIX],
        budgets=[400],
        lrs=[1e-3, 3e-3, 1e-2, 3e-2],
        seeds=[0, 1, 2],
        model_overrides={},
        block_size=128,
        batch_size=16,
        vocab_size=8192,
        train_docs=None,
        eval_blocks=256,
    )
    base.update(overrides)
    return SweepConfig(**base)


# ------------------------------------------------------------------------------------------ schedules


def warmup_steps(budget: int, fraction: float) -> int:
    return int(round(budget * fraction))


def schedule_spec(name: str, budget: int, phi: float | None = None) -> tuple[str, dict[str, Any]]:
    """``(lr_scheduler_type, lr_scheduler_kwargs)`` that a user would pass to ``TrainingArguments``."""
    from .schedule import DEFAULT_PHI

    if name == DEFAULT_NAME:
        return "uba", {"phi": float(DEFAULT_PHI)}
    parsed = parse_uba_name(name)
    if parsed is None and name in AUTO_NAMES:
        if phi is None:
            raise ValueError(f"{name} needs the probed phi.")
        parsed = float(phi), (COSINE_MIN_LR_RATE if name.endswith(FLOOR_SUFFIX) else 0.0)
    if parsed is not None:
        phi, floor = parsed
        return "uba", ({"phi": phi, "min_lr_ratio": floor} if floor else {"phi": phi})
    if name == "cosine":
        return "cosine", {}
    if name == "cosine-min10":
        return "cosine_with_min_lr", {"min_lr_rate": COSINE_MIN_LR_RATE}
    if name == "linear":
        return "linear", {}
    if name == "wsd":
        return "warmup_stable_decay", {"num_decay_steps": int(round(WSD_DECAY_FRACTION * budget))}
    if name == "constant":
        return "constant_with_warmup", {}
    raise ValueError(f"Unknown schedule {name!r}.")


def spec_key(name: str, budget: int) -> str:
    """Identity of what runs. ``uba-auto`` (and ``-min10``) is its own key (its phi differs per seed).

    UBA with phi = 2 *is* Transformers' cosine (same LR at every step; pinned by tests/test_bench.py),
    so ``uba-phi2`` shares the ``cosine`` runs and ``uba-phi2-min10`` the ``cosine-min10`` runs.
    """
    if name in AUTO_NAMES:
        return name
    parsed = parse_uba_name(name)
    if parsed is not None and parsed[0] == 2.0:
        name = "cosine-min10" if parsed[1] else "cosine"
    kind, kwargs = schedule_spec(name, budget)
    return json.dumps([kind, kwargs], sort_keys=True)


def cell_key(spec: str, budget: int, lr: float, seed: int) -> str:
    return json.dumps([spec, int(budget), float(lr), int(seed)])


def scheduler_lrs(
    name: str, budget: int, peak_lr: float, warmup_fraction: float, phi: float | None = None
) -> list[float]:
    """The LR of every update ``0..budget-1`` of a schedule, built by ``transformers.get_scheduler``."""
    from transformers import get_scheduler

    from . import register_uba_scheduler

    register_uba_scheduler()
    kind, kwargs = schedule_spec(name, budget, phi)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak_lr)
    sched = get_scheduler(
        kind,
        opt,
        num_warmup_steps=warmup_steps(budget, warmup_fraction),
        num_training_steps=budget,
        scheduler_specific_kwargs=kwargs,
    )
    lrs = []
    for _ in range(budget):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


# ------------------------------------------------------------------------------------------ data/model


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

    from .data import DataArguments, get_tokenizer, load_corpus, tokenize_and_pack

    args = DataArguments(block_size=cfg.block_size, vocab_size=cfg.vocab_size, preprocessing_num_workers=1)
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

    from .models import build_model, preset_config

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


def probe_phi(cfg: SweepConfig, data: SweepData, seed: int) -> dict[str, Any]:
    """Curvature probe of the initial model of ``seed``, on the first blocks of the train split."""
    from .curvature import estimate_curvature_causal_lm, suggest_phi

    model = make_model(cfg, data, seed)
    n = cfg.probe_batch_size
    batches = []
    for b in range(cfg.probe_batches):
        rows = data.train[b * n : (b + 1) * n]
        batches.append({"input_ids": rows["input_ids"], "labels": rows["labels"]})
    start = time.perf_counter()
    est = estimate_curvature_causal_lm(
        model,
        batches,
        lanczos_steps=cfg.probe_lanczos_steps,
        num_probes=cfg.probe_num_probes,
        seed=cfg.probe_seed,
    )
    seconds = time.perf_counter() - start
    kappa = est.condition_number
    phi = suggest_phi(kappa) if math.isfinite(kappa) and kappa >= 1 else None
    if phi is None:
        raise RuntimeError(f"Curvature probe gave no usable condition number ({kappa}); cannot run uba-auto.")
    return {
        "kind": "probe",
        "seed": seed,
        "kappa": kappa,
        "kappa_std": est.condition_number_std,
        "kappa_interval": list(est.condition_number_interval),
        "top_eigenvalue": est.top_eigenvalue,
        "small_eigenvalue": est.small_eigenvalue,
        "phi": phi,
        "probe_seconds": seconds,
        "num_hvps": est.num_hvps,
        "lanczos_steps": est.lanczos_steps,
        "num_probes": est.num_probes,
        "num_batches": est.num_batches,
    }


def lr_sample_steps(budget: int, warmup: int) -> list[int]:
    """Update indices at which every run records the LR it used (checked against closed forms in tests)."""
    steps = {0, max(0, warmup // 2), warmup, (warmup + budget) // 2, budget - budget // 10, budget - 1}
    return sorted(s for s in steps if 0 <= s < budget)


def train_cell(
    cfg: SweepConfig, data: SweepData, name: str, budget: int, lr: float, seed: int, phi: float | None = None
) -> dict[str, Any]:
    """One run with the stock ``transformers.Trainer``; returns its JSONL record."""
    from transformers import Trainer, TrainingArguments, default_data_collator
    from transformers.trainer_callback import PrinterCallback

    from . import register_uba_scheduler
    from .trainer import LRTraceCallback

    register_uba_scheduler()
    kind, kwargs = schedule_spec(name, budget, phi)
    warmup = warmup_steps(budget, cfg.warmup_fraction)
    model = make_model(cfg, data, seed)
    with tempfile.TemporaryDirectory(prefix="uba-bench-") as out:
        args = TrainingArguments(
            output_dir=out,
            max_steps=budget,
            per_device_train_batch_size=cfg.batch_size,
            per_device_eval_batch_size=32,
            learning_rate=lr,
            lr_scheduler_type=kind,
            lr_scheduler_kwargs=dict(kwargs),
            warmup_steps=warmup,
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
        )
        trace = LRTraceCallback()
        trainer = Trainer(
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
    used = dict(trace.trace)
    train_losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    return {
        "kind": "run",
        "schema": SCHEMA,
        "schedule": name,
        "spec": spec_key(name, budget),
        "lr_scheduler_type": kind,
        "lr_scheduler_kwargs": kwargs,
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
    }


# ------------------------------------------------------------------------------------------ the sweep


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
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def planned_cells(cfg: SweepConfig) -> list[tuple[str, int, float, int]]:
    """``(name, budget, lr, seed)`` for every distinct run (names that resolve to the same schedule share it)."""
    seen, cells = set(), []
    # Seeds outermost: an interrupted sweep still has complete tables for the first seed(s).
    for seed in cfg.seeds:
        for budget in cfg.budgets:
            for name in cfg.schedules:
                spec = spec_key(name, budget)
                for lr in cfg.lrs:
                    key = cell_key(spec, budget, lr, seed)
                    if key not in seen:
                        seen.add(key)
                        run_name = next((b for b in BASELINES if spec_key(b, budget) == spec), name)
                        cells.append((run_name, int(budget), float(lr), int(seed)))
    return cells


def run_sweep(cfg: SweepConfig, results: str | os.PathLike, log=print) -> dict[str, int]:
    """Run every missing cell of ``cfg``, appending to ``results``. Returns counts (ran, skipped, total)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    results = Path(results)
    results.parent.mkdir(parents=True, exist_ok=True)
    records = read_results(results)
    setup = cfg.setup_key()
    header = next((r for r in records if r.get("kind") == "setup"), None)
    if header is None:
        _append(results, {"kind": "setup", "schema": SCHEMA, "setup": setup, "environment": environment()})
    elif header["setup"] != setup:
        raise ValueError(
            f"{results} holds a sweep with another setup ({header['setup']}); use another results file or delete it."
        )
    done = {cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) for r in records if r.get("kind") == "run"}
    probes = {r["seed"]: r for r in records if r.get("kind") == "probe"}
    cells = planned_cells(cfg)
    todo = [c for c in cells if cell_key(spec_key(c[0], c[1]), *c[1:]) not in done]
    log(f"[budget-sweep] {len(cells)} cells, {len(cells) - len(todo)} already in {results}, {len(todo)} to run")
    if not todo:
        return {"ran": 0, "skipped": len(cells), "total": len(cells)}
    data = prepare_data(cfg)
    start = time.perf_counter()
    for i, (name, budget, lr, seed) in enumerate(todo):
        phi = None
        if name in AUTO_NAMES:
            if seed not in probes:
                probes[seed] = probe_phi(cfg, data, seed)
                _append(results, probes[seed])
                p = probes[seed]
                log(
                    f"[budget-sweep] probe seed {seed}: kappa={p['kappa']:.4g} -> phi={p['phi']:.3g}"
                    f" ({p['probe_seconds']:.1f}s)"
                )
            phi = probes[seed]["phi"]
        record = train_cell(cfg, data, name, budget, lr, seed, phi=phi)
        if name in AUTO_NAMES:
            p = probes[seed]
            record.update(kappa=p["kappa"], probe_seconds=p["probe_seconds"])
        _append(results, record)
        elapsed = time.perf_counter() - start
        log(
            f"[budget-sweep] {i + 1}/{len(todo)} {name} budget={budget} lr={lr:g} seed={seed}: "
            f"eval_loss={record['eval_loss']:.4f} ({record['train_seconds']:.1f}s; {elapsed / 60:.1f} min elapsed)"
        )
    return {"ran": len(todo), "skipped": len(cells) - len(todo), "total": len(cells)}


def environment() -> dict[str, str]:
    import accelerate
    import datasets
    import transformers

    from . import __version__

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


# ------------------------------------------------------------------------------------------ the report


def _mean_spread(xs: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


@dataclass
class Best:
    name: str
    budget: int
    lr: float
    mean: float
    std: float
    n: int
    losses: list[float]
    lrs_tried: int
    complete: bool  # every LR of the grid with every seed finished


def summarize(cfg: SweepConfig, records: Iterable[dict[str, Any]]) -> dict[int, dict[str, Best]]:
    """Per budget and schedule name: the best LR by mean final validation loss over seeds."""
    by_cell: dict[tuple[str, int, float], dict[int, float]] = defaultdict(dict)
    for r in records:
        if r.get("kind") == "run" and math.isfinite(r["eval_loss"]):
            by_cell[(r["spec"], r["budget"], r["lr"])][r["seed"]] = r["eval_loss"]
        elif r.get("kind") == "run":
            by_cell[(r["spec"], r["budget"], r["lr"])][r["seed"]] = math.inf
    table: dict[int, dict[str, Best]] = {}
    for budget in cfg.budgets:
        row: dict[str, Best] = {}
        for name in cfg.schedules:
            spec = spec_key(name, budget)
            best, n_full = None, 0
            for lr in cfg.lrs:
                seeds = by_cell.get((spec, budget, float(lr)), {})
                losses = [seeds[s] for s in cfg.seeds if s in seeds]
                if len(losses) == len(cfg.seeds):
                    n_full += 1
                if not losses:
                    continue
                mean, std = _mean_spread(losses)
                if best is None or mean < best.mean:
                    best = Best(name, budget, float(lr), mean, std, len(losses), losses, 0, False)
            if best is not None:
                best.lrs_tried = n_full
                best.complete = n_full == len(cfg.lrs)
                row[name] = best
        table[budget] = row
    return table


def _fmt(b: Best | None) -> str:
    if b is None:
        return "n/a"
    return f"{b.mean:.4f} ± {b.std:.4f}"


def _fixed_phi(cfg: SweepConfig, row: dict[str, Best], *, floored: bool) -> list[Best]:
    """The fixed-phi UBA rows of a budget, without (``floored=False``) or with the 10% floor."""
    out = []
    for name in cfg.schedules:
        parsed = parse_uba_name(name)
        if parsed is not None and bool(parsed[1]) == floored and name in row:
            out.append(row[name])
    return out


def _best(rows: Sequence[Best]) -> Best | None:
    return min(rows, key=lambda b: b.mean) if rows else None


def _gap_text(a: Best, b: Best) -> str:
    """``a - b`` in nats, compared with the seed spread, with per-seed (paired) gaps when both have them."""
    gap = a.mean - b.mean
    if min(a.n, b.n) < 2:
        return f"{gap:+.4f} nats (one seed: no spread to compare with)"
    noise = math.hypot(a.std, b.std)
    where = "within" if abs(gap) <= noise else "larger than"
    text = f"{gap:+.4f} nats ({where} the seed spread, {noise:.4f}"
    if a.n == b.n:
        text += f"; per-seed gaps {', '.join(f'{x - y:+.4f}' for x, y in zip(a.losses, b.losses, strict=True))}"
    return text + ")"


def render_markdown(
    cfg: SweepConfig, records: list[dict[str, Any]], command: str | None = None, title: str = "Budget sweep"
) -> str:
    """``budget_sweep.md``: per budget, every schedule at its best LR; UBA-default vs the best baseline."""
    from .schedule import DEFAULT_PHI

    table = summarize(cfg, records)
    runs = [r for r in records if r.get("kind") == "run"]
    probes = {r["seed"]: r for r in records if r.get("kind") == "probe"}
    header = next((r for r in records if r.get("kind") == "setup"), None)
    planned = planned_cells(cfg)
    done = {cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) for r in runs}
    n_done = sum(cell_key(spec_key(c[0], c[1]), *c[1:]) in done for c in planned)
    lines = [f"# {title}", ""]
    lines.append(
        f"Final validation loss (mean ± sample std over {len(cfg.seeds)} seeds: {cfg.seeds}) of each schedule at its "
        f"own best peak LR from the grid {[f'{x:g}' for x in cfg.lrs]} (best = lowest mean over seeds). "
        f"Finished runs: **{n_done} / {len(planned)}** distinct cells."
    )
    lines.append("")
    lines.append(
        f"`uba-default` is UBA at the package default phi = {DEFAULT_PHI:g} (`uba_hf.DEFAULT_PHI`); it shares its runs "
        f"with `uba-phi{DEFAULT_PHI:g}` (same schedule). Baselines: {', '.join(f'`{b}`' for b in BASELINES)}. "
        f"`uba-auto`: phi from `suggest_phi(kappa)` of a curvature probe of the initial model. UBA with phi = 2 is "
        "Transformers' cosine step for step (pinned by `tests/test_bench.py`), so `uba-phi2` reports the `cosine` "
        f"runs. `uba-phi<phi>{FLOOR_SUFFIX}`: UBA with `min_lr_ratio={COSINE_MIN_LR_RATE:g}`, the same floor as "
        "`cosine-min10` (which is UBA at phi = 2 with that floor). A best LR marked *grid edge* may be better "
        "still outside the grid. Seed spread of a gap = sqrt(std_a^2 + std_b^2); per-seed gaps pair runs with "
        "the same seed (same initialisation and data order)."
    )
    lines.append("")
    lines += _summary_table(cfg, table)
    for budget in cfg.budgets:
        row = table.get(budget, {})
        lines.append(f"## Budget {budget} updates (warmup {warmup_steps(budget, cfg.warmup_fraction)})")
        lines.append("")
        ranked = sorted(row.values(), key=lambda b: b.mean)
        lines.append("| rank | schedule | best LR | final val loss (mean ± std) | per-seed | LRs complete |")
        lines.append("|---:|---|---:|---|---|---|")
        rank_of: dict[str, int] = {}
        r_i = 0
        seen_specs: dict[str, int] = {}
        for b in ranked:
            spec = spec_key(b.name, budget)
            if spec in seen_specs and spec not in AUTO_NAMES:
                rank = seen_specs[spec]
            else:
                r_i += 1
                rank = r_i
                seen_specs[spec] = rank
            rank_of[b.name] = rank
            per_seed = ", ".join(f"{x:.4f}" for x in b.losses)
            edge = " (grid edge)" if len(cfg.lrs) > 1 and b.lr in (min(cfg.lrs), max(cfg.lrs)) else ""
            lines.append(
                f"| {rank} | {b.name} | {b.lr:g}{edge} | {_fmt(b)} | {per_seed} | {b.lrs_tried}/{len(cfg.lrs)}"
                f"{'' if b.complete else ' (partial)'} |"
            )
        lines.append("")
        baselines = [row[n] for n in BASELINES if n in row]
        best_base = min(baselines, key=lambda b: b.mean) if baselines else None
        uba = row.get(DEFAULT_NAME)
        best_fixed = _best(_fixed_phi(cfg, row, floored=False))
        best_floored = _best(_fixed_phi(cfg, row, floored=True))
        if uba is not None and best_base is not None:
            gap = uba.mean - best_base.mean
            verdict = "beats" if gap < 0 else ("ties" if gap == 0 else "loses to")
            group = [uba, *baselines]
            rank_in_group = 1 + sum(b.mean < uba.mean for b in baselines)
            lines.append(
                f"- **UBA-default (phi={DEFAULT_PHI:g}) {verdict} the best baseline** (`{best_base.name}`, LR "
                f"{best_base.lr:g}): gap {_gap_text(uba, best_base)}, ratio {uba.mean / best_base.mean:.4f}. Rank of "
                f"UBA-default: {rank_in_group} of {len(group)} among UBA-default and the baselines; "
                f"{rank_of.get(DEFAULT_NAME, '?')} of {len(set(seen_specs.values()))} distinct schedules."
            )
        if best_fixed is not None:
            lines.append(f"- Best fixed phi: `{best_fixed.name}` ({_fmt(best_fixed)}, LR {best_fixed.lr:g}).")
        floor_base = row.get("cosine-min10")
        if best_floored is not None and floor_base is not None:
            lines.append(
                f"- Same 10% floor as `cosine-min10`: best `{best_floored.name}` ({_fmt(best_floored)}, LR "
                f"{best_floored.lr:g}) minus `cosine-min10`: {_gap_text(best_floored, floor_base)}."
            )
        for auto_name, fixed_ref in ((AUTO, best_fixed), (AUTO + FLOOR_SUFFIX, best_floored)):
            auto = row.get(auto_name)
            if auto is None:
                continue
            auto_runs = [r for r in runs if r["schedule"] == auto_name and r["budget"] == budget]
            phis = sorted({round(r["phi"], 3) for r in auto_runs})
            parts = [f"- `{auto_name}` (phi {', '.join(f'{p:g}' for p in phis)}): {_fmt(auto)}"]
            if fixed_ref is not None:
                parts.append(f"{auto.mean - fixed_ref.mean:+.4f} vs the best fixed phi (`{fixed_ref.name}`)")
            if best_base is not None:
                parts.append(f"{auto.mean - best_base.mean:+.4f} vs the best baseline")
            train_s = statistics.fmean(r["train_seconds"] for r in auto_runs)
            probe_s = statistics.fmean(p["probe_seconds"] for p in probes.values()) if probes else math.nan
            parts.append(
                f"probe cost {probe_s:.1f}s = {probe_s / train_s:.1%} of one {budget}-update training run "
                f"({train_s:.1f}s)"
            )
            lines.append("; ".join(parts) + ".")
        lines.append("")
    if probes:
        lines.append("## Curvature probe (uba-auto)")
        lines.append("")
        lines.append(
            f"Fixed settings: {cfg.probe_batches} batch(es) of {cfg.probe_batch_size} blocks from the start of the "
            f"train split, lanczos_steps={cfg.probe_lanczos_steps}, num_probes={cfg.probe_num_probes}, "
            f"probe seed {cfg.probe_seed}; measured once per training seed on the initial model. kappa depends on "
            "lanczos_steps (more steps resolve a smaller small end, so a larger kappa), so these settings are part "
            "of the result."
        )
        lines.append("")
        lines.append("| seed | kappa (median) | kappa range | top eig | chosen phi | HVPs | probe s |")
        lines.append("|---:|---:|---|---:|---:|---:|---:|")
        for seed in sorted(probes):
            p = probes[seed]
            lo, hi = p["kappa_interval"]
            lines.append(
                f"| {seed} | {p['kappa']:.4g} | {lo:.4g} - {hi:.4g} | {p['top_eigenvalue']:.4g} | {p['phi']:.3f} | "
                f"{p['num_hvps']} | {p['probe_seconds']:.1f} |"
            )
        lines.append("")
    lines.append("## Setup")
    lines.append("")
    setup = cfg.setup_key()
    lines.append(
        f"- Model: OLMo-2 preset `{cfg.model_preset}` with {setup['model_overrides']}, vocab {cfg.vocab_size} "
        f"(byte-level BPE trained on the training subset), block {cfg.block_size} tokens, batch {cfg.batch_size} "
        f"blocks ({cfg.block_size * cfg.batch_size} tokens/update)."
    )
    lines.append(
        f"- Data: embedded corpus (this Python's stdlib sources), "
        f"{'all' if cfg.train_docs is None else cfg.train_docs} training files (fixed shuffle), "
        f"validation = first {cfg.eval_blocks} blocks of the held-out validation files, evaluated once at the end."
    )
    lines.append(
        f"- Optimizer: Transformers' default AdamW (beta2 {cfg.adam_beta2}, weight decay {cfg.weight_decay}, grad "
        f"clip {cfg.max_grad_norm}); warmup {cfg.warmup_fraction:.0%} of the budget (linear from 0) for every "
        "schedule; stock `transformers.Trainer` with `lr_scheduler_type` / `lr_scheduler_kwargs`: "
        + "; ".join(
            f"`{n}` = `{schedule_spec(n, cfg.budgets[0], 1.0 if n in AUTO_NAMES else None)[0]}`"
            f" {_kwargs_doc(n, cfg.budgets[0])}"
            for n in cfg.schedules
        )
        + "."
    )
    planned_keys = {cell_key(spec_key(c[0], c[1]), *c[1:]) for c in planned}
    runs = [r for r in runs if cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) in planned_keys]
    if runs:
        spu = statistics.median(r["seconds_per_update"] for r in runs)
        total = sum(r["train_seconds"] + r.get("eval_seconds", 0) for r in runs)
        lines.append(
            f"- Time: median {spu * 1000:.0f} ms per update; {total / 60:.1f} min of training+evaluation over "
            f"{len(runs)} runs (machine shared with other jobs, so timings are noisy)."
        )
    if header is not None:
        env = header.get("environment", {})
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in env.items()) + ".")
    if command:
        lines.append(f"- Command: {command}")
    lines.append("")
    return "\n".join(lines)


def _summary_table(cfg: SweepConfig, table: dict[int, dict[str, Best]]) -> list[str]:
    """One line per budget: UBA-default vs the best baseline, best fixed phi (without and with the
    floor), uba-auto; a column appears only when the sweep has the schedules it needs."""
    from .schedule import DEFAULT_PHI

    parsed = [parse_uba_name(n) for n in cfg.schedules]
    has_default = DEFAULT_NAME in cfg.schedules
    has_fixed = any(p is not None and not p[1] for p in parsed)
    has_floored = any(p is not None and p[1] for p in parsed) and "cosine-min10" in cfg.schedules
    autos = [n for n in AUTO_NAMES if n in cfg.schedules]
    header = ["budget"]
    if has_default:
        header.append(f"UBA-default (phi={DEFAULT_PHI:g})")
    header.append("best baseline")
    if has_default:
        header += ["gap (abs)", "ratio", "UBA-default rank vs baselines"]
    if has_fixed:
        header.append("best fixed phi")
    if has_floored:
        header.append("best UBA with 10% floor (minus `cosine-min10`)")
    if autos:
        header.append(" / ".join(f"`{n}`" for n in autos))
    lines = ["## Summary", "", "| " + " | ".join(header) + " |", "|---:|" + "---|" * (len(header) - 1)]
    for budget in cfg.budgets:
        row = table.get(budget, {})
        uba = row.get(DEFAULT_NAME)
        baselines = [row[n] for n in BASELINES if n in row]
        base = _best(baselines)
        cells = [str(budget)]
        if has_default:
            cells.append(_fmt(uba) if uba else "n/a")
        cells.append(f"`{base.name}` {_fmt(base)}" if base else "n/a")
        if has_default and uba and base:
            cells += [
                f"{uba.mean - base.mean:+.4f}",
                f"{uba.mean / base.mean:.4f}",
                f"{1 + sum(b.mean < uba.mean for b in baselines)} of {1 + len(baselines)}",
            ]
        elif has_default:
            cells += ["n/a"] * 3
        if has_fixed:
            best_fixed = _best(_fixed_phi(cfg, row, floored=False))
            cells.append(f"`{best_fixed.name}` {_fmt(best_fixed)}" if best_fixed else "n/a")
        if has_floored:
            best_floored, floor_base = _best(_fixed_phi(cfg, row, floored=True)), row.get("cosine-min10")
            if best_floored and floor_base:
                gap = best_floored.mean - floor_base.mean
                cells.append(f"`{best_floored.name}` {_fmt(best_floored)} ({gap:+.4f})")
            else:
                cells.append("n/a")
        if autos:
            cells.append(" / ".join(_fmt(row[n]) if n in row else "n/a" for n in autos))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if has_default:
        lines += ["Negative gap / ratio < 1: UBA-default reached a lower loss than the best baseline.", ""]
    lines += _verdict(cfg, table)
    return lines


def _verdict(cfg: SweepConfig, table: dict[int, dict[str, Best]]) -> list[str]:
    """Plain-language reading of the summary, computed from the numbers (no hand-written claims)."""
    from .schedule import DEFAULT_PHI

    won, lost, lost_clear = [], [], []
    vs_cosine, best_overall, best_phi, floored = [], [], [], []
    for budget in cfg.budgets:
        row = table.get(budget, {})
        if not row:
            continue
        uba = row.get(DEFAULT_NAME)
        base = _best([row[n] for n in BASELINES if n in row])
        if uba is not None and base is not None:
            gap = uba.mean - base.mean
            (won if gap < 0 else lost).append(f"{budget} ({gap:+.4f} vs `{base.name}`)")
            if gap > 0 and min(uba.n, base.n) > 1 and gap > math.hypot(uba.std, base.std):
                lost_clear.append(str(budget))
            if "cosine" in row:
                vs_cosine.append(f"{budget}: {uba.mean - row['cosine'].mean:+.4f}")
        top = min(row.values(), key=lambda b: b.mean)
        best_overall.append(f"{budget}: `{top.name}`")
        fixed = _best(_fixed_phi(cfg, row, floored=False))
        if fixed is not None:
            best_phi.append(f"{budget}: `{fixed.name}`")
        floor_best = _best(_fixed_phi(cfg, row, floored=True))
        if floor_best is not None and "cosine-min10" in row:
            floored.append(f"{budget}: `{floor_best.name}` {_gap_text(floor_best, row['cosine-min10'])}")
    if not best_overall:
        return []
    lines = ["**Reading (computed from the table):**", ""]
    if won or lost:
        lines.append(
            f"- UBA-default (phi={DEFAULT_PHI:g}) beat the best tuned baseline at {len(won)} of "
            f"{len(won) + len(lost)} budgets"
            + (f" ({'; '.join(won)})" if won else "")
            + (f" and **lost at {len(lost)}** ({'; '.join(lost)})" if lost else "")
            + "."
            + (f" The loss is larger than the seed spread at budget(s) {', '.join(lost_clear)}." if lost_clear else "")
        )
    if vs_cosine:
        lines.append(f"- UBA-default minus cosine (UBA's own phi = 2), per budget: {'; '.join(vs_cosine)}.")
    lines.append(f"- Lowest loss of all schedules per budget: {'; '.join(best_overall)}.")
    if best_phi:
        lines.append(f"- Best fixed phi per budget: {'; '.join(best_phi)}.")
    if floored:
        lines.append(
            "- Like for like with `cosine-min10` (same 10% floor; UBA phi = 2 with that floor *is* `cosine-min10`): "
            f"best floored UBA minus `cosine-min10`, per budget: {'; '.join(floored)}."
        )
    lines.append("")
    return lines


def _kwargs_doc(name: str, budget: int) -> str:
    if name in AUTO_NAMES:
        floor = "" if name == AUTO else f", 'min_lr_ratio': {COSINE_MIN_LR_RATE:g}"
        return f"{{'phi': suggest_phi(kappa){floor}}}"
    if name == "wsd":
        return f"{{'num_decay_steps': {WSD_DECAY_FRACTION:.0%} of the budget}} (Transformers' default cosine decay)"
    return str(schedule_spec(name, budget)[1]) if schedule_spec(name, budget)[1] else ""


# ------------------------------------------------------------------------------------------ figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_COLORS = {
    DEFAULT_NAME: "tab:blue",
    "uba-phi0.5": "tab:cyan",
    "uba-phi1": "tab:blue",
    "uba-phi2": "tab:orange",
    "uba-phi4": "tab:green",
    "uba-phi0.5-min10": "tab:gray",
    "uba-phi1-min10": "navy",
    "cosine": "tab:orange",
    "cosine-min10": "tab:red",
    "linear": "tab:olive",
    "wsd": "tab:brown",
    "constant": "tab:pink",
    AUTO: "tab:purple",
    AUTO + FLOOR_SUFFIX: "indigo",
}


def _style(name: str) -> dict[str, Any]:
    color = _COLORS.get(name, "tab:gray")
    if name == DEFAULT_NAME:
        return dict(color=color, lw=2.6, marker="o", zorder=5)
    if name in AUTO_NAMES:
        return dict(color=color, lw=2, marker="D" if name == AUTO else "P", ls="-.")
    if name.startswith("uba-phi"):
        return dict(color=color, lw=1.3, marker="." if FLOOR_SUFFIX not in name else "x", ls="--")
    return dict(color=color, lw=1.6, marker="s", ls="-", alpha=0.85)


def _distinct(cfg: SweepConfig, budget: int) -> list[tuple[str, str]]:
    """``(name, label)`` per distinct schedule; names that run the same schedule share one label."""
    out, seen = [], set()
    for name in cfg.schedules:
        spec = spec_key(name, budget)
        if spec in seen:
            continue
        seen.add(spec)
        same = [n for n in cfg.schedules if n != name and n not in AUTO_NAMES and spec_key(n, budget) == spec]
        out.append((name, " = ".join([name, *same])))
    return out


def plot_budget_sweep(cfg: SweepConfig, records: list[dict[str, Any]], path: str | os.PathLike) -> None:
    """Left: final loss vs budget per schedule (best LR, mean ± std). Right: the same minus the best baseline."""
    from matplotlib.ticker import NullFormatter

    plt = _pyplot()
    table = summarize(cfg, records)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), dpi=120)
    best_base = {}
    for b in cfg.budgets:
        base = [table[b][n].mean for n in BASELINES if n in table.get(b, {})]
        if base:
            best_base[b] = min(base)
    for name, label in _distinct(cfg, cfg.budgets[0]):
        pts = [(b, table[b][name]) for b in cfg.budgets if name in table.get(b, {})]
        if not pts:
            continue
        xs = [b for b, _ in pts]
        style = _style(name)
        ax.errorbar(xs, [p.mean for _, p in pts], yerr=[p.std for _, p in pts], label=label, capsize=3, **style)
        rel = [(b, p) for b, p in pts if b in best_base]
        if rel:
            ax2.errorbar(
                [b for b, _ in rel],
                [p.mean - best_base[b] for b, p in rel],
                yerr=[p.std for _, p in rel],
                label=label,
                capsize=3,
                **style,
            )
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_xticks(cfg.budgets)
        a.set_xticklabels([str(b) for b in cfg.budgets])
        a.xaxis.set_minor_formatter(NullFormatter())
        a.set_xlabel("budget (optimizer updates)")
        a.grid(alpha=0.3, which="both")
    ax.set_ylabel("final validation loss (best LR; mean ± std over seeds)")
    ax.set_title("Final loss vs budget, each schedule at its own best peak LR")
    ax2.axhline(0.0, color="black", lw=0.8)
    ax2.set_ylabel("loss minus the best baseline's loss (nats; < 0 = better)")
    ax2.set_title("Relative to the best baseline at each budget")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_lr_curves(
    cfg: SweepConfig, path: str | os.PathLike, budget: int | None = None, auto_phi: float | None = None
) -> None:
    """The LR used at every update by each schedule of the sweep (peak 1), built by ``get_scheduler``."""
    plt = _pyplot()
    budget = budget or cfg.budgets[len(cfg.budgets) // 2]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for name, label in _distinct(cfg, budget):
        if name in AUTO_NAMES:
            if auto_phi is None:
                continue
            label = f"{name} (phi={auto_phi:.2f})"
        lrs = scheduler_lrs(name, budget, 1.0, cfg.warmup_fraction, phi=auto_phi)
        style = _style(name)
        style.pop("marker", None)
        ax.plot(range(budget), lrs, label=label, **style)
    ax.set_xlabel("optimizer update")
    ax.set_ylabel("LR / peak LR")
    ax.set_title(f"Schedules of the sweep at budget {budget} (warmup {warmup_steps(budget, cfg.warmup_fraction)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(
    cfg: SweepConfig,
    results: str | os.PathLike,
    out_dir: str | os.PathLike,
    command: str | None = None,
    title: str = "Budget sweep",
) -> dict[str, Path]:
    """``budget_sweep.md``, ``budget_sweep.png``, ``lr_curves.png`` from a results file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = read_results(results)
    paths = {
        "md": out_dir / "budget_sweep.md",
        "png": out_dir / "budget_sweep.png",
        "lr_png": out_dir / "lr_curves.png",
    }
    md = render_markdown(cfg, records, command=command, title=title)
    paths["md"].write_text(md)
    plot_budget_sweep(cfg, records, paths["png"])
    probes = [r for r in records if r.get("kind") == "probe"]
    auto_phi = statistics.median(p["phi"] for p in probes) if probes else None
    plot_lr_curves(cfg, paths["lr_png"], auto_phi=auto_phi)
    return paths


def command_line() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv])


# ------------------------------------------------------------------------------------------ CLI


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="budget_sweep.py",
        description="Train the same model under several LR schedules, budgets, peak LRs and seeds; "
        "resumable (one JSON line per finished run).",
    )
    setup = parser.add_mutually_exclusive_group()
    setup.add_argument("--quick", action="store_true", help="a handful of tiny cells (< 60 s): proves the harness")
    setup.add_argument(
        "--main-job",
        action="store_true",
        help="the main job's model and data (tiny preset, ~3M parameters), 400 updates -> benchmarks/main_job/",
    )
    parser.add_argument("--results", default=None, help="results JSONL (default: <out-dir>/budget_sweep.jsonl)")
    parser.add_argument(
        "--out-dir", default=None, help="where the md/png go (default: benchmarks/, quick: out/bench-quick)"
    )
    parser.add_argument("--schedules", default=None, help=f"comma list from {all_schedule_names()}")
    parser.add_argument("--budgets", type=_ints, default=None, help="comma list of budgets (updates)")
    parser.add_argument("--lrs", type=_floats, default=None, help="comma list of peak LRs")
    parser.add_argument("--seeds", type=_ints, default=None, help="comma list of seeds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--report-only", action="store_true", help="only regenerate md/png from the results file")
    parser.add_argument("--max-cells", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()

    overrides: dict[str, Any] = {}
    if args.schedules:
        overrides["schedules"] = [s.strip() for s in args.schedules.split(",") if s.strip()]
    for key in ("budgets", "lrs", "seeds", "threads"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    try:
        make = quick_config if args.quick else (main_job_config if args.main_job else SweepConfig)
        cfg = make(**overrides)
    except ValueError as err:
        print(f"budget_sweep: error: {err}", file=sys.stderr)
        return 2
    out_dir = Path(
        args.out_dir
        or ("out/bench-quick" if args.quick else ("benchmarks/main_job" if args.main_job else "benchmarks"))
    )
    results = Path(args.results or out_dir / "budget_sweep.jsonl")
    command = f"`{command_line()}`"
    if args.report_only and not args.quick:
        flag = " --main-job" if args.main_job else ""
        command = f"`nice -n 15 python scripts/budget_sweep.py{flag}` (runs or resumes the sweep), then {command}"
    if not args.report_only:
        try:
            counts = run_sweep(cfg, results)
        except ValueError as err:
            print(f"budget_sweep: error: {err}", file=sys.stderr)
            return 2
        print(f"[budget-sweep] ran {counts['ran']}, skipped {counts['skipped']} of {counts['total']} cells", flush=True)
    title = "Budget sweep"
    if args.quick:
        title += " (--quick: harness check, not a measurement)"
    elif args.main_job:
        title += " at the main job's scale (tiny preset, ~3M parameters)"
    paths = write_outputs(cfg, results, out_dir, command=command, title=title)
    print(f"[budget-sweep] wrote {', '.join(str(p) for p in paths.values())} from {results}", flush=True)
    return 0
