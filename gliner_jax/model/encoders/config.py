"""Configuration of the transformer encoders (BERT / RoBERTa / DeBERTa-v2 and v3 / ModernBERT / T5 and mT5).

One frozen dataclass describes every supported family; the family-specific fields are
simply ignored by the other families. `EncoderConfig.from_hf_dict` reads a Hugging Face
``config.json`` dictionary and `to_hf_dict` writes one back; `to_dict` / `from_dict` give a
lossless JSON round trip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

MODEL_TYPES = ("bert", "roberta", "deberta-v2", "modernbert", "t5")
# HF model_type -> our model_type (same architecture, different checkpoints).
HF_MODEL_TYPES = {
  "bert": "bert",
  "roberta": "roberta",
  "xlm-roberta": "roberta",
  "deberta-v2": "deberta-v2",
  "modernbert": "modernbert",
  "t5": "t5",
  "mt5": "t5",
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
LAYER_TYPES = ("full_attention", "sliding_attention")
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

# HF token ids other than pad that `to_hf_dict` writes back (the forward pass never reads them).
SPECIAL_ID_DEFAULTS = {
  "modernbert": {"bos_token_id": 50281, "eos_token_id": 50282, "cls_token_id": 50281, "sep_token_id": 50282},
  "t5": {"eos_token_id": 1, "decoder_start_token_id": 0},
}
_T5_DEFAULTS = {  # T5Config / MT5Config defaults that differ
  "t5": dict(vocab_size=32128, d_ff=2048, num_layers=6, num_heads=8, feed_forward_proj="relu"),
  "mt5": dict(vocab_size=250112, d_ff=1024, num_layers=8, num_heads=6, feed_forward_proj="gated-gelu"),
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
      if self.attention_head_size is not None and self.model_type != "t5":
        problems.append("attention_head_size is only supported for deberta-v2 and t5")
      if self.embedding_size not in (None, self.hidden_size):
        problems.append("embedding_size != hidden_size is only supported for deberta-v2")
      if self.relative_attention or self.conv_kernel_size:
        problems.append("relative_attention / conv_kernel_size are deberta-v2 only")
    if self.conv_kernel_size < 0:
      problems.append(f"conv_kernel_size={self.conv_kernel_size} (must be >= 0)")
    if self.remat_policy not in REMAT_POLICY_NAMES:
      problems.append(f"remat_policy={self.remat_policy!r} (supported: {list(REMAT_POLICY_NAMES)})")
    if self.scan_layers and self.model_type == "modernbert":
      problems.append(
        "scan_layers=True: ModernBERT's layers differ from each other (layer 0 has no attn_norm; sliding and "
        "global attention alternate), so they cannot be scanned; use remat_policy alone"
      )
    if self.scan_layers and self.conv_kernel_size:
      problems.append(
        f"scan_layers=True with conv_kernel_size={self.conv_kernel_size}: DeBERTa's ConvLayer runs between "
        "layers 0 and 1, so the layers cannot be scanned; use remat_policy alone"
      )
    if self.conv_kernel_size and self.hidden_size % max(self.conv_groups, 1):
      problems.append(f"hidden_size not divisible by conv_groups={self.conv_groups}")
    problems += self._family_problems()
    if problems:
      raise ValueError("Invalid EncoderConfig: " + "; ".join(problems))

  def _family_problems(self) -> list[str]:
    """What is wrong with the ModernBERT / T5 fields (and their use elsewhere)."""
    problems = []
    if self.model_type in ("modernbert", "t5") and self.type_vocab_size:
      problems.append(f"type_vocab_size={self.type_vocab_size}: {self.model_type} has no token types (use 0)")
    if self.model_type == "modernbert":
      if len(self.layer_types) != self.num_hidden_layers:
        problems.append(f"layer_types has {len(self.layer_types)} entries for {self.num_hidden_layers} layers")
      bad = sorted(set(self.layer_types) - set(LAYER_TYPES))
      if bad:
        problems.append(f"layer_types entries {bad} (allowed: {LAYER_TYPES})")
      if self.local_attention < 2:
        problems.append(f"local_attention={self.local_attention} (the window must be >= 2)")
      if min(self.global_rope_theta, self.local_rope_theta) <= 0:
        problems.append("rope thetas must be > 0")
      if self.head_dim % 2:
        problems.append(f"head size {self.head_dim} must be even for rotary embeddings")
    elif self.layer_types:
      problems.append("layer_types is only supported for modernbert")
    if self.model_type == "t5":
      if self.relative_attention_num_buckets < 4:
        problems.append(f"relative_attention_num_buckets={self.relative_attention_num_buckets} (must be >= 4)")
      if self.relative_attention_max_distance <= self.relative_attention_num_buckets // 4:
        problems.append(
          f"relative_attention_max_distance={self.relative_attention_max_distance} must exceed "
          f"relative_attention_num_buckets // 4 = {self.relative_attention_num_buckets // 4}"
        )
      if self.hidden_dropout_prob != self.attention_probs_dropout_prob:
        problems.append("t5 has one dropout_rate: hidden_dropout_prob must equal attention_probs_dropout_prob")
    elif self.gated_mlp:
      problems.append("gated_mlp is only supported for t5 (modernbert's MLP is always gated)")
    return problems

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
    if self.model_type in ("modernbert", "t5"):
      return False
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
    """The Hugging Face ``config.json`` dict of this encoder: the inverse of `from_hf_dict`.

    Example:
        >>> cfg = EncoderConfig.from_hf_dict({"model_type": "xlm-roberta", "vocab_size": 50})
        >>> cfg.to_hf_dict()["model_type"], EncoderConfig.from_hf_dict(cfg.to_hf_dict()) == cfg
        ('xlm-roberta', True)
    """
    if self.model_type == "modernbert":
      return self._modernbert_hf_dict()
    if self.model_type == "t5":
      return self._t5_hf_dict()
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

  def _modernbert_hf_dict(self) -> dict[str, Any]:
    out: dict[str, Any] = dict(
      model_type="modernbert",
      vocab_size=self.vocab_size,
      hidden_size=self.hidden_size,
      num_hidden_layers=self.num_hidden_layers,
      num_attention_heads=self.num_attention_heads,
      intermediate_size=self.intermediate_size,
      hidden_activation=self.hidden_act,
      max_position_embeddings=self.max_position_embeddings,
      norm_eps=self.layer_norm_eps,
      norm_bias=self.norm_bias,
      attention_bias=self.attention_bias,
      mlp_bias=self.mlp_bias,
      attention_dropout=self.attention_probs_dropout_prob,
      mlp_dropout=self.hidden_dropout_prob,
      embedding_dropout=self.embedding_dropout_prob,
      pad_token_id=self.pad_token_id,
      local_attention=self.local_attention,
      layer_types=list(self.layer_types),
      rope_parameters={
        "full_attention": {"rope_type": "default", "rope_theta": self.global_rope_theta},
        "sliding_attention": {"rope_type": "default", "rope_theta": self.local_rope_theta},
      },
      # The transformers < 5 spelling of the same settings.
      global_rope_theta=self.global_rope_theta,
      local_rope_theta=self.local_rope_theta,
      **dict(self.special_token_ids),
    )
    for n in range(1, self.num_hidden_layers + 1):
      if _every_n_layer_types(n, self.num_hidden_layers) == self.layer_types:
        out["global_attn_every_n_layers"] = n
        break
    return out

  def _t5_hf_dict(self) -> dict[str, Any]:
    act = self.hidden_act
    if self.gated_mlp:
      proj = "gated-gelu" if act == "gelu_new" else f"gated-{act}"
    else:
      proj = act
    return dict(
      model_type=self.hf_model_type or "t5",
      vocab_size=self.vocab_size,
      d_model=self.hidden_size,
      d_kv=self.head_dim,
      d_ff=self.intermediate_size,
      num_layers=self.num_hidden_layers,
      num_heads=self.num_attention_heads,
      relative_attention_num_buckets=self.relative_attention_num_buckets,
      relative_attention_max_distance=self.relative_attention_max_distance,
      dropout_rate=self.hidden_dropout_prob,
      layer_norm_epsilon=self.layer_norm_eps,
      feed_forward_proj=proj,
      n_positions=self.max_position_embeddings,
      pad_token_id=self.pad_token_id,
      **dict(self.special_token_ids),
    )

  @classmethod
  def from_hf_dict(cls, d: Mapping[str, Any]) -> EncoderConfig:
    """Build from a Hugging Face ``config.json`` dict (bert, roberta, xlm-roberta, deberta-v2, modernbert,
    t5, mt5).

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
    if hf_type not in HF_MODEL_TYPES:
      raise ValueError(f"Unsupported encoder model_type {hf_type!r}; supported: {sorted(HF_MODEL_TYPES)}")
    model_type = HF_MODEL_TYPES[hf_type]
    if model_type == "modernbert":
      return cls._from_modernbert_dict(d)
    if model_type == "t5":
      return cls._from_t5_dict(d, hf_type)
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

  @classmethod
  def _from_modernbert_dict(cls, d: Mapping[str, Any]) -> EncoderConfig:
    layers = int(d.get("num_hidden_layers", 22))
    layer_types = d.get("layer_types")
    if layer_types is None:
      layer_types = _every_n_layer_types(int(d.get("global_attn_every_n_layers", 3)), layers)
    thetas = {
      "full_attention": d.get("global_rope_theta", 160000.0),
      "sliding_attention": d.get("local_rope_theta", 10000.0),
    }
    if d.get("rope_scaling"):
      raise ValueError(
        f"ModernBERT rope_scaling={d['rope_scaling']!r} is not supported (only default rotary embeddings)"
      )
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
    return cls(
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
      special_token_ids=_special_ids(d, "modernbert"),
    )

  @classmethod
  def _from_t5_dict(cls, d: Mapping[str, Any], hf_type: str) -> EncoderConfig:
    defaults = _T5_DEFAULTS[hf_type]
    if d.get("is_decoder"):
      raise ValueError("a T5 decoder config is not an encoder")
    proj = str(d.get("feed_forward_proj", defaults["feed_forward_proj"]))
    parts = proj.split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
      raise ValueError(f"feed_forward_proj={proj!r}: expected 'ACT' or 'gated-ACT'")
    act = "gelu_new" if proj == "gated-gelu" else parts[-1]
    rate = float(d.get("dropout_rate", 0.1))
    pad = d.get("pad_token_id")
    return cls(
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
      special_token_ids=_special_ids(d, "t5"),
    )


def _every_n_layer_types(n: int, layers: int) -> tuple[str, ...]:
  """HF's `global_attn_every_n_layers` pattern: layer i is global when i % n == 0."""
  if n < 1:
    raise ValueError(f"global_attn_every_n_layers={n} (must be >= 1)")
  return tuple("sliding_attention" if i % n else "full_attention" for i in range(layers))


def _special_ids(d: Mapping[str, Any], family: str) -> tuple[tuple[str, int], ...]:
  """The family's HF token ids (other than pad) that are integers, HF defaults for the missing ones."""
  out = []
  for name, default in SPECIAL_ID_DEFAULTS[family].items():
    value = d.get(name, default)
    if isinstance(value, int) and not isinstance(value, bool):
      out.append((name, value))
  return tuple(out)
