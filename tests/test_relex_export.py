"""Relex models (span and token) exported with `save_pretrained(format="gliner")` and read back by gliner 0.2.29's own
`GLiNER.from_pretrained` (offline, empty hub cache): the same tensors as the gliner model they were loaded from, bit
for bit, and gliner's `predict_relations` on the export gives what ours gives (the same entities and relations in
the same order, scores within 1e-4, at two threshold pairs; `check_against_reference` of test_relex_predict).
The span `mlp` case finds no relation at these thresholds (its random adjacency layer keeps no pair): it checks the
mlp tensors and the entities. Also: the export loads back into gliner_jax with the same parameters, and bad exports
are refused by name.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest
from test_export_gliner import load_with_gliner
from test_relex_predict import build_relex_reference, check_against_reference

from conftest import require_module
from gliner_jax import GLiNER
from gliner_jax.inference.relex import RelexGLiNER
from gliner_jax.interop.checkpoint import flatten_params
from gliner_jax.interop.relex_convert import relex_state_dict
from gliner_jax.interop.state_dict import read_state_dict

require_module("torch")
require_module("gliner")

CASES = {
  "span-dot": dict(relations_layer="dot"),
  "span-mlp": dict(relations_layer="mlp"),
  "token-none": dict(relations_layer="none", span_mode="token_level"),
  "token-dot": dict(relations_layer="dot", span_mode="token_level"),
}


def _export(minilm_dir, tmp_path, config) -> tuple[RelexGLiNER, str, str]:
  reference_dir, export_dir = str(tmp_path / "reference"), str(tmp_path / "export")
  build_relex_reference(minilm_dir, reference_dir, **config)
  ours = RelexGLiNER.from_pretrained(reference_dir)
  ours.save_pretrained(export_dir, format="gliner")
  return ours, reference_dir, export_dir


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_export_reads_back_in_gliner_with_the_same_relations(minilm_dir, tmp_path, case):
  ours, reference_dir, export_dir = _export(minilm_dir, tmp_path, CASES[case])
  want, got = read_state_dict(reference_dir), read_state_dict(export_dir)
  pooler = {k for k in want if ".pooler." in k}  # gliner never reads the HF pooler; export leaves it out
  assert set(got) == set(want) - pooler
  for name in got:
    np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(want[name]), err_msg=name)
  with open(os.path.join(export_dir, "gliner_config.json")) as f:
    config = json.load(f)
  token = CASES[case].get("span_mode") == "token_level"
  assert config["model_type"] == ("gliner_uni_encoder_token_relex" if token else "gliner_uni_encoder_span_relex")
  assert config["relations_layer"] == CASES[case]["relations_layer"]
  loaded = load_with_gliner(export_dir)
  assert type(loaded.model).__name__ == ("UniEncoderTokenRelexModel" if token else "UniEncoderSpanRelexModel")
  counts = check_against_reference(loaded, ours)
  if CASES[case]["relations_layer"] != "mlp":  # the random mlp adjacency keeps no pair at these thresholds
    assert sum(counts) > 0 and len(set(counts)) > 1  # relations found, and the thresholds matter
  again = RelexGLiNER.from_pretrained(export_dir)
  assert again.config == ours.config
  flat_a, flat_b = flatten_params(jax.device_get(again.params)), flatten_params(jax.device_get(ours.params))
  assert set(flat_a) == set(flat_b)
  for name in flat_a:
    np.testing.assert_array_equal(flat_a[name], flat_b[name], err_msg=name)


@pytest.mark.slow
def test_export_refuses_bad_input(minilm_dir, tmp_path):
  ours, _, _ = _export(minilm_dir, tmp_path, CASES["span-dot"])
  with pytest.raises(ValueError, match="format='onnx': use 'gliner_jax' or 'gliner'"):
    ours.save_pretrained(str(tmp_path / "other"), format="onnx")
  params = dict(jax.device_get(ours.params))
  params["pair_projection"] = {"dense_in": params["pair_projection"]["dense_in"]}
  with pytest.raises(ValueError, match="missing: pair_projection/dense_out/kernel"):
    relex_state_dict(ours.relex_config, params)


@pytest.mark.slow
def test_a_relex_folder_given_to_gliner_loads_as_relex_gliner(minilm_dir, tmp_path):
  """GLiNER.from_pretrained reads a relex folder as a RelexGLiNER (both halves), whose entities are those of
  predict_relations with no relation labels; its gliner_jax checkpoint loads back the same."""
  folder = str(tmp_path / "reference")
  build_relex_reference(minilm_dir, folder, relations_layer="dot")
  model = GLiNER.from_pretrained(folder)
  assert type(model) is RelexGLiNER and model.config.relations_layer == "dot"
  text = "Alice Smith works at Acme Corp in Paris. Bob Jones founded Globex in Berlin."
  labels = ["person", "organization", "city"]
  entities = model.predict_entities(text, labels, threshold=0.3)
  assert entities and entities == model.predict_relations(text, labels, [], threshold=0.3)[0]
  checkpoint = str(tmp_path / "ours")
  model.save_pretrained(checkpoint)
  again = GLiNER.from_pretrained(checkpoint)
  assert type(again) is RelexGLiNER and again.config == model.config
  assert again.predict_entities(text, labels, threshold=0.3) == entities
