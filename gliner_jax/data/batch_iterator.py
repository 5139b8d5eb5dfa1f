"""`BatchIterator`: a checkpointable stream of training batches built by the recipe (`gliner_jax.data.recipe`).

It windows a stream of `NERExample`s, draws each window's prompt, encodes rows (splitting those over the token
limit), carries rows past `batch_size` over to the next batch, and skips unusable examples with a warning. Its
state (`get_state` / `set_state`) is JSON and resumes the stream exactly. `gliner_jax.data.bi_encoder` and
`gliner_jax.data.relex_recipe` subclass it through its hooks (`_prompt_for`, `_start_batch`, `_count_types`,
`_assemble_rows`).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from gliner_jax.data.readers import NERExample
from gliner_jax.data.recipe import (
  EncodedRow,
  RecipeConfig,
  RecipeStats,
  assemble_batch,
  check_recipe_model,
  encode_rows,
  named_shapes,
  positive_types,
  sample_prompt,
  shape_config,
  span_types,
  split_into_windows,
  token_level_targets,
)
from gliner_jax.processing.buckets import BatchShape
from gliner_jax.processing.prompts import PromptTokenizer, validate_labels

logger = logging.getLogger(__name__)
_LOGGED_SKIPS = 20  # skipped examples named in the log; later ones are only counted
_SKIPS_IN_A_ROW = 1000  # this many unusable examples with no usable one between: the data or the recipe is wrong


class BatchIterator:
  """Yields training batches from a stream of `NERExample`s, with checkpointable state.

  Each batch takes `batch_size` windows (long passages are windowed first); negatives are drawn
  from the types of the batch's windows plus the last `cfg.type_memory` distinct types of earlier
  batches. Rows beyond `batch_size` (from subtoken splits) are carried to the next batch.
  `get_state()` is JSON-serialisable; it holds the rng, the buffered windows and carried rows, and
  the source position: the source iterator's own state if it has `get_state`/`set_state` (grain
  iterators), otherwise the number of examples consumed, which `set_state` skips in a fresh
  iteration of the source (a list, a re-iterable dataset or a new generator). Examples without
  words are skipped (`stats.empty_examples`); the last batch is padded unless `drop_remainder`.
  An unusable example (an entity type a prompt cannot hold, a prompt or one word over the token
  limit) is skipped too, counted in `stats.skipped_examples` and named in a warning: it never stops
  a run, unless 1000 come in a row (then the data or the recipe is wrong, and a ValueError says so).

  Example:
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> ptok = PromptTokenizer(AutoTokenizer.from_pretrained(DEFAULT_MODEL), GLiNERConfig.load(DEFAULT_MODEL))
    >>> examples = [NERExample(["Ada", "met", "Babbage", "in", "London"], [(0, 0, "person"), (4, 4, "city")])] * 5
    >>> it = BatchIterator(examples, ptok, RecipeConfig(batch_size=2), seed=0)
    >>> batch = next(it); state = it.get_state()
    >>> batch["input_ids"].shape, it.stats.rows
    ((2, 32), 2)
    >>> it2 = BatchIterator(examples, ptok, RecipeConfig(batch_size=2), seed=0); it2.set_state(state)
    >>> all((a == b).all() for a, b in zip(next(it2).values(), next(it).values()))  # continues like `it`
    True
  """

  def __init__(
    self,
    source: Iterable[NERExample],
    prompt_tokenizer: PromptTokenizer,
    cfg: RecipeConfig,
    seed: int = 0,
    *,
    drop_remainder: bool = False,
  ):
    self.prompt_tokenizer = prompt_tokenizer
    self.cfg = cfg
    self.drop_remainder = drop_remainder
    self.stats = RecipeStats()
    self._limit = check_recipe_model(prompt_tokenizer, cfg)
    self.cfg = shape_config(cfg, self._limit)
    self._source = source
    self._iter: Iterator | None = None
    self._rng = np.random.default_rng(seed)
    self._pending: collections.deque[NERExample] = collections.deque()
    self._carry: list[tuple[NERExample, tuple[str, ...]]] = []
    self._memory: list[str] = []
    self._consumed = 0
    self._exhausted = False
    self._skips_in_a_row = 0

  def __iter__(self) -> "BatchIterator":
    return self

  def _skip(self, why: str) -> None:
    self.stats.skipped_examples += 1
    self._skips_in_a_row += 1
    if self.stats.skipped_examples <= _LOGGED_SKIPS:
      logger.warning(
        "skipped training example %d: %s%s",
        self.stats.skipped_examples,
        why,
        "; later ones are only counted (RecipeStats.skipped_examples)"
        if self.stats.skipped_examples == _LOGGED_SKIPS
        else "",
      )
    if self._skips_in_a_row >= _SKIPS_IN_A_ROW:
      raise ValueError(f"{self._skips_in_a_row} training examples in a row were unusable, the last: {why}")

  @property
  def shapes(self) -> tuple[BatchShape, ...]:
    """Every batch shape this iterator can yield (`named_shapes`)."""
    return named_shapes(self.cfg, self._limit)

  def _source_iter(self) -> Iterator:
    if self._iter is None:
      self._iter = iter(self._source)
    return self._iter

  def _next_window(self) -> NERExample | None:
    while not self._pending:
      if self._exhausted:
        return None
      try:
        ex = next(self._source_iter())
      except StopIteration:
        self._exhausted = True
        return None
      self._consumed += 1
      if not isinstance(ex, NERExample):
        raise ValueError(f"source item {self._consumed - 1} is {type(ex).__name__}, not NERExample")
      self.stats.examples += 1
      if not ex.tokens:
        self.stats.empty_examples += 1
        continue
      types = positive_types(ex) + list(ex.negatives)
      try:  # before its types can join the pool that other examples draw negatives from
        if types:
          validate_labels(types)
      except ValueError as e:
        self._skip(f"example {ex.id!r}: bad entity type: {e}")
        continue
      self._pending.extend(split_into_windows(ex, self.cfg.max_len, self.cfg.overlap, self.stats))
    return self._pending.popleft()

  def __next__(self) -> dict[str, np.ndarray]:
    while True:
      batch = self._next_batch()
      if batch is not None:
        self._skips_in_a_row = 0
        return batch

  def _next_batch(self) -> dict[str, np.ndarray] | None:
    """The next batch, or None when every window taken for it was skipped."""
    size = self.cfg.batch_size
    carried, self._carry = self._carry[:size], self._carry[size:]
    windows = []
    while len(carried) + len(windows) < size:
      window = self._next_window()
      if window is None:
        break
      windows.append(window)
    if not carried and not windows:
      raise StopIteration
    short = len(carried) + len(windows) < size
    if self.drop_remainder and self._exhausted and not self._carry and short:
      raise StopIteration
    batch_types = span_types(windows)
    pool = batch_types | set(self._memory)
    self._start_batch(windows)
    pairs = list(carried)
    for w in windows:
      try:
        pairs.append((w, self._prompt_for(w, pool)))
      except ValueError as e:
        self._skip(str(e))
    rows = encode_rows(
      pairs, self.prompt_tokenizer, self._limit, self.cfg.overlap, self.stats, self._skip, self._count_types
    )
    self._carry += [(r.example, r.prompt) for r in rows[size:]]
    if self.cfg.type_memory:
      fresh = [t for t in self._memory if t not in batch_types] + sorted(batch_types)
      self._memory = fresh[-self.cfg.type_memory :]
    if not rows:
      return None
    return self._assemble_rows(rows[:size])

  def _count_types(self, prompt: tuple[str, ...]) -> int:
    """The entity types of a row's prompt (a relex prompt holds its relation types too)."""
    return len(prompt)

  def _start_batch(self, windows: Sequence[NERExample]) -> None:
    """Called with a batch's new windows before their prompts are drawn (`gliner_jax.data.relex_recipe` pools
    their relation types)."""

  def _prompt_for(self, window: NERExample, pool: set[str]) -> tuple[str, ...]:
    """A window's prompt (`sample_prompt`); `gliner_jax.data.bi_encoder` overrides it and `_assemble_rows`."""
    return tuple(sample_prompt(window, self._rng, pool, self.cfg, self.stats))

  def _assemble_rows(self, rows: Sequence[EncodedRow]) -> dict[str, np.ndarray]:
    return assemble_batch(
      rows, self.cfg, self.prompt_tokenizer.pad_id, self.stats, token_level_targets(self.prompt_tokenizer.config)
    )

  def get_state(self) -> dict[str, Any]:
    """JSON-serialisable state; pass it to `set_state` of a new iterator over the same source."""
    source_state = None
    if self._iter is not None and hasattr(self._iter, "get_state"):
      source_state = self._iter.get_state()
    return {
      "rng": self._rng.bit_generator.state,
      "pending": [ex.to_json() for ex in self._pending],
      "carry": [{"example": ex.to_json(), "prompt": list(p)} for ex, p in self._carry],
      "memory": list(self._memory),
      "consumed": self._consumed,
      "exhausted": self._exhausted,
      "source": source_state,
      "stats": dataclasses.asdict(self.stats),
    }

  def set_state(self, state: dict[str, Any]) -> None:
    """Restores `get_state()` output; the source is repositioned (see the class docstring)."""
    missing = {"rng", "pending", "carry", "memory", "consumed", "exhausted"} - set(state)
    if missing:
      raise ValueError(f"BatchIterator state is missing {sorted(missing)}")
    fresh = iter(self._source)
    if state.get("source") is not None and hasattr(fresh, "set_state"):
      fresh.set_state(state["source"])
    else:
      if fresh is self._iter or (fresh is self._source and self._consumed):
        raise ValueError(
          "cannot rewind a one-shot iterator source; build the BatchIterator on a "
          "list, a dataset or a fresh generator before calling set_state"
        )
      for i in range(state["consumed"]):
        try:
          next(fresh)
        except StopIteration:
          raise ValueError(
            f"the source ended after {i} examples; the state was saved after {state['consumed']}"
          ) from None
    self._iter = fresh
    self._rng.bit_generator.state = state["rng"]
    self._pending = collections.deque(NERExample.from_json(d) for d in state["pending"])
    self._carry = [(NERExample.from_json(d["example"]), tuple(d["prompt"])) for d in state["carry"]]
    self._memory = list(state["memory"])
    self._consumed = int(state["consumed"])
    self._exhausted = bool(state["exhausted"])
    if "stats" in state:
      self.stats = type(self.stats)(**state["stats"])
