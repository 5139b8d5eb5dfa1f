"""gliner_jax: GLiNER zero-shot NER in JAX/Flax.

Example:
  >>> import gliner_jax
  >>> model = gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)
  >>> model.predict_entities("Marie Curie worked in Paris.", ["person", "city"])
"""

import os as _os

from gliner_jax.inference.decoding import SpanPrediction, decode_spans
from gliner_jax.inference.predictor import Entity, GLiNER
from gliner_jax.model.config import GLiNERConfig

DEFAULT_MODEL = _os.path.join(_os.path.dirname(__file__), "assets", "default_model")

__all__ = ["DEFAULT_MODEL", "GLiNER", "GLiNERConfig", "Entity", "SpanPrediction", "decode_spans"]
