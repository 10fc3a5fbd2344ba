#!/usr/bin/env bash
# The untied runs of tools/amit/README.md: simpnet_s and deepnet_s_all (every conv untied)
# under URFB with the dense untied form, EPOCHS epochs at batch 500 (default 3),
# on CIFAR-10 from local TFRecords.
#   tools/amit/untied_table.sh DATA_DIR [EPOCHS]   # DATA_DIR: CIFAR-10's TFRecords
set -euo pipefail
usage="usage: tools/amit/untied_table.sh DATA_DIR [EPOCHS] (DATA_DIR: CIFAR-10's TFRecords)"
[[ $# -ge 1 && -n "$1" ]] || { echo "$usage" >&2; exit 2; }
# A relative DATA_DIR is the caller's; a URL (gs://...) is kept as it is.
case "$1" in /*|*://*) data_dir="$1" ;; *) data_dir="$PWD/$1" ;; esac
cd "$(dirname "$0")/../.."
epochs="${2:-3}"
out=runs/untied_table
common=(--rule=urfb --untied_impl=dense --batch_size=500 --epochs="$epochs" --data_dir="$data_dir")
./run.sh --net=simpnet_s "${common[@]}" --model_dir="$out/simpnet_s"
./run.sh --flagfile=flags/deepnet_s_all.cfg "${common[@]}" --model_dir="$out/deepnet_s_all"
.venv/bin/python -m urfbtf.plot filters "$out/simpnet_s" --out tools/amit/figures/simpnet_s_filters.png
# For comparison: the same nets with tied convolutions.
./run.sh --net=simpnet_s --untie= "${common[@]}" --model_dir="$out/simpnet_s_tied"
./run.sh --net=deepnet_s "${common[@]}" --model_dir="$out/deepnet_s_tied"
.venv/bin/python -m urfbtf.runs --brief "$out"/{simpnet_s,simpnet_s_tied,deepnet_s_all,deepnet_s_tied}
