"""Inference speed of gliner_jax against gliner 0.2.29 (PyTorch and its ONNX Runtime path) on the same model and
texts: the models, interleaved timing, agreement of entities, per-stage profiles and analytic FLOPs per word.

scripts/benchmark_inference.py is the command line; `gliner_jax.evaluation.inference_report.render` the report.
gliner's side needs torch and gliner (the `[torch]` extra), its ONNX path onnxruntime.

Example:
  >>> ref, model = build_models(minilm_dir(), "/tmp/bench", calibration, labels, "factored")  # doctest: +SKIP
  >>> r = benchmark_setting({REFERENCE: ref}, {"gliner_jax": model}, texts, labels, 8, n_words)  # doctest: +SKIP
  >>> r["runs"]["gliner_jax"]["words_per_s"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from typing import Any, Callable, Mapping, Sequence

from gliner_jax.interop.reference_models import BENCHMARK_HEADS, build_reference_model, scale_reference_heads

REFERENCE = "gliner 0.2.29"  # on PyTorch
ORT_FP32 = "gliner 0.2.29 ORT fp32"
ORT_INT8 = "gliner 0.2.29 ORT int8"
JAX_PACKED = "gliner_jax packed"


# ------------------------------------------------------------------------------------------ models
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


def build_models(
  backbone: str,
  workdir: str,
  calibration_texts: Sequence[str],
  labels: Sequence[str],
  span_head_impl: str,
  *,
  logit_std: float = 2.0,
  torch_device: str = "cpu",
  torch_dtype: str = "float32",
):
  """(gliner 0.2.29 model, gliner_jax GLiNER): a markerV0 model on `backbone` (`BENCHMARK_HEADS`, seed 0) with its
  random heads scaled on `calibration_texts`, saved to workdir/gliner_ref and converted to workdir/gliner_jax.

  Off the CPU or in another dtype, gliner's model is re-loaded by its own `from_pretrained(map_location, dtype)`.
  """
  from gliner import GLiNER as ReferenceGLiNER

  from gliner_jax.inference.predictor import GLiNER
  from gliner_jax.interop.convert import convert_gliner_checkpoint

  ref = build_reference_model({"model_name": backbone, **BENCHMARK_HEADS}, seed=0)
  ref.eval()
  scale_reference_heads(ref, calibration_texts, labels, logit_std)
  ref_dir, jax_dir = os.path.join(workdir, "gliner_ref"), os.path.join(workdir, "gliner_jax")
  ref.save_pretrained(ref_dir)
  convert_gliner_checkpoint(ref_dir, jax_dir)
  if torch_device != "cpu" or torch_dtype != "float32":  # gliner's own device / dtype loading path
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      ref = ReferenceGLiNER.from_pretrained(ref_dir, map_location=torch_device, dtype=torch_dtype)
    ref.eval()
  return ref, GLiNER.from_pretrained(jax_dir, span_head_impl=span_head_impl)


# ------------------------------------------------------------------------------------------ timing
def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
  """(fn(), wall seconds, CPU seconds of this process)."""
  wall, cpu = time.perf_counter(), time.process_time()
  out = fn()
  return out, time.perf_counter() - wall, time.process_time() - cpu


def run_reference(ref, texts, labels, batch_size: int, threshold: float, **kwargs) -> list[set]:
  """gliner's `inference`: per text, the set of (start, end, label)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    out = ref.inference(texts, labels, batch_size=batch_size, threshold=threshold, **kwargs)
  return [{(e["start"], e["end"], e["label"]) for e in ents} for ents in out]


def run_jax(model, texts, labels, batch_size: int, threshold: float, **kwargs) -> list[set]:
  """gliner_jax's `batch_predict_entities`: per text, the set of (start, end, label)."""
  out = model.batch_predict_entities(texts, labels, batch_size=batch_size, threshold=threshold, **kwargs)
  return [{(e.start, e.end, e.label) for e in ents} for ents in out]


def call_kwargs(name: str) -> dict:
  """Extra arguments of a library's batch call: the packed variant's packing option."""
  return {"packing": True} if name == JAX_PACKED else {}


def benchmark_setting(
  refs: Mapping, jax_models: Mapping, texts, labels, batch_size: int, words: int, *, threshold: float, repeats: int
) -> dict:
  """Times every library on one setting; returns per-library medians and agreement with the reference.

  `refs`: gliner instances by name, REFERENCE (PyTorch) first; `jax_models`: gliner_jax models by name.
  One warm-up call each (it compiles JAX), then `repeats` interleaved timed calls.
  """
  runners = {}
  for name, ref in refs.items():
    runners[name] = lambda ref=ref, kw=call_kwargs(name): run_reference(ref, texts, labels, batch_size, threshold, **kw)
  for name, model in jax_models.items():
    runners[name] = lambda model=model, kw=call_kwargs(name): run_jax(model, texts, labels, batch_size, threshold, **kw)
  runs, preds = {}, {}
  for name, fn in runners.items():
    preds[name], wall, _ = timed(fn)
    runs[name] = {"warmup_s": wall}
  walls = {name: [] for name in runners}
  cpus = {name: [] for name in runners}
  for _ in range(repeats):
    for name, fn in runners.items():  # interleaved, so load changes hit all libraries alike
      _, wall, cpu = timed(fn)
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


