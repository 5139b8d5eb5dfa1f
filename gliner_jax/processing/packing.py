"""Packing short texts: several prompt + text sequences share one encoder row, each attending only to itself.

A batch of short texts padded row by row spends most of the encoder on padding when their lengths
differ, or when there are few texts per row of a long bucket. Packed, up to `capacity` tokens of
sequences go into each row (first-fit decreasing), `segment_ids` (1, 2, ... per sequence, 0 =
padding) give the encoder a block-diagonal mask and positions that restart per sequence
(`gliner_jax.model.encoders.attention.segment_mask`), and word / type indices point into the
flattened rows, so every text reads exactly as alone: the same entities (scores equal up to float
rounding). This is gliner's `infer_packing` idea; unlike gliner, absolute positions restart per sequence,
so BERT-style encoders give the unpacked result too. Only the encoder is packed: the span head still
runs per text, so items are first grouped by their word and type buckets (no more word padding than
unpacked).

Static shapes: rows per batch are `BATCH_BUCKETS` sizes, texts per batch `TEXT_BUCKETS` sizes (past 256
in multiples of 256), row length a `TOKEN_BUCKETS` size, so a stream of inputs compiles a bounded set of
programs.

Example (three texts of 200, 100 and 50 tokens, 8 words and 2 types each: texts 0 and 2 share a row of 256):
  >>> import numpy as np
  >>> encoded = [EncodedText(np.ones(n, np.int32), np.arange(8), np.arange(2)) for n in (200, 100, 50)]
  >>> (members, rows, shape), = packed_batches(encoded, batch_size=8, capacity=256)
  >>> members, rows, shape
  ([0, 2, 1], [[0, 2], [1]], PackedShape(rows=2, tokens=256, texts=4, words=8, types=4))
  >>> arrays = pad_packed_batch(encoded, rows, shape, pad_id=0)
  >>> arrays["segment_ids"].shape, arrays["segment_ids"][0, [0, 199, 200, 249, 250]].tolist()
  ((2, 256), [1, 1, 2, 2, 0])
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from gliner_jax.processing.buckets import (
  BATCH_BUCKETS,
  TOKEN_BUCKETS,
  TYPE_BUCKETS,
  WORD_BUCKETS,
  bucket,
  device_batch_size,
)
from gliner_jax.processing.prompts import EncodedText

# Texts per packed device batch: finer than BATCH_BUCKETS, as the span head runs once per text slot.
TEXT_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
# Tokens per packed row by default: long enough to hold several short texts, short enough that the
# block-diagonal attention (computed over the whole row) stays a small part of the encoder's work.
DEFAULT_PACKED_TOKENS = 256


@dataclasses.dataclass(frozen=True)
class PackedShape:
  """The static shape of a packed device batch: `rows` x `tokens` encoder inputs for `texts` texts."""

  rows: int
  tokens: int
  texts: int
  words: int
  types: int


def first_fit_decreasing(lengths: Sequence[int], capacity: int, window: int = 64) -> list[list[int]]:
  """Bins of indices whose lengths sum to at most `capacity` (a longer item gets a bin of its own).

  Longest first, each into the first of the last `window` open bins with room (all bins while there
  are at most `window`: plain first-fit decreasing), so thousands of texts pack in linear time.

  Example:
    >>> first_fit_decreasing([5, 3, 4, 2], capacity=7)
    [[0, 3], [2, 1]]
  """
  if capacity < 1:
    raise ValueError(f"capacity must be >= 1, got {capacity}")
  bins: list[list[int]] = []
  room: list[int] = []
  for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
    n = lengths[i]
    for b in range(max(0, len(bins) - window), len(bins)):
      if n <= room[b]:
        bins[b].append(i)
        room[b] -= n
        break
    else:
      bins.append([i])
      room.append(capacity - n)
  return bins


def _chunks(bins: list[list[int]], lengths: dict[int, int], per_batch: int):
  for lo in range(0, len(bins), per_batch):
    chunk = bins[lo : lo + per_batch]
    fill = max(sum(lengths[i] for i in b) for b in chunk)
    yield chunk, bucket(len(chunk), BATCH_BUCKETS), bucket(fill, TOKEN_BUCKETS)


def _encoder_cost(bins, lengths, per_batch: int, hidden_size: int) -> float:
  """Padded tokens the encoder runs, the attention's share (~ row length / 6 hidden) included."""
  return sum(rows * tokens * (1 + tokens / (6 * hidden_size)) for _, rows, tokens in _chunks(bins, lengths, per_batch))


