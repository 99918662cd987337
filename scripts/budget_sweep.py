#!/usr/bin/env python
"""Budget sweep: UBA vs the usual schedules at equal budgets. Logic in `uba_hf/bench.py`.

nice -n 15 python scripts/budget_sweep.py            # full sweep -> benchmarks/ (resumable)
python scripts/budget_sweep.py --quick                # harness check -> out/bench-quick/
python scripts/budget_sweep.py --report-only          # regenerate md/png from the JSONL
"""

from uba_hf.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
