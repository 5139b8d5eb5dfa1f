"""T5 / mT5 encoder in Flax linen (last hidden state of `transformers.T5EncoderModel` / `MT5EncoderModel`).

Pre-norm layers with RMSNorm (`T5LayerNorm`: no mean, no bias), attention without the 1/sqrt(d)
scaling and with a learned relative position bias: signed distances ``key - query`` fall into
`relative_attention_num_buckets` bidirectional buckets (exact near 0, log-spaced up to
`relative_attention_max_distance`); the table lives in layer 0 and its bias is shared by every layer.
The feed-forward is relu (T5 v1.0) or gated (`gated_mlp`: act(wi_0 x) * wi_1 x; mT5's gated-gelu).
No linear layer has a bias. The buckets depend only on the static length: numpy at trace time.

Parameter tree (HF names in brackets, under ``encoder.`` unless noted)::

    embed_tokens/embedding                       [shared] (= [encoder.embed_tokens], tied)
    relative_attention_bias/embedding   [K, H]   [block.0.layer.0.SelfAttention.relative_attention_bias]
    layer_{i}/attention_norm/scale               [block.{i}.layer.0.layer_norm]
    layer_{i}/attention/{query, key, value, output}/kernel   [block.{i}.layer.0.SelfAttention.{q, k, v, o}]
    layer_{i}/ffn_norm/scale                     [block.{i}.layer.1.layer_norm]
    layer_{i}/ffn/{wi | wi_0, wi_1}/kernel, layer_{i}/ffn/wo/kernel   [block.{i}.layer.1.DenseReluDense.*]
    final_norm/scale                             [final_layer_norm]
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.encoders.attention import dot_product_attention
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.layers import Dtype, activation, dense, embed, encoder_inputs, split_heads
from gliner_jax.model.encoders.stack import run_layers


def relative_position_bucket(relative_position: np.ndarray, num_buckets: int, max_distance: int) -> np.ndarray:
  """T5's bidirectional bucket of each signed distance ``key - query`` (float32 logs, like HF).

  Example:
      >>> relative_position_bucket(np.array([-1, 0, 1, 2, 100]), 8, 20).tolist()
      [1, 0, 5, 6, 7]
  """
  rel = np.asarray(relative_position, np.int64)
  half = num_buckets // 2
  buckets = (rel > 0).astype(np.int64) * half
  dist = np.abs(rel)
  max_exact = half // 2
  with np.errstate(divide="ignore"):
    log_ratio = np.log(dist.astype(np.float32) / np.float32(max_exact))
  scaled = log_ratio / np.float32(math.log(max_distance / max_exact)) * np.float32(half - max_exact)
  large = max_exact + np.where(dist > 0, scaled, 0).astype(np.int64)
  large = np.minimum(large, half - 1)
  return buckets + np.where(dist < max_exact, dist, large)


@functools.lru_cache(maxsize=64)
def relative_buckets(length: int, num_buckets: int, max_distance: int) -> np.ndarray:
  """[L, L] bucket of (query i, key j)."""
  ids = np.arange(length, dtype=np.int64)
  out = relative_position_bucket(ids[None, :] - ids[:, None], num_buckets, max_distance)
  out.setflags(write=False)
  return out


class T5LayerNorm(nn.Module):
  """RMSNorm: x / sqrt(mean(x^2) + eps) * scale, the mean taken in float32."""

  eps: float
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    scale = self.param(
      "scale",
      nn.with_logical_partitioning(nn.initializers.ones_init(), ("norm",)),
      (x.shape[-1],),
      self.param_dtype,
    )
    x32 = x.astype(jnp.float32)
    x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
    return (jnp.asarray(scale, jnp.float32) * x32).astype(self.dtype)


class T5Attention(nn.Module):
  """q/k/v projections -> attention with the shared position bias (no 1/sqrt(d)) -> o projection."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, position_bias: jax.Array, key_mask: jax.Array, *, deterministic: bool = True):
    cfg = self.config
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype, use_bias=False)
    q, k, v = (
      split_heads(dense(cfg.all_head_size, ("embed", "joined_kv"), name=n, **kw)(x), cfg.num_attention_heads)
      for n in ("query", "key", "value")
    )
    drop = HashDropout(cfg.attention_probs_dropout_prob)
    ctx = dot_product_attention(
      q,
      k,
      v,
      bias=position_bias,
      mask=key_mask,
      scale=1.0,
      dropout=lambda p: drop(p, deterministic=False),
      deterministic=deterministic,
    ).reshape(*x.shape[:-1], cfg.all_head_size)
    return dense(cfg.hidden_size, ("joined_kv", "embed"), name="output", **kw)(ctx)


