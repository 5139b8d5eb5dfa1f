"""BERT / RoBERTa encoder in Flax linen (last hidden state of `transformers.BertModel`).

The building blocks shared with the other encoders (dense / layer-norm / embedding constructors, the
feed-forward block, the input checks) are in `gliner_jax.model.encoders.layers`; attention is
`gliner_jax.model.encoders.attention.dot_product_attention`.

Parameter tree (HF names in brackets)::

    embeddings/{word_embeddings, position_embeddings, token_type_embeddings}/embedding
    embeddings/norm/{scale, bias}                       [embeddings.LayerNorm]
    layer_{i}/attention/{query, key, value}/{kernel, bias}
    layer_{i}/attention/output/{kernel, bias}           [attention.output.dense]
    layer_{i}/attention/norm/{scale, bias}              [attention.output.LayerNorm]
    layer_{i}/ffn/{intermediate, output}/{kernel, bias}
    layer_{i}/ffn/norm/{scale, bias}                    [output.LayerNorm]
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.encoders.attention import dot_product_attention
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.layers import (
  Dtype,
  EncoderInputs,
  FeedForward,
  dense,
  embed,
  encoder_inputs,
  layer_norm,
  split_heads,
)
from gliner_jax.model.encoders.stack import run_layers


class BertSelfAttention(nn.Module):
  """Multi-head self-attention + output projection + residual LayerNorm."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, key_mask: jnp.ndarray, *, deterministic: bool = True) -> jnp.ndarray:
    cfg = self.config
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    heads = cfg.num_attention_heads
    q, k, v = (
      split_heads(dense(cfg.all_head_size, ("embed", "joined_kv"), name=n, **kw)(x), heads)
      for n in ("query", "key", "value")
    )
    drop = HashDropout(cfg.attention_probs_dropout_prob)
    ctx = dot_product_attention(
      q,
      k,
      v,
      mask=key_mask,
      scale=cfg.head_dim**-0.5,
      dropout=lambda p: drop(p, deterministic=False),
      deterministic=deterministic,
    ).reshape(*x.shape[:-1], cfg.all_head_size)
    out = dense(cfg.hidden_size, ("joined_kv", "embed"), name="output", **kw)(ctx)
    out = HashDropout(cfg.hidden_dropout_prob)(out, deterministic=deterministic)
    return layer_norm(cfg.layer_norm_eps, name="norm", **kw)(out + x)


class BertLayer(nn.Module):
  """One post-LN transformer layer: self-attention block then feed-forward block."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, key_mask: jnp.ndarray, *, deterministic: bool = True) -> jnp.ndarray:
    kw = dict(config=self.config, dtype=self.dtype, param_dtype=self.param_dtype)
    x = BertSelfAttention(name="attention", **kw)(x, key_mask, deterministic=deterministic)
    return FeedForward(name="ffn", **kw)(x, deterministic=deterministic)


def position_ids_for(
  config: EncoderConfig, input_ids: jnp.ndarray, positions: jnp.ndarray, packed: bool
) -> jnp.ndarray:
  """Absolute position ids [B, L]: `positions`, or RoBERTa-style (from pad_token_id + 1; pads keep it)."""
  if config.position_embedding_type != "padding_offset":
    return positions
  not_pad = (input_ids != config.pad_token_id).astype(jnp.int32)
  if packed:
    return (positions + 1) * not_pad + config.pad_token_id
  return jnp.cumsum(not_pad, axis=1) * not_pad + config.pad_token_id


class BertEmbeddings(nn.Module):
  """word + position + token-type embeddings -> LayerNorm -> dropout."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(
    self,
    inputs: EncoderInputs,
    *,
    deterministic: bool = True,
  ) -> jnp.ndarray:
    cfg = self.config
    input_ids, token_type_ids = inputs.input_ids, inputs.token_type_ids
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    words = embed(cfg.vocab_size, cfg.hidden_size, ("vocab", "embed"), name="word_embeddings", **kw)
    h = words(input_ids)
    pos = embed(
      cfg.max_position_embeddings,
      cfg.hidden_size,
      ("pos_vocab", "embed"),
      name="position_embeddings",
      **kw,
    )
    h = h + pos(position_ids_for(cfg, input_ids, inputs.positions, inputs.packed))
    if cfg.type_vocab_size > 0:
      if token_type_ids is None:
        token_type_ids = jnp.zeros_like(input_ids)
      types = embed(
        cfg.type_vocab_size,
        cfg.hidden_size,
        ("type_vocab", "embed"),
        name="token_type_embeddings",
        **kw,
      )
      h = h + types(token_type_ids)
    h = layer_norm(cfg.layer_norm_eps, name="norm", **kw)(h)
    return HashDropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)


class BertEncoder(nn.Module):
  """BERT / RoBERTa / XLM-R encoder returning the last hidden state [B, L, H].

  Example:
      >>> cfg = EncoderConfig(model_type="bert", vocab_size=50, hidden_size=16,
      ...                     num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
      >>> import jax
      >>> model = BertEncoder(cfg)
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
    input_ids: jnp.ndarray,
    attention_mask: jnp.ndarray,
    token_type_ids: jnp.ndarray | None = None,
    *,
    segment_ids: jnp.ndarray | None = None,
    deterministic: bool = True,
  ) -> jnp.ndarray:
    cfg = self.config
    inputs = encoder_inputs(
      cfg, "BertEncoder", ("bert", "roberta"), input_ids, attention_mask, token_type_ids, segment_ids
    )
    kw = dict(config=cfg, dtype=self.dtype, param_dtype=self.param_dtype)
    h = BertEmbeddings(name="embeddings", **kw)(inputs, deterministic=deterministic)
    return run_layers(
      BertLayer, cfg, h, (inputs.key_mask,), deterministic=deterministic, dtype=self.dtype, param_dtype=self.param_dtype
    )