def entity_changes(want: Sequence[Mapping], got: Sequence[Mapping]) -> dict:
  """Entity changes of `got` against `want` (per text: {(start, end, label): score}): entities, added, removed,
  texts whose entity sets differ and the largest score change of an entity both found."""
  added = sum(len(g.keys() - w.keys()) for w, g in zip(want, got))
  removed = sum(len(w.keys() - g.keys()) for w, g in zip(want, got))
  changes = [abs(w[k] - g[k]) for w, g in zip(want, got) for k in w.keys() & g.keys()]
  return dict(
    entities=sum(map(len, got)),
    added=added,
    removed=removed,
    texts_differing=sum(w.keys() != g.keys() for w, g in zip(want, got)),
    max_score_change=max(changes, default=0.0),
  )


# ------------------------------------------------------------------------------------------ profiles
class StageTimer:
  """Wraps callables so the time spent in each is summed under a stage name; `restore` unwraps them."""

  def __init__(self):
    self.seconds: dict[str, float] = {}
    self._restore = []

  def wrap(self, owner, attr: str, stage: str, block: bool = False):
    import jax

    original = getattr(owner, attr)

    def timed_call(*args, **kwargs):
      start = time.perf_counter()
      out = original(*args, **kwargs)
      if block:
        out = jax.block_until_ready(out)
      self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
      return out

    had_own = attr in getattr(owner, "__dict__", {})
    self._restore.append((owner, attr, original if had_own else None))
    setattr(owner, attr, timed_call)

  def restore(self):
    for owner, attr, original in reversed(self._restore):
      if original is None:
        delattr(owner, attr)
      else:
        setattr(owner, attr, original)
    self._restore.clear()


def profile_stages(refs: Mapping, jax_models: Mapping, texts, labels, batch_size: int, threshold: float) -> dict:
  """Per-stage seconds of one warm call of each library (host prep, device forward, decode, rest)."""
  import gliner_jax.inference.predictor as inference

  out = {}
  for name, model in jax_models.items():
    timer = StageTimer()
    timer.wrap(model, "_plan", "tokenize (split + prompt tokenizer)")
    timer.wrap(inference, "pad_batch", "pad batch")
    timer.wrap(inference, "pad_packed_batch", "pad batch")
    timer.wrap(model, "_candidates", "device forward + candidates", block=True)
    timer.wrap(inference.jax, "device_get", "device->host")
    timer.wrap(inference, "decode_spans", "decode (greedy, host)")
    try:
      _, wall, _ = timed(lambda: run_jax(model, texts, labels, batch_size, threshold, **call_kwargs(name)))
    finally:
      timer.restore()
    out[name] = dict(timer.seconds, total=wall, other=wall - sum(timer.seconds.values()))
  for name, ref in refs.items():
    timer = StageTimer()
    timer.wrap(ref, "prepare_batch", "tokenize (split + words)")
    timer.wrap(ref, "collate_batch", "collate (subword tokenizer + pad)")
    timer.wrap(ref, "run_batch", "model forward")
    timer.wrap(ref, "decode_batch", "decode")
    try:
      _, wall, _ = timed(lambda: run_reference(ref, texts, labels, batch_size, threshold, **call_kwargs(name)))
    finally:
      timer.restore()
    out[name] = dict(timer.seconds, total=wall, other=wall - sum(timer.seconds.values()))
  return out


def flops_rows(model, texts_by_length: Mapping, labels: Sequence[str]) -> list[dict]:
  """Analytic FLOPs per word (encoder, reference head, factored head) at each setting's mean lengths."""
  from gliner_jax.model.flops import encoder_flops, head_flops

  cfg = model.config
  rows = []
  for words, texts in texts_by_length.items():
    split = [[w for w, _, _ in model.words_splitter(t)] for t in texts]
    enc = model.prompt_tokenizer.encode_batch(split, [labels] * len(split))
    n_tok = round(statistics.mean(e.num_tokens for e in enc))
    n_words = round(statistics.mean(e.num_words for e in enc))
    rows.append(
      dict(
        words=words,
        mean_words=n_words,
        mean_tokens=n_tok,
        encoder=encoder_flops(cfg.encoder, n_tok).total / n_words,
        reference_head=head_flops(cfg, n_words, len(labels), "reference", num_tokens=n_tok).total / n_words,
        factored_head=head_flops(cfg, n_words, len(labels), "factored", num_tokens=n_tok).total / n_words,
      )
    )
  return rows
