"""DeBERTa-v2 / v3 encoder in Flax linen (last hidden state of `transformers.DebertaV2Model`).

Disentangled attention adds to the content->content scores a content->position (c2p)
and a position->content (p2c) term computed against a table of relative position
embeddings; relative distances are log-bucketed beyond ``position_buckets // 2``.
The bucket tables depend only on the (static) sequence length, so they are built with
numpy at trace time.

Parameter tree (HF names in brackets)::

    embeddings/word_embeddings/embedding
    embeddings/{position_embeddings, token_type_embeddings}/embedding   (if enabled)
    embeddings/embed_proj/kernel                        (if embedding_size != hidden_size)
    embeddings/norm/{scale, bias}
    layer_{i}/attention/{query, key, value}/...         [attention.self.{query,key,value}_proj]
    layer_{i}/attention/{pos_key, pos_query}/...        (share_att_key=False only)
    layer_{i}/attention/output, attention/norm, ffn/{intermediate, output, norm}
    rel_embeddings/embedding                            [encoder.rel_embeddings]
    rel_norm/{scale, bias}                              [encoder.LayerNorm]
    conv/{conv, norm}                                   [encoder.conv] (conv_kernel_size > 0)
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.encoders.attention import dot_product_attention
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.layers import (
  INIT_STD,
  Dtype,
  FeedForward,
  activation,
  dense,
  embed,
  encoder_inputs,
  layer_norm,
  split_heads,
)
from gliner_jax.model.encoders.stack import run_layers


# ------------------------------------------------------------------ relative positions
def log_bucket_position(relative_pos: np.ndarray, bucket_size: int, max_position: int) -> np.ndarray:
  """Map signed distances to log-spaced buckets (identity inside ``±bucket_size // 2``).

  Computed in float32 like the reference so that bucket boundaries agree exactly.

  Example:
      >>> log_bucket_position(np.array([0, 3, -3, 100]), 8, 512).tolist()
      [0, 3, -3, 6]
  """
  rel = np.asarray(relative_pos, dtype=np.int64)
  mid = bucket_size // 2
  abs_pos = np.where((rel < mid) & (rel > -mid), mid - 1, np.abs(rel))
  with np.errstate(divide="ignore"):
    ratio = np.log(abs_pos.astype(np.float32) / np.float32(mid))
    log_pos = np.ceil(ratio / np.log(np.float32((max_position - 1) / mid)) * np.float32(mid - 1)) + mid
  return np.where(abs_pos <= mid, rel, log_pos * np.sign(rel)).astype(np.int64)


@functools.lru_cache(maxsize=64)
def relative_positions(length: int, bucket_size: int, max_position: int) -> np.ndarray:
  """[L, L] table of (bucketed) relative positions ``query_index - key_index``."""
  ids = np.arange(length, dtype=np.int64)
  rel = ids[:, None] - ids[None, :]
  if bucket_size > 0 and max_position > 0:
    rel = log_bucket_position(rel, bucket_size, max_position)
  rel.setflags(write=False)
  return rel


# --------------------------------------------------------------------------- modules
class DisentangledSelfAttention(nn.Module):
  """DeBERTa attention (content + c2p + p2c) with output projection and residual LN."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(
    self,
    x: jnp.ndarray,
    mask: jnp.ndarray,
    rel_embeddings: jnp.ndarray | None,
    *,
    deterministic: bool = True,
  ) -> jnp.ndarray:
    cfg = self.config
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    heads, att_types = cfg.num_attention_heads, cfg.pos_att_type
    proj = {n: dense(cfg.all_head_size, ("embed", "joined_kv"), name=n, **kw) for n in ("query", "key", "value")}
    q, k, v = (split_heads(proj[n](x), heads) for n in ("query", "key", "value"))
    scale = float(np.sqrt(cfg.head_dim * (1 + len(att_types))))
    bias = None

    if cfg.relative_attention and att_types:
      rel = HashDropout(cfg.hidden_dropout_prob)(rel_embeddings, deterministic=deterministic)
      if cfg.share_att_key:
        pos_key_proj, pos_query_proj = proj["key"], proj["query"]
      else:
        if "c2p" in att_types:
          pos_key_proj = dense(cfg.all_head_size, ("embed", "joined_kv"), name="pos_key", **kw)
        if "p2c" in att_types:
          pos_query_proj = dense(cfg.all_head_size, ("embed", "joined_kv"), name="pos_query", **kw)
      span = cfg.relative_span
      length = x.shape[1]
      # A static [L, L] numpy table (built here so remat / scan never trace it).
      rel_pos = relative_positions(length, cfg.position_buckets, cfg.effective_max_relative_positions)
      rows = np.arange(length)[:, None]
      terms = []
      if "c2p" in att_types:
        pos_k = split_heads(pos_key_proj(rel), heads)  # [2S, H, D]
        c2p = jnp.einsum("bqhd,phd->bhqp", q, pos_k, preferred_element_type=jnp.float32)
        terms.append(c2p[:, :, rows, np.clip(rel_pos + span, 0, 2 * span - 1)])
      if "p2c" in att_types:
        pos_q = split_heads(pos_query_proj(rel), heads)
        p2c = jnp.einsum("bkhd,phd->bhkp", k, pos_q, preferred_element_type=jnp.float32)
        # Gathered as [key, query]; transposed to [query, key].
        terms.append(jnp.swapaxes(p2c[:, :, rows, np.clip(-rel_pos + span, 0, 2 * span - 1)], -1, -2))
      bias = sum(terms[1:], terms[0]) / np.float32(scale)

    drop = HashDropout(cfg.attention_probs_dropout_prob)
    ctx = dot_product_attention(
      q,
      k,
      v,
      bias=bias,
      mask=mask,
      scale=1.0 / scale,
      dropout=lambda p: drop(p, deterministic=False),
      deterministic=deterministic,
    ).reshape(*x.shape[:-1], cfg.all_head_size)
    out = dense(cfg.hidden_size, ("joined_kv", "embed"), name="output", **kw)(ctx)
    out = HashDropout(cfg.hidden_dropout_prob)(out, deterministic=deterministic)
    return layer_norm(cfg.layer_norm_eps, name="norm", **kw)(out + x)


