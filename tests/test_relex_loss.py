"""The relex training loss against gliner 0.2.29's: the reference relex model (built with `from_config`, eval mode)
computes its loss on a batch of its own training collator (python `random` seeded, so its type sampling,
augmentation and negative pairs are fixed) with labels, adj_matrix and rel_matrix, negatives=1.0; our converted model,
teacher-forced with the same gold entities and pairs, gives the same loss within 1e-4 relative (sum and mean).

Also: the element loss on probabilities equals gliner's `focal_loss_with_logits(normalize_prob=False)`, gradients
are finite, negative sampling drops only negatives, and the options refuse unknown keys by name.
"""

from __future__ import annotations

import dataclasses
import json
import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_relex_model import relex_model_inputs

from conftest import require_module
from gliner_jax.interop.convert import read_gliner_config
from gliner_jax.interop.reference_models import build_reference_model
from gliner_jax.interop.relex_convert import relex_config_from_reference, relex_params_from_state_dict
from gliner_jax.model.relex.span_relex import RelexOutput, SpanRelexModel
from gliner_jax.model.relex.token_relex import TokenRelexModel
from gliner_jax.training.relex_losses import (
  focal_loss_on_probabilities,
  relex_loss,
  relex_loss_options,
  relex_loss_terms,
)

torch = require_module("torch")
require_module("gliner")

REL_TOL = 1e-4
# gliner's relex training format; entities deliberately unsorted (the collator sorts them and re-indexes relations).
TRAIN = [
  {
    "tokenized_text": "Alice Smith works at Acme Corp in Paris since 2020 .".split(),
    "ner": [[4, 5, "organization"], [0, 1, "person"], [7, 7, "location"], [9, 9, "date"]],
    "relations": [[1, 0, "works at"], [0, 2, "located in"], [1, 3, "employed since"]],
  },
  {
    "tokenized_text": "Bob Jones founded Globex in Berlin with Carol Lee .".split(),
    "ner": [[0, 1, "person"], [3, 3, "organization"], [5, 5, "location"], [7, 8, "person"]],
    "relations": [[0, 1, "founded"], [3, 1, "founded"], [1, 2, "located in"]],
  },
  {
    "tokenized_text": "The Eiffel Tower is located in Paris , France .".split(),
    "ner": [[1, 2, "landmark"], [6, 6, "location"], [8, 8, "location"]],
    "relations": [[0, 1, "located in"], [1, 2, "located in"]],
  },
]
# gliner's trainer arguments (focal_loss_alpha, ...) as its compute_loss passes them; ours: the same names as a
# config's loss section.
OPTIONS = {
  "sum": dict(alpha=0.75, gamma=2.0, rel_alpha=0.6, rel_gamma=1.0, reduction="sum"),
  "mean": dict(alpha=0.4, gamma=1.5, prob_margin=0.05, label_smoothing=0.1, reduction="mean"),
}
COEFFICIENTS = dict(span_loss_coef=0.7, adjacency_loss_coef=1.3, relation_loss_coef=0.9)


def build_relex_pair(backbone: str, folder, **config):
  """(gliner reference relex model in eval mode, our model, our params) with the reference's weights."""
  torch.set_num_threads(2)
  ref = build_reference_model({"model_name": backbone, "max_len": 96, **COEFFICIENTS, **config}, seed=0)
  ref.eval()
  ref.save_pretrained(str(folder))
  with open(folder / "gliner_config.json") as f:
    raw = json.load(f)
  state = {k: v.numpy() for k, v in ref.model.state_dict().items()}
  rc = relex_config_from_reference(raw, read_gliner_config(str(folder), state))
  model = (TokenRelexModel if rc.base.span_mode == "token_level" else SpanRelexModel)(rc)
  return ref, model, relex_params_from_state_dict(state, rc)


