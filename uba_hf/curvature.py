"""Curvature probe: the extreme Hessian spectrum of a training loss, by Lanczos on HVPs.

``uba_hf.phi`` turns the result into a phi (``suggest_phi``, ``probe_phi``).

The probe estimates the extreme curvature of a training loss at the model's *current* parameters,
from a few fixed batches, without changing anything the training loop can see.

Definitions (see ``docs/phi.md`` for the reasoning):

* ``H`` is the Hessian of ``mean_b loss_fn(model, batch_b)`` (the plain average over the given
  batches, each batch weighted equally) with respect to the parameters that require grad.
* Hessian-vector products (HVPs) use autograd double-backward: ``g = grad(loss, params,
  create_graph=True)``, then ``Hv = grad(<g, v>, params)``.
* Each *probe* is one Lanczos run of ``k = min(lanczos_steps, num_params)`` steps with full
  reorthogonalisation, started from a Gaussian vector drawn from a private, seeded
  ``torch.Generator``. Its Ritz values (eigenvalues of the ``k x k`` tridiagonal matrix) lie inside
  the spectrum of ``H``; the largest converges quickly to the top eigenvalue.
* The Hessian of a neural network is indefinite and has a huge (near-)null space, so its smallest
  eigenvalue is meaningless as a conditioning measure (it is negative or ~0). The *small end of the
  relevant spectrum* is therefore defined as **the smallest Ritz value that is at least
  ``rel_threshold`` times the top Ritz value** of the same probe. Negative and near-zero curvature
  is left out by construction (the most negative Ritz value seen is still reported).
  ``rel_threshold`` defaults to ``max(1e-6, 10 * eps)`` of the least precise trainable dtype: below
  that, float32 HVPs cannot tell curvature from rounding noise, so no larger condition number can
  be resolved anyway.
* A probe's condition number is ``top / small`` (so it is at most ``1 / rel_threshold``). The
  reported ``top_eigenvalue``, ``small_eigenvalue`` and ``condition_number`` are medians over the
  independent probes; ``condition_number_std`` (sample standard deviation, 0 for one probe) and
  ``condition_number_interval`` (min, max) give their spread. With ``k`` smaller than the number of
  parameters, Lanczos resolves the small end only where it is separated from the rest of the
  spectrum, so on ill-conditioned problems the estimate is biased low (a lower bound in exact
  arithmetic for positive definite ``H``).

Cost: exactly ``num_probes * min(lanczos_steps, num_params) * len(batches)`` per-batch HVPs
(``CurvatureEstimate.num_hvps``). One per-batch HVP is a forward pass, a backward pass that keeps its
graph and a double-backward pass, roughly 2-3 times a training step's forward+backward on that batch.
Graphs are not kept between HVPs, so peak memory is one batch's double-backward graph plus the
Lanczos basis, ``k * num_params`` numbers (float32, or float64 if a parameter is float64) on
``basis_device``.

Side effects: none visible to training. Parameters and their ``.grad`` are never written
(``torch.autograd.grad`` does not accumulate into ``.grad``); every module's ``training`` flag, the
torch CPU and CUDA RNG states, Python's ``random`` state and NumPy's global RNG state (if NumPy is
imported) are saved and restored; with ``eval_mode=False`` the buffers (e.g. BatchNorm running
statistics) are also restored.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import UBAConfigError
from .rng import preserve_rng

__all__ = [
    "CurvatureEstimate",
    "estimate_curvature",
    "estimate_curvature_causal_lm",
    "hvp_budget",
]

LossFn = Callable[[nn.Module, Any], torch.Tensor]


@dataclass(frozen=True)
class CurvatureEstimate:
    """Result of :func:`estimate_curvature`. All numbers are Python floats/ints.

    Attributes:
        top_eigenvalue: median over probes of the largest Ritz value (largest curvature).
        small_eigenvalue: median over probes of the smallest Ritz value >= ``rel_threshold * top``.
        condition_number: median over probes of ``top / small`` (``nan`` if no probe saw positive
            curvature).
        condition_number_std: sample standard deviation of the per-probe condition numbers (0 for
            a single probe).
        condition_number_interval: (min, max) of the per-probe condition numbers.
        min_ritz_value: the smallest Ritz value over all probes (negative = negative curvature seen).
        num_hvps: per-batch Hessian-vector products computed,
            ``num_probes * lanczos_steps * num_batches``.
        num_probes: independent Lanczos runs.
        lanczos_steps: Lanczos steps per probe actually used (``min(requested, num_params)``).
        num_batches: batches the Hessian was averaged over.
        num_params: trainable parameters (the Hessian's dimension).
        rel_threshold: the relative threshold that defined the small end.
        ritz_values: each probe's Ritz values, ascending.
        seconds: wall-clock time of the probe.
    """

    top_eigenvalue: float
    small_eigenvalue: float
    condition_number: float
    condition_number_std: float
    condition_number_interval: tuple[float, float]
    min_ritz_value: float
    num_hvps: int
    num_probes: int
    lanczos_steps: int
    num_batches: int
    num_params: int
    rel_threshold: float
    ritz_values: tuple[tuple[float, ...], ...]
    seconds: float


def hvp_budget(num_params: int, num_batches: int, *, lanczos_steps: int = 20, num_probes: int = 3) -> int:
    """The exact number of per-batch HVPs :func:`estimate_curvature` will compute."""
    return num_probes * min(lanczos_steps, num_params) * num_batches


# --------------------------------------------------------------------------------------------------
# Side-effect guards
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _preserve_module_state(model: nn.Module, eval_mode: bool) -> Iterator[None]:
    modes = [(module, module.training) for module in model.modules()]
    saved_buffers = [] if eval_mode else [(buf, buf.detach().clone()) for buf in model.buffers()]
    try:
        if eval_mode:
            model.eval()
        yield
    finally:
        for module, training in modes:
            module.training = training
        with torch.no_grad():
            for buf, value in saved_buffers:
                buf.copy_(value)


def _math_attention_context(enabled: bool) -> contextlib.AbstractContextManager:
    """Force PyTorch's math SDPA backend: the fused kernels have no double-backward."""
    if not enabled:
        return contextlib.nullcontext()
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # pragma: no cover - very old torch
        return contextlib.nullcontext()
    return sdpa_kernel([SDPBackend.MATH])


# --------------------------------------------------------------------------------------------------
# HVP and Lanczos
# --------------------------------------------------------------------------------------------------


def _make_hvp(
    model: nn.Module, loss_fn: LossFn, batches: Sequence[Any], params: list[torch.Tensor], dtype, device
) -> Callable[[torch.Tensor], torch.Tensor]:
    sizes = [p.numel() for p in params]

    def hvp(vec: torch.Tensor) -> torch.Tensor:
        pieces = [
            piece.view_as(p).to(device=p.device, dtype=p.dtype)
            for piece, p in zip(torch.split(vec, sizes), params, strict=True)
        ]
        total = torch.zeros(vec.numel(), dtype=dtype, device=device)
        for batch in batches:
            with torch.enable_grad():
                loss = loss_fn(model, batch)
                if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                    raise UBAConfigError(f"`loss_fn` must return a scalar tensor; got {type(loss).__name__}.")
                if not loss.requires_grad:
                    raise UBAConfigError("`loss_fn` returned a loss that does not depend on any trainable parameter.")
                grads = torch.autograd.grad(loss.reshape(()), params, create_graph=True, allow_unused=True)
                terms = [(g * v).sum() for g, v in zip(grads, pieces, strict=True) if g is not None and g.requires_grad]
                if not terms:  # gradient constant in the parameters: zero Hessian for this batch
                    continue
                hv = torch.autograd.grad(torch.stack(terms).sum(), params, allow_unused=True)
            flat = torch.cat(
                [
                    (h if h is not None else torch.zeros_like(p)).reshape(-1).to(device=device, dtype=dtype)
                    for h, p in zip(hv, params, strict=True)
                ]
            )
            total += flat
            del loss, grads, terms, hv, flat
        return total / len(batches)

    return hvp


def _orthogonalise(w: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    # Classical Gram-Schmidt applied twice ("twice is enough") against all previous vectors.
    for _ in range(2):
        w = w - basis.T @ (basis @ w)
    return w


def _lanczos(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    k: int,
    generator: torch.Generator,
    dtype: torch.dtype,
    device: torch.device,
) -> list[float]:
    """``k`` Lanczos steps with full reorthogonalisation; returns the Ritz values, ascending."""
    basis = torch.zeros(k, n, dtype=dtype, device=device)

    def random_unit(existing: int) -> torch.Tensor:
        w = torch.randn(n, generator=generator, dtype=torch.float64).to(device=device, dtype=dtype)
        if existing:
            w = _orthogonalise(w, basis[:existing])
        return w / torch.linalg.vector_norm(w)

    basis[0] = random_unit(0)
    alphas: list[float] = []
    betas: list[float] = []
    tiny = 10.0 * torch.finfo(dtype).eps
    for j in range(k):
        w = matvec(basis[j])
        alpha = float(torch.dot(basis[j], w))
        alphas.append(alpha)
        if j == k - 1:
            break
        w = _orthogonalise(w, basis[: j + 1])  # also removes the alpha and beta components
        beta = float(torch.linalg.vector_norm(w))
        scale = max([abs(a) for a in alphas] + betas + [torch.finfo(dtype).tiny])
        if not math.isfinite(beta):
            raise FloatingPointError("Non-finite Hessian-vector product in the curvature probe.")
        if beta <= tiny * scale:
            # Invariant subspace found (e.g. H = c I): continue in a fresh direction, T decouples.
            beta = 0.0
            basis[j + 1] = random_unit(j + 1)
        else:
            basis[j + 1] = w / beta
        betas.append(beta)
    tri = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas, dtype=torch.float64)
        tri += torch.diag(off, 1) + torch.diag(off, -1)
    ritz = torch.linalg.eigvalsh(tri)
    if not bool(torch.isfinite(ritz).all()):
        raise FloatingPointError("Non-finite Ritz values in the curvature probe.")
    return [float(x) for x in ritz]


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UBAConfigError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------------------------------
# Public probe
# --------------------------------------------------------------------------------------------------


def estimate_curvature(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[Any],
    *,
    lanczos_steps: int = 20,
    num_probes: int = 3,
    rel_threshold: float | None = None,
    seed: int = 0,
    eval_mode: bool = True,
    math_attention: bool = True,
    basis_device: torch.device | str | None = None,
) -> CurvatureEstimate:
    """Estimate the top curvature, the small end of the relevant spectrum and the condition number.

    Args:
        model: any ``nn.Module``; the Hessian is taken over its parameters with ``requires_grad``.
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``; it must be twice differentiable
            (no gradient checkpointing, no fused attention kernels without double-backward).
        batches: the batches to average the Hessian over (each weighted equally; any objects
            ``loss_fn`` understands, ``None`` included).
        lanczos_steps: Lanczos steps per probe (capped at the number of trainable parameters).
        num_probes: independent Lanczos runs (random starts); their spread is the uncertainty.
        rel_threshold: the small end is the smallest Ritz value >= ``rel_threshold * top``. ``None``
            means ``max(1e-6, 10 * eps)`` of the least precise trainable dtype.
        seed: seed of the probe's private ``torch.Generator`` (the global RNGs are not used).
        eval_mode: run the model in eval mode (deterministic: no dropout, frozen BatchNorm). With
            ``False`` the current modes are kept and buffers are restored afterwards.
        math_attention: force the math backend of ``scaled_dot_product_attention`` while probing,
            because fused attention kernels do not support double-backward.
        basis_device: where the ``lanczos_steps x num_params`` Lanczos basis lives (default: the
            first trainable parameter's device); ``"cpu"`` saves accelerator memory.

    Returns:
        A frozen :class:`CurvatureEstimate`; ``num_hvps`` equals :func:`hvp_budget`.

    Raises:
        ValueError: bad arguments, no trainable parameters, empty ``batches``, or a non-scalar loss.
    """
    start = time.perf_counter()
    lanczos_steps = _check_int(lanczos_steps, "lanczos_steps", 1)
    num_probes = _check_int(num_probes, "num_probes", 1)
    seed = _check_int(seed, "seed", 0)
    if not isinstance(model, nn.Module):
        raise UBAConfigError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
    if not callable(loss_fn):
        raise UBAConfigError("`loss_fn` must be callable as loss_fn(model, batch) -> scalar tensor.")
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Sequence) or len(batches) == 0:
        raise UBAConfigError("`batches` must be a non-empty sequence (list/tuple) of batches.")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise UBAConfigError("`model` has no parameters with requires_grad=True.")
    if not all(p.is_floating_point() for p in params):
        raise UBAConfigError("All trainable parameters must be floating point.")
    if rel_threshold is None:
        eps = max(torch.finfo(p.dtype).eps for p in params)
        rel_threshold = max(1e-6, 10.0 * eps)
    elif (
        isinstance(rel_threshold, bool)
        or not isinstance(rel_threshold, numbers.Real)
        or not (0.0 < float(rel_threshold) < 1.0)
    ):
        raise UBAConfigError(f"`rel_threshold` must be a number in (0, 1); got {rel_threshold!r}.")
    rel_threshold = float(rel_threshold)

    n = sum(p.numel() for p in params)
    k = min(lanczos_steps, n)
    dtype = torch.float64 if any(p.dtype == torch.float64 for p in params) else torch.float32
    device = torch.device(basis_device) if basis_device is not None else params[0].device

    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    ritz_runs: list[list[float]] = []
    with preserve_rng(), _preserve_module_state(model, eval_mode), _math_attention_context(math_attention):
        hvp = _make_hvp(model, loss_fn, batches, params, dtype, device)
        for _ in range(num_probes):
            ritz_runs.append(_lanczos(hvp, n, k, generator, dtype, device))

    tops, smalls, kappas = [], [], []
    for ritz in ritz_runs:
        top = ritz[-1]
        if top > 0.0:
            small = min(x for x in ritz if x >= rel_threshold * top)
            tops.append(top)
            smalls.append(small)
            kappas.append(top / small)
    if kappas:
        top_eig, small_eig, kappa = (statistics.median(xs) for xs in (tops, smalls, kappas))
        kappa_std = statistics.stdev(kappas) if len(kappas) > 1 else 0.0
        interval = (min(kappas), max(kappas))
    else:  # no positive curvature seen at all
        top_eig = statistics.median(r[-1] for r in ritz_runs)
        small_eig = kappa = kappa_std = math.nan
        interval = (math.nan, math.nan)

    return CurvatureEstimate(
        top_eigenvalue=float(top_eig),
        small_eigenvalue=float(small_eig),
        condition_number=float(kappa),
        condition_number_std=float(kappa_std),
        condition_number_interval=(float(interval[0]), float(interval[1])),
        min_ritz_value=float(min(r[0] for r in ritz_runs)),
        num_hvps=num_probes * k * len(batches),
        num_probes=num_probes,
        lanczos_steps=k,
        num_batches=len(batches),
        num_params=n,
        rel_threshold=rel_threshold,
        ritz_values=tuple(tuple(r) for r in ritz_runs),
        seconds=time.perf_counter() - start,
    )


