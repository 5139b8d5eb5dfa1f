"""The GLiNER token model (span_mode "token_level"): per word and type, start / end / inside logits.

Same inputs, encoder, projection, word and type vectors and BiLSTM as the span model
(`gliner_jax.model.span_model`), then no prompt FFN: the scorer of gliner 0.2.29's token model projects words
and types to two halves each (Linear(d, 2d)) and scores every (word, type) pair with an MLP on
cat(word half 0, type half 0, word half 1 * type half 1): Linear(3d, 4d) -> ReLU -> Dropout -> Linear(4d, 3).
Its first layer is applied part by part (`SplitDense.terms`), so the [B, W, C, 3d] concatenation is never
built. `gliner_jax.inference.token_decoding` turns the scores into entity spans.

Example (`GLiNERTokenModel`'s own example initialises and runs one):
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> from gliner_jax.model.kinds import make_model
  >>> type(make_model(GLiNERConfig.load(DEFAULT_MODEL).replace(span_mode="token_level"))).__name__
  'GLiNERTokenModel'
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.layers import SplitDense, dense
from gliner_jax.model.span_model import encode_words_and_types

Dtype = Any


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TokenModelOutput:
  """logits [B, W, C, 3] (float32; start, end, inside), word_mask [B, W] (word inside the text), type_mask [B, C]."""

  logits: jax.Array
  word_mask: jax.Array
  type_mask: jax.Array


class TokenScorer(nn.Module):
  """Scores every (word, type) pair: [B, W, D] x [B, C, D] -> [B, W, C, 3].

  Example:
    >>> import jax, jax.numpy as jnp
    >>> scorer, words, types = TokenScorer(8), jnp.ones((2, 5, 8)), jnp.ones((2, 4, 8))
    >>> p = scorer.init(jax.random.key(0), words, types)["params"]
    >>> scorer.apply({"params": p}, words, types).shape   # [B, W, C, 3]: start, end, inside
    (2, 5, 4, 3)
  """

  hidden_size: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, words: jax.Array, types: jax.Array, *, deterministic: bool = True) -> jax.Array:
    d = self.hidden_size
    tok = dense(2 * d, ("embed", "mlp"), name="proj_token", dtype=self.dtype)(words)[:, :, None, :]
    lab = dense(2 * d, ("embed", "mlp"), name="proj_label", dtype=self.dtype)(types)[:, None, :, :]
    parts = (tok[..., :d], lab[..., :d], tok[..., d:] * lab[..., d:])
    first = SplitDense(4 * d, (d, d, d), ("embed", "mlp"), self.dtype, name="out_dense_in")
    by_word, by_type, pair = first.terms(parts)
    h = nn.relu(by_word + by_type + pair)  # [B, W, C, 4D]
    h = HashDropout(self.dropout)(h, deterministic=deterministic)
    return dense(3, ("mlp", None), name="out_dense_out", dtype=self.dtype)(h)


class GLiNERTokenModel(nn.Module):
  """The whole GLiNER token model (same call as `GLiNERSpanModel`).

  Example:
    >>> import jax
    >>> from gliner_jax.model.config import GLiNERConfig
    >>> from gliner_jax.model.encoders.config import EncoderConfig
    >>> enc = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32, num_hidden_layers=1,
    ...                     num_attention_heads=2, intermediate_size=64)   # a test-size backbone
    >>> config = GLiNERConfig(encoder=enc, hidden_size=32, max_width=4, span_mode="token_level")
    >>> from gliner_jax.model.kinds import uni_encoder_dummy_batch
    >>> batch = uni_encoder_dummy_batch(2, tokens=8, words=5, types=3)
    >>> model = GLiNERTokenModel(config)
    >>> params = model.init(jax.random.key(0), **batch)["params"]
    >>> out = model.apply({"params": params}, **batch)   # TokenModelOutput
    >>> out.logits.shape, out.word_mask.shape   # [B, W, C, 3], [B, W]
    ((2, 5, 3, 3), (2, 5))
  """

  config: GLiNERConfig
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(
    self,
    input_ids,
    attention_mask,
    word_token_index,
    num_words,
    type_token_index,
    *,
    segment_ids=None,
    deterministic: bool = True,
  ) -> TokenModelOutput:
    cfg = self.config
    if cfg.span_mode != "token_level":
      raise ValueError(f"GLiNERTokenModel needs span_mode='token_level', got {cfg.span_mode!r}")
    words, types = encode_words_and_types(
      cfg,
      self.dtype,
      input_ids,
      attention_mask,
      word_token_index,
      num_words,
      type_token_index,
      segment_ids=segment_ids,
      deterministic=deterministic,
    )
    logits = TokenScorer(cfg.hidden_size, cfg.dropout, self.dtype, name="scorer")(
      words, types, deterministic=deterministic
    )
    word_mask = jnp.arange(word_token_index.shape[1])[None, :] < num_words[:, None]
    return TokenModelOutput(logits=logits.astype(jnp.float32), word_mask=word_mask, type_mask=type_token_index >= 0)
