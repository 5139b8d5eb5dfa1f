"""The ModernBERT family ("modernbert"; also the Ettin encoders): rotary, alternating sliding / global attention.

`FAMILY` is its registry entry (`gliner_jax.model.encoders.families`).

Example:
    >>> FAMILY.module is ModernBertEncoder, FAMILY.position_table(None)
    (True, False)
"""

from __future__ import annotations

from gliner_jax.model.encoders.families import EncoderFamily
from gliner_jax.model.encoders.modernbert import hf
from gliner_jax.model.encoders.modernbert.backbones import BACKBONES
from gliner_jax.model.encoders.modernbert.module import (
  ModernBertAttention,
  ModernBertEncoder,
  ModernBertLayer,
  ModernBertMLP,
  apply_rotary,
  rotary_tables,
  sliding_window,
)

FAMILY = EncoderFamily(
  model_type="modernbert",
  module=ModernBertEncoder,
  hf_model_types=("modernbert",),
  from_hf=hf.from_hf,
  to_hf=hf.to_hf,
  weights=hf.weights,
  hf_roots=hf.HF_ROOTS,
  token_embedding=hf.TOKEN_EMBEDDING,
  problems=hf.problems,
  features=frozenset({"layer_types"}),
  position_table=hf.no_position_table,
  flops=hf.flops,
  backbones=BACKBONES,
)

__all__ = [
  "FAMILY",
  "ModernBertAttention",
  "ModernBertEncoder",
  "ModernBertLayer",
  "ModernBertMLP",
  "apply_rotary",
  "rotary_tables",
  "sliding_window",
]
