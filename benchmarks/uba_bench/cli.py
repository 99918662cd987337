"""``python benchmarks/budget_sweep.py --v2``: benchmark v2's setups (read, planned, re-run) and the engine's check
(``--v2 quick``); and what every study's runner shares: quiet logging, setups run one after the other, the plan."""

from __future__ import annotations

import logging
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from .config import all_schedule_names
from .runner import read_results, run_sweep

logger = logging.getLogger("uba_hf")


def command_line() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv])


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="budget_sweep.py",
        description="Train the same model under several LR schedules, budgets, peak LRs and seeds (benchmark v2, "
        "archived, or the engine's check); resumable (one JSON line per finished run).",
    )
    parser.add_argument(
        "--v2",
        required=True,
        metavar="SETUP",
        help="benchmark v2 (benchmarks/v2/): a setup name, 'all' (every setup in priority order), 'plan' (cost "
        "estimates only) or 'quick' (harness check -> out/bench-v2-quick/)",
    )
    parser.add_argument("--results", default=None, help="--v2 quick: results JSONL (default: <out-dir>/results.jsonl)")
    parser.add_argument(
        "--out-dir",
        default=None,
        help="results and reports (default: benchmarks/v2; --v2 quick: out/bench-v2-quick)",
    )
    quick = "--v2 quick only: "
    parser.add_argument("--schedules", default=None, help=f"{quick}comma list from {all_schedule_names()}")
    parser.add_argument("--budgets", type=_ints, default=None, help=f"{quick}comma list of budgets (updates)")
    parser.add_argument("--lrs", type=_floats, default=None, help=f"{quick}comma list of peak LRs")
    parser.add_argument("--seeds", type=_ints, default=None, help=f"{quick}comma list of seeds")
    parser.add_argument("--threads", type=int, default=None, help=f"{quick}torch threads")
    parser.add_argument(
        "--workers", type=int, default=1, help="cells trained at once, one process each (2 uses both cores here)"
    )
    parser.add_argument("--report-only", action="store_true", help="only regenerate md/png from the results file")
    args = parser.parse_args(argv)
    quiet_offline()
    overrides: dict[str, Any] = {}
    if args.schedules:
        overrides["schedules"] = [s.strip() for s in args.schedules.split(",") if s.strip()]
    for key in ("budgets", "lrs", "seeds", "threads"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    return v2_main(args, overrides)


def quiet_offline() -> None:
    """What a study's command sets first: offline hub and datasets, warnings only, no progress bars."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()


def v2_main(args, overrides: dict[str, Any]) -> int:
    """``--v2 SETUP|all|plan|quick``: run (or resume) v2 setups, then write the v2 report."""
    from .report import plot_gap_vs_tokens, render_v2, write_v2_report
    from .v2 import SETUP_BY_NAME, SETUPS, V2_DIR, estimate_seconds, import_v1_runs, quick_v2_config

    command = f"`{command_line()}`"
    if args.v2 == "quick":
        out = Path(args.out_dir or "out/bench-v2-quick")
        results = Path(args.results or out / "results.jsonl")
        cfg = quick_v2_config(**overrides)
        if not args.report_only:
            counts = run_sweep(cfg, results, workers=args.workers)
            print(f"[budget-sweep] ran {counts['ran']}, skipped {counts['skipped']} of {counts['total']} cells")
        groups = {"quick": ("--v2 quick: harness check, not a measurement", cfg, read_results(results))}
        (out / "report.md").write_text(render_v2(groups, command))
        plot_gap_vs_tokens(groups, out / "gap_vs_tokens.png")
        print(f"[budget-sweep] wrote {out / 'report.md'}, {out / 'gap_vs_tokens.png'}")
        return 0
    root = Path(args.out_dir or V2_DIR)
    if args.v2 == "plan":
        left = print_plan(SETUPS, root, estimate_seconds)
        if args.workers > 1:
            print(f"with --workers {args.workers}: about {left / 3600 / args.workers:.2f} h of wall time left")
        from .v2 import SECONDS_PER_UPDATE, group_records

        for group, spu in SECONDS_PER_UPDATE.items():
            runs = [r for r in group_records(group, root) if r.get("kind") == "run" and "imported_from" not in r]
            if runs:
                measured = statistics.median(r["seconds_per_update"] for r in runs)
                print(f"{group}: estimate at {spu} s/update; measured {measured:.3f} s/update ({len(runs)} runs)")
        return 0
    if args.v2 != "all" and args.v2 not in SETUP_BY_NAME:
        return unknown_setup("--v2", args.v2, [*SETUP_BY_NAME, "all", "plan", "quick"])
    if overrides:
        print(
            "budget_sweep: error: --v2 setups are fixed (see uba_bench/v2.py); drop --schedules/--budgets/--lrs/"
            "--seeds/--threads",
            file=sys.stderr,
        )
        return 2
    if not args.report_only:

        def import_v1(s) -> None:
            if imported := import_v1_runs(s, root):
                print(f"[budget-sweep] {s.name}: imported {imported} v1 runs of the same setup", flush=True)

        chosen = SETUPS if args.v2 == "all" else [SETUP_BY_NAME[args.v2]]
        run_setups(chosen, root, args.workers, lambda: write_v2_report(root, command), before=import_v1)
    paths = write_v2_report(root, command)
    print(f"[budget-sweep] wrote {', '.join(str(p) for p in paths.values())}", flush=True)
    return 0


def run_setups(setups, root: Path, workers: int, write_report, before=None) -> None:
    """Run (or resume) each setup into its own results file, one after the other, and rewrite the report after
    each, so an interrupted run leaves a report of everything finished."""
    for s in setups:
        if before is not None:
            before(s)
        counts = s.run(root, workers) if hasattr(s, "run") else run_sweep(s.config(), s.results(root), workers=workers)
        print(f"[budget-sweep] {s.name}: ran {counts['ran']}, skipped {counts['skipped']}", flush=True)
        write_report()


def unknown_setup(flag: str, value: str, valid: list[str], prog: str = "budget_sweep") -> int:
    """The one-line error for a setup name the command does not know; returns the exit status."""
    print(f"{prog}: error: {flag} {value!r}: use one of {valid}", file=sys.stderr)
    return 2


def print_plan(setups, root: Path, estimate_seconds) -> float:
    """One line per setup: CPU-hours in all and still to run (and its ``why``, where it has one); returns the
    seconds still to run."""
    total = left = 0.0
    width = max(len(s.name) for s in setups)
    for s in setups:
        t, rest = estimate_seconds(s, root)
        total, left = total + t, left + rest
        why = f": {s.why}" if getattr(s, "why", None) else ""
        print(f"{s.name:{width}s} {t / 3600:5.2f} h ({rest / 3600:5.2f} h left){why}")
    print(f"{'all':{width}s} {total / 3600:5.2f} h ({left / 3600:5.2f} h left)  [CPU-hours, one thread per cell]")
    return left
