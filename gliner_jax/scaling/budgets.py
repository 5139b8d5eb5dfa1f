"""Compute budgets: training FLOPs of the real data stream, and the steps that spend a budget within 1%.

A run's training FLOPs are counted by the analytic counter (`gliner_jax.model.flops`, forward x 3) on every
row of every batch at its real (unpadded) token, word and type counts: attention over short rows, the span
head and the type product are counted as the model runs them, not as 6ND. The stream is rebuilt exactly as
training builds it (same examples, shuffle, seed, recipe and data shards), so the counts are those of the run.
The data axis of each step is counted too: rows (examples), labelled spans, and distinct entity types seen.

Example (not run as a doctest: building the stream reads and tokenizes the config's data, ~30 s here;
tests/test_scaling_budgets.py runs it):
  >>> stream = TrainingStream.from_config(config)  # the batches `train_and_evaluate` would see  # doctest: +SKIP
  >>> plan = solve_steps(stream, step_flops_fn(stream.model_config), budget=1e14)  # doctest: +SKIP
  >>> plan.steps, plan.flops / 1e14  # within 1% of the budget  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import jax
import numpy as np

from gliner_jax.data.batch_iterator import BatchIterator
from gliner_jax.data.grain_source import make_example_dataset
from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.flops import model_flops, train_step_flops
from gliner_jax.processing.prompts import PromptTokenizer
from gliner_jax.training.data import load_examples, shard_seed
from gliner_jax.training.model_init import starting_point

BUDGET_TOLERANCE = 0.01


@dataclasses.dataclass(frozen=True)
class StepCounts:
  """What one training step reads: (tokens, words, types) of each real row, labelled spans, positive types."""

  rows: tuple[tuple[int, int, int], ...]
  spans: int
  types: frozenset[str]

  @property
  def tokens(self) -> int:
    return sum(r[0] for r in self.rows)


class _CountingIterator(BatchIterator):
  """A BatchIterator that also records each batch's positive entity types (labelled and in the prompt)."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.last_types: set[str] = set()

  def _assemble_rows(self, rows):
    self.last_types = {t for r in rows for _, _, t in r.example.spans if t in r.prompt}
    return super()._assemble_rows(rows)


