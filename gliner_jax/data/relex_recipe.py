"""Training batches of a relex model (joint entities and relations), with static shapes.

Built on `gliner_jax.data.recipe`: windows, subtoken splits, entity-type prompts with negatives, buckets, carried
rows and the resumable state are `BatchIterator`'s; this module adds, per row, the relation types of its prompt,
its gold entities and the entity pairs its relation loss is computed on, as gliner 0.2.29's relex processors do
(`RelationExtractionSpanProcessor.batch_generate_class_mappings`, `preprocess_example`, `create_relation_labels`).

Per row:

* Prompt: `<<ENT>> e1 ... <<SEP>> <<REL>> r1 ... <<SEP>> words` (`gliner_jax.processing.relex_prompts`, the encoding
  prediction uses). Entity types as `recipe.sample_prompt`. Relation types: the row's relation types, then its
  explicit relation negatives, or with probability `negative_prob` r x max(1, #relations) types of the other
  relations of the batch (r uniform in 1..`max_neg_type_ratio`), shuffled, cut to `RelexRecipe.relation_types`
  (default: `max_types`); never dropped at random.
* Gold entities: the row's spans whose type is in its prompt (span models: at most `max_width` words), one slot
  per distinct (start, end), in (start, end) order as the reference sorts them; the first E
  (`RelexRecipe.max_entities`) are kept.
* Gold relations: those whose head and tail are both gold entities (on different slots) and whose type is in the
  prompt. Every other relation is dropped and counted in `RelexStats`, never labelled wrongly.
* Pairs (`gold_pairs`): `relations_layer="none"`: every ordered pair of distinct gold entities, as the reference's
  single-step labels (`build_all_entity_pairs`). Otherwise the positive pairs, their reversals (unless positive),
  and random pairs of distinct entities up to max(1, int(#positives x ratio)) negatives, ratio uniform in
  `negative_ratio` (the reference draws by rejection with at most 10 x target tries; here without replacement
  from the pairs left). `adjacency_labels` is `gold_pairs` as float: gliner 0.2.29 marks every sampled pair,
  negatives too, 1 in its `adj_matrix`, the target of its adjacency loss.

Batch arrays, beside `recipe`'s (input_ids, attention_mask, word_token_index, num_words, type_token_index, labels,
span_mask or word_mask, type_mask), with E = `max_entities` and R = `relation_types` (default: the bucket of
`max_types`, the entity-type axis of a fixed-shape run) fixed for a run:

  relation_token_index  int32 [B, R]     position of each relation type's <<REL>>, -1 padding
  relation_mask         bool  [B, R]     real relation types
  gold_entities         int32 [B, E, 2]  first and last word of each gold entity, -1 padding
  gold_pairs            bool  [B, E, E]  (head, tail) pairs the relation loss scores
  adjacency_labels      f32   [B, E, E]  gold_pairs as 0 / 1
  relation_labels       f32   [B, E, E, R]  1 at (head, tail, relation type) of each gold relation

Example::

    ptok = RelexPromptTokenizer(tokenizer, config)
    it = RelexBatchIterator(examples, ptok, RecipeConfig(batch_size=8, prompt_drop=0.0), RelexRecipe("dot"), seed=0)
    batch = next(it); state = it.get_state()       # set_state(state) on a new iterator continues the same way
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np

from gliner_jax.data.batch_iterator import BatchIterator
from gliner_jax.data.readers import NERExample
from gliner_jax.data.recipe import (
  EncodedRow,
  RecipeConfig,
  RecipeStats,
  sample_prompt,
  sample_types,
)
from gliner_jax.model.relex.relations import RELATIONS_LAYERS
from gliner_jax.processing.buckets import bucket
from gliner_jax.processing.prompts import validate_labels
from gliner_jax.processing.relex_prompts import RelexPromptTokenizer, relex_prompt, split_relex_prompt


@dataclasses.dataclass(frozen=True)
class RelexRecipe:
  """The relex part of a training recipe (the rest is `RecipeConfig`).

  `relations_layer`: the model's ("none" scores every pair of gold entities; any other samples negative pairs).
  `max_entities` (E) and `relation_types` (R) are the static sizes of the entity and relation-type axes; R = None
  means the bucket of the recipe's `max_types` (the entity-type axis of a `fixed_shape` run), with at most `max_types`
  relation types per prompt, as gliner caps them. `negative_ratio`: (low, high) of the uniform ratio of negative to
  positive pairs, or one number. The reversed and random negatives can be turned off as in the reference.

  Example::

      RelexRecipe("dot", max_entities=32, relation_types=8)
  """

  relations_layer: str = "dot"
  max_entities: int = 32
  relation_types: int | None = None
  negative_ratio: tuple[float, float] | float = (1.0, 10.0)
  add_reversed_negatives: bool = True
  add_random_negatives: bool = True

  def __post_init__(self):
    if not isinstance(self.relations_layer, str) or self.relations_layer.lower() not in RELATIONS_LAYERS:
      raise ValueError(f"RelexRecipe.relations_layer={self.relations_layer!r}: one of {list(RELATIONS_LAYERS)}")
    for name in ("max_entities", "relation_types"):
      value = getattr(self, name)
      if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"RelexRecipe.{name} must be a positive int, got {value!r}")
    ratio = self.negative_ratio
    low, high = (ratio, ratio) if isinstance(ratio, (int, float)) else tuple(ratio)
    if not 0 <= low <= high:
      raise ValueError(
        f"RelexRecipe.negative_ratio must be a number >= 0 or (low, high) with 0 <= low <= high: {ratio}"
      )
    object.__setattr__(self, "negative_ratio", (float(low), float(high)))

  @property
  def all_pairs(self) -> bool:
    return self.relations_layer.lower() == "none"

  def num_relation_types(self, cfg: RecipeConfig) -> int:
    """R: `relation_types`, or the `type_buckets` bucket of the recipe's `max_types`."""
    return self.relation_types if self.relation_types is not None else bucket(cfg.max_types, cfg.type_buckets)

  def max_relation_types(self, cfg: RecipeConfig) -> int:
    """The most relation types one prompt holds: `relation_types`, or the recipe's `max_types`."""
    return self.relation_types if self.relation_types is not None else cfg.max_types


