"""The budget-sweep harness (outside the installed package).

Does UBA reach a lower loss than the usual schedules at the same update budget?

Trains the same small OLMo-2 on the same blocks of the embedded corpus under every schedule, budget,
peak LR and seed of a :class:`SweepConfig`, with Transformers' **stock** ``Trainer`` and the
schedules selected the way users select them (``lr_scheduler_type`` + ``lr_scheduler_kwargs``; UBA is
``"uba"``, registered by ``import uba_hf``). Every finished run appends one JSON line to a results
file; a rerun skips the cells already there, so an interrupted sweep resumes where it stopped.

Cells are keyed by what actually runs (scheduler type and kwargs, budget, LR, seed), so two schedule
*names* that resolve to the same schedule (``uba-default``, pinned at phi 1, and ``uba-phi1``)
share their runs and both appear in the report. ``uba-auto`` (phi from a curvature probe of the initial model)
and ``uba-zero`` (0.4.0's development rule) are retired arms: their runs are read and reported, nothing runs them.

Benchmark v2 (issue 15: the strongest LLM schedules across tokens per parameter) is
``python benchmarks/budget_sweep.py --v2 SETUP|all|plan|quick``: its plan is :mod:`uba_bench.v2`, its report
:mod:`uba_bench.report` (with one page per model, :mod:`uba_bench.model_page`); ``--v2 quick`` runs a handful
of tiny cells to prove the harness works. Each study has its folder under ``benchmarks/`` (``benchmarks/README.md``).
Benchmark v1's results are a read-only archive in ``benchmarks/v1/`` (:class:`SweepConfig`'s defaults and
:func:`main_job_config` are its setups, kept so that v2 can import and extend them).
"""

from .cli import command_line, main
from .config import (
    AUTO,
    AUTO_NAMES,
    BASELINES,
    BASELINES_V2,
    COSINE_MIN_LR_RATE,
    DEFAULT_NAME,
    FIXED_PHIS,
    FLOOR_SUFFIX,
    FLOORED_PHIS,
    SCHEDULE_FREE,
    SCHEMA,
    WSD_DECAY_FRACTION,
    SweepConfig,
    all_schedule_names,
    is_baseline,
    main_job_config,
    parse_uba_name,
    quick_config,
    uba_name,
    v2_schedule_names,
)
from .grid import edge_of, grid_extensions, lr_grid, planned_cells
from .model_page import render_model_page
from .plots import plot_budget_sweep, plot_lr_curves
from .report import compare_to_baselines, plot_gap_vs_tokens, render_v2, write_v2_report
from .runner import (
    SweepData,
    environment,
    make_model,
    model_stats,
    prepare_data,
    read_results,
    run_sweep,
    train_cell,
    training_arguments,
)
from .schedules import cell_key, lr_sample_steps, schedule_spec, scheduler_lrs, spec_key, warmup_steps
from .summary import Best, summarize

__all__ = [
    "AUTO",
    "AUTO_NAMES",
    "BASELINES",
    "BASELINES_V2",
    "SCHEDULE_FREE",
    "compare_to_baselines",
    "edge_of",
    "grid_extensions",
    "is_baseline",
    "lr_grid",
    "model_stats",
    "plot_gap_vs_tokens",
    "render_v2",
    "training_arguments",
    "uba_name",
    "v2_schedule_names",
    "write_v2_report",
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
    "quick_config",
    "read_results",
    "render_model_page",
    "run_sweep",
    "schedule_spec",
    "scheduler_lrs",
    "spec_key",
    "summarize",
    "train_cell",
    "warmup_steps",
]
