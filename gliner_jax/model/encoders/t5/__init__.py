"""The T5 / mT5 family ("t5"): the encoder half of T5 and mT5 (gliner-x uses mT5).

`FAMILY` is its registry entry (`gliner_jax.model.encoders.families`); no T5 backbone is bundled.

Example:
    >>> FAMILY.module is T5Encoder, FAMILY.hf_model_types, FAMILY.token_embedding
    (True, ('t5', 'mt5'), 'shared.weight')
"""

from __future__ import annotations

from gliner_jax.model.encoders.families import EncoderFamily
from gliner_jax.model.encoders.t5 import hf
from gliner_jax.model.encoders.t5.module import (
  T5Attention,
  T5Encoder,
  T5FeedForward,
  T5Layer,
  T5LayerNorm,
  relative_buckets,
  relative_position_bucket,
)

FAMILY = EncoderFamily(
  model_type="t5",
  module=T5Encoder,
  hf_model_types=("t5", "mt5"),
  from_hf=hf.from_hf,
  to_hf=hf.to_hf,
  weights=hf.weights,
  hf_roots=hf.HF_ROOTS,
  token_embedding=hf.TOKEN_EMBEDDING,
  problems=hf.problems,
  features=frozenset({"attention_head_size", "gated_mlp"}),
  position_table=hf.no_position_table,
  flops=hf.flops,
)

__all__ = [
  "FAMILY",
  "T5Attention",
  "T5Encoder",
  "T5FeedForward",
  "T5Layer",
  "T5LayerNorm",
  "relative_buckets",
  "relative_position_bucket",
]
