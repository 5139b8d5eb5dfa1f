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

Example:
  >>> from configs import tiny
  >>> state = train_and_evaluate(tiny.get_config(), "/tmp/gliner_tiny")
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.inference.compile_counter import CompileCounter
from gliner_jax.interop import storage
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.stack import match_layer_layout
from gliner_jax.model.token_model import make_model
from gliner_jax.processing.prompts import PromptTokenizer
from gliner_jax.training import sharding as shd
from gliner_jax.training.checkpointing import TrainCheckpointer
from gliner_jax.training.data import load_examples, make_sharded_batches
from gliner_jax.training.distributed import process_shards, sum_over_processes
from gliner_jax.training.losses import span_loss, token_loss, token_loss_options
from gliner_jax.training.metrics_log import MetricsWriter, NullWriter
from gliner_jax.training.mfu import FALLBACK_PEAK_FLOPS, cpu_peak_flops, peak_flops_per_device  # noqa: F401
from gliner_jax.training.model_init import StartingPoint, starting_point
from gliner_jax.training.optimizer import OptimizerConfig, make_optimizer
from gliner_jax.training.pipeline import HostBatch, Prefetcher, ShardedBatches

MODEL_INPUTS = ("input_ids", "attention_mask", "word_token_index", "num_words", "type_token_index")
DEFAULT_COMPILATION_CACHE = "{workdir}/compilation_cache"


