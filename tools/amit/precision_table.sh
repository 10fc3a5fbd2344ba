#!/usr/bin/env bash
# The precision table of tools/amit/README.md: simpnet under BP-H and URFB in float32 and in
# mixed_bfloat16 (--precision), on CIFAR-10 from local TFRecords, EPOCHS epochs (default 10),
# for each seed of SEEDS (default "0 1 2"), seed by seed.
#   tools/amit/precision_table.sh DATA_DIR [EPOCHS] [SEEDS]
# Runs go to runs/precision_table/<protocol>-<precision>-s<seed>; re-running resumes or skips
# finished runs.
set -euo pipefail
usage="usage: tools/amit/precision_table.sh DATA_DIR [EPOCHS] [SEEDS] (DATA_DIR: CIFAR-10's TFRecords)"
[[ $# -ge 1 && -n "$1" ]] || { echo "$usage" >&2; exit 2; }
case "$1" in /*|*://*) data_dir="$1" ;; *) data_dir="$PWD/$1" ;; esac
cd "$(dirname "$0")/../.."
epochs="${2:-10}"
seeds="${3:-0 1 2}"
out=runs/precision_table
source tools/amit/protocols.sh
runs=()
for seed in $seeds; do
  for name in bp-hinge urfb; do
    for precision in float32 mixed_bfloat16; do
      run_amit_protocol "$name" "$out/$precision-s$seed" --net=simpnet \
        --data_dir="$data_dir" --epochs="$epochs" --seed="$seed" --precision="$precision"
      runs+=("$out/$precision-s$seed/$name")
    done
  done
done
.venv/bin/python -m urfbtf.runs "${runs[@]}"
