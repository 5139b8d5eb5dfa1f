"""Relation extraction evaluation: micro precision / recall / F1 of (head, tail, relation type) triples.

A relation of one example is a triple ``((head_start, head_end, head_type), (tail_start, tail_end, tail_type),
relation_type)``: two entities as word spans (end word inclusive) with their types, and the relation's type. A
predicted triple may carry a score as a fourth element; it is ignored when scoring.

Conventions, as the end-to-end relation extraction literature scores (Taillé et al., "Let's Stop Incorrect
Comparisons in End-to-end Relation Extraction!", EMNLP 2020, name the settings):

- **boundaries**: a predicted relation is correct when its head and tail word spans and its relation type equal
  those of a gold relation of the same example; entity types are not looked at. SpERT's "without NER" (Eberts and
  Ulges, ECAI 2020; ``spert/evaluator.py`` replaces the entity types by one pseudo type) and PURE's "Rel" (Zhong and
  Chen, NAACL 2021; ``shared/data_structures.py``).
- **strict**: the head and tail entity types must match too. SpERT's "with NER", PURE's "Rel+". SpERT compares the
  types the relation's own entities carry, as here; PURE asks whether both spans are among the correctly typed
  predicted entities, which is the same when each span gets one type (``multi_label=False``).
- Triples are *sets* per example, as SpERT scores them: a duplicate (gold or predicted) counts once. PURE counts
  lists instead; its gold data holds no duplicates and its predictions none either.
- Counts are summed over the examples (micro average). Precision is 0 when nothing is predicted, recall 0 when there
  is no gold relation, F1 0 when both are 0 (PURE's ``safe_div``; `gliner_jax.evaluation.scoring` does the same for
  entities). Per relation type, the same counts restricted to triples of that type; they sum to the micro counts.
- **Symmetric relation types** (``symmetric=``): SpERT's types file marks a relation type symmetric, and SpERT puts
  the entity whose first word comes first as head, in gold and predicted triples of that type alike, so that the
  direction never counts. Here the two entities of such a triple are ordered by (start, end) in the boundaries
  setting and by (start, end, type) in the strict one, so that entities with the same first word are ordered too.
  A gold relation annotated in both directions then counts once.
- **Self-relations** (head and tail the same word span: gliner's relex models never pair an entity with itself,
  but one span with two types can be related to itself): scored as any other triple, never dropped. In the
  boundaries setting such a triple ignores which of the two types is head.
- Entity F1 (strict: word span and type) is reported beside, by `gliner_jax.evaluation.scoring.score_spans`, over
  every entity the model returns (not only those in a relation).

`evaluate_relations` runs a relex model (`gliner_jax.inference.relex.RelexGLiNER`) on annotated examples: their
words go to the model as they are (joined with spaces, never re-split, as `predict_word_spans` does for entities),
and the character offsets it returns are mapped back to word indices.

Example:
  >>> gold = [[((0, 0, "person"), (3, 3, "company"), "works at")]]
  >>> pred = [[((0, 0, "person"), (3, 3, "city"), "works at", 0.9)]]
  >>> score_triples(gold, pred, "boundaries").f1, score_triples(gold, pred, "strict").f1
  (1.0, 0.0)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Collection, Iterable, Mapping, Sequence

import numpy as np

from gliner_jax.data.readers import NERExample
from gliner_jax.evaluation.scoring import PretokenizedSplitter, ScoredSpan, Scores, score_spans
from gliner_jax.inference.decoding import check_threshold

WordEntity = tuple[int, int, str]
Triple = tuple[WordEntity, WordEntity, str]
ScoredTriple = tuple[WordEntity, WordEntity, str, float]

SETTINGS = ("boundaries", "strict")


# ----------------------------------------------------------------------------------- scores
@dataclasses.dataclass(frozen=True)
class TripleScores:
  """Micro counts and scores of one setting (fractions in [0, 1]); ``per_type`` the same per relation type.

  >>> s = TripleScores.from_counts(2, 1, 3); (s.precision, s.recall, s.f1)
  (0.666..., 0.4, 0.5)
  """

  true_positives: int
  false_positives: int
  false_negatives: int
  precision: float
  recall: float
  f1: float
  per_type: Mapping[str, "TripleScores"] = dataclasses.field(default_factory=dict)

  @classmethod
  def from_counts(cls, tp: int, fp: int, fn: int, per_type: Mapping[str, "TripleScores"] | None = None):
    """Scores from counts: precision tp / (tp + fp), recall tp / (tp + fn), 0 where the denominator is 0."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return cls(int(tp), int(fp), int(fn), float(p), float(r), float(f1), dict(per_type or {}))

  @property
  def macro_f1(self) -> float:
    """Mean F1 over the relation types in ``per_type`` (those with a gold or predicted triple), 0 if none."""
    return float(np.mean([s.f1 for s in self.per_type.values()])) if self.per_type else 0.0

  def to_dict(self) -> dict[str, Any]:
    out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "per_type"}
    if self.per_type:
      out["macro_f1"] = self.macro_f1
      out["per_type"] = {k: v.to_dict() for k, v in self.per_type.items()}
    return out


