"""Long texts in relex prediction: read in windows (`word_windows`), never cut.

A text of ~80 words is read by a model whose max_len is 16 words. What it returns must equal the union of what
each window gives when its words are predicted as a text of their own (offsets shifted back): each entity from the
window owning its first word, each relation kept when its head and tail are among those entities, a relation found
by two overlapping windows once with its higher score. Scores within 1e-5 (the same programs run on the same
tokens). `merge_windows` is checked on hand-made entities, exactly.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from test_relex_predict import LABELS, RELATIONS, TEXTS, build_relex_reference

from conftest import require_module
from gliner_jax.inference.predictor import Entity
from gliner_jax.inference.relex import Relation, RelexGLiNER, merge_windows
from gliner_jax.processing.windows import word_windows

MAX_LEN = 16
LONG_TEXT = " ".join(TEXTS + TEXTS[::-1] + TEXTS)


def _windowed_model(minilm_dir, tmp_path, **config) -> RelexGLiNER:
  require_module("torch")
  require_module("gliner")
  build_relex_reference(minilm_dir, str(tmp_path), **config)
  model = RelexGLiNER.from_pretrained(str(tmp_path))
  short = model.config.replace(max_len=MAX_LEN)
  return RelexGLiNER(short, model.params, model.tokenizer)


def _union_of_windows(model: RelexGLiNER, text: str, threshold: float, relation_threshold: float):
  words = list(model.words_splitter(text))
  overlap = min(2 * model.config.max_width, MAX_LEN // 2)
  windows = word_windows(len(words), MAX_LEN, overlap)
  assert len(windows) > 3
  word_of_start = {start: i for i, (_, start, _) in enumerate(words)}
  entities, relations = [], {}
  for w in windows:
    lo = words[w.start][1]
    got_e, got_r = model.predict_relations(
      text[lo : words[w.stop - 1][2]], LABELS, RELATIONS, threshold, relation_threshold
    )
    shift = lambda e: dataclasses.replace(e, start=e.start + lo, end=e.end + lo)  # noqa: E731
    entities += [shift(e) for e in got_e if w.own_start <= word_of_start[e.start + lo] < w.own_stop]
    for r in got_r:
      key = ((r.head.start + lo, r.head.end + lo, r.head.label), (r.tail.start + lo, r.tail.end + lo, r.tail.label))
      relations.setdefault(key + (r.label,), []).append(r.score)
  keys = [(e.start, e.end, e.label) for e in entities]
  kept = {k: max(s) for k, s in relations.items() if k[0] in keys and k[1] in keys}
  return entities, kept


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["span", "token"])
def test_long_text_relations_are_the_union_of_its_windows(minilm_dir, tmp_path, mode):
  config = dict(relations_layer="dot") if mode == "span" else dict(relations_layer="dot", span_mode="token_level")
  model = _windowed_model(minilm_dir, tmp_path, **config)
  assert len(list(model.words_splitter(LONG_TEXT))) > 4 * MAX_LEN
  for threshold, relation_threshold in ((0.5, 0.5), (0.5, 0.8)):
    with warnings.catch_warnings():
      warnings.filterwarnings("error", message=".*cut.*")
      entities, relations = model.predict_relations(LONG_TEXT, LABELS, RELATIONS, threshold, relation_threshold)
    want_e, want_r = _union_of_windows(model, LONG_TEXT, threshold, relation_threshold)
    assert [(e.start, e.end, e.text, e.label) for e in entities] == [(e.start, e.end, e.text, e.label) for e in want_e]
    np.testing.assert_allclose([e.score for e in entities], [e.score for e in want_e], atol=1e-5, rtol=0)
    got = {
      ((r.head.start, r.head.end, r.head.label), (r.tail.start, r.tail.end, r.tail.label), r.label): r.score
      for r in relations
    }
    assert len(got) == len(relations)  # no duplicates
    assert sorted(got) == sorted(want_r)
    np.testing.assert_allclose([got[k] for k in sorted(got)], [want_r[k] for k in sorted(got)], atol=1e-5, rtol=0)
    assert all(relations[i].head is entities[relations[i].head_index] for i in range(len(relations)))
    assert all(relations[i].tail is entities[relations[i].tail_index] for i in range(len(relations)))
    assert max(e.start for e in entities) > len(LONG_TEXT) * 3 // 4  # nothing cut at max_len words
    assert relations and max(r.head.start for r in relations) > len(LONG_TEXT) // 2
  assert {shape[2] for shape in model.compiled_shapes} == {MAX_LEN}  # every window compiles at one word bucket


def test_merge_windows_keeps_owned_pairs_once_with_the_highest_score():
  a, b, c = (
    Entity(0, 5, "Alice", "person", 0.9),
    Entity(15, 19, "Acme", "org", 0.8),
    Entity(30, 33, "Bob", "person", 0.7),
  )
  b_seen_by_second = Entity(15, 19, "Acme", "org", 0.85)  # window 2's reading of the same entity (not its own)
  unowned = Entity(40, 44, "Zeta", "org", 0.6)  # window 1 saw it, its owner window did not
  first = ([a, b], [Relation(a, b, "works at", 0.6, 0, 1), Relation(a, unowned, "works at", 0.9, 0, 2)])
  second = ([c], [Relation(c, b_seen_by_second, "works at", 0.7, 0, 1), Relation(a, b, "works at", 0.75, 0, 1)])
  entities, relations = merge_windows([first, second])
  assert entities == [a, b, c]
  assert [r.to_dict() for r in relations] == [
    Relation(a, b, "works at", 0.75, 0, 1).to_dict(),
    Relation(c, b, "works at", 0.7, 2, 1).to_dict(),
  ]
  assert merge_windows([first]) == first  # one window: as it came
