"""BERT / RoBERTa encoder in Flax linen (last hidden state of `transformers.BertModel`).

Also hosts the building blocks shared with the other encoders: partitioned dense /
layer-norm / embedding constructors, the activation table, the feed-forward block and the input
checks. Attention is `gliner_jax.model.encoders.attention.dot_product_attention`.

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

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.encoders.attention import dot_product_attention, key_padding_mask, segment_mask, segment_positions
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.stack import run_layers

Dtype = Any
_INIT_STD = 0.02


# --------------------------------------------------------------------------- helpers
def activation(name: str) -> Callable[[jnp.ndarray], jnp.ndarray]:
  """Activation function for a HF `hidden_act` name ("gelu" is the exact erf GELU).

  Example:
      >>> float(activation("relu")(jnp.array(-1.0)))
      0.0
  """
  table: dict[str, Callable[[jnp.ndarray], jnp.ndarray]] = {
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "gelu_new": lambda x: nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: nn.gelu(x, approximate=True),
    "gelu_fast": lambda x: nn.gelu(x, approximate=True),
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "relu": nn.relu,
    "silu": nn.silu,
    "swish": nn.silu,
    "tanh": jnp.tanh,
  }
  if name not in table:
    raise ValueError(f"Unsupported activation {name!r}; supported: {sorted(table)}")
  return table[name]


def dense(
  features: int,
  axes: tuple[str, str],
  *,
  dtype: Dtype,
  param_dtype: Dtype,
  name: str,
  use_bias: bool = True,
) -> nn.Dense:
  """`nn.Dense` whose kernel/bias carry logical axis names (bias takes the output axis)."""
  return nn.Dense(
    features,
    use_bias=use_bias,
    dtype=dtype,
    param_dtype=param_dtype,
    kernel_init=nn.with_logical_partitioning(nn.initializers.normal(_INIT_STD), axes),
    bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), (axes[1],)),
    name=name,
  )


def layer_norm(eps: float, *, dtype: Dtype, param_dtype: Dtype, name: str, use_bias: bool = True) -> nn.LayerNorm:
  """Two-pass (exact variance) LayerNorm with ("norm",) scale and bias, like torch."""
  return nn.LayerNorm(
    epsilon=eps,
    dtype=dtype,
    param_dtype=param_dtype,
    use_bias=use_bias,
    use_fast_variance=False,
    scale_init=nn.with_logical_partitioning(nn.initializers.ones_init(), ("norm",)),
    bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("norm",)),
    name=name,
  )


def embed(num: int, features: int, axes: tuple[str, str], *, dtype: Dtype, param_dtype: Dtype, name: str) -> nn.Embed:
  """`nn.Embed` table of shape [num, features] with logical axis names."""
  return nn.Embed(
    num,
    features,
    dtype=dtype,
    param_dtype=param_dtype,
    embedding_init=nn.with_logical_partitioning(nn.initializers.normal(_INIT_STD), axes),
    name=name,
  )


@dataclasses.dataclass(frozen=True)
class EncoderInputs:
  """The checked inputs every encoder starts from.

  `key_mask` is broadcastable to [B, H, T, S] (False = not attended): [B, 1, 1, S] key padding, or with
  `segment_ids` the [B, 1, T, S] block-diagonal mask of packed sequences. `positions` [B, T] counts
  from 0 at the start of each token's own sequence (its row, or its segment when packed).
  """

  input_ids: jnp.ndarray
  attention_mask: jnp.ndarray
  token_type_ids: jnp.ndarray | None
  key_mask: jnp.ndarray
  positions: jnp.ndarray
  packed: bool


def encoder_inputs(
  config: EncoderConfig,
  encoder: str,
  model_types: tuple[str, ...],
  input_ids,
  attention_mask,
  token_type_ids=None,
  segment_ids=None,
) -> EncoderInputs:
  """Static (trace-time) validation of the encoder inputs and the masks built from them; raises ValueError.

  `segment_ids` [B, T] (0 = padding, 1, 2, ... one id per packed sequence) lets several sequences
  share a row: each attends only to itself and its positions restart at 0, so it reads as if alone.

  Example:
    >>> inputs = encoder_inputs(cfg, "BertEncoder", ("bert",), ids, mask)
  """
  if config.model_type not in model_types:
    raise ValueError(f"{encoder} cannot run model_type={config.model_type!r}")
  input_ids = jnp.asarray(input_ids)
  attention_mask = jnp.asarray(attention_mask)
  if input_ids.ndim != 2:
    raise ValueError(f"input_ids must be [batch, length], got shape {input_ids.shape}")
  if not jnp.issubdtype(input_ids.dtype, jnp.integer):
    raise ValueError(f"input_ids must be integers, got dtype {input_ids.dtype}")
  if attention_mask.shape != input_ids.shape:
    raise ValueError(f"attention_mask shape {attention_mask.shape} != input_ids shape {input_ids.shape}")
  if token_type_ids is not None and token_type_ids.shape != input_ids.shape:
    raise ValueError(f"token_type_ids shape {token_type_ids.shape} != input_ids shape {input_ids.shape}")
  if input_ids.shape[1] > config.max_sequence_length:
    raise ValueError(
      f"sequence length {input_ids.shape[1]} exceeds the maximum of "
      f"{config.max_sequence_length} supported by the position embeddings"
    )
  if segment_ids is None:
    key_mask = key_padding_mask(attention_mask)
    batch, length = input_ids.shape
    positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32)[None, :], (batch, length))
  else:
    segment_ids = jnp.asarray(segment_ids)
    if segment_ids.shape != input_ids.shape or not jnp.issubdtype(segment_ids.dtype, jnp.integer):
      raise ValueError(
        f"segment_ids must be integers shaped like input_ids {input_ids.shape}, got {segment_ids.shape} "
        f"{segment_ids.dtype}"
      )
    key_mask = segment_mask(segment_ids)
    positions = segment_positions(segment_ids)
  return EncoderInputs(input_ids, attention_mask, token_type_ids, key_mask, positions, segment_ids is not None)


def split_heads(x: jnp.ndarray, num_heads: int) -> jnp.ndarray:
  """[..., L, H*D] -> [..., L, H, D]."""
  return x.reshape(*x.shape[:-1], num_heads, x.shape[-1] // num_heads)


# --------------------------------------------------------------------------- blocks
class FeedForward(nn.Module):
  """intermediate dense -> activation -> output dense -> dropout -> LayerNorm(x + residual)."""

  config: EncoderConfig
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, deterministic: bool = True) -> jnp.ndarray:
    cfg = self.config
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = dense(cfg.intermediate_size, ("embed", "mlp"), name="intermediate", **kw)(x)
    h = activation(cfg.hidden_act)(h)
    h = dense(cfg.hidden_size, ("mlp", "embed"), name="output", **kw)(h)
    h = HashDropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)
    return layer_norm(cfg.layer_norm_eps, name="norm", **kw)(h + x)


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
