"""Bi-encoder token GLiNER (labels encoder + token scorer) against gliner 0.2.29's BiEncoderTokenGLiNER.

The reference is built with `gliner.GLiNER.from_config` on the local MiniLM for both the text and the labels
encoder (hidden 512, so both projections exist; a BiLSTM configured, which gliner never applies), its token
scorer's last layer re-scaled so that start / end / inside logits spread around the thresholds, saved, and
loaded by `gliner_jax.GLiNER.from_pretrained`. Compared: logits (max |delta| <= 1e-4), entities at thresholds
0.3 and 0.5 (identical (start, end, label, text), scores within 1e-4), entities with precomputed
`label_embeddings=` and with several label chunks (the plain call's), the export read back by gliner.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest
from test_bi_encoder import SCORE_TOL, assert_same_entities, load_with_gliner

from conftest import PARITY_LABELS, PARITY_TEXTS, build_reference_model, reference_logits
from gliner_jax import GLiNER
from gliner_jax.inference.bi_encoder_token import BiEncoderTokenGLiNER
from gliner_jax.interop.reference_models import scale_token_scorer
from gliner_jax.model.bi_encoder_token import GLiNERBiEncoderTokenModel
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.kinds import bi_encoder_dummy_batch, kind_of
from gliner_jax.processing.bi_encoder_inputs import text_inputs
from gliner_jax.processing.buckets import batch_shape, pad_batch

LOGIT_TOL = 1e-4


@pytest.fixture(scope="module")
def reference(minilm_dir, tmp_path_factory):
  """(gliner bi-encoder token model, its saved folder)."""
  import torch

  torch.set_num_threads(2)
  out = str(tmp_path_factory.mktemp("ref_bi_encoder_token"))
  config = dict(
    model_name=minilm_dir, labels_encoder=minilm_dir, span_mode="token_level", hidden_size=512, max_width=12, max_len=96
  )
  ref = build_reference_model(config, seed=0)
  ref.eval()
  assert type(ref).__name__ == "BiEncoderTokenGLiNER" and ref.config.num_rnn_layers == 1
  scale_token_scorer(ref, PARITY_TEXTS[:4], PARITY_LABELS)
  ref.save_pretrained(out)
  return ref, out


@pytest.fixture(scope="module")
def ours(reference) -> BiEncoderTokenGLiNER:
  return GLiNER.from_pretrained(reference[1])


def our_logits(model: BiEncoderTokenGLiNER, texts, labels) -> tuple[np.ndarray, np.ndarray]:
  words = [[w for w, _, _ in model.words_splitter(t)] for t in texts]
  enc = model.prompt_tokenizer.encode_batch(words, [[]] * len(texts))
  batch = text_inputs(pad_batch(enc, batch_shape(enc, len(texts)), model.prompt_tokenizer.pad_id))
  ids, mask = model.label_batcher.batch(labels)
  return model.logits(dict(batch, labels_input_ids=ids, labels_attention_mask=mask)), batch["num_words"]


# ------------------------------------------------------------------------------------ config
def test_config_kind_and_weights_are_the_checkpoints(ours, reference):
  ref, _ = reference
  cfg = ours.config
  assert type(ours) is BiEncoderTokenGLiNER and kind_of(cfg).name == "bi_encoder_token"
  assert cfg.span_mode == "token_level" and cfg.num_rnn_layers == 0
  assert cfg.needs_projection and cfg.needs_labels_projection
  assert sorted(ours.params) == ["encoder", "labels_encoder", "labels_projection", "projection", "scorer"]
  torch_w = ref.model.scorer.out_mlp[0].weight.detach().numpy()
  np.testing.assert_array_equal(np.asarray(ours.params["scorer"]["out_dense_in"]["kernel"]), torch_w.T)
  torch_w = ref.model.token_rep_layer.labels_projection.weight.detach().numpy()
  np.testing.assert_array_equal(np.asarray(ours.params["labels_projection"]["kernel"]), torch_w.T)


def test_config_accepts_token_level_bi_encoders():
  enc = EncoderConfig(
    model_type="bert", vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
  )
  cfg = GLiNERConfig(encoder=enc, labels_encoder=enc, hidden_size=16, num_rnn_layers=0, span_mode="token_level")
  assert kind_of(cfg).name == "bi_encoder_token"
  hf = enc.to_hf_dict()
  raw = {"encoder_config": hf, "labels_encoder": "x", "labels_encoder_config": hf, "span_mode": "token_level"}
  converted = GLiNERConfig.from_reference(dict(raw, num_rnn_layers=1))
  assert kind_of(converted).name == "bi_encoder_token" and converted.num_rnn_layers == 0
  with pytest.raises(ValueError, match="represent_spans"):
    GLiNERConfig.from_reference(dict(raw, represent_spans=True))
  with pytest.raises(ValueError, match="needs span_mode='token_level'"):
    GLiNERBiEncoderTokenModel(cfg.replace(span_mode="markerV0")).init(jax.random.key(0), **bi_encoder_dummy_batch(1))


# ------------------------------------------------------------------------------------ parity
def test_logits_match_reference(reference, ours):
  ref, _ = reference
  worst = 0.0
  for lo in range(0, len(PARITY_TEXTS), 6):
    texts = PARITY_TEXTS[lo : lo + 6]
    expected = reference_logits(ref, texts, PARITY_LABELS)  # [B, W, C, 3]
    got, num_words = our_logits(ours, texts, PARITY_LABELS)
    b, w, c, _ = expected.shape
    valid = np.arange(w)[None, :] < num_words[:b, None]
    delta = np.abs(got[:b, :w, :c] - expected)[valid]
    assert np.abs(expected[valid]).max() > 1.0
    worst = max(worst, float(delta.max()))
  assert worst <= LOGIT_TOL, worst


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [0.3, 0.5])
@pytest.mark.parametrize("flat_ner", [True, False])
def test_entities_match_reference(reference, ours, threshold, flat_ner):
  ref, _ = reference
  expected = ref.inference(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  got = ours.batch_predict_entities(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  assert assert_same_entities(expected, got, f"threshold {threshold}") >= 10


@pytest.mark.slow
def test_precomputed_label_embeddings_give_the_plain_call(reference, ours):
  ref, _ = reference
  vectors = ours.encode_labels(PARITY_LABELS)
  assert vectors.shape == (len(PARITY_LABELS), 512)
  expected = ref.model.token_rep_layer.encode_labels  # gliner's own label vectors
  import torch

  enc = ref.data_processor.labels_tokenizer(PARITY_LABELS, return_tensors="pt", padding=True)
  with torch.no_grad():
    theirs = expected(enc["input_ids"], enc["attention_mask"]).numpy()
  np.testing.assert_allclose(vectors, theirs, atol=LOGIT_TOL)
  plain = ours.batch_predict_entities(PARITY_TEXTS, PARITY_LABELS, threshold=0.3, flat_ner=False)
  cached = ours.batch_predict_entities(
    PARITY_TEXTS, PARITY_LABELS, threshold=0.3, flat_ner=False, label_embeddings=vectors
  )
  assert cached == plain and sum(map(len, plain)) >= 10
  one = ours.predict_entities(PARITY_TEXTS[0], PARITY_LABELS, threshold=0.3, flat_ner=False, label_embeddings=vectors)
  # one text runs at another batch shape: same spans, scores equal up to float32 rounding
  assert [(e.start, e.end, e.label) for e in one] == [(e.start, e.end, e.label) for e in plain[0]]
  np.testing.assert_allclose([e.score for e in one], [e.score for e in plain[0]], atol=SCORE_TOL)
  with pytest.raises(ValueError, match="label_embeddings has shape"):
    ours.batch_predict_entities(PARITY_TEXTS[:1], PARITY_LABELS, label_embeddings=vectors[:3])


@pytest.mark.slow
def test_label_chunks_give_the_one_chunk_entities(reference, ours):
  """Labels scored in chunks of 4 (two chunks, the last padded) give the reference's entities."""
  ref, folder = reference
  chunked = GLiNER.from_pretrained(folder, label_chunk=4, compilation_cache=False)
  labels = PARITY_LABELS + ["country", "company"]
  expected = ref.inference(PARITY_TEXTS, labels, threshold=0.5, flat_ner=True, batch_size=4)
  got = chunked.batch_predict_entities(PARITY_TEXTS, labels, threshold=0.5, flat_ner=True, batch_size=4)
  assert assert_same_entities(expected, got, "chunks of 4") >= 10
  assert chunked.label_chunks(chunked.encode_labels(labels)).count == 2
  assert {s.types for s in chunked.compiled_shapes} == {4}