class NonFiniteLossError(FloatingPointError):
  """Raised when the loss or the updated parameters are NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class TrainComponents:
  """Everything `train_and_evaluate` builds; tests and the AOT compile script reuse it."""

  config: GLiNERConfig
  start: StartingPoint
  model: Any  # GLiNERSpanModel, or GLiNERTokenModel for span_mode "token_level"
  tx: Any
  schedules: Any
  mesh: Any
  rules: tuple
  state_shardings: Any
  batch_sharding: Any
  init_fn: Any
  train_step: Any
  loss_kwargs: dict
  # Evaluation forwards on the training shardings (params where they are, outputs replicated), jitted
  # once per run: GLiNER._device_candidates / _device_token_probs of a float32 inference model.
  eval_candidates: Any = None
  eval_token_probs: Any = None


def dummy_batch(batch_size: int, tokens: int = 32, words: int = 16, types: int = 4) -> dict[str, np.ndarray]:
  return dict(
    input_ids=np.zeros((batch_size, tokens), np.int32),
    attention_mask=np.ones((batch_size, tokens), np.int32),
    word_token_index=np.zeros((batch_size, words), np.int32),
    num_words=np.full((batch_size,), words, np.int32),
    type_token_index=np.zeros((batch_size, types), np.int32),
  )


def compute_dtype(name: str):
  return {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[name]


def build(config, mesh=None, start: StartingPoint | None = None) -> TrainComponents:
  """Model, optimizer, mesh, shardings and the jitted init / train step for a config.

  The model and its loss follow the model config's span_mode: span heads train with `span_loss` on
  the batch's span labels, token_level with `token_loss` on its start / end / inside labels.
  """
  start = start or starting_point(config.model)
  token_level = start.config.span_mode == "token_level"
  bi_encoder = start.config.labels_encoder is not None
  inputs = MODEL_INPUTS
  if bi_encoder:  # its inputs, init batch, loss options and encoder group: gliner_jax.training.bi_encoder
    from gliner_jax.model.bi_encoder import BI_ENCODER_INPUTS as inputs
    from gliner_jax.training.bi_encoder import dummy_batch as bi_encoder_dummy_batch
    from gliner_jax.training.bi_encoder import is_encoder_param
    from gliner_jax.training.losses import bi_encoder_loss_options
  model = make_model(
    start.config,
    dtype=compute_dtype(config.train.compute_dtype),
    span_head_impl=config.model.get("span_head_impl", "factored"),
  )
  opt_cfg = OptimizerConfig.from_dict({**dict(config.optimizer), "total_steps": config.train.num_steps})
  tx, schedules = make_optimizer(opt_cfg, is_encoder=is_encoder_param if bi_encoder else None)
  mesh = mesh or shd.make_mesh(dict(config.mesh.shape))
  rules = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in config.mesh.rules)
  shd.check_batch_divisible(config.train.batch_size, mesh, rules)
  example = bi_encoder_dummy_batch(config.train.batch_size) if bi_encoder else dummy_batch(config.train.batch_size)

  def init_boxed(rng):
    params = model.init({"params": rng}, **example)["params"]
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}

  abstract = jax.eval_shape(init_boxed, jax.random.key(0))
  state_shardings = shd.logical_shardings(abstract, mesh, rules)
  init_fn = jax.jit(lambda rng: nn.meta.unbox(init_boxed(rng)), out_shardings=state_shardings)
  batch_sharding = shd.batch_sharding(mesh, rules)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  loss_kwargs = token_loss_options(config.loss) if token_level else dict(config.loss)
  if bi_encoder:
    loss_kwargs = bi_encoder_loss_options(config.loss)

  def train_step(state, batch, rng):
    dropout_rng, neg_rng = jax.random.split(jax.random.fold_in(rng, state["step"]))

    def loss_fn(params):
      out = model.apply(
        {"params": params}, **{k: batch[k] for k in inputs}, deterministic=False, rngs={"dropout": dropout_rng}
      )
      if token_level:
        return token_loss(out.logits, batch["labels"], batch["word_mask"], batch["type_mask"], **loss_kwargs)
      return span_loss(out.logits, batch["labels"], batch["span_mask"], batch["type_mask"], key=neg_rng, **loss_kwargs)

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
  eval_model = make_model(start.config, span_head_impl="factored")  # float32, as a default GLiNER predicts
  param_shardings = state_shardings["params"]
  eval_candidates = jax.jit(
    functools.partial(_eval_candidates, eval_model),
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


def _eval_candidates(model, params, batch, threshold, cap: int):
  """The span candidates of `GLiNER._score` (count, index, score of the spans above `threshold`, and the
  flat probabilities), computed on the training shardings."""
  out = model.apply({"params": params}, **batch)
  probs = jax.nn.sigmoid(out.logits)
  valid = out.span_mask[..., None] & out.type_mask[:, None, None, :]
  flat = jnp.where(valid, probs, 0.0).reshape(probs.shape[0], -1)
  above = flat > threshold
  index = jax.vmap(lambda row: jnp.nonzero(row, size=cap, fill_value=0)[0])(above)
  return above.sum(axis=-1), index, jnp.take_along_axis(flat, index, axis=1), flat


def initial_state(parts: TrainComponents, seed: int):
  """Random init on the mesh, then the starting weights (if any) placed with the same shardings.

  Each process places only its shards of the starting weights; the random values are never gathered.
  """
  state = parts.init_fn(jax.random.key(seed))
  if parts.start.params is not None:
    loaded = match_layer_layout(parts.start.params, state["params"])  # stacked for scan_layers
    state["params"] = _overlay(state["params"], loaded, parts.state_shardings["params"])
  return state


def _overlay(fresh: Any, loaded: Any, shardings: Any, path: str = "") -> Any:
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
  return {k: _overlay(v, loaded.get(k), shardings[k], f"{path}/{k}") for k, v in fresh.items()}


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
    >>> batches = training_batches(config, build(config)); batches.shards  # one process, data_shards=2
    [0, 1]
  """
  shard_count = int(config.train.get("data_shards", 0) or jax.process_count())
  batch_size = config.train.batch_size
  shards = process_shards(parts.batch_sharding, batch_size, shard_count)
  recipe = training_recipe(config, parts, batch_size // shard_count)
  if parts.config.labels_encoder is not None:
    from gliner_jax.training.bi_encoder import make_bi_encoder_batches

    examples = load_examples(config.data.train)
    return make_bi_encoder_batches(examples, parts.start, recipe, config.train.seed, shards, shard_count)
  ptok = PromptTokenizer(parts.start.tokenizer, parts.config)
  return make_sharded_batches(load_examples(config.data.train), ptok, recipe, config.train.seed, shards, shard_count)


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
class _Pending:
  """A dispatched step whose metrics are still on the devices."""

  step: int  # its number, counting from 1
  metrics: dict[str, jax.Array]
  batch: HostBatch
  input_seconds: float  # spent getting its batch and handing it to the devices


def _counters(stats: dict[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
  """Recipe counters: (the top-level numbers, summed over processes; the nested ones, this process's)."""
  shared = {k: int(v) for k, v in stats.items() if not isinstance(v, dict)}
  nested = {f"{k}/{kk}": vv for k, v in stats.items() if isinstance(v, dict) for kk, vv in v.items()}
  return shared, nested


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Trains (resuming from `workdir` if it holds checkpoints), evaluates, and returns the final state.

  Every step gets a row in metrics.jsonl: loss, learning rates, grad_norm, batch_shape, the seconds per
  step (averaged over the steps fetched together), input_seconds (the loop's wait for that step's batch),
  tokens/s and MFU; the last row of each log step adds the recipe's counters (`RecipeStats`, summed over
  all processes' data shards, as recipe_<field>) and the number of compiled train-step programs.
  """
  from gliner_jax.model.flops import model_flops

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
  pending: list[_Pending] = []
  clock = time.perf_counter()

  def build_and_place() -> tuple[HostBatch, dict[str, jax.Array]]:
    """The next batch of this process's shards, handed to the devices (in the prefetch thread)."""
    batch = batches.next_host_batch()
    if batch.dims not in named:
      raise ValueError(f"batch shape {batch.dims} (tokens, words, types) is not one the config names: {sorted(named)}")
    return batch, shd.shard_batch(batch.arrays, parts.batch_sharding, global_batch)

  def flush() -> None:
    """Fetches the pending steps' metrics, writes their rows; stops at the first non-finite step."""
    nonlocal clock
    fetched = jax.device_get([p.metrics for p in pending])
    now = time.perf_counter()
    seconds, clock = (now - clock) / len(pending), now
    shared, nested = _counters(pending[-1].batch.stats)
    totals = sum_over_processes([p.batch.tokens for p in pending] + list(shared.values()))
    tokens, shared = totals[: len(pending)], dict(zip(shared, totals[len(pending) :].tolist()))
    for p, metrics, step_tokens in zip(pending, fetched, tokens):
      loss = float(metrics["loss"])
      if not metrics["finite"]:
        _stop_non_finite(progress, ckpt, p.step, loss, float(metrics["grad_norm"]))
      row = {
        "step": p.step,
        "loss": loss,
        "learning_rate": float(metrics["learning_rate"]),
        "encoder_learning_rate": float(metrics["encoder_learning_rate"]),
        "grad_norm": float(metrics["grad_norm"]),
        "batch_shape": list(p.batch.dims),
        "tokens_per_second": int(step_tokens) / seconds,
        "mfu": step_flops(p.batch.dims) / seconds / peak,
        "step_seconds": seconds,
        "input_seconds": p.input_seconds,
      }
      if p is pending[-1]:
        row.update({f"recipe_{k}": v for k, v in {**shared, **nested}.items()})
        row["train_step_programs"] = compiles.count
      writer.write(row)
    progress.update(len(pending))
    progress.set_postfix(loss=f"{loss:.3f}")
    pending.clear()

  compiles = CompileCounter(parts.train_step).start()  # the programs this process compiles for the step
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
      pending.append(_Pending(done, metrics, batch, waited))
      consumed = batch
      save = done % train.checkpoint_every == 0 or done == num_steps
      run_eval = bool(eval_examples) and (done % train.eval_every == 0 or done == num_steps)
      if not prefetch:  # the unpipelined loop: wait for this step before building the next batch
        flush()
      if done < num_steps:  # while the step runs
        (batch, device_batch), waited = source.next()
      if pending and (done % train.log_every == 0 or save or run_eval or done == num_steps):
        flush()  # every step up to here is finite: only now may the state be saved
      if save:
        writer.sync()  # the rows up to this step are stored before its checkpoint is
        ckpt.save(done, state, consumed.data_state)
      if run_eval:
        writer.write({"step": done, **evaluate(parts, state, eval_examples, config)})
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
  return state


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


def evaluate(parts: TrainComponents, state, examples, config) -> dict[str, float]:
  """Micro P/R/F1 on word-tokenised examples with the current parameters, over all their types.

  The parameters stay where training keeps them: the forward is `parts.eval_candidates` (compiled once
  per batch shape for the whole run, outputs replicated); decoding runs on the host, on every process.
  """
  from gliner_jax.evaluation.scoring import predict_word_spans, score_spans

  labels = sorted({t for ex in examples for _, _, t in ex.spans} | {t for ex in examples for t in ex.negatives})
  predicted = predict_word_spans(
    _eval_predictor(parts, state),
    examples,
    labels,
    threshold=config.eval.threshold,
    flat_ner=config.eval.flat_ner,
    batch_size=config.eval.batch_size,
  )
  scores = score_spans([ex.spans for ex in examples], [[p[:3] for p in row] for row in predicted])
  return {
    "eval_precision": scores.precision,
    "eval_recall": scores.recall,
    "eval_f1": scores.f1,
    "eval_predicted": scores.num_predicted,
  }


def _eval_predictor(parts: TrainComponents, state):
  """A `GLiNER` over the training parameters as they are (sharded, not gathered) that scores with the
  run's jitted eval forwards instead of compiling its own."""
  from gliner_jax.inference.predictor import GLiNER

  if parts.eval_candidates is None or parts.config.labels_encoder is not None:
    return inference_model(parts, state)
  params = state["params"]
  model = GLiNER(parts.config, params, parts.start.tokenizer)
  # GLiNER._score calls these with its own copy of the variables; the run's programs take the state's.
  model._candidates = lambda _variables, batch, threshold, *, cap: parts.eval_candidates(params, batch, threshold, cap)
  model._token_probs = lambda _variables, batch: parts.eval_token_probs(params, batch)
  return model


def inference_model(parts: TrainComponents, state):
  """A `GLiNER` predictor over the current parameters (gathered to the host)."""
  from gliner_jax.inference.predictor import GLiNER

  extra = {"labels_tokenizer": parts.start.labels_tokenizer} if parts.config.labels_encoder is not None else {}
  return GLiNER(parts.config, jax.device_get(state["params"]), parts.start.tokenizer, **extra)


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
