"""The budget-sweep harness (outside the installed package).

Does UBA reach a lower loss than the usual schedules at the same update budget?

Trains the same small OLMo-2 on the same blocks of the embedded corpus under every schedule, budget,
peak LR and seed of a :class:`SweepConfig`, with Transformers' **stock** ``Trainer`` and the
schedules selected the way users select them (``lr_scheduler_type`` + ``lr_scheduler_kwargs``; UBA is
``"uba"``, registered by ``import uba_hf``). Every finished run appends one JSON line to a results
file; a rerun skips the cells already there, so an interrupted sweep resumes where it stopped.

Cells are keyed by what actually runs (scheduler type and kwargs, budget, LR, seed), so two schedule
*names* that resolve to the same schedule (``uba-default`` and ``uba-phi1`` while
``DEFAULT_PHI == 1``) share their runs and both appear in the report. ``uba-auto`` picks phi per
seed with :func:`uba_hf.phi.probe_phi` (a curvature probe of the *initial* model, fixed
probe settings, fixed batches); the probe is stored once per seed as a ``"kind": "probe"`` line.

``python benchmarks/budget_sweep.py`` runs the default sweep and writes ``benchmarks/``;
``--quick`` runs a handful of tiny cells (seconds) to prove the harness works.
"""

from .cli import command_line, main, write_outputs
from .config import (
    AUTO,
    AUTO_NAMES,
    BASELINES,
    COSINE_MIN_LR_RATE,
    DEFAULT_NAME,
    FIXED_PHIS,
    FLOOR_SUFFIX,
    FLOORED_PHIS,
    SCHEMA,
    WSD_DECAY_FRACTION,
    SweepConfig,
    all_schedule_names,
    main_job_config,
    parse_uba_name,
    quick_config,
)
from .plots import plot_budget_sweep, plot_lr_curves
from .report import Best, render_markdown, summarize
from .runner import (
    SweepData,
    environment,
    make_model,
    planned_cells,
    prepare_data,
    probe_seed_phi,
    read_results,
    run_sweep,
    train_cell,
)
from .schedules import cell_key, lr_sample_steps, schedule_spec, scheduler_lrs, spec_key, warmup_steps

__all__ = [
    "AUTO",
    "AUTO_NAMES",
    "BASELINES",
    "Best",
    "COSINE_MIN_LR_RATE",
    "DEFAULT_NAME",
    "FIXED_PHIS",
    "FLOORED_PHIS",
    "FLOOR_SUFFIX",
    "SCHEMA",
    "SweepConfig",
    "SweepData",
    "WSD_DECAY_FRACTION",
    "all_schedule_names",
    "cell_key",
    "command_line",
    "environment",
    "lr_sample_steps",
    "main",
    "main_job_config",
    "make_model",
    "parse_uba_name",
    "planned_cells",
    "plot_budget_sweep",
    "plot_lr_curves",
    "prepare_data",
    "probe_seed_phi",
    "quick_config",
    "read_results",
    "render_markdown",
    "run_sweep",
    "schedule_spec",
    "scheduler_lrs",
    "spec_key",
    "summarize",
    "train_cell",
    "warmup_steps",
    "write_outputs",
]
