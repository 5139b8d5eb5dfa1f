"""The prediction API: input checks, character offsets, batching, long-text windows, label groups,
shape bucketing, and prediction without torch.

The model is a gliner 0.2.29 reference built on bert-tiny (max_len=24 words, max_types=3, max_width=4)
and converted; its heads are random, so the tests check properties, not the entity names.
Most calls use batch_size=4 and three labels so that the tests share a few compiled programs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import _build_reference
from gliner_jax import Entity, GLiNER
from gliner_jax.inference.compile_counter import CompileCounter
from gliner_jax.interop.convert import convert_gliner_checkpoint
from gliner_jax.processing.buckets import TOKEN_BUCKETS, TYPE_BUCKETS, WORD_BUCKETS
from gliner_jax.processing.windows import word_windows

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(hidden_size=64, max_width=4, max_len=24, max_types=3)
LABELS = ["person", "location", "award"]
SENTENCE = "Marie Curie won Nobel prizes in Physics and Chemistry ; she lived in Paris ."
TEXTS = [
  "Barack Obama was born in Hawaii and served as president.",
  "São Paulo, Zürich and Kraków hosted the 2019 conference.",
  "  Dr.  Jane Smith-Jones\t(MIT) published\n'Deep Learning' in Nature!  ",
  "Москва is the capital of Russia; 東京 is the capital of Japan.",
  "Paris",
  "Lionel Messi joined Inter Miami after winning the World Cup.",
]


@pytest.fixture(scope="module")
def reference_dir(bert_tiny_dir, tmp_path_factory) -> str:
  import torch

  out = str(tmp_path_factory.mktemp("ref_tiny"))
  _build_reference(bert_tiny_dir, out, **TINY)
  torch.set_num_threads(1)
  return out


@pytest.fixture(scope="module")
def model(reference_dir) -> GLiNER:
  m = GLiNER.from_pretrained(reference_dir)
  assert (m.config.max_len, m.config.max_types, m.config.max_width) == (24, 3, 4)
  return m


def _words(model: GLiNER, text: str) -> list[tuple[str, int, int]]:
  return list(model.words_splitter(text))


def _assert_same_entities(got: list[list[Entity]], want: list[list[Entity]], atol: float = 1e-5) -> None:
  """Same entities; scores may differ in float32 rounding (another batch shape sums in another order)."""
  key = lambda r: [[(e.start, e.end, e.text, e.label) for e in ents] for ents in r]
  assert key(got) == key(want)
  np.testing.assert_allclose([e.score for r in got for e in r], [e.score for r in want for e in r], rtol=0, atol=atol)


# ------------------------------------------------------------------------------------- bad input
def test_empty_and_whitespace_texts_give_no_entities(model):
  assert model.predict_entities("", LABELS) == []
  assert model.predict_entities(" \t\n  ", LABELS) == []
  assert model.batch_predict_entities(["", "   "], LABELS) == [[], []]
  assert model.batch_predict_entities([], LABELS) == []


@pytest.mark.parametrize(
  "labels, match",
  [
    ([], "labels is empty"),
    (["person", 3], r"labels\[1\] is int"),
    (["person", None], r"labels\[1\] is NoneType"),
    (["person", "  "], r"labels\[1\] is an empty string"),
    (["a <<ENT>> b"], "special token '<<ENT>>'"),
    (["city<<SEP>>"], "special token '<<SEP>>'"),
    (42, "list of names or a {name: description} mapping"),
  ],
)
def test_bad_labels(model, labels, match):
  with pytest.raises(ValueError, match=match):
    model.predict_entities("Paris is big.", labels)


def test_one_label_as_a_string_and_repeated_labels_read_as_gliner_reads_them(model):
  """gliner 0.2.29 reads a string as one label and keeps the first of repeated labels."""
  text = "Ada Lovelace met Charles Babbage in London."
  assert model.predict_entities(text, "person", threshold=0.3) == model.predict_entities(
    text, ["person"], threshold=0.3
  )
  assert model.predict_entities(text, ["person", "city", "person"], threshold=0.3) == model.predict_entities(
    text, ["person", "city"], threshold=0.3
  )


@pytest.mark.parametrize("threshold", [0, 1, -0.1, 1.5, 0.0, 1.0, float("nan"), "0.5", True])
def test_bad_threshold(model, threshold):
  with pytest.raises(ValueError, match="threshold"):
    model.predict_entities("Paris is big.", LABELS, threshold=threshold)


def test_prompt_too_long_for_the_encoder(model):
  labels = [" ".join([f"word{i}"] * 200) for i in range(3)]
  with pytest.raises(ValueError, match="leaves no room for words"):
    model.predict_entities("Paris is big.", labels)


def test_bad_texts_and_batch_size(model):
  with pytest.raises(ValueError, match="texts must be a list"):
    model.batch_predict_entities("Paris is big.", LABELS)
  with pytest.raises(ValueError, match=r"texts\[1\] is NoneType"):
    model.batch_predict_entities(["Paris", None], LABELS)
  with pytest.raises(ValueError, match="batch_size"):
    model.batch_predict_entities(["Paris"], LABELS, batch_size=0)


# ------------------------------------------------------------------------------------- entities
@pytest.mark.parametrize("flat_ner", [True, False])
def test_character_offsets_and_entity_type(model, flat_ner):
  results = model.batch_predict_entities(TEXTS, LABELS, batch_size=4, threshold=0.2, flat_ner=flat_ner)
  assert sum(map(len, results)) >= 10
  for text, entities in zip(TEXTS, results):
    starts = {s for _, s, _ in _words(model, text)}
    ends = {e for _, _, e in _words(model, text)}
    for e in entities:
      assert isinstance(e, Entity)
      assert e.text == text[e.start : e.end] and e.start in starts and e.end in ends
      assert e["text"] == e.text and e["label"] == e.label and e["score"] == e.score
      assert e.to_dict() == {"start": e.start, "end": e.end, "text": e.text, "label": e.label, "score": e.score}
      assert e.label in LABELS and 0.2 < e.score < 1.0
    assert [e.start for e in entities] == sorted(e.start for e in entities)
    for i, a in enumerate(entities):
      for b in entities[i + 1 :]:
        overlap = a.start < b.end and b.start < a.end
        nested = (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)
        assert not overlap if flat_ner else (not overlap or nested), (a, b)
  # A non-ASCII text and the one with irregular whitespace both produce entities.
  assert results[1] and results[2]


def test_predict_entities_equals_batch_of_one(model):
  for text in TEXTS[:2]:
    assert (
      model.predict_entities(text, LABELS, threshold=0.3)
      == model.batch_predict_entities([text], LABELS, threshold=0.3)[0]
    )


def test_batch_size_does_not_change_results(model):
  texts = [TEXTS[4], "", TEXTS[0], "Hi!", TEXTS[1]]
  results = [model.batch_predict_entities(texts, LABELS, batch_size=b, threshold=0.3) for b in (1, 3, 8)]
  assert sum(map(len, results[0])) >= 3
  for other in results[1:]:
    _assert_same_entities(other, results[0])


# ------------------------------------------------------------------------------------- windows
def test_word_windows_properties_by_brute_force():
  """The one planner (inference and training): coverage, ownership, whole spans, full-length windows."""
  for n in range(0, 48):
    for max_words in range(1, 24):
      with pytest.raises(ValueError, match="overlap"):
        word_windows(n, max_words, max_words)
      for overlap in range(0, max_words):
        windows = word_windows(n, max_words, overlap)
        where = (n, max_words, overlap, windows)
        if n <= max_words:
          assert windows == [(0, n, 0, n)], where
          continue
        covered, owned = set(), []
        for a, b, own_a, own_b in windows:
          assert 0 <= a < b <= n and b - a == max_words, where
          assert a <= own_a < own_b <= b, where
          covered.update(range(a, b))
          owned += range(own_a, own_b)
        assert covered == set(range(n)), where
        assert owned == list(range(n)), where  # ownership partitions [0, n), in order
        for (a, b, _, _), (a2, _, _, _) in zip(windows, windows[1:]):
          assert b - a2 >= overlap, where
        for a, b, own_a, own_b in windows:
          for s in range(own_a, own_b):
            for width in range(1, overlap // 2 + 1):
              if s + width <= n:
                assert s + width <= b, (where, s, width)
        for s in range(n):  # a span of up to `overlap` words lies whole in some window
          for width in range(1, overlap + 1):
            if s + width <= n:
              assert any(a <= s and s + width <= b for a, b, _, _ in windows), (where, s, width)
        starts = [a for a, _, _, _ in windows]
        assert starts == sorted(set(starts)), where


def test_long_text_is_read_whole(model):
  """A text ~3.75x max_len words: each window, read alone, gives the same entities away from its edges."""
  text = " ".join([SENTENCE] * 6)
  words = _words(model, text)
  n = len(words)
  windows = word_windows(n, model.config.max_len, min(model.window_overlap, model.config.max_len // 2))
  assert n >= 3.5 * model.config.max_len and len(windows) >= 4
  threshold = 0.2
  full = model.batch_predict_entities([text], LABELS, batch_size=8, threshold=threshold)[0]
  word_of = {s: i for i, (_, s, _) in enumerate(words)}
  assert any(word_of[e.start] >= windows[-1][2] for e in full)  # the end of the text is not truncated
  pieces = [text[words[a][1] : words[b - 1][2]] for a, b, _, _ in windows]
  alone = model.batch_predict_entities(pieces, LABELS, batch_size=8, threshold=threshold)
  margin = model.config.max_width + 1
  compared = 0
  for (a, b, own_a, own_b), piece_entities in zip(windows, alone):
    lo = own_a + margin if own_a > 0 else 0
    hi = own_b - margin if own_b < n else n
    shift = words[a][1]
    want = {
      (e.start + shift, e.end + shift, e.label): e.score for e in piece_entities if lo <= word_of[e.start + shift] < hi
    }
    got = {(e.start, e.end, e.label): e.score for e in full if lo <= word_of[e.start] < hi}
    assert set(got) == set(want), (a, b)
    assert all(abs(got[k] - want[k]) <= 1e-5 for k in got)
    compared += len(got)
  assert compared >= 10


# ------------------------------------------------------------------------------------- label groups
def test_label_groups_are_transparent(model):
  """7 labels with max_types=3 run as 3 prompts; each group scores as if predicted alone.

  Texts of at most two words cannot hold crossing spans, so nested multi-label decoding with a tiny
  threshold returns every (span, label) cell and the scores can be compared one to one.
  """
  labels = ["person", "location", "award", "date", "organization", "city", "country"]
  groups = [labels[0:3], labels[3:6], labels[6:7]]
  texts = ["Barack Obama", "New York", "Paris", "Apple Inc"]
  opts = dict(batch_size=4, threshold=1e-12, flat_ner=False, multi_label=True)
  combined = model.batch_predict_entities(texts, labels, **opts)
  per_group = [model.batch_predict_entities(texts, g, **opts) for g in groups]
  for t, text in enumerate(texts):
    n = len(_words(model, text))
    spans = n * (n + 1) // 2
    got = {(e.start, e.end, e.label): e.score for e in combined[t]}
    assert len(got) == len(combined[t]) == spans * len(labels)
    want = {}
    for g, group in enumerate(groups):
      want.update({(e.start, e.end, e.label): e.score for e in per_group[g][t]})
    assert set(got) == set(want)
    assert max(abs(got[k] - want[k]) for k in got) <= 1e-6
  # The scores depend on the label (names really map back to their own scores).
  assert len({round(s, 6) for s in (e.score for e in combined[0])}) > len(labels)


# ------------------------------------------------------------------------------------- bucketing
def test_a_stream_compiles_a_bounded_set_of_programs(model):
  fresh = GLiNER(model.config, model.params, model.tokenizer)
  words = SENTENCE.split() * 5
  rng = np.random.default_rng(0)
  lengths = [1, 60] + rng.integers(1, 61, size=28).tolist()
  texts = [" ".join(words[i % 7 : i % 7 + k]) for i, k in enumerate(lengths)]
  with CompileCounter(fresh._candidates) as compiles:
    first = fresh.batch_predict_entities(texts, LABELS, batch_size=4, threshold=0.3)
  shapes = set(fresh.compiled_shapes)
  assert 1 <= compiles.count <= len(shapes) <= 10
  for s in shapes:
    assert s.batch in (1, 2, 4) and s.tokens in TOKEN_BUCKETS and s.words in WORD_BUCKETS
    assert s.types in TYPE_BUCKETS
  with CompileCounter() as reordered:
    again = fresh.batch_predict_entities(texts[::-1], LABELS, batch_size=4, threshold=0.4)
  assert reordered.names == [] and fresh.compiled_shapes == shapes
  # Greedy decoding visits scores in descending order, so raising the threshold only filters.
  _assert_same_entities(again[::-1], [[e for e in r if e.score > np.float32(0.4)] for r in first])
  assert sum(map(len, first)) > sum(map(len, again)) > 10


# ------------------------------------------------------------------------------------- no torch
@pytest.mark.subprocess
def test_prediction_without_torch(model, reference_dir, tmp_path):
  converted = convert_gliner_checkpoint(reference_dir, str(tmp_path / "jax"))
  code = (
    "import sys, json\n"
    "sys.modules['torch'] = None\n"
    "import gliner_jax\n"
    f"m = gliner_jax.GLiNER.from_pretrained({converted!r})\n"
    f"out = m.batch_predict_entities({TEXTS[:3]!r}, {LABELS!r}, batch_size=4, threshold=0.3)\n"
    "assert sys.modules['torch'] is None\n"
    "print(json.dumps([[e.to_dict() for e in r] for r in out]))\n"
  )
  env = dict(os.environ, PYTHONPATH=REPO, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  got = json.loads(proc.stdout.strip().splitlines()[-1])
  want = model.batch_predict_entities(TEXTS[:3], LABELS, batch_size=4, threshold=0.3)
  assert sum(map(len, want)) >= 3
  assert [[(d["start"], d["end"], d["text"], d["label"]) for d in r] for r in got] == [
    [(e.start, e.end, e.text, e.label) for e in r] for r in want
  ]
  np.testing.assert_allclose([d["score"] for r in got for d in r], [e.score for r in want for e in r], atol=1e-6)
