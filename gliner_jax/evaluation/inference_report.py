"""The markdown reports of the inference benchmarks: scripts/benchmark_inference.py (`render`, from
`gliner_jax.evaluation.inference_benchmark`'s results) and scripts/benchmark_precision.py (`precision_table`).

Example:
  >>> print(precision_table([dict(words=120, variant="float32", words_per_s=500.0, speedup=1.0, entities=9, added=0,
  ...   removed=0, texts_differing=0, max_score_change=0.0)], batch_size=8, texts=4, reference="float32"))
  | setting | variant | words/s | vs float32 | entities | added | removed | texts differing | max score change |
  |---|---|---|---|---|---|---|---|---|
  | ~120 words, batch 8 | float32 | 500 | 1.00x | 9 | 0 | 0 | 0/4 | 0.0000 |
"""

from __future__ import annotations

from typing import Mapping, Sequence

from gliner_jax.evaluation.inference_benchmark import ORT_FP32, ORT_INT8, REFERENCE


def render(results: Sequence[dict], flops: Sequence[dict], profiles: Mapping, meta: Mapping) -> str:
  """The markdown report: words/s, speed-ups, agreement with PyTorch, FLOPs per word and the stage profiles.

  `results`: `benchmark_setting` outputs; `flops`: `flops_rows`; `profiles`: {title: `profile_stages` output};
  `meta`: the run's description (threads, cpus, load, load_end, texts, labels, threshold, repeats, versions, devices).
  """
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


def precision_table(results: Sequence[Mapping], batch_size: int, texts: int, reference: str) -> str:
  """Markdown: per (text length, precision) row of scripts/benchmark_precision.py, its speed against `reference`
  and its entity changes (`entity_changes`)."""
  head = ["setting", "variant", "words/s", f"vs {reference}", "entities", "added", "removed", "texts differing"]
  lines = ["| " + " | ".join(head + ["max score change"]) + " |", "|---|---|---|---|---|---|---|---|---|"]
  for r in results:
    lines.append(
      f"| ~{r['words']} words, batch {batch_size} | {r['variant']} | {r['words_per_s']:.0f} "
      f"| {r['speedup']:.2f}x "
      f"| {r['entities']} | {r['added']} | {r['removed']} | {r['texts_differing']}/{texts} "
      f"| {r['max_score_change']:.4f} |"
    )
  return "\n".join(lines)
