"""gliner 0.2.29's span relex model (UniEncoderSpanRelexModel) with static shapes.

Inputs are the span model's (`gliner_jax.model.span_model`) plus `relation_token_index` [B, R]: the position of
each `<<REL>>` token of the prompt `<<ENT>> e1 ... <<SEP>> <<REL>> r1 ... <<SEP>> words` (-1: padding).
The function is the reference's:
  1. span logits [B, W, K, C] against the prompt-FFN'd entity type vectors, and the span vectors [B, W, K, D];
  2. entity selection: spans inside the text whose best type probability is > `threshold`, in (start, width)
     order, packed into `max_entities` slots (static; `num_selected` says how many passed, so a caller can
     re-run with more slots when it is larger);
  3. adjacency [B, E, E] from the relations layer (absent for "none");
  4. ordered pairs (i != j, both selected; with an adjacency layer only those with adjacency >
     `adjacency_threshold`), each scored against every relation type vector [B, R, D] (the encoder's raw
     `<<REL>>` vectors, no prompt FFN): pair projection FFN(cat(head, tail)) . relation, or a triple scorer.
Pairs are kept as an [E, E] grid (`pair_mask`), not packed as the reference packs them.
Teacher forcing (training, as the reference's forward with `labels` / `adj_matrix`): `gold_entities` [B, E, 2]
(first and last word, -1 rows padding) replaces step 2 (the entities are exactly these, in this order; rows wider
than max_width or outside the text count as padding), and `gold_pairs` [B, E, E] replaces the pair selection of
step 4 (the adjacency is still computed, for the adjacency loss).
Padded entity types (type_mask 0) never select a span here (the reference scores them with its prompt FFN of a
zero vector; they never occur when every text of a batch has the same labels).

Example (a test-size random model; `gliner_jax.model.kinds.relex_dummy_batch` holds zeros and one-word gold entities):
  >>> import jax
  >>> from gliner_jax.model.config import GLiNERConfig
  >>> from gliner_jax.model.encoders.config import EncoderConfig
  >>> from gliner_jax.model.kinds import relex_dummy_batch
  >>> enc = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32, num_hidden_layers=1,
  ...                     num_attention_heads=2, intermediate_size=64)
  >>> config = GLiNERConfig(encoder=enc, hidden_size=32, max_width=4)
  >>> model = SpanRelexModel(RelexConfig(base=config, relations_layer="dot"), max_entities=6)
  >>> batch = relex_dummy_batch(2, tokens=8, words=5, types=3, relations=2)
  >>> params = model.init(jax.random.key(0), **batch)["params"]
  >>> sorted(params)
  ['encoder', 'pair_projection', 'prompt_head', 'rnn', 'span_head']
  >>> out = model.apply({"params": params}, **batch)   # teacher forcing: the 4 gold entities, every pair
  >>> out.entity_logits.shape, out.relation_logits.shape, out.num_selected.tolist()   # [B, W, K, C], [B, E, E, R]
  ((2, 5, 4, 3), (2, 4, 4, 2), [4, 4])
  >>> inputs = {k: v for k, v in batch.items() if k not in ("gold_entities", "gold_pairs")}
  >>> out = model.apply({"params": params}, **inputs, threshold=1.0)   # selection: no probability is > 1
  >>> out.entity_spans.shape, out.num_selected.tolist()   # max_entities slots
  ((2, 6, 2), [0, 0])
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.config import RELEX_FIELDS, GLiNERConfig, check_relex_options
from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.layers import ProjectionFFN, SplitDense, dense
from gliner_jax.model.relex.relations import make_relations_layer
from gliner_jax.model.relex.triples import make_triples_layer
from gliner_jax.model.span_model import encode_words_and_types, span_end_windows

Dtype = Any
REFERENCE_TRIPLES_DIM = 768  # gliner 0.2.29 builds TriplesScoreLayer(name): dimension 768, whatever the model's


@dataclasses.dataclass(frozen=True)
class RelexConfig:
  """A relex model: its span or token model's config plus the relex options of gliner's config.

  The relex options live in `GLiNERConfig` (`relations_layer`, ...); `base` always carries the same values as these
  fields (they are written into it), so `RelexConfig.from_config(rc.base) == rc`.

  Example:
    >>> from gliner_jax.model.config import GLiNERConfig
    >>> from gliner_jax.model.encoders.config import EncoderConfig
    >>> enc = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32, num_hidden_layers=1,
    ...                     num_attention_heads=2, intermediate_size=64)
    >>> config = GLiNERConfig(encoder=enc, hidden_size=32)
    >>> rc = RelexConfig(base=config, relations_layer="dot")
    >>> rc.base.relations_layer, RelexConfig.from_config(rc.base) == rc
    ('dot', True)
  """

  base: GLiNERConfig
  relations_layer: str = "none"
  triples_layer: str | None = None
  embed_rel_token: bool = True
  rel_token: str = "<<REL>>"
  rel_token_index: int = -1

  def __post_init__(self):
    relex = {name: getattr(self, name) for name in RELEX_FIELDS}
    if relex["relations_layer"] is None:
      raise ValueError("RelexConfig needs a relations_layer (gliner 0.2.29's: 'none' for no adjacency layer)")
    check_relex_options(self.relations_layer, self.triples_layer, self.rel_token)
    if any(getattr(self.base, name) != value for name, value in relex.items()):
      object.__setattr__(self, "base", self.base.replace(**relex))  # GLiNERConfig validates them

  @classmethod
  def from_config(cls, config: GLiNERConfig) -> "RelexConfig":
    """The RelexConfig of a relex `GLiNERConfig` (one with `relations_layer` set)."""
    if config.relations_layer is None:
      raise ValueError("this GLiNERConfig has relations_layer=None: it is not a relex model")
    return cls(base=config, **{name: getattr(config, name) for name in RELEX_FIELDS})


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RelexOutput:
  """entity_logits [B, W, K, C] (token model: [B, W, C, 3]), span_mask [B, W, K] (token model: the words inside
  the text, [B, W]), type_mask [B, C]; entity_spans [B, E, 2] (first and last word), entity_mask [B, E],
  num_selected [B]; adjacency [B, E, E] (zeros without a relations layer);
  relation_logits [B, E, E, R] (head i, tail j, relation r), pair_mask [B, E, E], relation_mask [B, R];
  has_adjacency (static): whether a relations layer made `adjacency` (its probabilities, the reference's
  `pred_adj_matrix`), which the training loss needs to know."""

  entity_logits: jax.Array
  span_mask: jax.Array
  type_mask: jax.Array
  entity_spans: jax.Array
  entity_mask: jax.Array
  num_selected: jax.Array
  adjacency: jax.Array
  relation_logits: jax.Array
  pair_mask: jax.Array
  relation_mask: jax.Array
  has_adjacency: bool = dataclasses.field(default=False, metadata=dict(static=True))


class SpanVectors(nn.Module):
  """The span vectors [B, W, K, D] of the "markerV0" and "marker" heads (the params of `span_model`'s heads)."""

  span_mode: str
  hidden_size: int
  max_width: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, words: jax.Array, *, deterministic: bool = True) -> jax.Array:
    d = self.hidden_size
    expansion = 2 if self.span_mode == "marker" else 4
    start, end = (
      nn.relu(
        ProjectionFFN(d, self.dropout, self.dtype, expansion=expansion, name=n)(words, deterministic=deterministic)
      )
      for n in ("project_start", "project_end")
    )
    ends = span_end_windows(end, self.max_width)
    pairs = jnp.concatenate([jnp.broadcast_to(start[:, :, None, :], ends.shape), ends], axis=-1)
    if self.span_mode == "marker":
      return dense(d, ("mlp", "embed"), name="out_project", dtype=self.dtype)(pairs)
    h = nn.relu(dense(4 * d, ("embed", "mlp"), name="out_dense_in", dtype=self.dtype)(pairs))
    return dense(d, ("mlp", "embed"), name="out_dense_out", dtype=self.dtype)(h)


