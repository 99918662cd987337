"""The gradient noise scale ``B_simple`` of a causal LM (McCandlish et al. 2018, "An Empirical Model of
Large-Batch Training", arXiv 1812.06162, Appendix A).

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

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from .errors import UBAConfigError
from .rng import preserve_rng

__all__ = ["NoiseScale", "estimate_noise_scale"]


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
        raise UBAConfigError("estimate_noise_scale needs at least one batch.")
    big_rows = len(next(iter(batches[0].values())))
    if small_rows < 1 or big_rows % small_rows or big_rows // small_rows < 2:
        raise UBAConfigError(
            f"`small_rows` ({small_rows}) must divide the batch ({big_rows} rows) into at least two chunks."
        )
    start = time.perf_counter()
    was_training = model.training
    model.eval()  # no dropout: the noise measured is the data's, not the model's
    grad_sq_terms, trace_terms = [], []
    with preserve_rng(), torch.enable_grad():
        for batch in batches:
            if len(next(iter(batch.values()))) != big_rows:
                raise UBAConfigError("estimate_noise_scale: every batch must have the same number of rows.")
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
