"""ModernBERT and Hugging Face: the ``config.json`` mapping (both spellings), the family's config checks, the
weight-name table and the FLOP terms of its gated MLP.

Example:
    >>> cfg = from_hf({"model_type": "modernbert", "num_hidden_layers": 4, "global_attn_every_n_layers": 2},
    ...               "modernbert")
    >>> cfg.layer_types
    ('full_attention', 'sliding_attention', 'full_attention', 'sliding_attention')
    >>> to_hf(cfg)["global_attn_every_n_layers"], from_hf(to_hf(cfg), "modernbert") == cfg
    (2, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gliner_jax.model.encoders.config import EncoderConfig, hf_special_ids
from gliner_jax.model.encoders.families import FlopTerms
from gliner_jax.model.encoders.weights import HFTensor, tensors

HF_ROOTS = ("embeddings.", "layers.", "final_norm.")
TOKEN_EMBEDDING = "embeddings.tok_embeddings.weight"
LAYER_TYPES = ("full_attention", "sliding_attention")
# HF token ids other than pad that `to_hf` writes back (the forward pass never reads them).
SPECIAL_ID_DEFAULTS = {"bos_token_id": 50281, "eos_token_id": 50282, "cls_token_id": 50281, "sep_token_id": 50282}


def every_n_layer_types(n: int, layers: int) -> tuple[str, ...]:
  """HF's `global_attn_every_n_layers` pattern: layer i is global when i % n == 0."""
  if n < 1:
    raise ValueError(f"global_attn_every_n_layers={n} (must be >= 1)")
  return tuple("sliding_attention" if i % n else "full_attention" for i in range(layers))


def from_hf(d: Mapping[str, Any], hf_type: str) -> EncoderConfig:
  """EncoderConfig of a ModernBERT ``config.json`` dict (transformers >= 5 `layer_types` / `rope_parameters`,
  or the older `global_attn_every_n_layers` / `global_rope_theta` / `local_rope_theta`)."""
  layers = int(d.get("num_hidden_layers", 22))
  layer_types = d.get("layer_types")
  if layer_types is None:
    layer_types = every_n_layer_types(int(d.get("global_attn_every_n_layers", 3)), layers)
  thetas = {
    "full_attention": d.get("global_rope_theta", 160000.0),
    "sliding_attention": d.get("local_rope_theta", 10000.0),
  }
  if d.get("rope_scaling"):
    raise ValueError(f"ModernBERT rope_scaling={d['rope_scaling']!r} is not supported (only default rotary embeddings)")
  for kind, params in (d.get("rope_parameters") or {}).items():
    if params is None:
      continue
    if params.get("rope_type", "default") != "default":
      raise ValueError(f"ModernBERT rope_type={params['rope_type']!r} for {kind} is not supported (only 'default')")
    if "rope_theta" in params:
      thetas[kind] = params["rope_theta"]
  act = d.get("hidden_activation", "gelu")
  if not isinstance(act, str):
    raise ValueError(f"hidden_activation must be a string, got {act!r}")
  pad = d.get("pad_token_id")
  return EncoderConfig(
    model_type="modernbert",
    vocab_size=int(d.get("vocab_size", 50368)),
    hidden_size=int(d.get("hidden_size", 768)),
    num_hidden_layers=layers,
    num_attention_heads=int(d.get("num_attention_heads", 12)),
    intermediate_size=int(d.get("intermediate_size", 1152)),
    hidden_act=act,
    max_position_embeddings=int(d.get("max_position_embeddings", 8192)),
    type_vocab_size=0,
    layer_norm_eps=float(d.get("norm_eps", 1e-5)),
    hidden_dropout_prob=float(d.get("mlp_dropout", 0.0)),
    attention_probs_dropout_prob=float(d.get("attention_dropout", 0.0)),
    embedding_dropout_prob=float(d.get("embedding_dropout", 0.0)),
    pad_token_id=int(50283 if pad is None else pad),
    layer_types=tuple(layer_types),
    local_attention=int(d.get("local_attention", 128)),
    global_rope_theta=float(thetas["full_attention"]),
    local_rope_theta=float(thetas["sliding_attention"]),
    attention_bias=bool(d.get("attention_bias", False)),
    mlp_bias=bool(d.get("mlp_bias", False)),
    norm_bias=bool(d.get("norm_bias", False)),
    special_token_ids=hf_special_ids(d, SPECIAL_ID_DEFAULTS),
  )


