#!/usr/bin/env bash
# The GPU check (scripts/gpu_check.py) on a lent GPU machine: stock PyTorch image, no network, no install.
#   scripts/gpu_check.sh                       # writes $OUT/gpu_check.json (OUT defaults to runs/)
#   scripts/gpu_check.sh --worlds carracing    # extra arguments go to gpu_check.py
# Ends inside 8 minutes: rows that would start after 400 s are recorded as skipped, and a hard limit stops it at 470 s
# (the JSON is rewritten after every row, so what ran is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-runs}"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 470 python3 scripts/gpu_check.py --out "$OUT_DIR/gpu_check.json" --budget-s 400 "$@"
