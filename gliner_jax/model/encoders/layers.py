"""Building blocks every encoder family shares: partitioned dense / layer-norm / embedding constructors with
logical axis names, the activation table, the input checks (`encoder_inputs`), `split_heads` and the post-LN
feed-forward block of BERT and DeBERTa.

Example:
    >>> import jax
    >>> from gliner_jax.model.encoders.config import EncoderConfig
    >>> cfg = EncoderConfig(model_type="bert", vocab_size=50, hidden_size=16,
    ...                     num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    >>> ids = jnp.ones((2, 5), jnp.int32)
    >>> inputs = encoder_inputs(cfg, "BertEncoder", ("bert",), ids, jnp.ones_like(ids))
    >>> inputs.key_mask.shape, inputs.positions[0].tolist()
    ((2, 1, 1, 5), [0, 1, 2, 3, 4])
    >>> split_heads(jnp.zeros((2, 5, 16)), 2).shape
    (2, 5, 2, 8)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.encoders.attention import key_padding_mask, segment_mask, segment_positions
from gliner_jax.model.encoders.config import EncoderConfig

Dtype = Any
# Standard deviation of the normal initialiser of every dense kernel and embedding table (HF's initializer_range).
INIT_STD = 0.02


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
    kernel_init=nn.with_logical_partitioning(nn.initializers.normal(INIT_STD), axes),
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
    embedding_init=nn.with_logical_partitioning(nn.initializers.normal(INIT_STD), axes),
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

  Example: see the module docstring.
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
