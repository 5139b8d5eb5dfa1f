"""Host-side decoding of token-level scores into entity spans, as gliner 0.2.29's TokenDecoder.

A token model gives, per word w and type c, probabilities p[w, c] = (start, end, inside). The
candidate spans of one text are the words st..ed (st <= ed, any width) of one type c with

* p_start[st, c] > threshold and p_end[ed, c] > threshold (compared in float32, as torch does),
* no word of st..ed with p_inside[w, c] < threshold (compared in float64, as the reference's Python
  floats: an inside probability equal to the threshold passes),

scored min(p_start[st, c], p_end[ed, c], p_inside[st..ed, c]). The reference lists them by start word,
then type, then end word; `gliner_jax.inference.decoding.decode_spans` then keeps them greedily by score, ties in
that order, with the same flat / nested / multi_label rules as the span decoder.

Only numpy is used; the cost is O(W * C) plus the number of (start, end) pairs tried.

Example:
  >>> p = np.zeros((3, 1, 3), np.float32); p[0, 0] = (0.9, 0.1, 0.8); p[1, 0] = (0.1, 0.7, 0.6)
  >>> decode_token_spans(p, 0.5, num_words=3)
  [SpanPrediction(start=0, end=1, label=0, score=0.6000000238418579)]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gliner_jax.inference.decoding import SpanPrediction, check_threshold, decode_spans

START, END, INSIDE = 0, 1, 2


def _check_probs(probs: np.ndarray, ndim: int) -> np.ndarray:
  probs = np.asarray(probs)
  if probs.ndim != ndim or probs.shape[-1] != 3:
    raise ValueError(
      f"probs must have shape {'[B, W, C, 3]' if ndim == 4 else '[W, C, 3]'} "
      f"(start, end, inside), got shape {probs.shape}"
    )
  if not np.issubdtype(probs.dtype, np.floating) and not (probs.dtype.kind == "V" and "float" in probs.dtype.name):
    raise ValueError(f"probs must be a floating-point array, got dtype {probs.dtype}")
  return probs.astype(np.float32)


def token_candidates(
  probs: np.ndarray, threshold: float, num_words: int, num_types: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """The candidate spans of one text's probs[W, C, 3], in the reference's order.

  Only the first `num_words` words and `num_types` types (default: all) are read.

  Returns:
    (starts, widths, labels, scores): int64 arrays and float32 scores, sorted by (start, label, end).

  Example:
    >>> p = np.zeros((2, 1, 3), np.float32); p[:, 0] = (0.9, 0.9, 0.9)
    >>> [a.tolist() for a in token_candidates(p, 0.5, num_words=2)]
    [[0, 0, 1], [0, 1, 0], [0, 0, 0], [0.8999999761581421, 0.8999999761581421, 0.8999999761581421]]
  """
  threshold = check_threshold(threshold)
  p = _check_probs(probs, 3)
  if not 0 <= num_words <= p.shape[0]:
    raise ValueError(f"num_words={num_words} must lie in [0, {p.shape[0]}]")
  num_types = p.shape[1] if num_types is None else num_types
  if not 0 <= num_types <= p.shape[1]:
    raise ValueError(f"num_types={num_types} must lie in [0, {p.shape[1]}]")
  p = p[:num_words, :num_types]
  limit = np.float32(threshold)
  is_start, is_end = p[..., START] > limit, p[..., END] > limit
  inside = p[..., INSIDE]
  fails = inside.astype(np.float64) < threshold
  # first_fail[w, c]: the first word >= w whose inside probability is below the threshold (num_words: none)
  first_fail = np.full((num_words + 1, num_types), num_words, np.int64)
  for w in range(num_words - 1, -1, -1):
    first_fail[w] = np.where(fails[w], w, first_fail[w + 1])
  starts, ends, labels, scores = [], [], [], []
  for st, c in zip(*np.nonzero(is_start)):
    stop = first_fail[st, c]
    ed = st + np.flatnonzero(is_end[st:stop, c])
    if not ed.size:
      continue
    run_min = np.minimum.accumulate(inside[st : ed[-1] + 1, c])[ed - st]
    scores.append(np.minimum(np.minimum(run_min, p[ed, c, END]), p[st, c, START]))
    starts.append(np.full(ed.size, st, np.int64))
    ends.append(ed.astype(np.int64))
    labels.append(np.full(ed.size, c, np.int64))
  if not starts:
    empty = np.zeros((0,), np.int64)
    return empty, empty, empty, np.zeros((0,), np.float32)
  starts, ends, labels, scores = (np.concatenate(a) for a in (starts, ends, labels, scores))
  order = np.lexsort((ends, labels, starts))
  starts, ends, labels = starts[order], ends[order], labels[order]
  return starts, ends - starts, labels, scores[order].astype(np.float32)


def decode_token_spans(
  probs: np.ndarray,
  threshold: float,
  *,
  num_words: int,
  num_types: int | None = None,
  flat_ner: bool = True,
  multi_label: bool = False,
) -> list[SpanPrediction]:
  """Entity spans of one text from its token-level probs[W, C, 3] (see the module docstring).

  Example (word 0 starts a type-0 entity that word 1 ends; both are inside it):
    >>> probs = np.zeros((3, 1, 3), np.float32); probs[0, 0] = (0.9, 0.1, 0.8); probs[1, 0] = (0.1, 0.7, 0.6)
    >>> decode_token_spans(probs, 0.5, num_words=3, flat_ner=False)
    [SpanPrediction(start=0, end=1, label=0, score=0.6000000238418579)]
  """
  cand = token_candidates(probs, threshold, num_words, num_types)
  return decode_spans(*cand, num_words=num_words, flat_ner=flat_ner, multi_label=multi_label)


def decode_token_batch(
  probs: np.ndarray,
  threshold: float,
  num_words: Sequence[int],
  num_types: Sequence[int] | None = None,
  flat_ner: bool = True,
  multi_label: bool = False,
) -> list[list[SpanPrediction]]:
  """`decode_token_spans` for each text of probs[B, W, C, 3].

  Example (the second text has one word: its entity there is cut off):
    >>> probs = np.zeros((2, 3, 1, 3), np.float32); probs[:, 0, 0] = (0.9, 0.1, 0.8); probs[:, 1, 0] = (0.1, 0.7, 0.6)
    >>> decode_token_batch(probs, 0.5, num_words=[3, 1], num_types=[1, 1])
    [[SpanPrediction(start=0, end=1, label=0, score=0.6000000238418579)], []]
  """
  probs = _check_probs(probs, 4)
  if isinstance(num_words, (int, np.integer)) or len(num_words) != probs.shape[0]:
    raise ValueError(f"num_words must give one word count per text (batch {probs.shape[0]}), got {num_words!r}")
  if num_types is not None and len(num_types) != probs.shape[0]:
    raise ValueError(f"num_types must give one type count per text (batch {probs.shape[0]}), got {num_types!r}")
  return [
    decode_token_spans(
      probs[b],
      threshold,
      num_words=int(n),
      num_types=None if num_types is None else int(num_types[b]),
      flat_ner=flat_ner,
      multi_label=multi_label,
    )
    for b, n in enumerate(num_words)
  ]