def select_entities(keep: jax.Array, max_entities: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """keep [B, N] -> (index [B, E] of the kept positions in order, padded with 0; mask [B, E]; count [B]).

  Example:
    >>> index, mask, count = select_entities(jnp.array([[0, 1, 0, 1]], bool), 3)
    >>> index.tolist(), mask.tolist(), count.tolist()
    ([[1, 3, 0]], [[True, True, False]], [2])
  """
  order = jnp.argsort(jnp.logical_not(keep).astype(jnp.int32), axis=1, stable=True)
  count = keep.sum(axis=1)
  if order.shape[1] < max_entities:
    order = jnp.pad(order, ((0, 0), (0, max_entities - order.shape[1])))
  mask = jnp.arange(max_entities)[None, :] < count[:, None]
  return jnp.where(mask, order[:, :max_entities], 0), mask, count


def check_gold(gold_entities, gold_pairs, batch: int) -> int:
  """The number of entity slots E of teacher-forced inputs (gold_entities [B, E, 2], gold_pairs [B, E, E]);
  ValueError naming what is mis-shaped."""
  if gold_entities is None:
    if gold_pairs is not None:
      raise ValueError("gold_pairs needs gold_entities: the pairs index the gold entities")
    return 0
  shape = tuple(gold_entities.shape)
  if len(shape) != 3 or shape[0] != batch or shape[2] != 2:
    raise ValueError(f"gold_entities must be [batch={batch}, entities, 2] (first and last word), got {shape}")
  if not jnp.issubdtype(gold_entities.dtype, jnp.integer):
    raise ValueError(f"gold_entities must be integer word indices, got {gold_entities.dtype}")
  if gold_pairs is not None and tuple(gold_pairs.shape) != (batch, shape[1], shape[1]):
    raise ValueError(
      f"gold_pairs must be [batch, entities, entities] = {(batch, shape[1], shape[1])}, got {tuple(gold_pairs.shape)}"
    )
  return shape[1]


def gold_entity_mask(gold_entities: jax.Array, num_words: jax.Array, max_width: int | None = None) -> jax.Array:
  """mask [B, E] of the gold entity rows a model can represent: first >= 0, first <= last < num_words and, for
  span models (`max_width`), last - first < max_width. Other rows (the -1 padding) are not entities.

  Example:
    >>> gold_entity_mask(jnp.array([[[0, 1], [2, 9], [-1, -1]]]), jnp.array([5]), 4).tolist()   # (2, 9) ends outside
    [[True, False, False]]
  """
  first, last = gold_entities[..., 0], gold_entities[..., 1]
  ok = (first >= 0) & (last >= first) & (last < num_words[:, None])
  if max_width is not None:
    ok &= last - first < max_width
  return ok


def encode_with_relations(
  rc: RelexConfig,
  dtype: Dtype,
  input_ids,
  attention_mask,
  word_token_index,
  num_words,
  type_token_index,
  relation_token_index,
  *,
  deterministic: bool,
) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Words [B, W, D], entity type vectors through the prompt FFN [B, C, D] and raw relation type vectors [B, R, D].

  Called inside a compact `__call__` (its submodules belong to the caller), as `encode_words_and_types`.
  """
  cfg = rc.base
  num_types = type_token_index.shape[1]
  # The <<REL>> vectors come out of the same gather as the type vectors; it shifts by one when not
  # embed_ent_token, and the relation tokens shift when not embed_rel_token.
  shift = int(not rc.embed_rel_token) - int(not cfg.embed_ent_token)
  rel_index = jnp.where(relation_token_index >= 0, relation_token_index + shift, -1)
  words, prompts = encode_words_and_types(
    cfg,
    dtype,
    input_ids,
    attention_mask,
    word_token_index,
    num_words,
    jnp.concatenate([type_token_index, rel_index], axis=1),
    deterministic=deterministic,
  )
  types, relations = prompts[:, :num_types], prompts[:, num_types:]
  types = ProjectionFFN(cfg.hidden_size, cfg.dropout, dtype, name="prompt_head")(types, deterministic=deterministic)
  return words, types, relations


def score_pairs(
  rc: RelexConfig,
  dtype: Dtype,
  entities: jax.Array,
  entity_mask: jax.Array,
  relations: jax.Array,
  adjacency_threshold,
  *,
  deterministic: bool,
  gold_pairs: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(adjacency [B, E, E], pair_mask [B, E, E], relation logits [B, E, E, R]) of the selected entities [B, E, D].

  The pairs are the ordered pairs of distinct entities: with `gold_pairs` [B, E, E] those it marks (teacher
  forcing), else with an adjacency layer those with adjacency > `adjacency_threshold`, else all of them.
  Called inside a compact `__call__`: its submodules ("relations", "pair_projection", "triples") belong to the caller.
  """
  cfg = rc.base
  b = entities.shape[0]
  e = entities.shape[1]
  pair_mask = entity_mask[:, :, None] & entity_mask[:, None, :] & ~jnp.eye(e, dtype=bool)[None]
  layer = make_relations_layer(rc.relations_layer, cfg.hidden_size, dtype=dtype)
  adjacency = jnp.zeros((b, e, e), jnp.float32)
  if layer is not None:
    adjacency = layer(entities, entity_mask)
  if gold_pairs is not None:
    pair_mask = pair_mask & gold_pairs.astype(bool)
  elif layer is not None:
    pair_mask = pair_mask & (adjacency > adjacency_threshold)
  if rc.triples_layer is None:
    relation_logits = PairProjection(cfg.hidden_size, cfg.dropout, dtype, name="pair_projection")(
      entities, relations, deterministic=deterministic
    )
  else:
    scorer = make_triples_layer(rc.triples_layer, REFERENCE_TRIPLES_DIM)
    relation_logits = scorer(
      entities[:, :, None, None], relations[:, None, None], entities[:, None, :, None], deterministic=deterministic
    )
  return adjacency, pair_mask, relation_logits.astype(jnp.float32)


class PairProjection(nn.Module):
  """Relation logits [B, E, E, R] = FFN(cat(head_i, tail_j)) . relation_r, the reference's pair projection
  (Linear(2D, 4D) -> ReLU -> Dropout -> Linear(4D, D); params `dense_in`, `dense_out` as `ProjectionFFN`'s).

  The first layer runs once per entity as a head and once as a tail (`SplitDense.terms`), and the last one is
  folded into the relation vectors, so the only [B, E, E, .] tensor is the 4D-wide hidden layer.
  """

  hidden_size: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, entities: jax.Array, relations: jax.Array, *, deterministic: bool = True) -> jax.Array:
    d = self.hidden_size
    as_head, as_tail = SplitDense(4 * d, (d, d), ("embed", "mlp"), self.dtype, name="dense_in").terms(
      (entities, entities)
    )
    h = nn.relu(as_head[:, :, None, :] + as_tail[:, None, :, :])  # [B, E, E, 4D]
    h = HashDropout(self.dropout)(h, deterministic=deterministic)
    out = dense(d, ("mlp", "embed"), name="dense_out", dtype=self.dtype)
    if self.is_initializing():
      out(h[:, :1, :1])
    p = self.variables["params"]["dense_out"]
    kernel, bias = nn.meta.unbox(p["kernel"]).astype(self.dtype), nn.meta.unbox(p["bias"]).astype(self.dtype)
    folded = jnp.einsum("brd,fd->brf", relations.astype(self.dtype), kernel)
    return jnp.einsum("bijf,brf->bijr", h, folded) + jnp.einsum("brd,d->br", relations, bias)[:, None, None, :]


