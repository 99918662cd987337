#!/usr/bin/env bash
# The chaos runs of benchmarks/reliability/README.md, one at a time, niced (a shared 2-core machine).
# Results: benchmarks/reliability/results/*.json (summary + every attempt); logs under /tmp/uba_chaos.
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
R=benchmarks/reliability/results
run() { echo "== $*"; /usr/bin/time -f "wall %e s" nice -n 15 python benchmarks/reliability/chaos.py "$@"; }
run --path pretrain --mode kill --seed 1 --events 25 --max_steps 240 --save_steps 5 --results $R/kill_pretrain.json
run --path accelerate --mode kill --seed 2 --events 12 --max_steps 120 --save_steps 5 --results $R/kill_accelerate.json
run --path stock --mode kill --seed 3 --events 15 --max_steps 120 --save_steps 5 --results $R/kill_stock.json
run --path pretrain --mode fault --seed 4 --events 15 --max_steps 120 --save_steps 5 --results $R/fault_pretrain.json
run --path stock --mode kill --seed 5 --events 20 --max_steps 240 --save_steps 5 --write_window 0.05 --results $R/kill_stock_seed5.json
run --path accelerate --mode kill --seed 6 --events 20 --max_steps 240 --save_steps 5 --results $R/kill_accelerate_seed6.json
