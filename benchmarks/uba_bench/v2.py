"""Benchmark v2 (issue 15): the plan, one results file per setup, in the order the runs are most useful.

Two models: the sweep model (``SweepConfig``'s 0.66M-parameter OLMo-2, 131,648 non-embedding parameters)
on **all** training files (3.01M tokens; v1 used 400 files), and the main job's model
(``main_job_config``: 3.1M parameters, 1,050,752 non-embedding). Each setup is a :class:`SweepConfig`
whose results go to ``benchmarks/v2/<setup>/results.jsonl``; setups of the same model share the model
and data (their ``setup_key`` is equal) and the report merges them (``GROUPS``).

Budgets (sweep model, 512 tokens per update): 325 / 1300 / 5200 updates = 1.26 / 5.06 / 20.2 tokens
per non-embedding parameter = 0.055 / 0.22 / 0.88 epochs. Main job (2048 tokens per update): 100 / 400
updates = 0.19 / 0.78 tokens per non-embedding parameter. LR grids: 4 points per budget (5 for the main
job at 100), centred where the best LR is expected (it falls roughly as budget^-1/2); a best LR at an
edge extends the grid (``extend_grid``). Every setup: 3 seeds, seeds outermost, budgets ascending, all schedules of
a budget before the next, so an interrupted sweep has complete comparisons for its first seed(s).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import (
    AUTO,
    AUTO_NAMES,
    DEFAULT_NAME,
    FLOORS_V2,
    PHIS_V2,
    SCHEDULE_FREE,
    ZERO_CONFIG,
    SweepConfig,
    main_job_config,
    quick_config,
    uba_name,
)
from .schedules import spec_key

# v2's subject, the budget rule (``uba_hf.suggest_schedule``): below 2.5 training tokens per non-embedding parameter
# phi 1 with a 10% floor, from there phi 4 to zero. Its values as v2 ran them, so that v2's plan and report keep
# their meaning whatever the package does with the rule.
SHORT_BUDGET_TOKENS_PER_PARAM = 2.5
SHORT_BUDGET_SCHEDULE = {"phi": 1.0, "min_lr_ratio": 0.1}
LONG_BUDGET_SCHEDULE = {"phi": 4.0, "min_lr_ratio": 0.0}

V2_DIR = Path("benchmarks/v2")
SWEEP_BUDGETS = [325, 1300, 5200]
MAIN_BUDGETS = [100, 400]
SEEDS = [0, 1, 2]
# The baselines expected strongest (Bergsma et al. 2025; Hägele et al. 2024; OLMo; Defazio et al. 2024).
CORE = [DEFAULT_NAME, "linear", "wsd-1sqrt", "cosine-min10", SCHEDULE_FREE]
# The rest of the matrix: the other baselines and the phi x floor grid (phi 1 = uba-default,
# phi 2 = cosine, phi 2 with the floor = cosine-min10 are run once under their baseline name).
_RUN_ELSEWHERE = {spec_key(n, 100) for n in [*CORE, "cosine"]}
GRID = [
    "cosine",
    "wsd-linear",
    *(n for f in FLOORS_V2 for p in PHIS_V2 if spec_key(n := uba_name(p, f), 100) not in _RUN_ELSEWHERE),
    AUTO,
]
# The budget rule's two picks: phi 1 with a 10% floor (short budgets) and phi 4
# to zero (long ones). At 20 tokens/param they ran first, as the candidates for the default, before the rest
# of the grid there (``sweep-phi-top``, ``sweep-grid-top``); on the main job's model the short pick runs in its core.
RULE_SHORT, RULE_LONG = (uba_name(s["phi"], s["min_lr_ratio"]) for s in (SHORT_BUDGET_SCHEDULE, LONG_BUDGET_SCHEDULE))
DEFAULT_CANDIDATES = [RULE_SHORT, RULE_LONG]


def budget_rule(tokens_per_param: float) -> dict[str, float]:
    """v2's subject, the budget rule: its pick at a budget."""
    short = tokens_per_param < SHORT_BUDGET_TOKENS_PER_PARAM
    return dict(SHORT_BUDGET_SCHEDULE if short else LONG_BUDGET_SCHEDULE)


