"""Relation extraction evaluation (`gliner_jax.evaluation.relations`).

- `score_triples` against a brute-force count (pairwise matching, no canonical forms, no sets) on random gold and
  predicted relations, in both settings, with and without symmetric types, per relation type too;
- exact values on a hand example in both settings; duplicates counted once, self-relations scored as triples,
  empty inputs, bad inputs named;
- `evaluate_relations` end to end on a span relex model (random tiny BERT, built by gliner 0.2.29 and loaded): the
  model's own predictions fed back as gold score F1 = 1 in both settings and for entities, one relation left out of
  the gold gives exactly one false positive, and the words reach the model unchanged (word indices map back to the
  entities' text; on plain words the same predictions as `batch_predict_relations` on the joined text), and a
  relation threshold sweep equals separate runs;
- the same consistency on a token relex model whose max_len of 6 words makes every text several windows.
"""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import pytest

from conftest import require_module
from gliner_jax.data.readers import NERExample
from gliner_jax.evaluation.relations import (
  TripleScores,
  WordRelations,
  canonical_triple,
  evaluate_relations,
  filter_relations,
  gold_triples,
  predict_word_relations,
  score_relations,
  score_triples,
  sweep_relation_thresholds,
)


# ----------------------------------------------------------------------------------- brute force
def _same(a, b, setting: str, symmetric) -> bool:
  if a[2] != b[2]:
    return False

  def entity_equal(x, y):
    return tuple(x[:2]) == tuple(y[:2]) and (setting == "boundaries" or x[2] == y[2])

  direct = entity_equal(a[0], b[0]) and entity_equal(a[1], b[1])
  swapped = a[2] in symmetric and entity_equal(a[0], b[1]) and entity_equal(a[1], b[0])
  return direct or swapped


def _unique(triples, setting, symmetric) -> list:
  kept = []
  for t in triples:
    if not any(_same(t, k, setting, symmetric) for k in kept):
      kept.append(t)
  return kept


def brute_force(gold, predicted, setting, symmetric, relation_type=None) -> tuple[int, int, int]:
  tp = fp = fn = 0
  for g, p in zip(gold, predicted):
    g = _unique([t for t in g if relation_type in (None, t[2])], setting, symmetric)
    p = _unique([t for t in p if relation_type in (None, t[2])], setting, symmetric)
    hits = sum(any(_same(x, y, setting, symmetric) for y in g) for x in p)
    tp, fp, fn = tp + hits, fp + len(p) - hits, fn + len(g) - hits
  return tp, fp, fn


def _random_entity(rng: random.Random):
  start = rng.randrange(3)
  return (start, start + rng.randrange(2), rng.choice("AB"))


def _random_triple(rng: random.Random):
  return (_random_entity(rng), _random_entity(rng), rng.choice(["r", "s", "t"]))


def _perturbed(rng: random.Random, triple):
  head, tail, label = triple
  change = rng.randrange(5)
  if change == 0:
    return (tail, head, label)  # reversed: right only for a symmetric type
  if change == 1:
    return ((head[0], head[1], "B" if head[2] == "A" else "A"), tail, label)  # head type wrong: boundaries only
  if change == 2:
    return (head, tail, rng.choice(["r", "s", "t"]))
  if change == 3:
    return (head, _random_entity(rng), label)
  return triple


@pytest.mark.parametrize("symmetric", [(), ("s",), ("r", "s", "t")])
def test_score_triples_matches_brute_force(symmetric):
  rng = random.Random(0)
  for _ in range(60):
    gold, predicted = [], []
    for _ in range(rng.randrange(1, 5)):
      g = [_random_triple(rng) for _ in range(rng.randrange(5))]
      p = [_perturbed(rng, rng.choice(g)) for _ in range(rng.randrange(4))] if g else []
      p += [_random_triple(rng) for _ in range(rng.randrange(3))]
      p = [t + (rng.random(),) if rng.random() < 0.5 else t for t in p]  # scores are ignored
      rng.shuffle(p)
      gold.append(g)
      predicted.append(p)
    for setting in ("boundaries", "strict"):
      got = score_triples(gold, predicted, setting, symmetric)
      assert (got.true_positives, got.false_positives, got.false_negatives) == brute_force(
        gold, predicted, setting, symmetric
      )
      types = sorted({t[2] for ex in gold + predicted for t in ex})
      assert list(got.per_type) == types
      for label, scores in got.per_type.items():
        counts = brute_force(gold, predicted, setting, symmetric, label)
        assert (scores.true_positives, scores.false_positives, scores.false_negatives) == counts
      assert got == TripleScores.from_counts(got.true_positives, got.false_positives, got.false_negatives, got.per_type)
      assert sum(s.true_positives for s in got.per_type.values()) == got.true_positives


