"""The bundled ModernBERT-architecture backbones: ModernBERT-base and the Ettin encoders
(`gliner_jax.model.backbones` lists every family's).

Sources, for values no hub download can check here:
- answerdotai/ModernBERT-base: its config.json (transformers' ModernBertConfig defaults are the same model).
- jhu-clsp/ettin-encoder-*: the model-architecture table of github.com/JHU-CLSP/ettin-encoder-vs-decoder
  (README.md, "Training Details", commit 6cbf954) for layers / hidden / intermediate / heads, and its decay-phase
  pretraining configs (`pretraining/configs/standard/<size>/prolong_decay/encoder_<size>.yaml`) for the rest:
  vocabulary 50368, GLU MLP, pre-norm LayerNorm eps 1e-5 without biases, no linear biases, a 128-token sliding
  window with every third layer global, RoPE base 160000 in both global and local layers, max_seq_len 7999.
  Their special-token ids are not in those files: the rows keep ModernBertConfig's defaults, which the forward
  pass does not read. Their tokenizer is ModernBERT's (50,368 entries), so with GLiNER's three tokens 50,371.

Example:
    >>> [BACKBONES[f"jhu-clsp/ettin-encoder-{s}"].hf_config["num_hidden_layers"] for s in ("17m", "150m", "1b")]
    [7, 22, 28]
"""

from __future__ import annotations

from gliner_jax.model.encoders.families import Backbone

_COMMON = dict(
  model_type="modernbert",
  attention_bias=False,
  attention_dropout=0.0,
  embedding_dropout=0.0,
  global_attn_every_n_layers=3,
  hidden_activation="gelu",
  initializer_range=0.02,
  local_attention=128,
  mlp_bias=False,
  mlp_dropout=0.0,
  norm_bias=False,
  norm_eps=1e-5,
  vocab_size=50368,
)


def _ettin(layers: int, hidden: int, intermediate: int, heads: int) -> Backbone:
  config = dict(
    _COMMON,
    global_rope_theta=160000.0,
    local_rope_theta=160000.0,
    max_position_embeddings=7999,
    hidden_size=hidden,
    intermediate_size=intermediate,
    num_attention_heads=heads,
    num_hidden_layers=layers,
  )
  return Backbone(config, gliner_vocab_size=50371)


BACKBONES = {
  # 22 layers, every third one global (RoPE theta 160k), the others a 128-token sliding window (theta 10k).
  "answerdotai/ModernBERT-base": Backbone(
    dict(
      _COMMON,
      bos_token_id=50281,
      cls_token_id=50281,
      eos_token_id=50282,
      global_rope_theta=160000.0,
      hidden_size=768,
      intermediate_size=1152,
      local_rope_theta=10000.0,
      max_position_embeddings=8192,
      num_attention_heads=12,
      num_hidden_layers=22,
      pad_token_id=50283,
      sep_token_id=50282,
    ),
    gliner_vocab_size=50371,  # its tokenizer fills the 50368-row table ([unused82] is 50367)
  ),
  # Ettin README table: (layers, hidden, intermediate, heads) per published size.
  "jhu-clsp/ettin-encoder-17m": _ettin(7, 256, 384, 4),
  "jhu-clsp/ettin-encoder-32m": _ettin(10, 384, 576, 6),
  "jhu-clsp/ettin-encoder-68m": _ettin(19, 512, 768, 8),
  "jhu-clsp/ettin-encoder-150m": _ettin(22, 768, 1152, 12),
  "jhu-clsp/ettin-encoder-400m": _ettin(28, 1024, 2624, 16),
  "jhu-clsp/ettin-encoder-1b": _ettin(28, 1792, 3840, 28),
}
