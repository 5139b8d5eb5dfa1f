"""From words and entity types to the static-shaped arrays the span model reads.

The prompt is `<<ENT>> type1 <<ENT>> type2 ... <<SEP>> word1 word2 ...`, tokenized word by word
(`is_split_into_words=True`) with the backbone's own special tokens around it; each text word is
represented by its first subtoken and each type by its `<<ENT>>` token, as in gliner 0.2.29. Unlike
gliner, a text word keeps at most `MAX_WORD_TOKENS` subtokens, and words spelled like special tokens
are plain text (gliner would read a text `<<ENT>>` as one more type). Text is cut into words by a
splitter (`make_word_splitter`): gliner's whitespace regex, a per-character one for CJK and Thai-like
scripts, or one backed by spaCy, jieba, ... Batches are padded to a few bucket shapes so a stream
of inputs compiles a bounded set of programs.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import importlib
import itertools
import re
import unicodedata
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from gliner_jax.model.config import SPECIAL_TOKENS, GLiNERConfig

WordSplitter = Callable[[str], Iterable[tuple[str, int, int]]]

TOKEN_BUCKETS = (32, 64, 96, 128, 192, 256, 320, 384, 448, 512, 768, 1024)
WORD_BUCKETS = (8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
TYPE_BUCKETS = (4, 8, 16, 25, 32, 64)
# Rows per device batch. A user's batch_size runs as batches of the largest of these <= batch_size (a last,
# smaller batch padded to the next one up), so each batch_size reuses the programs of the others.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32)
# Subtokens kept per text word: ordinary words need far fewer; a longer one keeps its first ones.
MAX_WORD_TOKENS = 32


class RegexWordSplitter:
  """Splits text into words (runs of word characters joined by - or _) and single other symbols.

  Example:
    >>> list(RegexWordSplitter()("New-York, 2024"))
    [('New-York', 0, 8), (',', 8, 9), ('2024', 10, 14)]
  """

  def __init__(self, pattern: str = r"\w+(?:[-_]\w+)*|\S"):
    self.pattern = re.compile(pattern)

  def __call__(self, text: str) -> Iterator[tuple[str, int, int]]:
    for m in self.pattern.finditer(text):
      yield m.group(), m.start(), m.end()


# Scripts written without spaces between words, cut into one word per character (cluster).
_UNSPACED_RANGES = (
  "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
  "\U00020000-\U000323af"  # Han
  "\u3040-\u30ff\u31f0-\u31ff\uff65-\uff9f\U0001aff0-\U0001b16f"  # Hiragana, Katakana
  "\u3100-\u312f\u31a0-\u31bf"  # Bopomofo
  "\u0e00-\u0e7f\u0e80-\u0eff"  # Thai, Lao
  "\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f"  # Myanmar
  "\u1780-\u17ff\u19e0-\u19ff"
)  # Khmer


@functools.lru_cache(maxsize=1)
def _unicode_word_pattern() -> re.Pattern:
  # Combining marks (Mn, Mc, Me) and the two spacing vowels Unicode keeps in a grapheme cluster.
  marks, ranges = [c for c in range(0x110000) if unicodedata.category(chr(c))[0] == "M"], []
  for c in marks + [0x0E33, 0x0EB3]:
    if ranges and ranges[-1][1] == c - 1:
      ranges[-1][1] = c
    else:
      ranges.append([c, c])
  mark = "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges)
  word_char = rf"(?:[^\W{_UNSPACED_RANGES}]|[{mark}])"
  return re.compile(rf"[{_UNSPACED_RANGES}][{mark}]*|{word_char}+(?:[-_]{word_char}+)*|\S[{mark}]*")


class UnicodeWordSplitter:
  """gliner's whitespace rule, plus one word per character in scripts written without spaces.

  Han, Hiragana, Katakana and Bopomofo give one word per character; Thai, Lao, Khmer and Myanmar
  one per character with its combining marks (close to a grapheme cluster, finer than a syllable).
  These are not dictionary words: a name is a run of several words, so it must fit in `max_width`
  of them, and a model trained on other word units reads them less well than a segmenter's (use
  "jieba", "janome", ... for that). Elsewhere, Hangul included, words are runs of word characters
  and combining marks (so Devanagari or Arabic words with vowel signs stay whole, which "whitespace"
  cuts), joined by - or _; any other visible character is a word with its marks.

  Example:
    >>> list(UnicodeWordSplitter()("東京は2024年"))
    [('東', 0, 1), ('京', 1, 2), ('は', 2, 3), ('2024', 3, 7), ('年', 7, 8)]
  """

  def __init__(self):
    self.pattern = _unicode_word_pattern()

  def __call__(self, text: str) -> Iterator[tuple[str, int, int]]:
    for m in self.pattern.finditer(text):
      yield m.group(), m.start(), m.end()


def _spacy_words(module, lang):
  nlp = module.blank(lang or "en")
  return lambda text: [t.text for t in nlp(text)]


def _jieba_words(module, lang):
  return lambda text: list(module.cut(text))


def _janome_words(module, lang):
  tokenizer = importlib.import_module("janome.tokenizer").Tokenizer()
  return lambda text: list(tokenizer.tokenize(text, wakati=True))


def _mecab_words(module, lang):
  return module.MeCab().morphs


def _camel_words(module, lang):
  return importlib.import_module("camel_tools.tokenizers.word").simple_word_tokenize


def _indic_words(module, lang):
  indic = importlib.import_module("indicnlp.tokenize.indic_tokenize")
  return lambda text: indic.trivial_tokenize(text, lang=lang or "hi")


# words_splitter_type -> (module to import, pip package, factory(module, lang) -> text -> [word]).
PACKAGE_SPLITTERS = {
  "spacy": ("spacy", "spacy", _spacy_words),
  "jieba": ("jieba", "jieba", _jieba_words),
  "janome": ("janome", "janome", _janome_words),
  "mecab": ("mecab", "python-mecab-ko", _mecab_words),
  "camel": ("camel_tools", "camel-tools", _camel_words),
  "hindi": ("indicnlp", "indic-nlp-library", _indic_words),
}


class PackageWordSplitter:
  """A word splitter backed by a segmentation package, as gliner's `words_splitter_type`s are.

  Kinds: "spacy" (a blank spaCy pipeline, `lang` default "en"), "jieba" (Chinese), "janome"
  (Japanese), "mecab" (Korean, python-mecab-ko), "camel" (Arabic, camel-tools) and "hindi"
  (indic-nlp-library, `lang` default "hi"). Words are found in the text in order to get their
  offsets; words the package changed (not found in the text) and whitespace-only ones are dropped.

  Example:
    >>> list(PackageWordSplitter("jieba")("我爱北京"))
    [('我', 0, 1), ('爱', 1, 2), ('北京', 2, 4)]
  """

  def __init__(self, kind: str, lang: str | None = None):
    if kind not in PACKAGE_SPLITTERS:
      raise ValueError(f"no package word splitter {kind!r}; choose from {sorted(PACKAGE_SPLITTERS)}")
    module_name, package, factory = PACKAGE_SPLITTERS[kind]
    try:
      module = importlib.import_module(module_name)
      self._words = factory(module, lang)
    except ImportError as e:
      raise ImportError(
        f"words_splitter_type={kind!r} needs the {package!r} package ({e}); install it "
        f"with `pip install {package}`, or use words_splitter='whitespace' or 'unicode'"
      ) from e
    self.kind = kind

  def __call__(self, text: str) -> Iterator[tuple[str, int, int]]:
    pos = 0
    for word in self._words(text):
      start = text.find(word, pos) if word.strip() else -1
      if start >= 0:
        pos = start + len(word)
        yield word, start, pos


BUILTIN_SPLITTERS = ("whitespace", "unicode") + tuple(PACKAGE_SPLITTERS)


def make_word_splitter(kind: str | WordSplitter = "whitespace") -> WordSplitter:
  """The splitter named by `kind` (a `words_splitter_type`), or `kind` itself when it is a callable
  `text -> [(word, char_start, char_end)]`.

  "whitespace" is gliner's default regex; "unicode" adds per-character words for CJK and Thai-like
  scripts (`UnicodeWordSplitter`); the others need their package (`PackageWordSplitter`).

  Example:
    >>> [w for w, _, _ in make_word_splitter("unicode")("北京大学")]
    ['北', '京', '大', '学']
  """
  if callable(kind):
    return kind
  if kind == "whitespace":
    return RegexWordSplitter()
  if kind == "unicode":
    return UnicodeWordSplitter()
  if kind in PACKAGE_SPLITTERS:
    return PackageWordSplitter(kind)
  raise ValueError(
    f"words_splitter_type={kind!r} is not built in (built in: {', '.join(BUILTIN_SPLITTERS)}); "
    "pass a callable text -> iterable of (word, start, end) as `words_splitter`"
  )


class WordWindow(NamedTuple):
  """Words [start, stop) of a long text read together; spans starting in [own_start, own_stop) are this
  window's to report (each start belongs to exactly one window)."""

  start: int
  stop: int
  own_start: int
  own_stop: int


