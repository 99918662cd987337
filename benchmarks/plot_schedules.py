#!/usr/bin/env python
"""Plot the LR shapes of the budget sweep's schedules (built by `transformers.get_scheduler`).

    python benchmarks/plot_schedules.py [--budget 200] [--auto-phi 1.3] [--out benchmarks/lr_curves.png]

`benchmarks/budget_sweep.py` writes the same figure (with uba-auto's probed phi) next to its tables.
"""

import argparse

from uba_bench import SweepConfig, plot_lr_curves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=None, help="budget in updates (default: the sweep's middle one)")
    parser.add_argument("--auto-phi", type=float, default=None, help="also draw uba-auto with this phi")
    parser.add_argument("--out", default="benchmarks/lr_curves.png")
    args = parser.parse_args()
    plot_lr_curves(SweepConfig(), args.out, budget=args.budget, auto_phi=args.auto_phi)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