class T5FeedForward(nn.Module):
  """wi -> act -> dropout -> wo, or gated: act(wi_0 x) * wi_1 x -> dropout -> wo."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, deterministic: bool = True) -> jax.Array:
    cfg = self.config
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype, use_bias=False)
    act = activation(cfg.hidden_act)
    if cfg.gated_mlp:
      h = act(dense(cfg.intermediate_size, ("embed", "mlp"), name="wi_0", **kw)(x))
      h = h * dense(cfg.intermediate_size, ("embed", "mlp"), name="wi_1", **kw)(x)
    else:
      h = act(dense(cfg.intermediate_size, ("embed", "mlp"), name="wi", **kw)(x))
    h = HashDropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)
    return dense(cfg.hidden_size, ("mlp", "embed"), name="wo", **kw)(h)


class T5Layer(nn.Module):
  """x + dropout(attn(norm(x))), then x + dropout(ffn(norm(x)))."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, position_bias, key_mask, *, deterministic: bool = True):
    cfg = self.config
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = T5LayerNorm(cfg.layer_norm_eps, name="attention_norm", **kw)(x)
    h = T5Attention(cfg, name="attention", **kw)(h, position_bias, key_mask, deterministic=deterministic)
    x = x + HashDropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)
    h = T5FeedForward(cfg, name="ffn", **kw)(
      T5LayerNorm(cfg.layer_norm_eps, name="ffn_norm", **kw)(x), deterministic=deterministic
    )
    return x + HashDropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)


class T5Encoder(nn.Module):
  """T5 / mT5 encoder stack returning the last hidden state [B, L, H] (after the final RMSNorm).

  `token_type_ids` is accepted for the shared encoder signature and ignored (T5 has none).

  Example:
      >>> cfg = EncoderConfig.from_hf_dict({"model_type": "mt5", "vocab_size": 50, "d_model": 16,
      ...     "d_kv": 4, "d_ff": 24, "num_layers": 2, "num_heads": 2})
      >>> model = T5Encoder(cfg)
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
    # The relative position bias depends only on query-key distances: packing needs only the mask.
    inputs = encoder_inputs(cfg, "T5Encoder", ("t5",), input_ids, attention_mask, token_type_ids, segment_ids)
    input_ids = inputs.input_ids
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = embed(cfg.vocab_size, cfg.hidden_size, ("vocab", "embed"), name="embed_tokens", **kw)(input_ids)
    h = HashDropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)
    table = embed(
      cfg.relative_attention_num_buckets,
      cfg.num_attention_heads,
      ("rel_pos", "heads"),
      name="relative_attention_bias",
      **kw,
    )
    buckets = relative_buckets(
      input_ids.shape[1], cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance
    )
    position_bias = jnp.transpose(table(jnp.asarray(buckets)), (2, 0, 1))[None].astype(jnp.float32)  # [1, H, L, L]
    h = run_layers(T5Layer, cfg, h, (position_bias, inputs.key_mask), deterministic=deterministic, **kw)
    h = T5LayerNorm(cfg.layer_norm_eps, name="final_norm", **kw)(h)
    return HashDropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)
