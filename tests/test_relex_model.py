"""The span relex model against gliner 0.2.29's UniEncoderSpanRelexModel built with `from_config` on the local
MiniLM (random heads): from the same token batch, the entity logits (1e-4), the selected entity spans (exactly),
the adjacency (1e-5) and the set of scored pairs (exactly), and every scored pair's relation logits (1e-4), at two
thresholds; for the pair projection, an adjacency layer and a triple scorer."""

from __future__ import annotations

import json
import warnings

import jax
import numpy as np
import pytest

from conftest import require_module
from gliner_jax.interop.convert import read_gliner_config
from gliner_jax.interop.relex_convert import relex_config_from_reference, relex_params_from_state_dict
from gliner_jax.model.relex.span_relex import RelexConfig, SpanRelexModel

torch = require_module("torch")
require_module("gliner")

TEXTS = ["Alice Smith works at Acme Corp in Paris since 2020 .", "Bob founded Globex ."]
LABELS = ["person", "organization", "location"]
RELATIONS = ["works at", "located in", "founded"]


def _reference(minilm_dir: str, tmp_path, **relex):
  from gliner import GLiNER as RefGLiNER

  torch.manual_seed(0)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = RefGLiNER.from_config({"model_name": minilm_dir, "max_len": 96, **relex})
  ref.eval()
  ref.save_pretrained(str(tmp_path))
  return ref


def _batch(ref):
  prep = ref.prepare_batch(TEXTS, LABELS, relations=RELATIONS)
  return ref.collate_batch(prep["input_x"], prep["entity_types"], relation_types=prep["relation_types"])


def _positions(ids: np.ndarray, token: int) -> np.ndarray:
  rows = [np.flatnonzero(r == token) for r in ids]
  out = -np.ones((len(rows), max(len(r) for r in rows)), np.int32)
  for i, r in enumerate(rows):
    out[i, : len(r)] = r
  return out


def relex_model_inputs(batch, config) -> dict:
  """Our relex model's inputs from a batch of gliner's relex collator (its words, entity and relation prompts)."""
  ids = batch["input_ids"].numpy()
  words_mask = batch["words_mask"].numpy()
  num_words = batch["text_lengths"].numpy()[:, 0].astype(np.int32)
  word_index = -np.ones((len(ids), int(num_words.max())), np.int32)
  for b in range(len(ids)):
    for w in range(num_words[b]):
      word_index[b, w] = int(np.flatnonzero(words_mask[b] == w + 1)[0])
  return dict(
    input_ids=ids.astype(np.int32),
    attention_mask=batch["attention_mask"].numpy().astype(np.int32),
    word_token_index=word_index,
    num_words=num_words,
    type_token_index=_positions(ids, config.base.class_token_index),
    relation_token_index=_positions(ids, config.rel_token_index),
  )


@pytest.mark.slow
@pytest.mark.parametrize(
  "relex",
  [
    {"relations_layer": "none"},
    {"relations_layer": "dot"},
    {"relations_layer": "mlp", "span_mode": "marker"},
    {"relations_layer": "gat", "triples_layer": "DistMult", "thresholds": (0.3, 0.4)},
  ],
  ids=["none-projection", "dot-projection", "mlp-marker", "gat-DistMult"],
)
def test_span_relex_forward_matches_reference(minilm_dir, tmp_path, relex):
  relex = dict(relex)
  thresholds = relex.pop("thresholds", (0.5, 0.52))
  ref = _reference(minilm_dir, tmp_path, **relex)
  with open(tmp_path / "gliner_config.json") as f:
    raw = json.load(f)
  state = {k: v.numpy() for k, v in ref.model.state_dict().items()}
  config = relex_config_from_reference(raw, read_gliner_config(str(tmp_path), state))
  params = relex_params_from_state_dict(state, config)
  model = SpanRelexModel(config, max_entities=160)
  batch = _batch(ref)
  inputs = relex_model_inputs(batch, config)
  selected_counts = []
  for threshold in thresholds:
    out = ref.run_batch(batch, threshold=threshold)
    ours = jax.jit(lambda p, x, t: model.apply({"params": p}, **x, threshold=t))(params, inputs, threshold)
    ref_logits = out.logits.numpy()
    b, w = ref_logits.shape[:2]
    valid = np.asarray(ours.span_mask)[:, :w]
    np.testing.assert_allclose(np.asarray(ours.entity_logits)[:, :w][valid], ref_logits[valid], atol=1e-4, rtol=0)
    for i in range(b):
      n = int(ours.num_selected[i])
      assert n <= model.max_entities
      selected_counts.append(n)
      ref_keep = (torch.sigmoid(out.logits[i]).max(-1).values.reshape(-1) > threshold) & batch["span_mask"][i].bool()
      assert n == int(ref_keep.sum())
      np.testing.assert_array_equal(np.asarray(ours.entity_spans[i][:n]), out.entity_spans[i].numpy()[:n])
      pairs = out.rel_idx[i].numpy()[out.rel_mask[i].numpy().astype(bool)]
      assert sorted(map(tuple, pairs.tolist())) == sorted(
        map(tuple, np.argwhere(np.asarray(ours.pair_mask[i])).tolist())
      )
      if len(pairs):
        got = np.asarray(ours.relation_logits[i])[pairs[:, 0], pairs[:, 1]]
        want = out.rel_logits[i].numpy()[out.rel_mask[i].numpy().astype(bool)]
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)
  assert max(selected_counts) >= 2 and len(set(selected_counts)) > 1  # pairs exist; the thresholds differ


def test_refused_triples_layers_are_named():
  from gliner_jax.model.config import GLiNERConfig

  base = GLiNERConfig.__new__(GLiNERConfig)
  with pytest.raises(ValueError, match="TuckER.*not implemented"):
    RelexConfig(base=base, relations_layer="dot", triples_layer="TuckER")
  with pytest.raises(ValueError, match="relations_layer='rgcn'"):
    RelexConfig(base=base, relations_layer="rgcn")
