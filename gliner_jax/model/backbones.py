"""The published GLiNER backbones' Hugging Face configs, bundled so no download is needed for their shapes.

Each family declares its own (`gliner_jax.model.encoders.<family>.backbones`, `EncoderFamily.backbones`);
this module is their union.

`BACKBONE_CONFIGS[name]` is the `config.json` of the backbone `name` (the `model_name` of gliner
checkpoints; ModernBERT-base is that of configs/gliner_modernbert.py). gliner checkpoints without an
`encoder_config` (urchade's v2.1 models, gliner_base, NuNerZero, gliner_multi_pii) are built from it when
`model_name` is neither a local folder nor reachable; their vocabulary size is then read from the
checkpoint's embedding table.
`ENCODERS[name]` holds the EncoderConfig fields of the same backbones with the three GLiNER tokens
counted in the vocabulary, for shape-only work (AOT compiles, FLOP counts).

Example:
  >>> BACKBONE_CONFIGS["microsoft/deberta-v3-small"]["num_hidden_layers"]
  6
"""

from __future__ import annotations

import dataclasses

from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.families import FAMILIES, Backbone


def bundled_backbones() -> dict[str, Backbone]:
  """Every registered family's bundled backbones (`EncoderFamily.backbones`), by hub id, read from the registry now
  (`BACKBONES`, `BACKBONE_CONFIGS` and `ENCODERS` are the same, taken once at import)."""
  return {name: b for family in FAMILIES.values() for name, b in family.backbones.items()}


BACKBONES: dict[str, Backbone] = bundled_backbones()
BACKBONE_CONFIGS: dict[str, dict] = {name: dict(b.hf_config) for name, b in BACKBONES.items()}


def backbone_config(name: str) -> dict | None:
  """The bundled `config.json` of backbone `name` (a copy), or None when it is not bundled."""
  backbone = bundled_backbones().get(name)
  return dict(backbone.hf_config) if backbone is not None else None


def encoder_fields(name: str) -> dict:
  """The EncoderConfig fields of bundled backbone `name`, its vocabulary counting GLiNER's three tokens.

  Example:
    >>> encoder_fields("jhu-clsp/ettin-encoder-17m")["vocab_size"]
    50371
  """
  backbone = bundled_backbones()[name]
  config = EncoderConfig.from_hf_dict(backbone.hf_config)
  fields = dataclasses.replace(config, vocab_size=backbone.gliner_vocab_size).to_dict()
  fields["pos_att_type"] = tuple(fields["pos_att_type"])
  fields["layer_types"] = tuple(fields["layer_types"])
  fields["special_token_ids"] = tuple(tuple(pair) for pair in fields["special_token_ids"])
  return fields


ENCODERS: dict[str, dict] = {name: encoder_fields(name) for name in BACKBONE_CONFIGS}