class SpanRelexModel(nn.Module):
  """The span relex model (see the module docstring)."""

  config: RelexConfig
  max_entities: int = 32
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(
    self,
    input_ids,
    attention_mask,
    word_token_index,
    num_words,
    type_token_index,
    relation_token_index,
    *,
    gold_entities: jax.Array | None = None,
    gold_pairs: jax.Array | None = None,
    threshold: float | jax.Array = 0.5,
    adjacency_threshold: float | jax.Array | None = None,
    deterministic: bool = True,
  ) -> RelexOutput:
    rc, cfg = self.config, self.config.base
    if cfg.span_mode not in ("markerV0", "marker"):
      raise ValueError(f"SpanRelexModel needs span_mode 'markerV0' or 'marker', got {cfg.span_mode!r}")
    check_gold(gold_entities, gold_pairs, input_ids.shape[0])
    adjacency_threshold = threshold if adjacency_threshold is None else adjacency_threshold
    words, types, relations = encode_with_relations(
      rc,
      self.dtype,
      input_ids,
      attention_mask,
      word_token_index,
      num_words,
      type_token_index,
      relation_token_index,
      deterministic=deterministic,
    )
    span_rep = SpanVectors(cfg.span_mode, cfg.hidden_size, cfg.max_width, cfg.dropout, self.dtype, name="span_head")(
      words, deterministic=deterministic
    )
    logits = jnp.einsum("bwkd,bcd->bwkc", span_rep, types).astype(jnp.float32)
    b, w, k = logits.shape[:3]
    span_mask = (jnp.arange(w)[:, None] + jnp.arange(k)[None, :])[None] < num_words[:, None, None]
    type_mask = type_token_index >= 0
    if gold_entities is None:
      best = jnp.max(jnp.where(type_mask[:, None, None, :], jax.nn.sigmoid(logits), 0.0), axis=-1)
      keep = ((best > threshold) & span_mask).reshape(b, w * k)
      index, entity_mask, count = select_entities(keep, self.max_entities)
    else:
      entity_mask = gold_entity_mask(gold_entities, num_words, k)
      first, last = gold_entities[..., 0], gold_entities[..., 1]
      index = jnp.where(entity_mask, first * k + last - first, 0)
      count = entity_mask.sum(axis=1)
    entities = jnp.take_along_axis(span_rep.reshape(b, w * k, -1), index[..., None], axis=1)
    entities = jnp.where(entity_mask[..., None], entities, 0.0)
    entity_spans = jnp.stack([index // k, index // k + index % k], axis=-1)

    adjacency, pair_mask, relation_logits = score_pairs(
      rc,
      self.dtype,
      entities,
      entity_mask,
      relations,
      adjacency_threshold,
      deterministic=deterministic,
      gold_pairs=gold_pairs,
    )
    return RelexOutput(
      entity_logits=logits,
      span_mask=span_mask,
      type_mask=type_mask,
      entity_spans=entity_spans,
      entity_mask=entity_mask,
      num_selected=count,
      adjacency=adjacency,
      relation_logits=relation_logits,
      pair_mask=pair_mask,
      relation_mask=relation_token_index >= 0,
      has_adjacency=rc.relations_layer.lower() != "none",
    )
