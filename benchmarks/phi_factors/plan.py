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

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from uba_bench.config import RETIRED_ZERO_CONFIG, SCHEDULE_FREE, ZERO_CONFIG, SweepConfig, main_job_config, uba_name
from uba_bench.v2 import SEEDS

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
# The fixed setting with the smallest worst case over the regimes measured, judged beside the zero-config choice.
BEST_FIXED = uba_name(0.25, 0.1)
# Where the zero-config choice is judged: it, the best fixed setting, and the four baselines of the targets.
JUDGED_BASELINES = [BEST_FIXED, "linear", "wsd-1sqrt", "cosine-min10", SCHEDULE_FREE]
# The zero-config rules, each judged on regimes held out from its fit: 0.4.0's development rule (updates per
# non-embedding parameter; its runs are RETIRED_ZERO_CONFIG's), the LR-area rule that replaced it
# (``uba_hf.zero_config``: the current rule, its floor 0 from an area of 60), and a candidate tried after it and
# rejected on its held-out regimes: the same rule with the floor kept below 1 training token per non-embedding
# parameter. Both LR-area rules ran as ZERO_CONFIG through UBATrainer (each run records its pick).
RHO_RULE = "updates per parameter"
AREA_RULE = "LR area"
AREA_TPP_RULE = "LR area, floor by tokens per parameter (rejected)"
CURRENT_RULE = AREA_RULE
ZERO_CONFIG_OF_RULE = {RHO_RULE: RETIRED_ZERO_CONFIG, AREA_RULE: ZERO_CONFIG, AREA_TPP_RULE: ZERO_CONFIG}
# The regimes each rule had not seen when it was fixed (``Regime.held_out_for`` is the rule a regime was added to
# judge; the LR-area rule, unchanged since, had not seen those added for the candidate after it either).
UNSEEN_BY = {RHO_RULE: {RHO_RULE}, AREA_RULE: {AREA_RULE, AREA_TPP_RULE}, AREA_TPP_RULE: {AREA_TPP_RULE}}
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
    ("shape", 8): 0.11,
    ("shape", 32): 0.35,
    ("shape", 4): 0.11,
    ("shape", 2): 0.05,
}
RUN_OVERHEAD_S = {"sweep": 3.0, "main-job": 12.0, "shape": 4.0}

# Regimes the zero-config rule (``uba_hf.zero_config``) was not fitted on, each one factor away from the sweep
# model's v2 anchor (325 updates of 8 x 64 tokens):
# * another corpus: Vim's reference manual (``/usr/share/vim/vim90/doc/*.txt``, Debian's ``vim-runtime``; English
#   prose about an editor, where the embedded corpus is Python source), one document per file;
# * another model shape: 4 layers of width 96 (0.59M non-embedding parameters, 4.5x the sweep model's).
PROSE_CORPUS = "/usr/share/vim/vim90/doc"
SHAPE_4X96 = dict(
    hidden_size=96, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4, intermediate_size=384
)


