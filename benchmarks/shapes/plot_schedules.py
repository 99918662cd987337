#!/usr/bin/env python
"""UBA's shapes beside the schedules LLM pretraining uses (cosine, WSD, linear), built by
``transformers.get_scheduler`` (the calls the Trainer makes): the README's figure.

    python benchmarks/shapes/plot_schedules.py     # -> benchmarks/shapes/schedules.png
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the engine, uba_bench

from uba_bench import SweepConfig, plot_lr_curves  # noqa: E402

# UBA at the phis the README discusses (phi 2 is cosine; phi 0.025 with the 10% floor is the main job's recipe).
SCHEDULES = [
    "linear",
    "cosine",
    "wsd-1sqrt",
    "uba-phi0.025",
    "uba-phi0.025-min10",
    "uba-phi0.25",
    "uba-phi1",
    "uba-phi4",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=1000, help="budget in updates")
    parser.add_argument("--out", default="benchmarks/shapes/schedules.png")
    args = parser.parse_args()
    cfg = SweepConfig(schedules=SCHEDULES, budgets=[args.budget], warmup_fraction=0.01)
    title = f"UBA at several phis beside linear, cosine (= phi 2) and WSD, {args.budget} updates"
    plot_lr_curves(cfg, args.out, title=title)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
