"""What real text brings to prediction: word splitters (gliner's whitespace regex, the per-character
Unicode splitter, package-backed ones), over-long words, and text that spells the prompt's special tokens.

The model is the shipped default (gliner_jax.DEFAULT_MODEL), which finds real entities, so the tests can
ask that the entities of the other words stay the same when a text gains a 3,000-character word or a
`<<ENT>>`. Package splitters run on fake modules put in sys.modules: spaCy, jieba, ... need not be installed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import sys
import types

import numpy as np
import pytest

import gliner_jax
from gliner_jax import GLiNER
from gliner_jax.processing.prompts import MAX_WORD_TOKENS, PromptTokenizer
from gliner_jax.processing.splitters import (
  PACKAGE_SPLITTERS,
  PackageWordSplitter,
  RegexWordSplitter,
  UnicodeWordSplitter,
  make_word_splitter,
)

LABELS = ["person", "city"]
BASE = "Barack Obama visited Paris with Angela Merkel."
SLUG = "-".join(f"segment{i}" for i in range(400))[:3000]  # one whitespace-splitter word, ~1,700 subtokens


@pytest.fixture(scope="module")
def model() -> GLiNER:
  return GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)


def _spans(entities) -> list[tuple[int, int, str]]:
  return [(e.start, e.end, e.label) for e in entities]


def _predict_with_insert(model: GLiNER, insert: str, at: int):
  """Entities of BASE with `insert` put at character `at`, moved back to BASE's offsets, and those on
  the inserted characters (which the model may call entities too)."""
  text = BASE[:at] + insert + BASE[at:]
  got = model.predict_entities(text, LABELS, threshold=0.3)
  for e in got:
    assert e.text == text[e.start : e.end]
  outside = [e for e in got if e.end <= at or e.start >= at + len(insert)]
  moved = [
    (s if s < at else s - len(insert), t if s < at else t - len(insert), label) for s, t, label in _spans(outside)
  ]
  return moved, [e for e in got if e not in outside]


# ------------------------------------------------------------------------------------- splitters
TRICKY = [
  "New-York, 2024: state_of-the-art (U.S.A.) -- e-mail_addr!",
  "  Dr.\tJane\u00a0Smith-Jones\n'quoted' \u200b zero\u200bwidth ",
  "café cafe\u0301 naïve Ångström हिन्दी العَرَبِيَّة",
  "東京は日本の首都です。 Москва ❤️ 👩‍💻 ½ ² x²",
  "__init__ -leading trailing- a--b a_-b _ -",
  "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_whitespace_splitter_matches_the_reference(text):
  from gliner.data_processing.tokenizer import WhitespaceTokenSplitter, WordsSplitter

  ours = list(make_word_splitter("whitespace")(text))
  assert ours == list(WhitespaceTokenSplitter()(text)) == list(WordsSplitter("whitespace")(text))
  assert all(text[s:e] == w for w, s, e in ours)


def test_unicode_splitter_gives_one_word_per_cjk_character():
  split = UnicodeWordSplitter()
  text = "バラク・オバマは2024年に東京を訪れた。北京大学"
  words = list(split(text))
  assert [w for w, _, _ in words] == list("バラク・オバマは") + ["2024"] + list("年に東京を訪れた。北京大学")
  assert all(text[s:e] == w for w, s, e in words)
  # Hangul is written with spaces: its words stay whole; Latin and Cyrillic words too.
  assert [w for w, _, _ in split("서울은 한국의 수도 New-York Москва")] == [
    "서울은",
    "한국의",
    "수도",
    "New-York",
    "Москва",
  ]


def test_unicode_splitter_keeps_combining_marks_with_their_letter():
  split = UnicodeWordSplitter()
  # Thai: one word per character with its marks (ร + ุ, ค + ื); ำ (sara am) stays with its consonant.
  assert [w for w, _, _ in split("กรุงเทพฯ คือ กำ")] == ["ก", "รุ", "ง", "เ", "ท", "พ", "ฯ", "คื", "อ", "กำ"]
  # Devanagari vowel signs and a decomposed accent stay in their word (the whitespace regex cuts them).
  assert [w for w, _, _ in split("हिन्दी cafe\u0301 ❤️")] == ["हिन्दी", "cafe\u0301", "❤️"]
  assert len(list(RegexWordSplitter()("हिन्दी"))) > 1


@pytest.mark.parametrize("text", TRICKY + ["ภาษาไทย ພາສາລາວ ភាសាខ្មែរ မြန်မာ ㄅㄆㄇ ｶﾀｶﾅ"])
def test_unicode_splitter_covers_every_visible_character_once(text):
  words = list(UnicodeWordSplitter()(text))
  assert all(text[s:e] == w for w, s, e in words)
  assert all(a[2] <= b[1] for a, b in zip(words, words[1:]))
  assert "".join(w for w, _, _ in words) == "".join(text.split())


def test_make_word_splitter_dispatch():
  assert isinstance(make_word_splitter("whitespace"), RegexWordSplitter)
  assert isinstance(make_word_splitter("unicode"), UnicodeWordSplitter)
  custom = lambda text: [(text, 0, len(text))]
  assert make_word_splitter(custom) is custom
  with pytest.raises(ValueError, match=r"'universal' is not built in \(built in: whitespace, unicode, spacy"):
    make_word_splitter("universal")


_PIP = {
  "spacy": "spacy",
  "jieba": "jieba",
  "janome": "janome",
  "mecab": "python-mecab-ko",
  "camel": "camel-tools",
  "hindi": "indic-nlp-library",
}


@pytest.mark.parametrize("kind", sorted(PACKAGE_SPLITTERS))
def test_package_splitter_without_its_package_names_the_pip_package(kind, monkeypatch):
  monkeypatch.setitem(sys.modules, PACKAGE_SPLITTERS[kind][0], None)  # makes the import fail
  with pytest.raises(
    ImportError,
    match=rf"needs the '{re.escape(_PIP[kind])}' package.*"
    rf"pip install {re.escape(_PIP[kind])}",
  ):
    make_word_splitter(kind)


def _fake_modules(kind: str, words: list[str], calls: list) -> dict[str, types.ModuleType]:
  """Modules that stand in for `kind`'s package: its segmenter returns `words`, recording its calls."""

  def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    return m

  def segment(text, *args, **kwargs):
    calls.append((text, args, kwargs))
    return iter(list(words))

  class Doc:
    def __init__(self, text):
      self.tokens = [types.SimpleNamespace(text=w) for w in segment(text)]

    def __iter__(self):
      return iter(self.tokens)

  if kind == "spacy":
    return {"spacy": module("spacy", blank=lambda lang: calls.append(("blank", lang)) or Doc)}
  if kind == "jieba":
    return {"jieba": module("jieba", cut=segment)}
  if kind == "janome":
    tokenizer = type("Tokenizer", (), {"tokenize": lambda self, text, wakati: segment(text, wakati=wakati)})
    return {"janome": module("janome"), "janome.tokenizer": module("janome.tokenizer", Tokenizer=tokenizer)}
  if kind == "mecab":
    return {"mecab": module("mecab", MeCab=lambda: types.SimpleNamespace(morphs=segment))}
  if kind == "camel":
    return {
      "camel_tools": module("camel_tools"),
      "camel_tools.tokenizers": module("camel_tools.tokenizers"),
      "camel_tools.tokenizers.word": module("camel_tools.tokenizers.word", simple_word_tokenize=segment),
    }
  return {
    "indicnlp": module("indicnlp"),
    "indicnlp.tokenize": module("indicnlp.tokenize"),
    "indicnlp.tokenize.indic_tokenize": module("indicnlp.tokenize.indic_tokenize", trivial_tokenize=segment),
  }


