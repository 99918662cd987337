"""What sets the best phi (issue 27): one factor changed at a time, everything else as in benchmark v2.

Each *regime* is a :class:`SweepConfig` that differs from a v2 anchor in exactly one field. The first
factor is **tokens per update at equal tokens** (batch size): the hypothesis is that the best phi follows
the gradient noise, the batch relative to the gradient noise scale (McCandlish et al. 2018). On the sweep
model, v2's 1.3 tokens/param regime (325 updates of 8 x 64 tokens) wanted an early decay or a floor; on
the main job's model (100 updates of 16 x 128 tokens) a late one. Here the same tokens are spent at 4x
smaller and 4x larger batches, so the number of updates changes by 4x the other way (this is the point of
the factor: the same data in more, noisier steps or fewer, cleaner ones).

Schedules per regime, in two setups so the question is answered before the comparison:
  * ``-phi``: the phi x floor grid that decides the best phi (phi 2 is ``cosine`` / ``cosine-min10``);
  * ``-base``: the other baselines (linear-to-zero, WSD-1sqrt, schedule-free), for the targets of item 4.
Every schedule: 3 seeds, 4 peak LRs centred where the best is expected, extended when the best sits at
an edge. Results: ``benchmarks/phi_factors/<setup>/results.jsonl``, resumable cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import SCHEDULE_FREE, SweepConfig, main_job_config, uba_name
from .v2 import _DEFAULT_PROBE, SEEDS

FACTORS_DIR = Path("benchmarks/phi_factors")

# The phi grid spans what v2 found best on either model (0.025 with the floor on the main job's model, 4 without
# on the sweep model), a factor ~3-4 apart; phi 2 runs under its baseline names.
PHI_GRID_PHIS = (0.025, 0.1, 0.25, 1.0, 4.0)
FLOORED_PHIS = (0.025, 0.25, 1.0)
PHI_GRID = [
    *(uba_name(p) for p in PHI_GRID_PHIS),
    "cosine",
    *(uba_name(p, 0.1) for p in FLOORED_PHIS),
    "cosine-min10",
]
# The main job's model costs ~10x the sweep model's per run: its grid keeps phi 0.025 / 0.25 / 1 with and without the
# floor (v2's best there was 0.005-0.025; phi 4 and cosine without a floor trailed by 0.1+ nats) and cosine-min10.
MAIN_PHI_GRID = [n for n in PHI_GRID if n not in (uba_name(0.1), uba_name(4.0), "cosine")]
OTHER_BASELINES = ["linear", "wsd-1sqrt", SCHEDULE_FREE]
# v2 ran phi 0.1-8 at the anchors; phi 0.025 (with and without the floor) is what the anchors still lack.
ANCHOR_MISSING = [uba_name(0.025), uba_name(0.025, 0.1)]

# Seconds per update with one torch thread, measured (v2 for batch 8 / 16; the rest from this benchmark's first
# runs, updated as they land) and the per-run overhead (model build + final evaluation).
SECONDS_PER_UPDATE = {
    ("sweep", 2): 0.03,
    ("sweep", 8): 0.045,
    ("sweep", 32): 0.13,
    ("main-job", 4): 0.33,
    ("main-job", 16): 1.15,
    ("main-job", 64): 4.6,
}
RUN_OVERHEAD_S = {"sweep": 3.0, "main-job": 12.0}


def _regime_config(model: str, batch_size: int, budget: int, lrs: list[float], schedules: list[str]) -> SweepConfig:
    """v2's model and data (the sweep model on all training files, or the main job's), at one budget."""
    make, data = (SweepConfig, {"train_docs": None}) if model == "sweep" else (main_job_config, {})
    return make(
        schedules=schedules,
        budgets=[budget],
        lrs=lrs,
        lrs_by_budget={budget: lrs},
        seeds=SEEDS,
        batch_size=batch_size,
        extend_grid=True,
        **data,
        **_DEFAULT_PROBE,
    )


@dataclass(frozen=True)
class Regime:
    """One point of one factor: a model, a batch size and a budget spending the anchor's tokens."""

    name: str
    model: str  # "sweep" or "main-job"
    batch_size: int
    budget: int
    lrs: tuple[float, ...]
    factor: str
    anchor: bool = False  # v2 ran this regime; only ANCHOR_MISSING is run here

    def config(self, schedules: list[str]) -> SweepConfig:
        return _regime_config(self.model, self.batch_size, self.budget, list(self.lrs), schedules)


