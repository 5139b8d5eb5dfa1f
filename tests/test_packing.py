"""Packing short texts into shared encoder rows (gliner_jax.processing.packing): each sequence reads as alone."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gliner_jax import GLiNER
from gliner_jax.inference.compile_counter import CompileCounter
from gliner_jax.model.encoders import EncoderConfig, build_encoder
from gliner_jax.model.encoders.attention import segment_mask, segment_positions
from gliner_jax.processing.buckets import BATCH_BUCKETS, TOKEN_BUCKETS, TYPE_BUCKETS, WORD_BUCKETS
from gliner_jax.processing.packing import (
  TEXT_BUCKETS,
  PackedShape,
  first_fit_decreasing,
  packed_batches,
  pad_packed_batch,
)

TINY = dict(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48)
ENCODERS = {
  "bert": dict(model_type="bert"),
  "roberta": dict(model_type="roberta", position_embedding_type="padding_offset", pad_token_id=1),
  "deberta": dict(
    model_type="deberta-v2",
    relative_attention=True,
    position_buckets=8,
    max_relative_positions=16,
    pos_att_type=("p2c", "c2p"),
    norm_rel_ebd="layer_norm",
    share_att_key=True,
    position_biased_input=False,
    type_vocab_size=0,
    layer_norm_eps=1e-7,
  ),
  "deberta_absolute": dict(
    model_type="deberta-v2",
    relative_attention=True,
    position_buckets=8,
    max_relative_positions=16,
    pos_att_type=("p2c", "c2p"),
    position_biased_input=True,
    type_vocab_size=0,
  ),
  "modernbert": dict(
    model_type="modernbert", layer_types=("sliding_attention", "full_attention"), local_attention=6, type_vocab_size=0
  ),
  "t5": dict(
    model_type="t5",
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
    gated_mlp=True,
    type_vocab_size=0,
  ),
}


# ----------------------------------------------------------------------------- host-side planning
def test_segment_mask_and_positions_by_brute_force():
  rng = np.random.default_rng(0)
  for _ in range(20):
    lengths = rng.integers(1, 6, size=rng.integers(1, 5))
    seg = np.concatenate([np.full(n, i + 1) for i, n in enumerate(lengths)] + [np.zeros(rng.integers(0, 4), int)])
    seg = np.pad(seg, (0, 24 - len(seg)))  # one shape (one compile): trailing padding is itself a case
    mask = np.asarray(segment_mask(jnp.asarray(seg[None])))[0, 0]
    pos = np.asarray(segment_positions(jnp.asarray(seg[None])))[0]
    for q, k in itertools.product(range(len(seg)), repeat=2):
      assert mask[q, k] == (seg[q] == seg[k] and seg[k] > 0)
    for t in range(len(seg)):
      first = min(j for j in range(len(seg)) if seg[j] == seg[t] and all(seg[j : t + 1] == seg[t]))
      assert pos[t] == t - first


def _optimal_bins(lengths, capacity):
  for n in range(1, len(lengths) + 1):
    for labels in itertools.product(range(n), repeat=len(lengths)):
      sums = np.zeros(n)
      np.add.at(sums, list(labels), lengths)
      if (sums <= capacity).all():
        return n
  return len(lengths)


def test_first_fit_decreasing_is_a_partition_near_optimal():
  rng = np.random.default_rng(1)
  for _ in range(40):
    lengths = [int(x) for x in rng.integers(1, 10, size=rng.integers(1, 7))]
    capacity = int(rng.integers(9, 16))
    bins = first_fit_decreasing(lengths, capacity)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= capacity for b in bins)
    assert len(bins) <= 11 / 9 * _optimal_bins(lengths, capacity) + 6 / 9  # FFD's bound
  assert first_fit_decreasing([20, 3], capacity=8) == [[0], [1]]  # too long: a bin of its own
  with pytest.raises(ValueError, match="capacity"):
    first_fit_decreasing([1], 0)


# ----------------------------------------------------------------------------- encoders
def _pack(lengths, pad_id, vocab, seed):
  rng = np.random.default_rng(seed)
  seqs = [rng.integers(3, vocab, size=n).astype(np.int32) for n in lengths]
  total = 32
  ids = np.full((1, total), pad_id, np.int32)
  seg = np.zeros((1, total), np.int32)
  offsets, o = [], 0
  for i, s in enumerate(seqs):
    ids[0, o : o + len(s)] = s
    seg[0, o : o + len(s)] = i + 1
    offsets.append(o)
    o += len(s)
  return seqs, ids, seg, offsets


@pytest.mark.parametrize(  # the deberta-v2 layouts (~5-10 s) are slow; bert, roberta, t5 and modernbert stay fast
  "family", [pytest.param(f, marks=pytest.mark.slow) if f.startswith("deberta") else f for f in sorted(ENCODERS)]
)
def test_packed_sequences_read_as_alone(family):
  """Three sequences in one row (and padding) give each sequence's unpacked last hidden state."""
  cfg = EncoderConfig(**TINY, **ENCODERS[family])
  encoder = build_encoder(cfg)
  seqs, ids, seg, offsets = _pack([7, 11, 5], cfg.pad_token_id, cfg.vocab_size, seed=len(family))
  params = encoder.init(jax.random.PRNGKey(0), ids, (seg > 0).astype(np.int32))
  packed = np.asarray(encoder.apply(params, ids, (seg > 0).astype(np.int32), segment_ids=seg))
  for s, o in zip(seqs, offsets):
    alone = np.asarray(encoder.apply(params, s[None], np.ones((1, len(s)), np.int32)))[0]
    np.testing.assert_allclose(packed[0, o : o + len(s)], alone, atol=2e-5, err_msg=family)


