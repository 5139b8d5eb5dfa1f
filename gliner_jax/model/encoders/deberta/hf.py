"""DeBERTa-v2 / v3 and Hugging Face: the ``config.json`` mapping, the family's config checks, the weight-name
table and the FLOP terms of disentangled attention.

Example:
    >>> cfg = from_hf({"model_type": "deberta-v2", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
    ...     "num_attention_heads": 4, "intermediate_size": 64, "relative_attention": True,
    ...     "position_buckets": 8, "pos_att_type": "p2c|c2p", "position_biased_input": False}, "deberta-v2")
    >>> cfg.pos_att_type, position_table(cfg), from_hf(to_hf(cfg), "deberta-v2") == cfg
    (('p2c', 'c2p'), False, True)
    >>> # 2 terms x (10 tokens x 16 relative rows x 32 + the 16-row table projected 32 -> 32), x 2 FLOPs
    >>> flops(cfg, batch_size=1, num_tokens=10).relative_position == 2 * (2 * 10 * 16 * 32 + 2 * 16 * 32 * 32)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gliner_jax.model.encoders.bert.hf import common_fields, common_hf_dict, embedding_tensors, layer_tensors
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.families import FlopTerms
from gliner_jax.model.encoders.weights import HFTensor, tensors

HF_ROOTS = ("embeddings.", "encoder.")
TOKEN_EMBEDDING = "embeddings.word_embeddings.weight"
POS_ATT_TYPES = ("c2p", "p2c")
NORM_REL_EBD = ("none", "layer_norm")


def from_hf(d: Mapping[str, Any], hf_type: str) -> EncoderConfig:
  """EncoderConfig of a DeBERTa-v2 / v3 ``config.json`` dict (HF's DebertaV2Config defaults)."""
  pos_att = d.get("pos_att_type") or ()
  if isinstance(pos_att, str):
    pos_att = [x.strip() for x in pos_att.lower().split("|") if x.strip()]
  norm = [x.strip() for x in str(d.get("norm_rel_ebd", "none")).lower().split("|")]
  pad = d.get("pad_token_id")
  return EncoderConfig(
    **common_fields(d, "deberta-v2", hf_type),
    type_vocab_size=int(d.get("type_vocab_size", 0)),
    layer_norm_eps=float(d.get("layer_norm_eps", 1e-7)),
    pad_token_id=int(0 if pad is None else pad),
    position_embedding_type="absolute",
    relative_attention=bool(d.get("relative_attention", False)),
    max_relative_positions=int(d.get("max_relative_positions", -1)),
    position_buckets=int(d.get("position_buckets", -1)),
    norm_rel_ebd="layer_norm" if "layer_norm" in norm else "none",
    share_att_key=bool(d.get("share_att_key", False)),
    pos_att_type=tuple(pos_att),
    position_biased_input=bool(d.get("position_biased_input", True)),
    embedding_size=d.get("embedding_size"),
    conv_kernel_size=int(d.get("conv_kernel_size", 0) or 0),
    conv_groups=int(d.get("conv_groups", 1)),
    conv_act=d.get("conv_act", "tanh"),
    attention_head_size=d.get("attention_head_size"),
  )


def to_hf(config: EncoderConfig) -> dict[str, Any]:
  """The ``config.json`` dict of a DeBERTa-v2 / v3 config (inverse of `from_hf`)."""
  out = common_hf_dict(config)
  out.update(
    relative_attention=config.relative_attention,
    max_relative_positions=config.max_relative_positions,
    position_buckets=config.position_buckets,
    norm_rel_ebd=config.norm_rel_ebd,
    share_att_key=config.share_att_key,
    pos_att_type=list(config.pos_att_type),
    position_biased_input=config.position_biased_input,
    conv_kernel_size=config.conv_kernel_size,
    conv_groups=config.conv_groups,
    conv_act=config.conv_act,
  )
  # HF reads these with getattr defaults: an explicit null would break its modules.
  if config.embedding_size is not None:
    out["embedding_size"] = int(config.embedding_size)
  if config.attention_head_size is not None:
    out["attention_head_size"] = int(config.attention_head_size)
  return out


def problems(config: EncoderConfig) -> list[str]:
  """What is wrong with the DeBERTa fields."""
  out = []
  if any(t not in POS_ATT_TYPES for t in config.pos_att_type):
    out.append(f"pos_att_type={config.pos_att_type} (allowed entries: {POS_ATT_TYPES})")
  if config.norm_rel_ebd not in NORM_REL_EBD:
    out.append(f"norm_rel_ebd={config.norm_rel_ebd!r} (supported: {NORM_REL_EBD})")
  if config.conv_kernel_size < 0:
    out.append(f"conv_kernel_size={config.conv_kernel_size} (must be >= 0)")
  if config.scan_layers and config.conv_kernel_size:
    out.append(
      f"scan_layers=True with conv_kernel_size={config.conv_kernel_size}: DeBERTa's ConvLayer runs between "
      "layers 0 and 1, so the layers cannot be scanned; use remat_policy alone"
    )
  if config.conv_kernel_size and config.hidden_size % max(config.conv_groups, 1):
    out.append(f"hidden_size not divisible by conv_groups={config.conv_groups}")
  return out


def position_table(config: EncoderConfig) -> bool:
  """DeBERTa-v3 drops the absolute position table (`position_biased_input=False`)."""
  return config.position_biased_input


def weights(config: EncoderConfig) -> list[HFTensor]:
  """Every tensor of the bare HF DebertaV2Model."""
  out = embedding_tensors(config)
  if config.word_embedding_size != config.hidden_size:
    out += tensors("embeddings.embed_proj", ("embeddings", "embed_proj"), "linear_no_bias")
  out += tensors("embeddings.LayerNorm", ("embeddings", "norm"), "layer_norm")
  separate_pos = config.relative_attention and not config.share_att_key
  for i in range(config.num_hidden_layers):
    layer = layer_tensors(i, ("query_proj", "key_proj", "value_proj"))
    hf, ours = f"encoder.layer.{i}.attention.self.", (f"layer_{i}", "attention")
    pos = []
    if separate_pos and "c2p" in config.pos_att_type:
      pos += tensors(hf + "pos_key_proj", ours + ("pos_key",), "linear")
    if separate_pos and "p2c" in config.pos_att_type:
      pos += tensors(hf + "pos_query_proj", ours + ("pos_query",), "linear")
    out += layer[:6] + pos + layer[6:]  # after query / key / value, as HF lists them
  if config.relative_attention:
    out += tensors("encoder.rel_embeddings", ("rel_embeddings",), "embedding")
    if config.norm_rel_ebd == "layer_norm":
      out += tensors("encoder.LayerNorm", ("rel_norm",), "layer_norm")
  if config.conv_kernel_size > 0:
    out += tensors("encoder.conv.conv", ("conv", "conv"), "conv")
    out += tensors("encoder.conv.LayerNorm", ("conv", "norm"), "layer_norm")
  return out


def unused_weights(config: EncoderConfig) -> frozenset[str]:
  """Buffers, and the tables a config switches off, that HF checkpoints may still carry."""
  names = {"embeddings.position_ids", "embeddings.token_type_ids"}
  if not config.uses_position_embeddings:
    names.add("embeddings.position_embeddings.weight")
  if not config.relative_attention:
    names |= {"encoder.LayerNorm.weight", "encoder.LayerNorm.bias"}
  return frozenset(names)


def flops(config: EncoderConfig, batch_size: int, num_tokens: int) -> FlopTerms:
  """c2p / p2c score each query (key) against all `2 * relative_span` relative embeddings (gathered
  afterwards) and project the relative table once per layer per batch; plus embed_proj and the conv layer."""
  n, t, d, a = batch_size, num_tokens, config.hidden_size, config.all_head_size
  rel = 0
  if config.relative_attention and config.pos_att_type:
    positions = 2 * config.relative_span
    per_term = 2 * n * t * positions * a + 2 * positions * d * a
    rel = config.num_hidden_layers * len(set(config.pos_att_type)) * per_term
  other = 0
  if config.word_embedding_size != d:
    other += 2 * n * t * config.word_embedding_size * d
  if config.conv_kernel_size:
    other += 2 * n * t * config.conv_kernel_size * d * d // max(config.conv_groups, 1)
  return FlopTerms(relative_position=rel, other=other)