class DebertaV2Layer(nn.Module):
  """Disentangled attention block followed by the feed-forward block."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, mask, rel_embeddings, *, deterministic: bool = True):
    kw = dict(config=self.config, dtype=self.dtype, param_dtype=self.param_dtype)
    x = DisentangledSelfAttention(name="attention", **kw)(x, mask, rel_embeddings, deterministic=deterministic)
    return FeedForward(name="ffn", **kw)(x, deterministic=deterministic)


class ConvLayer(nn.Module):
  """1-D convolution branch added to the first layer's output (DeBERTa-v2 xlarge style)."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, embeddings, residual, mask, *, deterministic: bool = True):
    cfg = self.config
    width = cfg.conv_kernel_size
    pad = (width - 1) // 2
    conv = nn.Conv(
      cfg.hidden_size,
      kernel_size=(width,),
      padding=[(pad, pad)],
      feature_group_count=cfg.conv_groups,
      dtype=self.dtype,
      param_dtype=self.param_dtype,
      kernel_init=nn.with_logical_partitioning(nn.initializers.normal(INIT_STD), ("conv_width", "embed_in", "embed")),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("embed",)),
      name="conv",
    )
    out = conv(embeddings)
    if out.shape[1] != residual.shape[1]:
      raise ValueError(f"conv_kernel_size={width} must be odd to keep the sequence length")
    out = jnp.where(mask[..., None], out, 0)
    out = HashDropout(cfg.hidden_dropout_prob)(out, deterministic=deterministic)
    out = activation(cfg.conv_act)(out)
    out = layer_norm(cfg.layer_norm_eps, name="norm", dtype=self.dtype, param_dtype=self.param_dtype)(residual + out)
    return out * mask[..., None].astype(out.dtype)


