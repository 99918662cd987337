#!/usr/bin/env bash
# The smoke subset on the lowest Transformers and Accelerate that setup.cfg allows (docs/compatibility.md).
# Usage: bash scripts/test_lowest_versions.sh [VENV]   (default /work/venvs/lowest; created when missing)
# torch is installed first and pinned (a bare `pip install torch` can pull a multi-GB CUDA build).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-/work/venvs/lowest}"
TRANSFORMERS=5.2.0
ACCELERATE=1.3.0
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q "transformers==$TRANSFORMERS" "accelerate==$ACCELERATE" safetensors pytest hypothesis pyyaml tensorboard
"$VENV/bin/python" -c "import torch, transformers, accelerate; print('torch', torch.__version__, \
'transformers', transformers.__version__, 'accelerate', accelerate.__version__)"
cd "$ROOT"
# The library layer: the schedule, the registration, the zero-config rule, UBATrainer and the stock Trainer, the
# console scripts' help and the architecture checks.
PYTHONPATH="$ROOT" "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" \
    tests/library/test_schedule.py tests/library/test_zero_config.py tests/library/test_registry.py tests/library/test_trainer.py \
    tests/library/test_default_change.py tests/library/test_docstrings.py tests/test_architecture.py
