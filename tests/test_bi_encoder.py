"""Bi-encoder GLiNER (a labels encoder beside the text encoder) against gliner 0.2.29's BiEncoderSpanGLiNER.

The reference is built with `gliner.GLiNER.from_config({"model_name": MiniLM, "labels_encoder": MiniLM, ...})`
(hidden 512, so both projections exist; BiLSTM configured, which gliner never applies), heads scaled so
logits spread out, saved, and loaded by `gliner_jax.GLiNER.from_pretrained`. Compared: logits, entities
at thresholds 0.3 / 0.5, flat and nested, label vectors, 2,000 labels in one call, the export back to
gliner and our own checkpoint. The chunked scoring (text once, label chunks) is checked against the
whole model for both span heads; the recipe and a few training steps on a tiny random bi-encoder.
Tolerances: logits and label vectors max |delta| <= 1e-4; entities identical as (start, end, label,
text); scores within 1e-4.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import tempfile
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import PARITY_LABELS, PARITY_TEXTS, _build_reference, reference_logits
from gliner_jax import DEFAULT_MODEL, GLiNER
from gliner_jax.data.bi_encoder import BiEncoderBatchIterator, batch_label_set, batch_recipe, make_bi_encoder_batch
from gliner_jax.data.readers import NERExample
from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.inference.bi_encoder import BiEncoderGLiNER
from gliner_jax.interop.convert import LABELS_ENCODER_PREFIX, ConversionError, convert_gliner_checkpoint
from gliner_jax.interop.state_dict import read_state_dict
from gliner_jax.model.bi_encoder import GLiNERBiEncoderModel, span_chunk_logits
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.processing.bi_encoder_inputs import LabelTokenizer, TextTokenizer, text_inputs
from gliner_jax.processing.buckets import batch_shape, pad_batch

LOGIT_TOL = 1e-4
SCORE_TOL = 1e-4
POOLERS = {
  "token_rep_layer.bert_layer.model.pooler.dense.weight",
  "token_rep_layer.bert_layer.model.pooler.dense.bias",
  LABELS_ENCODER_PREFIX + "pooler.dense.weight",
  LABELS_ENCODER_PREFIX + "pooler.dense.bias",
}


@pytest.fixture(scope="module")
def reference(minilm_dir, tmp_path_factory):
  """(gliner bi-encoder, its saved folder)."""
  out = str(tmp_path_factory.mktemp("ref_bi_encoder"))
  ref = _build_reference(minilm_dir, out, labels_encoder=minilm_dir, hidden_size=512, max_width=12, max_len=96)
  assert type(ref).__name__ == "BiEncoderSpanGLiNER" and ref.config.num_rnn_layers == 1
  return ref, out


@pytest.fixture(scope="module")
def ours(reference) -> BiEncoderGLiNER:
  return GLiNER.from_pretrained(reference[1])


def our_logits(model: BiEncoderGLiNER, texts, labels) -> tuple[np.ndarray, np.ndarray]:
  words = [[w for w, _, _ in model.words_splitter(t)] for t in texts]
  enc = model.prompt_tokenizer.encode_batch(words, [[]] * len(texts))
  batch = text_inputs(pad_batch(enc, batch_shape(enc, len(texts)), model.prompt_tokenizer.pad_id))
  ids, mask = model.label_batcher.batch(labels)
  return model.logits(dict(batch, labels_input_ids=ids, labels_attention_mask=mask)), batch["num_words"]


def max_logit_delta(expected: np.ndarray, got: np.ndarray, num_words: np.ndarray) -> tuple[float, float]:
  b, w, k, c = expected.shape
  valid = (np.arange(w)[:, None] + np.arange(k)[None, :])[None] < num_words[:b, None, None]
  return float(np.abs(got[:b, :w, :k, :c] - expected)[valid].max()), float(np.abs(expected[valid]).max())


def assert_same_entities(expected, got, name: str = "") -> int:
  """expected: gliner's dicts, got: our Entity lists; returns the number of entities."""
  total = 0
  for i, (e, g) in enumerate(zip(expected, got, strict=True)):
    assert [(x["start"], x["end"], x["label"], x["text"]) for x in e] == [
      (x.start, x.end, x.label, x.text) for x in g
    ], f"{name}: text {i} differs"
    np.testing.assert_allclose([x.score for x in g], [x["score"] for x in e], atol=SCORE_TOL)
    total += len(e)
  return total