def _is_index(value: Any) -> bool:
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


def _entity(value: Any, what: str) -> WordEntity:
  if not (isinstance(value, (tuple, list)) and len(value) == 3):
    raise ValueError(f"{what} must be (start_word, end_word, type), got {value!r}")
  start, end, label = value
  if not (_is_index(start) and _is_index(end) and start <= end):
    raise ValueError(f"{what} must have integer words 0 <= start <= end, got {value!r}")
  if not isinstance(label, str):
    raise ValueError(f"{what} must have a string type, got {value!r}")
  return int(start), int(end), label


def _triple(value: Any, where: str) -> Triple:
  if not (isinstance(value, (tuple, list)) and len(value) in (3, 4) and isinstance(value[2], str)):
    raise ValueError(f"{where}: a relation must be (head, tail, relation_type[, score]), got {value!r}")
  return _entity(value[0], f"{where}: head"), _entity(value[1], f"{where}: tail"), value[2]


def canonical_triple(triple: Sequence, setting: str = "strict", symmetric: Collection[str] = ()) -> Triple:
  """The form a triple is matched in: entity types blanked ("") for "boundaries", and for a relation type in
  ``symmetric`` the two entities in (start, end, type) order. The score, if any, is dropped.

  >>> canonical_triple(((4, 5, "city"), (0, 1, "person"), "near", 0.7), "boundaries", symmetric={"near"})
  ((0, 1, ''), (4, 5, ''), 'near')
  """
  if setting not in SETTINGS:
    raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
  return _canonical(_triple(triple, "triple"), setting, symmetric)


def _canonical(triple: Triple, setting: str, symmetric: Collection[str]) -> Triple:
  head, tail, label = triple
  if setting == "boundaries":
    head, tail = (head[0], head[1], ""), (tail[0], tail[1], "")
  if label in symmetric and tail < head:
    head, tail = tail, head
  return head, tail, label


def score_triples(
  gold: Sequence[Iterable[Sequence]],
  predicted: Sequence[Iterable[Sequence]],
  setting: str = "strict",
  symmetric: Collection[str] = (),
) -> TripleScores:
  """Micro P/R/F1 of per-example relation lists in one setting ("boundaries" or "strict"), with a per relation type
  breakdown; see the module docstring for the conventions.

  >>> gold = [[((0, 0, "person"), (2, 2, "company"), "works at"), ((2, 2, "company"), (4, 4, "city"), "in")]]
  >>> pred = [[((0, 0, "person"), (2, 2, "company"), "works at", 0.8), ((4, 4, "city"), (2, 2, "company"), "in", 0.6)]]
  >>> s = score_triples(gold, pred); (s.true_positives, s.false_positives, s.false_negatives, s.f1)
  (1, 1, 1, 0.5)
  >>> score_triples(gold, pred, symmetric={"in"}).f1
  1.0
  """
  if setting not in SETTINGS:
    raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
  if isinstance(symmetric, str):
    raise ValueError(f"symmetric must be a collection of relation types, got the string {symmetric!r}")
  if len(gold) != len(predicted):
    raise ValueError(f"gold has {len(gold)} examples but predicted has {len(predicted)}")
  symmetric = frozenset(symmetric)
  counts: dict[str, list[int]] = {}  # relation type -> [tp, fp, fn]
  for i, (g, p) in enumerate(zip(gold, predicted)):
    g_set = {_canonical(_triple(t, f"gold example {i}"), setting, symmetric) for t in g}
    p_set = {_canonical(_triple(t, f"predicted example {i}"), setting, symmetric) for t in p}
    for t in g_set | p_set:
      c = counts.setdefault(t[2], [0, 0, 0])
      c[0 if (t in g_set and t in p_set) else (1 if t in p_set else 2)] += 1
  per_type = {label: TripleScores.from_counts(*counts[label]) for label in sorted(counts)}
  tp, fp, fn = (sum(c[k] for c in counts.values()) for k in range(3))
  return TripleScores.from_counts(tp, fp, fn, per_type)


