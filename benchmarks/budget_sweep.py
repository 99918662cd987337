#!/usr/bin/env python
"""Budget sweep: UBA vs the usual schedules at equal budgets. Logic in `benchmarks/uba_bench/`.

nice -n 19 python benchmarks/budget_sweep.py --v2 all --workers 2   # benchmark v2 -> benchmarks/v2/ (resumable)
python benchmarks/budget_sweep.py --v2 all --report-only            # regenerate its report from the results
python benchmarks/budget_sweep.py --v2 quick                        # harness check -> out/bench-v2-quick/
nice -n 19 python benchmarks/budget_sweep.py --factors all          # what sets the best phi -> benchmarks/phi_factors/
"""

from uba_bench import main

if __name__ == "__main__":
    raise SystemExit(main())