@dataclasses.dataclass
class RelexStats(RecipeStats):
  """`RecipeStats` plus what the relation targets kept and lost.

  `relations`: gold relations labelled; `negative_pairs`: sampled negative pairs;
  `relations_dropped_entity`: a relation whose head or tail is not a gold entity of its row (its type left out of
  the prompt, wider than max_width, or past the E slots); `relations_dropped_type`: its type left out of the
  relation prompt (cut to R); `relations_same_span`: head and tail on one span (two types of one span);
  `entities_over_slots`: gold entities past E; `wide_entities`: span-model entities wider than max_width;
  `relation_types_truncated`: relation types cut from prompts.
  """

  relations: int = 0
  negative_pairs: int = 0
  relations_dropped_entity: int = 0
  relations_dropped_type: int = 0
  relations_same_span: int = 0
  entities_over_slots: int = 0
  wide_entities: int = 0
  relation_types_truncated: int = 0


def relation_types(example: NERExample) -> list[str]:
  """The example's relation types, each once, in order of first appearance."""
  return list(dict.fromkeys(t for _, _, t in example.relations))


def gold_targets(
  example: NERExample,
  entity_types: Sequence[str],
  relation_labels: Sequence[str],
  max_entities: int,
  max_width: int | None,
  stats: RelexStats | None = None,
) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]]]:
  """A row's gold entities, as (first word, last word) slots, and its gold relations, as (head slot, tail slot,
  index in `relation_labels`), sorted; what does not fit is counted in `stats` (see the module docstring).

  Example::

      ex = NERExample(["Ann", "works", "at", "Acme"], [(3, 3, "org"), (0, 0, "person")], relations=[(1, 0, "works at")])
      gold_targets(ex, ["person", "org"], ["works at"], max_entities=8, max_width=4)
      # ([(0, 0), (3, 3)], [(0, 1, 0)])
  """
  stats = stats if stats is not None else RelexStats()
  prompted = set(entity_types)
  key_of: dict[int, tuple[int, int]] = {}
  for j, (s, e, t) in enumerate(example.spans):
    if t not in prompted:
      continue
    if max_width is not None and e - s >= max_width:
      stats.wide_entities += 1
      continue
    key_of[j] = (s, e)
  keys = sorted(set(key_of.values()))
  stats.entities_over_slots += max(0, len(keys) - max_entities)
  keys = keys[:max_entities]
  slot = {k: i for i, k in enumerate(keys)}
  rel_index = {r: i for i, r in enumerate(relation_labels)}
  triples = set()
  for h, t, label in example.relations:
    if label not in rel_index:
      stats.relations_dropped_type += 1
    elif key_of.get(h) not in slot or key_of.get(t) not in slot:
      stats.relations_dropped_entity += 1
    elif slot[key_of[h]] == slot[key_of[t]]:
      stats.relations_same_span += 1
    else:
      triples.add((slot[key_of[h]], slot[key_of[t]], rel_index[label]))
  stats.relations += len(triples)
  return keys, sorted(triples)