def test_packing_refuses_deberta_convolution():
  cfg = EncoderConfig(**TINY, **{**ENCODERS["deberta"], "conv_kernel_size": 3})
  encoder = build_encoder(cfg)
  _, ids, seg, _ = _pack([4, 4], 0, cfg.vocab_size, seed=0)
  params = encoder.init(jax.random.PRNGKey(0), ids, (seg > 0).astype(np.int32))
  with pytest.raises(ValueError, match="conv"):
    encoder.apply(params, ids, (seg > 0).astype(np.int32), segment_ids=seg)


def test_segment_ids_must_match_input_ids():
  cfg = EncoderConfig(**TINY, **ENCODERS["bert"])
  encoder = build_encoder(cfg)
  ids = np.ones((1, 8), np.int32)
  params = encoder.init(jax.random.PRNGKey(0), ids, ids)
  with pytest.raises(ValueError, match="segment_ids"):
    encoder.apply(params, ids, ids, segment_ids=np.ones((1, 7), np.int32))


# ----------------------------------------------------------------------------- predictor
TEXTS = [
  "Ada Lovelace worked with Charles Babbage in London.",
  "Paris is the capital of France.",
  "Marie Curie won the Nobel Prize in Physics in 1903 together with Pierre Curie and Henri Becquerel, "
  "after years of work in a shed in Paris on radioactivity.",
  "IBM opened an office in Tokyo.",
  "",
  "Angela Merkel met Emmanuel Macron in Berlin on Monday to discuss the budget of the European Union.",
  "Rome",
  "The Amazon river flows through Brazil and Peru before reaching the Atlantic Ocean.",
]
LABELS = ["person", "city", "country", "organization", "date", "award"]


@pytest.fixture(scope="module")
def texts_and_long(model: GLiNER):
  long_text = " ".join([TEXTS[5]] * 12)  # longer than max_len words: windows, packed with the others
  assert len(list(model.words_splitter(long_text))) > model.config.max_len
  return TEXTS + [long_text] + [t.lower() for t in TEXTS]


@pytest.fixture(scope="module")
def model(converted_minilm) -> GLiNER:
  return GLiNER.from_pretrained(converted_minilm)


def _same(got, want, atol=1e-5):
  assert len(got) == len(want)
  for g, w in zip(got, want):
    assert [(e.start, e.end, e.label) for e in g] == [(e.start, e.end, e.label) for e in w]
    np.testing.assert_allclose([e.score for e in g], [e.score for e in w], atol=atol)


