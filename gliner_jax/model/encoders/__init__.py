"""Transformer encoders (BERT / RoBERTa / XLM-R, DeBERTa-v2/v3, ModernBERT, T5 / mT5); their HF weight
conversion is `gliner_jax.interop.hf_weights`. All attend with `attention.dot_product_attention`.

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
from gliner_jax.model.encoders.modernbert import ModernBertEncoder
from gliner_jax.model.encoders.t5 import T5Encoder

ENCODER_CLASSES: dict[str, type[nn.Module]] = {
  "bert": BertEncoder,
  "roberta": BertEncoder,
  "deberta-v2": DebertaV2Encoder,
  "modernbert": ModernBertEncoder,
  "t5": T5Encoder,
}


def build_encoder(
  config: EncoderConfig, dtype: Any = jnp.float32, param_dtype: Any = jnp.float32, **module_kwargs: Any
) -> nn.Module:
  """Instantiate the encoder module matching `config.model_type` (`module_kwargs`: e.g. `name`).

  All encoders share the call signature
  ``(input_ids, attention_mask, token_type_ids=None, *, deterministic=True) -> [B, L, H]``.
  """
  cls = ENCODER_CLASSES.get(config.model_type)
  if cls is None:
    raise ValueError(f"No encoder for model_type={config.model_type!r}")
  return cls(config, dtype=dtype, param_dtype=param_dtype, **module_kwargs)


__all__ = [
  "ENCODER_CLASSES",
  "BertEncoder",
  "DebertaV2Encoder",
  "EncoderConfig",
  "ModernBertEncoder",
  "T5Encoder",
  "build_encoder",
]