@pytest.mark.parametrize("kind", sorted(PACKAGE_SPLITTERS))
def test_package_splitter_finds_offsets_in_order(kind, monkeypatch):
  calls = []
  text = "我爱  北京 我爱。"
  # A whitespace token (spaCy yields them) and a word the package normalised ("ＸＸ") are dropped.
  for name, mod in _fake_modules(kind, ["我", "爱", "  ", "北京", "ＸＸ", "我", "爱", "。"], calls).items():
    monkeypatch.setitem(sys.modules, name, mod)
  split = make_word_splitter(kind)
  assert isinstance(split, PackageWordSplitter) and split.kind == kind
  assert list(split(text)) == [("我", 0, 1), ("爱", 1, 2), ("北京", 4, 6), ("我", 7, 8), ("爱", 8, 9), ("。", 9, 10)]
  assert text in [c[0] for c in calls]
  if kind == "spacy":
    assert ("blank", "en") in calls
  if kind == "hindi":
    assert (text, (), {"lang": "hi"}) in calls


# ------------------------------------------------------------------------------------- configured splitter
def test_configured_splitter_is_the_default_and_words_splitter_overrides(model, tmp_path, monkeypatch):
  folder = tmp_path / "unicode_model"
  folder.mkdir()
  for name in os.listdir(gliner_jax.DEFAULT_MODEL):
    if name != "gliner_jax_config.json":
      os.symlink(os.path.join(gliner_jax.DEFAULT_MODEL, name), folder / name)
  with open(os.path.join(gliner_jax.DEFAULT_MODEL, "gliner_jax_config.json")) as f:
    raw = json.load(f)
  raw["words_splitter_type"] = "unicode"
  (folder / "gliner_jax_config.json").write_text(json.dumps(raw))

  configured = GLiNER.from_pretrained(str(folder))
  assert isinstance(configured.words_splitter, UnicodeWordSplitter)
  text = "バラク・オバマはパリを訪れた。"
  assert [w for w, _, _ in configured.words_splitter(text)] == list(text)
  for e in configured.predict_entities(text, LABELS, threshold=0.3):
    assert e.text == text[e.start : e.end]
  assert isinstance(GLiNER.from_pretrained(str(folder), words_splitter="whitespace").words_splitter, RegexWordSplitter)
  # The whitespace default reads the clause after the dot as one word.
  assert [w for w, _, _ in model.words_splitter(text)] == ["バラク", "・", "オバマはパリを訪れた", "。"]

  calls = []
  for name, mod in _fake_modules("jieba", ["我", "爱", "北京"], calls).items():
    monkeypatch.setitem(sys.modules, name, mod)
  jieba_model = GLiNER(model.config.replace(words_splitter_type="jieba"), model.params, model.tokenizer)
  assert isinstance(jieba_model.words_splitter, PackageWordSplitter)
  jieba_model.predict_entities("我爱北京", LABELS, threshold=0.3)
  assert calls and calls[-1][0] == "我爱北京"
  monkeypatch.setitem(sys.modules, "jieba", None)
  with pytest.raises(ImportError, match="pip install jieba"):
    GLiNER(model.config.replace(words_splitter_type="jieba"), model.params, model.tokenizer)


