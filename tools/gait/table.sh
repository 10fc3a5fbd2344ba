#!/usr/bin/env bash
# tools/gait/README.md's tables: one run per cell of a net, each from its flagfile in
# flags/gait/, on local TFRecords, then the table (tools/gait/summary.py).
#   tools/gait/table.sh cifar_fc3 DATA_DIR [EPOCHS]   # bp, frfb, gait, gait_norm
#   tools/gait/table.sh cifar_fc6 DATA_DIR [EPOCHS]
#   tools/gait/table.sh cifar_conv DATA_DIR [EPOCHS]  # bp, gait_norm
# DATA_DIR: CIFAR-10's TFRecords.
# EPOCHS defaults to the flagfile's. Probes every 45 steps (10 per CIFAR-10
# epoch at batch 100) give the update angles. Runs resume: the command can be
# run again after a kill and continues where it stopped.
set -euo pipefail
usage="usage: tools/gait/table.sh cifar_fc3|cifar_fc6|cifar_conv DATA_DIR [EPOCHS] (DATA_DIR: CIFAR-10's TFRecords)"
[[ $# -ge 2 && -n "$2" ]] || { echo "$usage" >&2; exit 2; }
net="$1"
# A relative DATA_DIR is the caller's; a URL (gs://...) is kept as it is.
case "$2" in /*|*://*) data_dir="$2" ;; *) data_dir="$PWD/$2" ;; esac
cd "$(dirname "$0")/../.."
epochs=()
if [ -n "${3:-}" ]; then epochs=(--epochs="$3"); fi
case "$net" in
  cifar_fc3|cifar_fc6) rules=(bp frfb gait gait_norm) ;;
  cifar_conv) rules=(bp gait_norm) ;;
  *) echo "unknown net '$net': cifar_fc3, cifar_fc6 or cifar_conv" >&2; exit 2 ;;
esac
out="runs/gait/$net"
dirs=()
for rule in "${rules[@]}"; do
  ./run.sh --flagfile="flags/gait/${net}_${rule}.cfg" --data_dir="$data_dir" \
    "${epochs[@]}" --probe_every=45 --model_dir="$out/$rule"
  dirs+=("$out/$rule")
done
.venv/bin/python tools/gait/summary.py "${dirs[@]}"