# ----------------------------------------------------------------------------------- exact values
ANN, ACME, OSLO = (0, 0, "person"), (3, 3, "organization"), (5, 5, "city")
HAND_GOLD = [
  [(ANN, ACME, "works at"), (ACME, OSLO, "located in")],
  [((0, 1, "person"), (3, 3, "person"), "married to")],
]
HAND_PRED = [
  [
    (ANN, ACME, "works at", 0.9),  # right
    ((3, 3, "person"), OSLO, "located in", 0.8),  # head type wrong: boundaries only
    (ANN, OSLO, "works at", 0.7),  # wrong tail
  ],
  [((3, 3, "person"), (0, 1, "person"), "married to", 0.6)],  # reversed: right only if symmetric
]


def test_hand_example_both_settings():
  b = score_triples(HAND_GOLD, HAND_PRED, "boundaries")
  s = score_triples(HAND_GOLD, HAND_PRED, "strict")
  assert (b.true_positives, b.false_positives, b.false_negatives) == (2, 2, 1)
  assert (b.precision, b.recall, b.f1) == pytest.approx((1 / 2, 2 / 3, 4 / 7), abs=1e-12)
  assert (s.true_positives, s.false_positives, s.false_negatives) == (1, 3, 2)
  assert (s.precision, s.recall, s.f1) == pytest.approx((1 / 4, 1 / 3, 2 / 7), abs=1e-12)
  assert {k: (v.true_positives, v.false_positives, v.false_negatives) for k, v in s.per_type.items()} == {
    "located in": (0, 1, 1),
    "married to": (0, 1, 1),
    "works at": (1, 1, 0),
  }
  assert b.per_type["located in"].f1 == 1.0 and s.per_type["works at"].f1 == pytest.approx(2 / 3)
  assert s.macro_f1 == pytest.approx((0 + 0 + 2 / 3) / 3)


def test_hand_example_symmetric():
  b = score_triples(HAND_GOLD, HAND_PRED, "boundaries", symmetric={"married to"})
  s = score_triples(HAND_GOLD, HAND_PRED, "strict", symmetric=["married to"])
  assert (b.true_positives, b.false_positives, b.false_negatives, b.f1) == (3, 1, 0, pytest.approx(6 / 7))
  assert (s.true_positives, s.false_positives, s.false_negatives, s.f1) == (2, 2, 1, pytest.approx(4 / 7))
  # a symmetric gold relation annotated in both directions is one relation
  both_ways = [[(ANN, ACME, "knows"), (ACME, ANN, "knows")]]
  assert score_triples(both_ways, [[(ACME, ANN, "knows")]], symmetric={"knows"}).f1 == 1.0
  assert score_triples(both_ways, [[(ACME, ANN, "knows")]]).recall == 0.5
  # same first word: ordered by end, then type
  assert canonical_triple(((2, 4, "a"), (2, 3, "b"), "near"), symmetric={"near"}) == ((2, 3, "b"), (2, 4, "a"), "near")
  assert canonical_triple(((2, 3, "b"), (2, 3, "a"), "near"), symmetric={"near"}) == ((2, 3, "a"), (2, 3, "b"), "near")


def test_duplicates_count_once():
  gold = [[(ANN, ACME, "works at"), (ANN, ACME, "works at")]]
  pred = [[(ANN, ACME, "works at", 0.9), (ANN, ACME, "works at", 0.6), (ANN, ACME, "works at")]]
  got = score_triples(gold, pred)
  assert (got.true_positives, got.false_positives, got.false_negatives, got.f1) == (1, 0, 0, 1.0)
  # two predictions differing only in entity types are one prediction in the boundaries setting
  typed = [[(ANN, ACME, "works at"), ((0, 0, "city"), ACME, "works at")]]
  assert score_triples(gold, typed, "boundaries").false_positives == 0
  assert score_triples(gold, typed, "strict").false_positives == 1