def sample_pairs(
  positives: Iterable[tuple[int, int]], num_entities: int, rng: np.random.Generator, relex: RelexRecipe
) -> tuple[set[tuple[int, int]], int]:
  """The (head, tail) pairs a row's relation loss scores, and how many of them are negatives (see the module
  docstring: every pair for relations_layer "none"; else positives, reversed and random negatives).

  Example::

      sample_pairs({(0, 1)}, 3, np.random.default_rng(0), RelexRecipe("none"))
      # ({(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)}, 5)
  """
  positives = set(positives)
  n = num_entities
  if relex.all_pairs:
    pairs = {(a, b) for a in range(n) for b in range(n) if a != b}
    return pairs, len(pairs - positives)
  ratio = float(rng.uniform(*relex.negative_ratio))
  target = max(1, int(len(positives) * ratio))
  negatives = set()
  if relex.add_reversed_negatives:
    negatives = {(t, h) for h, t in positives if (t, h) not in positives}
  if relex.add_random_negatives and n > 1 and len(negatives) < target:
    left = [
      (a, b) for a in range(n) for b in range(n) if a != b and (a, b) not in positives and (a, b) not in negatives
    ]
    count = min(target - len(negatives), len(left))
    negatives |= {left[i] for i in rng.choice(len(left), size=count, replace=False)}
  return positives | negatives, len(negatives)


