"""Words/s against the number of labels: uni-encoder GLiNER (labels in the prompt) vs bi-encoder (cached labels).

The models, texts and labels of scripts/benchmark_labels.py: both models on one backbone (the bi-encoder uses it
for the text and for the labels), hidden 512, max_width 12, max_types 25, random heads; texts from the bundled
CrossNER AI slice; synthetic type names. `labels_table` renders the rows.

Example:
  >>> synthetic_labels(3)
  ['small mineral model', 'rare book class', 'northern song unit']
"""

from __future__ import annotations

import os
import time
from typing import Sequence


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
  """`count` texts of `words` tokens: the bundled CrossNER AI slice's sentences joined, space-separated."""
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

  from gliner_jax.inference.api import make_predictor
  from gliner_jax.model.kinds import kind_of, make_model
  from gliner_jax.training.model_init import merge_params, starting_point

  heads = dict(hidden_size=512, max_width=12, max_len=384, max_types=25, dropout=0.0)
  uni_cfg = ml_collections.ConfigDict(dict(init="hf_encoder", path=backbone, name="", **heads))
  bi_cfg = ml_collections.ConfigDict(
    dict(init="hf_encoder", path=backbone, name="", labels_encoder=backbone, num_rnn_layers=0, **heads)
  )
  out = []
  for model_cfg in (uni_cfg, bi_cfg):
    start = starting_point(model_cfg)
    example = kind_of(start.config).dummy_batch(1)
    fresh = nn.meta.unbox(make_model(start.config).init(jax.random.key(0), **example)["params"])
    params = merge_params(jax.device_get(fresh), start.params)
    out.append(
      make_predictor(
        start.config, params, start.tokenizer, labels_tokenizer=start.labels_tokenizer, compilation_cache=False
      )
    )
  return out


def timed(fn, repeats: int) -> float:
  """Median seconds of up to `repeats` calls of `fn` (stops repeating once a call takes over 10 s)."""
  times = []
  for _ in range(repeats):
    began = time.perf_counter()
    fn()
    times.append(time.perf_counter() - began)
    if times[-1] > 10:
      break
  return sorted(times)[len(times) // 2]


def labels_table(rows: Sequence[tuple[int, float, float, float, float]]) -> str:
  """Markdown: per (labels, uni words/s, bi words/s, label-encoding seconds, bi / uni speed) row."""
  lines = [
    "| labels | uni-encoder words/s | bi-encoder words/s (cached labels) | encoding the labels (once) | bi / uni |",
    "|---:|---:|---:|---:|---:|",
  ]
  for n, uni_wps, bi_wps, encode_s, ratio in rows:
    lines.append(f"| {n} | {uni_wps:,.0f} | {bi_wps:,.0f} | {encode_s:.2f} s | {ratio:.1f}x |")
  return "\n".join(lines)