class TrainingStream:
  """The training batches of a config, counted step by step (extended on demand, kept in memory).

  Rebuilds the data shards of a one-process run (`config.train.data_shards`, default one per JAX process),
  with the examples, seed and recipe of `gliner_jax.training.data.make_train_iterator`.
  """

  def __init__(self, examples, prompt_tokenizer: PromptTokenizer, recipe: RecipeConfig, seed: int, shard_count: int):
    if not examples:
      raise ValueError("no training examples: check config.data.train")
    self.model_config = prompt_tokenizer.config
    self._iterators = []
    self._types: list[set[str]] = []
    self._spans: list[int] = []
    for j in range(shard_count):
      dataset = make_example_dataset(
        examples, seed=seed, shuffle=True, num_epochs=None, shard_index=j, shard_count=shard_count
      )
      self._iterators.append(_CountingIterator(dataset, prompt_tokenizer, recipe, seed=shard_seed(seed, j)))
    self.steps: list[StepCounts] = []

  @classmethod
  def from_config(cls, config, start=None) -> "TrainingStream":
    """The stream of `config.data.train` for `config.model` (its tokenizer and max_len / max_width / max_types)."""
    start = start or starting_point(config.model)
    shard_count = int(config.train.get("data_shards", 0) or jax.process_count())
    batch = int(config.train.batch_size)
    if batch % shard_count:
      raise ValueError(f"train.batch_size {batch} does not split into {shard_count} data shards")
    recipe = RecipeConfig.from_model_config(start.config, batch_size=batch // shard_count, **dict(config.recipe))
    ptok = PromptTokenizer(start.tokenizer, start.config)
    return cls(load_examples(config.data.train), ptok, recipe, int(config.train.seed), shard_count)

  def extend_to(self, steps: int) -> None:
    while len(self.steps) < steps:
      rows, spans, types = [], 0, set()
      for it in self._iterators:
        batch = next(it)
        tokens = np.asarray(batch["attention_mask"]).sum(axis=1)
        words = np.asarray(batch["num_words"])
        ntypes = np.asarray(batch["type_mask"]).sum(axis=1)
        # a row whose prompt drew no type still runs the encoder and span head: counted with one type
        rows += [(int(t), int(w), max(int(c), 1)) for t, w, c in zip(tokens, words, ntypes) if t > 0 and w > 0]
        # labelled spans trained on: positive label cells (span heads), span starts (token_level)
        labels = np.asarray(batch["labels"])
        spans += int(labels.sum() if "span_mask" in batch else (labels[..., 0] > 0).sum())
        types |= it.last_types
      self.steps.append(StepCounts(tuple(rows), spans, frozenset(types)))


def step_flops_fn(model_config: GLiNERConfig, impl: str = "factored") -> Callable[[StepCounts], float]:
  """Training FLOPs of one step (forward x 3, analytic) summed over its real rows at their own sizes."""

  @functools.cache
  def row_flops(tokens: int, words: int, types: int) -> float:
    return train_step_flops(model_flops(model_config, tokens, words, types, impl=impl).total)

  return lambda step: float(sum(row_flops(*row) for row in step.rows))


@dataclasses.dataclass(frozen=True)
class BudgetPlan:
  """The steps that spend a FLOP budget, and the data they read (examples = rows, spans, distinct types)."""

  budget: float
  steps: int
  flops: float
  examples: int
  tokens: int
  spans: int
  types_seen: int

  @property
  def relative_error(self) -> float:
    return abs(self.flops - self.budget) / self.budget


def cumulative_flops(steps: Sequence[StepCounts], flops_fn: Callable[[StepCounts], float]) -> np.ndarray:
  return np.cumsum([flops_fn(s) for s in steps])


def solve_steps(
  stream: TrainingStream,
  flops_fn: Callable[[StepCounts], float],
  budget: float,
  tolerance: float = BUDGET_TOLERANCE,
  max_steps: int = 10_000_000,
) -> BudgetPlan:
  """The number of steps whose training FLOPs come closest to `budget`; an error if not within `tolerance`.

  Not run as a doctest (it needs a `TrainingStream`, see the module's example):

  >>> plan = solve_steps(stream, step_flops_fn(config), 2e13)  # doctest: +SKIP
  >>> plan.relative_error <= 0.01  # doctest: +SKIP
  True
  """
  if not np.isfinite(budget) or budget <= 0:
    raise ValueError(f"budget must be a positive number of FLOPs, got {budget!r}")
  total, flops = 0.0, []
  step = 0
  while total < budget:
    if step >= max_steps:
      raise ValueError(f"budget {budget:.3g} FLOPs needs more than {max_steps} steps")
    stream.extend_to(step + 1)
    total += flops_fn(stream.steps[step])
    flops.append(total)
    step += 1
  # the first step that reaches the budget, or the one before it, whichever is closer
  steps = len(flops)
  if steps > 1 and budget - flops[-2] < flops[-1] - budget:
    steps -= 1
  spent = flops[steps - 1]
  if abs(spent - budget) > tolerance * budget:
    raise ValueError(
      f"budget {budget:.4g} FLOPs: the closest step count ({steps}) spends {spent:.4g} ({abs(spent / budget - 1):.1%} "
      f"off, over {tolerance:.0%}); one step costs ~{spent / steps:.3g} FLOPs, so raise the budget or lower the batch"
    )
  taken = stream.steps[:steps]
  types = frozenset().union(*(s.types for s in taken))
  return BudgetPlan(
    budget=float(budget),
    steps=steps,
    flops=float(spent),
    examples=sum(len(s.rows) for s in taken),
    tokens=sum(s.tokens for s in taken),
    spans=sum(s.spans for s in taken),
    types_seen=len(types),
  )


def format_flops(flops: float) -> str:
  """A short, file-name-safe label: 1e13 -> '1e13', 2.5e14 -> '2.5e14'.

  >>> format_flops(1e13), format_flops(2.5e14), format_flops(3.0e12)
  ('1e13', '2.5e14', '3e12')
  """
  mantissa, exponent = f"{float(flops):.3e}".split("e")
  mantissa = mantissa.rstrip("0").rstrip(".")
  return f"{mantissa}e{int(exponent)}"


def describe(plan: BudgetPlan) -> dict[str, Any]:
  return dataclasses.asdict(plan) | {"relative_error": plan.relative_error}