def test_splitter_offsets_are_checked(model):
  broken = GLiNER(model.config, model.params, model.tokenizer, words_splitter=lambda t: [(t, 0, len(t) + 5)])
  with pytest.raises(ValueError, match=r"words_splitter gave .* for texts\[0\] of length 5"):
    broken.predict_entities("Paris", LABELS)


# ------------------------------------------------------------------------------------- long words
def test_long_word_keeps_its_first_subtokens(model):
  pt = model.prompt_tokenizer
  words = ["Paris", SLUG, "is", "big"]
  full = pt.encode_batch([words], [LABELS], max_word_tokens=None)[0]
  capped = pt.encode_batch([words], [LABELS])[0]
  without = pt.encode_batch([["Paris", "is", "big"]], [LABELS])[0]
  assert full.num_tokens - without.num_tokens > 1000
  assert capped.num_tokens == without.num_tokens + MAX_WORD_TOKENS
  # The word is still one word, read by its first subtoken; the others keep their own tokens.
  w = capped.word_token_index
  np.testing.assert_array_equal(capped.input_ids[: w[1] + MAX_WORD_TOKENS], full.input_ids[: w[1] + MAX_WORD_TOKENS])
  np.testing.assert_array_equal(capped.input_ids[w[2] :], without.input_ids[w[1] :])
  assert w[2] - w[1] == MAX_WORD_TOKENS
  np.testing.assert_array_equal(capped.type_token_index, without.type_token_index)
  with pytest.raises(ValueError, match="max_word_tokens"):
    pt.encode_batch([words], [LABELS], max_word_tokens=0)


@pytest.mark.parametrize(
  "blob",
  [
    SLUG,  # one word of ~1,700 subtokens: failed before with "use fewer or shorter labels"
    pytest.param(  # many words at + and /; ~12 s, so slow (the slug and the run stay fast)
      base64.b64encode(bytes(range(256)) * 9)[:3000].decode(), marks=pytest.mark.slow
    ),
    "x" * 3000,  # one word the WordPiece vocabulary reads as [UNK]
  ],
  ids=["slug", "base64", "run"],
)
def test_long_word_leaves_the_other_entities_unchanged(model, blob):
  want = _spans(model.predict_entities(BASE, LABELS, threshold=0.3))
  assert [BASE[s:e] for s, e, _ in want] == ["Barack Obama", "Paris", "Angela Merkel"]
  for at in (0, BASE.index("with"), len(BASE)):
    insert = (blob + " ") if at < len(BASE) else (" " + blob)
    moved, _ = _predict_with_insert(model, insert, at)
    assert moved == want, at