# The picks' neighbours without a floor at 20 tokens/param: phi 0.5 (below phi 1, which is uba-default in the
# core), phi 2 (``cosine``) and phi 8 either side of phi 4. They decide whether phi 4 stays the long-budget pick,
# so they run before the main job's model; the rest of the grid there (floored, phi 0.1 / 0.25, wsd-linear,
# uba-auto) runs last.
RULE_NEIGHBOURS = ["uba-phi0.5", "cosine", "uba-phi8"]
# The main job's model, where WSD-1sqrt (flat, then a late decay) led: UBA's small phis, which have that shape, then
# the phi grid extended downward while its best sat at the low edge (phi 0.005 and below at 100 updates only: at 400
# the best was inside the grid), then the small phis with the 10% floor. Why each step ran, with the numbers that
# led to it: benchmarks/v2/README.md, "Order and resumability".
MAIN_LOW_PHI = ["uba-phi0.25"]
MAIN_LOWER_PHI = ["uba-phi0.1", "uba-phi0.05", "uba-phi0.025", "uba-phi0.01"]
MAIN_LOWEST_PHI = ["uba-phi0.005", "uba-phi0.0025", "uba-phi0.005-min10"]
MAIN_FLOORED_LOW_PHI = ["uba-phi0.25-min10", "uba-phi0.025-min10", "uba-phi0.01-min10"]
# Seconds per update with one torch thread on this 2-core machine: sweep, the median of v2's first 40
# runs; main job, the mean of v2's first 99 runs with two workers (v1's 0.55 was from an idle machine; see
# benchmarks/v2/README.md). ``--workers 2`` runs two such cells at once.
SECONDS_PER_UPDATE = {"sweep": 0.045, "main-job": 1.15}
RUN_OVERHEAD_S = {"sweep": 3.0, "main-job": 12.0}  # model build + final evaluation per run


def _sweep(**kw: Any) -> SweepConfig:
    lrs = {325: [0.03, 0.06, 0.12, 0.24], 1300: [0.015, 0.03, 0.06, 0.12], 5200: [0.0075, 0.015, 0.03, 0.06]}
    base = dict(train_docs=None, seeds=SEEDS, extend_grid=True, lrs=lrs[325])
    base.update(kw)
    base["lrs_by_budget"] = {b: lrs[b] for b in base["budgets"]}
    return SweepConfig(**base)


def _main(**kw: Any) -> SweepConfig:
    # 400: v1's main-job grid, so v1's cosine-min10 and uba-phi1-min10 runs (same setup) are imported, not rerun.
    # 100: 1e-3 added after two seeds put every schedule's best at 3e-3, the low edge of the first grid.
    lrs = {100: [1e-3, 3e-3, 1e-2, 3e-2, 1e-1], 400: [1e-3, 3e-3, 1e-2, 3e-2]}
    base = dict(budgets=MAIN_BUDGETS, seeds=SEEDS, extend_grid=True)
    base.update(kw)
    base["lrs_by_budget"] = {b: lrs[b] for b in base["budgets"]}
    base["lrs"] = base["lrs_by_budget"][base["budgets"][0]]
    return main_job_config(**base)


@dataclass(frozen=True)
class Setup:
    name: str
    group: str  # "sweep" or "main-job": which model (and report) it belongs to
    why: str

    def config(self) -> SweepConfig:
        return SETUP_CONFIGS[self.name]()

    def results(self, root: Path = V2_DIR) -> Path:
        return root / self.name / "results.jsonl"


