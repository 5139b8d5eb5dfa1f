"""Relation extraction scores: micro precision / recall / F1 of (head span, tail span, relation type) triples.

A predicted relation is right when the word spans of its head and tail and its type equal those of a gold relation
(strict boundaries; the entity types are not compared). Gold relations come from `NERExample.relations`
((head, tail, type), head and tail indexing the example's spans, as gliner's relex JSON stores them).

Example (not run: `model` is a trained relex model, `examples` NERExamples with relations):
  >>> gold = [gold_relations(ex) for ex in examples]  # doctest: +SKIP
  >>> predicted = predict_word_relations(model, examples, ["person", "organization"], ["works at"])  # doctest: +SKIP
  >>> score_relations(gold, predicted).f1  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Iterable, Sequence

from gliner_jax.data.readers import NERExample
from gliner_jax.evaluation.scoring import PretokenizedSplitter, Scores

# (head first word, head last word, tail first word, tail last word, relation type[, score])
RelationTriple = tuple


def gold_relations(example: NERExample) -> list[RelationTriple]:
  """The example's relations as word-span triples (head first, head last, tail first, tail last, type).

  Example:
    >>> ex = NERExample(("Ann", "joined", "Acme"), ((0, 0, "person"), (2, 2, "org")), relations=((0, 1, "works at"),))
    >>> gold_relations(ex)
    [(0, 0, 2, 2, 'works at')]
  """
  spans = example.spans  # NERExample checks that head and tail index its spans
  return [(spans[h][0], spans[h][1], spans[t][0], spans[t][1], label) for h, t, label in example.relations]


def score_relations(gold: Sequence[Iterable[Sequence]], predicted: Sequence[Iterable[Sequence]]) -> Scores:
  """Exact-match micro P/R/F1 of per-example relation triples (duplicates count once; a 6th element, the score, is
  ignored).

  Example:
    >>> score_relations([[(0, 0, 2, 2, "works at")]], [[(0, 0, 2, 2, "works at", 0.9), (2, 2, 0, 0, "works at", 0.6)]])
    Scores(precision=0.5, recall=1.0, f1=0.6666666666666666, true_positives=1, num_predicted=2, num_gold=1)
  """
  if len(gold) != len(predicted):
    raise ValueError(f"gold has {len(gold)} examples but predicted has {len(predicted)}")
  tp = n_pred = n_gold = 0
  for g, p in zip(gold, predicted):
    g_set = {(*map(int, r[:4]), r[4]) for r in g}
    p_set = {(*map(int, r[:4]), r[4]) for r in p}
    tp, n_pred, n_gold = tp + len(g_set & p_set), n_pred + len(p_set), n_gold + len(g_set)
  precision = tp / n_pred if n_pred else 0.0
  recall = tp / n_gold if n_gold else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return Scores(precision, recall, f1, tp, n_pred, n_gold)


def predict_word_relations(
  model,
  examples: Sequence[NERExample | Sequence[str]],
  entity_labels: Sequence[str],
  relation_labels: Sequence[str],
  *,
  threshold: float = 0.5,
  relation_threshold: float | None = None,
  flat_ner: bool = True,
  batch_size: int = 8,
) -> list[list[RelationTriple]]:
  """The relations a relex model (`gliner_jax.inference.relex.RelexGLiNER`) predicts in pre-tokenised examples, as
  (head first word, head last word, tail first word, tail last word, type, score); the words reach the model
  unchanged (`PretokenizedSplitter`).

  Example:
    >>> predict_word_relations(model, [["Ann", "joined", "Acme"]], ["person", "org"], ["works at"])  # doctest: +SKIP
    [[(0, 0, 2, 2, 'works at', 0.91)]]
    (not run: `model` is a trained relex model)
  """
  word_lists = [tuple(ex.tokens) if isinstance(ex, NERExample) else tuple(ex) for ex in examples]
  groups: list[tuple[PretokenizedSplitter, list[int]]] = []
  for i, words in enumerate(word_lists):  # texts that join alike but split differently go to separate calls
    for splitter, members in groups:
      if splitter.words.setdefault(" ".join(words), words) == words:
        members.append(i)
        break
    else:
      splitter = PretokenizedSplitter()
      splitter.register(words)
      groups.append((splitter, [i]))
  out: list[list[RelationTriple]] = [[] for _ in word_lists]
  for splitter, members in groups:
    texts = [" ".join(word_lists[i]) for i in members]
    found = model.batch_predict_relations(
      texts,
      entity_labels,
      relation_labels,
      threshold=threshold,
      relation_threshold=relation_threshold,
      flat_ner=flat_ner,
      batch_size=batch_size,
      words_splitter=splitter,
    )
    for i, text, (_, relations) in zip(members, texts, found):
      split = splitter(text)
      first = {s: w for w, (_, s, _) in enumerate(split)}
      last = {e: w for w, (_, _, e) in enumerate(split)}
      out[i] = [
        (first[r.head.start], last[r.head.end], first[r.tail.start], last[r.tail.end], r.label, float(r.score))
        for r in relations
      ]
  return out


def evaluate_relations(
  model,
  examples: Sequence[NERExample],
  *,
  threshold: float = 0.5,
  relation_threshold: float | None = None,
  flat_ner: bool = True,
  batch_size: int = 8,
) -> Scores | None:
  """Relation P/R/F1 of a relex model on examples with relations, over all their entity and relation types (the
  entity labels include each example's negatives); None when the examples have no relation.

  Example (not run: `model` is a trained relex model):
    >>> evaluate_relations(model, read_ner_file("relex_dev.json"), threshold=0.5).f1  # doctest: +SKIP
  """
  relation_labels = sorted({t for ex in examples for _, _, t in ex.relations})
  if not relation_labels:
    return None
  entity_labels = sorted({t for ex in examples for _, _, t in ex.spans} | {t for ex in examples for t in ex.negatives})
  predicted = predict_word_relations(
    model,
    examples,
    entity_labels,
    relation_labels,
    threshold=threshold,
    relation_threshold=relation_threshold,
    flat_ner=flat_ner,
    batch_size=batch_size,
  )
  return score_relations([gold_relations(ex) for ex in examples], predicted)
