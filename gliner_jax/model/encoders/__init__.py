"""Transformer encoders, one folder per family (BERT / RoBERTa / XLM-R, DeBERTa-v2/v3, ModernBERT, T5 / mT5),
registered in `gliner_jax.model.encoders.families.FAMILIES`; their HF weight conversion is
`gliner_jax.interop.hf_weights`. All attend with `attention.dot_product_attention`. Adding a family:
docs/encoder_families.md.

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

from gliner_jax.model.encoders import bert, deberta, modernbert, t5
from gliner_jax.model.encoders.bert import BertEncoder
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.deberta import DebertaV2Encoder
from gliner_jax.model.encoders.families import FAMILIES, EncoderFamily, get_family, register_families
from gliner_jax.model.encoders.modernbert import ModernBertEncoder
from gliner_jax.model.encoders.t5 import T5Encoder

# The registry line: one entry per family.
register_families(bert.BERT, bert.ROBERTA, deberta.FAMILY, modernbert.FAMILY, t5.FAMILY)


def build_encoder(
  config: EncoderConfig, dtype: Any = jnp.float32, param_dtype: Any = jnp.float32, **module_kwargs: Any
) -> nn.Module:
  """Instantiate the encoder module of `config.model_type`'s family (`module_kwargs`: e.g. `name`).

  All encoders share the call signature
  ``(input_ids, attention_mask, token_type_ids=None, *, segment_ids=None, deterministic=True) -> [B, L, H]``.
  """
  return get_family(config.model_type).module(config, dtype=dtype, param_dtype=param_dtype, **module_kwargs)


__all__ = [
  "FAMILIES",
  "BertEncoder",
  "DebertaV2Encoder",
  "EncoderConfig",
  "EncoderFamily",
  "ModernBertEncoder",
  "T5Encoder",
  "build_encoder",
]
