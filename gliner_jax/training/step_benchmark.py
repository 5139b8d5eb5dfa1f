"""Train-step speed of gliner_jax against gliner 0.2.29 (PyTorch) on the same weights and batch, and the training
loop's input pipeline on and off. scripts/benchmark_train.py is the command line.

A step is forward + focal loss (alpha 0.75, gamma 2, sum) + backward + clipping (10) + AdamW, in training mode
(dropout on) for both; the reference gets exactly gliner_jax's batch (`reference_inputs`). Compilation and the
first step are excluded. gliner's side needs torch and gliner (the `[torch]` extra).

Example:
  >>> print(run_step_benchmark(None, steps=1, batch_size=2).report())  # doctest: +SKIP
  >>> config = jax_config(ref_dir, batch_size=8)  # ref_dir: a saved gliner model  # doctest: +SKIP
  >>> start = starting_point(config.model); parts = build(config, start=start)  # doctest: +SKIP
  >>> batch = training_batch(start, 128, 8)  # doctest: +SKIP
  >>> times, loss, compile_s = time_jax(parts, initial_state(parts, 0), batch, 5)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from typing import Callable

import numpy as np

from gliner_jax.interop.reference_models import BENCHMARK_HEADS, build_reference_model

REFERENCE = "gliner 0.2.29"
ALPHA, GAMMA, CLIP, LR = 0.75, 2.0, 10.0, 1e-5


def build_reference(backbone: str, ref_dir: str):
  """gliner 0.2.29's markerV0 model on `backbone` (`BENCHMARK_HEADS`, seed 0), saved to `ref_dir`."""
  ref = build_reference_model({"model_name": backbone, **BENCHMARK_HEADS}, seed=0)
  ref.save_pretrained(ref_dir)
  return ref


def jax_config(ref_dir: str, batch_size: int, compute_dtype: str = "float32"):
  """The gliner_jax training config starting from the gliner model in `ref_dir`, with the benchmark's step."""
  from gliner_jax.training.config import base_config

  config = base_config()
  config.model.update(init="gliner", path=ref_dir, hidden_size=512, max_width=12, max_len=384)
  config.loss.update(alpha=ALPHA, gamma=GAMMA, reduction="sum")
  config.optimizer.update(encoder_lr=LR, head_lr=LR, max_grad_norm=CLIP)
  config.train.update(batch_size=batch_size, num_steps=1000, compute_dtype=compute_dtype)
  return config


def training_batch(start, words: int, batch_size: int):
  """One batch of the longest bundled examples that fit `words` words and yield one row each."""
  from gliner_jax.data.readers import read_bio
  from gliner_jax.data.recipe import RecipeConfig, make_training_batch
  from gliner_jax.processing.prompts import PromptTokenizer
  from gliner_jax.training.config import BUNDLED_TRAIN

  examples = [ex for ex in read_bio(BUNDLED_TRAIN) if len(ex.tokens) <= words and ex.spans]
  examples.sort(key=lambda ex: -len(ex.tokens))
  cfg = RecipeConfig.from_model_config(start.config, batch_size=batch_size, max_len=words)
  ptok = PromptTokenizer(start.tokenizer, start.config)
  return make_training_batch(examples[:batch_size], ptok, cfg, np.random.default_rng(0))


def reference_inputs(batch, max_width: int, device: str = "cpu"):
  """Our batch in the reference model's input format (same tokens, words, spans, labels) on `device`."""
  import torch

  b, w = batch["word_token_index"].shape
  words_mask = np.zeros(batch["input_ids"].shape, np.int64)
  for i in range(b):
    for j in range(int(batch["num_words"][i])):
      words_mask[i, batch["word_token_index"][i, j]] = j + 1
  starts = np.repeat(np.arange(w), max_width)
  span_idx = np.stack([starts, starts + np.tile(np.arange(max_width), w)], -1)
  t = lambda x, dtype: torch.from_numpy(np.ascontiguousarray(x)).to(device=device, dtype=dtype)
  return dict(
    input_ids=t(batch["input_ids"], torch.long),
    attention_mask=t(batch["attention_mask"], torch.long),
    words_mask=t(words_mask, torch.long),
    text_lengths=t(batch["num_words"][:, None], torch.long),
    span_idx=t(np.broadcast_to(span_idx, (b, w * max_width, 2)), torch.long),
    span_mask=t(batch["span_mask"].reshape(b, -1), torch.bool),
    labels=t(batch["labels"], torch.float32),
  )


