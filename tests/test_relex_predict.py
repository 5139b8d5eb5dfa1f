"""predict_relations against gliner 0.2.29's, on span and token relex models built with `from_config` on the local
MiniLM and on a random tiny DeBERTa-v3, saved by gliner and loaded in both layouts (as saved; and v2.1-style: the
gliner_config.json without encoder_config / vocab_size / token indices, no tokenizer files).

Random heads give scores near 0.5: the span and prompt heads are re-scaled as the other parity tests do
(`scale_reference_heads`; token models: then the token scorer's start / end / inside logits are centred on +0.3), and
the pair projection's last layer so that relation logits have std 2.
Checked at two (threshold, relation_threshold) pairs: the same entities (start, end, text, label) and relations
(head and tail offsets, types and indices, relation label) in the same order, scores within 1e-4.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import require_module
from gliner_jax.inference.relex import Relation, RelexGLiNER
from gliner_jax.interop.reference_models import build_reference_model, reference_logits, scale_reference_heads

torch = require_module("torch")
require_module("gliner")

SCORE_TOL = 1e-4
TEXTS = [
  "Alice Smith works at Acme Corp in Paris since 2020 .",
  "Bob Jones founded Globex in Berlin , and Carol Lee joined Initech in Madrid .",
  "The Eiffel Tower is located in Paris , France .",
]
LABELS = ["person", "organization", "location"]
RELATIONS = ["works at", "located in", "founded"]
THRESHOLDS = ((0.5, 0.5), (0.6, 0.7))
V21_DROP = ("encoder_config", "vocab_size", "class_token_index", "rel_token_index")


def _relation_logits(ref) -> np.ndarray:
  prep = ref.prepare_batch(TEXTS, LABELS, relations=RELATIONS)
  batch = ref.collate_batch(prep["input_x"], prep["entity_types"], relation_types=prep["relation_types"])
  with torch.no_grad():
    out = ref.run_batch(batch, threshold=0.5)
  return out.rel_logits.numpy()[out.rel_mask.numpy().astype(bool)]


def build_relex_reference(backbone: str, out_dir: str, **config):
  torch.set_num_threads(2)
  ref = build_reference_model({"model_name": backbone, "max_len": 96, **config}, seed=0)
  ref.eval()
  scale_reference_heads(ref, TEXTS, LABELS)
  if config.get("span_mode") == "token_level":
    mean = reference_logits(ref, TEXTS, LABELS).reshape(-1, 3).mean(0)
    with torch.no_grad():
      ref.model.scorer.out_mlp[3].bias.add_(torch.as_tensor(0.3 - mean))
  last = ref.model.pair_rep_layer[3]
  with torch.no_grad():
    logits = _relation_logits(ref)
    assert logits.size > 10, "too few scored pairs to scale the relation logits"
    scale = 2.0 / float(np.std(logits))
    last.weight.mul_(scale)
    last.bias.mul_(scale)
  ref.save_pretrained(out_dir)
  return ref


def as_v21_layout(folder: str) -> None:
  path = os.path.join(folder, "gliner_config.json")
  with open(path) as f:
    raw = json.load(f)
  with open(path, "w") as f:
    json.dump({k: v for k, v in raw.items() if k not in V21_DROP}, f)
  for name in os.listdir(folder):
    if name.startswith(("tokenizer", "special_tokens", "vocab", "spm", "added_tokens")):
      os.remove(os.path.join(folder, name))


def check_against_reference(ref, ours: RelexGLiNER) -> list[int]:
  counts = []
  for threshold, relation_threshold in THRESHOLDS:
    for text in TEXTS:
      want_e, want_r = ref.predict_relations(
        text, LABELS, RELATIONS, threshold=threshold, relation_threshold=relation_threshold
      )
      got_e, got_r = ours.predict_relations(
        text, LABELS, RELATIONS, threshold=threshold, relation_threshold=relation_threshold
      )
      key = lambda e: (e["start"], e["end"], e["text"], e["label"])  # noqa: E731
      assert [key(e) for e in got_e] == [key(e) for e in want_e], text
      np.testing.assert_allclose([e.score for e in got_e], [e["score"] for e in want_e], atol=SCORE_TOL, rtol=0)
      assert all(isinstance(r, Relation) for r in got_r)
      rkey = lambda r: (tuple(r["head"].items()), tuple(r["tail"].items()), r["relation"])  # noqa: E731
      strip = lambda d: {k: d[k] for k in ("start", "end", "text", "type", "entity_idx")}  # noqa: E731
      assert [rkey(r) for r in got_r] == [
        (tuple(strip(r["head"]).items()), tuple(strip(r["tail"]).items()), r["relation"]) for r in want_r
      ], text
      np.testing.assert_allclose([r.score for r in got_r], [r["score"] for r in want_r], atol=SCORE_TOL, rtol=0)
      counts.append(len(got_r))
    batch = ours.batch_predict_relations(
      TEXTS, LABELS, RELATIONS, threshold=threshold, relation_threshold=relation_threshold, batch_size=4
    )
    singles = [ours.predict_relations(t, LABELS, RELATIONS, threshold, relation_threshold) for t in TEXTS]
    assert [[e[:4] for e in _rows(b)] for b in batch] == [[e[:4] for e in _rows(s)] for s in singles]
    for b, single in zip(batch, singles):
      np.testing.assert_allclose([x[4] for x in _rows(b)], [x[4] for x in _rows(single)], atol=1e-5, rtol=0)
  return counts


def _rows(pair) -> list[tuple]:
  entities, relations = pair
  rows = [(e.start, e.end, e.label, "", e.score) for e in entities]
  return rows + [(r.head.start, r.tail.start, r.label, r.head_index, r.score) for r in relations]


CASES = {
  "minilm-dot": dict(relations_layer="dot"),
  "minilm-none": dict(relations_layer="none"),
  "minilm-token-dot": dict(relations_layer="dot", span_mode="token_level"),
  "minilm-token-none": dict(relations_layer="none", span_mode="token_level"),
}


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["saved", "v2.1"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_predict_relations_matches_reference_minilm(minilm_dir, tmp_path, case, layout):
  ref = build_relex_reference(minilm_dir, str(tmp_path), **CASES[case])
  if layout == "v2.1":
    as_v21_layout(str(tmp_path))
  counts = check_against_reference(ref, RelexGLiNER.from_pretrained(str(tmp_path)))
  assert sum(counts) > 0 and len(set(counts)) > 1  # relations found, and the thresholds matter


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["saved", "v2.1"])
@pytest.mark.parametrize("span_mode", ["markerV0", "token_level"])
def test_predict_relations_matches_reference_deberta(deberta_backbone_dir, tmp_path, span_mode, layout):
  config = dict(relations_layer="dot", hidden_size=96, max_width=8, span_mode=span_mode)
  ref = build_relex_reference(deberta_backbone_dir, str(tmp_path), **config)
  if layout == "v2.1":
    as_v21_layout(str(tmp_path))
  counts = check_against_reference(ref, RelexGLiNER.from_pretrained(str(tmp_path)))
  assert sum(counts) > 0 and len(set(counts)) > 1


def test_relation_reads_like_gliner_dicts():
  from gliner_jax.inference.predictor import Entity

  head, tail = Entity(0, 5, "Alice", "person", 0.9), Entity(15, 19, "Acme", "organization", 0.8)
  r = Relation(head, tail, "works at", 0.75, 0, 2)
  assert r["head"] == {"start": 0, "end": 5, "text": "Alice", "type": "person", "entity_idx": 0}
  assert r["tail"]["start"] == 15 and r["tail"]["entity_idx"] == 2
  assert r["relation"] == r["label"] == "works at" and r["score"] == 0.75
  assert r.to_dict() == {"head": r["head"], "tail": r["tail"], "relation": "works at", "score": 0.75}
