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
./run.sh "${common[@]}" --rule=bp --loss=softmax --model_dir="$out/bp-softmax"
./run.sh "${common[@]}" --rule=bp --loss=hinge --model_dir="$out/bp-hinge"
./run.sh "${common[@]}" --rule=urfb --model_dir="$out/urfb"
./run.sh "${common[@]}" --rule=frfb --model_dir="$out/frfb"
./run.sh "${common[@]}" --rule=urfb --connectivity=0.5 --model_dir="$out/urfb-c0.5"
./run.sh "${common[@]}" --rule=frfb --connectivity=0.5 --model_dir="$out/frfb-c0.5"
.venv/bin/python tools/summarize_runs.py "$out"/{bp-softmax,bp-hinge,urfb,frfb,urfb-c0.5,frfb-c0.5}
.venv/bin/python tools/plot_run.py "$out"/{bp-softmax,bp-hinge,urfb,frfb,urfb-c0.5,frfb-c0.5} \
  --out tools/figures/simpnet_cifar10.png