# ------------------------------------------------------------------------------------ saving
@pytest.mark.slow
def test_export_loads_back_into_gliner(ours, tmp_path):
  folder = str(tmp_path / "exported")
  ours.save_pretrained(folder, format="gliner")
  assert os.path.isfile(os.path.join(folder, "labels_tokenizer", "tokenizer_config.json"))
  with open(os.path.join(folder, "gliner_config.json")) as f:
    raw = json.load(f)
  assert raw["model_type"] == "gliner_bi_encoder_token" and raw["span_mode"] == "token_level"
  loaded = load_with_gliner(folder)
  assert type(loaded).__name__ == "BiEncoderTokenGLiNER"
  for threshold in (0.3, 0.5):
    expected = ours.batch_predict_entities(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, batch_size=4)
    got = loaded.inference(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, batch_size=4)
    assert assert_same_entities(got, expected, f"exported, threshold {threshold}") >= 10
  again = GLiNER.from_pretrained(folder)
  assert type(again) is BiEncoderTokenGLiNER and again.config == ours.config


@pytest.mark.slow  # ~7 s; test_bi_encoder.py's round trip (fast) saves and loads the same BiEncoderGLiNER parts
def test_gliner_jax_checkpoint_round_trip(ours, tmp_path):
  folder = str(tmp_path / "saved")
  ours.save_pretrained(folder)
  again = GLiNER.from_pretrained(folder)
  assert type(again) is BiEncoderTokenGLiNER and again.config == ours.config
  texts = PARITY_TEXTS[:6]
  want = ours.batch_predict_entities(texts, PARITY_LABELS, threshold=0.3)
  assert again.batch_predict_entities(texts, PARITY_LABELS, threshold=0.3) == want and sum(map(len, want)) > 0


