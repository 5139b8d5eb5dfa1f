"""The training recipe: from `NERExample`s to static-shaped, labelled training batches.

Per example (a "row" of the batch) the recipe builds the entity-type prompt the model is asked
about, tokenizes prompt + words, and marks every span (w, k) = words w..w+k with the prompt
types it has. Sampling follows gliner 0.2.29 (`batch_generate_class_mappings`) and the GLiNER
paper, with the differences listed here:

* Positive types: the types of the example's spans, each once.
* Negative types. The reference draws a ratio r uniformly from {0, ..., max_neg_type_ratio}
  (default 1, so half of the examples get negatives: the paper's 50%) and adds the first
  r * (number of annotated mentions) types of a shuffled list of the types seen in the batch.
  Here r = 0 with probability 1 - `negative_prob`, else uniform in {1, ..., max_neg_type_ratio};
  with the defaults (ratio 1, prob 0.5) that is the reference's distribution exactly (for a
  ratio R > 1 set `negative_prob = R / (R + 1)` to match it). Unlike the reference, the
  example's own positive types are excluded before drawing (the reference merges them through
  a set, silently giving fewer negatives), and an example without entities draws as if it had
  one mention (the reference never gives it negatives and prompts it with the empty type "").
* Explicit negatives (types known to be absent, `NERExample.negatives`) replace the sampled
  ones, as in the reference.
* Prompt dropping: the original GLiNER training code (`random_drop: true`) keeps, after
  shuffling, a uniformly random number 1..n of the n types, so entities of dropped types become
  unlabelled text. `prompt_drop` is the probability of doing so per example (1.0: original
  recipe; 0.0: off; gliner 0.2.29's span processor no longer drops).
* Shuffling then truncation to `max_types` (reference order), so positive types can be cut too;
  with `shuffle_types=False` positives come first and survive truncation.
* Long passages are cut into overlapping windows (`split_into_windows`) instead of being
  truncated at max_len words; windows whose subtokens exceed the encoder's limit are split again.
* Rows without any type keep an empty prompt (all-False `type_mask`) instead of the "" type.

Labels follow the output layout registered with the model's kind (`gliner_jax.model.kinds`,
`token_level_targets`): span models get labels[B, W, K, C] (span w..w+k has type c; spans
wider than max_width are dropped) and span_mask[B, W, K]; token_level models get labels[B, W, C, 3]
(start, end and inside marks of every span of type c, of any width, as gliner's token processor) and
word_mask[B, W].

`make_training_batch` builds one batch from a list of examples; `gliner_jax.data.batch_iterator.BatchIterator`
streams batches from a dataset, checkpointably.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Sequence

import numpy as np

from gliner_jax.data.readers import NERExample
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.kinds import kind_of
from gliner_jax.processing.buckets import TOKEN_BUCKETS, TYPE_BUCKETS, WORD_BUCKETS, BatchShape, bucket, pad_batch
from gliner_jax.processing.prompts import EncodedText, PromptTokenizer, validate_labels
from gliner_jax.processing.windows import word_windows


@dataclasses.dataclass(frozen=True)
class RecipeConfig:
  """How training batches are sampled and shaped (see the module docstring for the semantics).

  `window_overlap=None` means `max_width` (the least overlap that keeps every span of at most
  `max_width` words whole in some window); `max_tokens=None` means the encoder's position limit.
  Batches are padded to the smallest bucket of each dimension (`named_shapes` lists every shape a run can
  compile); `fixed_shape=True` pads every batch to the largest of them instead: one shape, one compiled
  train step, and the same shape on every process of a multi-host run without asking the others.

  Example:
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> cfg = RecipeConfig.from_model_config(GLiNERConfig.load(DEFAULT_MODEL), batch_size=16, prompt_drop=0.0)
    >>> cfg.batch_size, cfg.max_width, cfg.max_len, cfg.prompt_drop   # width and length: the model's
    (16, 12, 96, 0.0)
  """

  batch_size: int = 8
  max_len: int = 384
  max_width: int = 12
  max_types: int = 25
  max_neg_type_ratio: int = 1
  negative_prob: float = 0.5
  prompt_drop: float = 1.0
  shuffle_types: bool = True
  window_overlap: int | None = None
  max_tokens: int | None = None
  type_memory: int = 0
  token_buckets: tuple[int, ...] = TOKEN_BUCKETS
  word_buckets: tuple[int, ...] = WORD_BUCKETS
  type_buckets: tuple[int, ...] = TYPE_BUCKETS
  fixed_shape: bool = False

  def __post_init__(self):
    for name in ("batch_size", "max_len", "max_width", "max_types"):
      if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
        raise ValueError(f"RecipeConfig.{name} must be a positive int, got {getattr(self, name)!r}")
    if self.max_neg_type_ratio < 0 or self.type_memory < 0:
      raise ValueError("RecipeConfig.max_neg_type_ratio and type_memory must be >= 0")
    for name in ("negative_prob", "prompt_drop"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ValueError(f"RecipeConfig.{name} must be in [0, 1], got {getattr(self, name)}")
    if not self.max_width <= self.overlap < self.max_len:
      raise ValueError(
        f"RecipeConfig: need max_width ({self.max_width}) <= window_overlap "
        f"({self.overlap}) < max_len ({self.max_len}) so windows keep every span whole"
      )
    if self.max_tokens is not None and self.max_tokens < 2:
      raise ValueError(f"RecipeConfig.max_tokens must be >= 2 or None, got {self.max_tokens}")
    for name in ("token_buckets", "word_buckets", "type_buckets"):
      b = tuple(getattr(self, name))
      if not b or any(x < 1 for x in b) or list(b) != sorted(set(b)):
        raise ValueError(f"RecipeConfig.{name} must be strictly increasing positive ints, got {b}")
      object.__setattr__(self, name, b)

  @property
  def overlap(self) -> int:
    return self.max_width if self.window_overlap is None else self.window_overlap

  @classmethod
  def from_model_config(cls, config: GLiNERConfig, **overrides) -> "RecipeConfig":
    """Takes max_len, max_width and max_types from the model config (overridable)."""
    values = dict(max_len=config.max_len, max_width=config.max_width, max_types=config.max_types)
    values.update(overrides)
    return cls(**values)


@dataclasses.dataclass
class RecipeStats:
  """Counters of what the recipe changed or lost (accumulated over calls).

  `skipped_examples`: examples (or windows of them) `BatchIterator` left out as unusable, each named in a
  warning (the first few): an entity type the prompt cannot hold, a prompt or a single word over the token limit.
  `cut_relations`: relations (`NERExample.relations`) whose two entities no window holds together.
  """

  examples: int = 0
  rows: int = 0
  extra_windows: int = 0
  cut_spans: int = 0
  cut_relations: int = 0
  subtoken_splits: int = 0
  long_spans_dropped: int = 0
  types_truncated: int = 0
  empty_examples: int = 0
  skipped_examples: int = 0


@dataclasses.dataclass(frozen=True)
class EncodedRow:
  """One training row before padding: its example (a window of one), its prompt's types, and their encoding."""

  example: NERExample
  prompt: tuple[str, ...]
  encoded: EncodedText


