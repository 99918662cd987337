#!/usr/bin/env bash
# The GPU machine's command (issue 40). That machine reaches no package registry, so this installs the carried
# wheels (fetch_wheels.sh) offline into a target folder, puts the project's source and that folder on PYTHONPATH,
# checks that the job's imports resolve, and runs gpu_check.py under a time limit that leaves device time for a
# rerun. gpu_check.py rewrites its report, JSON and plot in $OUT after every phase; this script's log goes there
# too. The exact device call and the time plan: benchmarks/gpu/README.md.
#
#   bash benchmarks/gpu/device_run.sh [gpu_check.py options: --dry-run, --phases compare,rest]
#
# Environment: OUT (default out/gpu-device), WHEELS (default benchmarks/gpu/wheels/py312), PYTHON (default
# python3), CHECK_SECONDS (gpu_check.py's limit, default 420), SITE (default /tmp/uba-gpu-site).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/out/gpu-device}
wheels=${WHEELS:-$root/benchmarks/gpu/wheels/py312}
python=${PYTHON:-python3}
limit=${CHECK_SECONDS:-420}
site=${SITE:-/tmp/uba-gpu-site}

run() {
    local t0=$SECONDS
    echo "[device_run] $(date -u +%FT%TZ) python $("$python" -c 'import sys; print(sys.version.split()[0])')," \
        "wheels: $(cd "$wheels" && echo *.whl)"

    # 1. The carried wheels, offline: no index, no configured links, no dependency resolution.
    rm -rf "$site"
    env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null \
        "$python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
        --target "$site" "$wheels"/*.whl
    export PYTHONPATH="$root:$site${PYTHONPATH:+:$PYTHONPATH}"
    export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
    echo "[device_run] installed in $((SECONDS - t0)) s into $site"

    # 2. Preflight (seconds): the versions the check will run with, and the job's imports.
    "$python" - <<'PY'
import importlib.metadata as md

import torch

names = ("torch", "transformers", "accelerate", "tokenizers", "huggingface-hub", "numpy", "pyarrow", "pandas",
         "fsspec", "datasets", "dill", "multiprocess")
print("[device_run] " + ", ".join(f"{n} {md.version(n)}" for n in names))
print(f"[device_run] cuda: {torch.cuda.is_available()}"
      + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
import uba_hf.pretrain.cli  # noqa: E402,F401  (datasets and everything the job imports)
from uba_hf.pretrain.data import stdlib_source_files  # noqa: E402

files = stdlib_source_files()  # the embedded corpus of the GPU runs: none would stop the first phase
print(f"[device_run] embedded corpus: {len(files)} stdlib files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB")
assert files, "no standard-library sources for the embedded corpus"
PY
    # Requirements of the carried wheels that the image's versions miss (a warning: most still work).
    "$python" -m pip check 2>/dev/null | grep -iE '^(datasets|dill|multiprocess) ' || true
    echo "[device_run] preflight done at $((SECONDS - t0)) s"

    # 3. The check, cut off at $limit s (SIGTERM; gpu_check.py stops its child runs). Finished phases are in $OUT.
    local rc=0
    timeout --kill-after=15 "$limit" "$python" "$root/benchmarks/gpu/gpu_check.py" --output_dir "$out" "$@" || rc=$?
    echo "[device_run] gpu_check.py exit $rc$([[ $rc == 124 ]] && echo " (cut off at $limit s)") after" \
        "$((SECONDS - t0)) s; in $out: $(cd "$out" && echo *)"
    return "$rc"
}

mkdir -p "$out"
run "$@" 2>&1 | tee "$out/device_run.log"
exit "${PIPESTATUS[0]}"
