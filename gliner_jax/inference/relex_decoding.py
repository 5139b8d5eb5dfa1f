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

from typing import Any, NamedTuple, Sequence

import numpy as np

from gliner_jax.inference.decoding import decode_spans


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
