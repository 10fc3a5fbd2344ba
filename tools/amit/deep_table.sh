#!/usr/bin/env bash
# The measured deep-net table of tools/amit/README.md: Amit (2019)'s six protocols (Figs. 6,
# 7 and 10) on deepnet and deepernet, CIFAR-10 from local TFRecords, EPOCHS epochs
# each (default 30), at the settings of flags/<net>.cfg.
#   tools/amit/deep_table.sh DATA_DIR [EPOCHS] [NET ...]   # DATA_DIR: CIFAR-10's TFRecords
# NETs default to "deepernet deepnet". Runs go to runs/deep_table/<net>/<protocol>
# and resume there. A run that finishes has its records (config.json,
# metrics.jsonl) copied to tools/amit/results/deep_table/<net>/<protocol>, which the
# repository keeps: runs/ does not outlive a checkout, and the whole table is
# hours of CPU, so it is built over several sittings, a protocol whose kept
# records reach EPOCHS being skipped. The table and the figures
# (tools/amit/figures/<net>_cifar10.png) are drawn from the kept records, with the
# protocols not finished yet left out.
set -euo pipefail
usage="usage: tools/amit/deep_table.sh DATA_DIR [EPOCHS] [NET ...] (DATA_DIR: CIFAR-10's TFRecords)"
[[ $# -ge 1 && -n "$1" ]] || { echo "$usage" >&2; exit 2; }
# A relative DATA_DIR is the caller's; a URL (gs://...) is kept as it is.
case "$1" in /*|*://*) data_dir="$1" ;; *) data_dir="$PWD/$1" ;; esac
cd "$(dirname "$0")/../.."
epochs="${2:-30}"
shift $(($# < 2 ? $# : 2))
nets=("$@")
[[ ${#nets[@]} -gt 0 ]] || nets=(deepernet deepnet)
kept_root=tools/amit/results/deep_table
source tools/amit/protocols.sh

# Epochs in a run directory's records (0 without any).
epochs_in() {
  if [[ -f "$1/metrics.jsonl" ]]; then wc -l < "$1/metrics.jsonl"; else echo 0; fi
}

for net in "${nets[@]}"; do
  for name in "${amit_protocols[@]}"; do
    kept="$kept_root/$net/$name"
    (( $(epochs_in "$kept") >= epochs )) && continue
    run_amit_protocol "$name" "runs/deep_table/$net" --net="$net" \
      --data_dir="$data_dir" --epochs="$epochs"
    mkdir -p "$kept"
    cp "runs/deep_table/$net/$name/config.json" "runs/deep_table/$net/$name/metrics.jsonl" "$kept/"
  done
done
for net in "${nets[@]}"; do
  runs=()
  for name in "${amit_protocols[@]}"; do
    (( $(epochs_in "$kept_root/$net/$name") > 0 )) && runs+=("$kept_root/$net/$name")
  done
  [[ ${#runs[@]} -gt 0 ]] || continue
  .venv/bin/python -m urfbtf.runs "${runs[@]}"
  .venv/bin/python -m urfbtf.plot curves --wr "${runs[@]}" --title "$net, CIFAR-10" \
    --out "tools/amit/figures/${net}_cifar10.png"
done