def encoder_token_limit(config: GLiNERConfig) -> int:
  """Most tokens one row may have: the encoder's positions (RoBERTa's start after the pad id)."""
  enc = config.encoder
  if enc.position_embedding_type == "padding_offset":
    return enc.max_position_embeddings - enc.pad_token_id - 1
  return enc.max_position_embeddings


def split_into_windows(
  example: NERExample, max_len: int, overlap: int, stats: RecipeStats | None = None
) -> list[NERExample]:
  """Cuts a passage longer than `max_len` words into the overlapping windows of `word_windows`.

  Spans inside a window are kept with re-based indices; spans crossing a window edge are left out
  of that window (with overlap >= their width they are whole in a neighbouring one). A relation is
  kept (its head and tail re-indexed into the window's spans) where both its entities are; the windows
  that see only one of them leave it out (`stats.cut_relations` counts those lost in every window).
  Negatives are carried to every window. Short examples come back unchanged.

  Example:
    >>> ex = NERExample(list("abcdefg"), [(2, 3, "x")])
    >>> [w.spans for w in split_into_windows(ex, 4, 2)]
    [((2, 3, 'x'),), ((0, 1, 'x'),), ()]
  """
  windows = word_windows(len(example.tokens), max_len, overlap)  # validates the arguments
  if len(windows) == 1:
    return [example]
  out = []
  kept_somewhere: set[int] = set()
  for i, (start, end, _, _) in enumerate(windows):
    inside = [j for j, (s, e, _) in enumerate(example.spans) if start <= s and e < end]
    spans = [(example.spans[j][0] - start, example.spans[j][1] - start, example.spans[j][2]) for j in inside]
    new_index = {j: k for k, j in enumerate(inside)}
    relations = []
    for r, (h, t, label) in enumerate(example.relations):
      if h in new_index and t in new_index:
        relations.append((new_index[h], new_index[t], label))
        kept_somewhere.add(r)
    if stats is not None:
      stats.cut_spans += sum(1 for s, e, _ in example.spans if s < end and e >= start) - len(spans)
    out.append(
      NERExample(
        example.tokens[start:end],
        spans,
        example.negatives,
        f"{example.id}#w{i}",
        relations,
        example.relation_negatives,
      )
    )
  if stats is not None:
    stats.extra_windows += len(out) - 1
    stats.cut_relations += len(example.relations) - len(kept_somewhere)
  return out


