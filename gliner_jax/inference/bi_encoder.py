"""Prediction with a bi-encoder GLiNER: the text read once, labels encoded once and scored in chunks.

A bi-encoder (`GLiNERConfig.labels_encoder` set) reads the text without a prompt (`TextTokenizer`) and
each label on its own (`LabelTokenizer`), so a label's vector can be computed once and reused for every
text (`BiEncoderGLiNER.encode_labels`, the vectors of gliner's `encode_labels`). Prediction then runs
  1. the text encoder and the span head's word side, once per batch of text windows;
  2. the prompt FFN and the span head's type side, once per chunk of `label_chunk` labels (per call);
  3. their product and the threshold, once per (text batch, label chunk);
each at a fixed, bucketed shape, so any number of labels compiles a bounded set of programs and only
candidates above the threshold come back to the host. The decoding is the uni-encoder's.

Example (a test-size random bi-encoder, so its entities mean nothing; `GLiNER.from_pretrained(folder)` loads a
trained one as a BiEncoderGLiNER):
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
  >>> model = BiEncoderGLiNER(config, params, tok, labels_tokenizer=tok)
  >>> labels, texts = ["person", "city", "date"], ["Ada Lovelace was born in London in 1815."]
  >>> vectors = model.encode_labels(labels)                    # [len(labels), hidden_size], reusable
  >>> vectors.shape
  (3, 32)
  >>> found = model.batch_predict_entities(texts, labels, label_embeddings=vectors, threshold=0.5)
  >>> found == model.batch_predict_entities(texts, labels, threshold=0.5)   # as encoding the labels again
  True
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gliner_jax.inference.candidates import (
  MAX_CANDIDATES_PER_ROW,
  add_owned,
  collect_candidates,
  fetch_candidates,
  row_candidates,
  threshold_candidates,
)
from gliner_jax.inference.kinds import register_predictor
from gliner_jax.inference.predictor import GLiNER
from gliner_jax.model.bi_encoder import scoring_form, span_chunk_logits
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.processing.bi_encoder_inputs import LabelTokenizer, TextTokenizer, text_inputs
from gliner_jax.processing.buckets import BatchShape, batch_shape, bucket, pad_batch, workload_shapes
from gliner_jax.processing.labels import Labels, LabelSet
from gliner_jax.processing.prompts import EncodedText, validate_labels

# Label rows per labels-encoder call (a last, smaller call is padded to a power of two).
LABEL_BATCH = 64
# Labels scored together against a text batch: fewer labels run in one chunk of the next bucket.
LABEL_CHUNK_BUCKETS = (4, 8, 16, 32, 64, 128, 256)


def _pow2_buckets(n: int) -> tuple[int, ...]:
  sizes, b = [], 1
  while b < n:
    sizes.append(b)
    b *= 2
  return tuple(sizes + [n])


def load_labels_tokenizer(directory: str, labels_tokenizer: Any = None):
  """The labels tokenizer of a gliner_jax bi-encoder checkpoint: `labels_tokenizer` (a tokenizer, or a
  folder or hub id) wins, else the checkpoint's `labels_tokenizer/` subfolder."""
  from transformers import AutoTokenizer

  from gliner_jax.interop.checkpoint import LABELS_TOKENIZER_DIR

  if labels_tokenizer is not None and not isinstance(labels_tokenizer, (str, os.PathLike)):
    return labels_tokenizer
  source = labels_tokenizer or os.path.join(directory, LABELS_TOKENIZER_DIR)
  if not labels_tokenizer and not os.path.isdir(source):
    raise FileNotFoundError(f"{directory} is a bi-encoder checkpoint without {LABELS_TOKENIZER_DIR}/")
  return AutoTokenizer.from_pretrained(source)


@dataclasses.dataclass(frozen=True)
class LabelChunks:
  """Labels prepared for one prediction call: per chunk, the span head's type features and a validity mask,
  in the scoring form (`gliner_jax.model.bi_encoder.FORMS`) that the text features must take."""

  form: str
  size: int
  features: tuple[tuple[jax.Array, ...], ...]
  valid: tuple[np.ndarray, ...]

  @property
  def count(self) -> int:
    return len(self.features)