def gold_triples(example: NERExample) -> list[Triple]:
  """The gold relations of an example (``spans`` and ``relations``: (head, tail, type) indices into ``spans``) as
  triples.

  >>> ex = NERExample(["Ann", "at", "Acme"], [(0, 0, "person"), (2, 2, "company")])
  >>> gold_triples(ex)  # no relations field, or none annotated
  []
  """
  spans = list(example.spans)
  out = []
  for j, rel in enumerate(getattr(example, "relations", ())):
    if not (isinstance(rel, (tuple, list)) and len(rel) == 3):
      raise ValueError(f"relation {j} {rel!r} is not (head, tail, type)")
    head, tail, label = rel
    if not (_is_index(head) and _is_index(tail) and head < len(spans) and tail < len(spans)):
      raise ValueError(f"relation {j} {rel!r}: head and tail must index the {len(spans)} entities")
    out.append((tuple(spans[head]), tuple(spans[tail]), label))
  return out


# ----------------------------------------------------------------------------------- prediction
@dataclasses.dataclass(frozen=True)
class WordRelations:
  """A relex model's output on one pre-tokenised example, in words: ``entities`` (start, end, label, score) and
  ``relations`` (head, tail, label, score) with head and tail (start, end, label), end words inclusive."""

  entities: tuple[ScoredSpan, ...]
  relations: tuple[ScoredTriple, ...]


def _word_lists(examples: Sequence[NERExample | Sequence[str]]) -> list[tuple[str, ...]]:
  lists = []
  for i, ex in enumerate(examples):
    words = tuple(ex.tokens) if hasattr(ex, "tokens") else tuple(ex)
    bad = [w for w in words if not isinstance(w, str)]
    if bad:
      raise ValueError(f"example {i}: words must be strings, got {bad[:3]!r}")
    lists.append(words)
  return lists


def predict_word_relations(
  model,
  examples: Sequence[NERExample | Sequence[str]],
  entity_labels: Sequence[str],
  relation_labels: Sequence[str],
  *,
  threshold: float = 0.5,
  relation_threshold: float | None = None,
  adjacency_threshold: float | None = None,
  flat_ner: bool = True,
  multi_label: bool = False,
  batch_size: int = 8,
) -> list[WordRelations]:
  """Entities and relations of pre-tokenised examples (`NERExample`s or word lists), in word indices.

  The words reach the model as they are: the texts (the words joined) are split by a `PretokenizedSplitter` over
  those words, passed as `batch_predict_relations(..., words_splitter=)` (the model is left as it is), and each
  entity's character offsets are mapped back to its first and last word.

  >>> words = [["Ann", "works", "at", "Acme"]]
  >>> found = predict_word_relations(model, words, ["person", "company"], ["works at"])  # doctest: +SKIP
  >>> found[0].relations  # doctest: +SKIP
  (((0, 0, 'person'), (3, 3, 'company'), 'works at', 0.7),)
  """
  word_lists = _word_lists(examples)
  rounds: list[tuple[PretokenizedSplitter, list[int]]] = []  # no two word lists of a round join to one text
  for i, words in enumerate(word_lists):
    for splitter, members in rounds:
      try:
        splitter.register(words)
      except ValueError:
        continue
      members.append(i)
      break
    else:
      splitter = PretokenizedSplitter()
      splitter.register(words)
      rounds.append((splitter, [i]))
  out: list[WordRelations] = [WordRelations((), ()) for _ in word_lists]
  for splitter, members in rounds:
    texts = [" ".join(word_lists[i]) for i in members]
    found = model.batch_predict_relations(
      texts,
      list(entity_labels),
      list(relation_labels),
      threshold=threshold,
      relation_threshold=relation_threshold,
      adjacency_threshold=adjacency_threshold,
      flat_ner=flat_ner,
      multi_label=multi_label,
      batch_size=batch_size,
      words_splitter=splitter,
    )
    for i, text, (entities, relations) in zip(members, texts, found):
      split = splitter(text)
      first = {s: w for w, (_, s, _) in enumerate(split)}
      last = {e: w for w, (_, _, e) in enumerate(split)}

      def words_of(e) -> WordEntity:
        return first[e.start], last[e.end], e.label

      out[i] = WordRelations(
        tuple((*words_of(e), float(e.score)) for e in entities),
        tuple((words_of(r.head), words_of(r.tail), r.label, float(r.score)) for r in relations),
      )
  return out


