#!/usr/bin/env bash
# One entry point for everything, from a fresh checkout:
#   ./run.sh [FLAGS...]        train: python -m urfbtf FLAGS (see README.md)
#   ./run.sh test [ARGS...]    run the test suite (pytest ARGS)
# On first use it creates a virtual environment in .venv (or $URFBTF_VENV) and
# installs the package into it at the tested versions (constraints.txt); later
# calls reuse it, reinstalling only when setup.cfg or constraints.txt changes.
set -euo pipefail
cd "$(dirname "$0")"

venv="${URFBTF_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.urfbtf-installed-$(cksum setup.cfg pyproject.toml constraints.txt | cksum | cut -d' ' -f1)"
if [ ! -e "$stamp" ]; then
  echo "run.sh: installing urfbtf and its dependencies into $venv (log: $venv/install.log)" >&2
  if ! { "$venv/bin/python" -m pip install --upgrade pip &&
         "$venv/bin/python" -m pip install -c constraints.txt -e ".[test,plot]"; } > "$venv/install.log" 2>&1; then
    tail -n 30 "$venv/install.log" >&2
    echo "run.sh: installation failed; the whole log is in $venv/install.log" >&2
    exit 1
  fi
  rm -f "$venv"/.urfbtf-installed-*
  touch "$stamp"
fi

# Keras 3 picks its backend from this variable; urfbtf is built on TensorFlow.
export KERAS_BACKEND=tensorflow
# Keep TensorFlow's start-up chatter (CUDA probing on CPU machines) out of the output.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

if [ "${1:-}" = "test" ]; then
  shift
  status=0
  "$venv/bin/python" -m pytest "$@" || status=$?
  if [ "$status" -eq 5 ]; then
    echo "run.sh: pytest collected no tests; that is a failure, not a pass." >&2
    exit 1
  fi
  exit "$status"
fi
exec "$venv/bin/python" -m urfbtf "$@"