def _causal_lm_loss(model: nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
    device = next(model.parameters()).device
    inputs = {key: (value.to(device) if isinstance(value, torch.Tensor) else value) for key, value in batch.items()}
    inputs.setdefault("use_cache", False)
    loss = model(**inputs).loss
    if loss is None:
        raise UBAConfigError("The model returned no loss; does the batch contain `labels`?")
    return loss


def estimate_curvature_causal_lm(
    model: nn.Module, batches: Sequence[Mapping[str, Any]], **kwargs: Any
) -> CurvatureEstimate:
    """:func:`estimate_curvature` for a Transformers causal LM, with ``loss = model(**batch).loss``.

    Each batch is a mapping with ``input_ids`` and ``labels`` (and optionally ``attention_mask`` or
    any other forward argument); tensors are moved to the model's device and ``use_cache=False`` is
    added unless given. Keyword arguments go to :func:`estimate_curvature`. Gradient checkpointing
    must be off (it does not support double-backward).
    """
    if isinstance(batches, Mapping):
        raise UBAConfigError("`batches` must be a list of batch dicts, not a single dict; wrap it in a list.")
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Sequence) or len(batches) == 0:
        raise UBAConfigError("`batches` must be a non-empty list of dicts with `input_ids` and `labels`.")
    for i, batch in enumerate(batches):
        if not isinstance(batch, Mapping) or "input_ids" not in batch or "labels" not in batch:
            raise UBAConfigError(f"`batches[{i}]` must be a dict with `input_ids` and `labels`.")
    return estimate_curvature(model, _causal_lm_loss, batches, **kwargs)