def time_reference(
  ref, inputs, steps: int, device: str = "cpu", precision: str = "float32"
) -> tuple[list[float], float]:
  """Seconds of each of `steps` PyTorch train steps after one warm-up step, and the last loss."""
  import torch

  model = ref.model.to(device)
  model.train()
  opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
  autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bfloat16")

  def step():
    with autocast:
      out = model(**inputs, alpha=ALPHA, gamma=GAMMA, reduction="sum")
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(out.loss.detach())

  loss = step()  # warm-up
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    loss = step()
    times.append(time.perf_counter() - t0)
  return times, loss


def time_jax(parts, state, batch, steps: int) -> tuple[list[float], float, float]:
  """Seconds of each of `steps` gliner_jax train steps after the compiling one, the last loss, the compile time."""
  import jax

  from gliner_jax.training import sharding as shd

  device_batch = shd.shard_batch(batch, parts.batch_sharding)
  rng = jax.random.key(0)
  t0 = time.perf_counter()
  state, metrics = parts.train_step(state, device_batch, rng)
  jax.device_get(metrics)
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    state, metrics = parts.train_step(state, device_batch, rng)
    metrics = jax.device_get(metrics)
    times.append(time.perf_counter() - t0)
  return times, float(metrics["loss"]), compile_s


# ------------------------------------------------------------------------------------ input pipeline
def loop_rows(config, prefetch: int, steps: int, workdir: str) -> list[dict]:
  """metrics.jsonl rows of `train_and_evaluate` with config.train.prefetch = `prefetch` (no eval)."""
  from gliner_jax.training.loop import train_and_evaluate
  from gliner_jax.training.metrics_file import read_metrics

  config = config.copy_and_resolve_references()
  config.data.eval = []
  config.train.update(prefetch=prefetch, num_steps=steps, checkpoint_every=steps, log_every=10)
  train_and_evaluate(config, workdir)
  return read_metrics(workdir, "train")


def device_step_seconds(config, steps: int) -> float:
  """Seconds per train step on one batch already on the devices (back to back, one fetch; best of 3)."""
  import jax

  from gliner_jax.training import sharding as shd
  from gliner_jax.training.loop import build, initial_state, training_batches

  parts = build(config)
  state = initial_state(parts, config.train.seed)
  batch = shd.shard_batch(training_batches(config, parts).next_host_batch().arrays, parts.batch_sharding)
  rng = jax.random.key(0)
  for _ in range(2):  # compile, warm up
    state, metrics = parts.train_step(state, batch, rng)
  jax.block_until_ready(metrics)
  best = float("inf")
  for _ in range(3):
    t0 = time.perf_counter()
    for _ in range(steps):
      state, metrics = parts.train_step(state, batch, rng)
    jax.block_until_ready(metrics)
    best = min(best, (time.perf_counter() - t0) / steps)
  return best


