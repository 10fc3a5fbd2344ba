#!/usr/bin/env bash
# The measured deep-net table of README.md: Amit (2019)'s six protocols (Figs. 6,
# 7 and 10) on deepnet and deepernet, CIFAR-10 from local TFRecords, EPOCHS epochs
# each (default 30), at the settings of flags/<net>.cfg.
#   tools/deep_table.sh [DATA_DIR] [EPOCHS] [NET ...]
# NETs default to "deepernet deepnet". Runs go to runs/deep_table/<net>/<protocol>;
# re-running resumes unfinished runs and skips finished ones, so the table can be
# built over several sittings. One figure per net: tools/figures/<net>_cifar10.png.
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir="${1:-../shared/data/cifar10}"
epochs="${2:-30}"
shift $(($# < 2 ? $# : 2))
nets=("$@")
[[ ${#nets[@]} -gt 0 ]] || nets=(deepernet deepnet)
source tools/amit_protocols.sh
for net in "${nets[@]}"; do
  run_amit_protocols "runs/deep_table/$net" --net="$net" --data_dir="$data_dir" \
    --epochs="$epochs"
done
for net in "${nets[@]}"; do
  runs=("${amit_protocols[@]/#/runs/deep_table/$net/}")
  .venv/bin/python tools/summarize_runs.py "${runs[@]}"
  .venv/bin/python tools/plot_run.py "${runs[@]}" --title "$net, CIFAR-10" \
    --out "tools/figures/${net}_cifar10.png"
done
