"""T5 / mT5 encoders and Hugging Face: the ``config.json`` mapping, the family's config checks, the weight-name
table (the encoder half of the checkpoint, the token table shared with the decoder) and the FLOP terms.

Example:
    >>> cfg = from_hf({"model_type": "mt5", "d_model": 16, "d_kv": 4, "num_heads": 2}, "mt5")
    >>> cfg.gated_mlp, cfg.hidden_act, cfg.intermediate_size, cfg.hf_model_type
    (True, 'gelu_new', 1024, 'mt5')
    >>> to_hf(cfg)["feed_forward_proj"], from_hf(to_hf(cfg), "mt5") == cfg
    ('gated-gelu', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gliner_jax.model.encoders.config import EncoderConfig, hf_special_ids
from gliner_jax.model.encoders.families import FlopTerms
from gliner_jax.model.encoders.weights import HFTensor, tensors

HF_ROOTS = ("shared.", "encoder.")
TOKEN_EMBEDDING = "shared.weight"
# HF token ids other than pad that `to_hf` writes back (the forward pass never reads them).
SPECIAL_ID_DEFAULTS = {"eos_token_id": 1, "decoder_start_token_id": 0}
DEFAULTS = {  # T5Config / MT5Config defaults that differ
  "t5": dict(vocab_size=32128, d_ff=2048, num_layers=6, num_heads=8, feed_forward_proj="relu"),
  "mt5": dict(vocab_size=250112, d_ff=1024, num_layers=8, num_heads=6, feed_forward_proj="gated-gelu"),
}


def from_hf(d: Mapping[str, Any], hf_type: str) -> EncoderConfig:
  """EncoderConfig of the encoder of a T5 ("t5") or mT5 ("mt5") ``config.json`` dict."""
  defaults = DEFAULTS[hf_type]
  if d.get("is_decoder"):
    raise ValueError("a T5 decoder config is not an encoder")
  proj = str(d.get("feed_forward_proj", defaults["feed_forward_proj"]))
  parts = proj.split("-")
  if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
    raise ValueError(f"feed_forward_proj={proj!r}: expected 'ACT' or 'gated-ACT'")
  act = "gelu_new" if proj == "gated-gelu" else parts[-1]
  rate = float(d.get("dropout_rate", 0.1))
  pad = d.get("pad_token_id")
  return EncoderConfig(
    model_type="t5",
    hf_model_type=None if hf_type == "t5" else hf_type,
    vocab_size=int(d.get("vocab_size", defaults["vocab_size"])),
    hidden_size=int(d.get("d_model", 512)),
    attention_head_size=int(d.get("d_kv", 64)),
    intermediate_size=int(d.get("d_ff", defaults["d_ff"])),
    num_hidden_layers=int(d.get("num_layers", defaults["num_layers"])),
    num_attention_heads=int(d.get("num_heads", defaults["num_heads"])),
    hidden_act=act,
    gated_mlp=len(parts) == 2,
    max_position_embeddings=int(d.get("n_positions", 512)),
    type_vocab_size=0,
    layer_norm_eps=float(d.get("layer_norm_epsilon", 1e-6)),
    hidden_dropout_prob=rate,
    attention_probs_dropout_prob=rate,
    pad_token_id=int(0 if pad is None else pad),
    relative_attention_num_buckets=int(d.get("relative_attention_num_buckets", 32)),
    relative_attention_max_distance=int(d.get("relative_attention_max_distance", 128)),
    special_token_ids=hf_special_ids(d, SPECIAL_ID_DEFAULTS),
  )


def to_hf(config: EncoderConfig) -> dict[str, Any]:
  """The ``config.json`` dict of a T5 / mT5 encoder config (inverse of `from_hf`)."""
  act = config.hidden_act
  if config.gated_mlp:
    proj = "gated-gelu" if act == "gelu_new" else f"gated-{act}"
  else:
    proj = act
  return dict(
    model_type=config.hf_model_type or "t5",
    vocab_size=config.vocab_size,
    d_model=config.hidden_size,
    d_kv=config.head_dim,
    d_ff=config.intermediate_size,
    num_layers=config.num_hidden_layers,
    num_heads=config.num_attention_heads,
    relative_attention_num_buckets=config.relative_attention_num_buckets,
    relative_attention_max_distance=config.relative_attention_max_distance,
    dropout_rate=config.hidden_dropout_prob,
    layer_norm_epsilon=config.layer_norm_eps,
    feed_forward_proj=proj,
    n_positions=config.max_position_embeddings,
    pad_token_id=config.pad_token_id,
    **dict(config.special_token_ids),
  )


def problems(config: EncoderConfig) -> list[str]:
  """What is wrong with the T5 fields."""
  out = []
  if config.type_vocab_size:
    out.append(f"type_vocab_size={config.type_vocab_size}: t5 has no token types (use 0)")
  if config.relative_attention_num_buckets < 4:
    out.append(f"relative_attention_num_buckets={config.relative_attention_num_buckets} (must be >= 4)")
  if config.relative_attention_max_distance <= config.relative_attention_num_buckets // 4:
    out.append(
      f"relative_attention_max_distance={config.relative_attention_max_distance} must exceed "
      f"relative_attention_num_buckets // 4 = {config.relative_attention_num_buckets // 4}"
    )
  if config.hidden_dropout_prob != config.attention_probs_dropout_prob:
    out.append("t5 has one dropout_rate: hidden_dropout_prob must equal attention_probs_dropout_prob")
  return out


def no_position_table(config: EncoderConfig) -> bool:
  """Relative position buckets: no absolute table, no length limit."""
  return False


def weights(config: EncoderConfig) -> list[HFTensor]:
  """Every tensor of HF's T5EncoderModel (`shared` and its tied copy `encoder.embed_tokens`)."""
  out = [HFTensor("shared.weight", ("embed_tokens", "embedding"), "copy", tied=("encoder.embed_tokens.weight",))]
  out += tensors(
    "encoder.block.0.layer.0.SelfAttention.relative_attention_bias", ("relative_attention_bias",), "embedding"
  )
  ffn = ("wi_0", "wi_1", "wo") if config.gated_mlp else ("wi", "wo")
  for i in range(config.num_hidden_layers):
    hf, ours = f"encoder.block.{i}.layer.", (f"layer_{i}",)
    out += tensors(hf + "0.layer_norm", ours + ("attention_norm",), "layer_norm_no_bias")
    for hf_name, name in zip("qkvo", ("query", "key", "value", "output")):
      out += tensors(hf + "0.SelfAttention." + hf_name, ours + ("attention", name), "linear_no_bias")
    out += tensors(hf + "1.layer_norm", ours + ("ffn_norm",), "layer_norm_no_bias")
    for name in ffn:
      out += tensors(hf + "1.DenseReluDense." + name, ours + ("ffn", name), "linear_no_bias")
  return out + tensors("encoder.final_layer_norm", ("final_norm",), "layer_norm_no_bias")


def flops(config: EncoderConfig, batch_size: int, num_tokens: int) -> FlopTerms:
  """Gated feed-forward (mT5's gated-gelu): one more hidden x intermediate matrix."""
  return FlopTerms(ffn_matrices=3 if config.gated_mlp else 2)
