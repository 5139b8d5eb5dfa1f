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
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from gliner_jax.data.readers import NERExample
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.kinds import kind_of
from gliner_jax.processing.buckets import TOKEN_BUCKETS, TYPE_BUCKETS, WORD_BUCKETS, BatchShape, bucket, pad_batch
from gliner_jax.processing.prompts import EncodedText, PromptTokenizer, validate_labels
from gliner_jax.processing.windows import word_windows

logger = logging.getLogger(__name__)
_LOGGED_SKIPS = 20  # skipped examples named in the log; later ones are only counted
_SKIPS_IN_A_ROW = 1000  # this many unusable examples with no usable one between: the data or the recipe is wrong


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


def _assemble(
  rows: Sequence[EncodedRow], cfg: RecipeConfig, pad_id: int, stats: RecipeStats, token_level: bool = False
) -> dict[str, np.ndarray]:
  """Pads rows to bucket shapes and builds labels [B, W, K, C], span_mask and type_mask
  (token_level: labels [B, W, C, 3], word_mask and type_mask)."""
  if len(rows) > cfg.batch_size:
    raise ValueError(
      f"{len(rows)} rows (after windowing and subtoken splitting) do not fit "
      f"batch_size={cfg.batch_size}; use BatchIterator, which carries them over"
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


def _pool(examples: Iterable[NERExample]) -> set[str]:
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
  pool = _pool(windows) if pool_of_types is None else set(pool_of_types)
  pairs = [(w, tuple(sample_prompt(w, rng, pool, cfg, stats))) for w in windows]
  rows = encode_rows(pairs, prompt_tokenizer, limit, cfg.overlap, stats)
  return _assemble(rows, cfg, prompt_tokenizer.pad_id, stats, token_level_targets(prompt_tokenizer.config))


def batch_tokens(batch: dict[str, np.ndarray]) -> int:
  """Number of real (non-pad) tokens in a batch, for tokens/s logging."""
  return int(np.asarray(batch["attention_mask"]).sum())


class BatchIterator:
  """Yields training batches from a stream of `NERExample`s, with checkpointable state.

  Each batch takes `batch_size` windows (long passages are windowed first); negatives are drawn
  from the types of the batch's windows plus the last `cfg.type_memory` distinct types of earlier
  batches. Rows beyond `batch_size` (from subtoken splits) are carried to the next batch.
  `get_state()` is JSON-serialisable; it holds the rng, the buffered windows and carried rows, and
  the source position: the source iterator's own state if it has `get_state`/`set_state` (grain
  iterators), otherwise the number of examples consumed, which `set_state` skips in a fresh
  iteration of the source (a list, a re-iterable dataset or a new generator). Examples without
  words are skipped (`stats.empty_examples`); the last batch is padded unless `drop_remainder`.
  An unusable example (an entity type a prompt cannot hold, a prompt or one word over the token
  limit) is skipped too, counted in `stats.skipped_examples` and named in a warning: it never stops
  a run, unless 1000 come in a row (then the data or the recipe is wrong, and a ValueError says so).

  Example:
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> ptok = PromptTokenizer(AutoTokenizer.from_pretrained(DEFAULT_MODEL), GLiNERConfig.load(DEFAULT_MODEL))
    >>> examples = [NERExample(["Ada", "met", "Babbage", "in", "London"], [(0, 0, "person"), (4, 4, "city")])] * 5
    >>> it = BatchIterator(examples, ptok, RecipeConfig(batch_size=2), seed=0)
    >>> batch = next(it); state = it.get_state()
    >>> batch["input_ids"].shape, it.stats.rows
    ((2, 32), 2)
    >>> it2 = BatchIterator(examples, ptok, RecipeConfig(batch_size=2), seed=0); it2.set_state(state)
    >>> all((a == b).all() for a, b in zip(next(it2).values(), next(it).values()))  # continues like `it`
    True
  """

  def __init__(
    self,
    source: Iterable[NERExample],
    prompt_tokenizer: PromptTokenizer,
    cfg: RecipeConfig,
    seed: int = 0,
    *,
    drop_remainder: bool = False,
  ):
    self.prompt_tokenizer = prompt_tokenizer
    self.cfg = cfg
    self.drop_remainder = drop_remainder
    self.stats = RecipeStats()
    self._limit = check_recipe_model(prompt_tokenizer, cfg)
    self.cfg = shape_config(cfg, self._limit)
    self._source = source
    self._iter: Iterator | None = None
    self._rng = np.random.default_rng(seed)
    self._pending: collections.deque[NERExample] = collections.deque()
    self._carry: list[tuple[NERExample, tuple[str, ...]]] = []
    self._memory: list[str] = []
    self._consumed = 0
    self._exhausted = False
    self._skips_in_a_row = 0

  def __iter__(self) -> "BatchIterator":
    return self

  def _skip(self, why: str) -> None:
    self.stats.skipped_examples += 1
    self._skips_in_a_row += 1
    if self.stats.skipped_examples <= _LOGGED_SKIPS:
      logger.warning(
        "skipped training example %d: %s%s",
        self.stats.skipped_examples,
        why,
        "; later ones are only counted (RecipeStats.skipped_examples)"
        if self.stats.skipped_examples == _LOGGED_SKIPS
        else "",
      )
    if self._skips_in_a_row >= _SKIPS_IN_A_ROW:
      raise ValueError(f"{self._skips_in_a_row} training examples in a row were unusable, the last: {why}")

  @property
  def shapes(self) -> tuple[BatchShape, ...]:
    """Every batch shape this iterator can yield (`named_shapes`)."""
    return named_shapes(self.cfg, self._limit)

  def _source_iter(self) -> Iterator:
    if self._iter is None:
      self._iter = iter(self._source)
    return self._iter

  def _next_window(self) -> NERExample | None:
    while not self._pending:
      if self._exhausted:
        return None
      try:
        ex = next(self._source_iter())
      except StopIteration:
        self._exhausted = True
        return None
      self._consumed += 1
      if not isinstance(ex, NERExample):
        raise ValueError(f"source item {self._consumed - 1} is {type(ex).__name__}, not NERExample")
      self.stats.examples += 1
      if not ex.tokens:
        self.stats.empty_examples += 1
        continue
      types = positive_types(ex) + list(ex.negatives)
      try:  # before its types can join the pool that other examples draw negatives from
        if types:
          validate_labels(types)
      except ValueError as e:
        self._skip(f"example {ex.id!r}: bad entity type: {e}")
        continue
      self._pending.extend(split_into_windows(ex, self.cfg.max_len, self.cfg.overlap, self.stats))
    return self._pending.popleft()

  def __next__(self) -> dict[str, np.ndarray]:
    while True:
      batch = self._next_batch()
      if batch is not None:
        self._skips_in_a_row = 0
        return batch

  def _next_batch(self) -> dict[str, np.ndarray] | None:
    """The next batch, or None when every window taken for it was skipped."""
    size = self.cfg.batch_size
    carried, self._carry = self._carry[:size], self._carry[size:]
    windows = []
    while len(carried) + len(windows) < size:
      window = self._next_window()
      if window is None:
        break
      windows.append(window)
    if not carried and not windows:
      raise StopIteration
    short = len(carried) + len(windows) < size
    if self.drop_remainder and self._exhausted and not self._carry and short:
      raise StopIteration
    batch_types = _pool(windows)
    pool = batch_types | set(self._memory)
    self._start_batch(windows)
    pairs = list(carried)
    for w in windows:
      try:
        pairs.append((w, self._prompt_for(w, pool)))
      except ValueError as e:
        self._skip(str(e))
    rows = encode_rows(
      pairs, self.prompt_tokenizer, self._limit, self.cfg.overlap, self.stats, self._skip, self._count_types
    )
    self._carry += [(r.example, r.prompt) for r in rows[size:]]
    if self.cfg.type_memory:
      fresh = [t for t in self._memory if t not in batch_types] + sorted(batch_types)
      self._memory = fresh[-self.cfg.type_memory :]
    if not rows:
      return None
    return self._assemble_rows(rows[:size])

  def _count_types(self, prompt: tuple[str, ...]) -> int:
    """The entity types of a row's prompt (a relex prompt holds its relation types too)."""
    return len(prompt)

  def _start_batch(self, windows: Sequence[NERExample]) -> None:
    """Called with a batch's new windows before their prompts are drawn (`gliner_jax.data.relex_recipe` pools
    their relation types)."""

  def _prompt_for(self, window: NERExample, pool: set[str]) -> tuple[str, ...]:
    """A window's prompt (`sample_prompt`); `gliner_jax.data.bi_encoder` overrides it and `_assemble_rows`."""
    return tuple(sample_prompt(window, self._rng, pool, self.cfg, self.stats))

  def _assemble_rows(self, rows: Sequence[EncodedRow]) -> dict[str, np.ndarray]:
    return _assemble(
      rows, self.cfg, self.prompt_tokenizer.pad_id, self.stats, token_level_targets(self.prompt_tokenizer.config)
    )

  def get_state(self) -> dict[str, Any]:
    """JSON-serialisable state; pass it to `set_state` of a new iterator over the same source."""
    source_state = None
    if self._iter is not None and hasattr(self._iter, "get_state"):
      source_state = self._iter.get_state()
    return {
      "rng": self._rng.bit_generator.state,
      "pending": [ex.to_json() for ex in self._pending],
      "carry": [{"example": ex.to_json(), "prompt": list(p)} for ex, p in self._carry],
      "memory": list(self._memory),
      "consumed": self._consumed,
      "exhausted": self._exhausted,
      "source": source_state,
      "stats": dataclasses.asdict(self.stats),
    }

  def set_state(self, state: dict[str, Any]) -> None:
    """Restores `get_state()` output; the source is repositioned (see the class docstring)."""
    missing = {"rng", "pending", "carry", "memory", "consumed", "exhausted"} - set(state)
    if missing:
      raise ValueError(f"BatchIterator state is missing {sorted(missing)}")
    fresh = iter(self._source)
    if state.get("source") is not None and hasattr(fresh, "set_state"):
      fresh.set_state(state["source"])
    else:
      if fresh is self._iter or (fresh is self._source and self._consumed):
        raise ValueError(
          "cannot rewind a one-shot iterator source; build the BatchIterator on a "
          "list, a dataset or a fresh generator before calling set_state"
        )
      for i in range(state["consumed"]):
        try:
          next(fresh)
        except StopIteration:
          raise ValueError(
            f"the source ended after {i} examples; the state was saved after {state['consumed']}"
          ) from None
    self._iter = fresh
    self._rng.bit_generator.state = state["rng"]
    self._pending = collections.deque(NERExample.from_json(d) for d in state["pending"])
    self._carry = [(NERExample.from_json(d["example"]), tuple(d["prompt"])) for d in state["carry"]]
    self._memory = list(state["memory"])
    self._consumed = int(state["consumed"])
    self._exhausted = bool(state["exhausted"])
    if "stats" in state:
      self.stats = type(self.stats)(**state["stats"])
