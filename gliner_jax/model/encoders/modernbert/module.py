"""ModernBERT encoder in Flax linen (last hidden state of `transformers.ModernBertModel`).

Pre-norm layers with rotary position embeddings on queries and keys (theta `global_rope_theta` in
"full_attention" layers, `local_rope_theta` in "sliding_attention" layers, where a query sees the
keys within ``local_attention // 2`` positions), a GeGLU-style gated MLP, LayerNorms without bias
(per `norm_bias`) and no linear biases (per `attention_bias` / `mlp_bias`). HF's unpadded
(flash-attention) path and its padded path compute the same values on real tokens; here padding is
a key mask, and positions count from 0 in every row (inputs are right-padded).

Parameter tree (HF names in brackets)::

    tok_embeddings/embedding                            [embeddings.tok_embeddings]
    embeddings_norm/scale                               [embeddings.norm]
    layer_{i}/attn_norm/scale                           [layers.{i}.attn_norm]   (i > 0)
    layer_{i}/attention/qkv/kernel     [E, 3, H*D]      [layers.{i}.attn.Wqkv]
    layer_{i}/attention/output/kernel                   [layers.{i}.attn.Wo]
    layer_{i}/mlp_norm/scale                            [layers.{i}.mlp_norm]
    layer_{i}/mlp/wi/kernel            [E, 2, I]        [layers.{i}.mlp.Wi]   (input, gate)
    layer_{i}/mlp/wo/kernel                             [layers.{i}.mlp.Wo]
    final_norm/scale                                    [final_norm]
  (+ a `bias` beside each of them when the config's bias flags are set)
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.encoders.attention import dot_product_attention
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.layers import (
  INIT_STD,
  Dtype,
  activation,
  dense,
  embed,
  encoder_inputs,
  layer_norm,
  split_heads,
)
from gliner_jax.model.encoders.stack import run_layers


@functools.lru_cache(maxsize=64)
def rotary_tables(length: int, head_dim: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
  """(cos, sin) [L, D] float32 tables of positions 0..L-1, both halves of D repeating the frequencies.

  Example:
      >>> cos, sin = rotary_tables(4, 8, 10000.0)
      >>> cos.shape, float(cos[0, 0]), float(sin[0, 0])
      ((4, 8), 1.0, 0.0)
  """
  inv_freq = np.float32(1.0) / np.float32(theta) ** (np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim))
  angles = np.arange(length, dtype=np.float32)[:, None] * inv_freq[None, :]
  angles = np.concatenate([angles, angles], axis=-1).astype(np.float64)
  cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
  cos.setflags(write=False)
  sin.setflags(write=False)
  return cos, sin


def apply_rotary(x: jax.Array, cos: np.ndarray, sin: np.ndarray) -> jax.Array:
  """Rotates [B, L, H, D] queries or keys by the [L, D] tables (in float32, like HF)."""
  x32 = x.astype(jnp.float32)
  half = x.shape[-1] // 2
  rotated = jnp.concatenate([-x32[..., half:], x32[..., :half]], axis=-1)
  out = x32 * cos[None, :, None, :] + rotated * sin[None, :, None, :]
  return out.astype(x.dtype)


@functools.lru_cache(maxsize=64)
def sliding_window(length: int, local_attention: int) -> np.ndarray:
  """[1, 1, L, L] boolean: key j is within ``local_attention // 2`` of query i."""
  ids = np.arange(length)
  window = np.abs(ids[:, None] - ids[None, :]) <= local_attention // 2
  window = window[None, None]
  window.setflags(write=False)
  return window


def _kernel(shape_axes: tuple[str, ...]):
  return nn.with_logical_partitioning(nn.initializers.normal(INIT_STD), shape_axes)


class ModernBertAttention(nn.Module):
  """Fused QKV projection -> rotary -> (windowed) attention -> output projection -> dropout."""

  config: EncoderConfig
  sliding: bool
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, key_mask: jax.Array, *, deterministic: bool = True) -> jax.Array:
    cfg = self.config
    heads, length = cfg.num_attention_heads, x.shape[1]
    qkv = nn.DenseGeneral(
      (3, cfg.all_head_size),
      use_bias=cfg.attention_bias,
      dtype=self.dtype,
      param_dtype=self.param_dtype,
      kernel_init=_kernel(("embed", "qkv", "joined_kv")),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("qkv", "joined_kv")),
      name="qkv",
    )(x)
    q, k, v = (split_heads(qkv[:, :, i], heads) for i in range(3))
    theta = cfg.local_rope_theta if self.sliding else cfg.global_rope_theta
    cos, sin = rotary_tables(length, cfg.head_dim, theta)
    q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    mask = key_mask
    if self.sliding:
      mask = mask & sliding_window(length, cfg.local_attention)
    drop = HashDropout(cfg.attention_probs_dropout_prob)
    ctx = dot_product_attention(
      q,
      k,
      v,
      mask=mask,
      scale=cfg.head_dim**-0.5,
      dropout=lambda p: drop(p, deterministic=False),
      deterministic=deterministic,
    ).reshape(*x.shape[:-1], cfg.all_head_size)
    out = dense(
      cfg.hidden_size,
      ("joined_kv", "embed"),
      name="output",
      use_bias=cfg.attention_bias,
      dtype=self.dtype,
      param_dtype=self.param_dtype,
    )(ctx)
    return HashDropout(cfg.attention_probs_dropout_prob)(out, deterministic=deterministic)


