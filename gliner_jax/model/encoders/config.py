"""Configuration of the transformer encoders (BERT / RoBERTa / DeBERTa-v2 and v3 / ModernBERT / T5 and mT5).

One frozen dataclass describes every supported family; the family-specific fields are
simply ignored by the other families. `EncoderConfig.from_hf_dict` reads a Hugging Face
``config.json`` dictionary and `to_hf_dict` writes one back, each through the family's own mapping
(`gliner_jax.model.encoders.families`); `to_dict` / `from_dict` give a lossless JSON round trip. The
checks here are those every family shares; each family adds its own (`EncoderFamily.problems`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from gliner_jax.model.encoders.families import family_for_hf_type, feature_owners, get_family, hf_model_types

ACTIVATIONS = (
  "gelu",
  "gelu_new",
  "gelu_pytorch_tanh",
  "gelu_fast",
  "quick_gelu",
  "relu",
  "silu",
  "swish",
  "tanh",
)
POSITION_EMBEDDING_TYPES = ("absolute", "padding_offset")
# `remat_policy` values: "none" (no remat) or an argument-free `jax.checkpoint_policies` policy
# (`gliner_jax.model.encoders.stack.REMAT_POLICIES` maps them).
REMAT_POLICY_NAMES = (
  "none",
  "nothing_saveable",
  "everything_saveable",
  "dots_saveable",
  "dots_with_no_batch_dims_saveable",
  "checkpoint_dots",
  "checkpoint_dots_with_no_batch_dims",
)

# Optional features only some families implement (`EncoderFamily.features`): name -> whether a config uses it.
FEATURES: dict[str, Callable[[EncoderConfig], bool]] = {
  "attention_head_size": lambda c: c.attention_head_size is not None,
  "embedding_size": lambda c: c.embedding_size not in (None, c.hidden_size),
  "relative_attention": lambda c: c.relative_attention,
  "conv_kernel_size": lambda c: c.conv_kernel_size != 0,
  "layer_types": lambda c: bool(c.layer_types),
  "gated_mlp": lambda c: c.gated_mlp,
}


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
  """Hyper-parameters of a BERT-family, DeBERTa-v2/v3, ModernBERT or T5 / mT5 encoder.

  `position_embedding_type` is "absolute" (positions 0..L-1, BERT and DeBERTa with
  `position_biased_input`) or "padding_offset" (RoBERTa: non-pad tokens are numbered
  from ``pad_token_id + 1`` in order, pad tokens get ``pad_token_id``).

  The DeBERTa fields follow the HF names: `relative_attention`,
  `max_relative_positions` (< 1 means `max_position_embeddings`), `position_buckets`
  (<= 0: no log-bucketing), `norm_rel_ebd`, `share_att_key`, `pos_att_type`,
  `position_biased_input`, `embedding_size` (None = hidden_size; otherwise an
  `embed_proj` maps it to hidden_size), `conv_kernel_size` (0 = no ConvLayer after the
  first layer), `conv_groups`, `conv_act`, `attention_head_size` (None = hidden/heads; also T5's
  `d_kv`).

  ModernBERT (`transformers.ModernBertModel`): `layer_types` ("full_attention" /
  "sliding_attention" per layer, from HF's `layer_types` or `global_attn_every_n_layers`),
  `local_attention` (the sliding window: keys within ``local_attention // 2`` of the query),
  `global_rope_theta` / `local_rope_theta`, `attention_bias`, `mlp_bias`, `norm_bias`,
  `embedding_dropout_prob`; `hidden_dropout_prob` is its `mlp_dropout`, `attention_probs_dropout_prob`
  its `attention_dropout`, `layer_norm_eps` its `norm_eps`. Its MLP is always GeGLU-style gated.

  T5 / mT5 (the encoder of `transformers.T5EncoderModel`): `relative_attention_num_buckets`,
  `relative_attention_max_distance`, `gated_mlp` with `hidden_act` (HF's `feed_forward_proj`:
  "relu" -> not gated, relu; "gated-gelu" -> gated, gelu_new); its `dropout_rate` is both dropout
  probabilities. `special_token_ids` keeps the HF token ids other than pad (ModernBERT, T5) for
  `to_hf_dict`.

  Example:
      >>> cfg = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32,
      ...                     num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
      >>> EncoderConfig.from_dict(cfg.to_dict()) == cfg
      True
  """

  model_type: str
  vocab_size: int
  hidden_size: int
  num_hidden_layers: int
  num_attention_heads: int
  intermediate_size: int
  hidden_act: str = "gelu"
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1
  pad_token_id: int = 0
  position_embedding_type: str = "absolute"
  # DeBERTa-v2/v3 only.
  relative_attention: bool = False
  max_relative_positions: int = -1
  position_buckets: int = -1
  norm_rel_ebd: str = "none"
  share_att_key: bool = False
  pos_att_type: tuple[str, ...] = ()
  position_biased_input: bool = True
  embedding_size: int | None = None
  conv_kernel_size: int = 0
  conv_groups: int = 1
  conv_act: str = "tanh"
  attention_head_size: int | None = None
  # ModernBERT only.
  layer_types: tuple[str, ...] = ()
  local_attention: int = 128
  global_rope_theta: float = 160000.0
  local_rope_theta: float = 10000.0
  attention_bias: bool = False
  mlp_bias: bool = False
  norm_bias: bool = False
  embedding_dropout_prob: float = 0.0
  # T5 / mT5 only.
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  gated_mlp: bool = False
  # ModernBERT and T5: HF token ids other than pad, as sorted (name, id) pairs.
  special_token_ids: tuple[tuple[str, int], ...] = ()
  # The HF model_type when it is not `model_type` itself (e.g. "xlm-roberta"), for `to_hf_dict`.
  hf_model_type: str | None = None
  # How the layer stack runs (`gliner_jax.model.encoders.stack`), not what it computes: a
  # `jax.checkpoint_policies` name or "none", and nn.scan over stacked layer parameters.
  remat_policy: str = "none"
  scan_layers: bool = False

  def __post_init__(self) -> None:
    # Lists coming from JSON become tuples so the config stays hashable.
    object.__setattr__(self, "pos_att_type", tuple(self.pos_att_type))
    object.__setattr__(self, "layer_types", tuple(self.layer_types))
    object.__setattr__(self, "special_token_ids", tuple(sorted((str(k), int(v)) for k, v in self.special_token_ids)))
    try:
      family = get_family(self.model_type)
    except ValueError as err:
      raise ValueError(f"Invalid EncoderConfig: {err}") from None
    problems = []
    if self.hf_model_type is not None and hf_model_types().get(self.hf_model_type) != self.model_type:
      problems.append(f"hf_model_type={self.hf_model_type!r} is not a {self.model_type!r} architecture")
    for name in (
      "vocab_size",
      "hidden_size",
      "num_hidden_layers",
      "num_attention_heads",
      "intermediate_size",
      "max_position_embeddings",
    ):
      if int(getattr(self, name)) <= 0:
        problems.append(f"{name}={getattr(self, name)} (must be > 0)")
    if self.type_vocab_size < 0:
      problems.append(f"type_vocab_size={self.type_vocab_size} (must be >= 0)")
    for name in ("hidden_act", "conv_act"):
      if getattr(self, name) not in ACTIVATIONS:
        problems.append(f"{name}={getattr(self, name)!r} (supported: {ACTIVATIONS})")
    if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
      problems.append(
        f"position_embedding_type={self.position_embedding_type!r} (supported: {POSITION_EMBEDDING_TYPES})"
      )
    if self.attention_head_size is None and self.num_attention_heads > 0:
      if self.hidden_size % self.num_attention_heads:
        problems.append(
          f"hidden_size={self.hidden_size} is not a multiple of num_attention_heads={self.num_attention_heads}"
        )
    for feature, used in FEATURES.items():
      if feature not in family.features and used(self):
        problems.append(f"{feature} is only supported for {' and '.join(feature_owners(feature)) or 'no family'}")
    if self.remat_policy not in REMAT_POLICY_NAMES:
      problems.append(f"remat_policy={self.remat_policy!r} (supported: {list(REMAT_POLICY_NAMES)})")
    problems += family.problems(self)
    if problems:
      raise ValueError("Invalid EncoderConfig: " + "; ".join(problems))

  # ----------------------------------------------------------------- derived values
  @property
  def head_dim(self) -> int:
    """Per-head size of queries/keys/values."""
    if self.attention_head_size is not None:
      return int(self.attention_head_size)
    return self.hidden_size // self.num_attention_heads

  @property
  def all_head_size(self) -> int:
    """Width of the joined query/key/value projections."""
    return self.head_dim * self.num_attention_heads

  @property
  def word_embedding_size(self) -> int:
    """Width of the token embedding table (DeBERTa may differ from hidden_size)."""
    return self.hidden_size if self.embedding_size is None else int(self.embedding_size)

  @property
  def effective_max_relative_positions(self) -> int:
    """`max_relative_positions`, with values < 1 replaced by `max_position_embeddings`."""
    if self.max_relative_positions < 1:
      return self.max_position_embeddings
    return self.max_relative_positions

  @property
  def relative_span(self) -> int:
    """Half the number of relative embedding rows (the attention span)."""
    if self.position_buckets > 0:
      return self.position_buckets
    return self.effective_max_relative_positions

  @property
  def uses_position_embeddings(self) -> bool:
    """Whether an absolute position table exists and is added to the embeddings (`EncoderFamily.position_table`)."""
    return bool(get_family(self.model_type).position_table(self))

  @property
  def max_sequence_length(self) -> int:
    """Longest input accepted (limited by the absolute position table, if any)."""
    if not self.uses_position_embeddings:
      return 2**31 - 1
    if self.position_embedding_type == "padding_offset":
      return self.max_position_embeddings - self.pad_token_id - 1
    return self.max_position_embeddings

  # ---------------------------------------------------------------- serialisation
  def to_dict(self) -> dict[str, Any]:
    """JSON-friendly dict (tuples become lists)."""
    out = dataclasses.asdict(self)
    out["pos_att_type"] = list(self.pos_att_type)
    out["layer_types"] = list(self.layer_types)
    out["special_token_ids"] = [list(pair) for pair in self.special_token_ids]
    return out

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> EncoderConfig:
    """Inverse of `to_dict`; unknown keys raise a ValueError naming them."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
      raise ValueError(f"Unknown EncoderConfig fields: {unknown}")
    return cls(**dict(d))

  def to_hf_dict(self) -> dict[str, Any]:
    """The Hugging Face ``config.json`` dict of this encoder (the family's `to_hf`): the inverse of `from_hf_dict`.

    Example:
        >>> cfg = EncoderConfig.from_hf_dict({"model_type": "xlm-roberta", "vocab_size": 50})
        >>> cfg.to_hf_dict()["model_type"], EncoderConfig.from_hf_dict(cfg.to_hf_dict()) == cfg
        ('xlm-roberta', True)
    """
    return get_family(self.model_type).to_hf(self)

  @classmethod
  def from_hf_dict(cls, d: Mapping[str, Any]) -> EncoderConfig:
    """Build from a Hugging Face ``config.json`` dict (bert, roberta, xlm-roberta, deberta-v2, modernbert,
    t5, mt5: every HF model_type a registered family reads), through the family's `from_hf`.

    Missing keys take the defaults of the corresponding HF config class. ModernBERT configs are read
    in both spellings (transformers >= 5: `layer_types` / `rope_parameters`; older:
    `global_attn_every_n_layers` / `global_rope_theta` / `local_rope_theta`).

    Example:
        >>> cfg = EncoderConfig.from_hf_dict({"model_type": "deberta-v2", "vocab_size": 1000,
        ...     "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        ...     "intermediate_size": 128, "relative_attention": True, "position_buckets": 256,
        ...     "pos_att_type": "p2c|c2p"})
        >>> cfg.pos_att_type, cfg.layer_norm_eps
        (('p2c', 'c2p'), 1e-07)
    """
    hf_type = d.get("model_type")
    config = family_for_hf_type(hf_type).from_hf(d, hf_type)
    if not isinstance(config, cls):
      raise TypeError(f"the {hf_type!r} family's from_hf returned {type(config).__name__}, not an EncoderConfig")
    return config


def hf_special_ids(d: Mapping[str, Any], defaults: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
  """The HF token ids (other than pad) named in `defaults` that `d` holds as integers, `defaults` for the
  missing ones: the `special_token_ids` a family keeps for `to_hf_dict`.

  Example:
      >>> hf_special_ids({"eos_token_id": 7, "bos_token_id": None}, {"bos_token_id": 0, "eos_token_id": 1})
      (('eos_token_id', 7),)
  """
  out = []
  for name, default in defaults.items():
    value = d.get(name, default)
    if isinstance(value, int) and not isinstance(value, bool):
      out.append((name, value))
  return tuple(out)