def positive_types(example: NERExample) -> list[str]:
  """The example's span types, each once, in order of first appearance."""
  return list(dict.fromkeys(t for _, _, t in example.spans))


def sample_prompt(
  example: NERExample,
  rng: np.random.Generator,
  pool_of_types: Iterable[str],
  cfg: RecipeConfig,
  stats: RecipeStats | None = None,
) -> list[str]:
  """The entity types to put in this example's prompt (positives, negatives, drop, shuffle, cap).

  Negatives are the example's explicit negatives if it has any, otherwise (with probability
  `cfg.negative_prob`) r * max(1, #spans) types drawn without replacement from `pool_of_types`
  minus the example's positives, r uniform in 1..`cfg.max_neg_type_ratio`.

  Example:
    >>> ex = NERExample(["Ada", "Lovelace", "met", "Babbage"], [(0, 1, "person"), (3, 3, "person")])
    >>> prompt = sample_prompt(ex, np.random.default_rng(0), ["person", "city"], RecipeConfig())
    >>> set(prompt) <= set(positive_types(ex)) | {"person", "city"}
    True
  """
  types = sample_types(
    positive_types(example), example.negatives, len(example.spans), rng, pool_of_types, cfg, stats, cfg.max_types
  )
  if types:
    try:
      validate_labels(types)
    except ValueError as e:
      raise ValueError(f"example {example.id!r}: bad entity type: {e}") from None
  return types


def sample_types(
  positives: Sequence[str],
  explicit_negatives: Sequence[str],
  mentions: int,
  rng: np.random.Generator,
  pool_of_types: Iterable[str],
  cfg: RecipeConfig,
  stats: RecipeStats | None,
  max_types: int,
  drop: bool = True,
) -> list[str]:
  """`sample_prompt`'s draw on plain type lists: the positives, the explicit negatives or (with probability
  `cfg.negative_prob`) r * max(1, `mentions`) types of `pool_of_types` minus the positives, shuffled, cut to a
  random prefix with probability `cfg.prompt_drop` (if `drop`) and to `max_types` (counted in `stats`).

  Example:
    >>> cfg = RecipeConfig(negative_prob=1.0)
    >>> sorted(sample_types(["founded"], [], 1, np.random.default_rng(0), ["born in"], cfg, None, 8, drop=False))
    ['born in', 'founded']
  """
  positives = list(positives)
  own = set(positives)
  negatives = list(dict.fromkeys(t for t in explicit_negatives if t not in own))
  if not negatives and cfg.max_neg_type_ratio > 0 and rng.random() < cfg.negative_prob:
    ratio = int(rng.integers(1, cfg.max_neg_type_ratio + 1))
    candidates = sorted(set(pool_of_types) - own)  # sorted: set order is not reproducible
    count = min(ratio * max(1, mentions), len(candidates))
    negatives = [candidates[i] for i in rng.choice(len(candidates), size=count, replace=False)]
  types = positives + negatives
  if cfg.shuffle_types and len(types) > 1:
    types = [types[i] for i in rng.permutation(len(types))]
  if drop and len(types) > 1 and rng.random() < cfg.prompt_drop:
    types = types[: int(rng.integers(1, len(types) + 1))]
  if stats is not None:
    stats.types_truncated += max(0, len(types) - max_types)
  return types[:max_types]


