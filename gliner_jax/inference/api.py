"""The public predictor classes, with every built-in model kind's predictor registered.

`gliner_jax.GLiNER` is imported from here, so `GLiNER.from_pretrained` can load a model of any built-in
kind (`gliner_jax.inference.kinds`): uni-encoder span and token models are `GLiNER`, bi-encoders
`BiEncoderGLiNER`, bi-encoder token models `BiEncoderTokenGLiNER` and relex models (span and token) `RelexGLiNER`
(subclasses with the same methods and signatures).

Example:
  >>> from gliner_jax.inference.api import GLiNER
  >>> model = GLiNER.from_pretrained("my_bi_encoder/")     # a BiEncoderGLiNER
"""

from __future__ import annotations

from gliner_jax.inference.bi_encoder import BiEncoderGLiNER
from gliner_jax.inference.bi_encoder_token import BiEncoderTokenGLiNER
from gliner_jax.inference.kinds import PREDICTORS, make_predictor, predictor_class
from gliner_jax.inference.predictor import Entity, GLiNER
from gliner_jax.inference.relex import Relation, RelexGLiNER

__all__ = [
  "GLiNER",
  "BiEncoderGLiNER",
  "BiEncoderTokenGLiNER",
  "RelexGLiNER",
  "Relation",
  "Entity",
  "PREDICTORS",
  "make_predictor",
  "predictor_class",
]
