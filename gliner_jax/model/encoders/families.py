"""The encoder family registry: everything the rest of gliner_jax needs to know about one architecture.

An `EncoderFamily` gathers, for one `EncoderConfig.model_type`: the Flax module, the Hugging Face
``config.json`` mapping (both ways) and the family's own config checks, the HF weight-name table, the
family's FLOP terms and its bundled backbones. Each family lives in its own folder
(`gliner_jax/model/encoders/<family>/`) and declares its `EncoderFamily` there; `gliner_jax.model.encoders`
registers them (`register_families`), in one line. `EncoderConfig`, `build_encoder`,
`gliner_jax.interop.hf_weights`, `gliner_jax.model.flops` and `gliner_jax.model.backbones` all read `FAMILIES`,
so a registered family is built, converted, counted and listed with no other edit (docs/encoder_families.md).

Config arguments are `EncoderConfig`s; they are typed `Any` here because `EncoderConfig` itself reads
this registry.

Example:
    >>> import gliner_jax.model.encoders  # registers the bundled families
    >>> sorted(FAMILIES)
    ['bert', 'deberta-v2', 'modernbert', 'roberta', 't5']
    >>> family_for_hf_type("xlm-roberta").model_type, FAMILIES["t5"].hf_model_types
    ('roberta', ('t5', 'mt5'))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from gliner_jax.model.encoders.weights import HFTensor


@dataclasses.dataclass(frozen=True)
class FlopTerms:
  """A family's departures from the plain transformer FLOP count (`gliner_jax.model.flops.encoder_flops`).

  `ffn_matrices`: [hidden x intermediate]-sized matrices in each feed-forward (2, or 3 when gated);
  `relative_position`: relative-position scores and table projections (DeBERTa's c2p / p2c);
  `other`: any other matrix products (DeBERTa's embed_proj and conv layer). All summed over layers and batch.
  """

  ffn_matrices: int = 2
  relative_position: int = 0
  other: int = 0


@dataclasses.dataclass(frozen=True)
class Backbone:
  """A published backbone: its HF ``config.json`` and its tokenizer length with GLiNER's three tokens added
  ([FLERT], <<ENT>>, <<SEP>>)."""

  hf_config: Mapping[str, Any]
  gliner_vocab_size: int


def plain_flops(config: Any, batch_size: int, num_tokens: int) -> FlopTerms:
  """FLOP terms of a family with an ungated feed-forward and nothing else to count."""
  return FlopTerms()


def no_problems(config: Any) -> list[str]:
  """Config check of a family with no constraints of its own."""
  return []


def no_unused_weights(config: Any) -> frozenset[str]:
  """HF tensors the forward pass never reads: none."""
  return frozenset()


def has_position_table(config: Any) -> bool:
  """Whether the encoder adds an absolute position table (limits the input length): yes."""
  return True


@dataclasses.dataclass(frozen=True)
class EncoderFamily:
  """One encoder architecture, as the registry holds it.

  - `model_type`: our name (`EncoderConfig.model_type`); `hf_model_types`: the HF ``model_type`` values it
    reads (e.g. roberta: "roberta", "xlm-roberta").
  - `module`: the Flax module class, called ``module(config, dtype=, param_dtype=, **kwargs)`` and applied as
    ``(input_ids, attention_mask, token_type_ids=None, *, segment_ids=None, deterministic=True) -> [B, L, H]``.
  - `from_hf(hf_dict, hf_model_type) -> EncoderConfig` and `to_hf(config) -> dict`: the ``config.json``
    mapping, inverse of each other. `problems(config) -> list[str]`: the family's own config checks.
    `features`: the optional `EncoderConfig` features it implements (`gliner_jax.model.encoders.config.FEATURES`).
    `position_table(config)`: whether an absolute position table limits the input length.
  - `weights(config) -> [HFTensor]`: every tensor of the bare HF encoder (`gliner_jax.model.encoders.weights`);
    `hf_roots`: the top-level HF name prefixes of the bare encoder (anything else is ignored: pooler, heads,
    a decoder); `token_embedding`: the HF name of the token embedding table; `unused_weights(config)`: HF
    tensors inside the encoder that the forward pass never reads.
  - `flops(config, batch_size, num_tokens) -> FlopTerms`.
  - `backbones`: {hub id: Backbone}, the bundled published backbones of this family.
  """

  model_type: str
  module: type
  hf_model_types: tuple[str, ...]
  from_hf: Callable[[Mapping[str, Any], str], Any]
  to_hf: Callable[[Any], dict[str, Any]]
  weights: Callable[[Any], list[HFTensor]]
  hf_roots: tuple[str, ...]
  token_embedding: str
  problems: Callable[[Any], list[str]] = no_problems
  features: frozenset[str] = frozenset()
  position_table: Callable[[Any], bool] = has_position_table
  unused_weights: Callable[[Any], frozenset[str]] = no_unused_weights
  flops: Callable[[Any, int, int], FlopTerms] = plain_flops
  backbones: Mapping[str, Backbone] = dataclasses.field(default_factory=dict)

  def __post_init__(self) -> None:
    problems = []
    if not self.model_type or not self.hf_model_types:
      problems.append("model_type and hf_model_types must be non-empty")
    if not self.hf_roots or not any(self.token_embedding.startswith(root) for root in self.hf_roots):
      problems.append(f"token_embedding={self.token_embedding!r} lies outside hf_roots={self.hf_roots}")
    for name in ("from_hf", "to_hf", "weights", "problems", "position_table", "unused_weights", "flops"):
      if not callable(getattr(self, name)):
        problems.append(f"{name} must be callable")
    if problems:
      raise ValueError(f"EncoderFamily {self.model_type!r}: " + "; ".join(problems))


# model_type -> family, in registration order; filled by `gliner_jax.model.encoders` on import.
FAMILIES: dict[str, EncoderFamily] = {}


def register_families(*families: EncoderFamily) -> None:
  """Add `families` to `FAMILIES`; ValueError when a model_type or an HF model_type is taken twice."""
  for family in families:
    if family.model_type in FAMILIES:
      raise ValueError(f"encoder family {family.model_type!r} is registered twice")
    taken = {t: f.model_type for f in FAMILIES.values() for t in f.hf_model_types}
    clash = sorted(t for t in family.hf_model_types if t in taken)
    if clash:
      raise ValueError(f"encoder family {family.model_type!r}: HF model_type(s) {clash} already read by {taken}")
    FAMILIES[family.model_type] = family


def get_family(model_type: str) -> EncoderFamily:
  """The registered family of `model_type`; ValueError naming the registered ones otherwise."""
  family = FAMILIES.get(model_type)
  if family is None:
    raise ValueError(f"No encoder family for model_type={model_type!r}; registered: {sorted(FAMILIES)}")
  return family


def hf_model_types() -> dict[str, str]:
  """{HF model_type: our model_type} over every registered family."""
  return {t: f.model_type for f in FAMILIES.values() for t in f.hf_model_types}


def family_for_hf_type(hf_model_type: str) -> EncoderFamily:
  """The family reading HF ``config.json`` files of `hf_model_type`."""
  mapping = hf_model_types()
  if hf_model_type not in mapping:
    raise ValueError(f"Unsupported encoder model_type {hf_model_type!r}; supported: {sorted(mapping)}")
  return FAMILIES[mapping[hf_model_type]]


def feature_owners(feature: str) -> list[str]:
  """The registered families implementing the optional `feature`."""
  return [f.model_type for f in FAMILIES.values() if feature in f.features]
