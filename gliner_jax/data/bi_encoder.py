"""Training batches of a bi-encoder GLiNER: one label set per batch, the text without a prompt.

As gliner 0.2.29's bi-encoder processor (`BaseBiEncoderProcessor.batch_generate_class_mappings`), every
row of a batch is scored against the same labels: the union of the batch's entity types (each window's
span types and its explicit negatives), shuffled, capped at `max_types` x `batch_size`. So a row's
negatives are the other rows' types; there is no per-row negative sampling or prompt dropping
(`negative_prob`, `max_neg_type_ratio`, `prompt_drop` and `type_memory` do not apply). Windowing,
subtoken splitting, skipping and carrying rows over are `gliner_jax.data.batch_iterator.BatchIterator`'s.

A batch holds, besides the text arrays of `pad_batch` (without `type_token_index`):
  labels_input_ids, labels_attention_mask  [B, C / B, L]  the labels, tokenized by the labels tokenizer,
                                           C / B per row so that the batch sharding splits them over devices
  labels [B, W, K, C], span_mask [B, W, K], type_mask [B, C]   as for the uni-encoder's span models; for a
                                           token_level bi-encoder labels [B, W, C, 3] (start, end, inside),
                                           word_mask [B, W], type_mask [B, C], as for the uni token model
C is the label count's bucket (`type_buckets`) rounded up to a multiple of B; L a bucket of label tokens.
Unlike gliner, a batch without any type keeps an empty label set (all-False `type_mask`) instead of "".

Example:
  >>> from transformers import AutoTokenizer
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)  # here also the labels' tokenizer
  >>> uni = GLiNERConfig.load(DEFAULT_MODEL)
  >>> config = uni.replace(labels_encoder=uni.encoder, num_rnn_layers=0)   # a bi-encoder's config
  >>> examples = [NERExample(["Ada", "met", "Babbage", "in", "London"], [(0, 0, "person"), (4, 4, "city")])] * 3
  >>> it = BiEncoderBatchIterator(examples, TextTokenizer(tok, config), tok, RecipeConfig(batch_size=2), seed=0)
  >>> batch = next(it); batch["labels_input_ids"].shape   # [B, C / B, L]: C = 4, the type bucket of 2 labels
  (2, 2, 8)
  >>> batch["labels"].shape  # [B, W, K, C]
  (2, 8, 12, 4)
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np

from gliner_jax.data.batch_iterator import BatchIterator
from gliner_jax.data.readers import NERExample
from gliner_jax.data.recipe import (
  EncodedRow,
  RecipeConfig,
  RecipeStats,
  check_recipe_model,
  encode_rows,
  named_shapes,
  positive_types,
  split_into_windows,
  token_level_targets,
)
from gliner_jax.processing.bi_encoder_inputs import LabelTokenizer, TextTokenizer, text_inputs
from gliner_jax.processing.buckets import BatchShape, bucket, pad_batch
from gliner_jax.processing.prompts import validate_labels


def batch_recipe(cfg: RecipeConfig) -> RecipeConfig:
  """The recipe with `max_types` counting the batch's labels: `max_types` x `batch_size`, gliner's cap."""
  return dataclasses.replace(cfg, max_types=cfg.max_types * cfg.batch_size)


def label_axis(num_labels: int, cfg: RecipeConfig) -> int:
  """C of a batch with `num_labels` labels: its `type_buckets` bucket, rounded up to a multiple of batch_size."""
  c = bucket(max(num_labels, 1), cfg.type_buckets)
  return -(-c // cfg.batch_size) * cfg.batch_size


def batch_label_set(
  examples: Iterable[NERExample], rng: np.random.Generator, cfg: RecipeConfig, stats: RecipeStats | None = None
) -> list[str]:
  """The labels every row of a batch is scored against: the examples' span types and explicit negatives,
  each once, shuffled (`shuffle_types`) and cut to `cfg.max_types` (a `batch_recipe`).

  Example:
    >>> ex1 = NERExample(["Ada", "met", "Babbage"], [(0, 0, "person")], negatives=["date"])
    >>> ex2 = NERExample(["in", "London"], [(1, 1, "city")])
    >>> sorted(batch_label_set([ex1, ex2], np.random.default_rng(0), batch_recipe(RecipeConfig(batch_size=2))))
    ['city', 'date', 'person']
  """
  labels = list(dict.fromkeys(t for ex in examples for t in positive_types(ex) + list(ex.negatives)))
  if cfg.shuffle_types and len(labels) > 1:
    labels = [labels[i] for i in rng.permutation(len(labels))]
  if stats is not None:
    stats.types_truncated += max(0, len(labels) - cfg.max_types)
  return labels[: cfg.max_types]


def assemble_bi_encoder_batch(
  rows: Sequence[EncodedRow],
  labels: Sequence[str],
  cfg: RecipeConfig,
  pad_id: int,
  label_tokenizer: LabelTokenizer,
  stats: RecipeStats,
  token_level: bool = False,
) -> dict[str, np.ndarray]:
  """Pads the text rows and the labels to bucket shapes and marks every span with its label (see the
  module docstring for the arrays; `token_level`: start / end / inside word labels)."""
  b, k_max = cfg.batch_size, cfg.max_width
  if len(rows) > b:
    raise ValueError(f"{len(rows)} rows do not fit batch_size={b}; use BiEncoderBatchIterator, which carries them over")
  shape = BatchShape(
    batch=b,
    tokens=bucket(max([r.encoded.num_tokens for r in rows], default=1), cfg.token_buckets),
    words=bucket(max([r.encoded.num_words for r in rows] + [1]), cfg.word_buckets),
    types=label_axis(len(labels), cfg),
  )
  out = text_inputs(pad_batch([r.encoded for r in rows], dataclasses.replace(shape, types=1), pad_id))
  ids, mask = label_tokenizer.pad(label_tokenizer.encode(labels) if labels else [], shape.types)
  out["labels_input_ids"] = ids.reshape(b, shape.types // b, -1)
  out["labels_attention_mask"] = mask.reshape(b, shape.types // b, -1)
  type_mask = np.zeros((b, shape.types), bool)
  type_mask[: len(rows), : len(labels)] = True
  out["type_mask"] = type_mask
  stats.rows += len(rows)
  if token_level:
    out["labels"] = token_targets([r.example for r in rows], labels, (b, shape.words, shape.types))
    out["word_mask"] = np.arange(shape.words)[None, :] < out["num_words"][:, None]
    return out
  targets = np.zeros((b, shape.words, k_max, shape.types), np.float32)
  index = {t: c for c, t in enumerate(labels)}
  for i, row in enumerate(rows):
    for s, e, t in row.example.spans:
      if e - s >= k_max:
        stats.long_spans_dropped += 1
      elif t in index:
        targets[i, s, e - s, index[t]] = 1.0
  w = np.arange(shape.words)[None, :, None]
  k = np.arange(k_max)[None, None, :]
  out["span_mask"] = (w + k) < out["num_words"][:, None, None]
  out["labels"] = targets
  return out


def token_targets(examples: Sequence[NERExample], labels: Sequence[str], shape: tuple[int, int, int]) -> np.ndarray:
  """Token-level targets [rows, words, types, 3] (`shape` = (rows, words, types), types >= len(labels)) of one
  shared label set: per entity span s..e of a label, its start word, its end word and every word inside it
  (spans of other types are not marked).

  Example:
    >>> ex = NERExample(tokens=("Ada", "Lovelace", "wrote"), spans=((0, 1, "person"),))
    >>> token_targets([ex], ["person"], (1, 3, 4))[0, :, 0].tolist()
    [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
  """
  if len(labels) > shape[2] or len(examples) > shape[0]:
    raise ValueError(f"{len(examples)} rows and {len(labels)} labels do not fit the targets' shape {shape}")
  targets = np.zeros(tuple(shape) + (3,), np.float32)
  index = {t: c for c, t in enumerate(labels)}
  for i, example in enumerate(examples):
    for s, e, t in example.spans:
      if t in index:
        targets[i, s, index[t], 0] = 1.0
        targets[i, e, index[t], 1] = 1.0
        targets[i, s : e + 1, index[t], 2] = 1.0
  return targets


def make_bi_encoder_batch(
  examples: Sequence[NERExample],
  text_tokenizer: TextTokenizer,
  label_tokenizer: LabelTokenizer,
  cfg: RecipeConfig,
  rng: np.random.Generator,
  stats: RecipeStats | None = None,
) -> dict[str, np.ndarray]:
  """One bi-encoder training batch of `examples` (windowed; all rows must fit `cfg.batch_size`).

  Example:
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)  # here also the labels' tokenizer
    >>> uni = GLiNERConfig.load(DEFAULT_MODEL)
    >>> config = uni.replace(labels_encoder=uni.encoder, num_rnn_layers=0)   # a bi-encoder's config
    >>> examples = [NERExample(["Ada", "met", "Babbage", "in", "London"], [(0, 0, "person"), (4, 4, "city")])] * 3
    >>> batch = make_bi_encoder_batch(examples, TextTokenizer(tok, config), LabelTokenizer(tok, config),
    ...                               RecipeConfig(batch_size=4), np.random.default_rng(0))
    >>> batch["labels"].shape, int(batch["type_mask"].sum(-1)[0])   # 3 rows and a padding row; 2 real labels
    ((4, 8, 12, 4), 2)
  """
  stats = stats if stats is not None else RecipeStats()
  limit = check_recipe_model(text_tokenizer, cfg)
  cfg = batch_recipe(cfg)
  windows = []
  for ex in examples:
    stats.examples += 1
    windows += split_into_windows(ex, cfg.max_len, cfg.overlap, stats)
  labels = batch_label_set(windows, rng, cfg, stats)
  if labels:
    validate_labels(labels)
  rows = encode_rows([(w, ()) for w in windows], text_tokenizer, limit, cfg.overlap, stats)
  return assemble_bi_encoder_batch(
    rows,
    labels,
    cfg,
    text_tokenizer.pad_id,
    label_tokenizer,
    stats,
    token_level=token_level_targets(text_tokenizer.config),
  )


class BiEncoderBatchIterator(BatchIterator):
  """`BatchIterator` for bi-encoders: text rows without prompts, one label set per batch (`batch_label_set`).

  `cfg.max_types` is per example, as for the uni-encoder; a batch holds up to max_types x batch_size labels.

  Example (not run here: the module docstring's example runs it):
    >>> it = BiEncoderBatchIterator(examples, TextTokenizer(tok, config), ltok, cfg, seed=0)  # doctest: +SKIP
    >>> batch = next(it); state = it.get_state()  # doctest: +SKIP
  """

  def __init__(
    self,
    source: Iterable[NERExample],
    text_tokenizer: TextTokenizer,
    labels_tokenizer,
    cfg: RecipeConfig,
    seed: int = 0,
    *,
    drop_remainder: bool = False,
  ):
    if not isinstance(text_tokenizer, TextTokenizer):
      raise ValueError("BiEncoderBatchIterator reads texts with a TextTokenizer (no prompt)")
    super().__init__(source, text_tokenizer, batch_recipe(cfg), seed, drop_remainder=drop_remainder)
    self.label_tokenizer = LabelTokenizer(labels_tokenizer, text_tokenizer.config)

  @property
  def shapes(self) -> tuple[BatchShape, ...]:
    """Every (batch, tokens, words, labels) shape this iterator can yield."""
    out = {dataclasses.replace(s, types=label_axis(s.types, self.cfg)) for s in named_shapes(self.cfg, self._limit)}
    return tuple(sorted(out, key=dataclasses.astuple))

  def _prompt_for(self, window: NERExample, pool) -> tuple[str, ...]:
    return ()

  def _assemble_rows(self, rows: Sequence[EncodedRow]) -> dict[str, np.ndarray]:
    labels = batch_label_set([r.example for r in rows], self._rng, self.cfg, self.stats)
    return assemble_bi_encoder_batch(
      rows,
      labels,
      self.cfg,
      self.prompt_tokenizer.pad_id,
      self.label_tokenizer,
      self.stats,
      token_level=token_level_targets(self.prompt_tokenizer.config),
    )