class ModernBertMLP(nn.Module):
  """Wi -> (input, gate) -> act(input) * gate -> dropout -> Wo."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, deterministic: bool = True) -> jax.Array:
    cfg = self.config
    h = nn.DenseGeneral(
      (2, cfg.intermediate_size),
      use_bias=cfg.mlp_bias,
      dtype=self.dtype,
      param_dtype=self.param_dtype,
      kernel_init=_kernel(("embed", "glu", "mlp")),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("glu", "mlp")),
      name="wi",
    )(x)
    h = activation(cfg.hidden_act)(h[..., 0, :]) * h[..., 1, :]
    h = HashDropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)
    return dense(
      cfg.hidden_size,
      ("mlp", "embed"),
      name="wo",
      use_bias=cfg.mlp_bias,
      dtype=self.dtype,
      param_dtype=self.param_dtype,
    )(h)


class ModernBertLayer(nn.Module):
  """x + attn(attn_norm(x)) (no attn_norm in layer 0), then x + mlp(mlp_norm(x))."""

  config: EncoderConfig
  index: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, key_mask: jax.Array, *, deterministic: bool = True) -> jax.Array:
    cfg = self.config
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    norm = functools.partial(layer_norm, cfg.layer_norm_eps, use_bias=cfg.norm_bias, **kw)
    h = x if self.index == 0 else norm(name="attn_norm")(x)
    sliding = cfg.layer_types[self.index] == "sliding_attention"
    x = x + ModernBertAttention(cfg, sliding, name="attention", **kw)(h, key_mask, deterministic=deterministic)
    return x + ModernBertMLP(cfg, name="mlp", **kw)(norm(name="mlp_norm")(x), deterministic=deterministic)


class ModernBertEncoder(nn.Module):
  """ModernBERT encoder returning the last hidden state [B, L, H] (after `final_norm`).

  `token_type_ids` is accepted for the shared encoder signature and ignored (ModernBERT has none).

  Example:
      >>> cfg = EncoderConfig.from_hf_dict({"model_type": "modernbert", "vocab_size": 50,
      ...     "hidden_size": 16, "num_hidden_layers": 3, "num_attention_heads": 2,
      ...     "intermediate_size": 24, "local_attention": 4, "pad_token_id": 0})
      >>> model = ModernBertEncoder(cfg)
      >>> ids = jnp.ones((2, 5), jnp.int32)
      >>> variables = model.init(jax.random.PRNGKey(0), ids, jnp.ones_like(ids))
      >>> model.apply(variables, ids, jnp.ones_like(ids)).shape
      (2, 5, 16)
  """

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(
    self,
    input_ids: jax.Array,
    attention_mask: jax.Array,
    token_type_ids: jax.Array | None = None,
    *,
    segment_ids: jax.Array | None = None,
    deterministic: bool = True,
  ) -> jax.Array:
    cfg = self.config
    # Rotary positions and the sliding window depend only on query-key distances, the same within a
    # packed segment as alone: packing needs only the block-diagonal mask.
    inputs = encoder_inputs(
      cfg, "ModernBertEncoder", ("modernbert",), input_ids, attention_mask, token_type_ids, segment_ids
    )
    input_ids = inputs.input_ids
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    norm = functools.partial(layer_norm, cfg.layer_norm_eps, use_bias=cfg.norm_bias, **kw)
    h = embed(cfg.vocab_size, cfg.hidden_size, ("vocab", "embed"), name="tok_embeddings", **kw)(input_ids)
    h = norm(name="embeddings_norm")(h)
    h = HashDropout(cfg.embedding_dropout_prob)(h, deterministic=deterministic)
    h = run_layers(
      ModernBertLayer,
      cfg,
      h,
      (inputs.key_mask,),
      deterministic=deterministic,
      per_layer=lambda i: {"index": i},
      **kw,
    )
    return norm(name="final_norm")(h)
