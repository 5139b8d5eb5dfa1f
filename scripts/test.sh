#!/usr/bin/env bash
# Sets up .venv with the test requirements, checks formatting and lint (ruff, every Python file of the
# repository), and runs the tests. Usage:
#   bash scripts/test.sh --fast [pytest args]   # the tier to run while editing: not slow, no subprocesses
#   bash scripts/test.sh [pytest args]          # the whole suite
#   bash scripts/test.sh --parts [pytest args]  # the whole suite in two pytest processes (what .ci/run runs)
# The tiers are pytest markers (tests/conftest.py): `slow` (over ~10 s on 2 CPU cores) and `subprocess`
# (starts other processes: multi-host runs, notebooks, scripts). docs/testing_tiers.md gives both times
# and the rule that keeps each module's core tests in --fast.
# A test whose package, weights or data folder is missing skips, and -rs prints why and what to install;
# with CI=true it fails instead, and so does a run that skipped anything (tests/conftest.py). Tests left
# out by --fast are deselected, not skipped.
# --parts runs the test files in two pytest processes, one after the other (each half of tests/test_*.py, in
# name order): one process running everything grew past 22 GB by the last sixth of the suite (compiled programs
# and session fixtures of every module), at the limit of a 24 GB machine. It fails if either part fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=()
parts=0
if [ "${1:-}" = "--fast" ]; then
  shift
  tier=(-m "not slow and not subprocess")
elif [ "${1:-}" = "--parts" ]; then
  shift
  parts=1
fi
bash scripts/setup.sh test
# Style first: one formatting (two-space indentation) and a clean lint, configured in pyproject.toml.
.venv/bin/ruff format --check .
.venv/bin/ruff check .
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ "$parts" = 1 ]; then
  files=(tests/test_*.py)
  half=$(((${#files[@]} + 1) / 2))
  status=0
  .venv/bin/python -m pytest -q -rs "${files[@]:0:half}" "$@" || status=$?
  .venv/bin/python -m pytest -q -rs "${files[@]:half}" "$@" || status=$?
  exit "$status"
fi
exec .venv/bin/python -m pytest -q -rs "${tier[@]}" "$@"
