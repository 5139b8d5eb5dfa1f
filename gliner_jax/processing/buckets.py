"""Static shapes: prompts padded to a few bucket shapes, so a stream of inputs compiles a bounded set of programs."""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from typing import Sequence

import numpy as np

from gliner_jax.processing.prompts import EncodedText

TOKEN_BUCKETS = (32, 64, 96, 128, 192, 256, 320, 384, 448, 512, 768, 1024)
WORD_BUCKETS = (8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
TYPE_BUCKETS = (4, 8, 16, 25, 32, 64)
# Rows per device batch. A user's batch_size runs as batches of the largest of these <= batch_size (a last,
# smaller batch padded to the next one up), so each batch_size reuses the programs of the others.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32)


def bucket(n: int, buckets: Sequence[int]) -> int:
  """The smallest bucket >= n; past the last bucket, the next multiple of the last one."""
  i = bisect.bisect_left(buckets, n)
  if i < len(buckets):
    return buckets[i]
  step = buckets[-1]
  return -(-n // step) * step


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
    types=bucket(max(len(e.type_token_index) for e in encoded), TYPE_BUCKETS),
  )


def device_batch_size(batch_size: int) -> int:
  """Rows per device batch for a user's `batch_size`: the largest of `BATCH_BUCKETS` <= batch_size.

  Example:
    >>> device_batch_size(12), device_batch_size(100)
    (8, 32)
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  return BATCH_BUCKETS[bisect.bisect_right(BATCH_BUCKETS, batch_size) - 1]


def workload_shapes(encoded: Sequence[EncodedText], batch_size: int) -> dict[BatchShape, list[int]]:
  """Every batch shape that batches of up to `device_batch_size(batch_size)` rows like `encoded` can have.

  A batch's tokens, words and types buckets are the largest of its rows', so a bucket triple is met
  when some rows, all within it, reach each of its three buckets: one row (its own triple) for a batch
  of one, at most two for a batch of two, at most three for larger batches. Rows may repeat (a stream of
  texts like these). Returns each shape with the indices of the fewest rows that reach it.

  Example (two texts: 150 tokens, 100 words, 5 types and 20 tokens, 10 words, 2 types):
    >>> import numpy as np
    >>> encoded = [EncodedText(np.zeros(n), np.arange(w), np.arange(t)) for n, w, t in [(150, 100, 5), (20, 10, 2)]]
    >>> workload_shapes(encoded, batch_size=1)
    {BatchShape(batch=1, tokens=192, words=128, types=8): [0], BatchShape(batch=1, tokens=32, words=16, types=4): [1]}
    >>> sorted({shape.batch for shape in workload_shapes(encoded, batch_size=8)})
    [1, 2, 4, 8]
  """
  first: dict[tuple[int, int, int], int] = {}
  for i, e in enumerate(encoded):
    first.setdefault(dataclasses.astuple(batch_shape([e], 1))[1:], i)
  sizes = BATCH_BUCKETS[: BATCH_BUCKETS.index(device_batch_size(batch_size)) + 1]
  reached: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
  for n in (1, 2, 3):
    for group in itertools.combinations_with_replacement(first, n):
      triple = tuple(max(dim) for dim in zip(*group))
      reached.setdefault(triple, list(dict.fromkeys(group)))
  out: dict[BatchShape, list[int]] = {}
  for triple, group in reached.items():
    for b in sizes:
      if len(group) <= b:
        out[BatchShape(b, *triple)] = [first[g] for g in group]
  return out


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
      raise ValueError(
        f"text {i} ({e.num_tokens} tokens, {e.num_words} words, {len(e.type_token_index)} types) does not fit {shape}"
      )
    ids[i, : e.num_tokens] = e.input_ids
    mask[i, : e.num_tokens] = 1
    words[i, : e.num_words] = e.word_token_index
    types[i, : len(e.type_token_index)] = e.type_token_index
    num_words[i] = e.num_words
  return dict(input_ids=ids, attention_mask=mask, word_token_index=words, num_words=num_words, type_token_index=types)
