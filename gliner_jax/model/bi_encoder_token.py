"""The GLiNER bi-encoder token model (gliner 0.2.29's `BiEncoderTokenModel`): start / end / inside per word and type.

The bi-encoder's two encoders (`gliner_jax.model.bi_encoder.BiEncoderRepresentations`: the text read without a
prompt, each label read on its own and mean-pooled) feed the token model's scorer
(`gliner_jax.model.token_model.TokenScorer`) directly: as in gliner, there is no prompt FFN and no BiLSTM
(gliner builds one but never applies it). One label set is shared by every text of a batch; a label's vector
does not depend on the text, so `encode_labels` can run once and `label_probs` score cached vectors.

Inputs are the span bi-encoder's (`BI_ENCODER_INPUTS`); the output is the token model's `TokenModelOutput`
(logits [B, W, C, 3]), decoded by `gliner_jax.inference.token_decoding`.

Example:
  >>> import jax
  >>> from gliner_jax.model.config import GLiNERConfig
  >>> from gliner_jax.model.encoders.config import EncoderConfig
  >>> enc = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32, num_hidden_layers=1,
  ...                     num_attention_heads=2, intermediate_size=64)   # a test-size backbone
  >>> config = GLiNERConfig(encoder=enc, hidden_size=32, max_width=4, labels_encoder=enc, num_rnn_layers=0,
  ...                       span_mode="token_level")
  >>> from gliner_jax.model.kinds import bi_encoder_dummy_batch
  >>> batch = bi_encoder_dummy_batch(2, tokens=8, words=5, label_tokens=4)   # one label per row: C = 2
  >>> model = GLiNERBiEncoderTokenModel(config)      # labels_encoder set, span_mode "token_level"
  >>> params = model.init(jax.random.key(0), **batch)["params"]
  >>> model.apply({"params": params}, **batch).logits.shape  # TokenModelOutput: logits [B, W, C, 3]
  (2, 5, 2, 3)
  >>> ids, mask = batch["labels_input_ids"][0], batch["labels_attention_mask"][0]
  >>> model.apply({"params": params}, ids, mask, method="encode_labels").shape   # [C, hidden_size]
  (1, 32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gliner_jax.model.bi_encoder import BiEncoderRepresentations
from gliner_jax.model.token_model import TokenModelOutput, TokenScorer


class GLiNERBiEncoderTokenModel(BiEncoderRepresentations):
  """The whole bi-encoder token model: `BiEncoderRepresentations`' parameters and "scorer" (the token model's).

  Example (not run here: the module example initialises and runs one):
    >>> out = GLiNERBiEncoderTokenModel(config).apply({"params": params}, **batch)  # doctest: +SKIP
  """

  def setup(self):
    if self.config.span_mode != "token_level":
      raise ValueError(f"GLiNERBiEncoderTokenModel needs span_mode='token_level', got {self.config.span_mode!r}")
    super().setup()
    self.scorer = TokenScorer(self.config.hidden_size, self.config.dropout, self.dtype)

  def label_logits(self, words: jax.Array, label_vectors: jax.Array, *, deterministic: bool = True) -> jax.Array:
    """Logits [B, W, C, 3] (float32) of word vectors [B, W, D] (`encode_text`) against label vectors [C, D]
    (`encode_labels`)."""
    types = jnp.broadcast_to(label_vectors[None], (words.shape[0],) + label_vectors.shape).astype(self.dtype)
    return self.scorer(words, types, deterministic=deterministic).astype(jnp.float32)

  def __call__(
    self,
    input_ids,
    attention_mask,
    word_token_index,
    num_words,
    labels_input_ids,
    labels_attention_mask,
    *,
    deterministic: bool = True,
  ) -> TokenModelOutput:
    words = self.encode_text(input_ids, attention_mask, word_token_index, deterministic=deterministic)
    vectors, present = self.present_label_vectors(labels_input_ids, labels_attention_mask, deterministic=deterministic)
    logits = self.label_logits(words, vectors, deterministic=deterministic)
    word_mask = jnp.arange(word_token_index.shape[1])[None, :] < num_words[:, None]
    type_mask = jnp.broadcast_to(present[None], (words.shape[0], present.shape[0]))
    return TokenModelOutput(logits=logits, word_mask=word_mask, type_mask=type_mask)
