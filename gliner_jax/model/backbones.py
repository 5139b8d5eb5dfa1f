"""The published GLiNER backbones' Hugging Face configs, bundled so no download is needed for their shapes.

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

_DEBERTA_V3 = dict(
  model_type="deberta-v2",
  attention_probs_dropout_prob=0.1,
  hidden_act="gelu",
  hidden_dropout_prob=0.1,
  initializer_range=0.02,
  layer_norm_eps=1e-7,
  max_position_embeddings=512,
  max_relative_positions=-1,
  norm_rel_ebd="layer_norm",
  pad_token_id=0,
  pos_att_type="p2c|c2p",
  position_biased_input=False,
  position_buckets=256,
  relative_attention=True,
  share_att_key=True,
  type_vocab_size=0,
)

BACKBONE_CONFIGS: dict[str, dict] = {
  "microsoft/deberta-v3-small": dict(
    _DEBERTA_V3, hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=6, vocab_size=128100
  ),
  "microsoft/deberta-v3-base": dict(
    _DEBERTA_V3,
    hidden_size=768,
    intermediate_size=3072,
    num_attention_heads=12,
    num_hidden_layers=12,
    vocab_size=128100,
  ),
  "microsoft/deberta-v3-large": dict(
    _DEBERTA_V3,
    hidden_size=1024,
    intermediate_size=4096,
    num_attention_heads=16,
    num_hidden_layers=24,
    vocab_size=128100,
  ),
  "microsoft/mdeberta-v3-base": dict(
    _DEBERTA_V3,
    hidden_size=768,
    intermediate_size=3072,
    num_attention_heads=12,
    num_hidden_layers=12,
    vocab_size=251000,
  ),
  "sentence-transformers/all-MiniLM-L6-v2": dict(
    model_type="bert",
    attention_probs_dropout_prob=0.1,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    hidden_size=384,
    initializer_range=0.02,
    intermediate_size=1536,
    layer_norm_eps=1e-12,
    max_position_embeddings=512,
    num_attention_heads=12,
    num_hidden_layers=6,
    pad_token_id=0,
    position_embedding_type="absolute",
    type_vocab_size=2,
    vocab_size=30522,
  ),
  # answerdotai/ModernBERT-base's config.json (transformers' ModernBertConfig defaults are the same model):
  # 22 layers, every third one global (RoPE theta 160k), the others a 128-token sliding window (theta 10k).
  "answerdotai/ModernBERT-base": dict(
    model_type="modernbert",
    attention_bias=False,
    attention_dropout=0.0,
    bos_token_id=50281,
    cls_token_id=50281,
    embedding_dropout=0.0,
    eos_token_id=50282,
    global_attn_every_n_layers=3,
    global_rope_theta=160000.0,
    hidden_activation="gelu",
    hidden_size=768,
    initializer_range=0.02,
    intermediate_size=1152,
    local_attention=128,
    local_rope_theta=10000.0,
    max_position_embeddings=8192,
    mlp_bias=False,
    mlp_dropout=0.0,
    norm_bias=False,
    norm_eps=1e-5,
    num_attention_heads=12,
    num_hidden_layers=22,
    pad_token_id=50283,
    sep_token_id=50282,
    vocab_size=50368,
  ),
}

# Tokenizer lengths with GLiNER's three tokens added ([FLERT], <<ENT>>, <<SEP>>).
_GLINER_VOCAB = {
  "microsoft/deberta-v3-small": 128003,
  "microsoft/deberta-v3-base": 128003,
  "microsoft/deberta-v3-large": 128003,
  "microsoft/mdeberta-v3-base": 251003,
  "sentence-transformers/all-MiniLM-L6-v2": 30525,
  "answerdotai/ModernBERT-base": 50371,  # its tokenizer fills the 50368-row table ([unused82] is 50367)
}


def backbone_config(name: str) -> dict | None:
  """The bundled `config.json` of backbone `name` (a copy), or None when it is not bundled."""
  cfg = BACKBONE_CONFIGS.get(name)
  return dict(cfg) if cfg is not None else None


def _encoder_fields(name: str) -> dict:
  from gliner_jax.model.encoders.config import EncoderConfig

  fields = EncoderConfig.from_hf_dict(dict(BACKBONE_CONFIGS[name], vocab_size=_GLINER_VOCAB[name])).to_dict()
  fields["pos_att_type"] = tuple(fields["pos_att_type"])
  fields["layer_types"] = tuple(fields["layer_types"])
  fields["special_token_ids"] = tuple(tuple(pair) for pair in fields["special_token_ids"])
  return fields


ENCODERS: dict[str, dict] = {name: _encoder_fields(name) for name in BACKBONE_CONFIGS}
