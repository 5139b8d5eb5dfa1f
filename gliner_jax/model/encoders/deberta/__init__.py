"""The DeBERTa-v2 / v3 family ("deberta-v2"): disentangled attention over relative positions.

`FAMILY` is its registry entry (`gliner_jax.model.encoders.families`).

Example:
    >>> FAMILY.module is DebertaV2Encoder, "microsoft/deberta-v3-base" in FAMILY.backbones
    (True, True)
"""

from __future__ import annotations

from gliner_jax.model.encoders.deberta import hf
from gliner_jax.model.encoders.deberta.backbones import BACKBONES
from gliner_jax.model.encoders.deberta.module import (
  ConvLayer,
  DebertaV2Embeddings,
  DebertaV2Encoder,
  DebertaV2Layer,
  DisentangledSelfAttention,
  log_bucket_position,
  relative_positions,
)
from gliner_jax.model.encoders.families import EncoderFamily

FAMILY = EncoderFamily(
  model_type="deberta-v2",
  module=DebertaV2Encoder,
  hf_model_types=("deberta-v2",),
  from_hf=hf.from_hf,
  to_hf=hf.to_hf,
  weights=hf.weights,
  hf_roots=hf.HF_ROOTS,
  token_embedding=hf.TOKEN_EMBEDDING,
  problems=hf.problems,
  features=frozenset({"attention_head_size", "embedding_size", "relative_attention", "conv_kernel_size"}),
  position_table=hf.position_table,
  unused_weights=hf.unused_weights,
  flops=hf.flops,
  backbones=BACKBONES,
)

__all__ = [
  "FAMILY",
  "ConvLayer",
  "DebertaV2Embeddings",
  "DebertaV2Encoder",
  "DebertaV2Layer",
  "DisentangledSelfAttention",
  "log_bucket_position",
  "relative_positions",
]