# Sweep model: v2's 325 updates x 512 tokens (166,400 tokens, 1.3 tokens/param); main job's model: v2's 100 updates
# x 2,048 tokens (204,800 tokens, 0.19 tokens/param). The LR grids follow the batch (square-root rule, roughly).
REGIMES = [
    Regime("sweep-b32", "sweep", 32, 81, (0.06, 0.12, 0.24, 0.48), "batch x4"),
    Regime("sweep-b2", "sweep", 2, 1300, (0.015, 0.03, 0.06, 0.12), "batch /4"),
    Regime("sweep-b8", "sweep", 8, 325, (0.03, 0.06, 0.12, 0.24), "anchor", anchor=True),
    Regime("main-b4", "main-job", 4, 400, (1e-3, 3e-3, 1e-2), "batch /4"),
    Regime("main-b64", "main-job", 64, 25, (3e-3, 1e-2, 3e-2), "batch x4"),
]
REGIME_BY_NAME = {r.name: r for r in REGIMES}
# sweep-b32: phi 0.025, the grid's low edge, was best with and without the floor on every seed (3 of 3); then
# phi 0.01 beat it on every seed, with and without the floor: so phi 0.0025 with the floor (as phi -> 0 UBA
# tends to a constant LR that drops to the floor at the last update).
# sweep-b2 (a quarter of the batch): phi 4, the unfloored grid's high edge, was its best and tied the best of all
# (phi 0.25 with the floor, +0.001, seeds mixed): phi 8 next, and phi 4 with the floor beside the floored grid.
PHI_EXTENSIONS = {
    "sweep-b32": [uba_name(0.01), uba_name(0.01, 0.1), uba_name(0.0025, 0.1)],
    "sweep-b2": [uba_name(8.0), uba_name(4.0, 0.1)],
}


@dataclass(frozen=True)
class FactorSetup:
    name: str
    regime: Regime
    schedules: tuple[str, ...]

    def config(self) -> SweepConfig:
        return self.regime.config(list(self.schedules))

    def results(self, root: Path = FACTORS_DIR) -> Path:
        return root / self.name / "results.jsonl"


def _setups() -> list[FactorSetup]:
    def grid(r: Regime) -> list[str]:
        return ANCHOR_MISSING if r.anchor else (PHI_GRID if r.model == "sweep" else MAIN_PHI_GRID)

    phi = [FactorSetup(f"{r.name}-phi", r, tuple(grid(r))) for r in REGIMES]
    # A phi grid whose best sits at its edge is extended outward (as v2 did), right after it.
    for name, extra in PHI_EXTENSIONS.items():
        i = next(k for k, f in enumerate(phi) if f.regime.name == name)
        phi.insert(i + 1, FactorSetup(f"{name}-phi-ext", REGIME_BY_NAME[name], tuple(extra)))
    base = [FactorSetup(f"{r.name}-base", r, tuple(OTHER_BASELINES)) for r in REGIMES if not r.anchor]
    return phi + base  # the phi question for every regime first, then the comparison


SETUPS = _setups()
SETUP_BY_NAME = {s.name: s for s in SETUPS}


def estimate_seconds(setup: FactorSetup, root: Path = FACTORS_DIR) -> tuple[float, float]:
    """(CPU-seconds for the whole setup, CPU-seconds still to run), grid extensions not counted."""
    from .runner import planned_cells, read_results
    from .schedules import cell_key, spec_key

    cfg = setup.config()
    done = {
        cell_key(r["spec"], r["budget"], r["lr"], r["seed"])
        for r in read_results(setup.results(root))
        if r.get("kind") == "run"
    }
    spu = SECONDS_PER_UPDATE[(setup.regime.model, setup.regime.batch_size)]
    total = left = 0.0
    for name, budget, lr, seed in planned_cells(cfg):
        cost = budget * spu + RUN_OVERHEAD_S[setup.regime.model]
        total += cost
        left += 0.0 if cell_key(spec_key(name, budget), budget, lr, seed) in done else cost
    return total, left


def anchor_records(regime: Regime, v2_root: Path = Path("benchmarks/v2")) -> list[dict[str, Any]]:
    """v2's runs of an anchor regime (same setup key, same budget), for the report."""
    from .runner import read_results
    from .v2 import SETUPS as V2_SETUPS

    key = regime.config(PHI_GRID).setup_key()
    out: list[dict[str, Any]] = []
    for s in V2_SETUPS:
        if s.config().setup_key() != key:
            continue
        out += [r for r in read_results(s.results(v2_root)) if r.get("kind") == "run" and r["budget"] == regime.budget]
    return out


def regime_config(regime: Regime) -> SweepConfig:
    """The report's view of a regime: every schedule run there (the anchors' from v2 included)."""
    names = [*PHI_GRID, *OTHER_BASELINES, *(n for s in SETUPS if s.regime == regime for n in s.schedules)]
    return regime.config(list(dict.fromkeys(names)))
