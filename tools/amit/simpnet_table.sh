#!/usr/bin/env bash
# The measured simpnet table of tools/amit/README.md: five protocols of Amit (2019), Figs. 4-5
# and 10, on CIFAR-10 from local TFRecords, EPOCHS epochs each (default 10).
#   tools/amit/simpnet_table.sh DATA_DIR [EPOCHS]   # DATA_DIR: CIFAR-10's TFRecords
# Runs go to runs/simpnet_table/; re-running resumes or skips finished runs.
set -euo pipefail
usage="usage: tools/amit/simpnet_table.sh DATA_DIR [EPOCHS] (DATA_DIR: CIFAR-10's TFRecords)"
[[ $# -ge 1 && -n "$1" ]] || { echo "$usage" >&2; exit 2; }
# A relative DATA_DIR is the caller's; a URL (gs://...) is kept as it is.
case "$1" in /*|*://*) data_dir="$1" ;; *) data_dir="$PWD/$1" ;; esac
cd "$(dirname "$0")/../.."
epochs="${2:-10}"
out=runs/simpnet_table
common=(--net=simpnet --data_dir="$data_dir" --epochs="$epochs")
source tools/amit/protocols.sh
run_amit_protocols "$out" "${common[@]}"
runs=("${amit_protocols[@]/#/$out/}")
.venv/bin/python -m urfbtf.runs "${runs[@]}"
.venv/bin/python -m urfbtf.plot curves --wr "${runs[@]}" --out tools/amit/figures/simpnet_cifar10.png
