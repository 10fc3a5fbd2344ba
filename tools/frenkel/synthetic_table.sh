#!/usr/bin/env bash
# tools/frenkel/README.md's synthetic classification table: Frenkel et al. (2021) sec. 2.1.2 (Fig. 3)
# under every rule, EPOCHS epochs (default 50; the paper trains 500).
#   tools/frenkel/synthetic_table.sh [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs="${1:-50}"
out=runs/synthetic_classification
rules=(bp frfb urfb dfa sdfa drtp shallow)
for rule in "${rules[@]}"; do
  ./run.sh --flagfile=flags/synthetic_classification.cfg --rule="$rule" \
    --epochs="$epochs" --model_dir="$out/$rule"
done
.venv/bin/python -m urfbtf.runs --angles "${rules[@]/#/$out/}"
.venv/bin/python -m urfbtf.plot alignment "${rules[@]/#/$out/}" --smooth 0.5 \
  --out tools/frenkel/figures/synthetic_classification_alignment.png
