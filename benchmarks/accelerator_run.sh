#!/usr/bin/env bash
# Table 1 (Pu et al. 2017) in one wall-clock budget on whatever device JAX finds (a GPU when present):
#   bash benchmarks/accelerator_run.sh OUTDIR [--budget_minutes=8] [--smoke] [--data_dir=PATH]
# Writes OUTDIR/results.json and OUTDIR/table1.png; see benchmarks/accelerator_run.py.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: bash benchmarks/accelerator_run.sh OUTDIR [--budget_minutes=8] [--smoke] [--data_dir=PATH]" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
outdir="$1"; shift
exec "$py" -m benchmarks.accelerator_run --outdir="$outdir" "$@"