def test_self_relations_are_scored_as_triples():
  one_span_two_types = ((2, 3, "person"), (2, 3, "title"), "has title")
  gold = [[one_span_two_types]]
  assert score_triples(gold, [[one_span_two_types]]).f1 == 1.0
  flipped = [[((2, 3, "title"), (2, 3, "person"), "has title")]]
  assert score_triples(gold, flipped, "strict").true_positives == 0
  assert score_triples(gold, flipped, "boundaries").true_positives == 1  # the same span both ways
  self_pred = [[((2, 3, "person"), (2, 3, "person"), "has title")]]
  got = score_triples(gold, self_pred, "strict")
  assert (got.true_positives, got.false_positives, got.false_negatives) == (0, 1, 1)


def test_empty_and_bad_inputs():
  assert score_triples([[], []], [[], []]) == TripleScores(0, 0, 0, 0.0, 0.0, 0.0, {})
  only_pred = score_triples([[]], [[(ANN, ACME, "r")]])
  assert (only_pred.precision, only_pred.recall, only_pred.false_positives) == (0.0, 0.0, 1)
  with pytest.raises(ValueError, match="gold has 1 examples but predicted has 2"):
    score_triples([[]], [[], []])
  with pytest.raises(ValueError, match="setting must be one of"):
    score_triples([[]], [[]], "relaxed")
  with pytest.raises(ValueError, match="symmetric must be a collection"):
    score_triples([[]], [[]], symmetric="married to")
  with pytest.raises(ValueError, match=r"predicted example 0: a relation must be \(head, tail, relation_type"):
    score_triples([[]], [[(ANN, ACME)]])
  with pytest.raises(ValueError, match="gold example 1: head must have integer words 0 <= start <= end"):
    score_triples([[], [((3, 2, "x"), ACME, "r")]], [[], []])
  with pytest.raises(ValueError, match="tail must be \\(start_word, end_word, type\\)"):
    score_triples([[(ANN, (3, 3), "r")]], [[]])
  with pytest.raises(ValueError, match="head and tail must index the 2 entities"):
    gold_triples(SimpleNamespace(spans=((0, 0, "x"), (1, 1, "y")), relations=((0, 2, "r"),)))
  with pytest.raises(ValueError, match="head and tail must index the 2 entities"):
    gold_triples(SimpleNamespace(spans=((0, 0, "x"), (1, 1, "y")), relations=(("0", 1, "r"),)))
  with pytest.raises(ValueError, match="head must have integer words"):
    score_triples([[((-1, 0, "x"), ACME, "r")]], [[]])


def test_score_relations_reports_entities_beside():
  ex = NERExample(
    ("Ann", "works", "at", "Acme", "in", "Oslo"),
    (ANN, ACME, OSLO),
    relations=((0, 1, "works at"), (1, 2, "located in")),
  )
  assert gold_triples(ex) == [(ANN, ACME, "works at"), (ACME, OSLO, "located in")]
  pred = WordRelations(
    ((0, 0, "person", 0.9), (3, 3, "organization", 0.8), (5, 5, "country", 0.7)),
    ((ANN, ACME, "works at", 0.6), (ACME, (5, 5, "country"), "located in", 0.5)),
  )
  got = score_relations([ex], [pred])
  assert (got.entities.true_positives, got.entities.num_predicted, got.entities.num_gold) == (2, 3, 3)
  assert (got.boundaries.true_positives, got.strict.true_positives) == (2, 1)
  assert got.to_dict()["strict"]["per_type"]["works at"]["f1"] == 1.0
  table = got.to_markdown()
  assert "| relations, boundaries | 100.00 | 100.00 | 100.00 | 2 | 0 | 0 |" in table
  assert "| relations, strict | 50.00 | 50.00 | 50.00 | 1 | 1 | 1 |" in table
  assert "| located in | 100.00 | 0.00 | 1 |" in table
  with pytest.raises(ValueError, match="1 examples but 0 predictions"):
    score_relations([ex], [])


# ----------------------------------------------------------------------------------- end to end
ENTITY_LABELS = ["person", "organization", "location"]
RELATION_LABELS = ["works at", "located in", "founded"]
WORDS = [
  ("Alice", "Smith", "works", "at", "Acme", "Corp.", "in", "Paris", "since", "2020", "."),
  ("U.S.-based", "Globex", "hired", "Bob", "Jones", "(", "CEO", ")", "in", "Berlin", "."),
  ("The", "Eiffel", "Tower", "is", "located", "in", "Paris", ",", "France", "."),
]