def encode_rows(
  pairs: Sequence[tuple[NERExample, tuple[str, ...]]],
  ptok: PromptTokenizer,
  limit: int,
  overlap: int,
  stats: RecipeStats,
  skip: Callable[[str], None] | None = None,
  count_types: Callable[[tuple[str, ...]], int] = len,
) -> list[EncodedRow]:
  """Tokenizes (window, prompt) pairs, splitting windows whose tokens exceed `limit`.

  A window that cannot become a row raises ValueError, or with `skip` is left out after `skip(why)`.
  `count_types(prompt)`: the entity-type markers the prompt must give (a relex prompt holds relation types too).
  """
  if not pairs:
    return []
  encoded = ptok.encode_batch([ex.tokens for ex, _ in pairs], [list(p) for _, p in pairs])
  rows = []
  for (ex, prompt), enc in zip(pairs, encoded):
    why = None
    if len(enc.type_token_index) != count_types(prompt):
      why = (
        f"prompt {list(prompt)} gave {len(enc.type_token_index)} {ptok.config.ent_token} tokens, "
        f"expected {count_types(prompt)}"
      )
    elif enc.num_tokens <= limit:
      rows.append(EncodedRow(ex, prompt, enc))
      continue
    else:
      base = ptok.encode_batch([[]], [list(prompt)])[0].num_tokens
      n = len(ex.tokens)
      if base >= limit:
        why = (
          f"the prompt of {count_types(prompt)} types takes {base} tokens, not less than the limit {limit}; "
          "lower max_types"
        )
      elif n == 1:
        why = (
          f"the word {ex.tokens[0][:40]!r} alone needs {enc.num_tokens - base} tokens, "
          f"over the {limit - base} left by the prompt"
        )
    if why is not None:
      if skip is None:
        raise ValueError(f"example {ex.id!r}: {why}")
      skip(f"example {ex.id!r}: {why}")
      continue
    new_len = max(1, min(n - 1, n * (limit - base) // (enc.num_tokens - base)))
    pieces = split_into_windows(ex, new_len, min(overlap, new_len // 2))
    stats.subtoken_splits += len(pieces) - 1
    rows.extend(encode_rows([(p, prompt) for p in pieces], ptok, limit, overlap, stats, skip, count_types))
  return rows


def assemble_batch(
  rows: Sequence[EncodedRow], cfg: RecipeConfig, pad_id: int, stats: RecipeStats, token_level: bool = False
) -> dict[str, np.ndarray]:
  """One batch of `rows` (at most `cfg.batch_size`): padded to bucket shapes, with labels [B, W, K, C], span_mask
  and type_mask (token_level: labels [B, W, C, 3], word_mask and type_mask)."""
  if len(rows) > cfg.batch_size:
    raise ValueError(
      f"{len(rows)} rows (after windowing and subtoken splitting) do not fit "
      f"batch_size={cfg.batch_size}; use gliner_jax.data.batch_iterator.BatchIterator, which carries them over"
    )
  shape = BatchShape(
    batch=cfg.batch_size,
    tokens=bucket(max([r.encoded.num_tokens for r in rows], default=1), cfg.token_buckets),
    words=bucket(max([r.encoded.num_words for r in rows] + [1]), cfg.word_buckets),
    types=bucket(max([len(r.prompt) for r in rows] + [1]), cfg.type_buckets),
  )
  out = pad_batch([r.encoded for r in rows], shape, pad_id)
  if token_level:
    return _assemble_token_labels(rows, shape, out, stats)
  k_max = cfg.max_width
  labels = np.zeros((shape.batch, shape.words, k_max, shape.types), np.float32)
  type_mask = np.zeros((shape.batch, shape.types), bool)
  for i, row in enumerate(rows):
    type_mask[i, : len(row.prompt)] = True
    index = {t: c for c, t in enumerate(row.prompt)}
    for s, e, t in row.example.spans:
      if e - s >= k_max:
        stats.long_spans_dropped += 1
      elif t in index:
        labels[i, s, e - s, index[t]] = 1.0
  w = np.arange(shape.words)[None, :, None]
  k = np.arange(k_max)[None, None, :]
  out["span_mask"] = (w + k) < out["num_words"][:, None, None]
  out["labels"] = labels
  out["type_mask"] = type_mask
  stats.rows += len(rows)
  return out


def _assemble_token_labels(
  rows: Sequence[EncodedRow], shape: BatchShape, out: dict[str, np.ndarray], stats: RecipeStats
) -> dict[str, np.ndarray]:
  labels = np.zeros((shape.batch, shape.words, shape.types, 3), np.float32)
  type_mask = np.zeros((shape.batch, shape.types), bool)
  for i, row in enumerate(rows):
    type_mask[i, : len(row.prompt)] = True
    index = {t: c for c, t in enumerate(row.prompt)}
    for s, e, t in row.example.spans:
      if t in index:
        labels[i, s, index[t], 0] = 1.0
        labels[i, e, index[t], 1] = 1.0
        labels[i, s : e + 1, index[t], 2] = 1.0
  out["word_mask"] = np.arange(shape.words)[None, :] < out["num_words"][:, None]
  out["labels"] = labels
  out["type_mask"] = type_mask
  stats.rows += len(rows)
  return out


def token_level_targets(config: GLiNERConfig) -> bool:
  """Whether `config`'s model kind trains on token targets (start / end / inside labels [B, W, C, 3]) rather
  than span targets: the `output_layout` registered with its kind (`gliner_jax.model.kinds`).

  Example:
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> config = GLiNERConfig.load(DEFAULT_MODEL)  # a span model (markerV0)
    >>> token_level_targets(config), token_level_targets(config.replace(span_mode="token_level"))
    (False, True)
  """
  return kind_of(config).output_layout == "token"


def check_recipe_model(ptok: PromptTokenizer, cfg: RecipeConfig) -> int:
  """The most tokens a row may have, after checking that the recipe's max_width is the model's."""
  if ptok.config.max_width != cfg.max_width:
    raise ValueError(
      f"RecipeConfig.max_width={cfg.max_width} but the model has "
      f"max_width={ptok.config.max_width}; labels must match the logits' K axis"
    )
  limit = cfg.max_tokens if cfg.max_tokens is not None else encoder_token_limit(ptok.config)
  hard = encoder_token_limit(ptok.config)
  if bucket(limit, cfg.token_buckets) > hard:
    raise ValueError(
      f"token_buckets={cfg.token_buckets} would pad a {limit}-token row to "
      f"{bucket(limit, cfg.token_buckets)} tokens, past the encoder's limit of {hard}; "
      f"add a bucket of at most {hard}"
    )
  return limit


def named_shapes(cfg: RecipeConfig, token_limit: int) -> tuple[BatchShape, ...]:
  """Every batch shape the recipe can produce from rows of at most `token_limit` tokens (the limit the rows
  are split to, `max_tokens` or the encoder's): the buckets up to those holding `token_limit`, `max_len`
  words and `max_types` types, crossed; with `fixed_shape`, only the largest.

  Example:
    >>> cfg = RecipeConfig(max_len=48, max_types=8, token_buckets=(64, 128), word_buckets=(16, 32, 48),
    ...                    type_buckets=(8,))
    >>> len(named_shapes(cfg, 128)), named_shapes(dataclasses.replace(cfg, fixed_shape=True), 128)
    (6, (BatchShape(batch=8, tokens=128, words=48, types=8),))
  """

  def upto(limit: int, buckets: tuple[int, ...]) -> tuple[int, ...]:
    top = bucket(limit, buckets)
    return (top,) if cfg.fixed_shape else tuple(b for b in buckets if b < top) + (top,)

  return tuple(
    BatchShape(cfg.batch_size, t, w, c)
    for t in upto(token_limit, cfg.token_buckets)
    for w in upto(cfg.max_len, cfg.word_buckets)
    for c in upto(cfg.max_types, cfg.type_buckets)
  )


def shape_config(cfg: RecipeConfig, token_limit: int) -> RecipeConfig:
  """`cfg`, or with `fixed_shape` the same recipe with one bucket per dimension (its only named shape)."""
  if not cfg.fixed_shape:
    return cfg
  (shape,) = named_shapes(cfg, token_limit)
  return dataclasses.replace(
    cfg, token_buckets=(shape.tokens,), word_buckets=(shape.words,), type_buckets=(shape.types,)
  )


def span_types(examples: Iterable[NERExample]) -> set[str]:
  """The entity types the spans of `examples` have (the pool negatives are drawn from)."""
  return {t for ex in examples for _, _, t in ex.spans}


def make_training_batch(
  examples: Sequence[NERExample],
  prompt_tokenizer: PromptTokenizer,
  cfg: RecipeConfig,
  rng: np.random.Generator,
  pool_of_types: Iterable[str] | None = None,
  stats: RecipeStats | None = None,
) -> dict[str, np.ndarray]:
  """One training batch: pad_batch arrays + labels [B, W, K, C], span_mask [B, W, K], type_mask [B, C]
  (token_level models: labels [B, W, C, 3], word_mask [B, W], type_mask [B, C]).

  Examples are windowed, prompted (negatives from `pool_of_types`, default: the types of these
  examples) and split on subtoken overflow; all resulting rows must fit `cfg.batch_size`.
  Rows past them are empty. Deterministic given the state of `rng`.

  Example:
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> tok, config = AutoTokenizer.from_pretrained(DEFAULT_MODEL), GLiNERConfig.load(DEFAULT_MODEL)
    >>> examples = [NERExample(["Ada", "Lovelace", "was", "born", "in", "London"], [(0, 1, "person"), (5, 5, "city")])]
    >>> cfg = RecipeConfig.from_model_config(config, batch_size=2, prompt_drop=0.0, shuffle_types=False)
    >>> batch = make_training_batch(examples, PromptTokenizer(tok, config), cfg, np.random.default_rng(0))
    >>> batch["labels"].shape  # (cfg.batch_size, W bucket, cfg.max_width, C bucket)
    (2, 8, 12, 4)
    >>> np.argwhere(batch["labels"][0]).tolist()  # [start word, width - 1, type index in the prompt]
    [[0, 1, 0], [5, 0, 1]]
  """
  stats = stats if stats is not None else RecipeStats()
  limit = check_recipe_model(prompt_tokenizer, cfg)
  cfg = shape_config(cfg, limit)
  windows = []
  for ex in examples:
    stats.examples += 1
    windows += split_into_windows(ex, cfg.max_len, cfg.overlap, stats)
  pool = span_types(windows) if pool_of_types is None else set(pool_of_types)
  pairs = [(w, tuple(sample_prompt(w, rng, pool, cfg, stats))) for w in windows]
  rows = encode_rows(pairs, prompt_tokenizer, limit, cfg.overlap, stats)
  return assemble_batch(rows, cfg, prompt_tokenizer.pad_id, stats, token_level_targets(prompt_tokenizer.config))


def batch_tokens(batch: dict[str, np.ndarray]) -> int:
  """Number of real (non-pad) tokens in a batch, for tokens/s logging."""
  return int(np.asarray(batch["attention_mask"]).sum())