class RelexBatchIterator(BatchIterator):
  """`BatchIterator` for relex models: relex prompts, gold entities, pairs and relation targets (module docstring).

  Resumable like `BatchIterator` (`get_state` / `set_state`; the relation-type pool of a batch is rebuilt from its
  windows). `cfg.max_width` must be the model's.

  Example::

      it = RelexBatchIterator(examples, RelexPromptTokenizer(tok, config), RecipeConfig(), RelexRecipe("dot"), seed=0)
      batch = next(it)
      batch["relation_labels"].shape   # (8, 32, 32, 25)
  """

  def __init__(
    self,
    source: Iterable[NERExample],
    prompt_tokenizer: RelexPromptTokenizer,
    cfg: RecipeConfig,
    relex: RelexRecipe,
    seed: int = 0,
    *,
    drop_remainder: bool = False,
  ):
    if not isinstance(prompt_tokenizer, RelexPromptTokenizer):
      raise ValueError(f"RelexBatchIterator needs a RelexPromptTokenizer, got {type(prompt_tokenizer).__name__}")
    super().__init__(source, prompt_tokenizer, cfg, seed, drop_remainder=drop_remainder)
    self.stats = RelexStats()
    self.relex = relex
    self.num_relation_types = relex.num_relation_types(self.cfg)
    self._relation_cap = relex.max_relation_types(self.cfg)
    self._relation_pool: set[str] = set()

  @property
  def token_level(self) -> bool:
    return self.prompt_tokenizer.config.span_mode == "token_level"

  def _count_types(self, prompt: tuple[str, ...]) -> int:
    return self.prompt_tokenizer.count_types(prompt)

  def _start_batch(self, windows: Sequence[NERExample]) -> None:
    pool = set()
    for label in {t for w in windows for t in relation_types(w)}:
      try:
        validate_labels([label], self._markers())
      except ValueError:
        continue  # the window with it is skipped when prompted; it must not become another row's negative
      pool.add(label)
    self._relation_pool = pool

  def _markers(self) -> tuple[str, ...]:
    config = self.prompt_tokenizer.config
    return (config.ent_token, config.sep_token, self.prompt_tokenizer.rel_token)

  def _prompt_for(self, window: NERExample, pool: set[str]) -> tuple[str, ...]:
    entity_types = sample_prompt(window, self._rng, pool, self.cfg, self.stats)
    counts = RecipeStats()
    rels = sample_types(
      relation_types(window),
      window.relation_negatives,
      len(window.relations),
      self._rng,
      self._relation_pool,
      self.cfg,
      counts,
      self._relation_cap,
      drop=False,
    )
    self.stats.relation_types_truncated += counts.types_truncated
    if rels:
      try:
        validate_labels(rels, self._markers())
      except ValueError as e:
        raise ValueError(f"example {window.id!r}: bad relation type: {e}") from None
    return relex_prompt(entity_types, rels, self.prompt_tokenizer.config.sep_token)

  def _assemble_rows(self, rows: Sequence[EncodedRow]) -> dict[str, np.ndarray]:
    sep = self.prompt_tokenizer.config.sep_token
    split = [split_relex_prompt(r.prompt, sep) for r in rows]
    out = super()._assemble_rows([dataclasses.replace(r, prompt=ents) for r, (ents, _) in zip(rows, split)])
    b, e, r = self.cfg.batch_size, self.relex.max_entities, self.num_relation_types
    rel_index = np.full((b, r), -1, np.int32)
    gold = np.full((b, e, 2), -1, np.int32)
    pairs = np.zeros((b, e, e), bool)
    labels = np.zeros((b, e, e, r), np.float32)
    max_width = None if self.token_level else self.cfg.max_width
    for i, (row, (ents, rels)) in enumerate(zip(rows, split)):
      rel_index[i, : len(rels)] = row.encoded.relation_token_index
      slots, triples = gold_targets(row.example, ents, rels, e, max_width, self.stats)
      if slots:
        gold[i, : len(slots)] = slots
      chosen, negatives = sample_pairs({(h, t) for h, t, _ in triples}, len(slots), self._rng, self.relex)
      self.stats.negative_pairs += negatives
      for h, t in chosen:
        pairs[i, h, t] = True
      for h, t, c in triples:
        labels[i, h, t, c] = 1.0
    out["relation_token_index"] = rel_index
    out["relation_mask"] = rel_index >= 0
    out["gold_entities"] = gold
    out["gold_pairs"] = pairs
    out["adjacency_labels"] = pairs.astype(np.float32)
    out["relation_labels"] = labels
    return out


def relex_array_shapes(batch: int, max_entities: int, relation_types: int) -> dict[str, tuple[tuple[int, ...], type]]:
  """Shapes and dtypes of the arrays a relex batch adds to a recipe batch (for AOT compiles and dummy batches).

  Example::

      relex_array_shapes(8, 32, 25)["relation_labels"]   # ((8, 32, 32, 25), numpy.float32)
  """
  b, e, r = batch, max_entities, relation_types
  return {
    "relation_token_index": ((b, r), np.int32),
    "relation_mask": ((b, r), np.bool_),
    "gold_entities": ((b, e, 2), np.int32),
    "gold_pairs": ((b, e, e), np.bool_),
    "adjacency_labels": ((b, e, e), np.float32),
    "relation_labels": ((b, e, e, r), np.float32),
  }