SETUP_CONFIGS = {
    "sweep-grid": lambda: _sweep(schedules=GRID, budgets=SWEEP_BUDGETS[:2]),
    "sweep-core": lambda: _sweep(schedules=CORE, budgets=SWEEP_BUDGETS[:2]),
    "sweep-candidates-top": lambda: _sweep(schedules=DEFAULT_CANDIDATES, budgets=SWEEP_BUDGETS[2:]),
    "sweep-core-top": lambda: _sweep(schedules=CORE, budgets=SWEEP_BUDGETS[2:]),
    # RULE_SHORT: the budget rule's pick at the main job's 0.19 / 0.78 tokens/param (v1's runs at 400).
    "sweep-phi-top": lambda: _sweep(schedules=RULE_NEIGHBOURS, budgets=SWEEP_BUDGETS[2:]),
    "main-job-core": lambda: _main(schedules=[DEFAULT_NAME, RULE_SHORT, "linear", "wsd-1sqrt", "cosine-min10"]),
    "main-job-low-phi": lambda: _main(schedules=MAIN_LOW_PHI),
    "main-job-lower-phi": lambda: _main(schedules=MAIN_LOWER_PHI),
    "main-job-lowest-phi": lambda: _main(schedules=MAIN_LOWEST_PHI, budgets=MAIN_BUDGETS[:1]),
    "main-job-floored-low-phi": lambda: _main(schedules=MAIN_FLOORED_LOW_PHI),
    "sweep-grid-top": lambda: _sweep(
        schedules=[n for n in GRID if n not in DEFAULT_CANDIDATES + RULE_NEIGHBOURS], budgets=SWEEP_BUDGETS[2:]
    ),
}
# Priority order (``--v2 all`` runs them in this order, one after the other): all three seeds of the
# cheap budgets (1.3 and 5 tokens/param) first, the grid before the core since it decides the default
# (phi, floor) the verdict is about; then 20 tokens/param (5200 updates, ~4 min a run): the two default
# candidates first (they settle the default there), the core, the picks' neighbours (they settle phi 4 there),
# the main job's model and small phis there, the rest of the grid last.
SETUPS = [
    Setup("sweep-grid", "sweep", "the phi x floor grid, uba-auto, cosine, wsd-linear at 1.3 and 5 tokens/param"),
    Setup("sweep-core", "sweep", "UBA-default vs the strongest baselines at 1.3 and 5 tokens/param"),
    Setup("sweep-candidates-top", "sweep", "the default candidates (phi 1, 10% floor; phi 4) at 20 tokens/param"),
    Setup("sweep-core-top", "sweep", "UBA-default vs the strongest baselines at 20 tokens/param"),
    Setup("sweep-phi-top", "sweep", "the rule's picks' neighbours (phi 0.5, 2, 8, no floor) at 20 tokens/param"),
    Setup("main-job-core", "main-job", "UBA-default, the rule's pick and the strongest baselines, main job's model"),
    Setup("main-job-low-phi", "main-job", "UBA at phi 0.25 (WSD's shape: flat, then a late decay), main job's model"),
    Setup("main-job-lower-phi", "main-job", "UBA at phi 0.1 down to 0.01 (best phi at the low edge), main job's model"),
    Setup(
        "main-job-lowest-phi",
        "main-job",
        "UBA at phi 0.005 and 0.0025 (and 0.005 with the floor) at 100 updates, main job's model",
    ),
    Setup("main-job-floored-low-phi", "main-job", "UBA at phi 0.25, 0.025, 0.01 with the 10% floor, main job's model"),
    Setup("sweep-grid-top", "sweep", "the rest of the phi x floor grid at 20 tokens/param"),
]
SETUP_BY_NAME = {s.name: s for s in SETUPS}
GROUPS = {"sweep": "sweep model (0.66M parameters, all training files)", "main-job": "main job's model (3.1M)"}
# v1 runs of the same setup reused by v2 (identical model, data, optimizer and cell keys).
IMPORTS = {"main-job-core": Path("benchmarks/v1/main_job/budget_sweep.jsonl")}