@pytest.fixture(scope="module")
def relex_model(bert_tiny_dir, tmp_path_factory):
  """A span "dot" relex model built by gliner 0.2.29 on the random tiny BERT (heads scaled), loaded."""
  require_module("torch")
  require_module("gliner")
  from test_relex_predict import build_relex_reference

  from gliner_jax.inference.relex import RelexGLiNER

  folder = tmp_path_factory.mktemp("relex_eval")
  build_relex_reference(bert_tiny_dir, str(folder), relations_layer="dot")
  return RelexGLiNER.from_pretrained(str(folder))


@pytest.fixture(scope="module")
def windowed_token_model(bert_tiny_dir, tmp_path_factory):
  """A token relex model ("dot") whose max_len of 6 words makes every text of WORDS several windows."""
  require_module("torch")
  require_module("gliner")
  from test_relex_predict import build_relex_reference

  from gliner_jax.inference.relex import RelexGLiNER

  folder = tmp_path_factory.mktemp("relex_eval_token")
  build_relex_reference(bert_tiny_dir, str(folder), relations_layer="dot", span_mode="token_level", max_len=6)
  return RelexGLiNER.from_pretrained(str(folder))


def _as_gold(words, found: WordRelations) -> NERExample:
  spans = [e[:3] for e in found.entities]
  index = {s: i for i, s in enumerate(spans)}
  return NERExample(words, tuple(spans), relations=tuple((index[h], index[t], r) for h, t, r, _ in found.relations))


@pytest.mark.slow  # the relex model tests (~11 s with its build); the scoring tests above stay fast
def test_own_predictions_score_one(relex_model):
  options = dict(threshold=0.5, relation_threshold=0.6)
  splitter = relex_model.words_splitter
  found = predict_word_relations(relex_model, WORDS, ENTITY_LABELS, RELATION_LABELS, **options)
  assert relex_model.words_splitter is splitter  # restored
  assert all(f.relations for f in found), [len(f.relations) for f in found]
  for words, f in zip(WORDS, found):
    assert all(0 <= s <= e < len(words) for s, e, _, _ in f.entities)
  gold = [_as_gold(w, f) for w, f in zip(WORDS, found)]
  result = evaluate_relations(relex_model, gold, ENTITY_LABELS, RELATION_LABELS, batch_size=2, **options)
  n = sum(len(f.relations) for f in found)
  assert (result.strict.true_positives, result.strict.false_positives, result.strict.false_negatives) == (n, 0, 0)
  assert result.strict.f1 == result.boundaries.f1 == result.entities.f1 == 1.0
  assert result.num_examples == 3

  # one gold relation left out: exactly one false positive, in both settings
  fewer = [dataclasses.replace(gold[0], relations=gold[0].relations[1:])] + gold[1:]
  result = evaluate_relations(relex_model, fewer, ENTITY_LABELS, RELATION_LABELS, **options)
  for setting in (result.strict, result.boundaries):
    assert (setting.true_positives, setting.false_positives, setting.false_negatives) == (n - 1, 1, 0)


@pytest.mark.slow
def test_words_reach_the_model_unchanged(relex_model):
  words = [("Alice", "Smith", "founded", "Acme", "in", "Paris"), ("Bob", "works", "at", "Globex", "in", "Berlin")]
  found = predict_word_relations(relex_model, words, ENTITY_LABELS, RELATION_LABELS, threshold=0.5)
  texts = [" ".join(w) for w in words]
  direct = relex_model.batch_predict_relations(texts, ENTITY_LABELS, RELATION_LABELS, threshold=0.5)
  for w, text, f, (ents, rels) in zip(words, texts, found, direct):
    assert [" ".join(w[s : e + 1]) for s, e, _, _ in f.entities] == [e.text for e in ents]
    assert [(lab, pytest.approx(sc)) for _, _, lab, sc in f.entities] == [(e.label, e.score) for e in ents]
    got = [(" ".join(w[h[0] : h[1] + 1]), " ".join(w[t[0] : t[1] + 1]), lab) for h, t, lab, _ in f.relations]
    assert got == [(r.head.text, r.tail.text, r.label) for r in rels]
  # punctuation inside a word stays one word: the entity text is exactly the joined words
  tricky = [("U.S.-based", "Globex", "hired", "Bob", "Jones", "(", "CEO", ")", "."), ("U.S.-based", "Globex")]
  for w, f in zip(tricky, predict_word_relations(relex_model, tricky, ENTITY_LABELS, RELATION_LABELS)):
    assert all(0 <= s <= e < len(w) for s, e, _, _ in f.entities)


