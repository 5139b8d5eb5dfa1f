"""Training loss of the relex models (gliner 0.2.29's `UniEncoderSpanRelexModel` / `UniEncoderTokenRelexModel`).

The forward is teacher-forced (`gold_entities`, `gold_pairs`: see `gliner_jax.model.relex.span_relex`), then

  loss = span_loss_coef * entity + adjacency_loss_coef * adjacency + relation_loss_coef * relation

- entity: the entity model's loss on `labels`: `span_loss` (span mode; every span option: focal / dice, negative
  sampling, span-width weight) or `token_loss` (token mode: the reference's token relex loss is focal BCE on the
  start / end / inside logits with no negative sampling, so `negatives` and `masking` act on the relation terms
  only there, and `loss_type="dice"` / `span_width_weight` are refused).
- adjacency (only with a relations layer, `RelexOutput.has_adjacency`): focal BCE on the relations layer's
  probabilities [B, E, E] (the reference's `normalize_prob=False`: p and 1 - p floored at `eps` before the log)
  against `adjacency_labels`, over every (i, j) of valid entities, the diagonal included.
- relation: focal BCE on the relation logits [B, E, E, R] against `relation_labels`, over the scored pairs
  (`pair_mask`) x the batch's relation types (`relation_mask`).
The two relation terms use `rel_alpha` / `rel_gamma` (default `alpha` / `gamma`), `prob_margin`,
`label_smoothing`, `negatives` and `masking` (sampled with their own split of the key), never `loss_type`.
"sum" sums each term; "mean" divides each by its own count (spans or (word, type) pairs; valid entity pairs;
scored pairs x relation types). As the reference, a batch whose rows have no relation type at all is trained on the
entity term alone, without its coefficient.

Batch keys read: "labels", "type_mask", "span_mask" (span mode) or "word_mask" (token mode), "adjacency_labels"
[B, E, E] (with a relations layer), "relation_labels" [B, E, E, R] (head i, tail j, relation r) and
"relation_mask" [B, R] (the output's own `relation_mask` when absent).

Example:
  >>> relex_loss_options({"alpha": 0.75, "gamma": 2.0, "relation_loss_coef": 2.0})["rel_alpha"]
  0.75
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from gliner_jax.model.relex.span_relex import RelexOutput
from gliner_jax.training.losses import (
  IGNORE_INDEX,
  TOKEN_LOSS_OPTIONS,
  SpanLossConfig,
  focal_loss_elements,
  negative_keep_mask,
  safe_pow,
  span_loss,
  token_loss,
)

# gliner 0.2.29's GLiNERConfig defaults.
RELEX_COEFFICIENTS = {"span_loss_coef": 1.0, "adjacency_loss_coef": 1.0, "relation_loss_coef": 1.0}
RELATION_FOCAL = ("rel_alpha", "rel_gamma")
SPAN_OPTIONS = tuple(f.name for f in dataclasses.fields(SpanLossConfig))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RelexLossTerms:
  """The three terms of the relex loss before their coefficients (float32 scalars), and `total`."""

  entity: jax.Array
  adjacency: jax.Array
  relation: jax.Array
  total: jax.Array


def relex_loss_options(loss_section: Mapping[str, Any]) -> dict[str, Any]:
  """The relex loss options out of a config's `loss` section: the span loss's options (`SpanLossConfig` fields)
  plus `rel_alpha` / `rel_gamma` (None or absent: `alpha` / `gamma`) and the coefficients `span_loss_coef`,
  `adjacency_loss_coef`, `relation_loss_coef` (default 1.0 each, as gliner 0.2.29). Unknown keys and
  reduction="none" are refused (ValueError naming them).

  Example:
    >>> opts = relex_loss_options({"alpha": 0.75, "gamma": 2.0, "rel_gamma": 1.0, "reduction": "mean"})
    >>> opts["rel_alpha"], opts["rel_gamma"], opts["adjacency_loss_coef"]
    (0.75, 1.0, 1.0)
  """
  options = dict(loss_section)
  unknown = sorted(set(options) - set(SPAN_OPTIONS) - set(RELATION_FOCAL) - set(RELEX_COEFFICIENTS))
  if unknown:
    known = sorted((*SPAN_OPTIONS, *RELATION_FOCAL, *RELEX_COEFFICIENTS))
    raise ValueError(f"unknown relex loss options: {unknown} (known: {known})")
  span = {k: options[k] for k in SPAN_OPTIONS if k in options}
  SpanLossConfig(**span)  # validates the span options
  if span.get("reduction", "sum") == "none":
    raise ValueError("reduction='none' gives no relex loss: use 'sum' or 'mean'")
  defaults = SpanLossConfig()
  out = dict(span)
  for name, base in (("rel_alpha", "alpha"), ("rel_gamma", "gamma")):
    value = options.get(name)
    out[name] = float(span.get(base, getattr(defaults, base)) if value is None else value)
  if out["rel_alpha"] > 1:
    raise ValueError(f"rel_alpha={out['rel_alpha']} must be <= 1 (negative disables alpha weighting)")
  if out["rel_gamma"] < 0:
    raise ValueError(f"rel_gamma={out['rel_gamma']} must be >= 0")
  for name, default in RELEX_COEFFICIENTS.items():
    value = options.get(name, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
      raise ValueError(f"{name}={value!r} must be a finite number >= 0")
    out[name] = float(value)
  return out


def focal_loss_on_probabilities(
  probs: jax.Array,
  targets: jax.Array,
  *,
  alpha: float = -1.0,
  gamma: float = 0.0,
  prob_margin: float = 0.0,
  label_smoothing: float = 0.0,
  eps: float | None = 1e-6,
  ignore_index: int = IGNORE_INDEX,
) -> jax.Array:
  """Unreduced focal BCE on probabilities (gliner's `focal_loss_with_logits(normalize_prob=False)`): p and
  1 - clip(p - prob_margin, 0, 1) are floored at `eps` (None: the smallest normal float32) before the log.

  Example:
    >>> focal_loss_on_probabilities(jnp.array([0.5, 1.0]), jnp.array([1.0, 0.0]))   # [-log 0.5, -log 1e-6]
    Array([ 0.6931472, 13.815511 ], dtype=float32)
  """
  p = jnp.asarray(probs, jnp.float32)
  raw = jnp.asarray(targets, jnp.float32)
  valid = (raw != ignore_index).astype(jnp.float32)
  t = raw * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else raw
  floor = float(jnp.finfo(jnp.float32).tiny) if eps is None else eps
  pm = jnp.clip(p - prob_margin, 0.0, 1.0)
  loss = (-t * jnp.log(jnp.maximum(p, floor)) - (1.0 - t) * jnp.log(jnp.maximum(1.0 - pm, floor))) * valid
  if gamma > 0:
    loss = loss * safe_pow(jnp.maximum(1.0 - (p * t + (1.0 - pm) * (1.0 - t)), 0.0), gamma)
  if alpha >= 0:
    loss = loss * (alpha * t + (1.0 - alpha) * (1.0 - t))
  return loss


def _reduce(per: jax.Array, mask: jax.Array, reduction: str) -> jax.Array:
  total = (per * mask).sum()
  if reduction == "sum":
    return total
  count = mask.sum()
  return jnp.where(count > 0, total / jnp.maximum(count, 1.0), 0.0)


def _check_keys(batch: Mapping[str, Any], keys: tuple[str, ...], what: str) -> None:
  missing = [k for k in keys if k not in batch]
  if missing:
    raise ValueError(f"the relex loss ({what}) needs batch keys {missing}; the batch has {sorted(batch)}")


def relex_loss_terms(out: RelexOutput, batch: Mapping[str, Any], key, options: Mapping[str, Any]) -> RelexLossTerms:
  """The relex loss's terms and total (see the module docstring); `options` as `relex_loss_options` takes them.

  Example:
    >>> terms = relex_loss_terms(out, batch, jax.random.key(0), {"alpha": 0.75})  # doctest: +SKIP
  """
  opts = relex_loss_options(options)
  token_mode = out.span_mask.ndim == 2
  reduction = opts.get("reduction", "sum")
  negatives, masking = opts.get("negatives", 1.0), opts.get("masking", SpanLossConfig().masking)
  keys = (None,) * 3 if key is None else tuple(jax.random.split(key, 3))

  if token_mode:
    _check_keys(batch, ("labels", "word_mask", "type_mask"), "token entity term")
    refused = [f"loss_type={opts['loss_type']!r}"] if opts.get("loss_type", "focal") == "dice" else []
    refused += ["span_width_weight=True"] if opts.get("span_width_weight", False) else []
    if refused:
      raise ValueError("gliner's token relex loss (focal on start / end / inside) has no " + ", ".join(refused))
    entity = token_loss(
      out.entity_logits,
      batch["labels"],
      batch["word_mask"],
      batch["type_mask"],
      **{k: v for k, v in opts.items() if k in TOKEN_LOSS_OPTIONS},
    )
  else:
    _check_keys(batch, ("labels", "span_mask", "type_mask"), "span entity term")
    span_opts = {k: v for k, v in opts.items() if k in SPAN_OPTIONS}
    entity = span_loss(
      out.entity_logits, batch["labels"], batch["span_mask"], batch["type_mask"], key=keys[0], **span_opts
    )

  focal = dict(
    alpha=opts["rel_alpha"],
    gamma=opts["rel_gamma"],
    prob_margin=opts.get("prob_margin", 0.0),
    label_smoothing=opts.get("label_smoothing", 0.0),
    eps=opts.get("eps", SpanLossConfig().eps),
  )
  b, e = out.entity_mask.shape
  entity_mask = out.entity_mask.astype(jnp.float32)

  adjacency = jnp.zeros((), jnp.float32)
  if out.has_adjacency:
    _check_keys(batch, ("adjacency_labels",), "adjacency term")
    labels = jnp.asarray(batch["adjacency_labels"], jnp.float32)
    if labels.shape != (b, e, e):
      raise ValueError(f"adjacency_labels must be [batch, entities, entities] = {(b, e, e)}, got {labels.shape}")
    per = focal_loss_on_probabilities(out.adjacency, labels, **focal).reshape(b, e * e, 1)
    per = per * negative_keep_mask(labels.reshape(b, e * e, 1), negatives=negatives, masking=masking, key=keys[1])
    valid = (entity_mask[:, :, None] * entity_mask[:, None, :]).reshape(b, e * e, 1)
    adjacency = _reduce(per, valid, reduction)

  _check_keys(batch, ("relation_labels",), "relation term")
  r = out.relation_logits.shape[-1]
  labels = jnp.asarray(batch["relation_labels"], jnp.float32)
  if labels.shape != (b, e, e, r):
    raise ValueError(f"relation_labels must be [batch, head, tail, relations] = {(b, e, e, r)}, got {labels.shape}")
  relation_mask = jnp.asarray(batch.get("relation_mask", out.relation_mask)).astype(bool)
  if relation_mask.shape != (b, r):
    raise ValueError(f"relation_mask must be [batch, relations] = {(b, r)}, got {relation_mask.shape}")
  labels = labels.reshape(b, e * e, r) * out.pair_mask.reshape(b, e * e, 1)  # only scored pairs carry labels
  per = focal_loss_elements(out.relation_logits.reshape(b, e * e, r), labels, **focal)
  per = per * negative_keep_mask(labels, negatives=negatives, masking=masking, key=keys[2])
  valid = (out.pair_mask.reshape(b, e * e, 1) & relation_mask[:, None, :]).astype(jnp.float32)
  relation = _reduce(per, valid, reduction)

  weighted = (
    opts["span_loss_coef"] * entity + opts["adjacency_loss_coef"] * adjacency + opts["relation_loss_coef"] * relation
  )
  # gliner adds the relation terms (and the entity coefficient) only when the batch has relation types.
  total = jnp.where(relation_mask.any(), weighted, entity)
  return RelexLossTerms(entity=entity, adjacency=adjacency, relation=relation, total=total)


def relex_loss(out: RelexOutput, batch: Mapping[str, Any], key, options: Mapping[str, Any]) -> jax.Array:
  """The relex training loss (a float32 scalar; the `TrainingKind.loss` signature): `relex_loss_terms(...).total`.

  Example:
    >>> loss = relex_loss(model.apply({"params": p}, **inputs), batch, jax.random.key(0), opts)  # doctest: +SKIP
  """
  return relex_loss_terms(out, batch, key, options).total