def load_with_gliner(folder: str):
  """gliner 0.2.29's loader, offline with an empty hub cache: only the folder can serve it."""
  import torch
  from gliner import GLiNER as RefGLiNER

  torch.set_num_threads(2)
  with warnings.catch_warnings(), tempfile.TemporaryDirectory() as empty_cache:
    warnings.simplefilter("ignore")
    model = RefGLiNER.from_pretrained(folder, local_files_only=True, cache_dir=empty_cache)
  model.eval()
  return model


# ------------------------------------------------------------------------------------ config
def test_converted_config_is_the_references(ours, reference, minilm_dir):
  cfg = ours.config
  assert type(ours) is BiEncoderGLiNER and cfg.is_bi_encoder
  with open(os.path.join(minilm_dir, "config.json")) as f:
    minilm = EncoderConfig.from_hf_dict(json.load(f))
  assert cfg.labels_encoder == minilm and cfg.encoder == minilm
  assert cfg.needs_projection and cfg.needs_labels_projection and cfg.num_rnn_layers == 0
  assert (cfg.hidden_size, cfg.max_width, cfg.max_len, cfg.span_mode) == (512, 12, 96, "markerV0")
  assert cfg.labels_encoder_name == cfg.model_name == "nreimers/MiniLM-L6-H384-uncased"  # names, not paths
  assert sorted(ours.params) == [
    "encoder",
    "labels_encoder",
    "labels_projection",
    "projection",
    "prompt_head",
    "span_head",
  ]
  assert GLiNERConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_config_validation():
  enc = EncoderConfig(
    model_type="bert", vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
  )
  with pytest.raises(ValueError, match="num_rnn_layers=0"):
    GLiNERConfig(encoder=enc, labels_encoder=enc, hidden_size=16)
  with pytest.raises(ValueError, match="markerV0"):
    GLiNERConfig(encoder=enc, labels_encoder=enc, hidden_size=16, num_rnn_layers=0, span_mode="query")
  with pytest.raises(ValueError, match="labels_pooling"):
    GLiNERConfig(encoder=enc, labels_encoder=enc, hidden_size=16, num_rnn_layers=0, labels_pooling="max")
  hf = enc.to_hf_dict()
  with pytest.raises(ValueError, match="labels_encoder_config"):
    GLiNERConfig.from_reference({"encoder_config": hf, "labels_encoder": "x"})
  cfg = GLiNERConfig.from_reference({"encoder_config": hf, "labels_encoder": "x", "labels_encoder_config": hf})
  assert cfg.labels_encoder == enc and cfg.num_rnn_layers == 0 and cfg.labels_encoder_name == "x"


def test_uni_encoders_have_no_encode_labels():
  model = GLiNER.from_pretrained(DEFAULT_MODEL)
  assert not model.config.is_bi_encoder and type(model) is GLiNER
  with pytest.raises(ValueError, match="bi-encoder"):
    model.encode_labels(["person"])


# ------------------------------------------------------------------------------------ parity
@pytest.mark.slow
def test_packed_texts_give_the_same_entities(ours):
  texts = PARITY_TEXTS + [" ".join(PARITY_TEXTS)]  # short texts and one that windows
  want = ours.batch_predict_entities(texts, PARITY_LABELS, threshold=0.3, batch_size=4)
  got = ours.batch_predict_entities(texts, PARITY_LABELS, threshold=0.3, batch_size=4, packing=True)
  assert sum(map(len, want)) >= 20
  for g, w in zip(got, want):
    assert [(e.start, e.end, e.label) for e in g] == [(e.start, e.end, e.label) for e in w]
    np.testing.assert_allclose([e.score for e in g], [e.score for e in w], atol=1e-5)


def test_label_vectors_match_reference(ours, reference):
  ref, _ = reference
  labels = PARITY_LABELS + ["a much longer label name about things", "x"]
  expected = ref.encode_labels(labels, batch_size=8).numpy()
  got = ours.encode_labels(labels)
  assert got.shape == (len(labels), 512) and got.dtype == np.float32
  assert np.abs(got - expected).max() <= 1e-4, float(np.abs(got - expected).max())


