"""FLOP budgets: the counted stream is the training stream, and the solved steps match a brute-force search."""

import numpy as np
import pytest

from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.model.flops import model_flops
from gliner_jax.processing.prompts import PromptTokenizer
from gliner_jax.scaling import budgets, ladder
from gliner_jax.scaling.presets import minilm_ladder_base
from gliner_jax.training.data import load_examples
from gliner_jax.training.loop import build, training_batches


@pytest.fixture(scope="module")
def setup(minilm_dir):
  config = ladder.rung_config(
    minilm_ladder_base(batch_size=2), ladder.pretrained_rung(ladder.MINILM, 2, path=minilm_dir)
  )
  parts = build(config)
  stream = budgets.TrainingStream(
    load_examples(config.data.train),
    PromptTokenizer(parts.start.tokenizer, parts.config),
    RecipeConfig.from_model_config(parts.config, batch_size=2, **dict(config.recipe)),
    seed=0,
    shard_count=1,
  )
  return config, parts, stream


def test_the_counted_stream_is_the_training_stream(setup):
  config, parts, _ = setup
  counted = budgets.TrainingStream.from_config(config, parts.start)
  counted.extend_to(12)
  batches = training_batches(config, parts)
  for step in counted.steps:
    batch = batches.next_host_batch()
    assert step.tokens == batch.tokens
    mask = batch.arrays["attention_mask"].sum(axis=1)
    assert [r[0] for r in step.rows] == [int(t) for t in mask if t > 0]
    assert [r[1] for r in step.rows] == [int(w) for w, t in zip(batch.arrays["num_words"], mask) if t > 0]
    # labelled spans: the positive (word, width, type) cells of the batch's labels
    assert step.spans == int(batch.arrays["labels"].sum())


def _brute_force_steps(stream, config, budget, horizon):
  cumulative, total = [], 0.0
  for step in stream.steps[:horizon]:
    for tokens, words, types in step.rows:
      total += 3 * model_flops(config, tokens, words, types, impl="factored").total
    cumulative.append(total)
  errors = [abs(c - budget) for c in cumulative]
  best = int(np.argmin(errors))
  return best + 1, cumulative[best]


@pytest.mark.parametrize("budget", [2e11, 3.33e11, 5e11])
def test_solved_steps_match_brute_force_and_the_budget(setup, budget):
  _, parts, stream = setup
  plan = budgets.solve_steps(stream, budgets.step_flops_fn(parts.config), budget)
  steps, flops = _brute_force_steps(stream, parts.config, budget, len(stream.steps))
  assert (plan.steps, plan.flops) == (steps, pytest.approx(flops, rel=1e-12))
  assert plan.relative_error <= 0.01
  taken = stream.steps[: plan.steps]
  assert plan.examples == sum(len(s.rows) for s in taken)
  assert plan.tokens == sum(s.tokens for s in taken)
  assert plan.types_seen == len(set().union(*(s.types for s in taken)))


def test_more_budget_sees_more_data(setup):
  config, parts, stream = setup
  fn = budgets.step_flops_fn(parts.config)
  plans = [budgets.solve_steps(stream, fn, b) for b in (2e11, 4e11, 8e11)]
  for small, big in zip(plans, plans[1:]):
    assert big.steps > small.steps and big.tokens > small.tokens and big.spans > small.spans
    assert big.types_seen >= small.types_seen
  every_type = {t for ex in load_examples(config.data.train) for _, _, t in ex.spans}
  assert plans[-1].types_seen <= len(every_type)


def test_budgets_that_cannot_be_met_are_refused(setup):
  _, parts, stream = setup
  fn = budgets.step_flops_fn(parts.config)
  with pytest.raises(ValueError, match="raise the budget"):
    budgets.solve_steps(stream, fn, 1e9)  # below one step
  for bad in (0, -1.0, float("nan")):
    with pytest.raises(ValueError, match="positive number of FLOPs"):
      budgets.solve_steps(stream, fn, bad)
  with pytest.raises(ValueError, match="more than 3 steps"):
    budgets.solve_steps(stream, fn, 1e14, max_steps=3)


def test_format_flops():
  assert [budgets.format_flops(x) for x in (1e13, 2.5e14, 3.0e12, 4.8e11, 1.125e12)] == [
    "1e13",
    "2.5e14",
    "3e12",
    "4.8e11",
    "1.125e12",
  ]
