"""The prediction API: `GLiNER.from_pretrained(...)`, `predict_entities`, `batch_predict_entities`.

Texts are split into words with character offsets, long texts are read in overlapping windows of at
most `max_len` words, label lists longer than `max_types` are split into groups, and every
(window, label group) item is scored on the device at a bucketed shape. Only the candidates above
the threshold come back to the host, where the priority-queue decoder picks the entities.

Example:
  >>> model = GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)
  >>> model.predict_entities("Ada Lovelace was born in London.", ["person", "city"])
  [Entity(start=0, end=12, text='Ada Lovelace', label='person', score=0.93), ...]
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gliner_jax import checkpoint as ckpt
from gliner_jax.config import GLiNERConfig
from gliner_jax.decoding import check_threshold, decode_spans
from gliner_jax.processing import (BatchShape, EncodedText, PromptTokenizer, batch_shape, bucket, make_word_splitter,
                                   pad_batch, validate_labels)
from gliner_jax.span_model import GLiNERSpanModel

MAX_CANDIDATES_PER_ROW = 512


@dataclasses.dataclass(frozen=True)
class Entity:
  """A predicted entity: character offsets into the text (`end` exclusive), its text, label and score.

  Also readable as a mapping (`entity["label"]`), like gliner's dicts.
  """

  start: int
  end: int
  text: str
  label: str
  score: float

  def __getitem__(self, key: str):
    return getattr(self, key)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class _Item:
  """One device row: a window of one text read with one group of labels."""

  text_index: int
  word_start: int
  word_stop: int
  label_offset: int
  own_start: int  # spans starting in [own_start, own_stop) are taken from this window
  own_stop: int


def word_windows(num_words: int, max_words: int, overlap: int) -> list[tuple[int, int, int, int]]:
  """Overlapping windows (start, stop, own_start, own_stop) covering num_words words.

  Each word start is "owned" by exactly one window, cut in the middle of each overlap, so a span
  of up to overlap // 2 words is always read by a window that contains it whole (the overlap is
  first capped at max_words // 2).
  """
  if num_words <= max_words:
    return [(0, num_words, 0, num_words)]
  overlap = min(overlap, max_words // 2)
  stride = max_words - overlap
  starts = list(range(0, num_words - max_words, stride)) + [num_words - max_words]
  windows = []
  for j, a in enumerate(starts):
    b = a + max_words
    own_a = 0 if j == 0 else (a + windows[-1][1]) // 2
    windows.append((a, b, own_a, num_words))
    if j:
      prev = windows[j - 1]
      windows[j - 1] = (prev[0], prev[1], prev[2], own_a)
  return windows


class GLiNER:
  """A GLiNER model ready to predict: config, parameters, tokenizer and word splitter.

  Example:
    >>> model = GLiNER.from_pretrained("path/to/gliner_jax_checkpoint")
    >>> model.batch_predict_entities(["Paris is in France."], ["city", "country"], batch_size=8)
  """

  def __init__(self, config: GLiNERConfig, params: Any, tokenizer, *, words_splitter=None,
               dtype=jnp.float32, span_head_impl: str = "factored"):
    self.config = config
    self.params = jax.tree_util.tree_map(jnp.asarray, params)
    self.tokenizer = tokenizer
    self.prompt_tokenizer = PromptTokenizer(tokenizer, config)
    self.words_splitter = make_word_splitter(words_splitter or config.words_splitter_type)
    self.model = GLiNERSpanModel(config, dtype=dtype, span_head_impl=span_head_impl)
    limit = getattr(tokenizer, "model_max_length", None) or 10 ** 9
    self.max_tokens = int(min(limit, config.encoder.max_sequence_length, 10 ** 6))
    self.window_overlap = 2 * config.max_width
    self.compiled_shapes: set[BatchShape] = set()
    self._apply = jax.jit(self.model.apply)
    self._candidates = jax.jit(functools.partial(self._device_candidates, self.model),
                               static_argnames=("cap",))

  # ----------------------------------------------------------------------------------- loading
  @classmethod
  def from_pretrained(cls, path_or_hub_id: str, *, words_splitter=None, dtype=jnp.float32,
                      cache_dir: str | None = None, **kwargs) -> "GLiNER":
    """Loads a gliner_jax checkpoint, or converts a gliner 0.2.x checkpoint, from a folder or the hub.

    A hub id (e.g. "urchade/gliner_small-v2.1") is downloaded with `huggingface_hub` first.
    """
    directory = path_or_hub_id
    if not os.path.isdir(directory):
      # A hub id is "name" or "namespace/name"; any other missing path is a missing local folder.
      parent = os.path.dirname(path_or_hub_id)
      if (os.path.isabs(path_or_hub_id) or path_or_hub_id.startswith((".", "~"))
          or path_or_hub_id.count("/") > 1 or (parent and os.path.isdir(parent))):
        raise FileNotFoundError(f"no model directory at {path_or_hub_id}")
      from huggingface_hub import snapshot_download
      directory = snapshot_download(path_or_hub_id, cache_dir=cache_dir)
    from transformers import AutoTokenizer
    if ckpt.is_checkpoint(directory):
      config, params = ckpt.load_checkpoint(directory)
      tokenizer = AutoTokenizer.from_pretrained(directory)
    elif os.path.exists(os.path.join(directory, "gliner_config.json")):
      from gliner_jax.convert import load_gliner_state, load_reference_tokenizer
      config, params = load_gliner_state(directory)
      tokenizer = load_reference_tokenizer(directory, config)
      config = config.replace(class_token_index=tokenizer.convert_tokens_to_ids(config.ent_token))
    else:
      raise FileNotFoundError(f"{directory} holds neither a gliner_jax checkpoint "
                              f"({ckpt.CONFIG_FILE}) nor a gliner one (gliner_config.json)")
    return cls(config, params, tokenizer, words_splitter=words_splitter, dtype=dtype, **kwargs)

  def save_pretrained(self, directory: str, dtype: Any = None) -> None:
    ckpt.save_checkpoint(directory, self.config, jax.device_get(self.params), self.tokenizer, dtype=dtype)

  # ----------------------------------------------------------------------------------- device
  @staticmethod
  def _device_candidates(model, params, batch, threshold, *, cap: int):
    out = model.apply({"params": params}, **batch)
    probs = jax.nn.sigmoid(out.logits)
    valid = out.span_mask[..., None] & out.type_mask[:, None, None, :]
    flat = jnp.where(valid, probs, 0.0).reshape(probs.shape[0], -1)
    above = flat > threshold
    count = above.sum(axis=-1)
    index = jax.vmap(lambda row: jnp.nonzero(row, size=cap, fill_value=0)[0])(above)
    return count, index, jnp.take_along_axis(flat, index, axis=1), flat

  def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
    """Raw span x type logits [B, W, K, C] for a padded batch (for tests and analysis)."""
    return np.asarray(self._apply({"params": self.params}, **batch).logits)

  # ----------------------------------------------------------------------------------- API
  def predict_entities(self, text: str, labels: Sequence[str], threshold: float = 0.5, flat_ner: bool = True,
                       multi_label: bool = False) -> list[Entity]:
    """Entities in one text. An empty text gives []."""
    return self.batch_predict_entities([text], labels, threshold=threshold, flat_ner=flat_ner,
                                       multi_label=multi_label)[0]

  def batch_predict_entities(self, texts: Sequence[str], labels: Sequence[str], batch_size: int = 8,
                             threshold: float = 0.5, flat_ner: bool = True,
                             multi_label: bool = False) -> list[list[Entity]]:
    """Entities in each text; the labels are shared by all texts."""
    check_threshold(threshold)
    labels = validate_labels(labels, (self.config.ent_token, self.config.sep_token, "[FLERT]"))
    if isinstance(texts, str):
      raise ValueError("texts must be a list of strings; use predict_entities for one text")
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    words, offsets = [], []
    for i, text in enumerate(texts):
      if not isinstance(text, str):
        raise ValueError(f"texts[{i}] is {type(text).__name__}, not a string")
      split = list(self.words_splitter(text))
      words.append([w for w, _, _ in split])
      offsets.append([(s, e) for _, s, e in split])
    groups = [labels[i:i + self.config.max_types] for i in range(0, len(labels), self.config.max_types)]
    items, encoded = self._plan(words, groups)
    candidates = self._score(items, encoded, threshold, batch_size)
    results = []
    for t, text in enumerate(texts):
      starts, widths, classes, scores = candidates[t]
      spans = decode_spans(starts, widths, classes, scores, num_words=len(words[t]), flat_ner=flat_ner,
                           multi_label=multi_label) if len(starts) else []
      results.append([Entity(start=offsets[t][s.start][0], end=offsets[t][s.end][1],
                             text=text[offsets[t][s.start][0]:offsets[t][s.end][1]],
                             label=labels[s.label], score=float(s.score)) for s in spans])
    return results

  # ----------------------------------------------------------------------------------- internals
  def _plan(self, words: list[list[str]], groups: list[list[str]]):
    """All (window, label group) items, tokenized; windows shrink until they fit the encoder."""
    items: list[_Item] = []
    encoded: list[EncodedText] = []
    for g, group in enumerate(groups):
      offset = g * self.config.max_types
      for t, text_words in enumerate(words):
        if not text_words:
          continue
        max_words = self.config.max_len
        while True:
          windows = word_windows(len(text_words), max_words, self.window_overlap)
          enc = self.prompt_tokenizer.encode_batch([text_words[a:b] for a, b, _, _ in windows],
                                                   [group] * len(windows))
          if max(e.num_tokens for e in enc) <= self.max_tokens:
            break
          if max_words <= 2 * self.window_overlap:
            raise ValueError(f"text {t}: the prompt with {len(group)} labels leaves no room for words "
                             f"within {self.max_tokens} tokens; use fewer or shorter labels")
          max_words = max(2 * self.window_overlap, int(max_words * 0.75))
        for (a, b, own_a, own_b), e in zip(windows, enc):
          items.append(_Item(t, a, b, offset, own_a, own_b))
          encoded.append(e)
    return items, encoded

  def _score(self, items: list[_Item], encoded: list[EncodedText], threshold: float, batch_size: int):
    """Runs all items on the device in length-sorted batches; returns per-text candidate arrays."""
    per_text: dict[int, list[np.ndarray]] = {}
    order = sorted(range(len(items)), key=lambda i: (encoded[i].num_tokens, encoded[i].num_words))
    k = self.config.max_width
    for lo in range(0, len(order), batch_size):
      chunk = order[lo:lo + batch_size]
      rows = [encoded[i] for i in chunk]
      shape = batch_shape(rows, bucket(len(rows), _batch_buckets(batch_size)))
      self.compiled_shapes.add(shape)
      batch = pad_batch(rows, shape, self.prompt_tokenizer.pad_id)
      cap = min(MAX_CANDIDATES_PER_ROW, shape.words * k * shape.types)
      count, index, scores, flat = self._candidates(self.params, batch, np.float32(threshold), cap=cap)
      count, index, scores = jax.device_get((count, index, scores))
      for r, i in enumerate(chunk):
        if count[r] > cap:  # rare: more candidates than the cap, fetch this row whole
          row = np.asarray(flat[r])
          idx = np.flatnonzero(row > np.float32(threshold))
          sc = row[idx]
        else:
          idx, sc = index[r, :count[r]], scores[r, :count[r]]
        item = items[i]
        w, rest = np.divmod(idx, k * shape.types)
        width, c = np.divmod(rest, shape.types)
        start = w + item.word_start
        keep = (start >= item.own_start) & (start < item.own_stop)
        per_text.setdefault(item.text_index, []).append(
            np.stack([start[keep], width[keep], c[keep] + item.label_offset]).astype(np.int64))
        per_text.setdefault(-1 - item.text_index, []).append(sc[keep].astype(np.float32))
    out = {}
    for t in {it.text_index for it in items}:
      cand = np.concatenate(per_text[t], axis=1)
      scores = np.concatenate(per_text[-1 - t])
      order_rm = np.lexsort((cand[2], cand[1], cand[0]))  # row-major (start, width, label)
      cand, scores = cand[:, order_rm], scores[order_rm]
      out[t] = (cand[0], cand[1], cand[2], scores)
    return _DefaultEmpty(out)


def _batch_buckets(batch_size: int) -> tuple[int, ...]:
  sizes, b = [], 1
  while b < batch_size:
    sizes.append(b)
    b *= 2
  return tuple(sizes + [batch_size])


class _DefaultEmpty(dict):
  def __missing__(self, key):
    empty = np.zeros((0,), np.int64)
    return empty, empty, empty, np.zeros((0,), np.float32)
