#!/usr/bin/env bash
# Install WorldSim into ./.venv with the right PyTorch build for this machine.
#   scripts/install.sh          # the package and the simulators
#   scripts/install.sh dev      # plus test tools (pytest, ruff); extras are comma-separated: dev,rl
# A machine with an NVIDIA GPU gets PyTorch's CUDA build from PyPI; a CPU-only machine gets the CPU build
# (a local wheel if pip's find-links has one, else PyTorch's CPU index), never the multi-GB CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
TORCH="torch==2.13.0"
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet)

if .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "torch $(.venv/bin/python -c 'import torch; print(torch.__version__)') already installed"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "NVIDIA GPU found: installing the CUDA build of $TORCH"
  "${PIP[@]}" "$TORCH"
elif "${PIP[@]}" --no-index --no-deps "$TORCH" 2>/dev/null; then
  echo "no GPU: installed the local CPU build of $TORCH"
  "${PIP[@]}" "$TORCH"  # its small pure-Python dependencies
else
  echo "no GPU: installing the CPU build of $TORCH"
  "${PIP[@]}" "$TORCH" --index-url https://download.pytorch.org/whl/cpu
fi

echo "installing worldsim${EXTRAS:+[$EXTRAS]} and the simulators"
"${PIP[@]}" -e ".${EXTRAS:+[$EXTRAS]}"
.venv/bin/python -c "import torch, worldsim; print(f'worldsim {worldsim.__version__} ready (torch {torch.__version__}, cuda={torch.cuda.is_available()})')"