def packed_batches(
  encoded: Sequence[EncodedText], batch_size: int, capacity: int = DEFAULT_PACKED_TOKENS, hidden_size: int = 768
) -> list[tuple[list[int], list[list[int]], PackedShape]]:
  """Device batches of packed rows: (members, rows, shape) with `rows` lists of indices into `encoded`
  (each row's sequences in order) and `members` their concatenation (a text's position in the batch).

  Items of one batch share their word and type buckets; up to `device_batch_size(batch_size)` rows each.
  Rows hold at most `capacity` tokens (or one longer item); for each group of items the row length is
  the token bucket up to `capacity` that runs the fewest padded tokens (weighing the attention's cost,
  which grows with the row length, by the encoder's `hidden_size`).
  """
  if capacity < 1:
    raise ValueError(f"packing capacity must be >= 1 tokens, got {capacity}")
  per_batch = device_batch_size(batch_size)
  groups: dict[tuple[int, int], list[int]] = {}
  for i, e in enumerate(encoded):
    key = (bucket(max(e.num_words, 1), WORD_BUCKETS), bucket(len(e.type_token_index), TYPE_BUCKETS))
    groups.setdefault(key, []).append(i)
  out = []
  for (words, types), indices in sorted(groups.items()):
    lengths = {i: encoded[i].num_tokens for i in indices}
    longest = max(lengths.values())
    sizes = [b for b in TOKEN_BUCKETS if longest <= b <= capacity] or [bucket(longest, TOKEN_BUCKETS)]
    options = []
    for size in sizes:
      bins = first_fit_decreasing([lengths[i] for i in indices], size)
      bins = [[indices[j] for j in b] for b in bins]
      options.append((_encoder_cost(bins, lengths, per_batch, hidden_size), -size, bins))
    _, _, bins = min(options, key=lambda o: o[:2])
    for chunk, rows, tokens in _chunks(bins, lengths, per_batch):
      members = [i for row in chunk for i in row]
      shape = PackedShape(rows=rows, tokens=tokens, texts=bucket(len(members), TEXT_BUCKETS), words=words, types=types)
      out.append((members, chunk, shape))
  return out


def pad_packed_batch(
  encoded: Sequence[EncodedText], rows: Sequence[Sequence[int]], shape: PackedShape, pad_id: int = 0
) -> dict[str, np.ndarray]:
  """The model's arrays for packed `rows` (lists of indices into `encoded`), exactly `shape`.

  input_ids / attention_mask / segment_ids are [rows, tokens]; word_token_index [texts, words] and
  type_token_index [texts, types] index the flattened rows * tokens; text j of the batch is the j-th
  sequence in row order.
  """
  if len(rows) > shape.rows or sum(len(r) for r in rows) > shape.texts:
    raise ValueError(f"{len(rows)} rows of {sum(len(r) for r in rows)} texts do not fit {shape}")
  ids = np.full((shape.rows, shape.tokens), pad_id, np.int32)
  segments = np.zeros((shape.rows, shape.tokens), np.int32)
  words = np.full((shape.texts, shape.words), -1, np.int32)
  types = np.full((shape.texts, shape.types), -1, np.int32)
  num_words = np.zeros((shape.texts,), np.int32)
  j = 0
  for r, row in enumerate(rows):
    offset = 0
    for s, i in enumerate(row):
      e = encoded[i]
      n = e.num_tokens
      if offset + n > shape.tokens or e.num_words > shape.words or len(e.type_token_index) > shape.types:
        raise ValueError(f"text {i} ({n} tokens, {e.num_words} words) does not fit {shape} at offset {offset}")
      ids[r, offset : offset + n] = e.input_ids
      segments[r, offset : offset + n] = s + 1
      base = r * shape.tokens + offset
      words[j, : e.num_words] = np.where(e.word_token_index >= 0, e.word_token_index + base, -1)
      types[j, : len(e.type_token_index)] = e.type_token_index + base
      num_words[j] = e.num_words
      offset += n
      j += 1
  return {
    "input_ids": ids,
    "attention_mask": (segments > 0).astype(np.int32),
    "segment_ids": segments,
    "word_token_index": words,
    "num_words": num_words,
    "type_token_index": types,
  }
