"""Configuration of the transformer encoders (BERT / RoBERTa / DeBERTa-v2 and v3).

One frozen dataclass describes every supported family; the family-specific fields are
simply ignored by the other families. `EncoderConfig.from_hf_dict` reads a Hugging Face
``config.json`` dictionary and `to_hf_dict` writes one back; `to_dict` / `from_dict` give a
lossless JSON round trip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

MODEL_TYPES = ("bert", "roberta", "deberta-v2")
# HF model_type -> our model_type (same architecture, different checkpoints).
HF_MODEL_TYPES = {
  "bert": "bert",
  "roberta": "roberta",
  "xlm-roberta": "roberta",
  "deberta-v2": "deberta-v2",
}
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
POS_ATT_TYPES = ("c2p", "p2c")
NORM_REL_EBD = ("none", "layer_norm")


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
  """Hyper-parameters of a BERT-family or DeBERTa-v2/v3 encoder.

  `position_embedding_type` is "absolute" (positions 0..L-1, BERT and DeBERTa with
  `position_biased_input`) or "padding_offset" (RoBERTa: non-pad tokens are numbered
  from ``pad_token_id + 1`` in order, pad tokens get ``pad_token_id``).

  The DeBERTa fields follow the HF names: `relative_attention`,
  `max_relative_positions` (< 1 means `max_position_embeddings`), `position_buckets`
  (<= 0: no log-bucketing), `norm_rel_ebd`, `share_att_key`, `pos_att_type`,
  `position_biased_input`, `embedding_size` (None = hidden_size; otherwise an
  `embed_proj` maps it to hidden_size), `conv_kernel_size` (0 = no ConvLayer after the
  first layer), `conv_groups`, `conv_act`, `attention_head_size` (None = hidden/heads).

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
  # The HF model_type when it is not `model_type` itself (e.g. "xlm-roberta"), for `to_hf_dict`.
  hf_model_type: str | None = None

  def __post_init__(self) -> None:
    # Lists coming from JSON become tuples so the config stays hashable.
    object.__setattr__(self, "pos_att_type", tuple(self.pos_att_type))
    problems = []
    if self.model_type not in MODEL_TYPES:
      problems.append(f"model_type={self.model_type!r} (supported: {MODEL_TYPES})")
    if self.hf_model_type is not None and HF_MODEL_TYPES.get(self.hf_model_type) != self.model_type:
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
    bad_att = [t for t in self.pos_att_type if t not in POS_ATT_TYPES]
    if bad_att:
      problems.append(f"pos_att_type={self.pos_att_type} (allowed entries: {POS_ATT_TYPES})")
    if self.norm_rel_ebd not in NORM_REL_EBD:
      problems.append(f"norm_rel_ebd={self.norm_rel_ebd!r} (supported: {NORM_REL_EBD})")
    if self.attention_head_size is None and self.num_attention_heads > 0:
      if self.hidden_size % self.num_attention_heads:
        problems.append(
          f"hidden_size={self.hidden_size} is not a multiple of num_attention_heads={self.num_attention_heads}"
        )
    if self.model_type != "deberta-v2":
      if self.attention_head_size is not None:
        problems.append("attention_head_size is only supported for deberta-v2")
      if self.embedding_size not in (None, self.hidden_size):
        problems.append("embedding_size != hidden_size is only supported for deberta-v2")
      if self.relative_attention or self.conv_kernel_size:
        problems.append("relative_attention / conv_kernel_size are deberta-v2 only")
    if self.conv_kernel_size < 0:
      problems.append(f"conv_kernel_size={self.conv_kernel_size} (must be >= 0)")
    if self.conv_kernel_size and self.hidden_size % max(self.conv_groups, 1):
      problems.append(f"hidden_size not divisible by conv_groups={self.conv_groups}")
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
    """Whether an absolute position table exists and is added to the embeddings."""
    return self.model_type != "deberta-v2" or self.position_biased_input

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
    """The Hugging Face ``config.json`` dict of this encoder: the inverse of `from_hf_dict`.

    Example:
        >>> cfg = EncoderConfig.from_hf_dict({"model_type": "xlm-roberta", "vocab_size": 50})
        >>> cfg.to_hf_dict()["model_type"], EncoderConfig.from_hf_dict(cfg.to_hf_dict()) == cfg
        ('xlm-roberta', True)
    """
    out: dict[str, Any] = dict(
      model_type=self.hf_model_type or self.model_type,
      vocab_size=self.vocab_size,
      hidden_size=self.hidden_size,
      num_hidden_layers=self.num_hidden_layers,
      num_attention_heads=self.num_attention_heads,
      intermediate_size=self.intermediate_size,
      hidden_act=self.hidden_act,
      max_position_embeddings=self.max_position_embeddings,
      type_vocab_size=self.type_vocab_size,
      layer_norm_eps=self.layer_norm_eps,
      hidden_dropout_prob=self.hidden_dropout_prob,
      attention_probs_dropout_prob=self.attention_probs_dropout_prob,
      pad_token_id=self.pad_token_id,
    )
    if self.model_type != "deberta-v2":
      # HF numbers RoBERTa positions from the padding id under the name "absolute".
      wanted = "absolute" if self.model_type == "bert" else "padding_offset"
      if self.position_embedding_type != wanted:
        raise ValueError(
          f"no Hugging Face {self.model_type} config has position_embedding_type={self.position_embedding_type!r}"
        )
      out["position_embedding_type"] = "absolute"
      return out
    out.update(
      relative_attention=self.relative_attention,
      max_relative_positions=self.max_relative_positions,
      position_buckets=self.position_buckets,
      norm_rel_ebd=self.norm_rel_ebd,
      share_att_key=self.share_att_key,
      pos_att_type=list(self.pos_att_type),
      position_biased_input=self.position_biased_input,
      conv_kernel_size=self.conv_kernel_size,
      conv_groups=self.conv_groups,
      conv_act=self.conv_act,
    )
    # HF reads these with getattr defaults: an explicit null would break its modules.
    if self.embedding_size is not None:
      out["embedding_size"] = int(self.embedding_size)
    if self.attention_head_size is not None:
      out["attention_head_size"] = int(self.attention_head_size)
    return out

  @classmethod
  def from_hf_dict(cls, d: Mapping[str, Any]) -> EncoderConfig:
    """Build from a Hugging Face ``config.json`` dict (bert, roberta, xlm-roberta, deberta-v2).

    Missing keys take the defaults of the corresponding HF config class.

    Example:
        >>> cfg = EncoderConfig.from_hf_dict({"model_type": "deberta-v2", "vocab_size": 1000,
        ...     "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        ...     "intermediate_size": 128, "relative_attention": True, "position_buckets": 256,
        ...     "pos_att_type": "p2c|c2p"})
        >>> cfg.pos_att_type, cfg.layer_norm_eps
        (('p2c', 'c2p'), 1e-07)
    """
    hf_type = d.get("model_type")
    if hf_type not in HF_MODEL_TYPES:
      raise ValueError(f"Unsupported encoder model_type {hf_type!r}; supported: {sorted(HF_MODEL_TYPES)}")
    model_type = HF_MODEL_TYPES[hf_type]
    common = dict(
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
    if not isinstance(common["hidden_act"], str):
      raise ValueError(f"hidden_act must be a string, got {common['hidden_act']!r}")
    if model_type in ("bert", "roberta"):
      pos_type = d.get("position_embedding_type", "absolute")
      if pos_type != "absolute":
        raise ValueError(f"position_embedding_type={pos_type!r} is not supported (only 'absolute')")
      if d.get("is_decoder") or d.get("add_cross_attention"):
        raise ValueError("decoder / cross-attention BERT configs are not supported")
      pad_default = 0 if model_type == "bert" else 1
      pad = d.get("pad_token_id")
      return cls(
        **common,
        type_vocab_size=int(d.get("type_vocab_size", 2)),
        layer_norm_eps=float(d.get("layer_norm_eps", 1e-12)),
        pad_token_id=int(pad_default if pad is None else pad),
        position_embedding_type="absolute" if model_type == "bert" else "padding_offset",
      )
    pos_att = d.get("pos_att_type") or ()
    if isinstance(pos_att, str):
      pos_att = [x.strip() for x in pos_att.lower().split("|") if x.strip()]
    norm = [x.strip() for x in str(d.get("norm_rel_ebd", "none")).lower().split("|")]
    pad = d.get("pad_token_id")
    return cls(
      **common,
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
