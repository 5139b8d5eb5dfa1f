"""gliner_jax: GLiNER zero-shot NER in JAX/Flax.

Example:
  >>> import gliner_jax
  >>> model = gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)
  >>> model.predict_entities("Marie Curie worked in Paris.", ["person", "city"])
  [Entity(start=0, end=11, text='Marie Curie', label='person', score=0.74...),
   Entity(start=22, end=27, text='Paris', label='city', score=0.78...)]

The names below are imported on first use, so `import gliner_jax` (and a submodule that needs no JAX,
such as `gliner_jax.inference.cpu_threads`) does not start JAX.
"""

import importlib as _importlib
import os as _os

DEFAULT_MODEL = _os.path.join(_os.path.dirname(__file__), "assets", "default_model")

_LAZY = {
  "GLiNER": "gliner_jax.inference.api",
  "Entity": "gliner_jax.inference.predictor",
  "GLiNERConfig": "gliner_jax.model.config",
  "SpanPrediction": "gliner_jax.inference.decoding",
  "decode_spans": "gliner_jax.inference.decoding",
}

__all__ = ["DEFAULT_MODEL", "GLiNER", "GLiNERConfig", "Entity", "SpanPrediction", "decode_spans"]


def __getattr__(name):
  if name in _LAZY:
    value = getattr(_importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
  raise AttributeError(f"module 'gliner_jax' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(_LAZY))
