"""CPU inference benchmark: gliner 0.2.29 (PyTorch, and its ONNX Runtime path) vs gliner_jax, same model and texts.

Builds a gliner 0.2.29 markerV0 model on the local all-MiniLM-L6-v2 backbone (hidden 512, max_width 12,
max_len 384; random heads, re-scaled so that scores spread around the threshold), saves it, converts it
with `convert_gliner_checkpoint`, exports it with gliner's own `export_to_onnx(quantize=True)` (fp32
and dynamic-int8 graphs) and loads those with `GLiNER.from_pretrained(..., load_onnx_model=True)`; then
times every public batch API end to end (tokenization, forward, decoding) on CrossNER sentences joined
into texts of about 30, 120 and 350 words, 5 labels, batch 1 and 8: gliner on PyTorch, on ORT fp32, on
ORT int8, and gliner_jax at each `--precisions` dtype. All get the same number of threads; runs are
interleaved and the median is kept. JAX compilation happens in the warm-up run and is reported separately.
Every ratio of each gliner_jax variant to each gliner path is printed from the one run, with each path's
agreement with PyTorch's entities.

Usage:
  .venv/bin/python scripts/benchmark_inference.py [--precisions float32,bfloat16] [--span_head_impl factored,reference]
    [--noonnx] [--output report.md]
  .venv/bin/python scripts/benchmark_inference.py --words sentence,30 --packing   # short texts, packed vs not
    [--random_bert_base]
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import tempfile

from absl import app, flags

from gliner_jax.evaluation.benchmark_texts import build_texts, read_sentences, sentence_texts
from gliner_jax.inference.cpu_threads import limit_benchmark_threads

FLAGS = flags.FLAGS
flags.DEFINE_list(
  "words",
  ["30", "120", "350"],
  "Approximate words per text, one setting each; 'sentence': each text one CrossNER sentence (mixed lengths).",
)
flags.DEFINE_list("batch_sizes", ["1", "8"], "Batch sizes passed to both libraries.")
flags.DEFINE_integer("texts_per_setting", 16, "Texts per (length, batch size) setting.")
flags.DEFINE_list("labels", ["person", "organization", "location", "date", "event"], "Entity types.")
flags.DEFINE_integer("repeats", 3, "Timed repeats per library and setting (median reported).")
flags.DEFINE_integer("threads", 2, "Intra-op threads for torch and XLA.")
flags.DEFINE_list(
  "span_head_impl",
  ["factored"],
  "gliner_jax span head(s): factored, reference, or both (each timed against the same gliner 0.2.29 runs).",
)
flags.DEFINE_list(
  "precisions",
  ["float32", "bfloat16"],
  "gliner_jax precisions: float32, bfloat16, int8 (int8 encoder kernels), bfloat16+int8.",
)
flags.DEFINE_bool(
  "packing",
  False,
  "Also time gliner_jax with packing=True (gliner 0.2.29's own InferencePackingConfig raises on BERT-family "
  "backbones such as this MiniLM: its packed encoder call drops input_ids).",
)
flags.DEFINE_bool("onnx", True, "Also time gliner 0.2.29's ONNX Runtime path (fp32 and dynamic int8).")
flags.DEFINE_float("threshold", 0.5, "Score threshold for both libraries.")
flags.DEFINE_float("logit_std", 2.0, "Std the random heads are scaled to (so predictions are not empty).")
flags.DEFINE_string("backbone", None, "Backbone directory (default: the local all-MiniLM-L6-v2).")
flags.DEFINE_bool(
  "random_bert_base",
  False,
  "Use a BERT-base-shaped backbone (12 layers x 768, random weights, seed 0) with MiniLM's tokenizer (the default "
  "model's where MiniLM is not installed: the same bert-base-uncased vocabulary) instead: speed only, for an "
  "encoder-heavy model.",
)
flags.DEFINE_string(
  "sentences",
  "../shared/data/crossner/politics/test.txt,../shared/data/crossner/science/test.txt",
  "CoNLL files the texts are built from (a relative path not found here is relative to the "
  "repository; ../shared/data is gliner_jax.data.paths.shared_data).",
)
flags.DEFINE_bool("profile", True, "Also split gliner_jax and gliner time into stages at batch 8.")
flags.DEFINE_string("output", None, "Also write the results here (.json: raw numbers; else markdown).")
flags.DEFINE_string(
  "torch_device", "cpu", "Device of gliner 0.2.29's PyTorch model (cpu, cuda); gliner_jax uses JAX's default backend."
)
flags.DEFINE_enum(
  "torch_dtype",
  "float32",
  ["float32", "bfloat16"],
  "dtype gliner 0.2.29 loads its PyTorch model in (its own from_pretrained(dtype=...)).",
)


def main(argv):
  del argv
  impls = list(dict.fromkeys(FLAGS.span_head_impl))
  bad = [i for i in impls if i not in ("factored", "reference")]
  if bad or not impls:
    raise app.UsageError(f"--span_head_impl takes 'factored' and/or 'reference', got {FLAGS.span_head_impl}")
  precisions = list(dict.fromkeys(FLAGS.precisions))
  limit_benchmark_threads(FLAGS.threads, torch=True)  # before anything imports jax
  from gliner_jax.inference.precision import Precision

  try:
    precision_kwargs = {p: Precision.parse(p).as_kwargs() for p in precisions}
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  import jax
  import torch

  from gliner_jax import DEFAULT_MODEL, GLiNER
  from gliner_jax.data.paths import resolve_repo_path
  from gliner_jax.evaluation import inference_benchmark as bench
  from gliner_jax.evaluation.inference_report import render
  from gliner_jax.interop.installed_models import minilm_dir
  from gliner_jax.interop.reference_backbones import random_bert_backbone

  labels = list(FLAGS.labels)
  lengths = [w if w == "sentence" else int(w) for w in FLAGS.words]
  batch_sizes = [int(b) for b in FLAGS.batch_sizes]
  sentences = read_sentences([p if os.path.exists(p) else resolve_repo_path(p) for p in FLAGS.sentences.split(",")])
  texts, cursor = {}, 0
  for words in lengths:
    for b in batch_sizes:
      if words == "sentence":
        texts[(words, b)], cursor = sentence_texts(sentences, FLAGS.texts_per_setting, cursor)
      else:
        texts[(words, b)], cursor = build_texts(sentences, words, FLAGS.texts_per_setting, cursor)
  calibration, _ = build_texts(sentences, 60, 4, cursor)
  meta = dict(
    span_head_impl=impls,
    precisions=precisions,
    threads=FLAGS.threads,
    cpus=os.cpu_count(),
    load=" ".join(f"{x:.1f}" for x in os.getloadavg()),
    texts=FLAGS.texts_per_setting,
    labels=labels,
    threshold=FLAGS.threshold,
    repeats=FLAGS.repeats,
    jax=jax.__version__,
    torch=torch.__version__,
    onnxruntime=importlib.metadata.version("onnxruntime") if FLAGS.onnx else "-",
    torch_device=FLAGS.torch_device,
    torch_dtype=FLAGS.torch_dtype,
    jax_device=f"{jax.device_count()} x {jax.devices()[0].device_kind}",
    xla_flags=os.environ.get("XLA_FLAGS", ""),
  )
  print(
    f"jax {jax.__version__} ({jax.default_backend()}), torch {torch.__version__}, "
    f"XLA_FLAGS={meta['xla_flags']!r}, load {meta['load']}",
    flush=True,
  )
  with tempfile.TemporaryDirectory() as workdir:
    if FLAGS.random_bert_base:
      backbone = random_bert_backbone(
        os.path.join(workdir, "bert_base_random"), minilm_dir(required=False) or DEFAULT_MODEL
      )
    else:
      backbone = FLAGS.backbone or minilm_dir()
    ref, model = bench.build_models(
      backbone,
      workdir,
      calibration,
      labels,
      impls[0],
      logit_std=FLAGS.logit_std,
      torch_device=FLAGS.torch_device,
      torch_dtype=FLAGS.torch_dtype,
    )
    refs = {bench.REFERENCE: ref}
    if FLAGS.onnx:
      refs.update(bench.build_onnx_models(ref, workdir, FLAGS.threads))
    jax_models = {}
    for p in precisions:
      for impl in impls:
        name = "gliner_jax" + ("" if p == "float32" else f" {p}") + ("" if len(impls) == 1 else f" ({impl})")
        jax_models[name] = GLiNER(
          model.config, model.params, model.tokenizer, span_head_impl=impl, **precision_kwargs[p]
        )
    if FLAGS.packing:
      jax_models[bench.JAX_PACKED] = jax_models["gliner_jax" if "gliner_jax" in jax_models else next(iter(jax_models))]
    results, profiles = [], {}
    for (words, b), setting_texts in texts.items():
      n_words = sum(len(list(model.words_splitter(t))) for t in setting_texts)
      r = bench.benchmark_setting(
        refs, jax_models, setting_texts, labels, b, n_words, threshold=FLAGS.threshold, repeats=FLAGS.repeats
      )
      results.append(r)
      print(
        f"~{r['words_per_text']:.0f} words, batch {b}: "
        + ", ".join(f"{n} {run['words_per_s']:.0f} words/s" for n, run in r["runs"].items()),
        flush=True,
      )
      if FLAGS.profile and b == max(batch_sizes):
        chosen = {n: m for n, m in jax_models.items() if impls[0] in n or len(impls) == 1}
        profiles[f"~{r['words_per_text']:.0f} words, batch {b}, gliner_jax span head {impls[0]}"] = (
          bench.profile_stages(refs, chosen, setting_texts, labels, b, FLAGS.threshold)
        )
    flops = bench.flops_rows(model, {w: texts[(w, batch_sizes[0])] for w in lengths}, labels)
  meta["load_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
  meta["compiled_shapes"] = {n: len(m.compiled_shapes) for n, m in jax_models.items()}
  report = render(results, flops, profiles, meta)
  print()
  print(report)
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      if FLAGS.output.endswith(".json"):
        json.dump(dict(meta=meta, results=results, flops=flops, profiles=profiles), f, indent=2)
      else:
        f.write(report)


if __name__ == "__main__":
  app.run(main)
