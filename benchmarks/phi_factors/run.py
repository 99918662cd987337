#!/usr/bin/env python
"""What sets the best phi (issue 27): run or resume the study's setups, then write ``report.md``.

nice -n 15 python benchmarks/phi_factors/run.py all --workers 2   # every setup in priority order (resumable)
python benchmarks/phi_factors/run.py all --report-only            # report.md from the results files
python benchmarks/phi_factors/run.py plan                         # CPU-hours of every setup, and what is left
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the engine and this study's package

from uba_bench.cli import command_line, print_plan, quiet_offline, run_setups, unknown_setup  # noqa: E402

from phi_factors.plan import FACTORS_DIR, SETUP_BY_NAME, SETUPS, estimate_seconds  # noqa: E402
from phi_factors.report import write_factors_report  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("setup", help="a setup name, 'all' (every setup in priority order) or 'plan' (CPU-hours)")
    parser.add_argument("--workers", type=int, default=1, help="cells trained at once, one process each")
    parser.add_argument("--report-only", action="store_true", help="only rewrite report.md from the results")
    parser.add_argument("--out-dir", default=None, help=f"results and report (default: {FACTORS_DIR})")
    args = parser.parse_args(argv)
    root = Path(args.out_dir or FACTORS_DIR)
    if args.setup == "plan":
        print_plan(SETUPS, root, estimate_seconds)
        return 0
    if args.setup != "all" and args.setup not in SETUP_BY_NAME:
        return unknown_setup("setup", args.setup, [*SETUP_BY_NAME, "all", "plan"], prog="run.py")
    quiet_offline()
    command = f"`{command_line()}`"
    if not args.report_only:
        chosen = SETUPS if args.setup == "all" else [SETUP_BY_NAME[args.setup]]
        run_setups(chosen, root, args.workers, lambda: write_factors_report(root, command))
    path = write_factors_report(root, command)
    print(f"[phi-factors] wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
