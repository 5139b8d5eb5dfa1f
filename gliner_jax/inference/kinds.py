"""The inference stage's registry of model kinds: which predictor class serves each kind.

Each predictor module registers its class under the kind names of `gliner_jax.model.kinds` when it is
imported (`gliner_jax.inference.predictor`: "span" and "token"; `gliner_jax.inference.bi_encoder`:
"bi_encoder"; `gliner_jax.inference.bi_encoder_token`: "bi_encoder_token"; `gliner_jax.inference.relex`: "span_relex"
and "token_relex"); `gliner_jax.inference.api` imports
them all, and `gliner_jax.GLiNER` comes from there.
`GLiNER.from_pretrained` and `make_predictor` look the class up here, so no code branches on the kind.

Example:
  >>> from gliner_jax.inference.api import GLiNER      # every built-in predictor registered
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> config = GLiNERConfig.load(DEFAULT_MODEL)
  >>> predictor_class(config).__name__, predictor_class(config.replace(span_mode="token_level")).__name__
  ('GLiNER', 'GLiNER')
  >>> bi = config.replace(labels_encoder=config.encoder, num_rnn_layers=0)   # a labels encoder: a bi-encoder
  >>> predictor_class(bi).__name__, predictor_class(bi.replace(span_mode="token_level")).__name__
  ('BiEncoderGLiNER', 'BiEncoderTokenGLiNER')
  >>> model = make_predictor(config, params, tokenizer)  # needs a model's params and tokenizer  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.kinds import KINDS, kind_of

PREDICTORS: dict[str, type] = {}


def register_predictor(kind_name: str, cls: type) -> type:
  """Registers `cls` as the predictor of the model kind `kind_name` (one class per kind); returns `cls`."""
  if kind_name not in KINDS:
    raise ValueError(f"unknown model kind {kind_name!r}: register it in gliner_jax.model.kinds first ({sorted(KINDS)})")
  if PREDICTORS.get(kind_name, cls) is not cls:
    raise ValueError(f"model kind {kind_name!r} already has the predictor {PREDICTORS[kind_name].__name__}")
  PREDICTORS[kind_name] = cls
  return cls


def predictor_class(config: GLiNERConfig) -> type:
  """The predictor class registered for `config`'s kind."""
  kind = kind_of(config)
  if kind.name not in PREDICTORS:
    raise ValueError(
      f"no predictor is registered for model kind {kind.name!r}: import gliner_jax.inference.api "
      "(or gliner_jax.GLiNER), which registers every built-in kind"
    )
  return PREDICTORS[kind.name]


def make_predictor(config: GLiNERConfig, params: Any, tokenizer: Any, **kwargs):
  """A predictor of the class registered for `config`'s kind: `predictor_class(config)(config, params, tokenizer,
  **kwargs)`. A `labels_tokenizer=None` keyword is dropped, so callers can pass one for every kind."""
  if kwargs.get("labels_tokenizer", 0) is None:
    kwargs.pop("labels_tokenizer")
  return predictor_class(config)(config, params, tokenizer, **kwargs)
