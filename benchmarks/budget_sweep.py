#!/usr/bin/env python
"""Budget sweep: UBA vs the usual schedules at equal budgets. Logic in `benchmarks/uba_bench/`.

nice -n 15 python benchmarks/budget_sweep.py            # full sweep -> benchmarks/ (resumable)
python benchmarks/budget_sweep.py --quick                # harness check -> out/bench-quick/
python benchmarks/budget_sweep.py --report-only          # regenerate md/png from the JSONL
"""

from uba_bench import main

if __name__ == "__main__":
    raise SystemExit(main())
