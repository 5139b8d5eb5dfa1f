"""gliner_jax checkpoint IO: exact float32 round trip, bfloat16 shipping, save/load of a whole GLiNER."""

from __future__ import annotations

import os

import jax
import ml_dtypes
import numpy as np
import pytest

from conftest import PARITY_TEXTS, _build_reference
from gliner_jax import GLiNER
from gliner_jax.interop.checkpoint import (
  PARAMS_FILE,
  flatten_params,
  is_checkpoint,
  load_checkpoint,
  save_checkpoint,
  unflatten_params,
)
from gliner_jax.model.config import CONFIG_FILE, GLiNERConfig

TINY = dict(hidden_size=64, max_width=4, max_len=24, max_types=3)
LABELS = ["person", "location", "organization"]  # one label group: one compiled program per model


@pytest.fixture(scope="module")
def model(bert_tiny_dir, tmp_path_factory) -> GLiNER:
  """A GLiNER converted on the fly from a gliner 0.2.29 reference built on bert-tiny."""
  import torch

  out = str(tmp_path_factory.mktemp("ref_tiny"))
  _build_reference(bert_tiny_dir, out, **TINY)
  torch.set_num_threads(1)
  return GLiNER.from_pretrained(out)


def _leaves(params) -> dict[str, np.ndarray]:
  return flatten_params(jax.device_get(params))


def test_flatten_unflatten_round_trip():
  tree = {"a": {"b": np.ones(2), "c": {"d": np.zeros(3)}}, "e": np.arange(4)}
  flat = flatten_params(tree)
  assert sorted(flat) == ["a/b", "a/c/d", "e"]
  back = unflatten_params(flat)
  assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(tree)


def test_save_load_is_bit_identical(model, tmp_path):
  save_checkpoint(str(tmp_path), model.config, jax.device_get(model.params), model.tokenizer)
  assert is_checkpoint(str(tmp_path))
  config, params = load_checkpoint(str(tmp_path))
  assert config == model.config and isinstance(config, GLiNERConfig)
  want, got = _leaves(model.params), _leaves(params)
  assert sorted(want) == sorted(got) and len(got) > 30
  for name in want:
    assert got[name].dtype == np.float32, name
    assert np.array_equal(got[name], want[name]), name


def test_bfloat16_save_upcasts_on_load(model, tmp_path):
  full, half = str(tmp_path / "f32"), str(tmp_path / "bf16")
  save_checkpoint(full, model.config, jax.device_get(model.params))
  save_checkpoint(half, model.config, jax.device_get(model.params), dtype="bfloat16")
  size = lambda d: os.path.getsize(os.path.join(d, PARAMS_FILE))
  assert size(half) < 0.55 * size(full)
  _, stored = load_checkpoint(half, dtype=None)
  config, params = load_checkpoint(half)
  assert config == model.config
  want, got, stored = _leaves(model.params), _leaves(params), flatten_params(stored)
  for name in want:
    assert stored[name].dtype == ml_dtypes.bfloat16, name
    assert got[name].dtype == np.float32, name
    np.testing.assert_array_equal(got[name], want[name].astype(ml_dtypes.bfloat16).astype(np.float32))
    # bfloat16 keeps 8 significant bits: round-to-nearest is within 2^-8 relative.
    assert np.all(np.abs(got[name] - want[name]) <= 2.0**-8 * np.abs(want[name])), name


def test_save_pretrained_then_from_pretrained_predicts_identically(model, tmp_path):
  model.save_pretrained(str(tmp_path))
  assert sorted(os.listdir(tmp_path)) >= sorted([CONFIG_FILE, PARAMS_FILE])
  loaded = GLiNER.from_pretrained(str(tmp_path))
  assert loaded.config == model.config
  texts = PARITY_TEXTS[:6]
  want = model.batch_predict_entities(texts, LABELS, threshold=0.3)
  got = loaded.batch_predict_entities(texts, LABELS, threshold=0.3)
  assert sum(map(len, want)) >= 5
  assert got == want  # Entity equality includes the exact float score


def test_neither_format_is_a_clear_error(tmp_path):
  (tmp_path / "notes.txt").write_text("not a model")
  with pytest.raises(FileNotFoundError) as err:
    GLiNER.from_pretrained(str(tmp_path))
  assert CONFIG_FILE in str(err.value) and "gliner_config.json" in str(err.value)
  with pytest.raises(FileNotFoundError, match=CONFIG_FILE):
    load_checkpoint(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="no model directory"):
    GLiNER.from_pretrained(str(tmp_path / "missing" / "model"))


def test_missing_params_file_is_named(model, tmp_path):
  model.config.save(str(tmp_path))
  assert not is_checkpoint(str(tmp_path))
  with pytest.raises(FileNotFoundError, match=PARAMS_FILE):
    load_checkpoint(str(tmp_path))