@pytest.mark.parametrize("impl", [pytest.param("factored", marks=pytest.mark.slow), "reference"])
def test_logits_match_reference(reference, impl, ours):
  ref, folder = reference
  model = ours if impl == "factored" else GLiNER.from_pretrained(folder, span_head_impl="reference")
  for lo in (0, 16) if impl == "factored" else (0,):  # short texts; up to max_len words
    texts = PARITY_TEXTS[lo : lo + 6]
    expected = reference_logits(ref, texts, PARITY_LABELS)
    got, num_words = our_logits(model, texts, PARITY_LABELS)
    delta, scale = max_logit_delta(expected, got, num_words)
    assert scale > 1.0, "the heads were scaled so that entities appear"
    assert delta <= LOGIT_TOL, f"{impl}: max |delta logits| = {delta:.2e}"


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [0.3, 0.5])
@pytest.mark.parametrize("flat_ner", [True, False])
def test_entities_match_reference(reference, ours, threshold, flat_ner):
  ref, _ = reference
  expected = ref.inference(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  got = ours.batch_predict_entities(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  assert assert_same_entities(expected, got) >= 20  # the comparison is not vacuous


@pytest.mark.slow  # ~10 s; fast: the label-vector and logits parity, and the checkpoint round trip
def test_precomputed_label_embeddings_give_the_plain_call(ours, reference):
  ref, _ = reference
  vectors = ours.encode_labels(PARITY_LABELS)
  plain = ours.batch_predict_entities(PARITY_TEXTS[:8], PARITY_LABELS, threshold=0.3, flat_ner=False)
  cached = ours.batch_predict_entities(
    PARITY_TEXTS[:8], PARITY_LABELS, threshold=0.3, flat_ner=False, label_embeddings=vectors
  )
  assert cached == plain and sum(map(len, plain)) > 10
  one = ours.predict_entities(PARITY_TEXTS[0], PARITY_LABELS, threshold=0.3, flat_ner=False, label_embeddings=vectors)
  assert [(e.start, e.end, e.label) for e in one] == [(e.start, e.end, e.label) for e in plain[0]]  # batch of 1
  np.testing.assert_allclose([e.score for e in one], [e.score for e in plain[0]], atol=1e-6)
  # gliner's own precomputed path agrees too
  ref_vectors = ref.encode_labels(PARITY_LABELS, batch_size=8)
  expected = ref.batch_predict_with_embeds(PARITY_TEXTS[:8], ref_vectors, PARITY_LABELS, threshold=0.3, flat_ner=False)
  assert_same_entities(expected, cached)
  with pytest.raises(ValueError, match="label_embeddings has shape"):
    ours.batch_predict_entities(PARITY_TEXTS[:1], PARITY_LABELS, label_embeddings=vectors[:3])


def synthetic_labels(n: int) -> list[str]:
  first = "red green blue small large old new fast slow rare common famous local foreign public private".split()
  second = "river city person company product event award disease drug song film book team tool law".split()
  third = "name type group unit site kind brand class model series".split()
  combos = [f"{a} {b} {c}" for a in first for b in second for c in third]
  rng = np.random.default_rng(0)
  picked = [combos[i] for i in rng.choice(len(combos), size=n - len(PARITY_LABELS), replace=False)]
  return picked[:1000] + PARITY_LABELS + picked[1000:]


@pytest.mark.slow
def test_two_thousand_labels_in_one_call(reference, ours):
  """2,000 labels: one text encoding per batch, 8 label chunks of 256, the reference's entities."""
  ref, _ = reference
  labels = synthetic_labels(2000)
  texts = [PARITY_TEXTS[0], PARITY_TEXTS[13]]
  vectors = ours.encode_labels(labels)
  expected = ref.inference(texts, labels, threshold=0.5, flat_ner=True, batch_size=4)
  got = ours.batch_predict_entities(texts, labels, threshold=0.5, flat_ner=True, label_embeddings=vectors)
  assert assert_same_entities(expected, got) >= 3
  assert len({e.label for row in got for e in row}) > 1
  calls = []
  reader = copy.copy(ours)  # counts the device calls without touching the shared model
  chunk_candidates, word_features = ours._chunk_candidates, ours._word_features
  reader._chunk_candidates = lambda *a, **k: calls.append("chunk") or chunk_candidates(*a, **k)
  reader._word_features = lambda *a, **k: calls.append("text") or word_features(*a, **k)
  nested = reader.batch_predict_entities(texts, labels, threshold=0.5, flat_ner=False, label_embeddings=vectors)
  assert calls.count("text") == 1 and calls.count("chunk") == 8  # both texts in one batch; ceil(2000 / 256)
  assert ours.label_chunks(vectors).form == "spans" and ours.label_chunks(vectors[:10]).form == "factored"
  assert nested == ours.batch_predict_entities(texts, labels, threshold=0.5, flat_ner=False, label_embeddings=vectors)
  assert {s.types for s in ours.compiled_shapes} <= {4, 8, 16, 32, 64, 128, 256}


# ------------------------------------------------------------------------------------ saving
@pytest.mark.slow
def test_export_loads_back_into_gliner(ours, reference, tmp_path):
  ref, ref_dir = reference
  folder = str(tmp_path / "exported")
  ours.save_pretrained(folder, format="gliner")
  assert os.path.isfile(os.path.join(folder, "labels_tokenizer", "tokenizer_config.json"))
  with open(os.path.join(folder, "gliner_config.json")) as f:
    raw = json.load(f)
  assert raw["model_type"] == "gliner_bi_encoder_span" and raw["num_rnn_layers"] == 0
  assert (
    raw["labels_encoder"] == "nreimers/MiniLM-L6-H384-uncased" and raw["labels_encoder_config"]["model_type"] == "bert"
  )
  loaded = load_with_gliner(folder)
  assert type(loaded).__name__ == "BiEncoderSpanGLiNER"
  from safetensors.numpy import load_file

  exported = load_file(os.path.join(folder, "model.safetensors"))
  state = {k: v.detach().numpy() for k, v in loaded.model.state_dict().items()}
  assert set(state) - set(exported) == POOLERS
  original = read_state_dict(ref_dir)
  for name, value in exported.items():
    assert np.array_equal(state[name], value) and np.array_equal(original[name], value), name
  texts = PARITY_TEXTS[:6]
  delta, _ = max_logit_delta(reference_logits(loaded, texts, PARITY_LABELS), *our_logits(ours, texts, PARITY_LABELS))
  assert delta <= LOGIT_TOL
  expected = ours.batch_predict_entities(PARITY_TEXTS, PARITY_LABELS, threshold=0.5, batch_size=4)
  got = loaded.inference(PARITY_TEXTS, PARITY_LABELS, threshold=0.5, batch_size=4)
  assert assert_same_entities(got, expected) >= 20
  again = GLiNER.from_pretrained(folder)
  assert again.config == ours.config


def test_gliner_jax_checkpoint_round_trip(ours, reference, tmp_path):
  converted = convert_gliner_checkpoint(reference[1], str(tmp_path / "converted"))
  assert os.path.isdir(os.path.join(converted, "labels_tokenizer"))
  folder = str(tmp_path / "saved")
  GLiNER.from_pretrained(converted).save_pretrained(folder)
  again = GLiNER.from_pretrained(folder)
  assert type(again) is BiEncoderGLiNER and again.config == ours.config
  texts = PARITY_TEXTS[:6]
  assert again.batch_predict_entities(texts, PARITY_LABELS, threshold=0.3) == ours.batch_predict_entities(
    texts, PARITY_LABELS, threshold=0.3
  )
  # training can start from either folder
  import ml_collections

  from gliner_jax.training.model_init import starting_point

  for init, path in (("gliner_jax", folder), ("gliner", reference[1])):
    start = starting_point(ml_collections.ConfigDict(dict(init=init, path=path)))
    assert start.config.labels_encoder == ours.config.labels_encoder and start.labels_tokenizer is not None
    assert sorted(start.params) == sorted(ours.params)


def test_hub_downloads_fetch_the_labels_tokenizer():
  from gliner_jax.interop.hub import needed_files

  repo = ["gliner_config.json", "model.safetensors", "labels_tokenizer/tokenizer.json", "labels_tokenizer/vocab.txt"]
  assert needed_files(repo) == [
    "gliner_config.json",
    "labels_tokenizer/tokenizer.json",
    "labels_tokenizer/vocab.txt",
    "model.safetensors",
  ]


def test_conversion_names_a_missing_labels_encoder(reference, tmp_path):
  import shutil

  folder = str(tmp_path / "no_labels_config")
  shutil.copytree(reference[1], folder)
  with open(os.path.join(folder, "gliner_config.json")) as f:
    raw = json.load(f)
  raw.pop("labels_encoder_config")
  raw["labels_encoder"] = "/no/such/labels_encoder"
  with open(os.path.join(folder, "gliner_config.json"), "w") as f:
    json.dump(raw, f)
  with pytest.raises(ConversionError, match="labels encoder"):
    GLiNER.from_pretrained(folder)


# ------------------------------------------------------------------------------------ the chunked path
def tiny_config(span_mode: str) -> GLiNERConfig:
  text = EncoderConfig(
    model_type="bert",
    vocab_size=30525,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
  )
  labels = dataclasses.replace(text, hidden_size=48, num_attention_heads=4, vocab_size=30522)
  return GLiNERConfig(
    encoder=text, labels_encoder=labels, hidden_size=40, max_width=4, max_len=48, num_rnn_layers=0, span_mode=span_mode
  )


def assert_close(got: np.ndarray, expected: np.ndarray) -> None:
  """Equal up to float32 summation order: 1e-5 of the largest |logit|."""
  scale = float(np.abs(expected).max())
  assert float(np.abs(got - expected).max()) <= 1e-5 * max(scale, 1.0), (float(np.abs(got - expected).max()), scale)


@pytest.mark.parametrize(
  "span_mode, form",
  [
    pytest.param("markerV0", "factored", marks=pytest.mark.slow),
    pytest.param("markerV0", "spans", marks=pytest.mark.slow),
    pytest.param("marker", "factored", marks=pytest.mark.slow),
  ],
)
def test_chunked_parts_equal_the_whole_model(span_mode, form):
  cfg = tiny_config(span_mode)
  model = GLiNERBiEncoderModel(cfg)
  rng = np.random.default_rng(0)
  ids = rng.integers(100, 30000, (2, 20)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[1, 12:] = 0
  words = np.tile(np.arange(1, 17, dtype=np.int32), (2, 1))
  words[1, 10:] = -1
  num_words = np.array([16, 10], np.int32)
  label_ids = rng.integers(100, 30000, (7, 5)).astype(np.int32)
  label_mask = np.ones_like(label_ids)
  label_mask[3, 2:] = 0
  inputs = (ids, mask, words, num_words, label_ids, label_mask)
  params = model.init(jax.random.key(1), *inputs)["params"]
  params["prompt_head"] = jax.tree.map(lambda p: p * 5.0, params["prompt_head"])  # logits well above 1

  def run(module, *args, **kwargs):
    return module.apply({"params": params}, *args, **kwargs)

  whole = run(model, *inputs)
  assert whole.logits.shape == (2, 16, 4, 7) and bool(whole.type_mask.all())
  vectors = run(model, label_ids, label_mask, method="encode_labels")
  word_feats = run(model, ids, mask, words, method="word_features", form=form)
  parts = []
  for lo in (0, 4):  # two chunks, the second padded with zero vectors
    chunk = jnp.pad(vectors[lo : lo + 4], ((0, 4 - len(vectors[lo : lo + 4])), (0, 0)))
    type_feats = run(model, chunk, method="type_features", form=form)
    parts.append(span_chunk_logits(cfg, word_feats, type_feats))
  chunked = np.concatenate(parts, axis=-1)[..., :7]
  valid = np.asarray(whole.span_mask)
  assert np.abs(np.asarray(whole.logits)).max() > 1.0
  assert_close(chunked[valid], np.asarray(whole.logits)[valid])
  reference = run(GLiNERBiEncoderModel(cfg, span_head_impl="reference"), *inputs)
  assert_close(np.asarray(reference.logits)[valid], np.asarray(whole.logits)[valid])
  # [B, C / B, L] label inputs (the training layout) are the same labels
  padded = (
    np.concatenate([label_ids, np.zeros((1, 5), np.int32)]),
    np.concatenate([label_mask, np.zeros((1, 5), np.int32)]),
  )
  split = run(model, *inputs[:4], padded[0].reshape(2, 4, 5), padded[1].reshape(2, 4, 5))
  assert split.type_mask.tolist() == [[True] * 7 + [False]] * 2
  assert_close(np.asarray(split.logits)[..., :7], np.asarray(whole.logits))


# ------------------------------------------------------------------------------------ training
def bi_examples() -> list[NERExample]:
  return [
    NERExample("Ada Lovelace lived in London".split(), [(0, 1, "person"), (4, 4, "city")]),
    NERExample("Google hired Ada".split(), [(0, 0, "company"), (2, 2, "person")], ("date",)),
    NERExample("nothing here".split(), []),
  ]


def test_recipe_shares_one_label_set_per_batch(ours):
  cfg = RecipeConfig(batch_size=4, max_len=16, max_width=4, max_types=25, type_buckets=(4, 8), shuffle_types=False)
  text = TextTokenizer(ours.tokenizer, dataclasses.replace(ours.config, max_width=4))
  labels_tok = LabelTokenizer(ours.labels_tokenizer, ours.config)
  batch = make_bi_encoder_batch(bi_examples(), text, labels_tok, cfg, np.random.default_rng(0))
  assert batch_label_set(bi_examples(), np.random.default_rng(0), batch_recipe(cfg)) == [
    "person",
    "city",
    "company",
    "date",
  ]
  assert "type_token_index" not in batch and batch["labels_input_ids"].shape[:2] == (4, 1)
  names = ours.labels_tokenizer.batch_decode(batch["labels_input_ids"].reshape(4, -1), skip_special_tokens=True)
  assert names == ["person", "city", "company", "date"]
  assert batch["type_mask"].tolist() == [[True] * 4] * 3 + [[False] * 4]
  marked = sorted(zip(*np.nonzero(batch["labels"])))
  assert marked == [(0, 0, 1, 0), (0, 4, 0, 1), (1, 0, 0, 2), (1, 2, 0, 0)]
  enc = text.encode_batch([bi_examples()[0].tokens], [[]])[0]
  assert enc.input_ids.tolist() == ours.tokenizer(bi_examples()[0].tokens, is_split_into_words=True)["input_ids"]
  # the cap: max_types x batch_size labels for the batch
  small = dataclasses.replace(cfg, max_types=1)
  assert len(batch_label_set(bi_examples(), np.random.default_rng(0), batch_recipe(small))) == 4
  assert (
    len(
      batch_label_set(bi_examples(), np.random.default_rng(0), batch_recipe(dataclasses.replace(small, batch_size=2)))
    )
    == 2
  )
  it = BiEncoderBatchIterator(bi_examples() * 3, text, ours.labels_tokenizer, cfg, seed=0)
  first = next(it)
  assert {s.types % 4 for s in it.shapes} == {0} and first["labels"].shape[-1] == first["type_mask"].shape[1]


@pytest.mark.slow
def test_a_few_training_steps_lower_the_loss():
  from gliner_jax.training import loop
  from gliner_jax.training import sharding as shd
  from gliner_jax.training.config import BUNDLED_TRAIN, base_config

  c = base_config()
  c.model.init = "random"
  c.model.tokenizer = DEFAULT_MODEL
  enc = dict(
    model_type="bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=1
  )
  c.model.encoder = enc
  c.model.labels_encoder_shape = dict(enc, hidden_size=24)
  c.model.update(hidden_size=32, max_width=4, max_len=40, max_types=8, dropout=0.0, num_rnn_layers=0)
  c.data.train = [dict(path=BUNDLED_TRAIN, max_examples=8)]
  c.recipe.update(token_buckets=(128,), word_buckets=(40,), type_buckets=(64,), max_tokens=128, shuffle_types=False)
  c.optimizer.update(encoder_lr=2e-3, head_lr=2e-3, warmup_ratio=0.0)
  c.train.update(batch_size=8, num_steps=12)
  parts = loop.build(c)
  assert type(parts.model) is GLiNERBiEncoderModel and parts.start.labels_tokenizer is not None
  batches = loop.training_batches(c, parts)
  assert batches.shapes == {(128, 40, 64)}
  state, rng, losses = loop.initial_state(parts, 0), jax.random.key(1), []
  for _ in range(12):
    host = batches.next_host_batch()
    assert host.dims == (128, 40, 64)
    state, metrics = parts.train_step(state, shd.shard_batch(host.arrays, parts.batch_sharding, 8), rng)
    assert bool(metrics["finite"])
    losses.append(float(metrics["loss"]))
  assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses
  predictor = loop.inference_model(parts, state)
  assert type(predictor) is BiEncoderGLiNER
  predictor.batch_predict_entities(["Ada Lovelace lived in London"], ["person", "city"], threshold=0.5)