def benchmark_pipeline(config, steps: int, name: str) -> str:
  """Markdown: the loop on `config` with the input pipeline on (prefetch 2) and off (prefetch 0), means over steps
  21..`steps`, and the device-only step for scale. `name` titles the report (e.g. the config file)."""
  import jax

  if steps <= 20:
    raise ValueError("--pipeline_steps must be > 20 (the first 20 steps are excluded)")
  load = " ".join(f"{x:.1f}" for x in os.getloadavg())
  results = {}
  with tempfile.TemporaryDirectory() as tmp:
    config = config.copy_and_resolve_references()
    config.train.compilation_cache_dir = os.path.join(tmp, "cache")  # the second run loads the programs
    for prefetch in (2, 0):
      rows = loop_rows(config, prefetch, steps, os.path.join(tmp, f"prefetch_{prefetch}"))[20:]
      seconds = np.array([r["step_seconds"] for r in rows])
      tokens = np.array([r["tokens_per_second"] for r in rows]) * seconds
      results[prefetch] = (seconds.mean(), np.mean([r["input_seconds"] for r in rows]), tokens.sum() / seconds.sum())
    device = device_step_seconds(config, min(steps, 20))
  load_end = " ".join(f"{x:.1f}" for x in os.getloadavg())
  lines = [
    f"# Training loop, input pipeline on (prefetch 2) vs off (prefetch 0): {name}, "
    f"{config.train.batch_size} rows per step, {jax.device_count()} {jax.devices()[0].platform} device(s)",
    "",
    f"{os.cpu_count()} CPU cores shared with other jobs (load average {load} at start, {load_end} at end): the "
    "batch-building thread and XLA compete for them, and the numbers are noisy.",
    f"Means over steps 21-{steps} (after compilation). Host-blocked: the time per step the loop waited for "
    "its next batch (with the pipeline off: built it) and handed it to the devices (input_seconds in "
    f"metrics.jsonl). For scale, the train step alone on a batch already on the devices: {device * 1e3:.1f} ms.",
    "",
    "| pipeline | ms/step | host-blocked ms/step | tokens/s |",
    "|---|---|---|---|",
  ]
  for prefetch, (step_s, wait_s, tps) in results.items():
    label = "on (prefetch 2)" if prefetch else "off (prefetch 0)"
    lines.append(f"| {label} | {step_s * 1e3:.1f} | {wait_s * 1e3:.1f} | {tps:.0f} |")
  return "\n".join(lines)


# ------------------------------------------------------------------------------------ gliner vs gliner_jax
@dataclasses.dataclass
class StepBenchmark:
  """Timings of `run_step_benchmark`; `report()` is its markdown."""

  threads: int
  torch_device: str
  precision: str
  steps: int
  rows: int
  tokens: int  # padded tokens per row
  real_tokens: int
  words: int  # padded words per row
  types: int
  compile_s: float
  ref_times: list[float]
  jax_times: list[float]
  ref_loss: float
  jax_loss: float
  step_flops: float
  peak: float
  peak_source: str
  devices: str  # "<count> x <kind>"
  load: str
  load_end: str
  versions: str

  @property
  def ref_s(self) -> float:
    return float(np.median(self.ref_times))

  @property
  def jax_s(self) -> float:
    return float(np.median(self.jax_times))

  def report(self) -> str:
    ref_s, jax_s = self.ref_s, self.jax_s
    mfu, ref_mfu = self.step_flops / jax_s / self.peak, self.step_flops / ref_s / self.peak
    lines = [
      f"# Train step (forward, focal loss, backward, clip, AdamW): {REFERENCE} vs gliner_jax, "
      f"{self.threads} CPU threads each",
      "",
      f"Devices: gliner_jax on {self.devices}; PyTorch on {self.torch_device}. "
      f"Compute {self.precision} (PyTorch: autocast; parameters float32 in both).",
      "",
      f"{os.cpu_count()} CPU cores shared with other jobs (load average {self.load} at start, {self.load_end} at "
      "end): numbers are noisy.",
      f"Batch {self.rows} x {self.tokens} tokens ({self.real_tokens} real), {self.words} words, {self.types} types; "
      f"median of {self.steps} steps after one warm-up (gliner_jax compile + first step {self.compile_s:.1f} s, "
      f"excluded). {self.versions}.",
      f"MFU: 3 x analytic forward FLOPs of the padded batch ({self.step_flops / 1e9:.1f} GFLOP per step) / step "
      f"time / a peak of {self.peak / 1e9:.0f} GFLOP/s ({self.peak_source}, not measured).",
      f"Loss after the last step: {REFERENCE} {self.ref_loss:.3f}, gliner_jax {self.jax_loss:.3f} (dropout on and "
      "different rng streams, so they need not agree).",
      "Both MFU columns use the same FLOP count (gliner_jax's factored span head); the reference's own "
      "head does more work, so its column understates its hardware use.",
      "",
      f"| tokens/s {REFERENCE} | tokens/s gliner_jax | ratio | s/step {REFERENCE} | s/step gliner_jax "
      f"| MFU gliner_jax | MFU {REFERENCE} |",
      "|---|---|---|---|---|---|---|",
      f"| {self.real_tokens / ref_s:.0f} | {self.real_tokens / jax_s:.0f} | {ref_s / jax_s:.2f}x | {ref_s:.3f} "
      f"| {jax_s:.3f} | {mfu:.1%} | {ref_mfu:.1%} |",
    ]
    return "\n".join(lines)


