"""The jitted programs of a training run: `build(config)` gives the model, optimizer, mesh, shardings, the
init function, the train step and the evaluation forwards (`TrainComponents`); `initial_state` places the
starting weights.

Everything kind-specific comes from the kind registries (`gliner_jax.model.kinds`: module, inputs, init
batch; `gliner_jax.training.kinds`: loss, its options, optimizer groups), so one train step serves every
model kind.

Example:
  >>> from gliner_jax.configs import tiny
  >>> parts = build(tiny.get_config())
  >>> state = initial_state(parts, seed=0)
  >>> state, metrics = parts.train_step(state, device_batch, jax.random.key(1))  # doctest: +SKIP
  (not run as a doctest: `device_batch` is one sharded batch of the run's pipeline, `gliner_jax.training.pipeline`)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gliner_jax.inference.candidates import threshold_candidates
from gliner_jax.inference.device_scoring import DeviceScoring
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.stack import match_layer_layout
from gliner_jax.model.kinds import kind_of, make_model
from gliner_jax.training import sharding as shd
from gliner_jax.training.kinds import training_kind
from gliner_jax.training.model_init import StartingPoint, starting_point
from gliner_jax.training.optimizer import OptimizerConfig, make_optimizer


@dataclasses.dataclass
class TrainComponents:
  """Everything `build` makes; the loop, tests and the AOT compile script reuse it."""

  config: GLiNERConfig
  start: StartingPoint
  model: Any  # the kind's flax module (`gliner_jax.model.kinds.make_model`)
  tx: Any
  schedules: Any
  mesh: Any
  rules: tuple
  state_shardings: Any
  batch_sharding: Any
  init_fn: Any
  train_step: Any
  loss_kwargs: dict
  # Evaluation forwards on the training shardings (params where they are, outputs replicated), jitted once per
  # run: `eval_scoring(params)` is the `DeviceScoring` of a float32 predictor over those parameters. None for
  # kinds whose predictor scores otherwise (`TrainingKind.shares_eval_forward`).
  eval_candidates: Any = None
  eval_token_probs: Any = None

  def eval_scoring(self, params) -> DeviceScoring | None:
    """The run's eval forwards over `params`, in the form a predictor's `scoring=` takes (None if not shared)."""
    if self.eval_candidates is None:
      return None
    return DeviceScoring(
      candidates=lambda _variables, batch, threshold, *, cap: self.eval_candidates(params, batch, threshold, cap),
      token_probs=lambda _variables, batch: self.eval_token_probs(params, batch),
    )


def compute_dtype(name: str):
  return {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[name]


def build(config, mesh=None, start: StartingPoint | None = None) -> TrainComponents:
  """Model, optimizer, mesh, shardings and the jitted init / train step for a config.

  The model, its inputs, its init batch, its loss and optimizer groups are those of the config's model
  kind (`gliner_jax.model.kinds`, `gliner_jax.training.kinds`).
  """
  start = start or starting_point(config.model)
  kind, trainer = kind_of(start.config), training_kind(start.config)
  model = make_model(
    start.config,
    dtype=compute_dtype(config.train.compute_dtype),
    span_head_impl=config.model.get("span_head_impl", "factored"),
  )
  opt_cfg = OptimizerConfig.from_dict({**dict(config.optimizer), "total_steps": config.train.num_steps})
  tx, schedules = make_optimizer(opt_cfg, is_encoder=trainer.is_encoder_param)
  mesh = mesh or shd.make_mesh(dict(config.mesh.shape))
  rules = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in config.mesh.rules)
  shd.check_batch_divisible(config.train.batch_size, mesh, rules)
  example = kind.dummy_batch(config.train.batch_size)

  def init_boxed(rng):
    params = model.init({"params": rng}, **example)["params"]
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}

  abstract = jax.eval_shape(init_boxed, jax.random.key(0))
  state_shardings = shd.logical_shardings(abstract, mesh, rules)
  init_fn = jax.jit(lambda rng: nn.meta.unbox(init_boxed(rng)), out_shardings=state_shardings)
  batch_sharding = shd.batch_sharding(mesh, rules)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  loss_kwargs = trainer.loss_options(config.loss)

  def train_step(state, batch, rng):
    dropout_rng, neg_rng = jax.random.split(jax.random.fold_in(rng, state["step"]))

    def loss_fn(params):
      out = model.apply(
        {"params": params}, **{k: batch[k] for k in kind.inputs}, deterministic=False, rngs={"dropout": dropout_rng}
      )
      return trainer.loss(out, batch, neg_rng, loss_kwargs)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    lrs = schedules.learning_rates(state["step"])
    # The loss only vouches for the parameters it was computed with; an overflowing gradient or
    # learning rate can turn the *updated* ones non-finite, and those are what gets checkpointed.
    finite = jnp.isfinite(loss) & jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)]))
    metrics = {
      "loss": loss,
      "grad_norm": optax.global_norm(grads),
      "learning_rate": lrs["head"],
      "encoder_learning_rate": lrs["encoder"],
      "finite": finite,
    }
    return {"step": state["step"] + 1, "params": params, "opt_state": opt_state}, metrics

  step_fn = jax.jit(
    train_step,
    in_shardings=(state_shardings, batch_sharding, replicated),
    out_shardings=(state_shardings, replicated),
    donate_argnums=(0,),
  )
  eval_candidates = eval_token_probs = None
  if trainer.shares_eval_forward:
    eval_model = make_model(start.config, span_head_impl="factored")  # float32, as a default GLiNER predicts
    param_shardings = state_shardings["params"]
    eval_candidates = jax.jit(
      functools.partial(eval_span_candidates, eval_model),
      static_argnums=(3,),
      in_shardings=(param_shardings, replicated, replicated),
      out_shardings=replicated,
    )
    eval_token_probs = jax.jit(
      lambda params, batch: jax.nn.sigmoid(eval_model.apply({"params": params}, **batch).logits),
      in_shardings=(param_shardings, replicated),
      out_shardings=replicated,
    )
  return TrainComponents(
    start.config,
    start,
    model,
    tx,
    schedules,
    mesh,
    rules,
    state_shardings,
    batch_sharding,
    init_fn,
    step_fn,
    loss_kwargs,
    eval_candidates,
    eval_token_probs,
  )


def eval_span_candidates(model, params, batch, threshold, cap: int):
  """The span candidates of `GLiNER._score` (`threshold_candidates` of the spans above `threshold`),
  computed with `params` on the training shardings."""
  out = model.apply({"params": params}, **batch)
  valid = out.span_mask[..., None] & out.type_mask[:, None, None, :]
  return threshold_candidates(jax.nn.sigmoid(out.logits), valid, threshold, cap)


def initial_state(parts: TrainComponents, seed: int):
  """Random init on the mesh, then the starting weights (if any) placed with the same shardings.

  Each process places only its shards of the starting weights; the random values are never gathered.
  """
  state = parts.init_fn(jax.random.key(seed))
  if parts.start.params is not None:
    loaded = match_layer_layout(parts.start.params, state["params"])  # stacked for scan_layers
    state["params"] = overlay(state["params"], loaded, parts.state_shardings["params"])
  return state


def overlay(fresh: Any, loaded: Any, shardings: Any, path: str = "") -> Any:
  """`fresh` (device arrays) with every leaf `loaded` (host arrays) provides placed instead (as `merge_params`)."""
  if loaded is None:
    return fresh
  if not isinstance(fresh, dict):
    if tuple(np.shape(loaded)) != tuple(fresh.shape):
      raise ValueError(f"starting weights: {path} has shape {np.shape(loaded)}, the model needs {fresh.shape}")
    host = np.asarray(loaded, dtype=np.float32)
    return jax.make_array_from_callback(host.shape, shardings, lambda index: host[index])
  unknown = sorted(set(loaded) - set(fresh))
  if unknown:
    raise ValueError(f"starting weights have entries the model does not: {[f'{path}/{u}' for u in unknown]}")
  return {k: overlay(v, loaded.get(k), shardings[k], f"{path}/{k}") for k, v in fresh.items()}