def filter_relations(predictions: Sequence[WordRelations], relation_threshold: float) -> list[WordRelations]:
  """The predictions with only the relations scoring strictly above ``relation_threshold`` (compared in float32, as
  the model does); entities unchanged.

  Decoding keeps each relation whose two entities survive entity decoding and whose probability is above the
  relation threshold, independently of the other relations (windows: the highest score of a relation found twice).
  So, at a fixed entity and adjacency threshold, this equals predicting at ``relation_threshold`` directly, given
  predictions made at any lower relation threshold.

  >>> found = [WordRelations(((0, 0, "a", 0.9), (2, 2, "b", 0.8)), (((0, 0, "a"), (2, 2, "b"), "r", 0.6),))]
  >>> filter_relations(found, 0.7)[0].relations, filter_relations(found, 0.5)[0].relations
  ((), (((0, 0, 'a'), (2, 2, 'b'), 'r', 0.6),))
  """
  t = np.float32(check_threshold(relation_threshold))
  return [dataclasses.replace(p, relations=tuple(r for r in p.relations if np.float32(r[3]) > t)) for p in predictions]


# ----------------------------------------------------------------------------------- evaluation
@dataclasses.dataclass(frozen=True)
class RelationScores:
  """Relation scores in both settings, entity scores beside, over ``num_examples`` examples."""

  boundaries: TripleScores
  strict: TripleScores
  entities: Scores
  num_examples: int
  symmetric: tuple[str, ...] = ()
  threshold: float | None = None  # the model's thresholds, where a model was run
  relation_threshold: float | None = None

  def to_dict(self) -> dict[str, Any]:
    return {
      "threshold": self.threshold,
      "relation_threshold": self.relation_threshold,
      "num_examples": self.num_examples,
      "symmetric": list(self.symmetric),
      "entities": dataclasses.asdict(self.entities),
      "boundaries": self.boundaries.to_dict(),
      "strict": self.strict.to_dict(),
    }

  def to_markdown(self) -> str:
    """Two tables (percent): entities and relations in both settings, then each relation type."""
    e, b, s = self.entities, self.boundaries, self.strict
    head = [f"{self.num_examples} examples"]
    if self.threshold is not None:
      head.append(f"threshold {self.threshold:g}, relation threshold {self.relation_threshold:g}")
    if self.symmetric:
      head.append(f"symmetric: {', '.join(self.symmetric)}")
    lines = [
      ", ".join(head),
      "",
      "| | P | R | F1 | TP | FP | FN |",
      "|---|---:|---:|---:|---:|---:|---:|",
      f"| entities (strict) | {100 * e.precision:.2f} | {100 * e.recall:.2f} | {100 * e.f1:.2f} | "
      f"{e.true_positives} | {e.num_predicted - e.true_positives} | {e.num_gold - e.true_positives} |",
    ]
    for name, t in (("relations, boundaries", b), ("relations, strict", s)):
      lines.append(
        f"| {name} | {100 * t.precision:.2f} | {100 * t.recall:.2f} | {100 * t.f1:.2f} | "
        f"{t.true_positives} | {t.false_positives} | {t.false_negatives} |"
      )
    lines += ["", "| relation type | boundaries F1 | strict F1 | gold |", "|---|---:|---:|---:|"]
    for label, bt in b.per_type.items():
      st = s.per_type[label]
      lines.append(f"| {label} | {100 * bt.f1:.2f} | {100 * st.f1:.2f} | {st.true_positives + st.false_negatives} |")
    return "\n".join(lines) + "\n"


def score_relations(
  examples: Sequence[NERExample], predictions: Sequence[WordRelations], symmetric: Collection[str] = ()
) -> RelationScores:
  """Scores `predict_word_relations` output against the examples' gold entities and relations.

  >>> ex = NERExample(["Ann", "at", "Acme"], [(0, 0, "person"), (2, 2, "company")])
  >>> pred = WordRelations(((0, 0, "person", 0.9),), ())
  >>> r = score_relations([ex], [pred]); (r.entities.f1, r.strict.f1)
  (0.666..., 0.0)
  """
  if len(examples) != len(predictions):
    raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
  if isinstance(symmetric, str):
    raise ValueError(f"symmetric must be a collection of relation types, got the string {symmetric!r}")
  gold = [gold_triples(ex) for ex in examples]
  predicted = [p.relations for p in predictions]
  return RelationScores(
    boundaries=score_triples(gold, predicted, "boundaries", symmetric),
    strict=score_triples(gold, predicted, "strict", symmetric),
    entities=score_spans([ex.spans for ex in examples], [p.entities for p in predictions]),
    num_examples=len(examples),
    symmetric=tuple(sorted(symmetric)),
  )


