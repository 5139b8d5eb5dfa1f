"""Sharded GLiNER training: `train_and_evaluate(config, workdir)`.

One jitted train step (forward, loss, backward, AdamW) with in/out shardings on a `Mesh` and a donated
state; shape-first initialisation; orbax checkpoints of the state, the data iterators and the config;
automatic resume from the workdir; `config.json` and `metrics.jsonl` in the workdir (process 0 writes
them). Single- or multi-process (`gliner_jax.training.distributed`): `config.train.batch_size` is the
global batch, each process builds the rows of its data shards.

The loop is pipelined: batches are built `config.train.prefetch` ahead in a background thread
(`gliner_jax.training.pipeline`) and the next one is handed to the devices while a step runs; metrics
stay on the devices until the next log / checkpoint / eval step, where every step's row is written and
finiteness is checked before anything is saved. prefetch=0 builds each batch after the previous step
finished and fetches every step's metrics at once (the unpipelined loop). Every batch shape must be one
the config names (`gliner_jax.data.recipe.named_shapes`), so a run compiles at most that many train
steps; compiled programs persist in `workdir/compilation_cache` (config.train.compilation_cache_dir).

The parts: `gliner_jax.training.steps` (the jitted init / train step / eval forwards), `gliner_jax.training.eval_step`
(evaluation and predictors over the current parameters), `gliner_jax.training.step_log` (the metrics rows),
`gliner_jax.training.kinds` (what differs between model kinds). The names this module used to hold are
re-exported here.

Example (not run as a doctest: it trains for about a minute on 2 cores; tests/test_train.py runs it):
  >>> from gliner_jax.configs import tiny
  >>> result = train_and_evaluate(tiny.get_config(), "/tmp/gliner_tiny")  # doctest: +SKIP
  >>> result.final_step, result.last_eval["eval_f1"]  # doctest: +SKIP
  >>> result.predictor.predict_entities("Ada Lovelace was born in London.", ["person", "city"])  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
from typing import Any

import jax
import numpy as np

from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.inference.compile_counter import CompileCounter
from gliner_jax.interop import storage
from gliner_jax.model.flops import model_flops
from gliner_jax.model.kinds import UNI_ENCODER_INPUTS as MODEL_INPUTS  # noqa: F401  (re-exported)
from gliner_jax.model.kinds import uni_encoder_dummy_batch as dummy_batch  # noqa: F401  (re-exported)
from gliner_jax.training import sharding as shd
from gliner_jax.training.checkpointing import TrainCheckpointer
from gliner_jax.training.data import load_examples
from gliner_jax.training.distributed import process_shards
from gliner_jax.training.eval_step import eval_predictor, evaluate, inference_model  # noqa: F401  (re-exported)
from gliner_jax.training.kinds import training_kind
from gliner_jax.training.metrics_log import MetricsWriter, NullWriter
from gliner_jax.training.mfu import FALLBACK_PEAK_FLOPS, cpu_peak_flops, peak_flops_per_device  # noqa: F401
from gliner_jax.training.model_init import starting_point  # noqa: F401  (re-exported)
from gliner_jax.training.pipeline import HostBatch, Prefetcher, ShardedBatches
from gliner_jax.training.step_log import PendingStep, StepLog
from gliner_jax.training.steps import TrainComponents, build, compute_dtype, initial_state  # noqa: F401  (re-exported)

DEFAULT_COMPILATION_CACHE = "{workdir}/compilation_cache"


class NonFiniteLossError(FloatingPointError):
  """Raised when the loss or the updated parameters are NaN or infinite; the last good checkpoint is kept."""


def training_recipe(config, parts: TrainComponents, batch_size: int | None = None) -> RecipeConfig:
  """The recipe of `config.recipe` for this model; multi-process runs always pad to one fixed shape."""
  overrides = dict(config.get("recipe", {}))
  if jax.process_count() > 1 and not overrides.get("fixed_shape"):
    logging.info("%d processes: every batch is padded to one shape (recipe.fixed_shape)", jax.process_count())
    overrides["fixed_shape"] = True
  size = batch_size or config.train.batch_size
  return RecipeConfig.from_model_config(parts.config, batch_size=size, **overrides)


def training_batches(config, parts: TrainComponents) -> ShardedBatches:
  """This process's data shards of config.data.train (config.train.data_shards, default one per process).

  Example:
    >>> from gliner_jax.configs import tiny
    >>> config = tiny.get_config(); config.train.data_shards = 2
    >>> batches = training_batches(config, build(config)); batches.shards  # one process, data_shards=2
    [0, 1]
    >>> batches.next_host_batch().arrays["input_ids"].shape[0]   # both halves of the global batch
    8
  """
  shard_count = int(config.train.get("data_shards", 0) or jax.process_count())
  batch_size = config.train.batch_size
  shards = process_shards(parts.batch_sharding, batch_size, shard_count)
  recipe = training_recipe(config, parts, batch_size // shard_count)
  examples = load_examples(config.data.train)
  return training_kind(parts.config).batches(examples, parts.start, recipe, config.train.seed, shards, shard_count)


def compilation_cache(config, workdir: str) -> str | None:
  """Turns on the persistent compilation cache of config.train.compilation_cache_dir ("{workdir}" is replaced
  by the workdir; "" turns it off); returns its directory. Left at its default, a cache directory set
  before (JAX_COMPILATION_CACHE_DIR, or an earlier run in this process) is kept.
  """
  setting = config.train.get("compilation_cache_dir", DEFAULT_COMPILATION_CACHE)
  if not setting:
    return None
  if setting == DEFAULT_COMPILATION_CACHE and jax.config.jax_compilation_cache_dir:
    return jax.config.jax_compilation_cache_dir
  path = storage.resolve(setting.replace("{workdir}", str(workdir).rstrip("/")))
  jax.config.update("jax_compilation_cache_dir", path)
  return path


@dataclasses.dataclass
class TrainResult:
  """What `train_and_evaluate` built and ended with, so callers need not rebuild or recompile anything.

  state: the final train state (`step`, `params`, `opt_state`; sharded as trained).
  parts: the run's `TrainComponents` (model, shardings, jitted train step and eval forwards).
  predictor: a predictor of the model's kind over the final parameters, scoring with the run's eval forwards
    where the kind shares them (`gliner_jax.training.eval_step.eval_predictor`).
  start_step / final_step: the step the run resumed from (0: a fresh run) and the last step trained.
  last_train: the last metrics row of a train step (None if no step ran); last_eval: the last evaluation
    (None without eval data or steps).
  """

  state: dict[str, Any]
  parts: TrainComponents
  predictor: Any
  start_step: int
  final_step: int
  last_train: dict[str, Any] | None
  last_eval: dict[str, float] | None
  workdir: str


def train_and_evaluate(config, workdir: str) -> TrainResult:
  """Trains (resuming from `workdir` if it holds checkpoints), evaluates, and returns a `TrainResult`.

  Every step gets a row in metrics.jsonl: loss, learning rates, grad_norm, batch_shape, the seconds per
  step (averaged over the steps fetched together), input_seconds (the loop's wait for that step's batch),
  tokens/s and MFU; the last row of each log step adds the recipe's counters (`RecipeStats`, summed over
  all processes' data shards, as recipe_<field>) and the number of compiled train-step programs
  (`gliner_jax.training.step_log`).
  """
  primary = jax.process_index() == 0
  workdir = storage.resolve(workdir)  # local, Drive or gs:// alike (gliner_jax.interop.storage)
  storage.makedirs(workdir)
  cache = compilation_cache(config, workdir)
  if primary:
    with (storage.as_path(workdir) / "config.json").open("w") as f:
      f.write(
        config.to_json_best_effort(indent=2)
        if hasattr(config, "to_json_best_effort")
        else json.dumps(config.to_dict(), indent=2, default=str)
      )
  parts = build(config)
  batches = training_batches(config, parts)
  named = batches.shapes
  logging.info(
    "process %d builds data shards %s; %d batch shapes named, compilation cache %s",
    jax.process_index(),
    batches.shards,
    len(named),
    cache,
  )
  eval_examples = load_examples(config.data.get("eval", []))
  ckpt = TrainCheckpointer(storage.join(workdir, "checkpoints"), config)
  state = initial_state(parts, config.train.seed)
  state, data_states, start_step = ckpt.restore_latest(state, parts.state_shardings, batches.shards)
  if data_states is not None:
    batches.set_state(data_states)
  if start_step:
    logging.info("resumed from step %d", start_step)
  writer = MetricsWriter(workdir, start_step) if primary else NullWriter()
  rng = jax.random.key(config.train.seed + 1)
  peak = peak_flops_per_device() * len(jax.devices())
  train = config.train
  num_steps, global_batch, prefetch = train.num_steps, train.batch_size, int(train.get("prefetch", 2))
  impl = config.model.get("span_head_impl", "factored")
  step_flops = functools.cache(lambda dims: 3 * model_flops(parts.config, *dims, impl=impl).total * global_batch)
  progress = _progress(start_step, num_steps)

  def build_and_place() -> tuple[HostBatch, dict[str, jax.Array]]:
    """The next batch of this process's shards, handed to the devices (in the prefetch thread)."""
    batch = batches.next_host_batch()
    if batch.dims not in named:
      raise ValueError(f"batch shape {batch.dims} (tokens, words, types) is not one the config names: {sorted(named)}")
    return batch, shd.shard_batch(batch.arrays, parts.batch_sharding, global_batch)

  compiles = CompileCounter(parts.train_step).start()  # the programs this process compiles for the step
  log = StepLog(
    writer,
    progress,
    step_flops,
    peak,
    compiles,
    on_non_finite=lambda step, loss, grad_norm: _stop_non_finite(progress, ckpt, step, loss, grad_norm),
  )
  last_eval = None
  source = Prefetcher(build_and_place, prefetch)
  finished = False
  switch_interval = sys.getswitchinterval()
  if prefetch:  # the loop thread gets the GIL back from the batch-building thread within 1 ms, not 5
    sys.setswitchinterval(min(switch_interval, 1e-3))
  try:
    if start_step < num_steps:
      (batch, device_batch), waited = source.next()
    for step in range(start_step, num_steps):
      done = step + 1
      state, metrics = parts.train_step(state, device_batch, rng)
      log.add(PendingStep(done, metrics, batch, waited))
      consumed = batch
      save = done % train.checkpoint_every == 0 or done == num_steps
      run_eval = bool(eval_examples) and (done % train.eval_every == 0 or done == num_steps)
      if not prefetch:  # the unpipelined loop: wait for this step before building the next batch
        log.flush()
      if done < num_steps:  # while the step runs
        (batch, device_batch), waited = source.next()
      if log.pending and (done % train.log_every == 0 or save or run_eval or done == num_steps):
        log.flush()  # every step up to here is finite: only now may the state be saved
      if save:
        writer.sync()  # the rows up to this step are stored before its checkpoint is
        ckpt.save(done, state, consumed.data_state)
      if run_eval:
        last_eval = evaluate(parts, state, eval_examples, config)
        writer.write({"step": done, **last_eval})
    finished = True
  finally:
    compiles.stop()
    sys.setswitchinterval(switch_interval)
    writer.sync()
    source.close()
    progress.close()
    if not finished:
      ckpt.wait()  # an error: still finish the saves under way (the non-finite stop has closed it already)
  ckpt.close()
  return TrainResult(
    state=state,
    parts=parts,
    predictor=eval_predictor(parts, state),
    start_step=start_step,
    final_step=max(start_step, num_steps),
    last_train=log.last_row,
    last_eval=last_eval,
    workdir=workdir,
  )


def _stop_non_finite(progress, ckpt: TrainCheckpointer, step: int, loss: float, grad_norm: float) -> None:
  progress.close()
  ckpt.wait()  # lets an in-flight save of an earlier (good) state finish
  last_good = ckpt.latest_step()
  ckpt.close()
  what = (
    f"loss is {loss}"
    if not np.isfinite(loss)
    else f"loss is {loss} but the updated parameters are not finite (grad_norm {grad_norm})"
  )
  raise NonFiniteLossError(
    f"{what} at step {step}; stopping. The last good checkpoint "
    f"(step {last_good}) is kept in {ckpt.directory}; lower the learning rate or check the data."
  )


def _progress(start: int, total: int):
  try:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="train", dynamic_ncols=True, disable=jax.process_index() != 0)
  except ImportError:  # pragma: no cover

    class _Null:
      def update(self, *_):
        pass

      set_postfix = close = update

    return _Null()
