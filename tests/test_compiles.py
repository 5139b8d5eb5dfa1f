"""Compiles paid once: device batch buckets shared by every batch_size, `warmup`, the persistent cache.

The model is the tiny converted reference of tests/test_inference.py (bert-tiny, max_len=24 words,
max_types=3, max_width=4). Programs are counted with `CompileCounter` (JAX's public compile events).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import _build_reference
from gliner_jax import GLiNER
from gliner_jax.inference import compile_cache
from gliner_jax.inference.compile_counter import CompileCounter
from gliner_jax.inference.device_scoring import span_candidates
from gliner_jax.processing.buckets import (
  BATCH_BUCKETS,
  TOKEN_BUCKETS,
  TYPE_BUCKETS,
  WORD_BUCKETS,
  BatchShape,
  device_batch_size,
  workload_shapes,
)
from gliner_jax.processing.prompts import EncodedText

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(hidden_size=64, max_width=4, max_len=24, max_types=3)
LABELS = ["person", "location", "award", "city", "prize"]  # two label groups (3 + 2)
WORDS = "Marie Curie won Nobel prizes in Physics and Chemistry ; she lived in Paris and Warsaw .".split()


@pytest.fixture(scope="module")
def reference_dir(bert_tiny_dir, tmp_path_factory) -> str:
  out = str(tmp_path_factory.mktemp("ref_tiny_compiles"))
  _build_reference(bert_tiny_dir, out, **TINY)
  return out


@pytest.fixture(scope="module")
def model(reference_dir) -> GLiNER:
  return GLiNER.from_pretrained(reference_dir)


def _fresh(model: GLiNER) -> GLiNER:
  return GLiNER(model.config, model.params, model.tokenizer)


def _texts(lengths) -> list[str]:
  return [" ".join((WORDS * 8)[i % 5 : i % 5 + n]) for i, n in enumerate(lengths)]


def _keys(results):
  return [[(e.start, e.end, e.label) for e in r] for r in results]


def test_device_batch_size():
  sizes = (1, 2, 3, 7, 8, 9, 15, 16, 31, 32, 33, 1000)
  assert {b: device_batch_size(b) for b in sizes} == dict(zip(sizes, (1, 2, 2, 4, 8, 8, 8, 16, 16, 32, 32, 32)))
  with pytest.raises(ValueError, match="batch_size"):
    device_batch_size(0)


@pytest.mark.slow  # ~35 s; test_device_batch_size and test_workload_shapes_are_the_maxima_of_batches stay fast
def test_batch_sizes_reuse_the_device_batch_buckets(model):
  """Every batch_size runs batches of BATCH_BUCKETS rows; 8 -> 12 -> 9 compiles nothing new."""
  fresh = _fresh(model)
  texts = _texts(np.random.default_rng(0).integers(1, 40, size=21).tolist())
  with CompileCounter(fresh._candidates) as first:
    want = fresh.batch_predict_entities(texts, LABELS, batch_size=8, threshold=0.3)
  assert 1 <= first.count == len(fresh.compiled_shapes)
  with CompileCounter() as reused:
    for b in (12, 9, 15):
      assert _keys(fresh.batch_predict_entities(texts, LABELS, batch_size=b, threshold=0.3)) == _keys(want)
  assert reused.names == []  # nothing at all compiled
  with CompileCounter(fresh._candidates) as more:
    for b in (1, 3, 5, 16, 33, 100):
      assert _keys(fresh.batch_predict_entities(texts, LABELS, batch_size=b, threshold=0.3)) == _keys(want)
  # A stream of many batch sizes meets only the named buckets, one program per shape.
  assert first.count + more.count == len(fresh.compiled_shapes) <= 40
  for s in fresh.compiled_shapes:
    assert s.batch in BATCH_BUCKETS and s.tokens in TOKEN_BUCKETS and s.words in WORD_BUCKETS
    assert s.types in TYPE_BUCKETS
  assert {s.batch for s in fresh.compiled_shapes} <= {1, 2, 4, 8, 16, 32}
  assert 32 in {s.batch for s in fresh.compiled_shapes}  # 33 and 100 run as batches of 32


def _encoded(tokens: int, words: int, types: int) -> EncodedText:
  return EncodedText(np.zeros(tokens, np.int32), np.zeros(words, np.int32), np.zeros(types, np.int32))


def test_workload_shapes_are_the_maxima_of_batches():
  rows = [_encoded(40, 10, 2), _encoded(100, 9, 2), _encoded(60, 20, 6)]
  shapes = workload_shapes(rows, batch_size=4)
  triples = {(s.tokens, s.words, s.types) for s in shapes}
  # Each row alone, each pair's and the triple's maxima (in buckets).
  assert triples == {
    (64, 16, 4),
    (128, 16, 4),
    (64, 32, 8),
    (128, 32, 8),
  }
  assert BatchShape(1, 128, 32, 8) not in shapes  # needs two rows
  assert BatchShape(2, 128, 32, 8) in shapes and BatchShape(4, 128, 32, 8) in shapes
  assert {s.batch for s in shapes} == {1, 2, 4}
  for shape, fill in shapes.items():
    assert 1 <= len(fill) <= shape.batch
    assert dataclasses.astuple(shape)[1:] == (
      max(TOKEN_BUCKETS[np.searchsorted(TOKEN_BUCKETS, rows[i].num_tokens)] for i in fill),
      max(WORD_BUCKETS[np.searchsorted(WORD_BUCKETS, rows[i].num_words)] for i in fill),
      max(TYPE_BUCKETS[np.searchsorted(TYPE_BUCKETS, len(rows[i].type_token_index))] for i in fill),
    )


@pytest.mark.slow  # ~40 s; tests/test_inference.py's bounded-compiles test stays in the fast tier
def test_warmup_compiles_the_workload_and_prediction_compiles_nothing(model):
  fresh = _fresh(model)
  rng = np.random.default_rng(1)
  sample = _texts([1, 3, 12, 20, 24, 30, 45, 60] + rng.integers(1, 60, size=8).tolist())
  with CompileCounter(fresh._candidates) as warm:
    shapes = fresh.warmup(sample, LABELS, batch_size=8)
  assert warm.count == len(shapes) == len(set(shapes)) >= 4
  assert {s.batch for s in shapes} == {1, 2, 4, 8}
  with CompileCounter() as after_warmup:
    assert fresh.warmup(sample, LABELS, batch_size=8) == shapes
    for trial in range(12):
      picked = [sample[i] for i in rng.choice(len(sample), size=int(rng.integers(1, 25)), replace=True)]
      fresh.batch_predict_entities(picked, LABELS, batch_size=int(rng.integers(1, 9)), threshold=0.3)
  assert after_warmup.names == []  # nothing at all compiled at prediction time
  assert fresh.compiled_shapes == set(shapes)
  # Words of many subtokens (a tokens bucket the sample never reached) do compile: the count can move.
  with CompileCounter(fresh._candidates) as new_bucket:
    long_words = " ".join(["Pneumonoultramicroscopicsilicovolcanoconiosis"] * 20)
    fresh.batch_predict_entities([long_words], LABELS, batch_size=8)
  assert new_bucket.count == 1


# ------------------------------------------------------------------------------------- persistent cache
def _run_python(code: str, env_updates: dict[str, str], drop=()) -> dict:
  env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("JAX_")}
  env.pop(compile_cache.ENV, None)
  env.update(PYTHONPATH=REPO, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", **env_updates)
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _predict_code(reference_dir: str, **kwargs) -> str:
  return (
    "import json, os, jax\n"
    "from jax import monitoring\n"
    "hits = []\n"
    "monitoring.register_event_listener(lambda name, **kw: hits.append(name.endswith('/cache_hits')))\n"
    "jax.numpy.ones(3).sum()  # something compiled before the model\n"
    "from gliner_jax import GLiNER\n"
    f"m = GLiNER.from_pretrained({reference_dir!r}, **{kwargs!r})\n"
    "m.predict_entities('Marie Curie lived in Paris .', ['person', 'city'])\n"
    "d = jax.config.jax_compilation_cache_dir\n"
    "print(json.dumps(dict(dir=d, min_s=jax.config.jax_persistent_cache_min_compile_time_secs, hits=sum(hits),"
    " files=sorted(os.listdir(d)) if d and os.path.isdir(d) else [])))\n"
  )


@pytest.mark.subprocess
def test_compilation_cache_is_on_by_default_and_reused(reference_dir, tmp_path):
  xdg = str(tmp_path / "xdg")
  default = _run_python(_predict_code(reference_dir), {"XDG_CACHE_HOME": xdg})
  assert default["dir"] == os.path.join(xdg, "gliner_jax", "jax_cache")
  assert default["min_s"] == compile_cache.MIN_COMPILE_SECONDS
  # Every program cached (threshold 0, the user's choice, kept); a second process reads them back.
  env = {"XDG_CACHE_HOME": xdg, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
  first = _run_python(_predict_code(reference_dir), env)
  assert first["min_s"] == 0 and any(span_candidates.__name__ in f for f in first["files"])
  second = _run_python(_predict_code(reference_dir), env)
  assert second["files"] == first["files"] and second["hits"] >= 1


@pytest.mark.subprocess
def test_compilation_cache_opt_outs_and_a_users_directory(reference_dir, tmp_path):
  env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
  assert _run_python(_predict_code(reference_dir), {**env, compile_cache.ENV: "0"})["dir"] is None
  assert _run_python(_predict_code(reference_dir, compilation_cache=False), env)["dir"] is None
  mine = str(tmp_path / "mine")
  assert _run_python(_predict_code(reference_dir), {**env, "JAX_COMPILATION_CACHE_DIR": mine})["dir"] == mine
  chosen = str(tmp_path / "chosen")
  assert _run_python(_predict_code(reference_dir), {**env, compile_cache.ENV: chosen})["dir"] == chosen
  assert not os.path.exists(tmp_path / "xdg")