def to_hf(config: EncoderConfig) -> dict[str, Any]:
  """The ``config.json`` dict of a ModernBERT config, in both spellings (inverse of `from_hf`)."""
  out: dict[str, Any] = dict(
    model_type="modernbert",
    vocab_size=config.vocab_size,
    hidden_size=config.hidden_size,
    num_hidden_layers=config.num_hidden_layers,
    num_attention_heads=config.num_attention_heads,
    intermediate_size=config.intermediate_size,
    hidden_activation=config.hidden_act,
    max_position_embeddings=config.max_position_embeddings,
    norm_eps=config.layer_norm_eps,
    norm_bias=config.norm_bias,
    attention_bias=config.attention_bias,
    mlp_bias=config.mlp_bias,
    attention_dropout=config.attention_probs_dropout_prob,
    mlp_dropout=config.hidden_dropout_prob,
    embedding_dropout=config.embedding_dropout_prob,
    pad_token_id=config.pad_token_id,
    local_attention=config.local_attention,
    layer_types=list(config.layer_types),
    rope_parameters={
      "full_attention": {"rope_type": "default", "rope_theta": config.global_rope_theta},
      "sliding_attention": {"rope_type": "default", "rope_theta": config.local_rope_theta},
    },
    # The transformers < 5 spelling of the same settings.
    global_rope_theta=config.global_rope_theta,
    local_rope_theta=config.local_rope_theta,
    **dict(config.special_token_ids),
  )
  for n in range(1, config.num_hidden_layers + 1):
    if every_n_layer_types(n, config.num_hidden_layers) == config.layer_types:
      out["global_attn_every_n_layers"] = n
      break
  return out


def problems(config: EncoderConfig) -> list[str]:
  """What is wrong with the ModernBERT fields (and the run settings it cannot take)."""
  out = []
  if config.type_vocab_size:
    out.append(f"type_vocab_size={config.type_vocab_size}: modernbert has no token types (use 0)")
  if len(config.layer_types) != config.num_hidden_layers:
    out.append(f"layer_types has {len(config.layer_types)} entries for {config.num_hidden_layers} layers")
  bad = sorted(set(config.layer_types) - set(LAYER_TYPES))
  if bad:
    out.append(f"layer_types entries {bad} (allowed: {LAYER_TYPES})")
  if config.local_attention < 2:
    out.append(f"local_attention={config.local_attention} (the window must be >= 2)")
  if min(config.global_rope_theta, config.local_rope_theta) <= 0:
    out.append("rope thetas must be > 0")
  if config.head_dim % 2:
    out.append(f"head size {config.head_dim} must be even for rotary embeddings")
  if config.scan_layers:
    out.append(
      "scan_layers=True: ModernBERT's layers differ from each other (layer 0 has no attn_norm; sliding and "
      "global attention alternate), so they cannot be scanned; use remat_policy alone"
    )
  return out


def no_position_table(config: EncoderConfig) -> bool:
  """Rotary positions: no absolute table, no length limit."""
  return False


def weights(config: EncoderConfig) -> list[HFTensor]:
  """Every tensor of the bare HF ModernBertModel (the biases per the config's bias flags)."""
  norm = "layer_norm" if config.norm_bias else "layer_norm_no_bias"
  attn = "linear" if config.attention_bias else "linear_no_bias"
  mlp = "linear" if config.mlp_bias else "linear_no_bias"
  out = tensors("embeddings.tok_embeddings", ("tok_embeddings",), "embedding")
  out += tensors("embeddings.norm", ("embeddings_norm",), norm)
  for i in range(config.num_hidden_layers):
    hf, ours = f"layers.{i}.", (f"layer_{i}",)
    if i > 0:
      out += tensors(hf + "attn_norm", ours + ("attn_norm",), norm)
    out += tensors(hf + "attn.Wqkv", ours + ("attention", "qkv"), "fused_bias" if config.attention_bias else "fused")
    out += tensors(hf + "attn.Wo", ours + ("attention", "output"), attn)
    out += tensors(hf + "mlp_norm", ours + ("mlp_norm",), norm)
    out += tensors(hf + "mlp.Wi", ours + ("mlp", "wi"), "fused_bias" if config.mlp_bias else "fused")
    out += tensors(hf + "mlp.Wo", ours + ("mlp", "wo"), mlp)
  return out + tensors("final_norm", ("final_norm",), norm)


def flops(config: EncoderConfig, batch_size: int, num_tokens: int) -> FlopTerms:
  """GeGLU-style gated MLP: three hidden x intermediate matrices. The sliding window is counted in full (the
  attention is computed densely and masked)."""
  return FlopTerms(ffn_matrices=3)
