#!/usr/bin/env bash
# Installs the gliner_jax wheel over a preinstalled GPU runtime (Colab-like: Python 3.12 with jax + CUDA plugin,
# flax, optax, orbax, transformers, torch already there; no network) and checks it there:
#   1. builds the wheel from this checkout and installs it with the notebooks' install cell
#      (gliner_jax/notebooks/install_cell.py: pip resolves against what is present and keeps the runtime's jax;
#      offline, so only WHEEL_DIR may add packages), then the training dependencies the runtime lacks (from
#      WHEEL_DIR, --no-deps); prints every distribution that changed and `pip check`;
#   2. the README's five-line example on the GPU, then 50 steps of configs/tiny.py, both through the installed wheel
#      (run from outside the checkout, so `import gliner_jax` is the wheel);
#   3. speed against gliner 0.2.29 on PyTorch on the same GPU, bf16, batch 32 (scripts/benchmark_inference.py,
#      scripts/benchmark_train.py on a random BERT-base-shaped backbone);
#   4. with STUDY_CONFIG set, a scaling study (scripts/scaling.py run) in the time left before TOTAL_SECONDS
#      (default 570) have passed since the start; its results.jsonl goes to OUT_DIR/study_results.jsonl.
# Usage: [STUDY_CONFIG=configs/scaling/scratch_ladder.py] bash scripts/gpu_runtime_check.sh WHEEL_DIR OUT_DIR
# Each step has its own time limit and the script carries on after a failed step; OUT_DIR gets log.txt and the
# benchmark/study outputs.
set -uo pipefail
WHEELS=$(realpath "$1"); OUT=$(realpath "$2")
DEADLINE=$(( $(date +%s) + ${TOTAL_SECONDS:-570} ))
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
step() { echo; echo "=== $(date -u +%H:%M:%S) $*"; }
# run LIMIT CMD...: CMD with at most LIMIT seconds, and never past the deadline; carries on after a failure.
run() {
  local limit=$1 left=$(( DEADLINE - $(date +%s) - 10 )); shift
  [ "$left" -lt "$limit" ] && limit=$left
  [ "$limit" -lt 1 ] && { echo "--- skipped: no time left"; return 0; }
  timeout "$limit" "$@"; local rc=$?; echo "--- rc=$rc"; return 0
}

step "runtime"
$PY -V; nvidia-smi -L || true
$PY -c 'import jax; print("jax", jax.__version__, jax.devices())'
$PY -m pip freeze 2>/dev/null | sort > /tmp/freeze_before.txt

step "build the wheel from this checkout"
rm -rf /tmp/dist
run 300 $PY -m pip wheel -q --no-deps --no-build-isolation "$REPO" -w /tmp/dist
ls -la /tmp/dist
WHEEL=$(ls /tmp/dist/gliner_jax-*.whl | head -1)

step "install the wheel (bare) over the runtime with the notebooks' install cell (keeps the runtime's jax)"
(cd /tmp && PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS" GLINER_JAX_SOURCE="$WHEEL" GLINER_JAX_EXTRAS= \
  run 300 $PY "$REPO/gliner_jax/notebooks/install_cell.py")
if ! (cd /tmp && $PY -c "import gliner_jax" 2>/dev/null); then
  step "the install cell did not install it (above): the wheel with --no-deps, to run the rest"
  run 120 $PY -m pip install --no-index --no-deps "$WHEEL"
fi
step "the training dependencies this runtime lacks, from $WHEELS"
ls "$WHEELS"
run 300 $PY -m pip install --no-index --no-deps $(ls "$WHEELS"/*.whl | grep -v '/gliner-')
$PY -m pip freeze 2>/dev/null | sort > /tmp/freeze_after.txt
echo "distributions changed by the install (- before, + after):"
diff /tmp/freeze_before.txt /tmp/freeze_after.txt | grep '^[<>]' | sed 's/^</-/; s/^>/+/'
echo "pip check (declared requirements the runtime does not meet):"
$PY -m pip check || true

step "five lines, through the installed wheel"
cd /tmp
run 300 $PY - <<'PY'
import jax
import gliner_jax
print("gliner_jax from", gliner_jax.__file__, "| devices", jax.devices())
model = gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)
text = "Ada Lovelace worked with Charles Babbage on the Analytical Engine in London."
for e in model.predict_entities(text, ["person", "machine", "city"], threshold=0.5):
    print(e.text, e.label, round(e.score, 3), (e.start, e.end))
PY

step "50 steps of configs/tiny.py on the GPU, through the installed wheel"
rm -rf /tmp/tiny_gpu
run 300 $PY "$REPO/scripts/train.py" --config "$REPO/configs/tiny.py" --workdir /tmp/tiny_gpu \
  --config.train.num_steps=50
$PY - <<'PY'
import json
rows = [json.loads(l) for l in open("/tmp/tiny_gpu/metrics.jsonl")]
steps = [r for r in rows if "loss" in r]
print(f"{len(steps)} logged training rows; first {steps[0]}; last {steps[-1]}")
PY
cp /tmp/tiny_gpu/metrics.jsonl "$OUT/tiny_metrics.jsonl" 2>/dev/null
cd "$REPO"

step "reference gliner 0.2.29 for the benchmarks (--no-deps: it caps transformers below the runtime's 5.17)"
run 120 $PY -m pip install -q --no-index --no-deps "$WHEELS"/gliner-*.whl

step "inference: words/s, gliner_jax (fp32, bf16) vs gliner 0.2.29 on PyTorch bf16, batch 32"
run 400 $PY scripts/benchmark_inference.py --random_bert_base --torch_device cuda --torch_dtype bfloat16 \
  --precisions float32,bfloat16 --words 120 --batch_sizes 32 --texts_per_setting 128 --repeats 3 --threads 16 \
  --noonnx --noprofile --sentences gliner_jax/assets/data/crossner_ai_test_slice.txt,gliner_jax/assets/data/pile_ner_slice_dev.txt \
  --output "$OUT/gpu_inference.md"

step "training: tokens/s and MFU, gliner_jax vs gliner 0.2.29 on PyTorch (autocast), bf16, batch 32"
run 400 $PY scripts/benchmark_train.py --random_bert_base --torch_device cuda --precision bfloat16 \
  --batch_size 32 --words 128 --steps 10 --threads 16 | tee "$OUT/gpu_train.md"

if [ -n "${STUDY_CONFIG:-}" ]; then
  left=$(( DEADLINE - $(date +%s) - 20 ))
  step "scaling study $STUDY_CONFIG in the ${left}s left"
  if [ "$left" -gt 30 ]; then
    run "$left" $PY scripts/scaling.py run --config "$STUDY_CONFIG" --workdir /tmp/study
  fi
  cp /tmp/study/results.jsonl "$OUT/study_results.jsonl" 2>/dev/null || echo "no study results"
fi
step "done"
