"""phi from curvature: ``suggest_phi`` (the package's kappa -> phi rule) and ``probe_phi`` (probe, then rule).

``probe_phi`` is the one place where a curvature probe becomes a phi. No schedule or trainer calls it (a phi not
given is the zero-config choice, ``uba_hf.zero_config``): it is a measurement, which the benchmark harness's v1
``uba-auto`` cells call. The rule is this package's, not the paper's: see docs/phi.md.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from .curvature import estimate_curvature_causal_lm
from .errors import UBAConfigError

__all__ = [
    "PHI_RULE_KAPPA_MAX",
    "PHI_RULE_MAX",
    "PHI_RULE_MIN",
    "PROBE_FALLBACK_PHI",
    "PROBE_ROWS",
    "PhiProbe",
    "probe_phi",
    "suggest_phi",
]

logger = logging.getLogger("uba_hf")

# --------------------------------------------------------------------------------------------------
# phi from the condition number: the PACKAGE's rule (not the paper's)
# --------------------------------------------------------------------------------------------------

PHI_RULE_MAX = 4.0  # phi at kappa = 1
PHI_RULE_MIN = 0.5  # phi at kappa >= PHI_RULE_KAPPA_MAX
PHI_RULE_KAPPA_MAX = 1e6  # largest condition number a float32 probe resolves (rel_threshold ~ 1e-6)

# The probe runs on sub-batches of this many rows cut from the first training batches (the ones warmup trains on
# first). Its cost is ``lanczos_steps x batches`` HVPs, each about the cost of a few training steps on that many
# rows. Splitting the same rows into more batches gives the same kappa (the HVPs are averaged) at the same cost;
# more rows or steps cost proportionally more.
PROBE_ROWS = 4


def _check_finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise UBAConfigError(f"`{name}` must be a finite number; got {value!r}.")
    return float(value)


def suggest_phi(
    condition_number: float,
    *,
    phi_min: float = PHI_RULE_MIN,
    phi_max: float = PHI_RULE_MAX,
    kappa_max: float = PHI_RULE_KAPPA_MAX,
) -> float:
    """Suggest the UBA ``phi`` for a condition number. **This is uba-hf's heuristic, not the paper's.**

    The paper (Tang et al., arXiv 2505.24452) states that it connects phi to the condition number,
    but its relation could not be retrieved when this was written, so this function does not claim
    to implement it. The package's rule: ``log(phi)`` falls linearly in ``log10(kappa)`` from
    ``phi_max`` at ``kappa = 1`` to ``phi_min`` at ``kappa = kappa_max``, and stays at ``phi_min``
    above::

        phi = phi_max * (phi_min / phi_max) ** min(1, log10(kappa) / log10(kappa_max))

    With the defaults (4, 0.5, 1e6) phi halves every two decades: kappa 1 -> 4, 100 -> 2 (cosine),
    1e4 -> 1, 1e6 and above -> 0.5. Rationale (docs/phi.md): the mean LR factor of UBA is
    ``1 / (1 + sqrt(phi / 2))``, so a smaller phi spends more of the budget at high LR, which is
    what the low-curvature directions of an ill-conditioned problem need; and ``log(phi / 2)`` is
    the shift UBA applies to the log-odds of the cosine factor, so a log-scale map is the natural one.

    Raises:
        ValueError: ``condition_number`` not a finite number >= 1, or invalid bounds
            (``0 < phi_min <= phi_max`` finite, ``kappa_max > 1`` finite).
    """
    if (
        isinstance(condition_number, bool)
        or not isinstance(condition_number, numbers.Real)
        or not math.isfinite(float(condition_number))
        or float(condition_number) < 1.0
    ):
        raise UBAConfigError(f"`condition_number` must be a finite number >= 1; got {condition_number!r}.")
    kappa = float(condition_number)
    phi_min = _check_finite(phi_min, "phi_min")
    phi_max = _check_finite(phi_max, "phi_max")
    kappa_max = _check_finite(kappa_max, "kappa_max")
    if not (0.0 < phi_min <= phi_max):
        raise UBAConfigError(f"`phi_min` and `phi_max` must satisfy 0 < phi_min <= phi_max; got {phi_min}, {phi_max}.")
    if kappa_max <= 1.0:
        raise UBAConfigError(f"`kappa_max` must be > 1; got {kappa_max}.")
    x = min(1.0, math.log10(kappa) / math.log10(kappa_max))
    phi = phi_max * (phi_min / phi_max) ** x
    return min(phi_max, max(phi_min, phi))


# --------------------------------------------------------------------------------------------------
# The probe -> phi step (the benchmark harness's v1 uba-auto cells)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhiProbe:
    """What :func:`probe_phi` measured and chose.

    Attributes:
        phi: the phi to run: ``suggest_phi(condition_number)``, or ``fallback_phi`` when the probe saw
            no usable condition number (``fallback`` is then True).
        condition_number: the probe's kappa (``None`` when not finite).
        condition_number_interval: (min, max) over the probes.
        top_eigenvalue: the largest curvature seen.
        num_hvps, num_probes, lanczos_steps, num_batches, seconds: what the probe cost.
        fallback: True when ``phi`` is the fallback, not the rule's answer.
    """

    phi: float
    condition_number: float | None
    condition_number_interval: tuple[float, float]
    top_eigenvalue: float
    num_hvps: int
    num_probes: int
    lanczos_steps: int
    num_batches: int
    seconds: float
    fallback: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the checkpoint's schedule record, metrics.json, the benchmark's results)."""
        return {
            "phi": self.phi,
            "condition_number": self.condition_number,
            "condition_number_interval": list(self.condition_number_interval),
            "top_eigenvalue": self.top_eigenvalue,
            "num_hvps": self.num_hvps,
            "num_probes": self.num_probes,
            "lanczos_steps": self.lanczos_steps,
            "num_batches": self.num_batches,
            "seconds": round(self.seconds, 3),
            "fallback": self.fallback,
        }