class DebertaV2Embeddings(nn.Module):
  """word (+ absolute position) (+ token type) -> [embed_proj] -> LayerNorm -> * mask."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, input_ids, token_type_ids, mask, positions, *, deterministic: bool = True):
    cfg = self.config
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    width = cfg.word_embedding_size
    narrow = width != cfg.hidden_size
    axis = "embed_in" if narrow else "embed"
    h = embed(cfg.vocab_size, width, ("vocab", axis), name="word_embeddings", **kw)(input_ids)
    if cfg.position_biased_input:
      pos = embed(
        cfg.max_position_embeddings,
        width,
        ("pos_vocab", axis),
        name="position_embeddings",
        **kw,
      )
      h = h + pos(positions)
    if cfg.type_vocab_size > 0:
      if token_type_ids is None:
        token_type_ids = jnp.zeros_like(input_ids)
      types = embed(cfg.type_vocab_size, width, ("type_vocab", axis), name="token_type_embeddings", **kw)
      h = h + types(token_type_ids)
    if narrow:
      proj = dense(cfg.hidden_size, ("embed_in", "embed"), name="embed_proj", use_bias=False, **kw)
      h = proj(h)
    h = layer_norm(cfg.layer_norm_eps, name="norm", **kw)(h)
    h = h * mask[..., None].astype(h.dtype)
    return HashDropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)


class DebertaV2Encoder(nn.Module):
  """DeBERTa-v2/v3 encoder returning the last hidden state [B, L, H].

  Example:
      >>> cfg = EncoderConfig(model_type="deberta-v2", vocab_size=50, hidden_size=16,
      ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
      ...     type_vocab_size=0, relative_attention=True, position_buckets=8,
      ...     norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=("p2c", "c2p"),
      ...     position_biased_input=False, layer_norm_eps=1e-7)
      >>> import jax
      >>> model = DebertaV2Encoder(cfg)
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
      cfg, "DebertaV2Encoder", ("deberta-v2",), input_ids, attention_mask, token_type_ids, segment_ids
    )
    if inputs.packed and cfg.conv_kernel_size > 0:
      raise ValueError(
        f"packed sequences cannot go through DeBERTa's convolution (conv_kernel_size={cfg.conv_kernel_size}): "
        "it would mix neighbouring sequences; run this model unpacked"
      )
    input_ids = inputs.input_ids
    kw = dict(config=cfg, dtype=self.dtype, param_dtype=self.param_dtype)
    mask = inputs.attention_mask.astype(bool)
    embeddings = DebertaV2Embeddings(name="embeddings", **kw)(
      input_ids, inputs.token_type_ids, mask, inputs.positions, deterministic=deterministic
    )
    # A query row is live only if both the query and the key are real tokens.
    pair_mask = inputs.key_mask & mask[:, None, :, None]

    rel_embeddings = None
    if cfg.relative_attention:
      table = embed(
        2 * cfg.relative_span,
        cfg.hidden_size,
        ("rel_pos", "embed"),
        name="rel_embeddings",
        dtype=self.dtype,
        param_dtype=self.param_dtype,
      )
      rel_embeddings = table.embedding
      if cfg.norm_rel_ebd == "layer_norm":
        rel_embeddings = layer_norm(
          cfg.layer_norm_eps,
          name="rel_norm",
          dtype=self.dtype,
          param_dtype=self.param_dtype,
        )(rel_embeddings)
      rel_embeddings = rel_embeddings.astype(self.dtype)

    after_layer = None
    if cfg.conv_kernel_size > 0:

      def after_layer(i, h):
        return ConvLayer(name="conv", **kw)(embeddings, h, mask, deterministic=deterministic) if i == 0 else h

    return run_layers(
      DebertaV2Layer,
      cfg,
      embeddings,
      (pair_mask, rel_embeddings),
      deterministic=deterministic,
      after_layer=after_layer,
      dtype=self.dtype,
      param_dtype=self.param_dtype,
    )
