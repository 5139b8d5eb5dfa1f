"""Relation (adjacency) layers of gliner 0.2.29's relex models: entity vectors [B, E, D] -> adjacency [B, E, E].

`A[b, i, j]` in (0, 1) scores entity i as the head of a relation to entity j; pairs with a padded endpoint
(mask 0) are zeroed. One module per `relations_layer` value of the reference's config:
  "dot"        sigmoid(X X^T)
  "mlp"        sigmoid(MLP(cat(x_i, x_j))): Linear(2D, H) -> ReLU -> Linear(H, 1), the first layer split by rows
               (`SplitDense.terms`) so the [B, E, E, 2D] concatenation is never built
  "bilinear"   sigmoid(Z Z^T), Z = Linear(D, L)(X)
  "gcn"        one GCN layer (self-loops, symmetric degree normalisation, ReLU) over the "dot" adjacency,
               then sigmoid(P P^T), P = Linear(H, H)(H_gcn)
  "gat"        multi-head self-attention (torch.nn.MultiheadAttention's function), then sigmoid(Z Z^T),
               Z = Linear(D, H)(attention output)
  "attention"  (also "attn") the head-averaged attention weights themselves
`"none"` (no adjacency; every ordered pair of entities is scored) has no layer: `make_relations_layer` returns
None for it. Hidden sizes default to D and heads to 8, as the reference builds them from its config.

Example:
  >>> import jax, jax.numpy as jnp
  >>> layer = make_relations_layer("gcn", hidden_size=8)
  >>> entities, entity_mask = jnp.ones((1, 3, 8)), jnp.array([[1, 1, 0]])   # [B, E, D], [B, E]
  >>> p = layer.init(jax.random.PRNGKey(0), entities, entity_mask)["params"]
  >>> sorted(p)
  ['gcn_linear', 'proj']
  >>> adj = layer.apply({"params": p}, entities, entity_mask)
  >>> adj.shape, adj[0, :, 2].tolist()   # [B, E, E]; pairs with the padded entity are 0
  ((1, 3, 3), [0.0, 0.0, 0.0])
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.layers import SplitDense, dense

Dtype = Any


def pair_mask(adjacency: jax.Array, mask: jax.Array | None) -> jax.Array:
  """adjacency[B, E, E] with every entry whose row or column entity is masked (mask[B, E] == 0) set to 0."""
  if mask is None:
    return adjacency
  m = mask.astype(adjacency.dtype)
  return adjacency * m[:, :, None] * m[:, None, :]


def _sigmoid_gram(z: jax.Array) -> jax.Array:
  return jax.nn.sigmoid(jnp.einsum("bid,bjd->bij", z, z))


class DotAdjacency(nn.Module):
  """ "dot": sigmoid of the entity vectors' dot products (no parameters)."""

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    return pair_mask(_sigmoid_gram(x.astype(jnp.float32)), mask)


class MLPAdjacency(nn.Module):
  """ "mlp": an MLP on every ordered pair cat(x_i, x_j); params `mlp_in` (rows: head part, tail part), `mlp_out`."""

  hidden: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    d = x.shape[-1]
    first = SplitDense(self.hidden, (d, d), ("embed", "mlp"), self.dtype, name="mlp_in")
    head, tail = first.terms((x, x))
    h = nn.relu(head[:, :, None, :] + tail[:, None, :, :])  # [B, E, E, H]
    out = dense(1, ("mlp", None), name="mlp_out", dtype=self.dtype)(h)[..., 0]
    return pair_mask(jax.nn.sigmoid(out.astype(jnp.float32)), mask)


class BilinearAdjacency(nn.Module):
  """ "bilinear": sigmoid(Z Z^T) with Z = `proj`(X), Linear(D, latent)."""

  latent: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    z = dense(self.latent, ("embed", "mlp"), name="proj", dtype=self.dtype)(x)
    return pair_mask(_sigmoid_gram(z.astype(jnp.float32)), mask)


