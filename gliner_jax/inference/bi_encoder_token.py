"""Prediction with a bi-encoder token GLiNER (gliner 0.2.29's `BiEncoderTokenGLiNER`): cached labels, token decoding.

As the span bi-encoder (`gliner_jax.inference.bi_encoder.BiEncoderGLiNER`, whose planning, label encoding and
label chunks this reuses), the text is read once per batch of windows and each label once per call, or never
when its vector is passed back as `label_embeddings=` (`encode_labels`). Per (text batch, label chunk) the token
scorer gives start / end / inside probabilities [B, W, C, 3], which the token decoder
(`gliner_jax.inference.token_decoding`) turns into spans on the host, as for the uni-encoder token model.

Example (a test-size random model, so its entities mean nothing; `GLiNER.from_pretrained(folder)` loads a
trained one as a BiEncoderTokenGLiNER):
  >>> import jax, flax.linen as nn
  >>> from transformers import AutoTokenizer
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> from gliner_jax.model.encoders.config import EncoderConfig
  >>> from gliner_jax.model.kinds import kind_of, make_model
  >>> tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)   # text and labels tokenizer
  >>> enc = EncoderConfig(model_type="bert", vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
  ...                     num_attention_heads=2, intermediate_size=64)
  >>> config = GLiNERConfig.load(DEFAULT_MODEL).replace(encoder=enc, labels_encoder=enc, hidden_size=32,
  ...                                                   num_rnn_layers=0, span_mode="token_level")
  >>> init = jax.jit(make_model(config).init)
  >>> params = nn.meta.unbox(init(jax.random.key(0), **kind_of(config).dummy_batch(1))["params"])
  >>> model = BiEncoderTokenGLiNER(config, params, tok, labels_tokenizer=tok)
  >>> labels, texts = ["person", "city", "date"], ["Ada Lovelace was born in London in 1815."]
  >>> vectors = model.encode_labels(labels)                    # [len(labels), hidden_size], reusable
  >>> vectors.shape
  (3, 32)
  >>> found = model.batch_predict_entities(texts, labels, label_embeddings=vectors, threshold=0.5)
  >>> found == model.batch_predict_entities(texts, labels, threshold=0.5)   # as encoding the labels again
  True
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from gliner_jax.inference.bi_encoder import BiEncoderGLiNER, LabelChunks
from gliner_jax.inference.kinds import register_predictor
from gliner_jax.inference.token_decoding import token_candidates
from gliner_jax.processing.buckets import BatchShape
from gliner_jax.processing.prompts import EncodedText

# LabelChunks.form of the token bi-encoder: each chunk's features are its raw label vectors.
VECTORS_FORM = "vectors"


class BiEncoderTokenGLiNER(BiEncoderGLiNER):
  """A bi-encoder token GLiNER ready to predict: `BiEncoderGLiNER`'s methods and signatures (`encode_labels`,
  `label_embeddings=`), token-level decoding.

  Example (not run here: the module example builds one and runs it):
    >>> model = BiEncoderTokenGLiNER(config, params, tokenizer, labels_tokenizer=labels_tokenizer)  # doctest: +SKIP
    >>> model.predict_entities("Ada Lovelace was born in London.", ["person", "city"], threshold=0.5)  # doctest: +SKIP
  """

  def __init__(self, config, params, tokenizer, *, labels_tokenizer=None, label_chunk: int = 256, **kwargs):
    super().__init__(config, params, tokenizer, labels_tokenizer=labels_tokenizer, label_chunk=label_chunk, **kwargs)
    apply = functools.partial(self.precision.apply, self.model)
    self._text_words = jax.jit(
      lambda v, ids, mask, words, segment_ids=None: apply(
        v, ids, mask, words, segment_ids=segment_ids, method="encode_text"
      )
    )
    self._label_probs = jax.jit(
      lambda v, words, vectors: jax.nn.sigmoid(apply(v, words, vectors, method="label_logits"))
    )

  def label_chunks(self, label_embeddings) -> LabelChunks:
    """Label vectors [N, hidden_size] in chunks of a bucketed size (the scorer reads the vectors themselves)."""
    size, chunks, valid = self.vector_chunks(np.asarray(label_embeddings, np.float32))
    return LabelChunks(VECTORS_FORM, size, tuple((chunk,) for chunk in chunks), valid)

  def _words(self, batch: dict[str, np.ndarray]):
    return self._text_words(
      self._variables,
      batch["input_ids"],
      batch["attention_mask"],
      batch["word_token_index"],
      segment_ids=batch.get("segment_ids"),
    )

  def _warm_batch(self, batch: dict[str, np.ndarray], shape: BatchShape, labels: LabelChunks) -> None:
    jax.block_until_ready(self._label_probs(self._variables, self._words(batch), labels.features[0][0]))

  def _batch_candidates(
    self, batch: dict[str, np.ndarray], shape: BatchShape, rows: list[EncodedText], labels: LabelChunks, threshold
  ):
    """Yields (row, start words, widths, labels, scores) of one text batch against every label chunk, from the
    token decoder's candidates; labels are indices into the whole label list."""
    words = self._words(batch)
    for c in range(labels.count):
      probs = np.asarray(self._label_probs(self._variables, words, labels.features[c][0]))
      num_types = int(labels.valid[c].sum())
      for r, row in enumerate(rows):
        start, width, label, scores = token_candidates(probs[r], threshold, row.num_words, num_types)
        yield r, start, width, label + c * labels.size, scores


register_predictor("bi_encoder_token", BiEncoderTokenGLiNER)