class BiEncoderGLiNER(GLiNER):
  """A bi-encoder GLiNER ready to predict (what `GLiNER.from_pretrained` and
  `gliner_jax.inference.kinds.make_predictor` give for a config with a labels encoder). The methods of
  `GLiNER` with the same signatures; `encode_labels` and `label_embeddings=` work here.

  `label_chunk` is the most labels scored in one device call (a bucket of `LABEL_CHUNK_BUCKETS`).

  Example (not run here: the module example builds one and runs these):
    >>> model = BiEncoderGLiNER(config, params, tokenizer, labels_tokenizer=labels_tokenizer)  # doctest: +SKIP
    >>> vectors = model.encode_labels(["person", "city", ...])          # thousands are fine  # doctest: +SKIP
    >>> model.batch_predict_entities(texts, labels, label_embeddings=vectors, threshold=0.5)  # doctest: +SKIP
  """

  def __init__(
    self,
    config: GLiNERConfig,
    params: Any,
    tokenizer,
    *,
    labels_tokenizer=None,
    label_chunk: int = 256,
    **kwargs,
  ):
    self._served_kind(config)
    if labels_tokenizer is None:
      raise ValueError("a bi-encoder needs its labels_tokenizer (the labels encoder's tokenizer)")
    if label_chunk not in LABEL_CHUNK_BUCKETS:
      raise ValueError(f"label_chunk={label_chunk}: use one of {LABEL_CHUNK_BUCKETS}")
    self.labels_tokenizer = labels_tokenizer
    self.label_batcher = LabelTokenizer(labels_tokenizer, config)
    self.label_chunk = label_chunk
    self._warmed: set[tuple[BatchShape, str]] = set()
    super().__init__(config, params, tokenizer, **kwargs)
    apply = functools.partial(self.precision.apply, self.model)
    self._encode_labels = jax.jit(lambda v, ids, mask: apply(v, ids, mask, method="encode_labels"))
    self._type_features = jax.jit(
      lambda v, vectors, form: apply(v, vectors, form, method="type_features"), static_argnames=("form",)
    )
    self._word_features = jax.jit(
      lambda v, ids, mask, words, form, segment_ids=None: apply(
        v, ids, mask, words, form, segment_ids, method="word_features"
      ),
      static_argnames=("form",),
    )
    self._chunk_candidates = jax.jit(functools.partial(self._device_chunk_candidates, config), static_argnames=("cap",))

  def _text_tokenizer(self, tokenizer, config):
    return TextTokenizer(tokenizer, config)

  def _example_batch(self) -> dict[str, np.ndarray]:
    enc = self.prompt_tokenizer.encode_batch([["a"]], [[]])
    batch = pad_batch(enc, batch_shape(enc, 1), self.prompt_tokenizer.pad_id)
    ids, mask = self.label_batcher.batch(["b"])
    return dict(text_inputs(batch), labels_input_ids=ids, labels_attention_mask=mask)

  # ----------------------------------------------------------------------------------- saving
  @classmethod
  def checkpoint_kwargs(cls, directory: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with the checkpoint's labels tokenizer (a `labels_tokenizer` given in `kwargs` wins)."""
    return {**kwargs, "labels_tokenizer": load_labels_tokenizer(directory, kwargs.get("labels_tokenizer"))}

  def checkpoint_parts(self) -> dict[str, Any]:
    """The labels tokenizer goes to `labels_tokenizer/` in both formats."""
    return {"labels_tokenizer": self.labels_tokenizer}

  # ----------------------------------------------------------------------------------- labels
  def encode_labels(self, labels: Labels) -> np.ndarray:
    """Label vectors [len(labels), hidden_size] (float32 numpy): gliner's `encode_labels`, the labels
    encoder's mean-pooled output before the prompt FFN. Pass them back as `label_embeddings=`.

    Labels run in calls of `LABEL_BATCH` rows, grouped by token length (bucketed), so thousands of them
    compile a few programs.

    Example (not run here: `model` is a bi-encoder predictor, as the module example builds):
      >>> vectors = model.encode_labels(["person", "organization", "city"])  # doctest: +SKIP
      >>> vectors.shape  # doctest: +SKIP
      (3, 512)
    """
    labels = validate_labels(LabelSet.of(labels).prompts, ())
    encoded = self.label_batcher.encode(labels)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    parts = []
    for lo in range(0, len(order), LABEL_BATCH):
      members = order[lo : lo + LABEL_BATCH]
      rows = bucket(len(members), _pow2_buckets(LABEL_BATCH))
      ids, mask = self.label_batcher.pad([encoded[i] for i in members], rows)
      parts.append(np.asarray(self._encode_labels(self._variables, ids, mask))[: len(members)])
    return np.concatenate(parts, axis=0)[np.argsort(np.asarray(order))]

  def label_chunks(self, label_embeddings) -> LabelChunks:
    """The span head's type features of label vectors [N, hidden_size], in chunks of a bucketed size and in
    the cheaper scoring form for N labels (`scoring_form`)."""
    vectors = np.asarray(label_embeddings, np.float32)
    form = scoring_form(self.config, vectors.shape[0])
    size, chunks, valid = self.vector_chunks(vectors)
    features = tuple(self._type_features(self._variables, chunk, form=form) for chunk in chunks)
    return LabelChunks(form, size, features, valid)

  def vector_chunks(self, vectors: np.ndarray) -> tuple[int, list[np.ndarray], tuple[np.ndarray, ...]]:
    """(size, chunks, valid): label vectors [N, D] cut into chunks of a bucketed size (the last zero-padded)
    and, per chunk, which rows are labels."""
    n = vectors.shape[0]
    size = bucket(min(n, self.label_chunk), LABEL_CHUNK_BUCKETS)
    count = -(-n // size)
    vectors = np.pad(vectors, ((0, count * size - n), (0, 0)))
    chunks = [vectors[c * size : (c + 1) * size] for c in range(count)]
    return size, chunks, tuple(np.arange(c * size, (c + 1) * size) < n for c in range(count))

  def _check_embeddings(self, label_embeddings, num_labels: int):
    shape = tuple(np.shape(label_embeddings))
    if shape != (num_labels, self.config.hidden_size):
      raise ValueError(
        f"label_embeddings has shape {shape}, expected ({num_labels}, {self.config.hidden_size}): one vector "
        "per label, from encode_labels(labels)"
      )
    return label_embeddings

  def prepare_labels(self, labels: Sequence[str], label_embeddings=None) -> LabelChunks:
    """The label chunks one prediction call scores every text window against: from `label_embeddings`
    (`encode_labels(labels)`, one row per label, in order) or, without them, from encoding `labels` now."""
    if label_embeddings is None:
      label_embeddings = self.encode_labels(labels)
    return self.label_chunks(self._check_embeddings(label_embeddings, len(labels)))

  # ----------------------------------------------------------------------------------- API
  def warmup(
    self,
    texts: Sequence[str],
    labels: Labels,
    batch_size: int = 8,
    packing: bool | int = False,
    *,
    label_embeddings=None,
  ) -> list[BatchShape]:
    """Compiles every program predicting texts like `texts` with `labels` can run (as `GLiNER.warmup`):
    the label encodings (unless `label_embeddings` are given), the type features, and per text batch
    shape the text encoding and the label-chunk scoring. Returns the text batch shapes (types: the chunk).
    With `packing`, the packed shapes these texts give, as `GLiNER.warmup`.

    Example (not run here: `model` is a bi-encoder predictor, as the module example builds):
      >>> model.warmup(sample_texts, labels, batch_size=8, label_embeddings=vectors)  # doctest: +SKIP
    """
    labels = self._prompt_labels(LabelSet.of(labels))
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
      raise ValueError("texts must be a list of strings")
    prepared = self.prepare_labels(labels, label_embeddings)
    _, encoded = self._plan([[w for w, _, _ in self.words_splitter(text)] for text in texts], [[]])
    if self._packing_capacity(packing) is not None:
      batches = [(shape, batch) for _, shape, batch in self._device_batches(encoded, batch_size, packing)]
    else:
      pad_id = self.prompt_tokenizer.pad_id
      batches = [
        (shape, pad_batch([encoded[i] for i in rows], shape, pad_id))
        for shape, rows in workload_shapes(encoded, batch_size).items()
      ]
    shapes = set()
    for shape, batch in batches:
      shape = dataclasses.replace(shape, types=prepared.size)
      shapes.add(shape)
      if (shape, prepared.form) in self._warmed:
        continue
      self._warm_batch(text_inputs(batch), shape, prepared)
      self.compiled_shapes.add(shape)
      self._warmed.add((shape, prepared.form))
    return sorted(shapes, key=lambda s: (type(s).__name__, dataclasses.astuple(s)))

  # ----------------------------------------------------------------------------------- internals
  def _plan(self, words: list[list[str]], groups: list[list[str]]):
    """Text windows only: every label is scored against every window."""
    return super()._plan(words, [[]])

  @staticmethod
  def _device_chunk_candidates(config, word_features, num_words, type_features, valid_types, threshold, *, cap):
    logits = span_chunk_logits(config, word_features, type_features)
    _, w, k, _ = logits.shape
    ends = jnp.arange(w)[:, None] + jnp.arange(k)[None, :]
    valid = (ends[None] < num_words[:, None, None])[..., None] & valid_types[None, None, None, :]
    return threshold_candidates(jax.nn.sigmoid(logits), valid, threshold, cap)

  def _warm_batch(self, batch: dict[str, np.ndarray], shape: BatchShape, labels: LabelChunks) -> None:
    """Compiles (by running) the text encoding and the scoring of one label chunk at this batch's shape."""
    features = self._text_features(batch, labels.form)
    cap = min(MAX_CANDIDATES_PER_ROW, shape.words * self.config.max_width * labels.size)
    jax.block_until_ready(
      self._chunk_candidates(
        features, batch["num_words"], labels.features[0], labels.valid[0], np.float32(0.5), cap=cap
      )
    )

  def _text_features(self, batch: dict[str, np.ndarray], form: str):
    return self._word_features(
      self._variables,
      batch["input_ids"],
      batch["attention_mask"],
      batch["word_token_index"],
      form=form,
      segment_ids=batch.get("segment_ids"),
    )

  def _batch_candidates(
    self, batch: dict[str, np.ndarray], shape: BatchShape, rows: list[EncodedText], labels: LabelChunks, threshold
  ):
    """Yields (row, start words, widths, labels, scores) of one text batch against every label chunk; labels
    are indices into the whole label list."""
    k = self.config.max_width
    features = self._text_features(batch, labels.form)
    cap = min(MAX_CANDIDATES_PER_ROW, shape.words * k * labels.size)
    for c in range(labels.count):
      found = fetch_candidates(
        self._chunk_candidates(
          features, batch["num_words"], labels.features[c], labels.valid[c], np.float32(threshold), cap=cap
        )
      )
      for r in range(len(rows)):
        idx, sc = row_candidates(found, r, threshold)
        w, rest = np.divmod(idx, k * labels.size)
        width, label = np.divmod(rest, labels.size)
        yield r, w, width, label + c * labels.size, sc

  def _score(
    self,
    items,
    encoded: list[EncodedText],
    threshold: float,
    batch_size: int,
    packing: bool | int = False,
    prepared: LabelChunks | None = None,
  ):
    """Each batch of text windows is encoded once, then scored against every chunk of the `prepared` labels."""
    if not isinstance(prepared, LabelChunks):
      raise ValueError("a bi-encoder scores against prepared labels: pass prepare_labels(labels)'s LabelChunks")
    per_text: dict[int, list[np.ndarray]] = {}
    for members, shape, batch in self._device_batches(encoded, batch_size, packing):
      shape = dataclasses.replace(shape, types=prepared.size)
      self.compiled_shapes.add(shape)
      rows = [encoded[i] for i in members]
      found = self._batch_candidates(text_inputs(batch), shape, rows, prepared, threshold)
      for r, start, width, label, scores in found:
        add_owned(per_text, items[members[r]], start, width, label, scores)
    return collect_candidates(per_text, items, token_level=self.kind.output_layout == "token")


register_predictor("bi_encoder", BiEncoderGLiNER)
