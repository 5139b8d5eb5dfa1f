"""Relex prediction with label groups, and its bounded compiles.

The model is a gliner 0.2.29 span (or token) relex model built with `from_config` on the random bert-tiny of
conftest (heads scaled as in tests/test_relex_predict.py), loaded by `RelexGLiNER`, then given a small `max_types`
so that the labels of these tests fill several groups:
- relation groups: each relation of the grouped call is the one the call with only its group's relation labels
  finds (same head, tail and score), and each relation of such a call whose head and tail the grouped call kept is
  in it; the grouped entities are the union of the per-group calls', decoded again (flat: every per-group entity
  is kept or clashes with a kept one scoring at least as high);
- entity groups: a warning; relations only between entities of one group;
- long labels: groups halved until each prompt fits half the encoder;
- `merge_passes` on hand-made spans, exactly;
- compiles: `warmup` then predictions over these texts in other orders, subsets and batch sizes compile nothing,
  and predictions over texts and label counts of every size compile only bucketed shapes, once each.

One group is today's path (one pass, as before): tests/test_relex_predict.py checks it against gliner.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from test_relex_predict import TEXTS, build_relex_reference

from conftest import require_module
from gliner_jax.inference.compile_counter import CompileCounter
from gliner_jax.inference.decoding import SpanPrediction
from gliner_jax.inference.relex import RelexGLiNER
from gliner_jax.inference.relex_decoding import DecodedRelation, merge_passes
from gliner_jax.inference.relex_plan import ENTITY_SLOTS
from gliner_jax.processing.buckets import BATCH_BUCKETS, TOKEN_BUCKETS, TYPE_BUCKETS, WORD_BUCKETS

ENTITIES = ["person", "organization"]
RELATIONS = ["works at", "located in", "founded", "born in", "lives in"]  # max_types=2: groups of 2, 2, 1
THRESHOLD = {"markerV0": 0.5, "token_level": 0.4}  # entity thresholds where these random models find entities
MODES = {"span": dict(relations_layer="dot"), "token": dict(relations_layer="dot", span_mode="token_level")}


@pytest.fixture(scope="module", params=sorted(MODES))
def loaded(request, bert_tiny_dir, tmp_path_factory) -> RelexGLiNER:
  require_module("torch")
  require_module("gliner")
  out = str(tmp_path_factory.mktemp(f"relex_groups_{request.param}"))
  build_relex_reference(bert_tiny_dir, out, **MODES[request.param])
  return RelexGLiNER.from_pretrained(out)


def _with(model: RelexGLiNER, **config) -> RelexGLiNER:
  return RelexGLiNER(model.config.replace(**config), model.params, model.tokenizer)


def _ekey(e):
  return (e.start, e.end, e.label)


def _rkey(r):
  return (_ekey(r.head), _ekey(r.tail), r.label)


def test_merge_passes_unites_entities_and_relations():
  a = [SpanPrediction(0, 1, 0, 0.9), SpanPrediction(3, 3, 1, 0.8), SpanPrediction(5, 6, 0, 0.7)]
  b = [SpanPrediction(1, 2, 0, 0.95), SpanPrediction(3, 3, 1, 0.85), SpanPrediction(5, 5, 1, 0.6)]
  rel_a = [DecodedRelation(0, 1, 0, 0.6), DecodedRelation(1, 2, 0, 0.7)]
  rel_b = [DecodedRelation(1, 0, 2, 0.9), DecodedRelation(2, 1, 3, 0.55)]
  spans, relations = merge_passes([(a, rel_a), (b, rel_b)], num_words=8)
  # flat: (1, 2) at 0.95 beats (0, 1); (3, 3) once at 0.85; (5, 6) at 0.7 beats (5, 5) at 0.6
  assert spans == [SpanPrediction(1, 2, 0, 0.95), SpanPrediction(3, 3, 1, 0.85), SpanPrediction(5, 6, 0, 0.7)]
  # a's (0, 1) -> (3, 3) lost its head; a's (3, 3) -> (5, 6) kept; b's (3, 3) -> (1, 2) kept; b's (5, 5) head is gone
  assert relations == [DecodedRelation(1, 2, 0, 0.7), DecodedRelation(1, 0, 2, 0.9)]
  nested_spans, nested = merge_passes([(a, rel_a), (b, rel_b)], num_words=8, flat_ner=False)
  # nested: (0, 1) and (1, 2) cross, the lower goes; (5, 5) nests in (5, 6) (same start: kept order)
  assert [(s.start, s.end) for s in nested_spans] == [(1, 2), (3, 3), (5, 6), (5, 5)]
  assert nested == [DecodedRelation(1, 2, 0, 0.7), DecodedRelation(1, 0, 2, 0.9), DecodedRelation(3, 1, 3, 0.55)]
  # the same relation from two passes: once, with its highest score, at its first place
  twice, relations = merge_passes([(a, rel_a), (a, [DecodedRelation(0, 1, 0, 0.65)])], num_words=8)
  assert twice == a
  assert relations == [DecodedRelation(0, 1, 0, 0.65), DecodedRelation(1, 2, 0, 0.7)]
  assert merge_passes([(a, rel_a)], num_words=8) == (a, rel_a)


@pytest.mark.slow  # builds the models (~6 s); tests/test_relex_plan.py checks the groups fast, without a model
def test_label_groups_split_at_max_types_and_to_fit_the_encoder(loaded):
  model = _with(loaded, max_types=2)
  assert model.label_groups(ENTITIES, RELATIONS) == ([ENTITIES], [RELATIONS[:2], RELATIONS[2:4], RELATIONS[4:]])
  assert model.label_groups(ENTITIES, []) == ([ENTITIES], [[]])
  assert _with(loaded, max_types=25).label_groups(ENTITIES, RELATIONS) == ([ENTITIES], [RELATIONS])
  wide = _with(loaded, max_types=25)
  long_relations = [f"relation number {i} between two named things of the text" for i in range(8)]
  wide.max_tokens = 96
  entity_groups, relation_groups = wide.label_groups(ENTITIES, long_relations)
  assert entity_groups == [ENTITIES]
  assert sum(relation_groups, []) == long_relations and len(relation_groups) > 1
  assert len({len(g) for g in relation_groups[:-1]}) == 1  # halved evenly, the last group takes the rest
  assert all(len(wide.planner.encode([], ENTITIES, g).input_ids) <= 48 for g in relation_groups)
  wide.max_tokens = 8
  with pytest.raises(ValueError, match="one entity label and one relation label take a prompt of"):
    wide.label_groups(ENTITIES, long_relations)


@pytest.mark.slow
@pytest.mark.parametrize("flat_ner", [True, False])
def test_relation_groups_find_what_each_group_finds(loaded, flat_ner):
  model = _with(loaded, max_types=2)
  threshold, relation_threshold = THRESHOLD[model.config.span_mode], 0.5
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # one entity group: no warning
    grouped = model.batch_predict_relations(
      TEXTS, ENTITIES, RELATIONS, threshold, relation_threshold, flat_ner=flat_ner
    )
  _, relation_groups = model.label_groups(ENTITIES, RELATIONS)
  per_group = [
    model.batch_predict_relations(TEXTS, ENTITIES, g, threshold, relation_threshold, flat_ner=flat_ner)
    for g in relation_groups
  ]
  kept_somewhere = 0
  for t, (entities, relations) in enumerate(grouped):
    best = {}
    for calls in per_group:
      for e in calls[t][0]:
        best[_ekey(e)] = max(best.get(_ekey(e), 0.0), e.score)
    got = {_ekey(e): e.score for e in entities}
    assert len(got) == len(entities)
    for key, score in got.items():  # every grouped entity: found by a group's call, with the best score
      assert key in best
      np.testing.assert_allclose(score, best[key], atol=1e-5, rtol=0)
    for (s, e, label), score in best.items():  # every group's entity: kept, or beaten by a clashing one
      if (s, e, label) in got:
        continue
      if flat_ner:
        assert any(a <= e and s <= b and got[(a, b, x)] >= score for a, b, x in got), (s, e, label)
      else:
        clash = lambda a, b: a < s <= b < e or s < a <= e < b or (a, b) == (s, e)  # noqa: E731
        assert any(clash(a, b) and got[(a, b, x)] >= score for a, b, x in got), (s, e, label)
    want = {}
    for calls in per_group:
      for r in calls[t][1]:
        if _ekey(r.head) in got and _ekey(r.tail) in got:
          want[_rkey(r)] = r.score
    found = {_rkey(r): r.score for r in relations}
    assert len(found) == len(relations)
    assert sorted(found) == sorted(want)
    np.testing.assert_allclose([found[k] for k in sorted(found)], [want[k] for k in sorted(found)], atol=1e-5, rtol=0)
    assert all(entities[r.head_index] is r.head and entities[r.tail_index] is r.tail for r in relations)
    kept_somewhere += len(relations)
  assert kept_somewhere > 0  # the check above saw relations from several groups
  assert len({r.label for _, rels in grouped for r in rels}) > 2


@pytest.mark.slow
def test_entity_groups_warn_and_relate_within_a_group(loaded):
  model = _with(loaded, max_types=2)
  labels = ["person", "organization", "location"]
  with pytest.warns(UserWarning, match="relations between entities of different groups are not scored"):
    grouped = model.batch_predict_relations(TEXTS, labels, RELATIONS[:2], THRESHOLD[model.config.span_mode], 0.5)
  group_of = {"person": 0, "organization": 0, "location": 1}
  assert any(rels for _, rels in grouped)
  for _, relations in grouped:
    assert all(group_of[r.head.label] == group_of[r.tail.label] for r in relations)
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # entities only: nothing is lost
    entities = model.batch_predict_entities(TEXTS, labels)
  assert [[_ekey(e) for e in ents] for ents in entities] == [
    [_ekey(e) for e in ents] for ents, _ in model.batch_predict_relations(TEXTS, labels, [])
  ]


@pytest.mark.slow
def test_warmup_then_predictions_compile_nothing(loaded):
  model = _with(loaded, max_types=2)
  shapes = model.warmup_relations(TEXTS, ENTITIES, RELATIONS, batch_size=2)
  assert shapes and all(s.batch in (1, 2) and s.entities in ENTITY_SLOTS for s in shapes)
  compiled = set(model.compiled_shapes)
  with CompileCounter(model._apply) as compiles:
    for order in (TEXTS, TEXTS[::-1], TEXTS[1:], [TEXTS[2], TEXTS[0], TEXTS[2]]):
      for batch_size in (1, 2):
        model.batch_predict_relations(order, ENTITIES, RELATIONS, batch_size=batch_size)
    for text in TEXTS:
      model.predict_relations(text, ENTITIES, RELATIONS)
    model.warmup_relations(TEXTS, ENTITIES, RELATIONS, batch_size=2)
  assert sorted(model.compiled_shapes - compiled) == []
  assert compiles.count == 0, compiles.names


@pytest.mark.slow
def test_compiled_shapes_are_bucketed_and_compiled_once(loaded):
  model = _with(loaded, max_types=3)
  words = " ".join(TEXTS).split()
  texts = [" ".join(words[:n]) for n in (1, 7, 20)]
  calls = [(ENTITIES[: 1 + i % 2], RELATIONS[: 2 * i]) for i in range(3)]
  with CompileCounter(model._apply) as compiles:
    for entity_labels, relation_labels in calls:
      model.batch_predict_relations(texts, entity_labels, relation_labels, batch_size=2)
  first = compiles.count
  assert first == len(model.compiled_shapes)  # one program per shape
  for rows, tokens, words_, types, rels, slots in model.compiled_shapes:
    assert rows in BATCH_BUCKETS and rows <= 2
    assert tokens in TOKEN_BUCKETS and words_ in WORD_BUCKETS
    assert types in TYPE_BUCKETS and rels in TYPE_BUCKETS and types <= 4 and rels <= 4
    assert slots in ENTITY_SLOTS
  with CompileCounter(model._apply) as again:
    for entity_labels, relation_labels in calls[::-1]:
      model.batch_predict_relations(texts[::-1], entity_labels, relation_labels, batch_size=2)
  assert again.count == 0, again.names


@pytest.mark.slow  # ~10 s per mode
def test_bfloat16_keeps_most_float32_predictions(loaded):
  bf16 = RelexGLiNER(loaded.config, loaded.params, loaded.tokenizer, dtype=jnp.bfloat16)
  assert bf16.precision.dtype == "bfloat16"
  thresholds = (THRESHOLD[loaded.config.span_mode], 0.5)
  want = loaded.batch_predict_relations(TEXTS, ENTITIES, RELATIONS[:3], *thresholds)
  got = bf16.batch_predict_relations(TEXTS, ENTITIES, RELATIONS[:3], *thresholds)
  want_e = {(t, _ekey(e)) for t, (ents, _) in enumerate(want) for e in ents}
  got_e = {(t, _ekey(e)) for t, (ents, _) in enumerate(got) for e in ents}
  want_r = {(t, _rkey(r)) for t, (_, rels) in enumerate(want) for r in rels}
  got_r = {(t, _rkey(r)) for t, (_, rels) in enumerate(got) for r in rels}
  assert len(want_e) >= 5 and len(want_r) >= 5
  assert len(want_e & got_e) >= 0.8 * len(want_e | got_e)
  assert len(want_r & got_r) >= 0.6 * len(want_r | got_r)
  with pytest.raises(ValueError, match="quantize='int8': a relex model predicts unquantized"):
    RelexGLiNER(loaded.config, loaded.params, loaded.tokenizer, quantize="int8")
