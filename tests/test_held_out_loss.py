"""The scaling runner's held-out loss is each trainable kind's own training objective on one pass of held-out
batches: it equals the loss the run's train step reports on those batches (dropout 0, no negative sampling).

The token kind runs in the fast tier (it was the kind without a held-out loss); span and the bi-encoders are
slow: they share the code path and differ only in the registered loss and batches.
"""

from __future__ import annotations

import dataclasses
import types

import jax
import numpy as np
import pytest

from gliner_jax import DEFAULT_MODEL, GLiNERConfig
from gliner_jax.configs import tiny
from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.scaling.runner import held_out_loss
from gliner_jax.training.config import BUNDLED_TRAIN
from gliner_jax.training.data import load_source
from gliner_jax.training.kinds import TRAINING, training_kind
from gliner_jax.training.steps import build, initial_state

ENCODER = dict(
  model_type="bert",
  hidden_size=32,
  num_hidden_layers=1,
  num_attention_heads=2,
  intermediate_size=64,
  vocab_size=1,
  hidden_dropout_prob=0.0,  # no dropout anywhere: the train step's forward is then the deterministic one
  attention_probs_dropout_prob=0.0,
)
KIND_SECTIONS = {
  "span": dict(span_mode="markerV0"),
  "token": dict(span_mode="token_level"),
  "bi_encoder": dict(span_mode="markerV0", num_rnn_layers=0, labels_encoder_shape=dict(ENCODER, hidden_size=24)),
  "bi_encoder_token": dict(
    span_mode="token_level", num_rnn_layers=0, labels_encoder_shape=dict(ENCODER, hidden_size=24)
  ),
  "span_relex": dict(span_mode="markerV0", relations_layer="dot"),  # entity terms only: the data has no relations
}


def tiny_config(kind: str):
  config = tiny.get_config()
  config.model.update(encoder=ENCODER, tokenizer=DEFAULT_MODEL, dropout=0.0, max_len=32, **KIND_SECTIONS[kind])
  config.train.batch_size = 4
  config.recipe.update(fixed_shape=True)  # one batch shape: one compile of each program
  return config


@pytest.mark.parametrize(
  "kind", [pytest.param(k, marks=() if k == "token" else pytest.mark.slow) for k in KIND_SECTIONS]
)
def test_held_out_loss_is_the_train_steps_loss_on_held_out_batches(kind):
  config = tiny_config(kind)
  parts = build(config)
  state = initial_state(parts, 0)
  host = jax.device_get(state)
  params = host["params"]
  examples = load_source(dict(path=BUNDLED_TRAIN, max_examples=10))

  loss = held_out_loss(parts, state["params"], examples, config)
  recipe = RecipeConfig.from_model_config(parts.config, batch_size=4, **dict(config.recipe))
  batches = list(training_kind(parts.config).held_out_batches(examples, parts.start, recipe))
  assert len(batches) >= 2 and all(b["input_ids"].shape[0] == 4 for b in batches)  # the partial batch is dropped

  def train_step_loss(batch):  # the step donates its state: a fresh copy each time
    return float(parts.train_step(jax.tree.map(np.array, host), batch, jax.random.key(1))[1]["loss"])

  reported = [train_step_loss(b) for b in batches]
  assert loss is not None and np.isfinite(loss) and loss > 0
  np.testing.assert_allclose(loss, np.mean(reported), rtol=1e-5)
  np.testing.assert_allclose(held_out_loss(parts, params, examples, config, max_batches=1), reported[0], rtol=1e-5)
  assert held_out_loss(parts, params, [], config) is None


def test_a_kind_without_held_out_batches_has_no_held_out_loss(monkeypatch):
  config = GLiNERConfig.load(DEFAULT_MODEL).replace(span_mode="token_level")
  monkeypatch.setitem(TRAINING, "token", dataclasses.replace(TRAINING["token"], held_out_batches=None))
  examples = load_source(dict(path=BUNDLED_TRAIN, max_examples=10))
  assert held_out_loss(types.SimpleNamespace(config=config), {}, examples, tiny_config("token")) is None
