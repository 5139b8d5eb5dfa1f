"""Labels with descriptions ({name: description}) predict as gliner 0.2.29 predicts them.

gliner 0.2.29 reads a description where it would read the label's name (in the prompt of a uni-encoder,
in the labels encoder's input of a bi-encoder) and reports entities under the name. The models are the
parity tests' MiniLM stand-ins (`GLiNER.from_config`, heads scaled so entities appear).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_relex_predict import LABELS, RELATIONS, build_relex_reference
from test_relex_predict import TEXTS as RELEX_TEXTS

from conftest import PARITY_LABELS, PARITY_TEXTS, _build_reference
from gliner_jax import GLiNER
from gliner_jax.inference.relex import RelexGLiNER

DESCRIPTIONS = {label: f"{label}, a kind of named thing" for label in PARITY_LABELS}
TEXTS = PARITY_TEXTS[:10]


def _as_tuples(entities):
  return [(x.start, x.end, x.label) for x in entities]


def _same(expected, got) -> int:
  for e, g in zip(expected, got):
    assert [(x["start"], x["end"], x["label"]) for x in e] == [(x.start, x.end, x.label) for x in g]
    np.testing.assert_allclose([x.score for x in g], [x["score"] for x in e], atol=1e-4)
  return sum(len(e) for e in expected)


@pytest.mark.slow
def test_uni_encoder_descriptions_match_gliner(reference_minilm, converted_minilm):
  ref, _ = reference_minilm
  ours = GLiNER.from_pretrained(converted_minilm)
  expected = ref.inference(TEXTS, DESCRIPTIONS, threshold=0.3, batch_size=4)
  got = ours.batch_predict_entities(TEXTS, DESCRIPTIONS, threshold=0.3, batch_size=4)
  assert _same(expected, got) > 0
  assert {x.label for g in got for x in g} <= set(PARITY_LABELS)  # names, not descriptions
  by_name = ours.batch_predict_entities(TEXTS, list(PARITY_LABELS), threshold=0.3, batch_size=4)
  assert [[x.score for x in g] for g in by_name] != [[x.score for x in g] for g in got]  # descriptions were read
  one = ours.predict_entities(TEXTS[0], DESCRIPTIONS, threshold=0.3)
  assert _as_tuples(one) == _as_tuples(got[0])
  np.testing.assert_allclose([x.score for x in one], [x.score for x in got[0]], atol=1e-5)


@pytest.mark.slow
def test_bi_encoder_descriptions_match_gliner(minilm_dir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("ref_bi_descriptions"))
  ref = _build_reference(minilm_dir, out, labels_encoder=minilm_dir, hidden_size=512, max_width=12, max_len=96)
  ours = GLiNER.from_pretrained(out)
  expected = ref.inference(TEXTS, DESCRIPTIONS, threshold=0.3, batch_size=4)
  got = ours.batch_predict_entities(TEXTS, DESCRIPTIONS, threshold=0.3, batch_size=4)
  assert _same(expected, got) > 0
  vectors = ours.encode_labels(DESCRIPTIONS)
  np.testing.assert_allclose(vectors, ours.encode_labels(list(DESCRIPTIONS.values())), atol=0)
  cached = ours.batch_predict_entities(TEXTS, DESCRIPTIONS, threshold=0.3, batch_size=4, label_embeddings=vectors)
  assert [_as_tuples(c) for c in cached] == [_as_tuples(g) for g in got]


def test_a_repeated_description_is_refused(converted_minilm):
  ours = GLiNER.from_pretrained(converted_minilm)
  with pytest.raises(ValueError, match="same description"):
    ours.predict_entities("Paris", {"city": "a place", "town": "a place"})


@pytest.mark.slow
def test_relex_entity_descriptions_match_gliner(minilm_dir, tmp_path):
  """Relex models take described entity labels (relation labels stay names, as in gliner 0.2.29)."""
  ref = build_relex_reference(minilm_dir, str(tmp_path), relations_layer="dot")
  ours = RelexGLiNER.from_pretrained(str(tmp_path))
  described = {label: f"{label}, a kind of named thing" for label in LABELS}
  found = 0
  for text in RELEX_TEXTS:
    want_e, want_r = ref.predict_relations(text, described, RELATIONS, threshold=0.3, relation_threshold=0.3)
    got_e, got_r = ours.predict_relations(text, described, RELATIONS, threshold=0.3, relation_threshold=0.3)
    assert [(e["start"], e["end"], e["label"]) for e in want_e] == _as_tuples(got_e)
    np.testing.assert_allclose([e.score for e in got_e], [e["score"] for e in want_e], atol=1e-4)
    assert [(r["head"]["start"], r["tail"]["start"], r["relation"]) for r in want_r] == [
      (r["head"]["start"], r["tail"]["start"], r["relation"]) for r in got_r
    ]
    found += len(got_e)
  assert found > 0
