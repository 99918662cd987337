"""Tests of the curvature probe (``uba_hf.curvature``) and of the package's ``suggest_phi`` rule
(``uba_hf.phi``).

Tolerances (also stated in docs/phi.md):
* full Krylov space (``lanczos_steps >= dimension``, float64): top eigenvalue and condition number
  within 1e-6 relative of the truth;
* ``lanczos_steps`` (40) much smaller than the dimension (300), spectrum with separated extremes:
  within 1e-6 (top) and 2% (condition number).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from conftest import VOCAB, tiny_olmo2
from torch import nn

from uba_hf.curvature import CurvatureEstimate, estimate_curvature, estimate_curvature_causal_lm, hvp_budget
from uba_hf.phi import PHI_RULE_KAPPA_MAX, suggest_phi

FULL_KRYLOV_RTOL = 1e-6
PARTIAL_KRYLOV_KAPPA_RTOL = 0.02


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    # These problems are tiny: intra-op threads only add overhead, and on a loaded machine the
    # thread pool's contention made one tiny-OLMo HVP ~100x slower. Restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rotated(eigenvalues: list[float], seed: int = 0) -> torch.Tensor:
    """A symmetric float64 matrix with the given eigenvalues and a random orthogonal eigenbasis."""
    n = len(eigenvalues)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ q.T


class Quadratic(nn.Module):
    """0.5 x^T A x with x split over two parameters of different shapes (tests the flattening)."""

    def __init__(self, n: int, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(123)
        self.head = nn.Parameter(torch.randn(2, 3, generator=g, dtype=dtype))
        self.tail = nn.Parameter(torch.randn(n - 6, generator=g, dtype=dtype))

    def x(self) -> torch.Tensor:
        return torch.cat([self.head.reshape(-1), self.tail])


def quadratic_loss(model: Quadratic, a: torch.Tensor) -> torch.Tensor:
    x = model.x()
    return 0.5 * x @ (a.to(x.dtype) @ x)


def geometric_spectrum(n: int, kappa: float) -> list[float]:
    return [kappa ** (-i / (n - 1)) for i in range(n)] if kappa > 1 else [1.0] * n


@pytest.mark.parametrize("kappa", [1.0, 10.0, 1e3, 1e5])
def test_full_krylov_recovers_known_spectrum(kappa):
    n = 32
    eigs = [3.0 * e for e in geometric_spectrum(n, kappa)]  # top eigenvalue 3, smallest 3 / kappa
    est = estimate_curvature(Quadratic(n), quadratic_loss, [rotated(eigs)], lanczos_steps=n, num_probes=2)
    assert isinstance(est, CurvatureEstimate)
    assert est.top_eigenvalue == pytest.approx(3.0, rel=FULL_KRYLOV_RTOL)
    assert est.small_eigenvalue == pytest.approx(3.0 / kappa, rel=FULL_KRYLOV_RTOL)
    assert est.condition_number == pytest.approx(kappa, rel=FULL_KRYLOV_RTOL)
    assert est.condition_number_std == pytest.approx(0.0, abs=FULL_KRYLOV_RTOL * kappa)
    lo, hi = est.condition_number_interval
    assert lo <= est.condition_number <= hi
    assert est.num_hvps == 2 * n == hvp_budget(n, 1, lanczos_steps=n, num_probes=2)
    assert len(est.ritz_values) == 2 and all(len(r) == n for r in est.ritz_values)


@pytest.mark.parametrize("kappa", [10.0, 1e3, 1e5])
def test_partial_krylov_with_separated_extremes(kappa):
    # 300 dimensions, 40 Lanczos steps: the extremes L = 1 and mu = 1 / kappa are separated from a
    # bulk in [0.3, 0.6], which is the regime where Lanczos resolves both ends.
    n = 300
    bulk = torch.linspace(0.3, 0.6, n - 2, dtype=torch.float64).tolist()
    eigs = [1.0, 1.0 / kappa, *bulk]
    est = estimate_curvature(Quadratic(n), quadratic_loss, [rotated(eigs, seed=1)], lanczos_steps=40)
    assert est.top_eigenvalue == pytest.approx(1.0, rel=FULL_KRYLOV_RTOL)
    assert est.condition_number == pytest.approx(kappa, rel=PARTIAL_KRYLOV_KAPPA_RTOL)
    assert est.num_hvps == 3 * 40
    assert est.lanczos_steps == 40 and est.num_params == n


def test_float32_model():
    n = 24
    eigs = geometric_spectrum(n, 1e3)
    model = Quadratic(n, dtype=torch.float32)
    est = estimate_curvature(model, quadratic_loss, [rotated(eigs)], lanczos_steps=n)
    assert est.rel_threshold == pytest.approx(max(1e-6, 10 * torch.finfo(torch.float32).eps))
    assert est.top_eigenvalue == pytest.approx(1.0, rel=1e-4)
    assert est.condition_number == pytest.approx(1e3, rel=1e-2)


def test_indefinite_hessian_uses_small_positive_end():
    # Negative curvature and an exact null space are excluded from the condition number.
    n = 30
    eigs = [-0.5, -1e-3] + [0.0] * 10 + geometric_spectrum(n - 12, 1e3)
    est = estimate_curvature(Quadratic(n), quadratic_loss, [rotated(eigs, seed=2)], lanczos_steps=n)
    assert est.top_eigenvalue == pytest.approx(1.0, rel=FULL_KRYLOV_RTOL)
    assert est.small_eigenvalue == pytest.approx(1e-3, rel=FULL_KRYLOV_RTOL)
    assert est.condition_number == pytest.approx(1e3, rel=FULL_KRYLOV_RTOL)
    assert est.min_ritz_value == pytest.approx(-0.5, rel=FULL_KRYLOV_RTOL)


def test_batches_are_averaged_and_counted():
    n = 16
    a1 = torch.diag(torch.tensor([4.0] + [1.0] * (n - 1), dtype=torch.float64))
    a2 = torch.diag(torch.tensor([0.0] + [1.0] * (n - 2) + [0.02], dtype=torch.float64))
    est = estimate_curvature(Quadratic(n), quadratic_loss, [a1, a2], lanczos_steps=50, num_probes=2)
    # Mean Hessian: diag(2, 1, ..., 1, 0.51).
    assert est.top_eigenvalue == pytest.approx(2.0, rel=FULL_KRYLOV_RTOL)
    assert est.condition_number == pytest.approx(2.0 / 0.51, rel=FULL_KRYLOV_RTOL)
    assert est.lanczos_steps == n  # capped at the dimension
    assert est.num_hvps == 2 * n * 2 == hvp_budget(n, 2, lanczos_steps=50, num_probes=2)


def test_zero_hessian_gives_nan_condition_number():
    n = 8
    model = Quadratic(n)
    est = estimate_curvature(model, lambda m, _: m.x().sum(), [None], lanczos_steps=4, num_probes=1)
    assert est.top_eigenvalue == 0.0
    assert math.isnan(est.condition_number)


def test_probe_is_deterministic_given_seed():
    n = 60
    a = rotated(geometric_spectrum(n, 1e2))
    first = estimate_curvature(Quadratic(n), quadratic_loss, [a], lanczos_steps=10, seed=7)
    second = estimate_curvature(Quadratic(n), quadratic_loss, [a], lanczos_steps=10, seed=7)
    assert first.ritz_values == second.ritz_values


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Dropout(0.5), nn.Linear(8, 1))
        self.frozen = nn.Linear(5, 1)
        self.frozen.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.frozen(x)


def net_loss(model: Net, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return ((model(x).squeeze(-1) - y) ** 2).mean()


def make_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(16, 5, generator=g), torch.randn(16, generator=g)) for _ in range(2)]


@pytest.mark.parametrize("eval_mode", [True, False])
def test_probe_has_no_side_effects(eval_mode):
    torch.manual_seed(0)
    model = Net()
    model.train()
    model.body[3].eval()  # mixed modes must come back exactly as they were
    model.body[0].weight.grad = torch.full_like(model.body[0].weight, 0.25)  # pre-existing gradient
    params_before = {k: v.detach().clone() for k, v in model.named_parameters()}
    buffers_before = {k: v.detach().clone() for k, v in model.named_buffers()}
    grads_before = {k: (None if v.grad is None else v.grad.clone()) for k, v in model.named_parameters()}
    modes_before = {k: m.training for k, m in model.named_modules()}

    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    torch_state = torch.get_rng_state()
    py_state = random.getstate()
    np_state = np.random.get_state()

    est = estimate_curvature(model, net_loss, make_batches(), lanczos_steps=6, num_probes=2, eval_mode=eval_mode)
    assert math.isfinite(est.top_eigenvalue)

    for k, v in model.named_parameters():
        assert torch.equal(v, params_before[k]), k
        if grads_before[k] is None:
            assert v.grad is None, k
        else:
            assert torch.equal(v.grad, grads_before[k]), k
    for k, v in model.named_buffers():
        assert torch.equal(v, buffers_before[k]), k
    assert {k: m.training for k, m in model.named_modules()} == modes_before
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert random.getstate() == py_state
    restored = np.random.get_state()
    assert restored[0] == np_state[0] and np.array_equal(restored[1], np_state[1]) and restored[2:] == np_state[2:]
    # The next draw is the one the training loop would have made without the probe.
    expected = torch.randn(3, generator=torch.Generator().set_state(torch_state))
    assert torch.equal(torch.randn(3), expected)


def test_matches_explicit_hessian_of_a_network():
    # Nonlinear network, several parameter tensors, two batches: with a full Krylov space the Ritz
    # values are the eigenvalues of the explicit (batch-averaged, eval-mode) Hessian.
    torch.manual_seed(0)
    model = Net().double()
    batches = [(x.double(), y.double()) for x, y in make_batches()]
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for k, p in model.named_parameters() if p.requires_grad]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])

    def mean_loss(flat: torch.Tensor) -> torch.Tensor:
        pieces = [t.view(shape) for t, shape in zip(flat.split([s.numel() for s in shapes]), shapes, strict=True)]
        params = dict(zip(names, pieces, strict=True))
        model.eval()
        losses = [net_loss(lambda x: torch.func.functional_call(model, params, (x,)), b) for b in batches]
        return torch.stack(losses).mean()

    exact = torch.linalg.eigvalsh(torch.autograd.functional.hessian(mean_loss, flat0))
    model.train()
    n = flat0.numel()
    est = estimate_curvature(model, net_loss, batches, lanczos_steps=n, num_probes=1)
    assert torch.allclose(
        torch.tensor(est.ritz_values[0], dtype=torch.float64), exact, atol=1e-9 * float(exact.abs().max())
    )
    assert est.top_eigenvalue == pytest.approx(float(exact[-1]), rel=1e-9)


def test_frozen_parameters_are_excluded():
    model = Net()
    est = estimate_curvature(model, net_loss, make_batches()[:1], lanczos_steps=3, num_probes=1)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert est.num_params == trainable < sum(p.numel() for p in model.parameters())
    assert est.num_hvps == 3


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lanczos_steps": 0}, "lanczos_steps"),
        ({"num_probes": 0}, "num_probes"),
        ({"lanczos_steps": 2.5}, "lanczos_steps"),
        ({"rel_threshold": 0.0}, "rel_threshold"),
        ({"rel_threshold": 1.5}, "rel_threshold"),
        ({"seed": -1}, "seed"),
    ],
)
def test_probe_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        estimate_curvature(Net(), net_loss, make_batches(), **kwargs)


def test_probe_rejects_empty_batches_and_frozen_model():
    with pytest.raises(ValueError, match="batches"):
        estimate_curvature(Net(), net_loss, [])
    frozen = Net().requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad"):
        estimate_curvature(frozen, net_loss, make_batches())


def test_causal_lm_helper_on_tiny_olmo2():
    model = tiny_olmo2(seed=0)
    model.train()
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(2):
        ids = torch.randint(0, VOCAB, (2, 8), generator=g)
        batches.append({"input_ids": ids, "labels": ids, "attention_mask": torch.ones_like(ids)})
    params_before = [p.detach().clone() for p in model.parameters()]
    torch_state = torch.get_rng_state()

    est = estimate_curvature_causal_lm(model, batches, lanczos_steps=8, num_probes=2)

    assert est.top_eigenvalue > 0 and math.isfinite(est.top_eigenvalue)
    assert est.small_eigenvalue > 0 and math.isfinite(est.small_eigenvalue)
    assert est.condition_number >= 1 and math.isfinite(est.condition_number)
    assert math.isfinite(est.condition_number_std) and est.condition_number_std >= 0
    assert est.num_hvps == 2 * 8 * 2
    assert est.seconds > 0
    assert model.training
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params_before, strict=True))
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert 0.5 <= suggest_phi(est.condition_number) <= 4.0


def test_causal_lm_helper_validates_batches():
    model = tiny_olmo2(seed=0)
    ids = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="list"):
        estimate_curvature_causal_lm(model, {"input_ids": ids, "labels": ids})
    with pytest.raises(ValueError, match="labels"):
        estimate_curvature_causal_lm(model, [{"input_ids": ids}])


# --------------------------------------------------------------------------------------------------
# suggest_phi: the package's documented rule (not the paper's)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kappa", "phi"),
    [
        (1.0, 4.0),
        (10.0, 2.0 * math.sqrt(2.0)),
        (100.0, 2.0),  # cosine
        (1e4, 1.0),
        (1e6, 0.5),
        (1e9, 0.5),  # clipped
    ],
)
def test_suggest_phi_pinned_points(kappa, phi):
    assert suggest_phi(kappa) == pytest.approx(phi, rel=1e-12)


def test_suggest_phi_is_monotone_bounded_and_matches_formula():
    kappas = [10 ** (x / 4) for x in range(0, 40)]
    phis = [suggest_phi(k) for k in kappas]
    assert all(a >= b for a, b in zip(phis, phis[1:], strict=False))
    assert all(0.5 <= p <= 4.0 for p in phis)
    for k, p in zip(kappas, phis, strict=True):
        x = min(1.0, math.log10(k) / math.log10(PHI_RULE_KAPPA_MAX))
        assert p == pytest.approx(4.0 * (0.5 / 4.0) ** x, rel=1e-12)
    assert suggest_phi(1e3, phi_min=1.0, phi_max=3.0, kappa_max=1e3) == pytest.approx(1.0)
    assert suggest_phi(np.float64(100.0)) == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [0.5, 0.0, -3.0, math.nan, math.inf, True, "10", None])
def test_suggest_phi_rejects_bad_condition_number(bad):
    with pytest.raises(ValueError, match="condition_number"):
        suggest_phi(bad)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"phi_min": 0.0}, "phi_min"),
        ({"phi_min": 5.0}, "phi_min"),
        ({"phi_max": math.inf}, "phi_max"),
        ({"kappa_max": 1.0}, "kappa_max"),
    ],
)
def test_suggest_phi_rejects_bad_bounds(kwargs, name):
    with pytest.raises(ValueError, match=name):
        suggest_phi(10.0, **kwargs)
