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

from absl import app, flags

from gliner_jax.inference.cpu_threads import limit_benchmark_threads

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


def main(argv):
  del argv
  if FLAGS.pipeline_config:
    if FLAGS.pipeline_steps <= 20:
      raise app.UsageError("--pipeline_steps must be > 20 (the first 20 steps are excluded)")
    limit_benchmark_threads(FLAGS.threads)
    from gliner_jax.training.config_files import load_config
    from gliner_jax.training.step_benchmark import benchmark_pipeline

    config = load_config(FLAGS.pipeline_config)
    print(benchmark_pipeline(config, FLAGS.pipeline_steps, os.path.relpath(FLAGS.pipeline_config)))
    return
  if FLAGS.steps < 1 or FLAGS.words < 13 or FLAGS.batch_size < 1 or FLAGS.peak_gflops < 0:
    raise app.UsageError("need --steps >= 1, --words > max_width (12), --batch_size >= 1, --peak_gflops >= 0")
  limit_benchmark_threads(FLAGS.threads, torch=True)
  from gliner_jax.training.step_benchmark import run_step_benchmark

  result = run_step_benchmark(
    FLAGS.backbone,
    random_bert_base=FLAGS.random_bert_base,
    words=FLAGS.words,
    batch_size=FLAGS.batch_size,
    steps=FLAGS.steps,
    threads=FLAGS.threads,
    torch_device=FLAGS.torch_device,
    precision=FLAGS.precision,
    peak_gflops=FLAGS.peak_gflops,
    progress=lambda line: print(line, flush=True),
  )
  print(result.report())


if __name__ == "__main__":
  app.run(main)
