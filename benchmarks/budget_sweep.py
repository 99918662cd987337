#!/usr/bin/env python
"""The engine's command (logic in `benchmarks/uba_bench/`): benchmark v2, archived, and the engine's check.

python benchmarks/budget_sweep.py --v2 all --report-only            # v2's report from its results (benchmarks/v2/)
python benchmarks/budget_sweep.py --v2 plan                         # v2's setups, their cost and what is left
python benchmarks/budget_sweep.py --v2 quick                        # harness check -> out/bench-v2-quick/
"""

from uba_bench import main

if __name__ == "__main__":
    raise SystemExit(main())
