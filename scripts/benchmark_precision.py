"""Reduced-precision prediction on CPU: speed and entity changes against float32, on the shipped default model.

For each text length, CrossNER sentences (politics, science) are joined into texts, every variant
(`--variants`: float32, bfloat16, int8 = int8 encoder kernels with float32 matmuls, bfloat16+int8)
is warmed up with `model.warmup` and timed on the same texts (interleaved repeats, median kept),
and its entities are compared with float32's: added and removed (start, end, label) triples, texts
whose entities differ, and the largest score change of an entity both found.

Usage:
  .venv/bin/python scripts/benchmark_precision.py --threads 2 --words 120,350 --batch_size 8
"""

from __future__ import annotations

import json
import os
import statistics
import time

from absl import app, flags

from gliner_jax.evaluation.benchmark_texts import build_texts, read_sentences
from gliner_jax.inference.cpu_threads import limit_benchmark_threads

FLAGS = flags.FLAGS
flags.DEFINE_list("words", ["120", "350"], "Approximate words per text, one setting each.")
flags.DEFINE_integer("batch_size", 8, "batch_size of batch_predict_entities.")
flags.DEFINE_integer("texts", 32, "Texts per setting.")
flags.DEFINE_list("labels", ["person", "organization", "location", "date", "event"], "Entity types.")
flags.DEFINE_list("variants", ["float32", "bfloat16", "int8", "bfloat16+int8"], "Precisions to time.")
flags.DEFINE_integer("repeats", 5, "Timed repeats per variant and setting (median reported).")
flags.DEFINE_integer("threads", 2, "CPU cores for XLA.")
flags.DEFINE_float("threshold", 0.5, "Score threshold.")
flags.DEFINE_string("model", None, "Model folder (default: gliner_jax.DEFAULT_MODEL).")
flags.DEFINE_string("output", None, "Also write the raw numbers here (JSON).")

SENTENCES = ("crossner/politics/test.txt", "crossner/science/test.txt")


def main(argv):
  del argv
  limit_benchmark_threads(FLAGS.threads)
  import jax

  import gliner_jax
  from gliner_jax.data.paths import shared_data
  from gliner_jax.evaluation.inference_benchmark import entity_changes
  from gliner_jax.evaluation.inference_report import precision_table
  from gliner_jax.inference.precision import Precision

  try:
    variant_kwargs = {v: Precision.parse(v).as_kwargs() for v in FLAGS.variants}
  except ValueError as e:
    raise app.UsageError(str(e)) from None

  sentences = read_sentences([shared_data(*p.split("/")) for p in SENTENCES])
  labels = list(FLAGS.labels)
  path = FLAGS.model or gliner_jax.DEFAULT_MODEL
  base = gliner_jax.GLiNER.from_pretrained(path)
  models = {v: gliner_jax.GLiNER(base.config, base.params, base.tokenizer, **variant_kwargs[v]) for v in FLAGS.variants}
  reference = FLAGS.variants[0]
  print(f"jax {jax.__version__}, {FLAGS.threads} threads, load {os.getloadavg()[0]:.1f}", flush=True)
  results, cursor = [], 0
  for words in [int(w) for w in FLAGS.words]:
    texts, cursor = build_texts(sentences, words, FLAGS.texts, cursor)
    n_words = sum(len(list(base.words_splitter(t))) for t in texts)

    def run(model):
      out = model.batch_predict_entities(texts, labels, batch_size=FLAGS.batch_size, threshold=FLAGS.threshold)
      return [{(e.start, e.end, e.label): e.score for e in ents} for ents in out]

    preds, walls = {}, {v: [] for v in models}
    for v, model in models.items():
      model.warmup(texts, labels, batch_size=FLAGS.batch_size)
      preds[v] = run(model)
    for _ in range(FLAGS.repeats):
      for v, model in models.items():
        start = time.perf_counter()
        run(model)
        walls[v].append(time.perf_counter() - start)
    base_wall = statistics.median(walls[reference])
    for v in models:
      wall = statistics.median(walls[v])
      row = dict(words=words, variant=v, wall_s=wall, words_per_s=n_words / wall, speedup=base_wall / wall)
      row.update(entity_changes(preds[reference], preds[v]))
      results.append(row)
      print(json.dumps(row), flush=True)
  print()
  print(precision_table(results, FLAGS.batch_size, FLAGS.texts, reference))
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      json.dump(dict(threads=FLAGS.threads, labels=labels, results=results), f, indent=2)


if __name__ == "__main__":
  app.run(main)
