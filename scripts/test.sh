#!/usr/bin/env bash
# Sets up .venv with the test requirements, checks formatting and lint (ruff), and runs the whole test suite. Usage: bash scripts/test.sh [pytest args]
# A test whose package, weights or data folder is missing skips, and -rs prints why and what to install;
# with CI=true it fails instead, and so does a run that skipped anything (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# Style first: one formatting (two-space indentation) and a clean lint, configured in pyproject.toml.
.venv/bin/ruff format --check gliner_jax scripts tests configs
.venv/bin/ruff check gliner_jax scripts tests configs
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q -rs "$@"