@pytest.mark.parametrize(
  "packing, threshold, flat_ner",
  [  # all slow (13-60 s each); the fast tier keeps test_packed_sequences_read_as_alone and the brute-force mask test
    pytest.param(*c, marks=pytest.mark.slow)
    for c in itertools.product([True, 64], [0.3, 0.5], [True, False])
    if (c[1], c[2]) in ((0.3, True), (0.5, False))
  ],
)
def test_packed_prediction_gives_the_same_entities(model, texts_and_long, threshold, flat_ner, packing):
  kw = dict(threshold=threshold, flat_ner=flat_ner, batch_size=4)
  want = model.batch_predict_entities(texts_and_long, LABELS, **kw)
  assert sum(map(len, want)) > 10
  got = model.batch_predict_entities(texts_and_long, LABELS, packing=packing, **kw)
  _same(got, want)


@pytest.mark.slow  # ~26-45 s
def test_packing_with_more_labels_than_max_types(model):
  labels = [f"type {i}" for i in range(model.config.max_types + 3)] + LABELS
  want = model.batch_predict_entities(TEXTS, labels, threshold=0.3)
  _same(model.batch_predict_entities(TEXTS, labels, threshold=0.3, packing=True), want)


def test_packed_shapes_are_buckets_and_rows_fill(model, texts_and_long):
  words = [[w for w, _, _ in model.words_splitter(t)] for t in texts_and_long]
  _, encoded = model._plan(words, [LABELS])
  for capacity in (64, 256):
    batches = packed_batches(encoded, batch_size=4, capacity=capacity)
    assert sorted(i for members, _, _ in batches for i in members) == list(range(len(encoded)))
    for members, rows, shape in batches:
      assert isinstance(shape, PackedShape) and members == [i for r in rows for i in r]
      assert shape.rows in BATCH_BUCKETS and shape.rows <= 4 and shape.tokens in TOKEN_BUCKETS
      assert shape.texts in TEXT_BUCKETS and shape.words in WORD_BUCKETS and shape.types in TYPE_BUCKETS
      for r in rows:
        fill = sum(encoded[i].num_tokens for i in r)
        assert fill <= max(capacity, max(encoded[i].num_tokens for i in r)) and fill <= shape.tokens
      arrays = pad_packed_batch(encoded, rows, shape, model.prompt_tokenizer.pad_id)
      assert arrays["input_ids"].shape == arrays["segment_ids"].shape == (shape.rows, shape.tokens)
      flat = arrays["input_ids"].reshape(-1)
      for j, i in enumerate(members):  # every word / type index points at the text's own token
        e = encoded[i]
        got = arrays["word_token_index"][j, : e.num_words]
        np.testing.assert_array_equal(flat[got[got >= 0]], e.input_ids[e.word_token_index[e.word_token_index >= 0]])
        np.testing.assert_array_equal(
          flat[arrays["type_token_index"][j, : len(e.type_token_index)]], model.prompt_tokenizer.class_token_id
        )
  fewer = len(packed_batches(encoded, batch_size=4, capacity=256))
  assert fewer < -(-len(encoded) // 4)  # fewer device calls than one text per row


def test_packing_arguments_are_checked(model):
  for bad in (-1, 10**6, 2.5, "yes"):
    with pytest.raises(ValueError, match="packing"):
      model.batch_predict_entities(TEXTS, LABELS, packing=bad)
  assert model.batch_predict_entities(TEXTS, LABELS, packing=0) == model.batch_predict_entities(TEXTS, LABELS)


@pytest.mark.slow  # ~14 s; tests/test_inference.py's bounded-compiles test stays in the fast tier
def test_packed_warmup_compiles_what_prediction_runs(converted_minilm, texts_and_long):
  fresh = GLiNER.from_pretrained(converted_minilm, compilation_cache=False)
  with CompileCounter(fresh._candidates) as warm:
    shapes = fresh.warmup(texts_and_long, LABELS, batch_size=4, packing=True)
  assert shapes and all(isinstance(s, PackedShape) for s in shapes)
  assert warm.count == len(shapes) == len(fresh.compiled_shapes)
  with CompileCounter(fresh._candidates) as predicting:
    fresh.batch_predict_entities(texts_and_long, LABELS, batch_size=4, packing=True)
  assert predicting.count == 0  # no model program compiled at prediction time
  assert fresh.warmup(texts_and_long, LABELS, batch_size=4, packing=True) == shapes
