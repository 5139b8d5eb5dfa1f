"""The one attention function of every encoder: ``softmax(scale * q.k + bias, where mask) . v``.

Queries, keys and values are [B, T, H, D] (batch, length, heads, head size), the layout of
`jax.nn.dot_product_attention`. Each family's specifics become a `bias` (float, added to the scaled
scores: DeBERTa's c2p / p2c terms, T5's relative position bias) or a `mask` (bool, False = not attended:
padding, ModernBERT's sliding window), both broadcastable to [B, H, T, S]. A query row whose keys are
all masked attends uniformly to every key, as torch's ``masked_fill(finfo.min)`` + softmax does.

Two implementations compute the same function: "xla" is `jax.nn.dot_product_attention` (XLA's
einsum / softmax / einsum on CPU, GPU and TPU alike unless "cudnn" is asked for), "einsum" is the
same algebra written out, which also takes a dropout on the probabilities (jax.nn has none). By
default inference (`deterministic=True`) runs "xla" and training runs "einsum": on CPU (MiniLM
shapes, batch 8, 2 threads; `scripts/benchmark_attention.py`) jax.nn's forward is ~1.5x faster
but its forward + backward is 1.3-2x slower.

Example:
    >>> q = k = v = jnp.ones((2, 5, 4, 8))
    >>> mask = jnp.ones((2, 1, 1, 5), bool)
    >>> dot_product_attention(q, k, v, mask=mask, scale=8**-0.5).shape
    (2, 5, 4, 8)
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

IMPLEMENTATIONS = ("xla", "einsum", "cudnn")


def _check(query: jax.Array, key: jax.Array, value: jax.Array, bias, mask) -> None:
  if query.ndim != 4 or key.shape != value.shape or query.shape[::3] != key.shape[::3]:
    raise ValueError(f"query/key/value must be [B, T, H, D] alike, got {query.shape}, {key.shape}, {value.shape}")
  for name, x in (("bias", bias), ("mask", mask)):
    if x is not None and x.ndim != 4:
      raise ValueError(f"{name} must be 4-D (broadcastable to [B, H, T, S]), got shape {x.shape}")
  if mask is not None and mask.dtype != jnp.bool_:
    raise ValueError(f"mask must be boolean (False = not attended), got dtype {mask.dtype}")


def dot_product_attention(
  query: jax.Array,
  key: jax.Array,
  value: jax.Array,
  *,
  bias: jax.Array | None = None,
  mask: jax.Array | None = None,
  scale: float | None = None,
  dropout: Callable[[jax.Array], jax.Array] | None = None,
  deterministic: bool = True,
  implementation: str | None = None,
) -> jax.Array:
  """Multi-head attention [B, T, H, D] x [B, S, H, D] -> [B, T, H, D].

  `scale` defaults to ``D ** -0.5`` (T5 passes 1.0); logits and softmax are float32 whatever the
  input dtype. `dropout` is a function on the [B, H, T, S] probabilities (e.g. a bound `HashDropout`),
  applied when not `deterministic`. `implementation` None picks "xla" when `deterministic`, else
  "einsum" (the faster one on CPU for each); an explicit "xla" / "cudnn" with a dropout to apply
  raises.

  Example:
      >>> q = k = v = jnp.ones((2, 5, 4, 8))
      >>> bias = jnp.zeros((1, 4, 5, 5))          # e.g. T5's position bias, shared over the batch
      >>> mask = jnp.ones((2, 1, 1, 5), bool)     # key padding
      >>> dot_product_attention(q, k, v, bias=bias, mask=mask, scale=1.0).shape
      (2, 5, 4, 8)
  """
  _check(query, key, value, bias, mask)
  if deterministic:
    dropout = None
  impl = implementation or ("xla" if deterministic else "einsum")
  if impl not in IMPLEMENTATIONS:
    raise ValueError(f"attention implementation {impl!r}; use one of {IMPLEMENTATIONS}")
  if dropout is not None and impl != "einsum":
    raise ValueError(f"implementation={impl!r} has no attention dropout; use 'einsum' (or None) for training")
  scale = float(query.shape[-1] ** -0.5 if scale is None else scale)
  if impl != "einsum":
    if bias is not None:
      bias = bias.astype(jnp.float32)
    return jax.nn.dot_product_attention(
      query, key, value, bias=bias, mask=mask, scale=scale, implementation=None if impl == "xla" else impl
    )
  logits = jnp.einsum("bqhd,bkhd->bhqk", query, key, preferred_element_type=jnp.float32) * np.float32(scale)
  if bias is not None:
    logits = logits + bias.astype(jnp.float32)
  if mask is not None:
    logits = jnp.where(mask, logits, np.finfo(np.float32).min)
  probs = jax.nn.softmax(logits, axis=-1).astype(value.dtype)
  if dropout is not None:
    probs = dropout(probs)
  return jnp.einsum("bhqk,bkhd->bqhd", probs, value)


def key_padding_mask(attention_mask: jax.Array) -> jax.Array:
  """[B, S] 0/1 attention mask -> [B, 1, 1, S] boolean key mask."""
  return attention_mask.astype(bool)[:, None, None, :]


def segment_mask(segment_ids: jax.Array) -> jax.Array:
  """[B, T] segment ids (0 = padding) -> [B, 1, T, T] block-diagonal mask: a token sees its own segment.

  Several short sequences packed into one row (ids 1, 2, ... per sequence) then attend as if each were
  alone in its row.

  Example:
    >>> segment_mask(jnp.array([[1, 1, 2, 0]]))[0, 0].astype(int).tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
  """
  same = segment_ids[:, :, None] == segment_ids[:, None, :]
  return (same & (segment_ids > 0)[:, None, :])[:, None]


def segment_positions(segment_ids: jax.Array) -> jax.Array:
  """[B, T] segment ids -> the position of each token within its segment (0, 1, ... from its start).

  Example:
    >>> segment_positions(jnp.array([[1, 1, 1, 2, 2, 0]])).tolist()
    [[0, 1, 2, 0, 1, 0]]
  """
  length = segment_ids.shape[1]
  pos = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), segment_ids.shape)
  starts = jnp.concatenate([jnp.ones_like(segment_ids[:, :1], bool), segment_ids[:, 1:] != segment_ids[:, :-1]], axis=1)
  return pos - jax.lax.cummax(jnp.where(starts, pos, 0), axis=1)
