"""The public predictor classes, with every built-in model kind's predictor registered.

`gliner_jax.GLiNER` is imported from here, so `GLiNER.from_pretrained` can load a model of any built-in
kind (`gliner_jax.inference.kinds`): uni-encoder span and token models are `GLiNER`, bi-encoders
`BiEncoderGLiNER` and bi-encoder token models `BiEncoderTokenGLiNER` (subclasses with the same methods and
signatures).

Example:
  >>> from gliner_jax.inference.api import GLiNER
  >>> model = GLiNER.from_pretrained("my_bi_encoder/")     # a BiEncoderGLiNER
"""

from __future__ import annotations

from gliner_jax.inference.bi_encoder import BiEncoderGLiNER
from gliner_jax.inference.bi_encoder_token import BiEncoderTokenGLiNER
from gliner_jax.inference.kinds import PREDICTORS, make_predictor, predictor_class
from gliner_jax.inference.predictor import Entity, GLiNER

__all__ = [
  "GLiNER",
  "BiEncoderGLiNER",
  "BiEncoderTokenGLiNER",
  "Entity",
  "PREDICTORS",
  "make_predictor",
  "predictor_class",
]