def _regime_config(
    model: str,
    batch_size: int,
    budget: int,
    lrs: list[float],
    schedules: list[str],
    dataset: str | None = None,
) -> SweepConfig:
    """v2's model and data (the sweep model on all training files, or the main job's), at one budget; ``shape``
    is the sweep model's setup at 4 layers x 96; ``dataset`` another corpus than the embedded one."""
    make, data = (main_job_config, {}) if model == "main-job" else (SweepConfig, {"train_docs": None})
    if model == "shape":
        data["model_overrides"] = dict(SHAPE_4X96)
    if dataset is not None:
        data["dataset_name"] = dataset
    return make(
        schedules=schedules,
        budgets=[budget],
        lrs=lrs,
        lrs_by_budget={budget: lrs},
        seeds=SEEDS,
        batch_size=batch_size,
        extend_grid=True,
        **data,
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
    dataset: str | None = None  # another corpus than the embedded one
    # The zero-config rule this regime was held out to judge (RHO_RULE or AREA_RULE); None: fitted on.
    held_out_for: str | None = None
    # Each schedule's LR grid runs on the first seed only; the other seeds run at that seed's best LR (a third of
    # the runs). Else every LR runs on every seed.
    tune_on_first_seed: bool = False
    # Runs the judged schedules only (no phi grid of its own).
    judged_only: bool = False

    # A step from the shape model toward the main job's model: SweepConfig fields and model overrides it changes.
    # Such a regime asks which difference gives the main job's model its low peak LR and late decay; it runs a phi
    # grid, and stays out of the zero-config judgement unless it was held out for a rule.
    changes: tuple[tuple[str, Any], ...] = ()
    model_changes: tuple[tuple[str, Any], ...] = ()

    @property
    def bridge(self) -> bool:
        return bool(self.changes or self.model_changes)

    @property
    def fitted(self) -> bool:
        """Whether the current zero-config rule (``uba_hf.zero_config``) was fitted on this regime: every regime
        measured before it was fixed, those held out for an earlier rule included."""
        return self.held_out_for not in UNSEEN_BY[CURRENT_RULE]

    def config(self, schedules: list[str]) -> SweepConfig:
        cfg = _regime_config(self.model, self.batch_size, self.budget, list(self.lrs), schedules, self.dataset)
        if self.model_changes:
            cfg = replace(cfg, model_overrides={**cfg.model_overrides, **dict(self.model_changes)})
        return replace(cfg, **dict(self.changes)) if self.changes else cfg


def _unseen(suffix: str, batch: int, budget: int, lrs: tuple, shape_lrs: tuple | None = None) -> list[Regime]:
    """Another corpus and another shape at one of the sweep model's batches: regimes the zero-config rule is judged on
    (never fitted on), their LR tuned on the first seed."""
    judged = dict(held_out_for=RHO_RULE, tune_on_first_seed=True)
    return [
        Regime(f"prose-{suffix}", "sweep", batch, budget, lrs, "corpus", dataset=PROSE_CORPUS, **judged),
        Regime(f"shape-{suffix}", "shape", batch, budget, shape_lrs or lrs, "shape", **judged),
    ]


# Sweep model: v2's 325 updates x 512 tokens (166,400 tokens, 1.3 tokens/param); main job's model: v2's 100 updates
# x 2,048 tokens (204,800 tokens, 0.19 tokens/param). The LR grids follow the batch (square-root rule, roughly).
REGIMES = [
    Regime("sweep-b32", "sweep", 32, 81, (0.06, 0.12, 0.24, 0.48), "batch x4"),
    Regime("sweep-b2", "sweep", 2, 1300, (0.015, 0.03, 0.06, 0.12), "batch /4"),
    Regime("sweep-b8", "sweep", 8, 325, (0.03, 0.06, 0.12, 0.24), "anchor", anchor=True),
    # Seed 0 of phi 0.025, 0.25 and 1 without a floor had run when the zero-config rule was fixed; nothing else had.
    Regime(
        "main-b4", "main-job", 4, 400, (1e-3, 3e-3, 1e-2), "batch /4", held_out_for=RHO_RULE, tune_on_first_seed=True
    ),
    Regime("main-b64", "main-job", 64, 25, (3e-3, 1e-2, 3e-2), "batch x4"),
    *_unseen("b8", 8, 325, (0.03, 0.06, 0.12, 0.24), shape_lrs=(0.015, 0.03, 0.06, 0.12)),
    # The same two changes at 4x the batch (sweep-b32's 81 updates of 2,048 tokens), where the rule picks a late
    # decay for both; added once prose-b8 and shape-b8 had run (the rule unchanged).
    *_unseen("b32", 32, 81, (0.06, 0.12, 0.24, 0.48)),
]
# The main job's model wanted a late decay at every batch, at a best peak LR 40x lower than the shape model's (0.003
# against 0.12), though the two differ in three things only: width (128 against 96), vocabulary (8,192 against 4,096)
# and block (128 tokens against 64). Each bridge regime is shape-b8 with one of them changed (the block at the same
# 512 tokens per update), and runs a late, a middle and two early decays over a wide LR grid.
BRIDGE_LRS = (0.003, 0.01, 0.03, 0.1)
# The main job's model's width (and its MLP), as a change to the 4 x 96 shape.
WIDTH_128 = (("hidden_size", 128), ("intermediate_size", 512))
# The LR-area rule was fixed from every regime above and shape-b8-vocab8k, before any run of the block and width
# bridges' phi grids was complete (the block's first 6 runs on seed 0 had landed) and before any of their judged runs;
# they, and prose at a quarter of the batch (1,300 updates, an LR area around the rule's floor threshold), judge it.
_bridge = dict(tune_on_first_seed=True)
_area_unseen = dict(held_out_for=AREA_RULE, tune_on_first_seed=True)
REGIMES += [
    Regime("shape-b8-vocab8k", "shape", 8, 325, BRIDGE_LRS, "vocab 8192", changes=(("vocab_size", 8192),), **_bridge),
    Regime(
        "shape-b4-block128", "shape", 4, 325, BRIDGE_LRS, "block 128", changes=(("block_size", 128),), **_area_unseen
    ),
    Regime(
        "shape-b8-width128",
        "shape",
        8,
        325,
        BRIDGE_LRS,
        "width 128",
        model_changes=WIDTH_128,
        **_area_unseen,
    ),
    Regime("prose-b2", "sweep", 2, 1300, (0.015, 0.03, 0.06, 0.12), "corpus", dataset=PROSE_CORPUS, **_area_unseen),
    # Added once those three had run (the rule unchanged): the 4 x 96 shape at a quarter of the batch (1,300 updates,
    # where the rule's floor may switch off), and the width-128 bridge at 4x the batch (81 updates).
    Regime("shape-b2", "shape", 2, 1300, (0.015, 0.03, 0.06, 0.12), "batch /4", **_area_unseen),
    Regime(
        "shape-b32-width128",
        "shape",
        32,
        81,
        (0.01, 0.03, 0.1, 0.3),
        "width 128, batch x4",
        model_changes=WIDTH_128,
        **_area_unseen,
    ),
]
# The LR-area rule missed shape-b2 (+0.118, phi 1 decayed to zero at an area of 78, where the floor kept would have
# been +0.058), while at the same area the floor cost sweep 5200 0.05. The candidate AREA_TPP_RULE kept the floor below
# 1 token per non-embedding parameter (shape-b2: 0.28; sweep 5200: 20). It was fixed (and ran in UBATrainer) before
# any run of these two, which judged it, each one step from a regime measured: prose at v2's 1,300 updates of 8 x 64
# tokens (5.1 tokens per parameter; the corpus changed), and shape-b2 at width 128 (0.16; the width changed). In the
# second the floor it kept lost (phi 1 at 0.06: +0.024 with the floor, seeds mixed), and the candidate was rejected.
_tpp_unseen = dict(held_out_for=AREA_TPP_RULE, tune_on_first_seed=True)
REGIMES += [
    Regime("prose-u1300", "sweep", 8, 1300, (0.015, 0.03, 0.06, 0.12), "corpus", dataset=PROSE_CORPUS, **_tpp_unseen),
    Regime(
        "shape-b2-width128",
        "shape",
        2,
        1300,
        (0.015, 0.03, 0.06, 0.12),
        "width 128",
        model_changes=WIDTH_128,
        **_tpp_unseen,
    ),
]
# After the candidate was rejected, two regimes the LR-area rule (unchanged) had not seen, added to judge it afresh:
# shape-b8-vocab8k (the 4 x 96 shape with the main job's vocabulary: two LR basins) at 4x and a quarter of the batch
# at equal tokens. They run the judged schedules only.
_area_fresh = dict(held_out_for=AREA_RULE, tune_on_first_seed=True, judged_only=True)
REGIMES += [
    Regime(
        f"shape-b{b}-vocab8k",
        "shape",
        b,
        n,
        BRIDGE_LRS,
        f"vocab 8192, batch {f}",
        changes=(("vocab_size", 8192),),
        **_area_fresh,
    )
    for b, n, f in ((32, 81, "x4"), (2, 1300, "/4"))
]
MAIN_HIGH_LR_GRID = [uba_name(0.025, 0.1), uba_name(1.0, 0.1), "cosine-min10", *OTHER_BASELINES]
BRIDGE_GRID = [uba_name(0.01, 0.1), uba_name(0.25, 0.1), uba_name(1.0, 0.1), "cosine-min10"]
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
    # Another LR grid than the regime's (its runs join the regime's in the report).
    lrs: tuple[float, ...] = ()

    def config(self) -> SweepConfig:
        cfg = self.regime.config(list(self.schedules))
        if not self.lrs:
            return cfg
        return replace(cfg, lrs=list(self.lrs), lrs_by_budget={self.regime.budget: list(self.lrs)})

    def results(self, root: Path = FACTORS_DIR) -> Path:
        return root / self.name / "results.jsonl"

    def run(self, root: Path = FACTORS_DIR, workers: int = 1) -> dict[str, int]:
        """Run (or resume) the setup; ``tune_on_first_seed``: every LR on the first seed, then the other seeds at
        each schedule's best LR there (its grid extended first while that best sits at an edge)."""
        from uba_bench.runner import read_results, run_sweep

        cfg = self.config()
        if not self.regime.tune_on_first_seed:
            return run_sweep(cfg, self.results(root), workers=workers)
        first = run_sweep(replace(cfg, seeds=cfg.seeds[:1]), self.results(root), workers=workers)
        records = read_results(self.results(root))
        cells = [
            (name, self.regime.budget, first_seed_best_lr(cfg, name, records), seed)
            for seed in cfg.seeds[1:]
            for name in cfg.schedules
        ]
        rest = run_sweep(replace(cfg, extend_grid=False), self.results(root), workers=workers, cells=cells)
        return {k: first[k] + rest[k] for k in ("ran", "skipped", "total")}


def first_seed_best_lr(cfg: SweepConfig, name: str, records: list[dict[str, Any]]) -> float:
    """The LR with the lowest loss on ``cfg``'s first seed, over every LR that seed ran for ``name``."""
    from uba_bench.schedules import spec_key

    budget = cfg.budgets[0]
    spec, seed = spec_key(name, budget), cfg.seeds[0]
    runs = {
        float(r["lr"]): r["eval_loss"]
        for r in records
        if r.get("kind") == "run" and r["spec"] == spec and r["budget"] == budget and r["seed"] == seed
    }
    if not runs:
        raise ValueError(f"{name}: no run on seed {seed} to pick its LR from.")
    return min(runs, key=runs.get)


# The phi grid of a regime the rule is judged on: a late, a middle (the best fixed setting, in JUDGED) and an early
# decay, to say where the best phi was.
UNSEEN_PHI_GRID = [uba_name(0.01, 0.1), uba_name(1.0, 0.1), uba_name(4.0)]


# The phi grid of a regime held out for the current rule: phi 1 with and without the floor, the two sides of the
# floor's tokens-per-parameter gate at a large LR area.
GATE_GRID = [uba_name(1.0), uba_name(1.0, 0.1)]


def judged_names(r: Regime) -> list[str]:
    """What a held-out regime runs to judge its rule: the rule's own choice through UBATrainer and the baselines."""
    return [ZERO_CONFIG_OF_RULE[r.held_out_for], *JUDGED_BASELINES]


def _setups() -> list[FactorSetup]:
    def grid(r: Regime) -> list[str]:
        if r.judged_only:
            return []
        if r.held_out_for == AREA_TPP_RULE:
            return GATE_GRID
        if r.bridge:
            return BRIDGE_GRID
        if r.held_out_for and r.model != "main-job":
            return UNSEEN_PHI_GRID
        return ANCHOR_MISSING if r.anchor else (PHI_GRID if r.model == "sweep" else MAIN_PHI_GRID)

    # The judged comparison of the unseen regimes first (the cheap ones first), then the phi question.
    unseen = sorted((r for r in REGIMES if r.held_out_for), key=lambda r: r.model == "main-job")
    judged = [FactorSetup(f"{r.name}-judge", r, tuple(n for n in judged_names(r) if n not in grid(r))) for r in unseen]
    phi = [FactorSetup(f"{r.name}-phi", r, tuple(grid(r))) for r in REGIMES if grid(r)]
    first = [f for f in phi if f.regime.name == "main-b4" or f.regime.held_out_for or f.regime.bridge]
    phi = [*first, *(f for f in phi if f not in first)]
    # A phi grid whose best sits at its edge is extended outward (as v2 did), right after it.
    for name, extra in PHI_EXTENSIONS.items():
        i = next(k for k, f in enumerate(phi) if f.regime.name == name)
        phi.insert(i + 1, FactorSetup(f"{name}-phi-ext", REGIME_BY_NAME[name], tuple(extra)))
    # The bridge regimes found two LR basins (a bad LR between them) where shape-b8 had one: main-b4's grid stopped
    # at 0.01, so its high basin is looked for with a late decay, an early one, cosine-min10 and the other baselines
    # (each schedule's grid extended alike).
    other_lrs = [FactorSetup("main-b4-highlr", REGIME_BY_NAME["main-b4"], tuple(MAIN_HIGH_LR_GRID), lrs=(0.03, 0.1))]
    # shape-b32-width128: schedule-free's grid, extended at its low edge, found a low-LR basin (0.0032) that the other
    # judged schedules' grids (best at 0.3, inside) never reached; they run there too, so that every judged schedule
    # is tuned over the same LRs.
    width_b32 = REGIME_BY_NAME["shape-b32-width128"]
    low = FactorSetup(
        "shape-b32-width128-lowlr", width_b32, (ZERO_CONFIG, "linear", "wsd-1sqrt"), lrs=(0.00104, 0.00322)
    )
    other_lrs.append(low)
    # There the zero-config pick (phi 0.01 with the floor) trailed schedule-free by 0.058 on every seed: whether any
    # phi reaches it in that basin, a later decay (phi 0.0025) and two earlier ones, each with the floor.
    low_phi = (uba_name(0.0025, 0.1), uba_name(0.25, 0.1), uba_name(1.0, 0.1))
    other_lrs.append(FactorSetup("shape-b32-width128-lowlr-phi", width_b32, low_phi, lrs=(0.00104, 0.00322)))
    phi = [*phi[: len(first)], *other_lrs, *phi[len(first) :]]
    base = [
        FactorSetup(f"{r.name}-base", r, tuple(OTHER_BASELINES))
        for r in REGIMES
        if not r.anchor and not r.held_out_for and not r.bridge
    ]
    return judged + phi + base


SETUPS = _setups()
SETUP_BY_NAME = {s.name: s for s in SETUPS}


def estimate_seconds(setup: FactorSetup, root: Path = FACTORS_DIR) -> tuple[float, float]:
    """(CPU-seconds for the whole setup, CPU-seconds still to run), grid extensions not counted."""
    from uba_bench.runner import planned_cells, read_results
    from uba_bench.schedules import cell_key, spec_key

    cfg = setup.config()
    done = {
        cell_key(r["spec"], r["budget"], r["lr"], r["seed"])
        for r in read_results(setup.results(root))
        if r.get("kind") == "run"
    }
    spu = SECONDS_PER_UPDATE[(setup.regime.model, setup.regime.batch_size)]
    total = left = 0.0
    cells = planned_cells(cfg)
    if setup.regime.tune_on_first_seed:  # the grid on the first seed; one LR per schedule on the others
        first = cfg.seeds[0]
        cells = [c for c in cells if c[3] == first] + [
            (n, b, lr, s) for n, b, lr, s in cells if s != first and lr == cfg.lrs_for(n, b)[len(cfg.lrs) // 2]
        ]
    for name, budget, lr, seed in cells:
        cost = budget * spu + RUN_OVERHEAD_S[setup.regime.model]
        total += cost
        left += 0.0 if cell_key(spec_key(name, budget), budget, lr, seed) in done else cost
    return total, left


def anchor_records(regime: Regime, v2_root: Path = Path("benchmarks/v2")) -> list[dict[str, Any]]:
    """v2's runs of an anchor regime (same setup key, same budget), for the report."""
    from uba_bench.runner import read_results
    from uba_bench.v2 import SETUPS as V2_SETUPS

    key = regime.config(PHI_GRID).setup_key()
    out: list[dict[str, Any]] = []
    for s in V2_SETUPS:
        if s.config().setup_key() != key:
            continue
        out += [r for r in read_results(s.results(v2_root)) if r.get("kind") == "run" and r["budget"] == regime.budget]
    return out


def regime_config(regime: Regime) -> SweepConfig:
    """The report's view of a regime: every schedule run there (the anchors' from v2 included)."""
    names = [
        *PHI_GRID,
        *OTHER_BASELINES,
        *JUDGED_BASELINES,
        *(n for s in SETUPS if s.regime == regime for n in s.schedules),
    ]
    return regime.config(list(dict.fromkeys(names)))
