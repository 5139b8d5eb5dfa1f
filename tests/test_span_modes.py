"""Span modes "marker" and "token_level" against gliner 0.2.29, and their training.

Reference models are built with `gliner.GLiNER.from_config` on the local MiniLM (marker: hidden 512,
so with a projection; token_level: hidden 384, none), their random heads re-scaled so that scores are
spread out, saved with `save_pretrained` and loaded with `gliner_jax.GLiNER.from_pretrained`.
Tolerances: logits max |delta| <= 1e-4 on valid cells; entities identical; scores within 1e-4.
The token decoder is also checked against gliner's TokenDecoder on small fixed and random inputs.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import types
import warnings

import jax
import numpy as np
import pytest
import torch

from conftest import PARITY_LABELS, PARITY_TEXTS, reference_logits
from gliner_jax import GLiNER
from gliner_jax.data.batch_iterator import BatchIterator
from gliner_jax.data.readers import NERExample, read_ner_file
from gliner_jax.data.recipe import RecipeConfig, make_training_batch
from gliner_jax.inference.token_decoding import decode_token_batch, token_candidates
from gliner_jax.interop.reference_models import scale_token_scorer
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.processing.buckets import batch_shape, pad_batch
from gliner_jax.processing.prompts import PromptTokenizer
from gliner_jax.training.losses import token_loss, token_loss_options

LOGIT_TOL = 1e-4
SCORE_TOL = 1e-4


def _build(minilm_dir: str, span_mode: str, **config):
  from gliner import GLiNER as RefGLiNER

  torch.manual_seed(0)
  torch.set_num_threads(2)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = RefGLiNER.from_config({"model_name": minilm_dir, "span_mode": span_mode, "max_len": 96, **config})
  ref.eval()
  return ref


def _scale_marker(ref, texts, labels, target_std=2.0):
  """Centres the out-projection's output and scales the type vectors: logits spread over about [-8, 8]."""
  out_project = ref.model.span_rep_layer.span_rep_layer.out_project
  captured = []
  hook = out_project.register_forward_hook(lambda mod, inp, out: captured.append(out.detach()))
  reference_logits(ref, texts, labels)
  hook.remove()
  with torch.no_grad():
    out_project.bias.sub_(captured[0].reshape(-1, captured[0].shape[-1]).mean(0))
  scale = target_std / float(np.std(reference_logits(ref, texts, labels)))
  last = ref.model.prompt_rep_layer[3]
  with torch.no_grad():
    last.weight.mul_(scale)
    last.bias.mul_(scale)


@pytest.fixture(scope="module")
def marker_pair(minilm_dir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("ref_marker"))
  ref = _build(minilm_dir, "marker", hidden_size=512, max_width=12)
  _scale_marker(ref, PARITY_TEXTS[:4], PARITY_LABELS)
  ref.save_pretrained(out)
  return ref, GLiNER.from_pretrained(out), out


@pytest.fixture(scope="module")
def token_pair(minilm_dir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("ref_token"))
  ref = _build(minilm_dir, "token_level", hidden_size=384, max_width=12)
  scale_token_scorer(ref, PARITY_TEXTS[:4], PARITY_LABELS)
  ref.save_pretrained(out)
  return ref, GLiNER.from_pretrained(out), out


@pytest.fixture(params=[pytest.param("marker", marks=pytest.mark.slow), "token_level"])  # fast: token_level
def pair(request):
  return request.getfixturevalue("marker_pair" if request.param == "marker" else "token_pair")


def _our_logits(model: GLiNER, texts, labels):
  words = [[w for w, _, _ in model.words_splitter(t)] for t in texts]
  enc = model.prompt_tokenizer.encode_batch(words, [labels] * len(texts))
  batch = pad_batch(enc, batch_shape(enc, len(texts)), model.prompt_tokenizer.pad_id)
  return model.logits(batch), batch["num_words"]


