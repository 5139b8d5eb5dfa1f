"""Transformer encoders (BERT / RoBERTa / XLM-R and DeBERTa-v2/v3); their HF weight conversion is
`gliner_jax.interop.hf_weights`.

Example:
    >>> import jax, jax.numpy as jnp
    >>> cfg = EncoderConfig(model_type="bert", vocab_size=50, hidden_size=16,
    ...                     num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    >>> model = build_encoder(cfg)
    >>> ids = jnp.ones((1, 4), jnp.int32)
    >>> model.apply(model.init(jax.random.PRNGKey(0), ids, ids), ids, ids).shape
    (1, 4, 16)
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gliner_jax.model.encoders.bert import BertEncoder
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.deberta import DebertaV2Encoder


def build_encoder(config: EncoderConfig, dtype: Any = jnp.float32, param_dtype: Any = jnp.float32) -> nn.Module:
  """Instantiate the encoder module matching `config.model_type`.

  All encoders share the call signature
  ``(input_ids, attention_mask, token_type_ids=None, *, deterministic=True) -> [B, L, H]``.
  """
  if config.model_type in ("bert", "roberta"):
    return BertEncoder(config, dtype=dtype, param_dtype=param_dtype)
  if config.model_type == "deberta-v2":
    return DebertaV2Encoder(config, dtype=dtype, param_dtype=param_dtype)
  raise ValueError(f"No encoder for model_type={config.model_type!r}")


__all__ = [
  "BertEncoder",
  "DebertaV2Encoder",
  "EncoderConfig",
  "build_encoder",
]