def reference_training_batch(ref, seed: int):
  """A batch of gliner's own relex training collator on TRAIN (labels, adj_matrix, rel_matrix)."""
  random.seed(seed)
  collator = ref.data_collator_class(ref.config, data_processor=ref.data_processor, prepare_labels=True)
  return collator(TRAIN)


def translate_batch(batch, rc, slots: int) -> tuple[dict, dict]:
  """(our model inputs with gold_entities / gold_pairs, our loss targets) from a gliner relex training batch.

  The gold entities are the ones gliner's forward selects (span mode: spans whose label max is 1, in (start, width)
  order; token mode: the collator's span_idx); the pairs and relation labels come from adj_matrix / rel_matrix in
  the reference's pair order (row-major over (head, tail); all pairs of distinct entities for "none").
  """
  inputs = relex_model_inputs(batch, rc)
  b, w = inputs["word_token_index"].shape
  types = inputs["type_token_index"].shape[1]
  relations = inputs["relation_token_index"].shape[1]
  labels = batch["labels"].numpy().astype(np.float32)
  k = rc.base.max_width
  gold = -np.ones((b, slots, 2), np.int32)
  if rc.base.span_mode == "token_level":
    assert labels.shape == (b, w, types, 3)
    for i in range(b):
      spans = batch["span_idx"][i].numpy()[batch["span_mask"][i].numpy().astype(bool)]
      gold[i, : len(spans)] = spans
    targets = {"labels": labels, "word_mask": np.arange(w)[None, :] < inputs["num_words"][:, None]}
  else:
    labels = labels.reshape(b, w, k, types)
    for i in range(b):
      index = np.flatnonzero(labels[i].max(-1).reshape(-1) == 1)
      gold[i, : len(index)] = np.stack([index // k, index // k + index % k], axis=-1)
    targets = {"labels": labels, "span_mask": batch["span_mask"].numpy().reshape(b, w, k)}
  count = (gold[..., 0] >= 0).sum(1)
  rel_matrix = batch["rel_matrix"].numpy()
  adj = batch.get("adj_matrix")
  pairs = np.zeros((b, slots, slots), bool)
  relation_labels = np.zeros((b, slots, slots, relations), np.float32)
  for i in range(b):
    n = int(count[i])
    if adj is None:  # relations_layer "none": every ordered pair of distinct entities
      grid = ~np.eye(n, dtype=bool)
    else:
      grid = adj[i].numpy()[:n, :n] > 0.5
      np.fill_diagonal(grid, False)
    pairs[i, :n, :n] = grid
    heads, tails = np.nonzero(grid)  # row-major, the reference's pair order
    c = min(relations, rel_matrix.shape[2])
    relation_labels[i, heads, tails, :c] = rel_matrix[i, : len(heads), :c]
  adjacency_labels = np.zeros((b, slots, slots), np.float32)
  if adj is not None:
    e = adj.shape[1]
    adjacency_labels[:, :e, :e] = adj.numpy()
  inputs.update(gold_entities=gold, gold_pairs=pairs)
  targets.update(
    type_mask=inputs["type_token_index"] >= 0,
    adjacency_labels=adjacency_labels,
    relation_labels=relation_labels,
    relation_mask=inputs["relation_token_index"] >= 0,
  )
  return inputs, targets


def reference_loss(ref, batch, options: dict) -> float:
  """gliner's loss of its forward with labels, as its trainer's compute_loss calls it (no negative sampling)."""
  kwargs = {**dict(alpha=-1.0, gamma=0.0, prob_margin=0.0, label_smoothing=0.0, reduction="sum"), **options}
  kwargs.setdefault("rel_alpha", kwargs["alpha"])
  kwargs.setdefault("rel_gamma", kwargs["gamma"])
  with torch.no_grad():
    out = ref.model(**batch, **kwargs, negatives=1.0, masking="global", loss_type="focal")
  return float(out.loss)


def check_parity(ref, model, params, seeds=(0, 1)) -> None:
  """Our loss equals gliner's on its training batches of `seeds`, for every OPTIONS entry."""
  apply = jax.jit(lambda p, x: model.apply({"params": p}, **x))
  for seed in seeds:
    batch = reference_training_batch(ref, seed)
    inputs, targets = translate_batch(batch, model.config, slots=8)
    assert targets["relation_labels"].sum() > 0 and inputs["gold_pairs"].sum() > targets["relation_labels"].sum()
    out = apply(params, inputs)
    for name, options in OPTIONS.items():
      want = reference_loss(ref, batch, options)
      got = float(relex_loss(out, {**inputs, **targets}, None, {**options, **COEFFICIENTS}))
      assert got == pytest.approx(want, rel=REL_TOL), (seed, name)


@pytest.fixture(scope="module")
def tiny_relex(bert_tiny_dir, tmp_path_factory):
  """(reference, model, params, inputs, targets): a span "dot" relex model on the tiny BERT, a translated batch."""
  ref, model, params = build_relex_pair(bert_tiny_dir, tmp_path_factory.mktemp("relex_tiny"), relations_layer="dot")
  inputs, targets = translate_batch(reference_training_batch(ref, 0), model.config, slots=8)
  return ref, model, params, inputs, targets


def test_relex_loss_matches_reference_fast(tiny_relex):
  ref, model, params = tiny_relex[:3]
  check_parity(ref, model, params, seeds=(0,))


@pytest.mark.slow
@pytest.mark.parametrize(
  "config",
  [
    dict(relations_layer="dot"),
    dict(relations_layer="none"),
    dict(relations_layer="dot", span_mode="token_level"),
    dict(relations_layer="none", span_mode="token_level"),
    dict(relations_layer="mlp", span_mode="marker"),
    dict(relations_layer="dot", triples_layer="DistMult"),
  ],
  ids=["span-dot", "span-none", "token-dot", "token-none", "span-mlp-marker", "span-dot-DistMult"],
)
def test_relex_loss_matches_reference_minilm(minilm_dir, tmp_path, config):
  check_parity(*build_relex_pair(minilm_dir, tmp_path, **config))


@pytest.mark.slow  # the fast tier keeps test_relex_loss_matches_reference_fast (teacher-forced on gold entities, pairs)
def test_gold_forcing_selects_the_given_entities_and_pairs(tiny_relex):
  model, params, inputs, _ = tiny_relex[1:]
  gold = inputs["gold_entities"].copy()
  gold[0, 5] = (0, model.config.base.max_width)  # wider than max_width: not representable, counts as padding
  out = model.apply({"params": params}, **{**inputs, "gold_entities": gold})
  mask = np.asarray(out.entity_mask)
  np.testing.assert_array_equal(mask, inputs["gold_entities"][..., 0] >= 0)
  np.testing.assert_array_equal(np.asarray(out.entity_spans)[mask], inputs["gold_entities"][mask])
  np.testing.assert_array_equal(np.asarray(out.pair_mask), inputs["gold_pairs"])
  assert out.has_adjacency and np.asarray(out.num_selected).tolist() == mask.sum(1).tolist()
  free = model.apply({"params": params}, **{**inputs, "gold_pairs": None}, threshold=0.5)
  adjacency = np.asarray(free.adjacency)
  np.testing.assert_array_equal(
    np.asarray(free.pair_mask), (adjacency > 0.5) & mask[:, :, None] & mask[:, None, :] & ~np.eye(8, dtype=bool)
  )
  with pytest.raises(ValueError, match="gold_entities must be"):
    model.apply({"params": params}, **{**inputs, "gold_entities": gold[:, :, :1]})
  with pytest.raises(ValueError, match="gold_pairs must be"):
    model.apply({"params": params}, **{**inputs, "gold_pairs": inputs["gold_pairs"][:, :4]})


@pytest.mark.slow  # the fast tier keeps test_relex_loss_matches_reference_fast (the loss on the same model)
def test_gradients_are_finite(tiny_relex):
  model, params, inputs, targets = tiny_relex[1:]
  options = {**OPTIONS["sum"], "negatives": 0.5, "masking": "global"}

  def loss(p):
    out = model.apply({"params": p}, **inputs, deterministic=False, rngs={"dropout": jax.random.key(1)})
    return relex_loss(out, {**inputs, **targets}, jax.random.key(2), options)

  value, grads = jax.jit(jax.value_and_grad(loss))(params)
  assert np.isfinite(float(value)) and float(value) > 0
  flat = jax.tree_util.tree_flatten_with_path(grads)[0]
  assert all(np.all(np.isfinite(g)) for _, g in flat)
  norms = {jax.tree_util.keystr(path): float(jnp.abs(g).max()) for path, g in flat}
  for part in ("pair_projection", "span_head", "prompt_head"):
    assert max(v for k, v in norms.items() if part in k) > 0, part


def synthetic_output(seed: int, *, adjacency: bool = True):
  """A RelexOutput with random logits and probabilities (2 rows, 5 entity slots, 3 relation types) and its batch."""
  rng = np.random.default_rng(seed)
  b, e, r, w, k, c = 2, 5, 3, 4, 2, 2
  entity_mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
  pair_mask = entity_mask[:, :, None] & entity_mask[:, None, :] & ~np.eye(e, dtype=bool)
  relation_mask = np.array([[1, 1, 1], [1, 1, 0]], bool)
  relation_labels = np.zeros((b, e, e, r), bool)  # positives of type 0 only: types 1, 2 have none
  relation_labels[..., 0] = (rng.random((b, e, e)) < 0.3) & pair_mask
  relation_labels[:, 0, 1, 0] = True
  adjacency_labels = relation_labels.any(-1)
  adjacency_labels[1] = False  # row 1: no positive pair at all
  out = RelexOutput(
    entity_logits=jnp.asarray(rng.normal(size=(b, w, k, c)), jnp.float32),
    span_mask=jnp.ones((b, w, k), bool),
    type_mask=jnp.ones((b, c), bool),
    entity_spans=jnp.zeros((b, e, 2), jnp.int32),
    entity_mask=jnp.asarray(entity_mask),
    num_selected=jnp.asarray(entity_mask.sum(1)),
    adjacency=jnp.asarray(rng.uniform(0.05, 0.95, (b, e, e)), jnp.float32),
    relation_logits=jnp.asarray(rng.normal(size=(b, e, e, r)) * 2, jnp.float32),
    pair_mask=jnp.asarray(pair_mask),
    relation_mask=jnp.asarray(relation_mask),
    has_adjacency=adjacency,
  )
  batch = {
    "labels": (rng.random((b, w, k, c)) < 0.2).astype(np.float32),
    "span_mask": np.ones((b, w, k), bool),
    "type_mask": np.ones((b, c), bool),
    "adjacency_labels": adjacency_labels.astype(np.float32),
    "relation_labels": relation_labels.astype(np.float32),
    "relation_mask": relation_mask,
  }
  return out, batch


def kept_elements(out, batch, key, options):
  """Which relation and adjacency elements the loss sees: those with a nonzero gradient."""

  def loss(relation_logits, adjacency):
    return relex_loss(
      dataclasses.replace(out, relation_logits=relation_logits, adjacency=adjacency), batch, key, options
    )

  g_rel, g_adj = jax.jit(jax.grad(loss, argnums=(0, 1)))(out.relation_logits, out.adjacency)
  return np.asarray(g_rel) != 0, np.asarray(g_adj) != 0


def candidate_negatives(valid, labels, masking):
  """The valid elements of labels [B, E, E, R] that `masking` may drop (gliner's `_loss` over pairs x types)."""
  if masking == "global":
    candidate = ~labels
  elif masking == "label":  # a type with no positive pair in its row
    candidate = np.broadcast_to(~labels.any(axis=(1, 2), keepdims=True), labels.shape)
  else:  # "span": a pair with no positive type
    candidate = np.broadcast_to(~labels.any(axis=-1, keepdims=True), labels.shape)
  return valid & candidate


@pytest.mark.parametrize(  # the fast tier keeps "global", gliner's default masking
  "masking", ["global", pytest.param("label", marks=pytest.mark.slow), pytest.param("span", marks=pytest.mark.slow)]
)
def test_negative_sampling_drops_only_negatives(masking):
  out, batch = synthetic_output(0)
  options = {"negatives": 0.5, "masking": masking}
  rel, adj = kept_elements(out, batch, jax.random.key(7), options)
  entity_mask = np.asarray(out.entity_mask)
  valid_rel = np.asarray(out.pair_mask)[..., None] & batch["relation_mask"][:, None, None, :]
  valid_adj = (entity_mask[:, :, None] & entity_mask[:, None, :])[..., None]
  cases = (
    (rel, valid_rel, batch["relation_labels"] == 1),
    (adj[..., None], valid_adj, batch["adjacency_labels"][..., None] == 1),
  )
  for kept, valid, labels in cases:
    assert not kept[~valid].any()  # masked elements never count
    candidate = candidate_negatives(valid, labels, masking)
    assert (valid & labels).any() and kept[valid & labels].all()  # every positive counts
    assert kept[valid & ~candidate].all()  # so does every negative the masking does not propose
    assert candidate.sum() >= 20 and 0.2 < kept[candidate].mean() < 0.8  # about half of the candidates dropped
  all_rel, all_adj = kept_elements(out, batch, jax.random.key(7), {"negatives": 1.0, "masking": masking})
  np.testing.assert_array_equal(all_rel, valid_rel)
  np.testing.assert_array_equal(all_adj, valid_adj[..., 0])
  again, _ = kept_elements(out, batch, jax.random.key(7), options)
  other, _ = kept_elements(out, batch, jax.random.key(8), options)
  np.testing.assert_array_equal(again, rel)
  assert (other != rel).any()


@pytest.mark.slow  # the fast tier keeps test_relex_loss_matches_reference_fast (no negative sampling, gliner's loss)
def test_no_negatives_leaves_the_positives_brute_force():
  out, batch = synthetic_output(1)
  options = {"negatives": 0.0, "masking": "global", "alpha": 0.3, "gamma": 2.0, "reduction": "sum"}
  terms = relex_loss_terms(out, batch, jax.random.key(0), options)
  x = np.asarray(out.relation_logits, np.float64)
  valid = np.asarray(out.pair_mask)[..., None] & batch["relation_mask"][:, None, None, :]
  pos = valid & (batch["relation_labels"] == 1)
  p = 1 / (1 + np.exp(-x[pos]))
  want_rel = np.sum(0.3 * (1 - p) ** 2 * -np.log(p))
  a = np.asarray(out.adjacency, np.float64)
  m = np.asarray(out.entity_mask)
  pos_adj = m[:, :, None] & m[:, None, :] & (batch["adjacency_labels"] == 1)
  want_adj = np.sum(0.3 * (1 - a[pos_adj]) ** 2 * -np.log(a[pos_adj]))
  assert float(terms.relation) == pytest.approx(want_rel, rel=1e-5)
  assert float(terms.adjacency) == pytest.approx(want_adj, rel=1e-5)


def test_total_combines_terms_as_gliner():
  out, batch = synthetic_output(2)
  options = {"span_loss_coef": 0.5, "adjacency_loss_coef": 2.0, "relation_loss_coef": 3.0, "reduction": "mean"}
  t = relex_loss_terms(out, batch, None, options)
  assert float(t.total) == pytest.approx(0.5 * float(t.entity) + 2.0 * float(t.adjacency) + 3.0 * float(t.relation))
  none_out, _ = synthetic_output(2, adjacency=False)
  t_none = relex_loss_terms(none_out, {k: v for k, v in batch.items() if k != "adjacency_labels"}, None, options)
  assert float(t_none.adjacency) == 0.0 and float(t_none.relation) == pytest.approx(float(t.relation))
  no_types = {**batch, "relation_mask": np.zeros_like(batch["relation_mask"])}
  t_empty = relex_loss_terms(out, no_types, None, options)
  assert float(t_empty.total) == pytest.approx(float(t.entity))  # gliner: entity term alone, no coefficient


def test_probability_focal_matches_reference_elements():
  from gliner.modeling.loss_functions import focal_loss_with_logits

  rng = np.random.default_rng(0)
  probs = np.concatenate([rng.uniform(0, 1, 60), [0.0, 1.0, 1e-9, 1 - 1e-7, 0.5, 0.02]]).astype(np.float32)
  targets = np.concatenate([(rng.random(60) < 0.4), [1, 0, 1, 0, 1, 0]]).astype(np.float32)
  targets[3] = -100
  for opts in (
    dict(alpha=-1.0, gamma=0.0),
    dict(alpha=0.75, gamma=2.0),
    dict(alpha=0.25, gamma=1.5, prob_margin=0.1, label_smoothing=0.2),
  ):
    want = focal_loss_with_logits(
      torch.from_numpy(probs), torch.from_numpy(targets), normalize_prob=False, reduction="none", **opts
    ).numpy()
    got = np.asarray(focal_loss_on_probabilities(probs, targets, **opts))
    kept = targets != -100  # ignored: 0 here; gliner's focal factor of a -100 target can be NaN (gamma 1.5)
    np.testing.assert_allclose(got[kept], want[kept], rtol=1e-5, atol=1e-6)
    assert got[~kept].tolist() == [0.0]


def test_relex_loss_options():
  from gliner.config import UniEncoderRelexConfig

  defaults = relex_loss_options({})
  reference = UniEncoderRelexConfig()
  for name in ("span_loss_coef", "adjacency_loss_coef", "relation_loss_coef"):
    assert defaults[name] == getattr(reference, name) == 1.0
  opts = relex_loss_options({"alpha": 0.75, "gamma": 2.0, "rel_alpha": None, "rel_gamma": 0.5, "masking": "label"})
  assert (opts["rel_alpha"], opts["rel_gamma"], opts["masking"]) == (0.75, 0.5, "label")
  assert relex_loss_options(opts) == opts
  with pytest.raises(ValueError, match=r"unknown relex loss options: \['adj_coef', 'focal_alpha'\]"):
    relex_loss_options({"adj_coef": 1.0, "focal_alpha": 0.5})
  with pytest.raises(ValueError, match="reduction='none'"):
    relex_loss_options({"reduction": "none"})
  with pytest.raises(ValueError, match="relation_loss_coef=-1"):
    relex_loss_options({"relation_loss_coef": -1})
  with pytest.raises(ValueError, match="rel_alpha=2.0"):
    relex_loss_options({"rel_alpha": 2.0})
  with pytest.raises(ValueError, match="masking='spans'"):
    relex_loss_options({"masking": "spans"})


def test_token_mode_refuses_span_only_options():
  out, batch = synthetic_output(3)
  b, w = 2, 4
  token_out = dataclasses.replace(
    out, entity_logits=jnp.zeros((b, w, 2, 3)), span_mask=jnp.ones((b, w), bool), has_adjacency=True
  )
  token_batch = {**batch, "labels": np.zeros((b, w, 2, 3), np.float32), "word_mask": np.ones((b, w), bool)}
  del token_batch["span_mask"]
  assert np.isfinite(float(relex_loss(token_out, token_batch, jax.random.key(0), {"negatives": 0.5})))
  with pytest.raises(ValueError, match="token relex loss .* has no loss_type='dice'"):
    relex_loss(token_out, token_batch, None, {"loss_type": "dice"})
  with pytest.raises(ValueError, match=r"needs batch keys \['word_mask'\]"):
    relex_loss(token_out, {k: v for k, v in token_batch.items() if k != "word_mask"}, None, {})