# The probe knows no budget: its fallback is the fixed phi with the smallest worst case in the phi-factor study
# (0.25, with a 10% floor; docs/phi.md).
PROBE_FALLBACK_PHI = 0.25


def probe_phi(
    model: nn.Module,
    batches: Sequence[Mapping[str, Any]],
    *,
    lanczos_steps: int = 20,
    num_probes: int = 1,
    seed: int = 0,
    fallback_phi: float | None = None,
) -> PhiProbe:
    """Probe a causal LM's curvature on ``batches`` and choose phi with :func:`suggest_phi`.

    The one fallback policy: when no probe sees positive curvature (kappa not finite, or < 1), phi is
    ``fallback_phi`` (default: ``PROBE_FALLBACK_PHI``, 0.25), ``fallback`` is True and a warning is logged;
    the caller decides whether to stop on it. Arguments as for :func:`estimate_curvature`.
    """
    estimate = estimate_curvature_causal_lm(
        model, batches, lanczos_steps=lanczos_steps, num_probes=num_probes, seed=seed
    )
    kappa = estimate.condition_number
    usable = math.isfinite(kappa) and kappa >= 1.0
    phi = suggest_phi(kappa) if usable else float(PROBE_FALLBACK_PHI if fallback_phi is None else fallback_phi)
    if not usable:
        logger.warning(
            "phi='auto': the curvature probe saw no usable condition number (kappa=%s); using phi=%g.", kappa, phi
        )
    lo, hi = estimate.condition_number_interval
    return PhiProbe(
        phi=phi,
        condition_number=kappa if usable else None,
        condition_number_interval=(lo, hi),
        top_eigenvalue=estimate.top_eigenvalue,
        num_hvps=estimate.num_hvps,
        num_probes=estimate.num_probes,
        lanczos_steps=estimate.lanczos_steps,
        num_batches=estimate.num_batches,
        seconds=estimate.seconds,
        fallback=not usable,
    )
