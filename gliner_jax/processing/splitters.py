"""Word splitters: text to (word, start, end) triples, the unit GLiNER's spans are made of.

`make_word_splitter` builds gliner's whitespace regex, a per-character one for CJK and Thai-like
scripts, or one backed by spaCy, jieba, janome, MeCab, CAMeL or indic-nlp.
"""

from __future__ import annotations

import functools
import importlib
import re
import unicodedata
from typing import Callable, Iterable, Iterator

WordSplitter = Callable[[str], Iterable[tuple[str, int, int]]]


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

  Example (not run as a doctest: jieba is an optional package):
    >>> list(PackageWordSplitter("jieba")("我爱北京"))  # doctest: +SKIP
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