def test_configs_and_weights_are_the_checkpoints(marker_pair, token_pair):
  for (ref, ours, _), mode in ((marker_pair, "marker"), (token_pair, "token_level")):
    assert ref.config.span_mode == ours.config.span_mode == mode
  assert marker_pair[1].config.needs_projection and not token_pair[1].config.needs_projection
  # a weight that only the marker head has, and one only the token scorer has, arrive transposed
  torch_w = marker_pair[0].model.span_rep_layer.span_rep_layer.out_project.weight.detach().numpy()
  np.testing.assert_array_equal(np.asarray(marker_pair[1].params["span_head"]["out_project"]["kernel"]), torch_w.T)
  torch_w = token_pair[0].model.scorer.out_mlp[0].weight.detach().numpy()
  np.testing.assert_array_equal(np.asarray(token_pair[1].params["scorer"]["out_dense_in"]["kernel"]), torch_w.T)


@pytest.mark.parametrize("impl", [pytest.param("factored", marks=pytest.mark.slow), "reference"])  # fast: reference
def test_marker_logits_match_reference(marker_pair, impl):
  ref, loaded, _ = marker_pair
  ours = GLiNER(loaded.config, loaded.params, loaded.tokenizer, span_head_impl=impl)
  worst = 0.0
  for lo in range(0, len(PARITY_TEXTS), 6):
    texts = PARITY_TEXTS[lo : lo + 6]
    expected = reference_logits(ref, texts, PARITY_LABELS)
    got, num_words = _our_logits(ours, texts, PARITY_LABELS)
    b, w, k, c = expected.shape
    valid = (np.arange(w)[:, None] + np.arange(k)[None, :])[None] < num_words[:b, None, None]
    delta = np.abs(got[:b, :w, :k, :c] - expected)[valid]
    assert np.abs(expected[valid]).max() > 1.0
    worst = max(worst, float(delta.max()))
  assert worst <= LOGIT_TOL, f"marker/{impl}: max |delta logits| = {worst:.2e}"


def test_token_logits_match_reference(token_pair):
  ref, ours, _ = token_pair
  worst = 0.0
  for lo in range(0, len(PARITY_TEXTS), 6):
    texts = PARITY_TEXTS[lo : lo + 6]
    expected = reference_logits(ref, texts, PARITY_LABELS)  # [B, W, C, 3]
    got, num_words = _our_logits(ours, texts, PARITY_LABELS)
    b, w, c, _ = expected.shape
    assert got.shape[-1] == 3 and c == len(PARITY_LABELS)
    valid = np.arange(w)[None, :] < num_words[:b, None]
    delta = np.abs(got[:b, :w, :c] - expected)[valid]
    assert np.abs(expected[valid]).max() > 1.0
    worst = max(worst, float(delta.max()))
  assert worst <= LOGIT_TOL, f"token_level: max |delta logits| = {worst:.2e}"