def word_windows(num_words: int, max_words: int, overlap: int) -> list[WordWindow]:
  """The one window planner (inference and training): windows of `max_words` words, `overlap` shared.

  Windows start every max_words - overlap words; the last one ends at the last word (so it is full
  length too). Each word start is owned by one window, the cut in the middle of each overlap, so a
  span of up to overlap // 2 words is read whole by the window owning its start; a span of up to
  `overlap` words lies whole in at least one window.

  Example:
    >>> [tuple(w) for w in word_windows(10, 4, 1)]
    [(0, 4, 0, 3), (3, 7, 3, 6), (6, 10, 6, 10)]
  """
  if max_words < 1 or not 0 <= overlap < max_words:
    raise ValueError(
      f"windows need max_words >= 1 and 0 <= overlap < max_words, got max_words={max_words}, overlap={overlap}"
    )
  if num_words <= max_words:
    return [WordWindow(0, num_words, 0, num_words)]
  stride = max_words - overlap
  starts = list(range(0, num_words - max_words, stride)) + [num_words - max_words]
  cuts = [0] + [(a + prev + max_words) // 2 for prev, a in zip(starts, starts[1:])] + [num_words]
  return [WordWindow(a, a + max_words, cuts[j], cuts[j + 1]) for j, a in enumerate(starts)]


def bucket(n: int, buckets: Sequence[int]) -> int:
  """The smallest bucket >= n; past the last bucket, the next multiple of the last one."""
  i = bisect.bisect_left(buckets, n)
  if i < len(buckets):
    return buckets[i]
  step = buckets[-1]
  return -(-n // step) * step


@dataclasses.dataclass(frozen=True)
class EncodedText:
  """One prompt + text, tokenized. Indices are positions in `input_ids`; -1 means none."""

  input_ids: np.ndarray
  word_token_index: np.ndarray
  type_token_index: np.ndarray

  @property
  def num_tokens(self) -> int:
    return len(self.input_ids)

  @property
  def num_words(self) -> int:
    return len(self.word_token_index)


def validate_labels(labels: Sequence[str], special_tokens: Sequence[str] = SPECIAL_TOKENS) -> list[str]:
  """Checks entity types: a non-empty list of non-empty strings without special tokens."""
  if isinstance(labels, str):
    raise ValueError(f"labels must be a list of strings, got the string {labels!r}")
  labels = list(labels)
  if not labels:
    raise ValueError("labels is empty: give at least one entity type")
  for i, label in enumerate(labels):
    if not isinstance(label, str):
      raise ValueError(f"labels[{i}] is {type(label).__name__} {label!r}, not a string")
    if not label.strip():
      raise ValueError(f"labels[{i}] is an empty string")
    for tok in special_tokens:
      if tok in label:
        raise ValueError(f"labels[{i}]={label!r} contains the special token {tok!r}")
  return labels


class PromptTokenizer:
  """Tokenizes (words, types) pairs into `EncodedText`s with a Hugging Face fast tokenizer.

  Example:
    >>> pt = PromptTokenizer(tokenizer, config)
    >>> enc = pt.encode_batch([["Paris", "is", "big"]], [["city"]])[0]
  """

  def __init__(self, tokenizer, config: GLiNERConfig):
    if not getattr(tokenizer, "is_fast", False):
      raise ValueError(
        f"{type(tokenizer).__name__} is a slow tokenizer: GLiNER needs a fast one (word ids per "
        "subtoken); load it with AutoTokenizer.from_pretrained(..., use_fast=True)"
      )
    if len(tokenizer) > config.encoder.vocab_size:
      raise ValueError(
        f"the tokenizer has {len(tokenizer)} tokens but the encoder's embedding table has "
        f"{config.encoder.vocab_size} rows: ids past the table would give NaN scores; use the "
        "tokenizer the model was trained with"
      )
    self.tokenizer = tokenizer
    self.config = config
    self.class_token_id = tokenizer.convert_tokens_to_ids(config.ent_token)
    if config.class_token_index >= 0 and self.class_token_id != config.class_token_index:
      raise ValueError(
        f"tokenizer maps {config.ent_token!r} to {self.class_token_id}, but the config says "
        f"class_token_index={config.class_token_index}"
      )
    if self.class_token_id is None or self.class_token_id == tokenizer.unk_token_id:
      raise ValueError(
        f"tokenizer has no {config.ent_token!r} token; add the special tokens {SPECIAL_TOKENS} before use"
      )
    self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # Ids a text or label word must never produce: the prompt markers and the backbone's specials.
    marker_ids = {tokenizer.convert_tokens_to_ids(t) for t in (config.ent_token, config.sep_token, "[FLERT]")}
    self._reserved_ids = np.asarray(
      sorted((marker_ids | set(tokenizer.all_special_ids)) - {None, tokenizer.unk_token_id}), np.int64
    )

  def prompt_words(self, labels: Sequence[str]) -> list[str]:
    out = []
    for label in labels:
      out += [self.config.ent_token, label]
    return out + [self.config.sep_token]

  def encode_batch(
    self, texts: Sequence[Sequence[str]], labels: Sequence[Sequence[str]], max_word_tokens: int | None = MAX_WORD_TOKENS
  ) -> list[EncodedText]:
    """Tokenizes each (text words, labels) pair as one prompt + text sequence.

    A text word keeps at most its first `max_word_tokens` subtokens (None: all), so one huge word
    (a URL slug, a base64 blob) cannot crowd out its neighbours; it is still one word, read by its
    first subtoken. Text and label words are plain text: one spelled like `<<ENT>>` or `[SEP]` is
    tokenized into ordinary pieces, and type positions come only from the prompt's own markers.

    Example:
      >>> enc = pt.encode_batch([["see", "<<ENT>>"]], [["city", "person"]])[0]
      >>> len(enc.type_token_index), enc.num_words
      (2, 2)
    """
    if max_word_tokens is not None and max_word_tokens < 1:
      raise ValueError(f"max_word_tokens must be >= 1 or None, got {max_word_tokens}")
    prompts = [self.prompt_words(l) for l in labels]
    sequences = [p + list(t) for p, t in zip(prompts, texts)]
    enc = self.tokenizer(sequences, is_split_into_words=True, add_special_tokens=True, truncation=False, verbose=False)
    return [
      self._encode_one(
        np.asarray(enc["input_ids"][i], np.int64),
        np.asarray([-1 if w is None else w for w in enc.word_ids(i)], np.int64),
        seq,
        len(prompt),
        max_word_tokens,
      )
      for i, (seq, prompt) in enumerate(zip(sequences, prompts))
    ]

  def _encode_one(
    self, ids: np.ndarray, wid: np.ndarray, words: Sequence[str], num_prompt: int, max_word_tokens: int | None
  ) -> EncodedText:
    marker = (wid >= 0) & (wid < num_prompt) & (wid % 2 == 0)  # <<ENT>> at even prompt words, <<SEP>> last
    bad = (wid >= 0) & ~marker & np.isin(ids, self._reserved_ids)
    if bad.any():
      ids, wid = self._as_plain_text(ids, wid, words, set(wid[bad].tolist()))
      marker = (wid >= 0) & (wid < num_prompt) & (wid % 2 == 0)
    pos = np.arange(len(ids))
    run_start = np.ones(len(ids), bool)
    run_start[1:] = wid[1:] != wid[:-1]
    rank = pos - np.maximum.accumulate(np.where(run_start, pos, 0))  # subtoken index within its word
    in_text = wid >= num_prompt
    keep = ~in_text | (rank < (len(ids) if max_word_tokens is None else max_word_tokens))
    new_pos = np.cumsum(keep) - 1
    first = np.full(len(words) - num_prompt, -1, np.int32)
    starts = in_text & (rank == 0)
    first[wid[starts] - num_prompt] = new_pos[starts]
    types = marker & (wid < num_prompt - 1) & (ids == self.class_token_id)
    return EncodedText(ids[keep].astype(np.int32), first, new_pos[types].astype(np.int32))

  def _as_plain_text(self, ids, wid, words, word_indices):
    """Re-tokenizes the given words ignoring added special tokens; reserved ids left become unk."""
    unk = self.tokenizer.unk_token_id if self.tokenizer.unk_token_id is not None else self.pad_id
    parts_ids, parts_wid, pos = [], [], 0
    for w in sorted(word_indices):
      piece = np.asarray(
        self.tokenizer(
          [words[w]], is_split_into_words=True, add_special_tokens=False, split_special_tokens=True, verbose=False
        )["input_ids"],
        np.int64,
      )
      piece = np.where(np.isin(piece, self._reserved_ids), unk, piece)
      span = np.flatnonzero(wid == w)
      parts_ids += [ids[pos : span[0]], piece]
      parts_wid += [wid[pos : span[0]], np.full(len(piece), w, np.int64)]
      pos = span[-1] + 1
    parts_ids.append(ids[pos:])
    parts_wid.append(wid[pos:])
    return np.concatenate(parts_ids), np.concatenate(parts_wid)


@dataclasses.dataclass(frozen=True)
class BatchShape:
  batch: int
  tokens: int
  words: int
  types: int


def batch_shape(encoded: Sequence[EncodedText], batch_size: int) -> BatchShape:
  return BatchShape(
    batch=batch_size,
    tokens=bucket(max(e.num_tokens for e in encoded), TOKEN_BUCKETS),
    words=bucket(max(max(e.num_words for e in encoded), 1), WORD_BUCKETS),
    types=bucket(max(len(e.type_token_index) for e in encoded), TYPE_BUCKETS),
  )


def device_batch_size(batch_size: int) -> int:
  """Rows per device batch for a user's `batch_size`: the largest of `BATCH_BUCKETS` <= batch_size.

  Example:
    >>> device_batch_size(12), device_batch_size(100)
    (8, 32)
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  return BATCH_BUCKETS[bisect.bisect_right(BATCH_BUCKETS, batch_size) - 1]


def workload_shapes(encoded: Sequence[EncodedText], batch_size: int) -> dict[BatchShape, list[int]]:
  """Every batch shape that batches of up to `device_batch_size(batch_size)` rows like `encoded` can have.

  A batch's tokens, words and types buckets are the largest of its rows', so a bucket triple is met
  when some rows, all within it, reach each of its three buckets: one row (its own triple) for a batch
  of one, at most two for a batch of two, at most three for larger batches. Rows may repeat (a stream of
  texts like these). Returns each shape with the indices of the fewest rows that reach it.

  Example:
    >>> sorted(workload_shapes(encoded, batch_size=8), key=dataclasses.astuple)[0]
    BatchShape(batch=1, tokens=192, words=128, types=8)
  """
  first: dict[tuple[int, int, int], int] = {}
  for i, e in enumerate(encoded):
    first.setdefault(dataclasses.astuple(batch_shape([e], 1))[1:], i)
  sizes = BATCH_BUCKETS[: BATCH_BUCKETS.index(device_batch_size(batch_size)) + 1]
  reached: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
  for n in (1, 2, 3):
    for group in itertools.combinations_with_replacement(first, n):
      triple = tuple(max(dim) for dim in zip(*group))
      reached.setdefault(triple, list(dict.fromkeys(group)))
  out: dict[BatchShape, list[int]] = {}
  for triple, group in reached.items():
    for b in sizes:
      if len(group) <= b:
        out[BatchShape(b, *triple)] = [first[g] for g in group]
  return out


def pad_batch(encoded: Sequence[EncodedText], shape: BatchShape, pad_id: int = 0) -> dict[str, np.ndarray]:
  """Stacks encoded texts into arrays of exactly `shape` (rows past len(encoded) are empty)."""
  if len(encoded) > shape.batch:
    raise ValueError(f"{len(encoded)} texts do not fit a batch of {shape.batch}")
  ids = np.full((shape.batch, shape.tokens), pad_id, np.int32)
  mask = np.zeros((shape.batch, shape.tokens), np.int32)
  words = np.full((shape.batch, shape.words), -1, np.int32)
  types = np.full((shape.batch, shape.types), -1, np.int32)
  num_words = np.zeros((shape.batch,), np.int32)
  for i, e in enumerate(encoded):
    if e.num_tokens > shape.tokens or e.num_words > shape.words or len(e.type_token_index) > shape.types:
      raise ValueError(
        f"text {i} ({e.num_tokens} tokens, {e.num_words} words, {len(e.type_token_index)} types) does not fit {shape}"
      )
    ids[i, : e.num_tokens] = e.input_ids
    mask[i, : e.num_tokens] = 1
    words[i, : e.num_words] = e.word_token_index
    types[i, : len(e.type_token_index)] = e.type_token_index
    num_words[i] = e.num_words
  return dict(input_ids=ids, attention_mask=mask, word_token_index=words, num_words=num_words, type_token_index=types)
