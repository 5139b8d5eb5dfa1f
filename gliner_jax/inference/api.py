"""The public predictor classes, with every built-in model kind's predictor registered.

`gliner_jax.GLiNER` is imported from here, so `GLiNER.from_pretrained` can load a model of any built-in
kind (`gliner_jax.inference.kinds`): uni-encoder span and token models are `GLiNER`, bi-encoders
`BiEncoderGLiNER`, bi-encoder token models `BiEncoderTokenGLiNER` and relex models (span and token) `RelexGLiNER`
(subclasses with the same methods and signatures).

Example (a test-size random bi-encoder saved and loaded back; any built-in kind loads the same way):
  >>> import tempfile
  >>> import jax, flax.linen as nn
  >>> from transformers import AutoTokenizer
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> from gliner_jax.model.encoders.config import EncoderConfig
  >>> from gliner_jax.model.kinds import kind_of, make_model
  >>> tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)   # text and labels tokenizer
  >>> enc = EncoderConfig(model_type="bert", vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
  ...                     num_attention_heads=2, intermediate_size=64)
  >>> config = GLiNERConfig.load(DEFAULT_MODEL).replace(encoder=enc, labels_encoder=enc, hidden_size=32,
  ...                                                   num_rnn_layers=0)
  >>> init = jax.jit(make_model(config).init)
  >>> params = nn.meta.unbox(init(jax.random.key(0), **kind_of(config).dummy_batch(1))["params"])
  >>> tmp = tempfile.TemporaryDirectory()
  >>> make_predictor(config, params, tok, labels_tokenizer=tok).save_pretrained(tmp.name)
  >>> type(GLiNER.from_pretrained(tmp.name)).__name__
  'BiEncoderGLiNER'
  >>> tmp.cleanup()
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