def run_step_benchmark(
  backbone: str | None,
  *,
  random_bert_base: bool = False,
  words: int = 128,
  batch_size: int = 8,
  steps: int = 5,
  threads: int = 2,
  torch_device: str = "cpu",
  precision: str = "float32",
  peak_gflops: float = 0.0,
  progress: Callable[[str], None] = print,
) -> StepBenchmark:
  """gliner 0.2.29 and gliner_jax train steps on the same weights and batch (see the module docstring).

  `backbone`: a backbone folder (None: the installed all-MiniLM-L6-v2); `random_bert_base`: a BERT-base-shaped
  random backbone instead (speed only). `peak_gflops`: the MFU denominator; 0: the accelerator's spec sheet,
  else an estimate for `threads` CPU cores. `progress` gets the batch's description before timing.
  """
  if steps < 1 or words < 13 or batch_size < 1 or peak_gflops < 0:
    raise ValueError("need --steps >= 1, --words > max_width (12), --batch_size >= 1, --peak_gflops >= 0")
  import jax
  import torch

  from gliner_jax import DEFAULT_MODEL
  from gliner_jax.data.recipe import batch_tokens
  from gliner_jax.interop.installed_models import minilm_dir
  from gliner_jax.interop.reference_backbones import random_bert_backbone
  from gliner_jax.model.flops import model_flops, train_step_flops
  from gliner_jax.training.loop import build, initial_state
  from gliner_jax.training.mfu import accelerator_peak_flops, cpu_peak_flops
  from gliner_jax.training.model_init import starting_point

  load = " ".join(f"{x:.1f}" for x in os.getloadavg())
  with tempfile.TemporaryDirectory() as workdir:
    if random_bert_base:
      tokenizer = minilm_dir(required=False) or DEFAULT_MODEL
      backbone = random_bert_backbone(os.path.join(workdir, "bert_base_random"), tokenizer)
    else:
      backbone = backbone or minilm_dir()
    ref_dir = os.path.join(workdir, "gliner_ref")
    ref = build_reference(backbone, ref_dir)
    config = jax_config(ref_dir, batch_size, precision)
    start = starting_point(config.model)  # converts the saved gliner checkpoint
    parts = build(config, start=start)
    state = initial_state(parts, seed=0)
  batch = training_batch(start, words, batch_size)
  tokens = batch_tokens(batch)
  b, t = batch["input_ids"].shape
  w, c = batch["word_token_index"].shape[1], batch["type_mask"].shape[1]
  progress(
    f"batch: {b} rows, {tokens} real tokens, padded shape tokens={t} words={w} types={c}; "
    f"real words {int(batch['num_words'].sum())}"
  )
  ref_inputs = reference_inputs(batch, start.config.max_width, torch_device)
  ref_times, ref_loss = time_reference(ref, ref_inputs, steps, torch_device, precision)
  jax_times, jax_loss, compile_s = time_jax(parts, state, batch, steps)
  device = jax.devices()[0]
  accelerator_peak = None if device.platform == "cpu" else accelerator_peak_flops(device.device_kind)
  if peak_gflops:
    peak_source = "--peak_gflops"
  elif accelerator_peak:
    peak_source = f"{device.device_kind} dense bf16 spec sheet, gliner_jax.training.mfu"
  else:
    peak_source = "estimated: cores x clock x SIMD FLOP/cycle"
  return StepBenchmark(
    threads=threads,
    torch_device=torch_device,
    precision=precision,
    steps=steps,
    rows=b,
    tokens=t,
    real_tokens=tokens,
    words=w,
    types=c,
    compile_s=compile_s,
    ref_times=ref_times,
    jax_times=jax_times,
    ref_loss=ref_loss,
    jax_loss=jax_loss,
    step_flops=train_step_flops(model_flops(start.config, t, w, c, batch_size=b).total),
    peak=peak_gflops * 1e9 or accelerator_peak or cpu_peak_flops(cores=threads),
    peak_source=peak_source,
    devices=f"{jax.device_count()} x {device.device_kind}",
    load=load,
    load_end=" ".join(f"{x:.1f}" for x in os.getloadavg()),
    versions=f"jax {jax.__version__}, torch {torch.__version__}",
  )
