#!/usr/bin/env bash
# Makes the virtual environment of one framework for benchmarks/frameworks/frameworks.py (issue 29):
#
#     bash benchmarks/frameworks/frameworks_venv.sh llamafactory [VENV]     # default VENV: /work/venvs/llamafactory
#     bash benchmarks/frameworks/frameworks_venv.sh axolotl [VENV]          # default VENV: /work/venvs/axolotl
#
# torch first (pinned by TORCH, default 2.13.0: the CPU build this machine's pip finds in /opt/wheels),
# then the framework (version by LLAMAFACTORY / AXOLOTL) together with this package, editable, in one
# resolve, with torch held at TORCH so that no other build (a CUDA one from PyPI) replaces it.
#
# CPU-only torch: PyPI's torchvision and torchaudio wheels link libtorch_cuda.so. With a CPU torch,
# `import torchvision` fails ("operator torchvision::nms does not exist", raised while Transformers
# imports it) and so does `import torchaudio` (OSError: Could not load this library: .../_torchaudio.so).
# LLaMA-Factory depends on both and imports torchaudio at start-up (llamafactory/data/mm_plugin.py), so on
# a CPU torch this script uninstalls torchvision (Transformers then runs without it) and removes
# torchaudio's compiled libraries (torchaudio then imports without its extension). Neither is used by a
# text pretraining run. Nothing is changed where torch has CUDA.
set -euo pipefail

framework=${1:?usage: frameworks_venv.sh llamafactory|axolotl [VENV]}
venv=${2:-/work/venvs/$framework}
here=$(cd "$(dirname "$0")/../.." && pwd)
torch_version=${TORCH:-2.13.0}
case $framework in
    llamafactory) spec="llamafactory==${LLAMAFACTORY:-0.9.5}" ;;
    axolotl) spec="axolotl==${AXOLOTL:-0.19.0}" ;;
    *) echo "unknown framework: $framework (llamafactory or axolotl)" >&2; exit 2 ;;
esac

python3.11 -m venv "$venv"
pip="$venv/bin/pip"
constraint=$(mktemp)
trap 'rm -f "$constraint"' EXIT
echo "torch==$torch_version" > "$constraint"
nice -n 10 "$pip" install -q "torch==$torch_version"
nice -n 10 "$pip" install -q -c "$constraint" "$spec" -e "$here"

if ! "$venv/bin/python" -c "import torch, sys; sys.exit(0 if torch.version.cuda else 1)"; then
    site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    if "$venv/bin/pip" show -q torchvision 2>/dev/null && ! "$venv/bin/python" -c "import torchvision" 2>/dev/null; then
        echo "CPU torch: torchvision does not import; uninstalling it"
        "$pip" uninstall -y -q torchvision
    fi
    if "$venv/bin/pip" show -q torchaudio 2>/dev/null && ! "$venv/bin/python" -c "import torchaudio" 2>/dev/null; then
        echo "CPU torch: torchaudio does not import; removing its compiled libraries"
        rm -f "$site"/torchaudio/lib/*.so
    fi
fi
"$venv/bin/pip" list 2>/dev/null | grep -iE "^(torch|torchvision|torchaudio|transformers|accelerate|datasets|trl|peft|llamafactory|axolotl|uba-hf) "