@pytest.mark.parametrize(
  "packing, flat_ner, threshold",
  [  # slow (~5 s each): the fast tier keeps the token_level logits and decoder parity tests below and above
    pytest.param(*c, marks=pytest.mark.slow) for c in itertools.product([False, True], [True, False], [0.3, 0.5])
  ],
)
def test_entities_match_reference(pair, threshold, flat_ner, packing):
  """Also packed (several texts per encoder row): still the reference's entities."""
  ref, ours, _ = pair
  expected = ref.inference(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  got = ours.batch_predict_entities(
    PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4, packing=packing
  )
  total, longest, worst = 0, 0, 0.0
  for i, (e, g) in enumerate(zip(expected, got)):
    assert [(x["start"], x["end"], x["label"]) for x in e] == [(x.start, x.end, x.label) for x in g], (
      f"{ours.config.span_mode}: text {i} differs"
    )
    assert [x["text"] for x in e] == [x.text for x in g]
    if e:
      worst = max(worst, float(np.abs(np.array([x.score for x in g]) - [x["score"] for x in e]).max()))
    total += len(e)
    longest = max([longest] + [len(x.text.split()) for x in g])
  assert worst <= SCORE_TOL, worst
  assert total >= 20 and longest >= 2  # not vacuous: many entities, some of several words


def test_multi_label_matches_reference(pair):
  ref, ours, _ = pair
  expected = ref.inference(PARITY_TEXTS[:8], PARITY_LABELS, threshold=0.5, flat_ner=False, multi_label=True)
  got = ours.batch_predict_entities(PARITY_TEXTS[:8], PARITY_LABELS, threshold=0.5, flat_ner=False, multi_label=True)
  spans = [[(x.start, x.end) for x in g] for g in got]
  assert any(len(s) > len(set(s)) for s in spans)  # some span carries several labels
  for e, g in zip(expected, got):
    assert [(x["start"], x["end"], x["label"]) for x in e] == [(x.start, x.end, x.label) for x in g]


def test_reference_options_not_computed_are_refused(token_pair):
  with open(os.path.join(token_pair[2], "gliner_config.json")) as f:
    raw = json.load(f)
  assert GLiNERConfig.from_reference(raw).span_mode == "token_level"
  with pytest.raises(ValueError, match="represent_spans"):
    GLiNERConfig.from_reference(dict(raw, represent_spans=True))
  with pytest.raises(ValueError, match="span_mode='markerV1'"):
    GLiNERConfig.from_reference(dict(raw, span_mode="markerV1"))


# ----------------------------------------------------------------------------------- token decoder
def _reference_decode(logits: np.ndarray, num_words, num_types, threshold, flat_ner, multi_label):
  """gliner's TokenDecoder on logits[B, W, C, 3]; per-text label sets of `num_types` labels."""
  from gliner.decoding.decoder import TokenDecoder

  tokens = [["w"] * n for n in num_words]
  id_to_classes = [{c + 1: f"L{c}" for c in range(n)} for n in num_types]
  decoded = TokenDecoder(None).decode(
    tokens, id_to_classes, torch.tensor(logits), flat_ner=flat_ner, threshold=threshold, multi_label=multi_label
  )
  return [[(s.start, s.end, int(s.entity_type[1:]), s.score) for s in row] for row in decoded]


def _ours_decode(logits, num_words, num_types, threshold, flat_ner, multi_label):
  # The reference's float32 probabilities, computed on the same strided slices (torch's sigmoid may
  # differ by an ulp between contiguous and strided inputs).
  channels = torch.tensor(logits).permute(3, 0, 1, 2)
  probs = np.zeros_like(logits)
  for i, n in enumerate(num_words):
    for ch in range(3):
      probs[i, :n, :, ch] = torch.sigmoid(channels[ch][i, :n]).numpy()
  got = decode_token_batch(probs, threshold, num_words, num_types, flat_ner=flat_ner, multi_label=multi_label)
  return [[(s.start, s.end, s.label, s.score) for s in row] for row in got]


def _fixed_logits():
  """Two texts, 6 words, 2 types: nested and crossing spans, score ties, inside exactly at 0.5, padding."""
  x = np.full((2, 6, 2, 3), -6.0, np.float32)
  x[0, :, 0, 2] = [3, 3, 0, 3, 3, -6]  # inside, type 0: word 2 is exactly p = 0.5
  x[0, [0, 3], 0, 0] = 2.0  # starts
  x[0, [1, 2, 4], 0, 1] = [2.0, 3.0, 1.0]  # ends
  x[0, :, 1, 2] = 2.0  # type 1: everything inside, the same start / end score -> ties
  x[0, [1, 2], 1, 0] = 1.5
  x[0, [2, 3], 1, 1] = 1.5
  x[1, :, :, :] = 4.0  # the second text has 3 words and 1 type: the rest is padding that must be ignored
  x[1, 1, 0, 2] = -1.0
  return x


@pytest.mark.parametrize("threshold", [0.3, 0.5])
@pytest.mark.parametrize("flat_ner, multi_label", [(True, False), (False, False), (False, True), (True, True)])
def test_token_decoder_matches_reference_on_fixed_input(threshold, flat_ner, multi_label):
  x = _fixed_logits()
  args = ([6, 3], [2, 1], threshold, flat_ner, multi_label)
  expected = _reference_decode(x, *args)
  assert _ours_decode(x, *args) == expected
  assert len(expected[0]) >= 2 and expected[1]


def test_token_decoder_inside_at_threshold_passes_but_start_does_not():
  x = np.full((1, 3, 1, 3), -6.0, np.float32)
  x[0, :, 0, 2] = [2.0, 0.0, 2.0]  # the middle word's inside probability is exactly 0.5
  x[0, 0, 0, 0], x[0, 2, 0, 1] = 2.0, 2.0
  x[0, 1, 0, 0], x[0, 1, 0, 1] = 0.0, 0.0  # start / end at exactly 0.5 are not above it
  expected = _reference_decode(x, [3], [1], 0.5, True, False)
  assert [s[:2] for s in expected[0]] == [(0, 2)] and expected[0][0][3] == 0.5
  assert _ours_decode(x, [3], [1], 0.5, True, False) == expected


@pytest.mark.parametrize("flat_ner", [True, False])
def test_token_decoder_breaks_ties_by_start_type_end(flat_ner):
  x = np.full((1, 4, 2, 3), -6.0, np.float32)
  x[0, :, :, 2] = 2.0  # every score below is sigmoid(2): all candidates tie
  x[0, 1, :, 0] = 2.0  # both types start at word 1
  x[0, 3, 0, 1] = x[0, 2, 1, 1] = 2.0  # type 0 ends at word 3, type 1 at word 2
  expected = _reference_decode(x, [4], [2], 0.5, flat_ner, False)
  assert expected[0][0][:3] == (1, 3, 0)  # type 0 comes first although its span ends later
  assert _ours_decode(x, [4], [2], 0.5, flat_ner, False) == expected


@pytest.mark.parametrize("seed", range(6))
def test_token_decoder_matches_reference_on_random_input(seed):
  rng = np.random.default_rng(seed)
  b, w, c = 3, 12, 4
  x = rng.normal(0.0, 1.5, (b, w, c, 3)).astype(np.float32)
  x[..., 2] += 1.5  # long runs of inside words
  x[0, 3:6] = x[0, 3]  # repeated rows: exact score ties
  num_words, num_types = [12, 9, 5], [4, 2, 3]
  for threshold in (0.3, 0.5):
    for flat_ner, multi_label in ((True, False), (False, False), (False, True)):
      args = (num_words, num_types, threshold, flat_ner, multi_label)
      assert _ours_decode(x, *args) == _reference_decode(x, *args), (threshold, flat_ner, multi_label)


def test_token_candidates_order_and_widths():
  p = np.full((4, 2, 3), 0.9, np.float32)
  starts, widths, labels, scores = token_candidates(p, 0.5, num_words=3, num_types=1)
  assert list(zip(starts, labels, starts + widths)) == [
    (0, 0, 0),
    (0, 0, 1),
    (0, 0, 2),
    (1, 0, 1),
    (1, 0, 2),
    (2, 0, 2),
  ]
  assert scores.dtype == np.float32 and np.all(scores == np.float32(0.9))
  with pytest.raises(ValueError, match="shape"):
    token_candidates(p[..., :2], 0.5, num_words=3)


# ----------------------------------------------------------------------------------- training
def test_token_loss_matches_reference():
  from gliner.modeling.base import BaseModel, UniEncoderTokenModel

  rng = np.random.default_rng(0)
  logits = (rng.standard_normal((2, 7, 4, 3)) * 3).astype(np.float32)
  labels = (rng.random((2, 7, 4, 3)) < 0.2).astype(np.float32)
  word_mask = np.arange(7)[None, :] < np.array([[7], [4]])
  type_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]])
  owner = types.SimpleNamespace(_loss=functools.partial(BaseModel._loss, None))
  for kw in (dict(), dict(alpha=0.75, gamma=2.0), dict(label_smoothing=0.1, prob_margin=0.05)):
    for reduction in ("sum", "mean"):
      expected = UniEncoderTokenModel.loss(
        owner,
        torch.tensor(logits, dtype=torch.float64),
        torch.tensor(labels, dtype=torch.float64),
        torch.tensor(type_mask),
        torch.tensor(word_mask),
        reduction=reduction,
        **kw,
      ).item()
      got = float(token_loss(logits, labels, word_mask, type_mask, reduction=reduction, **kw))
      assert got == pytest.approx(expected, rel=1e-5), (kw, reduction)
  assert token_loss_options(dict(alpha=0.75, masking="none", negatives=0.5, loss_type="focal")) == {"alpha": 0.75}
  with pytest.raises(ValueError, match="loss_type='dice'"):
    token_loss_options(dict(loss_type="dice"))
  with pytest.raises(ValueError, match="negative sampling"):
    token_loss_options(dict(masking="global", negatives=0.5))


