#!/usr/bin/env bash
# README's Bartunov et al. (2018) tables: one run per Table 5 cell of a dataset and
# architecture, each from its flagfile in flags/bartunov/ (the paper's best
# hyperparameters), on local TFRecords, then the table beside the paper's Table 1.
#   tools/bartunov_table.sh mnist_fc [DATA_DIR] [EPOCHS]   # every MNIST FC cell
#   tools/bartunov_table.sh mnist_lc [DATA_DIR] [EPOCHS]
# EPOCHS defaults to the flagfile's. Runs resume: the command can be run again
# after a kill and continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
cells="${1:?usage: tools/bartunov_table.sh mnist_fc|mnist_lc [DATA_DIR] [EPOCHS]}"
data_dir="${2:-../shared/data/mnist}"
epochs=()
if [ -n "${3:-}" ]; then epochs=(--epochs="$3"); fi
case "$cells" in
  mnist_fc) methods=(bp fa dfa dtp_parallel dtp_alternating sdtp_parallel
                     sdtp_alternating aosdtp_parallel aosdtp_alternating) ;;
  mnist_lc) methods=(bp bp_convnet fa dtp_alternating sdtp_alternating) ;;
  *) echo "unknown cells '$cells': mnist_fc or mnist_lc" >&2; exit 2 ;;
esac
out="runs/bartunov/$cells"
dirs=()
for method in "${methods[@]}"; do
  ./run.sh --flagfile="flags/bartunov/${cells}_${method}.cfg" --data_dir="$data_dir" \
    "${epochs[@]}" --probe_every=550 --model_dir="$out/$method"
  dirs+=("$out/$method")
done
.venv/bin/python tools/bartunov_summary.py "${dirs[@]}"
