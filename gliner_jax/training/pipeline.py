"""The training loop's input pipeline: this process's data shards, batched ahead in a background thread.

`ShardedBatches` joins the `BatchIterator`s of the data shards this process owns into its rows of each
global batch (a `HostBatch`, which carries the iterators' states and recipe counters right after it, so
a checkpoint saved after a step resumes at the next batch however many were built ahead). `Prefetcher`
builds them in a thread, up to `depth` ahead (0: in the caller's thread, when asked).

Example:
  >>> from transformers import AutoTokenizer
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> from gliner_jax.data.readers import NERExample
  >>> from gliner_jax.data.recipe import RecipeConfig
  >>> from gliner_jax.processing.prompts import PromptTokenizer
  >>> ptok = PromptTokenizer(AutoTokenizer.from_pretrained(DEFAULT_MODEL), GLiNERConfig.load(DEFAULT_MODEL))
  >>> examples = [NERExample(["Ada", "met", "Babbage", "in", "London"], [(0, 0, "person"), (4, 4, "city")])] * 9
  >>> batches = ShardedBatches({0: BatchIterator(examples, ptok, RecipeConfig(batch_size=4), seed=0)})
  >>> prefetcher = Prefetcher(batches.next_host_batch, depth=2)
  >>> host_batch, waited_seconds = prefetcher.next()
  >>> host_batch.arrays["input_ids"].shape, sorted(host_batch.data_state)
  ((4, 32), [0])
  >>> prefetcher.close()
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar

import numpy as np

from gliner_jax.data.batch_iterator import BatchIterator
from gliner_jax.data.recipe import batch_tokens

T = TypeVar("T")

# Axis names of every training-batch array (B batch, T tokens, W words, K widths, C types, 3 token marks)
# and the value its padding holds. Span models have span_mask; token_level models word_mask.
_SPAN_AXES = {"labels": ("B", "W", "K", "C"), "span_mask": ("B", "W", "K")}
_TOKEN_AXES = {"labels": ("B", "W", "C", "3"), "word_mask": ("B", "W")}
_AXES = {
  "input_ids": ("B", "T"),
  "attention_mask": ("B", "T"),
  "word_token_index": ("B", "W"),
  "num_words": ("B",),
  "type_token_index": ("B", "C"),
  "type_mask": ("B", "C"),
}
_FILL = {"word_token_index": -1, "type_token_index": -1}


def batch_dims(batch: Mapping[str, np.ndarray]) -> tuple[int, int, int]:
  """(tokens, words, types) of a training batch (types: its type_mask's, which every model's batch has)."""
  return (batch["input_ids"].shape[1], batch["word_token_index"].shape[1], batch["type_mask"].shape[1])


def pad_training_batch(batch: Mapping[str, np.ndarray], dims: tuple[int, int, int], pad_id: int) -> dict:
  """A recipe batch padded to (tokens, words, types) = `dims`, as if the recipe had built it at that shape.

  Example:
    >>> batch = {"input_ids": np.ones((2, 16), np.int32), "word_token_index": np.zeros((2, 8), np.int32),
    ...          "type_mask": np.ones((2, 4), bool), "labels": np.zeros((2, 8, 4, 4)), "span_mask": np.ones((2, 8, 4))}
    >>> padded = pad_training_batch(batch, (128, 48, 8), pad_id=0)   # a span model's batch, max_width 4
    >>> padded["labels"].shape, padded["input_ids"].shape, int(padded["type_mask"].sum())
    ((2, 48, 4, 8), (2, 128), 8)
  """
  axes = {**_AXES, **(_SPAN_AXES if "span_mask" in batch else _TOKEN_AXES)}
  size = dict(zip("TWC", dims))
  out = {}
  for key, array in batch.items():
    if key not in axes:
      raise ValueError(f"cannot pad {key!r}: only the arrays of uni-encoder batches ({sorted(axes)})")
    names = axes[key]
    widths = [(0, size[n] - d if n in size else 0) for n, d in zip(names, array.shape)]
    if any(w < 0 for _, w in widths):
      raise ValueError(f"{key} of shape {array.shape} does not fit {dims}")
    fill = pad_id if key == "input_ids" else _FILL.get(key, 0)
    out[key] = np.pad(array, widths, constant_values=fill) if any(w for _, w in widths) else array
  return out


def concat_batches(batches: Sequence[Mapping[str, np.ndarray]], pad_id: int) -> dict[str, np.ndarray]:
  """Rows of several recipe batches, in order, padded to their largest (tokens, words, types)."""
  if len(batches) == 1:
    return dict(batches[0])
  dims = tuple(max(d) for d in zip(*(batch_dims(b) for b in batches)))
  same = all(batch_dims(b) == dims for b in batches)
  padded = batches if same else [pad_training_batch(b, dims, pad_id) for b in batches]
  return {k: np.concatenate([b[k] for b in padded]) for k in padded[0]}


def sum_counters(counters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  """Field-wise sum of counter dicts (`dataclasses.asdict(RecipeStats)`); nested dicts are summed per key,
  fields that are not numbers are left out."""
  out: dict[str, Any] = {}
  for c in counters:
    for key, value in c.items():
      if isinstance(value, Mapping):
        out[key] = sum_counters([out.get(key, {}), value])
      elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        out[key] = out.get(key, 0) + value
  return out


@dataclasses.dataclass(frozen=True)
class HostBatch:
  """This process's rows of one global batch, and the data state right after building them."""

  arrays: dict[str, np.ndarray]
  data_state: dict[int, dict[str, Any]]  # data shard -> its BatchIterator's get_state()
  stats: dict[str, Any]  # the recipe counters (RecipeStats fields), summed over this process's shards
  tokens: int  # real (non-pad) tokens in these rows

  @property
  def dims(self) -> tuple[int, int, int]:
    return batch_dims(self.arrays)