def test_recipe_builds_token_labels(token_pair):
  _, ours, _ = token_pair
  ptok = PromptTokenizer(ours.tokenizer, ours.config)
  words = "Ada Lovelace met Charles Babbage in London in the year 1833 at a very long party".split()
  spans = [(0, 1, "person"), (3, 4, "person"), (6, 6, "city"), (8, 15, "event")]  # the event: 8 words
  cfg = RecipeConfig.from_model_config(
    ours.config, batch_size=2, prompt_drop=0.0, negative_prob=0.0, shuffle_types=False
  )
  batch = make_training_batch([NERExample(words, spans)], ptok, cfg, np.random.default_rng(0))
  assert batch["labels"].shape == batch["word_mask"].shape + (batch["type_mask"].shape[1], 3)
  assert batch["word_mask"][0].sum() == len(words) and not batch["word_mask"][1].any()
  prompt = ["person", "city", "event"]
  expected = np.zeros(batch["labels"].shape[1:], np.float32)
  for s, e, t in spans:
    expected[s, prompt.index(t), 0] = expected[e, prompt.index(t), 1] = 1
    expected[s : e + 1, prompt.index(t), 2] = 1
  np.testing.assert_array_equal(batch["labels"][0], expected)
  assert "span_mask" not in batch


@pytest.mark.slow  # 20-25 s each; the fast tier trains in tests/test_train.py
@pytest.mark.parametrize("span_mode", ["marker", "token_level"])
def test_tiny_training_learns(span_mode):
  from gliner_jax.configs import tiny
  from gliner_jax.training import loop as train
  from gliner_jax.training import sharding as shd
  from gliner_jax.training.config import BUNDLED_TRAIN

  config = tiny.get_config()
  config.model.span_mode = span_mode
  config.model.encoder = dict(config.model.encoder, num_hidden_layers=1)
  config.optimizer.update(encoder_lr=3e-3, head_lr=3e-3, warmup_ratio=0.1)
  config.train.update(batch_size=8, num_steps=12)
  parts = train.build(config)
  assert parts.config.span_mode == span_mode
  examples = [
    NERExample(list(ex.tokens[:40]), [s for s in ex.spans if s[1] < 40]) for ex in read_ner_file(BUNDLED_TRAIN)[:8]
  ]
  recipe = RecipeConfig.from_model_config(
    parts.config,
    batch_size=8,
    token_buckets=(128,),
    word_buckets=(40,),
    type_buckets=(8,),
    max_tokens=128,
    prompt_drop=0.0,
    negative_prob=0.0,
    shuffle_types=False,
  )
  batches = BatchIterator(examples * 12, PromptTokenizer(parts.start.tokenizer, parts.config), recipe, seed=0)
  state = train.initial_state(parts, seed=0)
  rng = jax.random.key(1)
  losses = []
  for _ in range(config.train.num_steps):
    batch = next(batches)
    labels_shape = batch["labels"].shape
    assert labels_shape[2:] == ((8, 3) if span_mode == "token_level" else (parts.config.max_width, 8))
    state, metrics = parts.train_step(state, shd.shard_batch(batch, parts.batch_sharding), rng)
    losses.append(float(metrics["loss"]))
  losses = np.array(losses)
  assert np.isfinite(losses).all(), losses
  assert losses[-3:].mean() < 0.7 * losses[:2].mean(), losses  # measured: marker 0.30, token_level 0.54
  assert losses[-3:].mean() < losses[2:5].mean(), losses
  predictor = train.inference_model(parts, state)  # the trained model predicts through the public API
  out = predictor.predict_entities(" ".join(examples[0].tokens), ["person", "location"], threshold=0.5)
  assert all(e.label in ("person", "location") for e in out)


@pytest.mark.slow  # 40-50 s each; tests/test_public_layouts.py keeps a v2.1 layout in the fast tier
@pytest.mark.parametrize("mode", ["marker", "token_level"])
def test_v21_layout_of_each_mode_gives_the_reference_entities(mode, request, minilm_dir, tmp_path):
  """gliner_base / NuNerZero ship the v2.1 layout (no encoder_config, no tokenizer, .bin) with span_mode marker."""
  from test_public_layouts import assert_same_entities, make_v21_layout, reference_entities

  _, _, saved = request.getfixturevalue("marker_pair" if mode == "marker" else "token_pair")
  folder = make_v21_layout(saved, str(tmp_path / mode), model_name=minilm_dir)
  with open(os.path.join(folder, "gliner_config.json")) as f:
    assert json.load(f)["span_mode"] == mode
  model = GLiNER.from_pretrained(folder)
  assert model.config.span_mode == mode
  assert_same_entities(reference_entities(folder), model)
