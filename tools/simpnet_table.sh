#!/usr/bin/env bash
# The measured simpnet table of README.md: five protocols of Amit (2019), Figs. 4-5
# and 10, on CIFAR-10 from local TFRecords, EPOCHS epochs each (default 10).
#   tools/simpnet_table.sh [DATA_DIR] [EPOCHS]
# Runs go to runs/simpnet_table/; re-running resumes or skips finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir="${1:-../shared/data/cifar10}"
epochs="${2:-10}"
out=runs/simpnet_table
common=(--net=simpnet --data_dir="$data_dir" --epochs="$epochs")
source tools/amit_protocols.sh
run_amit_protocols "$out" "${common[@]}"
runs=("${amit_protocols[@]/#/$out/}")
.venv/bin/python tools/summarize_runs.py "${runs[@]}"
.venv/bin/python tools/plot_run.py "${runs[@]}" --out tools/figures/simpnet_cifar10.png
