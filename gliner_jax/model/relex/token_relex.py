"""gliner 0.2.29's token relex model (UniEncoderTokenRelexModel, span_mode "token_level") with static shapes.

Same inputs and relation scoring as `gliner_jax.model.relex.span_relex`; the entities come from token scores:
  1. the entity type vectors go through the prompt FFN (unlike the plain token model), then the token scorer
     (`gliner_jax.model.token_model.TokenScorer`) gives start / end / inside logits [B, W, C, 3];
  2. entity selection, as the reference's `extract_spans_from_tokens`: words s <= e and a type c with start
     probability at (s, c) > `threshold`, end probability at (e, c) > `threshold` and every inside probability of
     s..e at c > `threshold`, in (s, c, e) order, packed into `max_entities` slots (the same (s, e) may come once
     per type, as in the reference); only words inside the text and real types count;
  3. each entity's vector is the reference's TokenMarker: FFN(ReLU(cat(start FFN(word s), end FFN(word e))));
  4. adjacency, pairs and relation logits as the span relex model (`score_pairs`).
Teacher forcing as the span relex model: `gold_entities` [B, E, 2] replaces step 2 (each gold entity's vector is
the same TokenMarker at its first and last word, as the reference's forward with the collator's gold `span_idx`),
`gold_pairs` [B, E, E] the pair selection.

Example (a test-size random model, as `span_relex`'s):
  >>> import jax
  >>> from gliner_jax.model.config import GLiNERConfig
  >>> from gliner_jax.model.encoders.config import EncoderConfig
  >>> from gliner_jax.model.kinds import relex_dummy_batch
  >>> enc = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32, num_hidden_layers=1,
  ...                     num_attention_heads=2, intermediate_size=64)
  >>> config = GLiNERConfig(encoder=enc, hidden_size=32, span_mode="token_level")
  >>> model = TokenRelexModel(RelexConfig(base=config, relations_layer="dot"), max_entities=6)
  >>> batch = relex_dummy_batch(2, tokens=8, words=5, types=3, relations=2)
  >>> params = model.init(jax.random.key(0), **batch)["params"]
  >>> sorted(params)
  ['encoder', 'pair_projection', 'prompt_head', 'rnn', 'scorer', 'span_head']
  >>> out = model.apply({"params": params}, **batch)   # teacher forcing: the 4 gold entities, every pair
  >>> out.entity_logits.shape, out.relation_logits.shape, out.num_selected.tolist()   # [B, W, C, 3], [B, E, E, R]
  ((2, 5, 3, 3), (2, 4, 4, 2), [4, 4])
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.layers import ProjectionFFN, dense
from gliner_jax.model.relex.span_relex import (
  RelexConfig,
  RelexOutput,
  check_gold,
  encode_with_relations,
  gold_entity_mask,
  score_pairs,
  select_entities,
)
from gliner_jax.model.token_model import TokenScorer

Dtype = Any


class TokenSpanVectors(nn.Module):
  """The vectors of the spans (starts[B, E], ends[B, E]) over words [B, W, D]: gliner's TokenMarker."""

  hidden_size: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, words: jax.Array, starts: jax.Array, ends: jax.Array, *, deterministic: bool = True):
    d = self.hidden_size
    start = ProjectionFFN(d, self.dropout, self.dtype, name="project_start")(words, deterministic=deterministic)
    end = ProjectionFFN(d, self.dropout, self.dtype, name="project_end")(words, deterministic=deterministic)
    pick = lambda x, i: jnp.take_along_axis(x, i[..., None], axis=1)  # noqa: E731
    h = nn.relu(jnp.concatenate([pick(start, starts), pick(end, ends)], axis=-1))
    h = nn.relu(dense(4 * d, ("embed", "mlp"), name="out_dense_in", dtype=self.dtype)(h))
    h = HashDropout(self.dropout)(h, deterministic=deterministic)
    return dense(d, ("mlp", "embed"), name="out_dense_out", dtype=self.dtype)(h)