class GCNAdjacency(nn.Module):
  """ "gcn": ReLU(`gcn_linear`(D^-1/2 (A + I) D^-1/2 X)) over the masked "dot" adjacency A, then
  sigmoid(P P^T) with P = `proj`(that). Self-loops only on valid entities; degrees clamped at 1e-6."""

  hidden: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    x32 = x.astype(jnp.float32)
    a = pair_mask(_sigmoid_gram(x32), mask)
    loops = jnp.ones(x.shape[:2], jnp.float32) if mask is None else mask.astype(jnp.float32)
    a = a + loops[:, :, None] * jnp.eye(x.shape[1], dtype=jnp.float32)[None]
    inv_sqrt = jnp.maximum(a.sum(-1), 1e-6) ** -0.5
    propagated = jnp.einsum("bij,bjd->bid", inv_sqrt[:, :, None] * a * inv_sqrt[:, None, :], x32)
    h = nn.relu(dense(self.hidden, ("embed", "mlp"), name="gcn_linear", dtype=self.dtype)(propagated))
    p = dense(self.hidden, ("mlp", "embed"), name="proj", dtype=self.dtype)(h)
    return pair_mask(_sigmoid_gram(p.astype(jnp.float32)), mask)


class MultiHeadSelfAttention(nn.Module):
  """torch.nn.MultiheadAttention(d, heads, batch_first=True) on (X, X, X) with a key padding mask.

  Params: `in_proj` kernel [D, 3D] (columns: q, k, v) and bias [3D]; `out_proj` Dense(D).
  Returns (output [B, E, D], attention weights averaged over heads [B, E, E]).
  """

  heads: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    b, e, d = x.shape
    if d % self.heads:
      raise ValueError(f"attention over {d} features cannot split into {self.heads} heads")
    qkv = dense(3 * d, ("embed", "joined_kv"), name="in_proj", dtype=self.dtype)(x)
    q, k, v = (t.reshape(b, e, self.heads, d // self.heads) for t in jnp.split(qkv, 3, axis=-1))
    logits = jnp.einsum("bqhk,bshk->bhqs", q, k).astype(jnp.float32) / jnp.sqrt(d // self.heads)
    if mask is not None:
      logits = jnp.where(mask.astype(bool)[:, None, None, :], logits, -jnp.inf)
    weights = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("bhqs,bshk->bqhk", weights.astype(self.dtype), v).reshape(b, e, d)
    out = dense(d, ("joined_kv", "embed"), name="out_proj", dtype=self.dtype)(out)
    return out, weights.mean(axis=1)


class AttentionAdjacency(nn.Module):
  """ "attention" / "attn": the head-averaged self-attention weights of the entities, masked."""

  heads: int = 8
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    _, weights = MultiHeadSelfAttention(self.heads, self.dtype, name="attn")(x, mask)
    return pair_mask(weights, mask)


class GATAdjacency(nn.Module):
  """ "gat": self-attention over the entities, then sigmoid(Z Z^T) with Z = `linear`(attention output)."""

  hidden: int
  heads: int = 8
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    h, _ = MultiHeadSelfAttention(self.heads, self.dtype, name="attn")(x, mask)
    z = dense(self.hidden, ("embed", "mlp"), name="linear", dtype=self.dtype)(h)
    return pair_mask(_sigmoid_gram(z.astype(jnp.float32)), mask)


RELATIONS_LAYERS = ("dot", "mlp", "bilinear", "gcn", "gat", "attention", "attn", "none")


def make_relations_layer(
  mode: str, hidden_size: int, *, heads: int = 8, dtype: Dtype = jnp.float32, name: str | None = "relations"
) -> nn.Module | None:
  """The adjacency layer for gliner's `relations_layer` value (case-insensitive); None for "none".

  Example:
    >>> layer = make_relations_layer("mlp", 512)
    >>> type(layer).__name__, layer.hidden
    ('MLPAdjacency', 512)
    >>> make_relations_layer("dot", 2).apply({}, jnp.array([[[1.0, 0.0], [0.0, 0.0]]])).round(3).tolist()
    [[[0.731..., 0.5], [0.5, 0.5]]]
    >>> make_relations_layer("none", 512) is None
    True
  """
  m = mode.lower()
  if m == "none":
    return None
  if m == "dot":
    return DotAdjacency(name=name)
  if m == "mlp":
    return MLPAdjacency(hidden_size, dtype, name=name)
  if m == "bilinear":
    return BilinearAdjacency(hidden_size, dtype, name=name)
  if m == "gcn":
    return GCNAdjacency(hidden_size, dtype, name=name)
  if m == "gat":
    return GATAdjacency(hidden_size, heads, dtype, name=name)
  if m in ("attention", "attn"):
    return AttentionAdjacency(heads, dtype, name=name)
  raise ValueError(f"unknown relations_layer {mode!r}; gliner 0.2.29 defines {list(RELATIONS_LAYERS)}")
