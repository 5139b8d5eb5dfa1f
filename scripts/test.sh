#!/usr/bin/env bash
# Sets up .venv with the test requirements and runs the whole test suite. Usage: bash scripts/test.sh [pytest args]
# A test whose package, weights or data folder is missing skips, and -rs prints why and what to install;
# with CI=true it fails instead, and so does a run that skipped anything (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q -rs "$@"
