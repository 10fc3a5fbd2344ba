#!/usr/bin/env bash
# tools/bartunov/README.md's tables: one run per Table 5 cell of a dataset and
# architecture, each from its flagfile in flags/bartunov/ (the paper's best
# hyperparameters), on local TFRecords, then the table beside the paper's Table 1.
#   tools/bartunov/table.sh mnist_fc DATA_DIR [EPOCHS]   # every MNIST FC cell
#   tools/bartunov/table.sh mnist_lc DATA_DIR [EPOCHS]
# DATA_DIR: MNIST's TFRecords.
# EPOCHS defaults to the flagfile's. Runs resume: the command can be run again
# after a kill and continues where it stopped.
set -euo pipefail
usage="usage: tools/bartunov/table.sh mnist_fc|mnist_lc DATA_DIR [EPOCHS] (DATA_DIR: MNIST's TFRecords)"
[[ $# -ge 2 && -n "$2" ]] || { echo "$usage" >&2; exit 2; }
cells="$1"
# A relative DATA_DIR is the caller's; a URL (gs://...) is kept as it is.
case "$2" in /*|*://*) data_dir="$2" ;; *) data_dir="$PWD/$2" ;; esac
cd "$(dirname "$0")/../.."
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
.venv/bin/python tools/bartunov/summary.py "${dirs[@]}"