class ShardedBatches:
  """This process's part of every global batch: the rows of its data shards' iterators, in shard order.

  With one shape per run (`RecipeConfig.fixed_shape`) the shards' batches line up as built; otherwise
  they are padded to their largest dimensions (one process only: others could not know that shape).
  """

  def __init__(self, iterators: Mapping[int, BatchIterator]):
    if not iterators:
      raise ValueError("ShardedBatches needs at least one data shard")
    self.iterators = dict(sorted(iterators.items()))
    first = next(iter(self.iterators.values()))
    self.pad_id = first.prompt_tokenizer.pad_id

  @property
  def shards(self) -> list[int]:
    return list(self.iterators)

  @property
  def shapes(self) -> set[tuple[int, int, int]]:
    """Every (tokens, words, types) the batches can have: the shapes the config names."""
    return {(s.tokens, s.words, s.types) for it in self.iterators.values() for s in it.shapes}

  def stats(self) -> dict[str, Any]:
    return sum_counters([dataclasses.asdict(it.stats) for it in self.iterators.values()])

  def next_host_batch(self) -> HostBatch:
    arrays = concat_batches([next(it) for it in self.iterators.values()], self.pad_id)
    return HostBatch(arrays, self.get_state(), self.stats(), batch_tokens(arrays))

  def get_state(self) -> dict[int, dict[str, Any]]:
    return {shard: it.get_state() for shard, it in self.iterators.items()}

  def set_state(self, states: Mapping[int, dict[str, Any]]) -> None:
    missing = sorted(set(self.iterators) - set(states))
    if missing:
      raise ValueError(f"no saved data state for data shards {missing}")
    for shard, it in self.iterators.items():
      it.set_state(states[shard])


class Prefetcher(Generic[T]):
  """Calls `produce()` in a background thread and keeps up to `depth` results waiting (a bounded queue);
  `depth=0` calls it in the caller's thread at each `next()`. An exception in `produce` is raised by the
  `next()` that would have returned its result.
  """

  def __init__(self, produce: Callable[[], T], depth: int):
    if depth < 0:
      raise ValueError(f"prefetch depth must be >= 0, got {depth}")
    self._produce = produce
    self.depth = depth
    self._stop = threading.Event()
    self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    self._thread = None
    if depth:
      self._thread = threading.Thread(target=self._work, name="gliner-jax-prefetch", daemon=True)
      self._thread.start()

  def _work(self) -> None:
    while not self._stop.is_set():
      try:
        item = (self._produce(), None)
      except BaseException as err:  # noqa: BLE001 -- handed to the consumer, which re-raises it
        item = (None, err)
      while not self._stop.is_set():
        try:
          self._queue.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      if item[1] is not None:
        return

  def next(self) -> tuple[T, float]:
    """The next result and the seconds this call waited for it."""
    began = time.perf_counter()
    if not self.depth:
      return self._produce(), time.perf_counter() - began
    item, err = self._queue.get()
    if err is not None:
      raise err
    return item, time.perf_counter() - began

  def close(self) -> None:
    """Stops the thread (a result being built is finished and dropped)."""
    self._stop.set()
    if self._thread is not None:
      while self._thread.is_alive():
        try:
          self._queue.get_nowait()
        except queue.Empty:
          pass
        self._thread.join(timeout=0.1)
