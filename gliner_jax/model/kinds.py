"""Model kinds: each variant of GLiNER declared once, recognised from its config, and built by name.

A kind is what the rest of the package needs to know about a model variant: its flax module, the inputs
its `__call__` takes, a batch of those inputs to initialise it with, and which `GLiNERConfig`s it serves.
`KINDS` holds them in order; `kind_of(config)` finds the one kind serving a config and `make_model(config)`
builds its module. Built-in kinds:

  "span"        uni-encoder span model (span_mode markerV0 / marker; `gliner_jax.model.span_model`)
  "token"       uni-encoder token model (span_mode token_level; `gliner_jax.model.token_model`)
  "bi_encoder"  bi-encoder span model (a labels encoder; `gliner_jax.model.bi_encoder`)
  "bi_encoder_token"  bi-encoder token model (a labels encoder, span_mode token_level;
                `gliner_jax.model.bi_encoder_token`)
  "span_relex"  joint entity and relation extraction, span head (`relations_layer` set, span_mode markerV0 /
                marker; `gliner_jax.model.relex.span_relex`)
  "token_relex" the same with the token head (`relations_layer` set, span_mode token_level;
                `gliner_jax.model.relex.token_relex`)

Later stages attach their part to a kind by its name, in one registry per stage, and never branch on the
config themselves:

  inference  `gliner_jax.inference.kinds.register_predictor(name, cls)`  the predictor class
  data/training  `gliner_jax.training.kinds.register_training(name, TrainingKind(...))`  starting point,
             loss, batches, optimizer groups

A new kind is one `ModelKind` passed to `register_kind` plus one entry in each of those registries (see
docs/model_kinds.md).

Example (the bundled default model's config; initialising its ~30M parameters is left out):
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> config = GLiNERConfig.load(DEFAULT_MODEL)
  >>> kind = kind_of(config); kind.name, kind.output_layout
  ('span', 'span')
  >>> model = make_model(config)                   # kind.module(config, dtype=..., span_head_impl=...)
  >>> type(model).__name__, sorted(kind.dummy_batch(2))
  ('GLiNERSpanModel', ['attention_mask', 'input_ids', 'num_words', 'type_token_index', 'word_token_index'])
  >>> params = model.init(rng, **kind.dummy_batch(2))["params"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from gliner_jax.model.bi_encoder import BI_ENCODER_INPUTS, GLiNERBiEncoderModel
from gliner_jax.model.bi_encoder_token import GLiNERBiEncoderTokenModel
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.relex.span_relex import RelexConfig, SpanRelexModel
from gliner_jax.model.relex.token_relex import TokenRelexModel
from gliner_jax.model.span_model import GLiNERSpanModel
from gliner_jax.model.token_model import GLiNERTokenModel

UNI_ENCODER_INPUTS = ("input_ids", "attention_mask", "word_token_index", "num_words", "type_token_index")
# relation_token_index [B, R]; teacher forcing in training: gold_entities [B, E, 2], gold_pairs [B, E, E]
RELEX_INPUTS = UNI_ENCODER_INPUTS + ("relation_token_index", "gold_entities", "gold_pairs")


@dataclasses.dataclass(frozen=True)
class ModelKind:
  """One model variant.

  name: the key later stages register their parts under.
  module: builds the flax module, `module(config, dtype=..., span_head_impl=...)`.
  inputs: the names of the model inputs a training batch holds (what the train step passes to the module).
  dummy_batch: `dummy_batch(batch_size)`, numpy inputs of the right ranks to initialise the module.
  matches: whether a `GLiNERConfig` is of this kind (exactly one kind may match a config).
  output_layout: "span" (logits [B, W, K, C]) or "token" (logits [B, W, C, 3]).
  reference_model_type: gliner 0.2.29's `model_type` of the same model (written by the gliner export).
  """

  name: str
  module: Callable[..., nn.Module]
  inputs: tuple[str, ...]
  dummy_batch: Callable[[int], dict[str, np.ndarray]]
  matches: Callable[[GLiNERConfig], bool]
  output_layout: str = "span"
  reference_model_type: str = ""


def uni_encoder_dummy_batch(
  batch_size: int, tokens: int = 32, words: int = 16, types: int = 4
) -> dict[str, np.ndarray]:
  """Uni-encoder inputs of the right ranks (zeros, every word present) to initialise a span or token model.

  Example:
    >>> {k: v.shape for k, v in uni_encoder_dummy_batch(2, tokens=8, words=4, types=3).items()}["type_token_index"]
    (2, 3)
  """
  return dict(
    input_ids=np.zeros((batch_size, tokens), np.int32),
    attention_mask=np.ones((batch_size, tokens), np.int32),
    word_token_index=np.zeros((batch_size, words), np.int32),
    num_words=np.full((batch_size,), words, np.int32),
    type_token_index=np.zeros((batch_size, types), np.int32),
  )


def bi_encoder_dummy_batch(
  batch_size: int, tokens: int = 32, words: int = 16, label_tokens: int = 8
) -> dict[str, np.ndarray]:
  """Bi-encoder inputs of the right ranks (one label per row) to initialise a bi-encoder.

  Example:
    >>> bi_encoder_dummy_batch(2)["labels_input_ids"].shape
    (2, 1, 8)
  """
  return dict(
    input_ids=np.zeros((batch_size, tokens), np.int32),
    attention_mask=np.ones((batch_size, tokens), np.int32),
    word_token_index=np.zeros((batch_size, words), np.int32),
    num_words=np.full((batch_size,), words, np.int32),
    labels_input_ids=np.zeros((batch_size, 1, label_tokens), np.int32),
    labels_attention_mask=np.ones((batch_size, 1, label_tokens), np.int32),
  )


def relex_dummy_batch(
  batch_size: int, tokens: int = 32, words: int = 16, types: int = 4, relations: int = 2, entities: int = 4
) -> dict[str, np.ndarray]:
  """Relex inputs (`RELEX_INPUTS`), to initialise a relex model: the uni-encoder's plus `relation_token_index`
  [B, R] and teacher-forced `gold_entities` [B, E, 2] (one-word entities) and `gold_pairs` [B, E, E] (every pair).

  Example:
    >>> {k: v.shape for k, v in relex_dummy_batch(2, relations=3).items()}["gold_pairs"]
    (2, 4, 4)
  """
  batch = uni_encoder_dummy_batch(batch_size, tokens, words, types)
  batch["relation_token_index"] = np.zeros((batch_size, relations), np.int32)
  first = np.broadcast_to(np.arange(entities, dtype=np.int32)[None, :, None], (batch_size, entities, 2))
  batch["gold_entities"] = np.ascontiguousarray(first)
  batch["gold_pairs"] = np.ones((batch_size, entities, entities), bool)
  return batch


def _span_relex_module(config: GLiNERConfig, dtype: Any = jnp.float32, span_head_impl: str = "factored") -> nn.Module:
  del span_head_impl  # the relex span head has one implementation (gliner's)
  return SpanRelexModel(RelexConfig.from_config(config), dtype=dtype)


def _token_relex_module(config: GLiNERConfig, dtype: Any = jnp.float32, span_head_impl: str = "factored") -> nn.Module:
  del span_head_impl
  return TokenRelexModel(RelexConfig.from_config(config), dtype=dtype)


def _token_module(config: GLiNERConfig, dtype: Any = jnp.float32, span_head_impl: str = "factored") -> nn.Module:
  del span_head_impl  # the token scorer has one implementation
  return GLiNERTokenModel(config, dtype=dtype)


def _bi_encoder_token_module(
  config: GLiNERConfig, dtype: Any = jnp.float32, span_head_impl: str = "factored"
) -> nn.Module:
  del span_head_impl  # the token scorer has one implementation
  return GLiNERBiEncoderTokenModel(config, dtype=dtype)


KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> ModelKind:
  """Adds a kind (its name must be new); returns it."""
  if kind.name in KINDS:
    raise ValueError(f"model kind {kind.name!r} is already registered")
  if kind.output_layout not in ("span", "token"):
    raise ValueError(f"model kind {kind.name!r}: output_layout={kind.output_layout!r}, use 'span' or 'token'")
  KINDS[kind.name] = kind
  return kind


SPAN = register_kind(
  ModelKind(
    name="span",
    module=GLiNERSpanModel,
    inputs=UNI_ENCODER_INPUTS,
    dummy_batch=uni_encoder_dummy_batch,
    matches=lambda c: c.labels_encoder is None and not c.is_relex and c.span_mode in ("markerV0", "marker"),
    reference_model_type="gliner_uni_encoder_span",
  )
)
TOKEN = register_kind(
  ModelKind(
    name="token",
    module=_token_module,
    inputs=UNI_ENCODER_INPUTS,
    dummy_batch=uni_encoder_dummy_batch,
    matches=lambda c: c.labels_encoder is None and not c.is_relex and c.span_mode == "token_level",
    output_layout="token",
    reference_model_type="gliner_uni_encoder_token",
  )
)
BI_ENCODER = register_kind(
  ModelKind(
    name="bi_encoder",
    module=GLiNERBiEncoderModel,
    inputs=BI_ENCODER_INPUTS,
    dummy_batch=bi_encoder_dummy_batch,
    matches=lambda c: c.labels_encoder is not None and c.span_mode in ("markerV0", "marker"),
    reference_model_type="gliner_bi_encoder_span",
  )
)
BI_ENCODER_TOKEN = register_kind(
  ModelKind(
    name="bi_encoder_token",
    module=_bi_encoder_token_module,
    inputs=BI_ENCODER_INPUTS,
    dummy_batch=bi_encoder_dummy_batch,
    matches=lambda c: c.labels_encoder is not None and c.span_mode == "token_level",
    output_layout="token",
    reference_model_type="gliner_bi_encoder_token",
  )
)
SPAN_RELEX = register_kind(
  ModelKind(
    name="span_relex",
    module=_span_relex_module,
    inputs=RELEX_INPUTS,
    dummy_batch=relex_dummy_batch,
    matches=lambda c: c.is_relex and c.span_mode in ("markerV0", "marker"),
    reference_model_type="gliner_uni_encoder_span_relex",
  )
)
TOKEN_RELEX = register_kind(
  ModelKind(
    name="token_relex",
    module=_token_relex_module,
    inputs=RELEX_INPUTS,
    dummy_batch=relex_dummy_batch,
    matches=lambda c: c.is_relex and c.span_mode == "token_level",
    output_layout="token",
    reference_model_type="gliner_uni_encoder_token_relex",
  )
)


def kind_of(config: GLiNERConfig) -> ModelKind:
  """The one registered kind that serves `config`.

  Example:
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> config = GLiNERConfig.load(DEFAULT_MODEL)
    >>> kind_of(config).name, kind_of(config.replace(span_mode="token_level")).name
    ('span', 'token')
  """
  found = [k for k in KINDS.values() if k.matches(config)]
  if len(found) != 1:
    what = "no model kind" if not found else f"several model kinds ({[k.name for k in found]})"
    raise ValueError(
      f"{what} serve a config with span_mode={config.span_mode!r}, labels_encoder="
      f"{'set' if config.labels_encoder is not None else 'None'}, relations_layer={config.relations_layer!r}; "
      f"registered: {sorted(KINDS)}"
    )
  return found[0]


def make_model(config: GLiNERConfig, dtype: Any = jnp.float32, span_head_impl: str = "factored") -> nn.Module:
  """The flax module of `config`'s kind. `span_head_impl` only applies to span heads.

  Example:
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> config = GLiNERConfig.load(DEFAULT_MODEL)
    >>> make_model(config.replace(span_mode="marker"), span_head_impl="reference").span_head_impl
    'reference'
  """
  return kind_of(config).module(config, dtype=dtype, span_head_impl=span_head_impl)
