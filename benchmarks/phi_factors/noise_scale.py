#!/usr/bin/env python
"""The gradient noise scale of the benchmark's two models, at initialisation and along a training run.

    nice -n 15 python benchmarks/phi_factors/noise_scale.py    # both models, ~5 min on 2 CPU cores
    python benchmarks/phi_factors/noise_scale.py --quick        # the harness only (seconds), -> out/noise-scale-quick/

The hypothesis of issue 27 is that the best phi follows the batch relative to the gradient noise scale
``B_simple`` (McCandlish et al. 2018). ``B_simple`` is a property of the model, the data and the point in
training, not of the batch a run uses: it is measured here once per model, with :func:`estimate_noise_scale` on
fixed rows from the end of the train split (never trained on first), at the initial weights (what a trainer could
measure before its first update) and at 10 / 25 / 50 / 100% of a run of the model's v2 anchor regime (linear to
zero at its best LR there). Writes ``benchmarks/phi_factors/noise_scale.jsonl`` (one line per model, seed and
point) and ``noise_scale.md``; resumable by (model, seed).

``estimate_noise_scale``: the gradient noise scale ``B_simple`` of a causal LM (McCandlish et al. 2018, "An
Empirical Model of Large-Batch Training", arXiv 1812.06162, Appendix A).

``B_simple = tr(Sigma) / |G|^2``: the batch size (in rows) at which the noise of a mini-batch gradient equals
the gradient itself. Below it, updates are noise-bound (each one averages too few rows to point the right way,
and annealing the LR pays); above it, extra rows in a batch buy little. It is estimated from gradient norms at
two batch sizes, without per-example gradients: each batch of ``B_big`` rows is split into chunks of ``B_small``
rows; with ``|g_small|^2`` the mean squared norm of the chunk gradients and ``|g_big|^2`` that of their mean,

    |G|^2 ~ (B_big |g_big|^2 - B_small |g_small|^2) / (B_big - B_small)
    S     ~ (|g_small|^2 - |g_big|^2) / (1 / B_small - 1 / B_big)

are unbiased estimates of the true gradient's squared norm and of ``tr(Sigma)``; numerator and denominator are
averaged over batches separately, then divided (the paper's advice: their ratio is biased per batch).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the engine, uba_bench

import torch  # noqa: E402
from torch import nn  # noqa: E402
from uba_bench.config import SweepConfig, main_job_config, quick_config  # noqa: E402

from phi_factors.plan import FACTORS_DIR  # noqa: E402


@dataclass(frozen=True)
class NoiseScale:
    """What :func:`estimate_noise_scale` measured.

    Attributes:
        b_simple_rows: ``tr(Sigma) / |G|^2`` in rows (sequences); ``inf`` when the gradient estimate is not
            positive (noise swamps it: the batch is far below the noise scale).
        tokens_per_row: tokens whose loss each row contributes (the model's sequence length).
        grad_sq: the estimate of ``|G|^2``; trace_sigma: the estimate of ``tr(Sigma)`` (per row).
        small_rows, big_rows, num_batches, seconds: what the estimate cost.
    """

    b_simple_rows: float
    tokens_per_row: int
    grad_sq: float
    trace_sigma: float
    small_rows: int
    big_rows: int
    num_batches: int
    seconds: float

    @property
    def b_simple_tokens(self) -> float:
        return self.b_simple_rows * self.tokens_per_row

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "b_simple_tokens": self.b_simple_tokens, "seconds": round(self.seconds, 3)}


def _flat_grad(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    model(**batch).loss.backward()
    grads = [p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]
    flat = torch.cat(grads).double()
    model.zero_grad(set_to_none=True)
    return flat


def estimate_noise_scale(
    model: nn.Module, batches: Sequence[Mapping[str, torch.Tensor]], *, small_rows: int
) -> NoiseScale:
    """Estimate ``B_simple`` of ``model`` (a causal LM that returns ``.loss``) on ``batches`` of equal size.

    Every batch is split into chunks of ``small_rows`` rows (at least two); the model's weights, its mode and
    the RNG streams are left as they were, and its gradients are cleared. Cost: one backward pass per chunk.
    """
    if not batches:
        raise ValueError("estimate_noise_scale needs at least one batch.")
    big_rows = len(next(iter(batches[0].values())))
    if small_rows < 1 or big_rows % small_rows or big_rows // small_rows < 2:
        raise ValueError(
            f"`small_rows` ({small_rows}) must divide the batch ({big_rows} rows) into at least two chunks."
        )
    start = time.perf_counter()
    was_training = model.training
    model.eval()  # no dropout: the noise measured is the data's, not the model's
    grad_sq_terms, trace_terms = [], []
    with torch.random.fork_rng(), torch.enable_grad():
        for batch in batches:
            if len(next(iter(batch.values()))) != big_rows:
                raise ValueError("estimate_noise_scale: every batch must have the same number of rows.")
            chunks = [
                _flat_grad(model, {k: v[i : i + small_rows] for k, v in batch.items()})
                for i in range(0, big_rows, small_rows)
            ]
            small_sq = torch.stack([(g * g).sum() for g in chunks]).mean().item()
            mean = torch.stack(chunks).mean(0)
            big_sq = (mean * mean).sum().item()
            grad_sq_terms.append((big_rows * big_sq - small_rows * small_sq) / (big_rows - small_rows))
            trace_terms.append((small_sq - big_sq) / (1.0 / small_rows - 1.0 / big_rows))
    model.train(was_training)
    grad_sq = sum(grad_sq_terms) / len(grad_sq_terms)
    trace_sigma = sum(trace_terms) / len(trace_terms)
    seq = batches[0].get("input_ids")
    return NoiseScale(
        b_simple_rows=trace_sigma / grad_sq if grad_sq > 0 else float("inf"),
        tokens_per_row=int(seq.shape[-1]) if seq is not None else 1,
        grad_sq=grad_sq,
        trace_sigma=trace_sigma,
        small_rows=small_rows,
        big_rows=big_rows,
        num_batches=len(batches),
        seconds=time.perf_counter() - start,
    )


# (model, config, anchor budget, linear's best LR there in benchmark v2, rows per big batch, rows per chunk)
MODELS = {
    "sweep": (lambda: SweepConfig(train_docs=None, batch_size=8), 325, 0.12, 64, 4),
    "main-job": (lambda: main_job_config(batch_size=16), 100, 0.01, 32, 4),
}
FRACTIONS = (0.1, 0.25, 0.5, 1.0)
NUM_BATCHES = 8


def measure(name: str, make, budget: int, lr: float, big: int, small: int, seed: int) -> list[dict]:
    from transformers import Trainer, TrainerCallback, default_data_collator
    from transformers.trainer_callback import PrinterCallback
    from uba_bench.runner import make_model, prepare_data, training_arguments

    cfg = make()
    torch.set_num_threads(1)
    data = prepare_data(cfg)
    n = len(data.train)
    rows = data.train[n - big * NUM_BATCHES :]
    batches = [
        {"input_ids": rows["input_ids"][i : i + big], "labels": rows["labels"][i : i + big]}
        for i in range(0, big * NUM_BATCHES, big)
    ]
    at = {max(1, round(f * budget)) for f in FRACTIONS}
    out: list[dict] = []

    def record(model, step: int) -> None:
        ns = estimate_noise_scale(model, batches, small_rows=small)
        out.append({"model": name, "seed": seed, "step": step, "budget": budget, "lr": lr, **ns.to_dict()})
        print(
            f"[noise-scale] {name} seed={seed} step={step}/{budget}: B_simple = {ns.b_simple_tokens:,.0f} tokens "
            f"({ns.b_simple_rows:.1f} rows of {ns.tokens_per_row}; {ns.seconds:.1f}s)",
            flush=True,
        )

    class AtFractions(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in at:
                record(model, state.global_step)

    model = make_model(cfg, data, seed)
    record(model, 0)
    with tempfile.TemporaryDirectory() as tmp:
        args = training_arguments(cfg, "linear", budget, lr, seed, tmp)
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=data.train,
            data_collator=default_data_collator,
            callbacks=[AtFractions()],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return out


def render(records: list[dict]) -> str:
    lines = [
        "# Gradient noise scale of the benchmark's models",
        "",
        "`B_simple = tr(Sigma) / |G|^2` in tokens (rows x tokens per row), measured with `estimate_noise_scale` on "
        f"{NUM_BATCHES} fixed batches from the end of the train split, at the initial weights and along a run of "
        "the model's v2 anchor regime (linear to zero at its best LR). Median over seeds, (min-max).",
        "",
        "Command: `nice -n 15 python benchmarks/phi_factors/noise_scale.py`.",
        "",
        "| model | update | of | B_simple (tokens) | seeds |",
        "|---|---:|---:|---|---:|",
    ]
    keys = sorted({(r["model"], r["step"], r["budget"]) for r in records})
    for model, step, budget in keys:
        vals = [r["b_simple_tokens"] for r in records if (r["model"], r["step"]) == (model, step)]
        lines.append(
            f"| {model} | {step} | {budget} | {statistics.median(vals):,.0f} ({min(vals):,.0f}-{max(vals):,.0f}) "
            f"| {len(vals)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the harness only, on a tiny model")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args()
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    models = {"quick": (lambda: quick_config(), 20, 3e-3, 4, 2)} if args.quick else MODELS
    out_dir = Path(args.out_dir or ("out/noise-scale-quick" if args.quick else FACTORS_DIR))
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "noise_scale.jsonl"
    records = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    done = {(r["model"], r["seed"]) for r in records}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name, spec in models.items():
            if (name, seed) in done:
                continue
            start = time.perf_counter()
            new = measure(name, *spec, seed)
            with results.open("a") as f:
                for r in new:
                    f.write(json.dumps(r, sort_keys=True) + "\n")
            records += new
            print(f"[noise-scale] {name} seed={seed} done in {time.perf_counter() - start:.0f}s", flush=True)
    (out_dir / "noise_scale.md").write_text(render(records))
    print(render(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
