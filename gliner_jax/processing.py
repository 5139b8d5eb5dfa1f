"""From words and entity types to the static-shaped arrays the span model reads.

The prompt is `<<ENT>> type1 <<ENT>> type2 ... <<SEP>> word1 word2 ...`, tokenized word by word
(`is_split_into_words=True`) with the backbone's own special tokens around it; each text word is
represented by its first subtoken and each type by its `<<ENT>>` token, as in gliner 0.2.29.
Batches are padded to a few bucket shapes so a stream of inputs compiles a bounded set of programs.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from gliner_jax.config import SPECIAL_TOKENS, GLiNERConfig

WordSplitter = Callable[[str], Iterable[tuple[str, int, int]]]

TOKEN_BUCKETS = (32, 64, 96, 128, 192, 256, 320, 384, 448, 512, 768, 1024)
WORD_BUCKETS = (8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
TYPE_BUCKETS = (4, 8, 16, 25, 32, 64)


class RegexWordSplitter:
  """Splits text into words (runs of word characters joined by - or _) and single other symbols.

  Example:
    >>> list(RegexWordSplitter()("New-York, 2024"))
    [('New-York', 0, 8), (',', 8, 9), ('2024', 10, 14)]
  """

  def __init__(self, pattern: str = r"\w+(?:[-_]\w+)*|\S"):
    self.pattern = re.compile(pattern)

  def __call__(self, text: str) -> Iterator[tuple[str, int, int]]:
    for m in self.pattern.finditer(text):
      yield m.group(), m.start(), m.end()


def make_word_splitter(kind: str | WordSplitter = "whitespace") -> WordSplitter:
  """The splitter named in the config, or any callable `text -> [(word, char_start, char_end)]`."""
  if callable(kind):
    return kind
  if kind == "whitespace":
    return RegexWordSplitter()
  raise ValueError(f"words_splitter_type={kind!r} is not built in; pass a callable "
                   "text -> iterable of (word, start, end) as `words_splitter`")


def bucket(n: int, buckets: Sequence[int]) -> int:
  """The smallest bucket >= n; past the last bucket, the next multiple of the last one."""
  i = bisect.bisect_left(buckets, n)
  if i < len(buckets):
    return buckets[i]
  step = buckets[-1]
  return -(-n // step) * step


@dataclasses.dataclass(frozen=True)
class EncodedText:
  """One prompt + text, tokenized. Indices are positions in `input_ids`; -1 means none."""

  input_ids: np.ndarray
  word_token_index: np.ndarray
  type_token_index: np.ndarray

  @property
  def num_tokens(self) -> int:
    return len(self.input_ids)

  @property
  def num_words(self) -> int:
    return len(self.word_token_index)


def validate_labels(labels: Sequence[str], special_tokens: Sequence[str] = SPECIAL_TOKENS) -> list[str]:
  """Checks entity types: a non-empty list of non-empty strings without special tokens."""
  if isinstance(labels, str):
    raise ValueError(f"labels must be a list of strings, got the string {labels!r}")
  labels = list(labels)
  if not labels:
    raise ValueError("labels is empty: give at least one entity type")
  for i, label in enumerate(labels):
    if not isinstance(label, str):
      raise ValueError(f"labels[{i}] is {type(label).__name__} {label!r}, not a string")
    if not label.strip():
      raise ValueError(f"labels[{i}] is an empty string")
    for tok in special_tokens:
      if tok in label:
        raise ValueError(f"labels[{i}]={label!r} contains the special token {tok!r}")
  return labels


class PromptTokenizer:
  """Tokenizes (words, types) pairs into `EncodedText`s with a Hugging Face fast tokenizer.

  Example:
    >>> pt = PromptTokenizer(tokenizer, config)
    >>> enc = pt.encode_batch([["Paris", "is", "big"]], [["city"]])[0]
  """

  def __init__(self, tokenizer, config: GLiNERConfig):
    self.tokenizer = tokenizer
    self.config = config
    self.class_token_id = tokenizer.convert_tokens_to_ids(config.ent_token)
    if config.class_token_index >= 0 and self.class_token_id != config.class_token_index:
      raise ValueError(f"tokenizer maps {config.ent_token!r} to {self.class_token_id}, but the config says "
                       f"class_token_index={config.class_token_index}")
    if self.class_token_id is None or self.class_token_id == tokenizer.unk_token_id:
      raise ValueError(f"tokenizer has no {config.ent_token!r} token; add the special tokens "
                       f"{SPECIAL_TOKENS} before use")
    self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

  def prompt_words(self, labels: Sequence[str]) -> list[str]:
    out = []
    for label in labels:
      out += [self.config.ent_token, label]
    return out + [self.config.sep_token]

  def encode_batch(self, texts: Sequence[Sequence[str]],
                   labels: Sequence[Sequence[str]]) -> list[EncodedText]:
    prompts = [self.prompt_words(l) for l in labels]
    enc = self.tokenizer([p + list(t) for p, t in zip(prompts, texts)], is_split_into_words=True,
                         add_special_tokens=True, truncation=False)
    out = []
    for i, (prompt, words) in enumerate(zip(prompts, texts)):
      ids = np.asarray(enc["input_ids"][i], np.int32)
      word_ids = enc.word_ids(i)
      first = np.full(len(words), -1, np.int32)
      offset = len(prompt)
      for pos in range(len(word_ids) - 1, -1, -1):
        w = word_ids[pos]
        if w is not None and w >= offset:
          first[w - offset] = pos
      type_pos = np.flatnonzero(ids == self.class_token_id).astype(np.int32)
      out.append(EncodedText(ids, first, type_pos))
    return out


@dataclasses.dataclass(frozen=True)
class BatchShape:
  batch: int
  tokens: int
  words: int
  types: int


def batch_shape(encoded: Sequence[EncodedText], batch_size: int) -> BatchShape:
  return BatchShape(
      batch=batch_size,
      tokens=bucket(max(e.num_tokens for e in encoded), TOKEN_BUCKETS),
      words=bucket(max(max(e.num_words for e in encoded), 1), WORD_BUCKETS),
      types=bucket(max(len(e.type_token_index) for e in encoded), TYPE_BUCKETS))


def pad_batch(encoded: Sequence[EncodedText], shape: BatchShape, pad_id: int = 0) -> dict[str, np.ndarray]:
  """Stacks encoded texts into arrays of exactly `shape` (rows past len(encoded) are empty)."""
  if len(encoded) > shape.batch:
    raise ValueError(f"{len(encoded)} texts do not fit a batch of {shape.batch}")
  ids = np.full((shape.batch, shape.tokens), pad_id, np.int32)
  mask = np.zeros((shape.batch, shape.tokens), np.int32)
  words = np.full((shape.batch, shape.words), -1, np.int32)
  types = np.full((shape.batch, shape.types), -1, np.int32)
  num_words = np.zeros((shape.batch,), np.int32)
  for i, e in enumerate(encoded):
    if e.num_tokens > shape.tokens or e.num_words > shape.words or len(e.type_token_index) > shape.types:
      raise ValueError(f"text {i} ({e.num_tokens} tokens, {e.num_words} words, "
                       f"{len(e.type_token_index)} types) does not fit {shape}")
    ids[i, :e.num_tokens] = e.input_ids
    mask[i, :e.num_tokens] = 1
    words[i, :e.num_words] = e.word_token_index
    types[i, :len(e.type_token_index)] = e.type_token_index
    num_words[i] = e.num_words
  return dict(input_ids=ids, attention_mask=mask, word_token_index=words, num_words=num_words,
              type_token_index=types)
