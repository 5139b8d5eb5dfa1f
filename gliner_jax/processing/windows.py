"""The one window planner: long texts are read in overlapping windows of words, never truncated."""

from __future__ import annotations

from typing import NamedTuple


class WordWindow(NamedTuple):
  """Words [start, stop) of a long text read together; spans starting in [own_start, own_stop) are this
  window's to report (each start belongs to exactly one window)."""

  start: int
  stop: int
  own_start: int
  own_stop: int


def word_windows(num_words: int, max_words: int, overlap: int) -> list[WordWindow]:
  """The one window planner (inference and training): windows of `max_words` words, `overlap` shared.

  Windows start every max_words - overlap words; the last one ends at the last word (so it is full
  length too). Each word start is owned by one window, the cut in the middle of each overlap, so a
  span of up to overlap // 2 words is read whole by the window owning its start; a span of up to
  `overlap` words lies whole in at least one window.

  Example:
    >>> [tuple(w) for w in word_windows(10, 4, 1)]
    [(0, 4, 0, 3), (3, 7, 3, 6), (6, 10, 6, 10)]
  """
  if max_words < 1 or not 0 <= overlap < max_words:
    raise ValueError(
      f"windows need max_words >= 1 and 0 <= overlap < max_words, got max_words={max_words}, overlap={overlap}"
    )
  if num_words <= max_words:
    return [WordWindow(0, num_words, 0, num_words)]
  stride = max_words - overlap
  starts = list(range(0, num_words - max_words, stride)) + [num_words - max_words]
  cuts = [0] + [(a + prev + max_words) // 2 for prev, a in zip(starts, starts[1:])] + [num_words]
  return [WordWindow(a, a + max_words, cuts[j], cuts[j + 1]) for j, a in enumerate(starts)]
