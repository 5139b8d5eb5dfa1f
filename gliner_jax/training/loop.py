"""Sharded GLiNER training: `train_and_evaluate(config, workdir)`.

One jitted train step (forward, loss, backward, AdamW) with in/out shardings on a `Mesh` and a donated
state; shape-first initialisation; orbax checkpoints of the state, the data iterator and the config;
automatic resume from the workdir; `config.json` and `metrics.jsonl` in the workdir.

Example:
  >>> from configs import tiny
  >>> state = train_and_evaluate(tiny.get_config(), "/tmp/gliner_tiny")
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from etils import epath

from gliner_jax.data.recipe import RecipeConfig, batch_tokens
from gliner_jax.inference.processing import PromptTokenizer
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.token_model import make_model
from gliner_jax.training import sharding as shd
from gliner_jax.training.checkpointing import TrainCheckpointer
from gliner_jax.training.data import load_examples, make_train_iterator
from gliner_jax.training.losses import span_loss, token_loss, token_loss_options
from gliner_jax.training.model_init import StartingPoint, merge_params, starting_point
from gliner_jax.training.optimizer import OptimizerConfig, make_optimizer

MODEL_INPUTS = ("input_ids", "attention_mask", "word_token_index", "num_words", "type_token_index")


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
  model = make_model(
    start.config,
    dtype=compute_dtype(config.train.compute_dtype),
    span_head_impl=config.model.get("span_head_impl", "factored"),
  )
  opt_cfg = OptimizerConfig.from_dict({**dict(config.optimizer), "total_steps": config.train.num_steps})
  tx, schedules = make_optimizer(opt_cfg)
  mesh = mesh or shd.make_mesh(dict(config.mesh.shape))
  rules = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in config.mesh.rules)
  shd.check_batch_divisible(config.train.batch_size, mesh, rules)
  example = dummy_batch(config.train.batch_size)

  def init_boxed(rng):
    params = model.init({"params": rng}, **example)["params"]
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}

  abstract = jax.eval_shape(init_boxed, jax.random.key(0))
  state_shardings = shd.logical_shardings(abstract, mesh, rules)
  init_fn = jax.jit(lambda rng: nn.meta.unbox(init_boxed(rng)), out_shardings=state_shardings)
  batch_sharding = shd.batch_sharding(mesh, rules)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  loss_kwargs = token_loss_options(config.loss) if token_level else dict(config.loss)

  def train_step(state, batch, rng):
    dropout_rng, neg_rng = jax.random.split(jax.random.fold_in(rng, state["step"]))

    def loss_fn(params):
      out = model.apply(
        {"params": params}, **{k: batch[k] for k in MODEL_INPUTS}, deterministic=False, rngs={"dropout": dropout_rng}
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
  )


def initial_state(parts: TrainComponents, seed: int):
  """Random init on the mesh, then the starting weights (if any) placed with the same shardings."""
  state = parts.init_fn(jax.random.key(seed))
  if parts.start.params is not None:
    fresh = jax.device_get(state["params"])
    merged = merge_params(fresh, parts.start.params)
    state["params"] = jax.device_put(merged, parts.state_shardings["params"])
  return state


FALLBACK_PEAK_FLOPS = 1e11  # order of magnitude of a few CPU cores in fp32, where nothing better is known


def cpu_peak_flops(cpuinfo: str | None = None, cores: int | None = None) -> float:
  r"""fp32 peak FLOP/s of the CPU cores this process may use: cores x clock x SIMD FLOP per cycle.

  FLOP per cycle per core assumes two FMA units: 64 with AVX-512, 32 with AVX2+FMA, 8 otherwise.
  An estimate from /proc/cpuinfo (base clock, no turbo); FALLBACK_PEAK_FLOPS where it cannot be read.

  >>> cpu_peak_flops("flags : avx2 fma avx512f\ncpu MHz : 2600.0\n", cores=2)
  332800000000.0
  """
  if cpuinfo is None:
    try:
      with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    except OSError:
      return FALLBACK_PEAK_FLOPS
  flag_line = re.search(r"^flags\s*:(.*)$", cpuinfo, re.M)
  flags = set(flag_line.group(1).split()) if flag_line else set()
  mhz = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", cpuinfo, re.M)
  if mhz is None:
    return FALLBACK_PEAK_FLOPS
  per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 8
  if cores is None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
  return cores * float(mhz.group(1)) * 1e6 * per_cycle


def peak_flops_per_device() -> float:
  """Peak dense FLOP/s of one device, for MFU (bf16 for accelerators; `cpu_peak_flops` on CPU)."""
  kind = jax.devices()[0].device_kind.lower()
  table = {
    "v5 lite": 197e12,
    "v5e": 197e12,
    "v5p": 459e12,
    "v4": 275e12,
    "v6": 918e12,
    "h100": 989e12,
    "h200": 989e12,
    "a100": 312e12,
  }
  for key, value in table.items():
    if key in kind:
      return value
  if jax.devices()[0].platform == "cpu":
    return cpu_peak_flops() / len(jax.devices())  # forced host devices share the same cores
  return FALLBACK_PEAK_FLOPS


class MetricsWriter:
  """Appends one JSON object per row to workdir/metrics.jsonl (rows past a resumed step are dropped)."""

  def __init__(self, workdir: str, resume_step: int):
    self.path = epath.Path(workdir) / "metrics.jsonl"
    if self.path.exists():
      rows = [json.loads(l) for l in self.path.read_text().splitlines() if l.strip()]
      with self.path.open("w") as f:
        for row in rows:
          if row.get("step", 0) <= resume_step:
            f.write(json.dumps(row) + "\n")

  def write(self, row: dict[str, Any]) -> None:
    with self.path.open("a") as f:
      f.write(
        json.dumps({k: (float(v) if isinstance(v, (np.floating, jax.Array)) else v) for k, v in row.items()}) + "\n"
      )


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Trains (resuming from `workdir` if it holds checkpoints), evaluates, and returns the final state."""
  from gliner_jax.model.flops import model_flops

  epath.Path(workdir).mkdir(parents=True, exist_ok=True)  # local, Drive or gs:// alike
  if config.train.get("compilation_cache_dir"):  # compiled programs survive restarts (resume, preemption)
    jax.config.update("jax_compilation_cache_dir", config.train.compilation_cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  with (epath.Path(workdir) / "config.json").open("w") as f:
    f.write(
      config.to_json_best_effort(indent=2)
      if hasattr(config, "to_json_best_effort")
      else json.dumps(config.to_dict(), indent=2, default=str)
    )
  parts = build(config)
  ptok = PromptTokenizer(parts.start.tokenizer, parts.config)
  recipe = RecipeConfig.from_model_config(
    parts.config, batch_size=config.train.batch_size, **dict(config.get("recipe", {}))
  )
  train_examples = load_examples(config.data.train)
  eval_examples = load_examples(config.data.get("eval", []))
  batches = make_train_iterator(train_examples, ptok, recipe, seed=config.train.seed)
  ckpt = TrainCheckpointer(os.path.join(workdir, "checkpoints"), config)
  state = initial_state(parts, config.train.seed)
  state, data_state, start_step = ckpt.restore_latest(state, parts.state_shardings)
  if data_state is not None:
    batches.set_state(data_state)
  if start_step:
    logging.info("resumed from step %d", start_step)
  writer = MetricsWriter(workdir, start_step)
  rng = jax.random.key(config.train.seed + 1)
  peak = peak_flops_per_device() * len(jax.devices())
  num_steps = config.train.num_steps
  progress = _progress(start_step, num_steps)
  last_time = time.perf_counter()
  for step in range(start_step, num_steps):
    batch = next(batches)
    tokens = batch_tokens(batch)
    flops = (
      3
      * model_flops(
        parts.config,
        batch["input_ids"].shape[1],
        batch["word_token_index"].shape[1],
        batch["type_token_index"].shape[1],
        impl=config.model.get("span_head_impl", "factored"),
      ).total
      * batch["input_ids"].shape[0]
    )
    state, metrics = parts.train_step(state, shd.shard_batch(batch, parts.batch_sharding), rng)
    metrics = jax.device_get(metrics)
    loss = float(metrics["loss"])
    if not metrics["finite"]:
      progress.close()
      ckpt.wait()  # lets an in-flight save of the previous (good) state finish
      last_good = ckpt.latest_step()
      ckpt.close()
      what = (
        f"loss is {loss}"
        if not np.isfinite(loss)
        else (f"loss is {loss} but the updated parameters are not finite (grad_norm {float(metrics['grad_norm'])})")
      )
      raise NonFiniteLossError(
        f"{what} at step {step + 1}; stopping. The last good checkpoint "
        f"(step {last_good}) is kept in {ckpt.directory}; lower the learning rate or check the data."
      )
    now = time.perf_counter()
    elapsed, last_time = now - last_time, now
    done = step + 1
    progress.update(1)
    progress.set_postfix(loss=f"{loss:.3f}")
    if done % config.train.log_every == 0 or done == num_steps:
      writer.write(
        {
          "step": done,
          "loss": loss,
          "learning_rate": float(metrics["learning_rate"]),
          "encoder_learning_rate": float(metrics["encoder_learning_rate"]),
          "grad_norm": float(metrics["grad_norm"]),
          "tokens_per_second": tokens / elapsed,
          "mfu": flops / elapsed / peak,
          "step_seconds": elapsed,
        }
      )
    if done % config.train.checkpoint_every == 0 or done == num_steps:
      ckpt.save(done, state, batches.get_state())
    if eval_examples and (done % config.train.eval_every == 0 or done == num_steps):
      writer.write({"step": done, **evaluate(parts, state, eval_examples, config)})
  progress.close()
  ckpt.close()
  return state


def evaluate(parts: TrainComponents, state, examples, config) -> dict[str, float]:
  """Micro P/R/F1 on word-tokenised examples with the current parameters, over all their types."""
  from gliner_jax.evaluation.scoring import predict_word_spans, score_spans

  labels = sorted({t for ex in examples for _, _, t in ex.spans} | {t for ex in examples for t in ex.negatives})
  predicted = predict_word_spans(
    inference_model(parts, state),
    examples,
    labels,
    threshold=config.eval.threshold,
    flat_ner=config.eval.flat_ner,
    batch_size=config.eval.batch_size,
  )
  scores = score_spans([ex.spans for ex in examples], [[p[:3] for p in row] for row in predicted])
  return {"eval_precision": scores.precision, "eval_recall": scores.recall, "eval_f1": scores.f1}


def inference_model(parts: TrainComponents, state):
  """A `GLiNER` predictor over the current parameters (gathered to the host)."""
  from gliner_jax.inference.predictor import GLiNER

  return GLiNER(parts.config, jax.device_get(state["params"]), parts.start.tokenizer)


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
