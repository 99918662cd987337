#!/usr/bin/env bash
# A venv holding what the GPU machine's image holds, at its versions (issue 40), for the CPU rehearsal of
# device_run.sh. This machine's CPU torch 2.13.0 stands in for the image's 2.11.0+cu130. Versions pinned here are
# the ones read on the machine (image-packages.txt); the rest take what pip resolves (numpy: the image's 2.5.2
# needs Python 3.12, so the newest for 3.11), except: typer and python-dateutil, held at versions whose
# requirements the image meets (the newest need pydantic and tzdata, which it lacks); pyarrow, fsspec and pandas,
# which carry datasets' bounds and were not read there: the newest on 2026-09-24, the day of the image's
# huggingface_hub 1.33.0. Nothing that the image lacks stays installed: datasets, dill, multiprocess and uba-hf
# come from the carried wheels and the source.
#
#   bash benchmarks/gpu/image_venv.sh [/work/venvs/gpu-image]
set -euo pipefail

venv=${1:-/work/venvs/gpu-image}
here=$(cd "$(dirname "$0")" && pwd)
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q torch==2.13.0+cpu
"${pip[@]}" install -q torch==2.13.0+cpu \
    transformers==5.17.0 accelerate==1.15.0 tokenizers==0.23.2 huggingface-hub==1.33.0 safetensors==0.8.0 \
    numpy pyarrow==25.0.1 fsspec==2026.9.0 'pandas<3.1' pyyaml matplotlib tensorboard xxhash requests httpx aiohttp \
    tqdm filelock packaging \
    typer==0.28.0 python-dateutil==2.9.0.post0 six
"${pip[@]}" uninstall -q -y pydantic pydantic-core annotated-types typing-inspection tzdata

# The venv must hold nothing beyond the image's list.
"${pip[@]}" list --format=freeze > "$venv/image-freeze.txt"
norm() { tr 'A-Z_.' 'a-z--'; }
extra=$(comm -23 <(cut -d= -f1 "$venv/image-freeze.txt" | norm | sort -u) \
    <(grep -v '^#' "$here/image-packages.txt" | norm | sort -u))
if [[ -n $extra ]]; then
    echo "not in the image: $extra" >&2
    exit 1
fi
echo "image venv ready: $venv ($(wc -l < "$venv/image-freeze.txt") packages, all in image-packages.txt)"
