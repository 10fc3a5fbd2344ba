#!/usr/bin/env bash
# tools/frenkel/README.md's MNIST table: the FC2 net (2 x 500 tanh) of Frenkel et al. (2021) under
# every rule, EPOCHS epochs (default 10) on MNIST from local TFRecords, with the
# update angles to backprop per layer at the end of training.
#   tools/frenkel/mnist_fc2_table.sh DATA_DIR [EPOCHS]   # DATA_DIR: MNIST's TFRecords
set -euo pipefail
usage="usage: tools/frenkel/mnist_fc2_table.sh DATA_DIR [EPOCHS] (DATA_DIR: MNIST's TFRecords)"
[[ $# -ge 1 && -n "$1" ]] || { echo "$usage" >&2; exit 2; }
# A relative DATA_DIR is the caller's; a URL (gs://...) is kept as it is.
case "$1" in /*|*://*) data_dir="$1" ;; *) data_dir="$PWD/$1" ;; esac
cd "$(dirname "$0")/../.."
epochs="${2:-10}"
out=runs/mnist_fc2
rules=(bp frfb urfb dfa sdfa drtp shallow)
for rule in "${rules[@]}"; do
  ./run.sh --flagfile=flags/mnist_fc2.cfg --rule="$rule" --data_dir="$data_dir" \
    --epochs="$epochs" --model_dir="$out/$rule"
done
.venv/bin/python -m urfbtf.runs --angles "${rules[@]/#/$out/}"
.venv/bin/python -m urfbtf.plot alignment "${rules[@]/#/$out/}" --smooth 0.5 \
  --out tools/frenkel/figures/mnist_fc2_alignment.png
