"""Candidate spans: what the device sends back above the threshold, and how each text's candidates are gathered.

The device keeps, per row, the first `cap` flat (span x type) indices and scores above the threshold
(`threshold_candidates`); the host fetches them (`fetch_candidates`, `row_candidates`), keeps those whose start
word the window owns (`add_owned`, windows overlap) and orders each text's candidates as the decoder expects
(`collect_candidates`).

Example (two rows of four span x type probabilities; a cap of 1 per row, which row 1 exceeds):
  >>> probs = np.array([[0.9, 0.2, 0.1, 0.3], [0.6, 0.8, 0.1, 0.7]], np.float32)
  >>> found = fetch_candidates(threshold_candidates(probs, np.ones((2, 4), bool), 0.5, cap=1))
  >>> for r in (0, 1):
  ...   idx, scores = row_candidates(found, r, 0.5)
  ...   print(idx.tolist(), scores.astype(float).round(2).tolist())
  [0] [0.9]
  [0, 1, 3] [0.6, 0.8, 0.7]
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

MAX_CANDIDATES_PER_ROW = 512


@dataclasses.dataclass(frozen=True)
class PlanItem:
  """One device row: a window of one text read with one group of labels."""

  text_index: int
  word_start: int
  word_stop: int
  label_offset: int
  own_start: int  # spans starting in [own_start, own_stop) are taken from this window
  own_stop: int


def threshold_candidates(probs: jax.Array, valid: jax.Array, threshold, cap: int):
  """On the device: per row, how many valid span x type probabilities pass `threshold`, the flat
  indices and scores of the first `cap` of them, and the whole flat row (fetched only past `cap`)."""
  flat = jnp.where(valid, probs, 0.0).reshape(probs.shape[0], -1)
  above = flat > threshold
  index = jax.vmap(lambda row: jnp.nonzero(row, size=cap, fill_value=0)[0])(above)
  return above.sum(axis=-1), index, jnp.take_along_axis(flat, index, axis=1), flat


def fetch_candidates(found):
  """`threshold_candidates`' outputs with all but the flat rows copied to the host."""
  count, index, scores, flat = found
  return (*jax.device_get((count, index, scores)), flat)


def row_candidates(found, r: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
  """Flat indices and scores above `threshold` in row `r` of `fetch_candidates`' outputs."""
  count, index, scores, flat = found
  if count[r] > index.shape[1]:  # rare: more candidates than the cap, fetch this row whole
    row = np.asarray(flat[r])
    idx = np.flatnonzero(row > np.float32(threshold))
    return idx, row[idx]
  return np.asarray(index[r, : count[r]]), np.asarray(scores[r, : count[r]])


def collect_candidates(per_text: dict[int, list[np.ndarray]], items: list[PlanItem], token_level: bool = False):
  """Each text's candidates (starts, widths, labels, scores) in the decoder's order: row-major
  (start, width, label) as gliner, or for token_level the token decoder's (start, label, end)."""
  out = {}
  for t in {it.text_index for it in items}:
    cand = np.concatenate(per_text[t], axis=1)
    scores = np.concatenate(per_text[-1 - t])
    order = np.lexsort((cand[1], cand[2], cand[0]) if token_level else (cand[2], cand[1], cand[0]))
    cand, scores = cand[:, order], scores[order]
    out[t] = (cand[0], cand[1], cand[2], scores)
  return _DefaultEmpty(out)


def add_owned(per_text: dict[int, list[np.ndarray]], item: PlanItem, start_in_window, width, label, scores) -> None:
  """Adds an item's candidates whose start word this window owns, in text words and global labels."""
  start = np.asarray(start_in_window) + item.word_start
  keep = (start >= item.own_start) & (start < item.own_stop)
  per_text.setdefault(item.text_index, []).append(
    np.stack([start[keep], np.asarray(width)[keep], np.asarray(label)[keep] + item.label_offset]).astype(np.int64)
  )
  per_text.setdefault(-1 - item.text_index, []).append(np.asarray(scores)[keep].astype(np.float32))


class _DefaultEmpty(dict):
  def __missing__(self, key):
    empty = np.zeros((0,), np.int64)
    return empty, empty, empty, np.zeros((0,), np.float32)
