"""``estimate_noise_scale`` (benchmarks/phi_factors/noise_scale.py) against a problem whose gradient noise scale
is known in closed form, and on the tiny OLMo-2 (weights, mode and RNG untouched)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from conftest import TokenDataset, load_benchmark_script, tiny_olmo2

estimate_noise_scale = load_benchmark_script("phi_factors/noise_scale.py").estimate_noise_scale


class Quadratic(torch.nn.Module):
    """Loss of a batch: mean over rows of ``|w - x_i|^2 / 2``; per-row gradient ``w - x_i``. With ``x_i ~ N(mu,
    s^2 I_d)``: ``G = w - mu``, ``tr(Sigma) = d s^2``, so ``B_simple = d s^2 / |w - mu|^2``."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(loss=0.5 * ((self.w - x) ** 2).sum(-1).mean())


@pytest.mark.parametrize("s", [0.5, 2.0])
def test_quadratic_noise_scale_matches_the_closed_form(s):
    d, mu = 50, torch.zeros(50)
    w = torch.full((d,), 0.5)  # |G|^2 = 50 * 0.25 = 12.5
    g = torch.Generator().manual_seed(0)
    batches = [{"x": mu + s * torch.randn(64, d, generator=g)} for _ in range(200)]
    got = estimate_noise_scale(Quadratic(w), batches, small_rows=8)
    true = d * s * s / float(((w - mu) ** 2).sum())
    assert got.b_simple_rows == pytest.approx(true, rel=0.1)
    assert got.trace_sigma == pytest.approx(d * s * s, rel=0.05) and got.grad_sq == pytest.approx(12.5, rel=0.1)


def test_tiny_olmo2_noise_scale_leaves_the_model_as_it_was():
    model = tiny_olmo2()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = TokenDataset(n=32)
    batches = [{"input_ids": data.blocks[i : i + 8], "labels": data.blocks[i : i + 8]} for i in range(0, 32, 8)]
    torch.manual_seed(123)
    got = estimate_noise_scale(model, batches, small_rows=2)
    drawn = torch.rand(1)
    torch.manual_seed(123)
    assert torch.equal(drawn, torch.rand(1))  # the RNG stream did not move
    assert got.tokens_per_row == 16 and got.big_rows == 8 and got.num_batches == 4
    assert got.b_simple_rows > 0 and got.b_simple_tokens == got.b_simple_rows * 16
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_chunking_is_a_clear_error():
    batches = [{"x": torch.zeros(6, 3)}]
    with pytest.raises(ValueError, match="small_rows"):
        estimate_noise_scale(Quadratic(torch.zeros(3)), batches, small_rows=4)
