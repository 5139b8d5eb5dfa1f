#!/usr/bin/env bash
# Issue 17 2(a): the built wheel in a fresh venv of the newest Python the stack supports (3.13, from a Debian
# trixie root made with debootstrap): `pip install "gliner_jax-*.whl[train]"`, the README's five-line example
# (its entities must equal those of the same example in this checkout's .venv: text, label, offsets, scores
# within 1e-4), and a 20-step training of the wheel's own configs/tiny.py (gliner_jax.configs.tiny).
# Usage (as root: debootstrap, chroot, mount): bash scripts/check_python313.sh
# ROOT=... the trixie root (default ${XDG_CACHE_HOME:-$HOME/.cache}/gliner_jax/trixie; made once, ~3 minutes,
# then reused; each run makes a fresh venv in it). Needs: debootstrap (installed with apt-get when missing), network
# to Debian's mirror (first run) and PyPI. About 4-8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/gliner_jax/trixie}"
SUITE=trixie
[ "$(id -u)" = 0 ] || { echo "check_python313.sh: needs root (debootstrap, chroot, mount /proc)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then  # a fresh machine (CI): Debian's package
  echo "== apt-get install debootstrap"
  { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; } \
    || { echo "check_python313.sh: could not install debootstrap (apt-get install debootstrap)" >&2; exit 1; }
fi

if [ ! -e "$ROOT/.gliner_jax-complete" ]; then
  echo "== debootstrap $SUITE into $ROOT"
  for r in "$ROOT" "$ROOT.partial"; do  # a root left half-made, perhaps with /proc still mounted
    if mountpoint -q "$r/proc"; then umount "$r/proc" || umount -l "$r/proc"; fi
    rm -rf --one-file-system "$r"
  done
  mkdir -p "$(dirname "$ROOT")"
  debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$ROOT.partial" >/dev/null
  touch "$ROOT.partial/.gliner_jax-complete"
  mv "$ROOT.partial" "$ROOT"
fi

work="$(mktemp -d)"
inside=/tmp/gliner_jax_check  # the same folder seen from inside the root
cleanup() {
  if mountpoint -q "$ROOT/proc"; then umount "$ROOT/proc" || umount -l "$ROOT/proc"; fi
  rm -rf "$work" "${ROOT:?}$inside"
}
trap cleanup EXIT

echo "== building the wheel"
mkdir "$work/source"  # a copy: a build leaves build/ and egg-info behind
cp -r gliner_jax configs pyproject.toml README.md LICENSE "$work/source/"
find "$work/source" -name __pycache__ -prune -exec rm -rf {} +
.venv/bin/python -m pip wheel -q --no-deps -w "$work" "$work/source"
wheel="$(ls "$work"/gliner_jax-*.whl)"
rm -rf "${ROOT:?}$inside" && mkdir -p "$ROOT$inside" && cp "$wheel" "$ROOT$inside/"

# pip inside the root: the CA bundle this machine's pip uses (at the same path), DNS, and /proc (without it
# JAX's CPU backend cannot read the CPU's features and fails).
cert="${SSL_CERT_FILE:-$(.venv/bin/python -m pip config get global.cert 2>/dev/null || true)}"
cert="${cert:-/etc/ssl/certs/ca-certificates.crt}"
mkdir -p "$ROOT$(dirname "$cert")" && cp "$cert" "$ROOT$cert"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"

cat > "$ROOT$inside/five_lines.py" <<'PY'
import json
import sys

import gliner_jax

model = gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)
text = "Ada Lovelace worked with Charles Babbage on the Analytical Engine in London."
entities = model.predict_entities(text, ["person", "machine", "city"], threshold=0.5)
json.dump([dict(text=e.text, label=e.label, start=e.start, end=e.end, score=float(e.score)) for e in entities],
          open(sys.argv[1], "w"))
print(sys.version.split()[0], gliner_jax.__file__, [(e.text, e.label, round(e.score, 4)) for e in entities])
PY
cat > "$ROOT$inside/train_tiny.py" <<'PY'
import json
import os
import sys

import jax

from gliner_jax.configs import tiny
from gliner_jax.training.loop import train_and_evaluate

workdir = sys.argv[1]
config = tiny.get_config()
train_and_evaluate(config, workdir)
rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
steps = sorted({r["step"] for r in rows if "loss" in r})
print("jax", jax.__version__, "trained steps", steps[0], "..", steps[-1], "last loss", [r["loss"] for r in rows if "loss" in r][-1])
assert steps[-1] == config.train.num_steps == 20, steps
PY

echo "== fresh venv + pip install wheel[train] inside $SUITE"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root PIP_CERT="$cert" PIP_DISABLE_PIP_VERSION_CHECK=1 \
  PIP_ROOT_USER_ACTION=ignore bash -euo pipefail -c "
  python3 --version
  rm -rf /opt/gliner_jax_venv && python3 -m venv /opt/gliner_jax_venv
  /opt/gliner_jax_venv/bin/pip install -q '$inside/$(basename "$wheel")[train]'
  /opt/gliner_jax_venv/bin/pip list 2>/dev/null | grep -iE '^(jax|jaxlib|flax|numpy|transformers|optax|orbax-checkpoint|grain|tensorflow-datasets) '
  cd /tmp  # not the wheel's folder: gliner_jax must come from site-packages
  echo '== five-line example (3.13)'
  /opt/gliner_jax_venv/bin/python $inside/five_lines.py $inside/entities_313.json
  echo '== 20-step tiny training (3.13)'
  /opt/gliner_jax_venv/bin/python $inside/train_tiny.py $inside/workdir
"
echo "== five-line example (this checkout's .venv)"
.venv/bin/python "$ROOT$inside/five_lines.py" "$work/entities_host.json"
.venv/bin/python - "$work/entities_host.json" "$ROOT$inside/entities_313.json" <<'PY'
import json
import sys

host, other = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda es: [(e["text"], e["label"], e["start"], e["end"]) for e in es]
assert host and key(host) == key(other), f"entities differ:\n  host {host}\n  3.13 {other}"
worst = max(abs(a["score"] - b["score"]) for a, b in zip(host, other))
assert worst <= 1e-4, f"scores differ by {worst}"
print(f"same {len(host)} entities on both; largest score difference {worst:.2e}")
PY
echo "check_python313.sh: OK"
