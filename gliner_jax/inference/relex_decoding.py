"""Relations from a relex model's output, as gliner 0.2.29's SpanRelexDecoder reads them.

Entities are decoded first (flat or nested, `gliner_jax.inference.decoding`). A scored pair (head i, tail j) of
selected entities is kept when both entities' (first word, last word) are among the decoded entities (the first
decoded entity with those words stands for it), and each relation type whose probability is > the relation
threshold gives one relation. Relations come in the reference's order: pairs row-major (i, then j), then types.

Example (three decoded entities, at words 0-1, 3 and 5; the model scored the first two entity slots
against each other, two relation types):
  >>> from gliner_jax.inference.decoding import SpanPrediction
  >>> spans = [SpanPrediction(0, 1, 0, 0.9), SpanPrediction(3, 3, 1, 0.8), SpanPrediction(5, 5, 1, 0.7)]
  >>> entity_spans, entity_mask = np.array([[0, 1], [3, 3], [5, 5]]), np.array([True, True, False])
  >>> pair_mask = np.array([[False, True, False], [True, False, False], [False, False, False]])
  >>> probs = np.zeros((3, 3, 2), np.float32); probs[0, 1] = (0.2, 0.93); probs[1, 0] = (0.6, 0.1)
  >>> decode_relations(spans, entity_spans, entity_mask, pair_mask, probs, relation_threshold=0.5)
  [DecodedRelation(head=0, tail=1, label=1, score=0.93...), DecodedRelation(head=1, tail=0, label=0, score=0.6...)]
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Sequence

import numpy as np

from gliner_jax.inference.decoding import decode_spans
from gliner_jax.inference.predictor import Entity


class DecodedRelation(NamedTuple):
  """Indices into one text's decoded entity list, the relation type's index and its probability."""

  head: int
  tail: int
  label: int
  score: float


def decode_relations(
  spans: Sequence,
  entity_spans: np.ndarray,
  entity_mask: np.ndarray,
  pair_mask: np.ndarray,
  probs: np.ndarray,
  relation_threshold: float,
  num_relation_types: int | None = None,
) -> list[DecodedRelation]:
  """One text's relations.

  Args:
    spans: the text's decoded entities (objects with `start` and `end` word indices), in output order.
    entity_spans: [E, 2] first and last word of each selected entity slot; entity_mask: [E] slot in use.
    pair_mask: [E, E] pairs the model scored; probs: [E, E, R] relation probabilities (after the sigmoid).
    relation_threshold: strict lower bound on kept probabilities.
    num_relation_types: only the first this many types are real (the rest padding); default all R.
  """
  if probs.ndim != 3 or probs.shape[:2] != pair_mask.shape:
    raise ValueError(f"probs must be [E, E, R] over pair_mask's [E, E] grid, got {probs.shape} and {pair_mask.shape}")
  first: dict[tuple[int, int], int] = {}
  for index, span in enumerate(spans):
    first.setdefault((int(span.start), int(span.end)), index)
  decoded = {
    e: first[key]
    for e in np.flatnonzero(entity_mask).tolist()
    if (key := (int(entity_spans[e, 0]), int(entity_spans[e, 1]))) in first
  }
  r = probs.shape[2] if num_relation_types is None else num_relation_types
  out = []
  for i, j in np.argwhere(pair_mask).tolist():
    if i not in decoded or j not in decoded:
      continue
    for c in np.flatnonzero(probs[i, j, :r] > relation_threshold).tolist():
      out.append(DecodedRelation(decoded[i], decoded[j], c, float(probs[i, j, c])))
  return out


def merge_passes(
  passes: Sequence[tuple[Sequence, Sequence[DecodedRelation]]],
  num_words: int,
  flat_ner: bool = True,
  multi_label: bool = False,
) -> tuple[list, list[DecodedRelation]]:
  """One text window's (entities, relations) from several label-group passes over it, labels numbered globally.

  Each pass gives its decoded entities (`SpanPrediction`s) and its relations (indices into those entities). The
  entities of all passes are united (a (start, end, label) found by several passes once, with its highest score)
  and decoded again (flat or nested, `decode_spans`), in (start, width, label) order so that ties fall as one
  pass's would; a relation is kept when its head and tail are among them, a relation found by several passes once,
  with its highest score, at its first place. One pass comes back as it is.

  Example (two relation groups: the second pass found "0-1 -> 3" with its own relation type 1):
    >>> from gliner_jax.inference.decoding import SpanPrediction
    >>> a = [SpanPrediction(0, 1, 0, 0.9), SpanPrediction(3, 3, 1, 0.8)]
    >>> b = [SpanPrediction(0, 1, 0, 0.7), SpanPrediction(3, 3, 1, 0.85)]
    >>> merge_passes([(a, [DecodedRelation(0, 1, 0, 0.6)]), (b, [DecodedRelation(0, 1, 1, 0.9)])], num_words=5)
    ([SpanPrediction(start=0, end=1, label=0, score=0.9), SpanPrediction(start=3, end=3, label=1, score=0.85)], \
[DecodedRelation(head=0, tail=1, label=0, score=0.6), DecodedRelation(head=0, tail=1, label=1, score=0.9)])
  """
  if len(passes) == 1:
    spans, relations = passes[0]
    return list(spans), list(relations)
  best: dict[tuple[int, int, int], Any] = {}
  for spans, _ in passes:
    for s in spans:
      key = (int(s.start), int(s.end), int(s.label))
      if key not in best or s.score > best[key].score:
        best[key] = s
  order = sorted(best)
  kept = (
    decode_spans(
      np.array([k[0] for k in order], np.int64),
      np.array([k[1] - k[0] for k in order], np.int64),
      np.array([k[2] for k in order], np.int64),
      np.array([float(best[k].score) for k in order], np.float64),
      num_words=num_words,
      flat_ner=flat_ner,
      multi_label=multi_label,
    )
    if order
    else []
  )
  index = {}
  for i, s in enumerate(kept):
    index.setdefault((s.start, s.end, s.label), i)
  found: dict[tuple[int, int, int], DecodedRelation] = {}
  for spans, relations in passes:
    for r in relations:
      head, tail = spans[r.head], spans[r.tail]
      h = index.get((int(head.start), int(head.end), int(head.label)))
      t = index.get((int(tail.start), int(tail.end), int(tail.label)))
      if h is None or t is None:
        continue
      key = (h, t, r.label)
      if key not in found or r.score > found[key].score:
        found[key] = DecodedRelation(h, t, r.label, r.score)
  return kept, list(found.values())


@dataclasses.dataclass(frozen=True)
class Relation:
  """A predicted relation: head and tail entities (character offsets into the text), its label and score.

  Reads like gliner's dicts too: `r["head"]` is {"start", "end", "text", "type", "entity_idx"}, as are
  `r["tail"]`; `r["relation"]` and `r["label"]` are the label, `r["score"]` the score.
  """

  head: Entity
  tail: Entity
  label: str
  score: float
  head_index: int  # indices into the text's entity list
  tail_index: int

  def __getitem__(self, key: str):
    if key in ("head", "tail"):
      e, i = (self.head, self.head_index) if key == "head" else (self.tail, self.tail_index)
      return {"start": e.start, "end": e.end, "text": e.text, "type": e.label, "entity_idx": i}
    if key == "relation":
      return self.label
    return getattr(self, key)

  def to_dict(self) -> dict[str, Any]:
    """gliner's dict: {"head": {...}, "tail": {...}, "relation": label, "score": score}."""
    return {"head": self["head"], "tail": self["tail"], "relation": self.label, "score": self.score}


