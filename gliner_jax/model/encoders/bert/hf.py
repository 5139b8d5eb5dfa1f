"""BERT / RoBERTa / XLM-R and Hugging Face: the ``config.json`` mapping and the weight-name table.

HF numbers RoBERTa positions from ``pad_token_id + 1`` under the name "absolute"; here that is
`position_embedding_type="padding_offset"`, so the family of a config, not a field of its ``config.json``,
decides the numbering.

Example:
    >>> cfg = from_hf({"model_type": "xlm-roberta", "vocab_size": 50}, "xlm-roberta")
    >>> cfg.model_type, cfg.hf_model_type, cfg.position_embedding_type, cfg.pad_token_id
    ('roberta', 'xlm-roberta', 'padding_offset', 1)
    >>> to_hf(cfg)["model_type"], to_hf(cfg)["position_embedding_type"]
    ('xlm-roberta', 'absolute')
    >>> [t.hf_name for t in weights(cfg)][:2]
    ['embeddings.word_embeddings.weight', 'embeddings.position_embeddings.weight']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.weights import HFTensor, tensors

HF_ROOTS = ("embeddings.", "encoder.")
TOKEN_EMBEDDING = "embeddings.word_embeddings.weight"


def common_fields(d: Mapping[str, Any], model_type: str, hf_type: str) -> dict[str, Any]:
  """The `config.json` keys BERT-style configs (BERT, RoBERTa, DeBERTa) share, with HF's BertConfig defaults."""
  out = dict(
    model_type=model_type,
    hf_model_type=None if hf_type == model_type else hf_type,
    vocab_size=int(d.get("vocab_size", 30522)),
    hidden_size=int(d.get("hidden_size", 768)),
    num_hidden_layers=int(d.get("num_hidden_layers", 12)),
    num_attention_heads=int(d.get("num_attention_heads", 12)),
    intermediate_size=int(d.get("intermediate_size", 3072)),
    hidden_act=d.get("hidden_act", "gelu"),
    max_position_embeddings=int(d.get("max_position_embeddings", 512)),
    hidden_dropout_prob=float(d.get("hidden_dropout_prob", 0.1)),
    attention_probs_dropout_prob=float(d.get("attention_probs_dropout_prob", 0.1)),
  )
  if not isinstance(out["hidden_act"], str):
    raise ValueError(f"hidden_act must be a string, got {out['hidden_act']!r}")
  return out


def common_hf_dict(config: EncoderConfig) -> dict[str, Any]:
  """The `config.json` keys of `common_fields`, plus type vocabulary, LayerNorm eps and pad id."""
  return dict(
    model_type=config.hf_model_type or config.model_type,
    vocab_size=config.vocab_size,
    hidden_size=config.hidden_size,
    num_hidden_layers=config.num_hidden_layers,
    num_attention_heads=config.num_attention_heads,
    intermediate_size=config.intermediate_size,
    hidden_act=config.hidden_act,
    max_position_embeddings=config.max_position_embeddings,
    type_vocab_size=config.type_vocab_size,
    layer_norm_eps=config.layer_norm_eps,
    hidden_dropout_prob=config.hidden_dropout_prob,
    attention_probs_dropout_prob=config.attention_probs_dropout_prob,
    pad_token_id=config.pad_token_id,
  )


def from_hf(d: Mapping[str, Any], hf_type: str) -> EncoderConfig:
  """EncoderConfig of a BERT ("bert") or RoBERTa ("roberta", "xlm-roberta") ``config.json`` dict."""
  model_type = "bert" if hf_type == "bert" else "roberta"
  pos_type = d.get("position_embedding_type", "absolute")
  if pos_type != "absolute":
    raise ValueError(f"position_embedding_type={pos_type!r} is not supported (only 'absolute')")
  if d.get("is_decoder") or d.get("add_cross_attention"):
    raise ValueError("decoder / cross-attention BERT configs are not supported")
  pad_default = 0 if model_type == "bert" else 1
  pad = d.get("pad_token_id")
  return EncoderConfig(
    **common_fields(d, model_type, hf_type),
    type_vocab_size=int(d.get("type_vocab_size", 2)),
    layer_norm_eps=float(d.get("layer_norm_eps", 1e-12)),
    pad_token_id=int(pad_default if pad is None else pad),
    position_embedding_type="absolute" if model_type == "bert" else "padding_offset",
  )


def to_hf(config: EncoderConfig) -> dict[str, Any]:
  """The ``config.json`` dict of a BERT / RoBERTa config (inverse of `from_hf`)."""
  out = common_hf_dict(config)
  wanted = "absolute" if config.model_type == "bert" else "padding_offset"
  if config.position_embedding_type != wanted:
    raise ValueError(
      f"no Hugging Face {config.model_type} config has position_embedding_type={config.position_embedding_type!r}"
    )
  out["position_embedding_type"] = "absolute"
  return out


def embedding_tensors(config: EncoderConfig) -> list[HFTensor]:
  """``embeddings.*`` of BERT-style encoders: word (+ position) (+ token type) tables."""
  out = tensors("embeddings.word_embeddings", ("embeddings", "word_embeddings"), "embedding")
  if config.uses_position_embeddings:
    out += tensors("embeddings.position_embeddings", ("embeddings", "position_embeddings"), "embedding")
  if config.type_vocab_size > 0:
    out += tensors("embeddings.token_type_embeddings", ("embeddings", "token_type_embeddings"), "embedding")
  return out


def layer_tensors(i: int, qkv: tuple[str, str, str]) -> list[HFTensor]:
  """``encoder.layer.{i}.*`` of a post-LN BERT-style layer; `qkv` are the HF names of its projections."""
  hf, ours = f"encoder.layer.{i}.", (f"layer_{i}",)
  out = []
  for hf_name, name in zip(qkv, ("query", "key", "value")):
    out += tensors(hf + "attention.self." + hf_name, ours + ("attention", name), "linear")
  out += tensors(hf + "attention.output.dense", ours + ("attention", "output"), "linear")
  out += tensors(hf + "attention.output.LayerNorm", ours + ("attention", "norm"), "layer_norm")
  out += tensors(hf + "intermediate.dense", ours + ("ffn", "intermediate"), "linear")
  out += tensors(hf + "output.dense", ours + ("ffn", "output"), "linear")
  out += tensors(hf + "output.LayerNorm", ours + ("ffn", "norm"), "layer_norm")
  return out


def weights(config: EncoderConfig) -> list[HFTensor]:
  """Every tensor of the bare HF BertModel / RobertaModel (no pooler)."""
  out = embedding_tensors(config)
  out += tensors("embeddings.LayerNorm", ("embeddings", "norm"), "layer_norm")
  for i in range(config.num_hidden_layers):
    out += layer_tensors(i, ("query", "key", "value"))
  return out


def unused_weights(config: EncoderConfig) -> frozenset[str]:
  """Buffers HF checkpoints carry that the forward pass never reads."""
  return frozenset({"embeddings.position_ids", "embeddings.token_type_ids"})