def token_span_candidates(probs: jax.Array, word_mask: jax.Array, type_mask: jax.Array, threshold) -> jax.Array:
  """probs[B, W, C, 3] (start, end, inside) -> keep[B, W(start), C, W(end)], the reference's token spans.

  Example:
    >>> import jax.numpy as jnp
    >>> probs = jnp.array([[[[0.9, 0.1, 0.9]], [[0.1, 0.9, 0.9]], [[0.1, 0.1, 0.1]]]])   # 3 words, 1 type
    >>> keep = token_span_candidates(probs, jnp.ones((1, 3), bool), jnp.ones((1, 1), bool), 0.5)
    >>> keep.shape, jnp.argwhere(keep).tolist()   # one span: words 0..1, type 0
    ((1, 3, 1, 3), [[0, 0, 0, 1]])
  """
  valid = word_mask[:, :, None] & type_mask[:, None, :]
  start = (probs[..., 0] > threshold) & valid
  end = (probs[..., 1] > threshold) & valid
  inside = (probs[..., 2] > threshold).astype(jnp.int32)
  counts = jnp.pad(jnp.cumsum(inside, axis=1), ((0, 0), (1, 0), (0, 0)))  # [B, W + 1, C]
  w = probs.shape[1]
  s_idx, e_idx = jnp.arange(w)[:, None], jnp.arange(w)[None, :]
  # inside count over s..e = counts[e + 1] - counts[s], as [B, s, C, e]
  span_inside = jnp.transpose(counts[:, 1:], (0, 2, 1))[:, None, :, :] - counts[:, :-1, :, None]
  full = span_inside == (e_idx - s_idx + 1)[None, :, None, :]
  order = (e_idx >= s_idx)[None, :, None, :]
  return start[:, :, :, None] & jnp.transpose(end, (0, 2, 1))[:, None, :, :] & order & full


class TokenRelexModel(nn.Module):
  """The token relex model (see the module docstring); outputs as `RelexOutput`, with entity_logits
  [B, W, C, 3] and span_mask the words inside the text [B, W]."""

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
    if cfg.span_mode != "token_level":
      raise ValueError(f"TokenRelexModel needs span_mode 'token_level', got {cfg.span_mode!r}")
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
    logits = TokenScorer(cfg.hidden_size, cfg.dropout, self.dtype, name="scorer")(
      words, types, deterministic=deterministic
    ).astype(jnp.float32)
    b, w, c = logits.shape[:3]
    word_mask = jnp.arange(w)[None, :] < num_words[:, None]
    type_mask = type_token_index >= 0
    if gold_entities is None:
      keep = token_span_candidates(jax.nn.sigmoid(logits), word_mask, type_mask, threshold)
      index, entity_mask, count = select_entities(keep.reshape(b, -1), self.max_entities)
      starts, ends = index // (c * w), index % w
    else:
      entity_mask = gold_entity_mask(gold_entities, num_words)
      starts = jnp.where(entity_mask, gold_entities[..., 0], 0)
      ends = jnp.where(entity_mask, gold_entities[..., 1], 0)
      count = entity_mask.sum(axis=1)
    entities = TokenSpanVectors(cfg.hidden_size, cfg.dropout, self.dtype, name="span_head")(
      words, starts, ends, deterministic=deterministic
    )
    entities = jnp.where(entity_mask[..., None], entities, 0.0)
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
      span_mask=word_mask,
      type_mask=type_mask,
      entity_spans=jnp.stack([starts, ends], axis=-1),
      entity_mask=entity_mask,
      num_selected=count,
      adjacency=adjacency,
      relation_logits=relation_logits,
      pair_mask=pair_mask,
      relation_mask=relation_token_index >= 0,
      has_adjacency=rc.relations_layer.lower() != "none",
    )
