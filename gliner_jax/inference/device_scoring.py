"""The device functions a uni-encoder predictor scores with: span candidates above a threshold, or a token
model's start / end / inside probabilities. `jitted_scoring` compiles both over a model's apply function; a
training run passes its own (compiled for its sharded parameters) as `GLiNER(..., scoring=...)`.

Example:
  >>> import jax.numpy as jnp
  >>> from types import SimpleNamespace
  >>> def apply(variables, **batch):  # a stand-in model: span logits [B, W, K, C] and their masks
  ...   logits = jnp.log(batch["p"]) - jnp.log1p(-batch["p"])
  ...   return SimpleNamespace(logits=logits, span_mask=jnp.ones(logits.shape[:3], bool), type_mask=batch["types"])
  >>> p = jnp.array([[[[0.9, 0.2], [0.6, 0.7]]]])  # one row, one word, widths 1-2, two types
  >>> count, index, scores, _ = jitted_scoring(apply).candidates({}, {"p": p, "types": jnp.array([[True, False]])},
  ...                                                              0.5, cap=4)
  >>> int(count[0]), index[0, :2].tolist(), [round(float(x), 2) for x in scores[0, :2]]  # type 1 is padding
  (2, [0, 2], [0.9, 0.6])
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax

from gliner_jax.inference.candidates import threshold_candidates


@dataclasses.dataclass(frozen=True)
class DeviceScoring:
  """The device functions a uni-encoder predictor scores with (jitted by `GLiNER` unless given):

  candidates(variables, batch, threshold, *, cap): `threshold_candidates` of a span model's batch;
  token_probs(variables, batch): a token model's sigmoid(logits) [B, W, C, 3].

  Example (scoring with a training run's compiled forward, parameters kept where they are; not run here: it
  needs a run's `forward`, `token_forward` and parameters, see `gliner_jax.training.steps.TrainComponents`):
    >>> scoring = DeviceScoring(candidates=lambda _v, batch, threshold, *, cap: forward(params, batch, threshold, cap),
    ...                         token_probs=lambda _v, batch: token_forward(params, batch))  # doctest: +SKIP
    >>> model = GLiNER(config, params, tokenizer, scoring=scoring)  # doctest: +SKIP
  """

  candidates: Callable[..., Any]
  token_probs: Callable[..., Any]


def span_candidates(apply: Callable[..., Any], variables, batch, threshold, *, cap: int):
  """`threshold_candidates` of sigmoid(span logits) over the valid spans and real types of `apply`'s output."""
  out = apply(variables, **batch)
  valid = out.span_mask[..., None] & out.type_mask[:, None, None, :]
  return threshold_candidates(jax.nn.sigmoid(out.logits), valid, threshold, cap)


def token_probabilities(apply: Callable[..., Any], variables, batch):
  """A token model's per-word start / end / inside probabilities, sigmoid(logits) [B, W, C, 3]."""
  return jax.nn.sigmoid(apply(variables, **batch).logits)


def jitted_scoring(apply: Callable[..., Any]) -> DeviceScoring:
  """Both device functions over `apply(variables, **batch)`, jitted (`cap` static)."""
  return DeviceScoring(
    candidates=jax.jit(functools.partial(span_candidates, apply), static_argnames=("cap",)),
    token_probs=jax.jit(functools.partial(token_probabilities, apply)),
  )
