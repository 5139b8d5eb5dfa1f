"""The whole model against gliner 0.2.29: logits, decoded entities and scores (fp32).

Reference models are built with `GLiNER.from_config` on the local MiniLM and on a small random
DeBERTa-v3 (sentencepiece tokenizer trained locally), saved, converted, and compared on
PARITY_TEXTS (short, up to max_len words, punctuation, non-ASCII).
Tolerances: logits max |delta| <= 1e-4; entities identical as (start, end, label); scores within 1e-4.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from conftest import PARITY_LABELS, PARITY_TEXTS, reference_logits
from gliner_jax import GLiNER
from gliner_jax.processing.buckets import batch_shape, pad_batch

LOGIT_TOL = 1e-4
SCORE_TOL = 1e-4


def _our_logits(model: GLiNER, texts, labels) -> tuple[np.ndarray, np.ndarray]:
  words = [[w for w, _, _ in model.words_splitter(t)] for t in texts]
  enc = model.prompt_tokenizer.encode_batch(words, [labels] * len(texts))
  batch = pad_batch(enc, batch_shape(enc, len(texts)), model.prompt_tokenizer.pad_id)
  return model.logits(batch), batch["num_words"]


@pytest.fixture(scope="module", params=["minilm", "deberta"])
def pair(request):
  ref, _ = request.getfixturevalue(f"reference_{request.param}")
  ours = GLiNER.from_pretrained(request.getfixturevalue(f"converted_{request.param}"))
  return request.param, ref, ours


def test_texts_cover_the_cases(pair):
  _, _, ours = pair
  lengths = [len(list(ours.words_splitter(t))) for t in PARITY_TEXTS]
  assert len(PARITY_TEXTS) >= 20
  assert min(lengths) == 1 and max(lengths) == ours.config.max_len  # from one word up to max_len
  assert any(not t.isascii() for t in PARITY_TEXTS)


@pytest.mark.parametrize("impl", [pytest.param("factored", marks=pytest.mark.slow), "reference"])  # fast: reference
def test_logits_match_reference(pair, impl, request):
  name, ref, _ = pair
  ours = GLiNER.from_pretrained(request.getfixturevalue(f"converted_{name}"), span_head_impl=impl)
  for lo in range(0, len(PARITY_TEXTS), 6):
    texts = PARITY_TEXTS[lo : lo + 6]
    expected = reference_logits(ref, texts, PARITY_LABELS)
    got, num_words = _our_logits(ours, texts, PARITY_LABELS)
    b, w, k, c = expected.shape
    got = got[:b, :w, :k, :c]
    valid = (np.arange(w)[:, None] + np.arange(k)[None, :])[None] < num_words[:b, None, None]
    delta = np.abs(got - expected)[valid]
    assert np.abs(expected[valid]).max() > 1.0  # the heads were scaled so that entities appear
    assert delta.max() <= LOGIT_TOL, f"{name}/{impl}: max |delta logits| = {delta.max():.2e}"


@pytest.mark.parametrize(
  "flat_ner, threshold",
  [  # the fast tier keeps (False, 0.5); the others take up to 45 s each
    pytest.param(*c, marks=() if c == (False, 0.5) else pytest.mark.slow)
    for c in itertools.product([True, False], [0.3, 0.5])
  ],
)
@pytest.mark.parametrize("pair", ["minilm", pytest.param("deberta", marks=pytest.mark.slow)], indirect=True)
def test_entities_match_reference(pair, threshold, flat_ner):
  name, ref, ours = pair
  expected = ref.inference(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  got = ours.batch_predict_entities(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  total = 0
  for i, (e, g) in enumerate(zip(expected, got)):
    assert [(x["start"], x["end"], x["label"]) for x in e] == [(x.start, x.end, x.label) for x in g], (
      f"{name}: text {i} differs"
    )
    assert [x["text"] for x in e] == [x.text for x in g]
    np.testing.assert_allclose([x.score for x in g], [x["score"] for x in e], atol=SCORE_TOL)
    total += len(e)
  assert total >= 20  # the comparison is not vacuous


@pytest.mark.slow  # 6-13 s each; tests/test_span_modes.py keeps a multi-label parity test in the fast tier
def test_multi_label_matches_reference(pair):
  _, ref, ours = pair
  expected = ref.inference(PARITY_TEXTS[:8], PARITY_LABELS, threshold=0.5, flat_ner=False, multi_label=True)
  got = ours.batch_predict_entities(PARITY_TEXTS[:8], PARITY_LABELS, threshold=0.5, flat_ner=False, multi_label=True)
  for e, g in zip(expected, got):
    assert [(x["start"], x["end"], x["label"]) for x in e] == [(x.start, x.end, x.label) for x in g]


@pytest.mark.slow  # ~20 s; builds and converts a model of its own
def test_name_token_type_vectors_match_reference(minilm_dir, tmp_path_factory):
  """embed_ent_token=False (type vector = output of the token after <<ENT>>), hidden 384 with no projection:
  the shipped default model's architecture."""
  from conftest import _build_reference
  from gliner_jax.interop.convert import convert_gliner_checkpoint

  ref_dir = str(tmp_path_factory.mktemp("ref_name_token"))
  ref = _build_reference(minilm_dir, ref_dir, hidden_size=384, max_width=12, max_len=96, embed_ent_token=False)
  assert ref.config.embed_ent_token is False
  ours = GLiNER.from_pretrained(convert_gliner_checkpoint(ref_dir, str(tmp_path_factory.mktemp("jax_name_token"))))
  assert ours.config.embed_ent_token is False and not ours.config.needs_projection
  texts = PARITY_TEXTS[:6]
  expected = reference_logits(ref, texts, PARITY_LABELS)
  got, num_words = _our_logits(ours, texts, PARITY_LABELS)
  b, w, k, c = expected.shape
  valid = (np.arange(w)[:, None] + np.arange(k)[None, :])[None] < num_words[:b, None, None]
  delta = np.abs(got[:b, :w, :k, :c] - expected)[valid]
  assert np.abs(expected[valid]).max() > 1.0
  assert delta.max() <= LOGIT_TOL, f"max |delta logits| = {delta.max():.2e}"