def group_config(group: str) -> SweepConfig:
    """One config covering every setup of a group (the union of schedules, budgets, grids): the report's."""
    cfgs = [s.config() for s in SETUPS if s.group == group]
    names = list(dict.fromkeys(n for c in cfgs for n in c.schedules))
    budgets = sorted({b for c in cfgs for b in c.budgets})
    lrs_by_budget = {b: g for c in cfgs for b, g in c.lrs_by_budget.items()}
    # A schedule that no setup runs at some budget is not planned there (e.g. main-job-lowest-phi's, at 100 only).
    runs_at = {n: sorted({b for c in cfgs if n in c.schedules for b in c.budgets}) for n in names}
    budgets_by_schedule = {n: bs for n, bs in runs_at.items() if bs != budgets}
    merged = {"schedules": names, "budgets": budgets, "lrs_by_budget": lrs_by_budget}
    return SweepConfig(**{**cfgs[0].__dict__, **merged, "budgets_by_schedule": budgets_by_schedule})


def group_records(group: str, root: Path = V2_DIR) -> list[dict[str, Any]]:
    """Every record of a group's results files (the first setup line and stats line, every run and probe)."""
    from .runner import read_results

    out: list[dict[str, Any]] = []
    for s in SETUPS:
        if s.group != group:
            continue
        for r in read_results(s.results(root)):
            if r.get("kind") in ("setup", "stats") and any(o.get("kind") == r["kind"] for o in out):
                continue
            out.append(r)
    return out


def import_v1_runs(setup: Setup, root: Path = V2_DIR) -> int:
    """Start a setup's results file with the v1 runs of the same setup and cells (marked ``imported_from``).

    The file gets the v2 setup's header (v1's is kept as ``imported_setup``), so the sweep resumes from it."""
    from .runner import _append, planned_cells, read_results

    src = IMPORTS.get(setup.name)
    dst = setup.results(root)
    if src is None or dst.exists() or not src.exists():
        return 0
    cfg = setup.config()
    records = read_results(src)
    header = next(r for r in records if r.get("kind") == "setup")
    if not cfg.same_setup(header["setup"]):  # v1's probe settings aside (uba-auto runs are never imported)
        return 0
    wanted = {json.dumps([spec_key(n, b), b, lr, s]) for n, b, lr, s in planned_cells(cfg) if n not in AUTO_NAMES}
    dst.parent.mkdir(parents=True, exist_ok=True)
    _append(dst, {**header, "setup": cfg.setup_key(), "imported_setup": header["setup"]})
    n = 0
    for r in records:
        if r.get("kind") == "run" and json.dumps([r["spec"], r["budget"], r["lr"], r["seed"]]) in wanted:
            _append(dst, {**r, "imported_from": str(src)})
            n += 1
    return n


def estimate_seconds(setup: Setup, root: Path = V2_DIR) -> tuple[float, float]:
    """(seconds for the whole setup, seconds still to run) at the measured seconds per update."""
    from .runner import planned_cells, read_results
    from .schedules import cell_key

    cfg = setup.config()
    runs = [r for r in read_results(setup.results(root)) if r.get("kind") == "run"]
    done = {cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) for r in runs}
    spu, over = SECONDS_PER_UPDATE[setup.group], RUN_OVERHEAD_S[setup.group]
    total = left = 0.0
    for name, budget, lr, seed in planned_cells(cfg):
        cost = budget * spu + over
        total += cost
        if cell_key(spec_key(name, budget), budget, lr, seed) not in done:
            left += cost
    return total, left


def quick_v2_config(**overrides: Any) -> SweepConfig:
    """The CI check of the v2 harness (not a measurement): v2 baselines incl. schedule-free, UBA (v2's default and
    the zero-config choice through UBATrainer), paired seeds, and an LR grid whose best sits at an edge so the
    extension runs."""
    base = dict(
        schedules=[DEFAULT_NAME, "wsd-1sqrt", SCHEDULE_FREE, ZERO_CONFIG],
        budgets=[10, 20],
        lrs=[1e-4, 3e-4],
        seeds=[0, 1],
        extend_grid=True,
        max_grid_extensions=1,
    )
    base.update(overrides)
    return quick_config(**base)
