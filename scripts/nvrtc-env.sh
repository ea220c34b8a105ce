#!/usr/bin/env bash
# Installs NVIDIA's NVRTC library from PyPI (nvidia-cuda-nvrtc, CUDA 13, ~110 MB) into a
# git-ignored venv, so that the kernels can be compiled to PTX on a machine with no CUDA
# toolkit and no GPU; prints the folder to put on LD_LIBRARY_PATH.
#   usage: export LD_LIBRARY_PATH="$(scripts/nvrtc-env.sh)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
set -euo pipefail
venv="${1:-$(dirname "$0")/../.venv-nvrtc}"
lib="$venv/lib/python3*/site-packages/nvidia/cu13/lib"
if ! ls $lib/libnvrtc.so.* >/dev/null 2>&1; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "nvidia-cuda-nvrtc>=13,<14" >&2
fi
cd $lib && pwd
