"""What a sweep is: schedule names, :class:`SweepConfig` and its presets (full, quick, main job)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

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
# phi from a curvature probe of the initial model, without and with the 10% floor: retired arms (v1 and v2 ran them;
# their runs stay in the results files and reports, nothing runs them).
AUTO_NAMES = (AUTO, AUTO + FLOOR_SUFFIX)
# UBA as a user gets it with nothing given: ``UBATrainer`` without phi or floor picks both from the run's peak LR
# times its updates (``uba_hf.zero_config``, the LR-area rule).
ZERO_CONFIG = "uba-zero-area"
# The same under 0.4.0's development rule (updates per non-embedding parameter), replaced by the LR-area rule before
# a release: a retired arm (its results stay in their files and are reported; nothing runs it).
RETIRED_ZERO_CONFIG = "uba-zero"
ZERO_CONFIG_NAMES = (ZERO_CONFIG, RETIRED_ZERO_CONFIG)
# The package default when benchmark v2 ran (``uba-default``'s phi; its floor was 0). Pinned here so that v2's
# results keep their meaning when the package default changes.
V2_DEFAULT_PHI = 1.0
SCHEMA = 1
# Setup fields added after v1: part of a setup's identity only when not at these defaults.
ADDED_AFTER_V1 = {"dataset_name": None}
# Setup fields of results files written while the uba-auto arms ran: they set only those arms' curvature probe, and
# are ignored when a file's setup is compared with a sweep's (``same_setup``).
RETIRED_SETUP_FIELDS = (
    "auto_with_uba_trainer",
    "probe_batches",
    "probe_batch_size",
    "probe_lanczos_steps",
    "probe_num_probes",
    "probe_seed",
)

# Benchmark v2 (issue 15): the schedules LLM practitioners use today, each a stock Transformers schedule or
# optimizer. ``linear`` decays to 0 (Bergsma et al. 2025, "Straight to Zero"); ``wsd-1sqrt`` is
# warmup-stable-decay with a 1-sqrt cooldown over 20% of the budget, to 0 (Hägele et al. 2024);
# ``schedule-free`` is ``optim="schedule_free_adamw"`` with a constant schedule, evaluated at its averaged
# weights (Defazio et al. 2024). ``cosine`` is UBA at phi = 2; ``cosine-min10`` UBA at phi = 2 with a 10% floor.
SCHEDULE_FREE = "schedule-free"
BASELINES_V2 = ("linear", "wsd-1sqrt", "wsd-linear", "cosine-min10", "cosine", SCHEDULE_FREE)
# phi 4 and 8 extend the grid upward: on seed 0 the best phi sat at 2, the grid's upper edge; then,
# on 3 seeds, phi 4 was best of all schedules at 1300 updates, at the new edge.
PHIS_V2 = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
FLOORS_V2 = (0.0, COSINE_MIN_LR_RATE)


def uba_name(phi: float, floor: float = 0.0) -> str:
    return f"uba-phi{phi:g}{FLOOR_SUFFIX if floor else ''}"


def v2_schedule_names() -> list[str]:
    """Every schedule of benchmark v2: UBA at the default, the baselines, the phi x floor grid, ``uba-auto``."""
    grid = [uba_name(p, f) for f in FLOORS_V2 for p in PHIS_V2]
    return [DEFAULT_NAME, *BASELINES_V2, *grid, AUTO]


def valid_schedule_names() -> list[str]:
    """v1 and v2 names (a sweep may use any of them)."""
    return list(dict.fromkeys([*all_schedule_names(), *v2_schedule_names(), *AUTO_NAMES, *ZERO_CONFIG_NAMES]))


def _is_fixed_phi(name: str) -> bool:
    try:
        parsed = parse_uba_name(name)
    except ValueError:
        return False
    return parsed is not None and parsed[0] > 0 and name == uba_name(*parsed)


def is_baseline(name: str) -> bool:
    """A schedule that is not UBA (v1's ``wsd``/``constant`` included)."""
    return not name.startswith("uba")


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
    # Data: a fixed subset of the embedded corpus (stdlib sources), split by file; or, with ``dataset_name``, a
    # local text corpus (a folder of .txt files: one document per file).
    dataset_name: str | None = None
    block_size: int = 64
    batch_size: int = 8
    vocab_size: int = 4096
    train_docs: int | None = 400  # None: the whole train split
    validation_docs: int | None = None  # None: the whole validation split
    eval_blocks: int = 128
    weight_decay: float = 0.1
    max_grad_norm: float = 1.0
    adam_beta2: float = 0.95
    # One thread: on a shared 2-core machine two threads stall on each other when a core is taken away.
    threads: int | None = 1
    # v2: per-budget LR grids replacing ``lrs`` at that budget (the best LR falls as the budget grows), and
    # per-schedule grids replacing both for that schedule.
    lrs_by_budget: dict[int, list[float]] = field(default_factory=dict)
    lr_overrides: dict[str, list[float]] = field(default_factory=dict)
    # v2: schedules run at only some of ``budgets`` (``v2.group_config`` merges a model's setups for its
    # report, and one setup may run its schedules at fewer budgets than the others).
    budgets_by_schedule: dict[str, list[int]] = field(default_factory=dict)
    # v2: when a schedule's best LR sits at an edge of its grid, run the next point outward (factor
    # ``grid_ratio``) for every seed, until the best is inside (at most ``max_grid_extensions`` points).
    extend_grid: bool = False
    max_grid_extensions: int = 3

    def __post_init__(self) -> None:
        # Any fixed phi is allowed (the v2 phi grid is extended downward when its best phi sits at the edge).
        unknown = sorted(n for n in set(self.schedules) - set(valid_schedule_names()) if not _is_fixed_phi(n))
        if unknown:
            raise ValueError(f"Unknown schedule name(s) {unknown}; valid: {valid_schedule_names()}.")
        for field_name in ("lr_overrides", "budgets_by_schedule"):
            unknown = sorted(set(getattr(self, field_name)) - set(self.schedules))
            if unknown:
                raise ValueError(f"`{field_name}` names schedule(s) {unknown} that the sweep does not run.")
        for name, budgets in self.budgets_by_schedule.items():
            if not budgets or not set(budgets) <= set(self.budgets):
                raise ValueError(
                    f"`budgets_by_schedule[{name!r}]` must be a non-empty subset of `budgets` {self.budgets}; "
                    f"got {budgets}."
                )
        if not self.budgets or not self.lrs or not self.seeds or not self.schedules:
            raise ValueError("A sweep needs at least one schedule, budget, LR and seed.")
        if any(int(b) < 10 for b in self.budgets):
            raise ValueError(f"Budgets must be >= 10 updates; got {self.budgets}.")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"`warmup_fraction` must be in [0, 1); got {self.warmup_fraction}.")

    def setup_key(self) -> dict[str, Any]:
        """The fields every run of the sweep shares; a results file must not mix two setups."""
        d = asdict(self)
        grids = ("lr_overrides", "lrs_by_budget", "budgets_by_schedule", "extend_grid")
        for k in ("schedules", "budgets", "lrs", "seeds", "threads", *grids):
            d.pop(k)
        d.pop("max_grid_extensions")
        for key, default in ADDED_AFTER_V1.items():  # so that v1 results files stay resumable
            if d[key] == default:
                d.pop(key)
        return d

    def same_setup(self, setup: dict[str, Any]) -> bool:
        """Whether a results file's ``setup`` (its header line) is this sweep's, retired fields aside."""
        return {k: v for k, v in setup.items() if k not in RETIRED_SETUP_FIELDS} == self.setup_key()

    def schedules_at(self, budget: int) -> list[str]:
        """The schedules run at one budget: all of ``schedules`` but those ``budgets_by_schedule`` limits."""
        return [n for n in self.schedules if int(budget) in self.budgets_by_schedule.get(n, self.budgets)]

    def lrs_for(self, name: str, budget: int) -> list[float]:
        """The configured LR grid of one schedule at one budget (before any edge extension)."""
        grid = self.lr_overrides.get(name, self.lrs_by_budget.get(int(budget), self.lrs))
        return sorted(float(x) for x in grid)


def quick_config(**overrides: Any) -> SweepConfig:
    """A handful of tiny cells (well under a minute on a laptop CPU): proves the harness, measures nothing."""
    base = dict(
        schedules=[DEFAULT_NAME, "uba-phi1", "uba-phi2", "cosine", "wsd"],
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
    )
    base.update(overrides)
    return SweepConfig(**base)


def main_job_config(**overrides: Any) -> SweepConfig:
    """The main job's model and data (``recipes/pretrain/tiny.yaml``: the ``tiny`` preset at full width,
    about 3M parameters, 16 x 128-token blocks per update, 400 updates) for the schedules that matter
    after the full sweep (v1's main-job setup): the best baseline and UBA with the same floor, fixed and probed
    phi (``uba-auto-min10``, retired: a sweep of this setup names its schedules).
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