# ------------------------------------------------------------------------------------ training
@pytest.mark.slow
def test_training_steps_lower_the_loss():
  """20 steps on a tiny random bi-encoder token model: start / end / inside labels, the token loss falls."""
  from gliner_jax import DEFAULT_MODEL
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
  c.model.update(
    hidden_size=32, max_width=4, max_len=40, max_types=8, dropout=0.0, num_rnn_layers=0, span_mode="token_level"
  )
  c.data.train = [dict(path=BUNDLED_TRAIN, max_examples=8)]
  c.recipe.update(token_buckets=(128,), word_buckets=(40,), type_buckets=(64,), max_tokens=128, shuffle_types=False)
  c.optimizer.update(encoder_lr=2e-3, head_lr=2e-3, warmup_ratio=0.0)
  c.train.update(batch_size=8, num_steps=20)
  parts = loop.build(c)
  assert type(parts.model) is GLiNERBiEncoderTokenModel and parts.start.labels_tokenizer is not None
  batches = loop.training_batches(c, parts)
  state, rng, losses = loop.initial_state(parts, 0), jax.random.key(1), []
  for step in range(20):
    host = batches.next_host_batch()
    if step == 0:
      labels, words = host.arrays["labels"], host.arrays["word_mask"]
      assert labels.shape == (8, 40, 64, 3) and words.shape == (8, 40)
      # every start and end word lies inside its span, and no label lies past a row's words
      assert np.all(labels[..., 2] >= np.maximum(labels[..., 0], labels[..., 1])) and labels[..., 0].sum() > 0
      assert not labels[~words].any()
    state, metrics = parts.train_step(state, shd.shard_batch(host.arrays, parts.batch_sharding, 8), rng)
    assert bool(metrics["finite"])
    losses.append(float(metrics["loss"]))
  assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses
  predictor = loop.inference_model(parts, state)
  assert type(predictor) is BiEncoderTokenGLiNER
  predictor.batch_predict_entities(["Ada Lovelace lived in London"], ["person", "city"], threshold=0.5)