@pytest.mark.slow
def test_default_labels_are_the_gold_types(relex_model, monkeypatch):
  gold = [
    NERExample(WORDS[0], ((0, 1, "person"), (4, 5, "organization")), relations=((0, 1, "works at"),)),
    NERExample(WORDS[2], ((1, 2, "landmark"), (6, 6, "location")), relations=((0, 1, "located in"),)),
  ]
  seen = {}
  original = type(relex_model).batch_predict_relations

  def spy(self, texts, entity_labels, relation_labels, **kwargs):
    seen.update(entity_labels=entity_labels, relation_labels=relation_labels)
    return original(self, texts, entity_labels, relation_labels, **kwargs)

  monkeypatch.setattr(type(relex_model), "batch_predict_relations", spy)
  evaluate_relations(relex_model, gold)
  assert seen == {
    "entity_labels": ["person", "organization", "landmark", "location"],
    "relation_labels": ["works at", "located in"],
  }
  with pytest.raises(ValueError, match="no relation labels"):
    evaluate_relations(relex_model, [NERExample(WORDS[0], ((0, 1, "person"),))])
  with pytest.raises(ValueError, match="no examples"):
    evaluate_relations(relex_model, [])


@pytest.mark.slow
def test_relation_threshold_sweep_equals_separate_runs(relex_model):
  found = predict_word_relations(relex_model, WORDS, ENTITY_LABELS, RELATION_LABELS, relation_threshold=0.05)
  gold = [_as_gold(w, f) for w, f in zip(WORDS, found)]
  gold = [dataclasses.replace(g, relations=g.relations[::2]) for g in gold]  # half the relations
  thresholds = [0.9, 0.1, 0.3]
  sweep = sweep_relation_thresholds(relex_model, gold, thresholds, ENTITY_LABELS, RELATION_LABELS, threshold=0.5)
  assert [r.relation_threshold for r in sweep] == thresholds
  predicted = set()
  for t, swept in zip(thresholds, sweep):
    single = evaluate_relations(relex_model, gold, ENTITY_LABELS, RELATION_LABELS, 0.5, relation_threshold=t)
    assert swept == single
    again = predict_word_relations(relex_model, WORDS, ENTITY_LABELS, RELATION_LABELS, relation_threshold=t)
    assert filter_relations(found, t) == again
    predicted.add(swept.strict.true_positives + swept.strict.false_positives)
  assert len(predicted) == 3, predicted  # the thresholds make a difference
  assert "threshold 0.5, relation threshold 0.9" in sweep[0].to_markdown()
  with pytest.raises(ValueError, match="relation_thresholds must not be empty"):
    sweep_relation_thresholds(relex_model, gold, [])


@pytest.mark.slow
def test_token_model_in_windows_scores_its_own_predictions_one(windowed_token_model):
  model = windowed_token_model
  texts = [" ".join(w) for w in WORDS]
  assert getattr(model.config, "base", model.config).max_len == 6
  assert all(len(list(model.words_splitter(t))) > 6 for t in texts)  # read in windows
  found = predict_word_relations(model, WORDS, ENTITY_LABELS, RELATION_LABELS, threshold=0.5)
  direct = model.batch_predict_relations(texts, ENTITY_LABELS, RELATION_LABELS, threshold=0.5)
  assert sum(len(f.relations) for f in found) > 0
  for w, f, (ents, rels) in zip(WORDS[2:], found[2:], direct[2:]):  # plain words: the model's splitter agrees
    assert [" ".join(w[s : e + 1]) for s, e, _, _ in f.entities] == [e.text for e in ents]
    assert len(f.relations) == len(rels)
  gold = [_as_gold(w, f) for w, f in zip(WORDS, found)]
  result = evaluate_relations(model, gold, ENTITY_LABELS, RELATION_LABELS, threshold=0.5)
  assert result.strict.f1 == result.boundaries.f1 == result.entities.f1 == 1.0
  assert result.strict.true_positives == sum(len(f.relations) for f in found)
