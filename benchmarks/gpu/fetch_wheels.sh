#!/usr/bin/env bash
# Downloads the wheels that gpu_check.py needs and the GPU machine's image lacks (wheels.txt: pinned, --no-deps)
# for one Python version on manylinux x86-64, into benchmarks/gpu/wheels/py<version>/ (git-ignored; issue 40).
# The device call carries benchmarks/gpu/wheels/py312; py311 is for the CPU rehearsal on this machine.
#
#   bash benchmarks/gpu/fetch_wheels.sh                        # Python 3.12: what the GPU machine runs
#   bash benchmarks/gpu/fetch_wheels.sh --python-version 3.11  # this machine's Python: the rehearsal
set -euo pipefail

version=3.12
if [[ ${1:-} == --python-version ]]; then
    version=${2:?--python-version needs a value such as 3.12}
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--python-version X.Y]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
dest=$here/wheels/py${version/./}
mkdir -p "$dest"
rm -f "$dest"/*.whl  # one version of each: two would stop the offline install

# Platform tags from the device notes; pip matches manylinux_2_N exactly, so the usual N are all named.
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
    manylinux1_x86_64; do
    platforms+=(--platform "$tag")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --implementation cp \
    --python-version "$version" "${platforms[@]}" --dest "$dest" --requirement "$here/wheels.txt"

ls -l "$dest"
du -sh "$dest"
