#!/usr/bin/env bash
# The README's first command: set up .venv (runtime requirements only) and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh main
exec .venv/bin/python scripts/main.py "$@"