def _gold_types(examples: Sequence[NERExample], relations: bool) -> list[str]:
  seen: dict[str, None] = {}
  for ex in examples:
    for t in gold_triples(ex) if relations else ex.spans:
      seen.setdefault(t[2], None)
  return list(seen)


def _check_examples(examples: Sequence[NERExample]) -> None:
  if not examples:
    raise ValueError("no examples to evaluate")
  bad = [type(ex).__name__ for ex in examples if not (hasattr(ex, "tokens") and hasattr(ex, "spans"))]
  if bad:
    raise ValueError(f"examples must be NERExamples (tokens, spans, relations), got {bad[:3]}")


def sweep_relation_thresholds(
  model,
  examples: Sequence[NERExample],
  relation_thresholds: Sequence[float],
  entity_labels: Sequence[str] | None = None,
  relation_labels: Sequence[str] | None = None,
  threshold: float = 0.5,
  batch_size: int = 8,
  *,
  adjacency_threshold: float | None = None,
  flat_ner: bool = True,
  multi_label: bool = False,
  symmetric: Collection[str] = (),
) -> list[RelationScores]:
  """One `RelationScores` per relation threshold, from one prediction pass at the lowest (exact: see
  `filter_relations`). The entity ``threshold`` and ``adjacency_threshold`` (default ``threshold``, as in the model)
  stay fixed; other arguments as `evaluate_relations`.

  Example (needs a relex model):
    >>> for r in sweep_relation_thresholds(model, examples, [0.3, 0.5, 0.7]):  # doctest: +SKIP
    ...   print(r.relation_threshold, r.strict.f1)
  """
  _check_examples(examples)
  if not relation_thresholds:
    raise ValueError("relation_thresholds must not be empty")
  relation_thresholds = [check_threshold(t) for t in relation_thresholds]
  threshold = check_threshold(threshold)
  entity_labels = list(entity_labels) if entity_labels is not None else _gold_types(examples, relations=False)
  relation_labels = list(relation_labels) if relation_labels is not None else _gold_types(examples, relations=True)
  if not entity_labels:
    raise ValueError("no entity labels: pass entity_labels, or examples with annotated entities")
  if not relation_labels:
    raise ValueError("no relation labels: pass relation_labels, or examples with gold relations")
  predictions = predict_word_relations(
    model,
    examples,
    entity_labels,
    relation_labels,
    threshold=threshold,
    relation_threshold=min(relation_thresholds),
    adjacency_threshold=adjacency_threshold,
    flat_ner=flat_ner,
    multi_label=multi_label,
    batch_size=batch_size,
  )
  return [
    dataclasses.replace(
      score_relations(examples, filter_relations(predictions, t), symmetric), threshold=threshold, relation_threshold=t
    )
    for t in relation_thresholds
  ]


def evaluate_relations(
  model,
  examples: Sequence[NERExample],
  entity_labels: Sequence[str] | None = None,
  relation_labels: Sequence[str] | None = None,
  threshold: float = 0.5,
  relation_threshold: float | None = None,
  batch_size: int = 8,
  *,
  adjacency_threshold: float | None = None,
  flat_ner: bool = True,
  multi_label: bool = False,
  symmetric: Collection[str] = (),
) -> RelationScores:
  """Runs a relex model on annotated examples and scores its relations (boundaries and strict) and entities.

  ``examples``: `NERExample`s with ``relations`` ((head, tail, type) indices into ``spans``). The labels given to
  the model default to the gold entity types and the gold relation types of the examples, in order of first
  appearance. ``relation_threshold`` and ``adjacency_threshold`` default to ``threshold``, as in the model;
  ``symmetric``: relation types whose direction is not scored.

  Example (needs a relex model; tests/test_relation_eval.py builds one):
    >>> result = evaluate_relations(model, examples, threshold=0.5)  # doctest: +SKIP
    >>> result.strict.f1, result.boundaries.f1, result.entities.f1  # doctest: +SKIP
    >>> print(result.to_markdown())  # doctest: +SKIP
  """
  return sweep_relation_thresholds(
    model,
    examples,
    [threshold if relation_threshold is None else relation_threshold],
    entity_labels,
    relation_labels,
    threshold,
    batch_size,
    adjacency_threshold=adjacency_threshold,
    flat_ner=flat_ner,
    multi_label=multi_label,
    symmetric=symmetric,
  )[0]
