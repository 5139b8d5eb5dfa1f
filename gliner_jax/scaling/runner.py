"""One run of a scaling study: a normal training run in `<workdir>/runs/<run>/`, then its results.jsonl row.

`execute_run` trains with `train_and_evaluate` (so a killed run resumes from its last checkpoint), then
measures what the row needs: train_loss (mean loss of the last 10% of steps, metrics.jsonl), eval_loss (the
training loss, deterministic, on held-out examples), zero-shot F1 per dataset (`evaluate_datasets`), XLA's
FLOPs of the steps it ran (cost analysis of each batch shape's compiled step), wall_seconds (the steps' own
time) and MFU (analytic training FLOPs / wall_seconds / peak), with provenance. Status: "nan" when training
stopped on a non-finite loss or parameters, "diverged" when the loss of the last 10% of steps is above that of
the first 10% or the held-out loss is not finite, else "ok". A failed run is still a row.

Example (not run as a doctest: it trains; tests/test_scaling_micro.py runs a study):
  >>> row = execute_run(study, RunSpec("minilm-L2-c1e13-s0", rung, 1e13, 0), "workdirs/micro")  # doctest: +SKIP
  >>> row["status"], row["steps"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import subprocess
from typing import Any

import flax
import jax
import ml_collections
import numpy as np
from etils import epath

from gliner_jax.data.paths import REPO_ROOT
from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.evaluation.scoring import evaluate_datasets, load_eval_dataset
from gliner_jax.model.kinds import kind_of
from gliner_jax.scaling.budgets import BudgetPlan, TrainingStream, format_flops, solve_steps, step_flops_fn
from gliner_jax.scaling.ladder import Rung, param_counts, rung_config
from gliner_jax.training.aot import abstract_batch
from gliner_jax.training.data import load_source
from gliner_jax.training.kinds import training_kind
from gliner_jax.training.loop import NonFiniteLossError, inference_model, train_and_evaluate
from gliner_jax.training.main_job import bundled_crossner_slice
from gliner_jax.training.mfu import peak_flops_per_device
from gliner_jax.training.model_init import abstract_starting_point

HEAD_FIELDS = ("hidden_size", "max_width", "max_len", "max_types", "num_rnn_layers", "span_mode", "embed_ent_token")


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """One run of a sweep: a rung trained for a FLOP budget with a seed."""

  name: str
  rung: Rung
  budget: float
  seed: int


def run_name(rung: Rung, budget: float, seed: int) -> str:
  """The run's deterministic name: rung, budget and seed.

  >>> run_name(Rung("minilm-L2", backbone="x", layers=2), 1e13, 0)
  'minilm-L2-c1e13-s0'
  """
  return f"{rung.name}-c{format_flops(budget)}-s{int(seed)}"


@dataclasses.dataclass
class Study:
  """A study config split into its parts: the base training config, the rungs, budgets, seeds and the
  evaluation settings (`config.scaling`; see configs/scaling/micro.py)."""

  base: ml_collections.ConfigDict
  rungs: list[Rung]
  budgets: list[float]
  seeds: list[int]
  settings: ml_collections.ConfigDict

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> "Study":
    if "scaling" not in config:
      raise ValueError("a scaling study config needs a `scaling` section (rungs, budgets, seeds; configs/scaling/)")
    settings = config.scaling
    base = ml_collections.ConfigDict({k: v for k, v in config.to_dict().items() if k != "scaling"})
    rungs = [Rung.from_dict(r) for r in settings.rungs]
    budgets = [float(b) for b in settings.budgets]
    seeds = [int(s) for s in settings.get("seeds", [0])]
    for what, values in (("rungs", rungs), ("budgets", budgets), ("seeds", seeds)):
      if not values:
        raise ValueError(f"config.scaling.{what} is empty")
    names = [r.name for r in rungs]
    if len(set(names)) != len(names):
      raise ValueError(f"config.scaling.rungs: duplicate rung names {sorted(n for n in names if names.count(n) > 1)}")
    if any(not math.isfinite(b) or b <= 0 for b in budgets):
      raise ValueError(f"config.scaling.budgets must be positive FLOP counts, got {budgets}")
    return cls(base, rungs, budgets, seeds, settings)

  def runs(self) -> list[RunSpec]:
    """Every run, budget by budget, smallest rung first (names only: no data is read)."""
    return [
      RunSpec(run_name(rung, budget, seed), rung, budget, seed)
      for budget in self.budgets
      for rung in self.rungs
      for seed in self.seeds
    ]

  def head(self) -> dict[str, Any]:
    return {k: self.base.model[k] for k in HEAD_FIELDS if k in self.base.model}


def run_config(study: Study, spec: RunSpec, steps: int, cache_dir: str = "") -> ml_collections.ConfigDict:
  """The training config of one run: the rung's model on the base recipe, `steps` steps, the run's seed.

  In-loop evaluation is off (the runner evaluates once at the end); a checkpoint is kept every
  `scaling.checkpoint_every` steps (default the base config's) and at the end.
  """
  config = rung_config(study.base, spec.rung)
  with config.unlocked():
    config.train.num_steps = int(steps)
    config.train.seed = int(spec.seed)
    config.train.checkpoint_every = int(
      min(study.settings.get("checkpoint_every", config.train.checkpoint_every), steps)
    )
    config.train.eval_every = int(steps)
    config.data.eval = []
    if cache_dir:
      config.train.compilation_cache_dir = cache_dir
  return config


def config_hash(config: ml_collections.ConfigDict) -> str:
  """12 hex digits of the SHA-256 of the config's JSON with sorted keys (stable across processes)."""
  text = json.dumps(json.loads(config.to_json_best_effort()), sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.cache
def git_commit(repo: str = REPO_ROOT) -> str:
  """The checkout's HEAD commit, or "unknown" outside a git checkout (an installed wheel). Read once per process
  (at the first run's start), so a commit made while a sweep runs is not credited with its rows."""
  try:
    out = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
  except (OSError, subprocess.TimeoutExpired):
    return "unknown"
  commit = out.stdout.strip()
  return commit if out.returncode == 0 and len(commit) == 40 else "unknown"


def provenance(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """git commit, config hash, jax / flax versions, device kind and count."""
  return dict(
    git_commit=git_commit(),
    config_hash=config_hash(config),
    jax_version=jax.__version__,
    flax_version=flax.__version__,
    device_kind=jax.devices()[0].device_kind,
    device_count=jax.device_count(),
  )


def plan_run(study: Study, spec: RunSpec, stream: TrainingStream) -> BudgetPlan:
  """The steps of `spec`'s budget on `stream` (the rung's training data, see `stream_for`)."""
  config = rung_config(study.base, spec.rung)
  model = abstract_starting_point(config.model).config
  return solve_steps(stream, step_flops_fn(model, config.model.get("span_head_impl", "factored")), spec.budget)


def stream_key(study: Study, spec: RunSpec) -> str:
  """Runs with equal keys read the same batches (same data, recipe, tokenizer, head sizes and seed)."""
  config = rung_config(study.base, spec.rung)
  tokenizer = config.model.tokenizer if config.model.init == "random" else config.model.path
  parts = [config.data.train, dict(config.recipe), config.train.batch_size, config.train.get("data_shards", 0)]
  parts += [tokenizer, study.head(), spec.seed]
  return json.dumps(parts, sort_keys=True, default=str)


def stream_for(study: Study, spec: RunSpec) -> TrainingStream:
  config = run_config(study, spec, 1)
  return TrainingStream.from_config(config)


def _step_rows(workdir: str) -> list[dict[str, Any]]:
  path = epath.Path(workdir) / "metrics.jsonl"
  if not path.exists():
    return []
  rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
  return [r for r in rows if "loss" in r and "step" in r]


def loss_summary(losses: list[float]) -> tuple[float | None, float | None]:
  """(mean of the first 10% of steps, mean of the last 10%): at least one step each; None without steps.

  >>> loss_summary([4.0] * 10 + [1.0] * 90)
  (4.0, 1.0)
  """
  if not losses:
    return None, None
  k = max(1, math.ceil(0.1 * len(losses)))
  return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


def run_status(first_loss: float | None, train_loss: float | None, eval_loss: float | None) -> str:
  """ "diverged" when the last 10% of steps lose more than the first 10% or a loss is not finite, else "ok"."""
  values = [v for v in (first_loss, train_loss, eval_loss) if v is not None]
  if any(not math.isfinite(v) for v in values):
    return "diverged"
  if first_loss is not None and train_loss is not None and train_loss > first_loss:
    return "diverged"
  return "ok"


def held_out_loss(parts, params, examples, config, max_batches: int = 0) -> float | None:
  """Mean per-batch training loss (deterministic forward, the run's loss settings) on held-out examples.

  The model kind's own objective on its own batches (`gliner_jax.training.kinds`: `loss` on
  `held_out_batches`, one pass in order with recipe seed 0, so every run reads the same batches; last partial
  batch dropped), as the train step computes it. None without examples or for a kind without held-out batches.
  """
  kind, trainer = kind_of(parts.config), training_kind(parts.config)
  if trainer.held_out_batches is None or not examples:
    return None
  recipe = RecipeConfig.from_model_config(parts.config, batch_size=int(config.train.batch_size), **dict(config.recipe))
  batches = trainer.held_out_batches(list(examples), parts.start, recipe)

  @jax.jit
  def batch_loss(params, batch):
    out = parts.model.apply({"params": params}, **{k: batch[k] for k in kind.inputs}, deterministic=True)
    return trainer.loss(out, batch, jax.random.key(0), parts.loss_kwargs)

  losses = []
  for batch in batches:
    losses.append(float(batch_loss(params, batch)))
    if max_batches and len(losses) >= max_batches:
      break
  return float(np.mean(losses)) if losses else None


def load_held_out(settings) -> list:
  """The held-out examples of `scaling.eval_loss_data`: {path, start, max_examples} (examples[start:][:max])."""
  source = dict(settings.get("eval_loss_data") or {})
  if not source:
    return []
  start, count = int(source.pop("start", 0)), source.pop("max_examples", None)
  examples = load_source(source)[start:]
  return examples[: int(count)] if count else examples


def zero_shot_f1(model, settings) -> dict[str, float]:
  """F1 per dataset of `scaling.zero_shot` ({name: CrossNER folder, or a CrossNER AI BIO file such as the bundled
  slice}), `scaling.zero_shot_max_examples` sentences each, at `scaling.threshold`."""
  datasets = dict(settings.get("zero_shot") or {})
  if not datasets:
    return {}
  loaded = []
  split, limit = settings.get("zero_shot_split", "test"), settings.get("zero_shot_max_examples") or None
  for name, path in datasets.items():
    if os.path.isfile(path):  # a CrossNER AI BIO file (the bundled slice)
      ds = bundled_crossner_slice(path)
      loaded.append(dataclasses.replace(ds, name=name, examples=ds.examples[:limit]))
    else:
      loaded.append(load_eval_dataset(name, path, split, max_examples=limit))
  report = evaluate_datasets(
    model, loaded, threshold=float(settings.get("threshold", 0.5)), batch_size=int(settings.get("eval_batch_size", 8))
  )
  return {r.name: float(r.scores.f1) for r in report.results}


def xla_train_flops(parts, state, config, steps_by_shape: dict[tuple[int, int, int], int]) -> float | None:
  """XLA's cost-analysis FLOPs of the steps run: each batch shape's compiled train step x its step count.

  XLA counts the padded shapes and elementwise work too; None where the backend reports no FLOPs.
  """
  kind = training_kind(parts.config)
  if not steps_by_shape or kind.encodes_labels:  # the label tokens per label of its batches are not recorded
    return None
  rng = jax.random.key(0)
  total = 0.0
  try:
    for (tokens, words, types), count in steps_by_shape.items():
      batch = abstract_batch(
        int(config.train.batch_size),
        tokens,
        words,
        types,
        parts.config.max_width,
        parts.batch_sharding,
        kind,
      )
      analysis = parts.train_step.lower(state, batch, rng).compile().cost_analysis()
      if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
      if not analysis or "flops" not in analysis:
        return None
      total += float(analysis["flops"]) * count
  except Exception as err:  # a backend without cost analysis: the column is optional
    logging.warning("XLA cost analysis unavailable: %s", err)
    return None
  return total


def execute_run(study: Study, spec: RunSpec, plan: BudgetPlan, run_dir: str, cache_dir: str = "") -> dict[str, Any]:
  """Trains one run (resuming from `run_dir`), evaluates it and returns its results.jsonl row."""
  config = run_config(study, spec, plan.steps, cache_dir)
  source = provenance(config)  # before training: the code that runs
  counts = param_counts(spec.rung, **study.head())
  status, error, result = "ok", None, None
  try:
    result = train_and_evaluate(config, run_dir)
  except NonFiniteLossError as err:
    status, error = "nan", str(err)
  rows = _step_rows(run_dir)
  first_loss, train_loss = loss_summary([float(r["loss"]) for r in rows])
  wall = float(sum(r.get("step_seconds", 0.0) for r in rows))
  eval_loss, f1, xla = None, {}, None
  if result is not None:
    parts, state = result.parts, result.state  # the run's own programs: nothing is rebuilt
    held_out, max_batches = load_held_out(study.settings), int(study.settings.get("eval_loss_batches", 0))
    eval_loss = held_out_loss(parts, state["params"], held_out, config, max_batches)
    f1 = zero_shot_f1(inference_model(parts, state), study.settings)
    shapes: dict[tuple[int, int, int], int] = {}
    for r in rows:
      shapes[tuple(r["batch_shape"])] = shapes.get(tuple(r["batch_shape"]), 0) + 1
    xla = xla_train_flops(parts, state, config, shapes)
    status = run_status(first_loss, train_loss, eval_loss)
  peak = peak_flops_per_device() * jax.device_count()
  row = dict(
    run=spec.name,
    rung=spec.rung.name,
    params_total=counts.total,
    params_non_embedding=counts.non_embedding,
    params_encoder=counts.encoder,
    params_head=counts.head,
    train_examples=plan.examples,
    train_tokens=plan.tokens,
    train_spans=plan.spans,
    types_seen=plan.types_seen,
    train_flops=plan.flops,
    budget_flops=plan.budget,
    steps=plan.steps,
    xla_flops=xla,
    wall_seconds=wall,
    mfu=plan.flops / wall / peak if wall > 0 and math.isfinite(peak) else None,
    train_loss=train_loss,
    eval_loss=eval_loss,
    f1=f1 or None,
    f1_avg=float(np.mean(list(f1.values()))) if f1 else None,
    seed=spec.seed,
    status=status,
    **source,
  )
  if error:
    row["error"] = error
  return row