def test_labels_error_only_when_the_labels_leave_no_room(model):
  with pytest.raises(
    ValueError,
    match=r"the prompt of 1 labels takes \d+ of the encoder's 512 tokens and "
    r"leaves no room for words; use fewer or shorter labels",
  ):
    model.predict_entities("Paris", [" ".join(["word"] * 600)])
  # A prompt leaving only 16 tokens still reads the long word (cut to 16 subtokens) and its neighbours.
  labels = [" ".join(["word"] * 490), "city"]
  assert model.prompt_tokenizer.encode_batch([[]], [labels])[0].num_tokens == 512 - 16
  text = f"Barack Obama visited Paris {SLUG} with Angela Merkel."
  for e in model.predict_entities(text, labels, threshold=0.3):
    assert e.text == text[e.start : e.end]


# ------------------------------------------------------------------------------------- special tokens in text
def _split_on_spaces(text):
  return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def test_special_tokens_in_text_are_plain_text(model):
  pt = model.prompt_tokenizer
  tok = model.tokenizer
  words = ["see", "<<ENT>>", "x<<SEP>>y", "[FLERT]", "[CLS]", "[SEP]", "[MASK]", "Paris"]
  enc = pt.encode_batch([words], [LABELS])[0]
  assert len(enc.type_token_index) == len(LABELS)
  assert (enc.input_ids[enc.type_token_index] == pt.class_token_id).all()
  text_ids = enc.input_ids[enc.word_token_index[0] : -1]
  reserved = set(tok.all_special_ids) | {
    pt.class_token_id,
    tok.convert_tokens_to_ids("<<SEP>>"),
    tok.convert_tokens_to_ids("[FLERT]"),
  }
  assert not reserved & set(text_ids.tolist())
  assert (enc.word_token_index >= 0).all() and enc.input_ids[-1] == tok.sep_token_id
  plain = tok(words, is_split_into_words=True, add_special_tokens=False, split_special_tokens=True)["input_ids"]
  assert text_ids.tolist() == plain
  # Label words are plain text too; only the markers the prompt puts there are type positions.
  enc = pt.encode_batch([["Paris"]], [["city [MASK]", "person"]])[0]
  assert len(enc.type_token_index) == 2 and tok.mask_token_id not in enc.input_ids.tolist()


def test_ordinary_text_is_tokenized_as_the_tokenizer_does(model):
  pt, tok = model.prompt_tokenizer, model.tokenizer
  words = [w for w, _, _ in model.words_splitter("São Paulo, Zürich and Kraków hosted Москва 東京 in 2019.")]
  enc = pt.encode_batch([words], [LABELS])[0]
  assert enc.input_ids.tolist() == tok(pt.prompt_words(LABELS) + words, is_split_into_words=True)["input_ids"]
  np.testing.assert_array_equal(enc.type_token_index, [1, 3])


@pytest.mark.parametrize("splitter", [None, _split_on_spaces], ids=["whitespace", "spaces"])
def test_special_tokens_in_text_leave_the_entities_unchanged(model, splitter):
  reader = model if splitter is None else GLiNER(model.config, model.params, model.tokenizer, words_splitter=splitter)
  want = _spans(reader.predict_entities(BASE, LABELS, threshold=0.3))
  merkel = "Angela Merkel" if splitter is None else "Angela Merkel."  # "Merkel." is one word split on spaces
  assert [BASE[s:e] for s, e, _ in want] == ["Barack Obama", "Paris", merkel]
  moved, _ = _predict_with_insert(reader, "<<ENT>> <<SEP>> [FLERT] ", BASE.index("with"))
  assert moved == want
  text = BASE + " <<ENT>> <<SEP>> [FLERT]"
  words = [w for w, _, _ in reader.words_splitter(text)]
  assert len(reader.prompt_tokenizer.encode_batch([words], [LABELS])[0].type_token_index) == len(LABELS)


# ------------------------------------------------------------------------------------- tokenizer checks
def test_slow_or_oversized_tokenizers_are_refused(model):
  class Slow:
    is_fast = False

  with pytest.raises(ValueError, match="slow tokenizer"):
    PromptTokenizer(Slow(), model.config)
  small = model.config.replace(encoder=dataclasses.replace(model.config.encoder, vocab_size=len(model.tokenizer) - 1))
  with pytest.raises(
    ValueError,
    match=f"the tokenizer has {len(model.tokenizer)} tokens but the encoder's "
    f"embedding table has {len(model.tokenizer) - 1} rows",
  ):
    PromptTokenizer(model.tokenizer, small)