def merge_windows(windows: Sequence[tuple[list[Entity], list[Relation]]]) -> tuple[list[Entity], list[Relation]]:
  """One text's (entities, relations) from its windows' (in text order; each window's entities are those it owns,
  its relations all it found): the entities concatenated; each relation kept when its head and tail are among
  them (matched by start, end and label), a relation found by several windows (same head, tail and label) once,
  with its highest score, at its first place. One window comes back as it is.

  Example:
    >>> alice, acme = Entity(0, 5, "Alice", "person", 0.9), Entity(15, 19, "Acme", "company", 0.8)
    >>> oslo = Entity(23, 27, "Oslo", "city", 0.7)
    >>> first = ([alice], [Relation(alice, acme, "works at", 0.6, 0, 1)])   # acme: owned by the second window
    >>> second = ([acme, oslo], [Relation(alice, acme, "works at", 0.7, 0, 1), Relation(acme, oslo, "in", 0.5, 0, 1)])
    >>> entities, relations = merge_windows([first, second])
    >>> [e.text for e in entities], [(r.head.text, r.label, r.tail.text, r.score, r.head_index) for r in relations]
    (['Alice', 'Acme', 'Oslo'], [('Alice', 'works at', 'Acme', 0.7, 0), ('Acme', 'in', 'Oslo', 0.5, 1)])
  """
  if len(windows) == 1:
    return windows[0]
  entities = [e for ents, _ in windows for e in ents]
  index = {}
  for i, e in enumerate(entities):
    index.setdefault((e.start, e.end, e.label), i)
  kept: dict[tuple, Relation] = {}
  for _, rels in windows:
    for r in rels:
      h, t = index.get((r.head.start, r.head.end, r.head.label)), index.get((r.tail.start, r.tail.end, r.tail.label))
      if h is None or t is None:
        continue
      key = (h, t, r.label)
      if key not in kept or r.score > kept[key].score:
        kept[key] = Relation(entities[h], entities[t], r.label, r.score, h, t)
  return entities, list(kept.values())
