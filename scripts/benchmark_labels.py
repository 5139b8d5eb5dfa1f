"""Words/s against the number of labels: uni-encoder GLiNER (labels in the prompt) vs bi-encoder (cached labels).

Both models are built here on the local all-MiniLM-L6-v2 (the bi-encoder uses it for the text and for the
labels), hidden 512, max_width 12, max_types 25; their heads are random. The uni-encoder reads labels in
its prompt, `max_types` at a time, so each text is encoded once per group of 25 labels (gliner's own
behaviour for long label lists); the bi-encoder encodes each text once and scores it against label
vectors computed beforehand by `encode_labels` (timed apart: a one-off cost per label set). Texts: the
bundled CrossNER AI slice, sentences joined into texts of about `--words` words; labels: synthetic type
names. Every program is compiled before timing (`warmup`); the threshold is high, so the random heads
pass few spans and the table times the models rather than the decoder. Prints a markdown table.

Usage:
  .venv/bin/python scripts/benchmark_labels.py [--labels 10,100,1000,5000] [--texts 8] [--words 40]
"""

from __future__ import annotations

from absl import app, flags

from gliner_jax.inference.cpu_threads import limit_benchmark_threads

FLAGS = flags.FLAGS
flags.DEFINE_list("labels", ["10", "100", "1000", "5000"], "Label counts, one row each.")
flags.DEFINE_integer("texts", 8, "Texts per run.")
flags.DEFINE_integer("words", 40, "Approximate words per text.")
flags.DEFINE_integer("batch_size", 8, "batch_size of batch_predict_entities.")
flags.DEFINE_integer("threads", 2, "CPU threads for XLA.")
flags.DEFINE_integer("repeats", 3, "Timed runs per setting when one takes under 10 s (median kept).")
flags.DEFINE_float("threshold", 0.9, "Score threshold.")
flags.DEFINE_string("backbone", None, "Backbone directory (default: the local all-MiniLM-L6-v2).")


def main(argv):
  del argv
  limit_benchmark_threads(FLAGS.threads)
  import jax

  from gliner_jax.interop.installed_models import minilm_dir
  from gliner_jax.training.label_benchmark import bench_texts, build_models, labels_table, synthetic_labels, timed

  backbone = FLAGS.backbone or minilm_dir()
  texts = bench_texts(FLAGS.texts, FLAGS.words)
  num_words = sum(len(t.split()) for t in texts)
  uni, bi = build_models(backbone)
  all_labels = synthetic_labels(max(int(n) for n in FLAGS.labels))
  rows = []
  for n in (int(x) for x in FLAGS.labels):
    labels = all_labels[:n]
    predict = dict(batch_size=FLAGS.batch_size, threshold=FLAGS.threshold)
    uni.warmup(texts, labels, FLAGS.batch_size)
    uni_s = timed(lambda: uni.batch_predict_entities(texts, labels, **predict), FLAGS.repeats)
    bi.encode_labels(labels)  # compiles the label programs
    encode_s = timed(lambda: bi.encode_labels(labels), FLAGS.repeats)
    vectors = bi.encode_labels(labels)
    bi.warmup(texts, labels, FLAGS.batch_size, label_embeddings=vectors)
    bi_s = timed(lambda: bi.batch_predict_entities(texts, labels, label_embeddings=vectors, **predict), FLAGS.repeats)
    rows.append((n, num_words / uni_s, num_words / bi_s, encode_s, uni_s / bi_s))
    print(f"{n} labels: uni {uni_s:.2f} s, bi {bi_s:.2f} s (+ {encode_s:.2f} s encoding the labels)", flush=True)
  print()
  setting = f"{FLAGS.texts} texts x {FLAGS.words} words, batch {FLAGS.batch_size}, threshold {FLAGS.threshold}"
  print(f"{setting}, {FLAGS.threads} threads on {jax.devices()[0].device_kind}")
  print()
  print(labels_table(rows))


if __name__ == "__main__":
  app.run(main)
