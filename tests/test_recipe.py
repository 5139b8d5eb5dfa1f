"""Training recipe: labels vs brute force, windowing, prompt sampling, shapes, iterator state."""

import json
import os

import numpy as np
import pytest
from transformers import AutoTokenizer

from gliner_jax.data.batch_iterator import BatchIterator
from gliner_jax.data.readers import NERExample
from gliner_jax.data.recipe import (
  RecipeConfig,
  RecipeStats,
  batch_tokens,
  make_training_batch,
  positive_types,
  sample_prompt,
  split_into_windows,
)
from gliner_jax.model.config import SPECIAL_TOKENS, GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.processing.buckets import TOKEN_BUCKETS, TYPE_BUCKETS, WORD_BUCKETS
from gliner_jax.processing.prompts import PromptTokenizer
from gliner_jax.processing.windows import word_windows

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 3
# Words that are a single bert-uncased subtoken, so a row's text can be read back from its ids.
WORDS = (
  "the a of paris london city river john mary green house big small red blue car road park "
  "school music film book game water fire stone light north south east west king queen"
).split()
TYPES = (
  "person",
  "city",
  "date",
  "organization",
  "programming language",
  "award",
  "country",
  "event",
  "location",
  "music genre",
)


@pytest.fixture(scope="module")
def tokenizer(bert_tiny_dir):
  tok = AutoTokenizer.from_pretrained(bert_tiny_dir)  # bert-base-uncased WordPiece (conftest)
  tok.add_tokens(list(SPECIAL_TOKENS), special_tokens=True)
  assert all(len(tok.tokenize(w)) == 1 for w in WORDS)
  return tok


@pytest.fixture(scope="module")
def ptok(tokenizer):
  enc = EncoderConfig(
    model_type="bert",
    vocab_size=len(tokenizer),
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
  )
  cfg = GLiNERConfig(
    encoder=enc,
    hidden_size=32,
    max_width=K,
    max_len=64,
    max_types=10,
    class_token_index=tokenizer.convert_tokens_to_ids("<<ENT>>"),
  )
  return PromptTokenizer(tokenizer, cfg)


def recipe(**kw):
  values = dict(batch_size=8, max_len=64, max_width=K, max_types=10)
  values.update(kw)
  return RecipeConfig(**values)


def random_example(rng, n_words, n_spans, types=TYPES, max_span=K + 2, negatives=(), ex_id=""):
  tokens = [WORDS[i] for i in rng.integers(len(WORDS), size=n_words)]
  spans = set()
  for _ in range(n_spans):
    s = int(rng.integers(n_words))
    e = min(n_words - 1, s + int(rng.integers(max_span)))
    spans.add((s, e, types[int(rng.integers(len(types)))]))
  return NERExample(tokens, sorted(spans), negatives, ex_id)


def decode_rows(batch, tokenizer):
  """(prompt types, words) of each row, read back from input_ids alone."""
  sep = tokenizer.convert_tokens_to_ids("<<SEP>>")
  rows = []
  for i in range(batch["input_ids"].shape[0]):
    ids = batch["input_ids"][i]
    pos = [int(p) for p in batch["type_token_index"][i] if p >= 0]
    if not batch["attention_mask"][i].any():
      rows.append(None)
      continue
    ends = pos[1:] + [int(np.flatnonzero(ids == sep)[0])]
    prompt = [tokenizer.decode(ids[a + 1 : b]).strip() for a, b in zip(pos, ends)]
    words = tokenizer.convert_ids_to_tokens(
      [int(ids[p]) for p in batch["word_token_index"][i, : batch["num_words"][i]]]
    )
    rows.append((prompt, words))
  return rows


def brute_force_labels(example, prompt, shape):
  _, w_dim, k_dim, c_dim = shape
  out = np.zeros((w_dim, k_dim, c_dim), np.float32)
  n = len(example.tokens)
  for w in range(w_dim):
    for k in range(k_dim):
      for c in range(len(prompt)):
        if w + k < n and any((s, e, t) == (w, w + k, prompt[c]) for s, e, t in example.spans):
          out[w, k, c] = 1.0
  return out


def labelled_entities(batch, rows):
  """(type, words) of every positive label cell."""
  found = set()
  for i, w, k, c in zip(*np.nonzero(batch["labels"])):
    prompt, words = rows[i]
    found.add((prompt[c], tuple(words[w : w + k + 1])))
  return found


def check_shapes(batch, cfg):
  b, t = batch["input_ids"].shape
  _, w, k, c = batch["labels"].shape
  assert b == cfg.batch_size and k == cfg.max_width
  assert t in TOKEN_BUCKETS and w in WORD_BUCKETS and c in TYPE_BUCKETS
  assert batch["attention_mask"].shape == (b, t)
  assert batch["word_token_index"].shape == (b, w) and batch["num_words"].shape == (b,)
  assert batch["type_token_index"].shape == (b, c) and batch["type_mask"].shape == (b, c)
  assert batch["span_mask"].shape == (b, w, k)
  assert batch["labels"].dtype == np.float32
  assert batch["span_mask"].dtype == bool and batch["type_mask"].dtype == bool


@pytest.mark.parametrize("seed", range(4))
def test_labels_match_brute_force(ptok, tokenizer, seed):
  rng = np.random.default_rng(seed)
  examples = [random_example(rng, int(rng.integers(1, 30)), int(rng.integers(0, 6))) for _ in range(6)]
  cfg = recipe(negative_prob=0.5, prompt_drop=0.5)
  stats = RecipeStats()
  batch = make_training_batch(examples, ptok, cfg, np.random.default_rng(seed), stats=stats)
  check_shapes(batch, cfg)
  rows = decode_rows(batch, tokenizer)
  for i, ex in enumerate(examples):
    prompt, words = rows[i]
    assert words == list(ex.tokens)
    assert batch["num_words"][i] == len(ex.tokens)
    expected = brute_force_labels(ex, prompt, batch["labels"].shape)
    np.testing.assert_array_equal(batch["labels"][i], expected)
    num_types = np.arange(batch["type_mask"].shape[1])
    np.testing.assert_array_equal(batch["type_mask"][i], num_types < len(prompt))
    w, k = np.meshgrid(np.arange(batch["span_mask"].shape[1]), np.arange(K), indexing="ij")
    np.testing.assert_array_equal(batch["span_mask"][i], w + k < len(ex.tokens))
  for i in range(len(examples), cfg.batch_size):  # pad rows are empty
    assert rows[i] is None and batch["num_words"][i] == 0
    assert not batch["span_mask"][i].any() and not batch["type_mask"][i].any()
    assert not batch["labels"][i].any() and (batch["word_token_index"][i] == -1).all()
  assert stats.long_spans_dropped == sum(e - s >= K for ex in examples for s, e, _ in ex.spans)
  assert batch_tokens(batch) == sum(
    e.num_tokens for e in ptok.encode_batch([ex.tokens for ex in examples], [p for p, _ in rows[: len(examples)]])
  )


def test_split_uses_the_window_planner():
  ex = NERExample(list("abcdefg"), [(2, 3, "x")])
  assert [w.spans for w in split_into_windows(ex, 4, 2)] == [((2, 3, "x"),), ((0, 1, "x"),), ()]
  assert split_into_windows(ex, 7, 2) == [ex]
  for bad in [(4, 4), (0, 0), (4, -1)]:
    with pytest.raises(ValueError, match="overlap"):
      split_into_windows(ex, *bad)


@pytest.mark.parametrize("max_len,overlap", [(20, K), (20, 7), (9, 8)])
def test_windowing_keeps_every_entity_and_all_words(max_len, overlap):
  rng = np.random.default_rng(max_len + overlap)
  ex = random_example(rng, 101, 40, max_span=K, negatives=("award",), ex_id="doc")
  stats = RecipeStats()
  windows = split_into_windows(ex, max_len, overlap, stats)
  bounds = [(w.start, w.stop) for w in word_windows(len(ex.tokens), max_len, overlap)]
  assert len(windows) == len(bounds) == stats.extra_windows + 1
  assert bounds[0][0] == 0 and bounds[-1][1] == len(ex.tokens)
  for (a, b), (a2, _) in zip(bounds, bounds[1:]):
    assert b - a == max_len and b - a2 >= overlap
  seen = set()
  for (a, b), win in zip(bounds, windows):
    assert list(win.tokens) == list(ex.tokens[a:b]) and win.negatives == ("award",)
    inside = {(s - a, e - a, t) for s, e, t in ex.spans if a <= s and e < b}
    assert set(win.spans) == inside
    seen |= {(s + a, e + a, t) for s, e, t in win.spans}
  assert seen == set(ex.spans)


def test_iterator_never_truncates_and_labels_every_entity(ptok, tokenizer):
  rng = np.random.default_rng(3)
  examples = [
    random_example(rng, int(rng.integers(1, 90)), int(rng.integers(0, 12)), max_span=K, ex_id=str(i)) for i in range(12)
  ]
  cfg = recipe(batch_size=4, max_len=16, window_overlap=5, negative_prob=0.0, prompt_drop=0.0)
  it = BatchIterator(examples, ptok, cfg, seed=0)
  texts, found = [], set()
  for batch in it:
    check_shapes(batch, cfg)
    assert batch["num_words"].max() <= cfg.max_len
    rows = [r for r in decode_rows(batch, tokenizer) if r is not None]
    texts += [" ".join(words) for _, words in rows]
    found |= labelled_entities(batch, decode_rows(batch, tokenizer))
  assert it.stats.extra_windows > 0
  for ex in examples:  # each text is the union of its windows, in order
    planned = word_windows(len(ex.tokens), cfg.max_len, cfg.overlap)
    wins, texts = texts[: len(planned)], texts[len(planned) :]
    rebuilt = list(wins[0].split())
    for w, this in zip(wins[1:], planned[1:]):
      rebuilt = rebuilt[: this.start] + w.split()
    assert rebuilt == list(ex.tokens)
    for s, e, t in ex.spans:
      assert (t, tuple(ex.tokens[s : e + 1])) in found
  assert not texts


def test_shapes_always_in_buckets(ptok):
  rng = np.random.default_rng(11)
  examples = [random_example(rng, int(rng.integers(1, 200)), int(rng.integers(0, 20)), ex_id=str(i)) for i in range(30)]
  cfg = recipe(batch_size=3, max_len=100, max_types=6, negative_prob=1.0, max_neg_type_ratio=3)
  n = 0
  for batch in BatchIterator(examples, ptok, cfg, seed=1):
    check_shapes(batch, cfg)
    assert batch["type_mask"].sum(1).max() <= cfg.max_types
    n += 1
  assert n >= 10


def test_determinism(ptok, tokenizer):
  rng = np.random.default_rng(5)
  examples = [random_example(rng, 12, 4) for _ in range(5)]
  make = lambda seed: make_training_batch(examples, ptok, recipe(), np.random.default_rng(seed))
  a, b, c = make(7), make(7), make(8)
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  assert [r for r in decode_rows(a, tokenizer)] != [r for r in decode_rows(c, tokenizer)]


def test_negatives_exclude_own_positives():
  rng = np.random.default_rng(0)
  pool = list(TYPES)
  cfg = recipe(negative_prob=1.0, max_neg_type_ratio=2, prompt_drop=0.0, max_types=25)
  for _ in range(300):
    ex = random_example(rng, 10, int(rng.integers(1, 4)), types=TYPES[:6])
    prompt = sample_prompt(ex, rng, pool, cfg)
    positives = set(positive_types(ex))
    negatives = [t for t in prompt if t not in positives]
    assert len(set(prompt)) == len(prompt) and positives <= set(prompt)
    assert set(negatives) <= set(pool) - positives
    candidates = len(set(pool) - positives)
    assert len(negatives) in {min(r * len(ex.spans), candidates) for r in (1, 2)}
  empty = NERExample(["the", "city"], [])
  assert 1 <= len(sample_prompt(empty, rng, pool, cfg)) <= 2
  explicit = NERExample(["john"], [(0, 0, "person")], ("city", "person", "award"))
  assert sorted(sample_prompt(explicit, rng, pool, cfg)) == ["award", "city", "person"]
  off = recipe(negative_prob=0.0, prompt_drop=0.0)
  ex = random_example(rng, 10, 5)
  assert sorted(sample_prompt(ex, rng, pool, off)) == sorted(positive_types(ex))


@pytest.mark.subprocess
def test_prompts_do_not_depend_on_hash_seed():
  """Set iteration order changes with PYTHONHASHSEED; resumed runs must sample the same prompts."""
  import subprocess
  import sys

  code = (
    "import json, numpy as np; from gliner_jax.data.recipe import RecipeConfig, sample_prompt;"
    "from gliner_jax.data.readers import NERExample;"
    "ex = NERExample(['a', 'b'], [(0, 0, 'person'), (1, 1, 'city')]);"
    "cfg = RecipeConfig(max_width=1, max_len=8, negative_prob=1.0, max_neg_type_ratio=3);"
    "rng = np.random.default_rng(0);"
    f"print(json.dumps([sample_prompt(ex, rng, set({list(TYPES)!r}), cfg) for _ in range(20)]))"
  )
  outs = []
  for hash_seed in ("1", "2"):
    env = {"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    outs.append(json.loads(done.stdout))
  assert outs[0] == outs[1]


def test_negative_probability_is_half_by_default():
  rng = np.random.default_rng(1)
  cfg = recipe(prompt_drop=0.0)
  ex = NERExample(["john", "paris"], [(0, 0, "person"), (1, 1, "city")])
  with_negs = [len(sample_prompt(ex, rng, TYPES, cfg)) > 2 for _ in range(2000)]
  assert abs(np.mean(with_negs) - 0.5) < 0.05


def test_prompt_drop_removes_types_and_their_labels(ptok, tokenizer):
  rng = np.random.default_rng(2)
  examples = [random_example(rng, 20, 10, max_span=K) for _ in range(8)]
  cfg = recipe(negative_prob=0.0, prompt_drop=1.0)
  shorter = 0
  for seed in range(3):
    batch = make_training_batch(examples, ptok, cfg, np.random.default_rng(seed))
    rows = decode_rows(batch, tokenizer)
    for i, ex in enumerate(examples):
      prompt, _ = rows[i]
      kept = set(prompt)
      assert kept <= set(positive_types(ex)) and len(prompt) >= 1
      shorter += len(kept) < len(positive_types(ex))
      kept_spans = {(s, e, t) for s, e, t in ex.spans if t in kept}
      assert batch["labels"][i].sum() == len(kept_spans)
      for s, e, t in ex.spans:
        cell = batch["labels"][i, s, e - s]
        if t not in kept:
          assert not cell[len(prompt) :].any()
          assert cell.sum() == sum(1 for s2, e2, t2 in kept_spans if (s2, e2) == (s, e))
  assert shorter > 5
  # Kept counts are uniform over 1..n (the original random_drop).
  ex = NERExample(["a"] * 5, [(i, i, TYPES[i]) for i in range(5)])
  counts = np.bincount([len(sample_prompt(ex, rng, (), cfg)) for _ in range(2500)], minlength=6)
  np.testing.assert_allclose(counts[1:] / 2500, 0.2, atol=0.03)
  no_drop = recipe(negative_prob=0.0, prompt_drop=0.0)
  assert all(len(sample_prompt(ex, rng, (), no_drop)) == 5 for _ in range(50))


def test_max_types_truncation():
  rng = np.random.default_rng(4)
  ex = NERExample(
    ["john", "paris", "red"], [(0, 0, "person"), (1, 1, "city"), (2, 2, "color")], ("award", "date", "event", "country")
  )
  ordered = recipe(max_types=4, shuffle_types=False, prompt_drop=0.0)
  assert sample_prompt(ex, rng, (), ordered) == ["person", "city", "color", "award"]
  stats = RecipeStats()
  shuffled = recipe(max_types=2, prompt_drop=0.0)
  prompts = [sample_prompt(ex, rng, (), shuffled, stats) for _ in range(200)]
  assert all(len(p) == 2 for p in prompts) and stats.types_truncated == 200 * 5
  assert any(not {"person", "city", "color"} & set(p) for p in prompts)  # reference: cut after shuffling


def test_subtoken_overflow_splits_rows(ptok, tokenizer):
  long_words = ["unbelievably", "xylophonist", "photosynthesis", "tokenization"]
  rng = np.random.default_rng(6)
  tokens = [long_words[i] for i in rng.integers(4, size=40)]
  ex = NERExample(tokens, [(i, i + 1, "award") for i in range(0, 38, 5)], (), "long")
  cfg = recipe(batch_size=16, max_tokens=48, negative_prob=0.0, prompt_drop=0.0)
  stats = RecipeStats()
  batch = make_training_batch([ex], ptok, cfg, np.random.default_rng(0), stats=stats)
  n_rows = int((batch["num_words"] > 0).sum())
  assert n_rows > 1 and stats.subtoken_splits == n_rows - 1
  assert batch["attention_mask"].sum(1).max() <= 48
  first = [tokenizer.tokenize(w)[0] for w in tokens]  # decode_rows reads first subtokens
  found = labelled_entities(batch, decode_rows(batch, tokenizer))
  assert {(t, tuple(first[s : e + 1])) for s, e, t in ex.spans} <= found
  assert batch["num_words"].sum() >= len(tokens)
  with pytest.raises(ValueError, match="prompt of 5 types"):
    make_training_batch(
      [NERExample(["a"], [(0, 0, t) for t in TYPES[:5]])],
      ptok,
      recipe(max_tokens=8, prompt_drop=0.0),
      np.random.default_rng(0),
    )
  with pytest.raises(ValueError, match="alone needs"):
    make_training_batch(
      [NERExample(["antidisestablishmentarianism"], [])], ptok, recipe(max_tokens=6), np.random.default_rng(0)
    )
  with pytest.raises(ValueError, match="do not fit batch_size"):
    make_training_batch([ex], ptok, recipe(batch_size=2, max_tokens=48), np.random.default_rng(0))


def _same_batches(xs, ys):
  assert len(xs) == len(ys)
  for x, y in zip(xs, ys):
    assert x.keys() == y.keys()
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])


@pytest.mark.parametrize("source_kind", ["list", "grain", "generator"])
def test_iterator_state_round_trip(ptok, source_kind):
  rng = np.random.default_rng(9)
  long_words = ["unbelievably", "xylophonist", "paris", "city"]
  examples = [
    NERExample([long_words[j] for j in rng.integers(4, size=int(rng.integers(1, 40)))], [], (), str(i))
    for i in range(20)
  ]
  examples = [
    NERExample(ex.tokens, [(0, 0, TYPES[i % len(TYPES)])], ex.negatives, ex.id) for i, ex in enumerate(examples)
  ]
  cfg = recipe(batch_size=3, max_len=24, max_tokens=64, type_memory=4, prompt_drop=0.0)

  def source():
    if source_kind == "grain":
      import grain.python as gp

      return gp.MapDataset.source(examples).to_iter_dataset()
    if source_kind == "generator":
      return (ex for ex in examples)
    return examples

  it = BatchIterator(source(), ptok, cfg, seed=3)
  seen = [next(it)]
  while not it.get_state()["carry"]:  # save while split rows wait for the next batch
    seen.append(next(it))
  state = json.loads(json.dumps(it.get_state()))
  expected = list(it)
  assert len(expected) >= 3 and it.stats.subtoken_splits > 0
  # No row is lost: every example's entity is labelled, rows = windows + splits.
  assert (
    sum(int((b["num_words"] > 0).sum()) for b in seen + expected)
    == it.stats.rows
    == (len(examples) + it.stats.extra_windows + it.stats.subtoken_splits)
  )
  assert sum(int(b["labels"].sum()) for b in seen + expected) == len(examples)
  restored = BatchIterator(source(), ptok, cfg, seed=12345)
  restored.set_state(state)
  _same_batches(list(restored), expected)
  if source_kind == "generator":
    with pytest.raises(ValueError, match="one-shot"):
      it.set_state(state)


def test_type_memory_pools_negatives_across_batches(ptok, tokenizer):
  examples = [NERExample(["john"], [(0, 0, t)], (), str(i)) for i, t in enumerate(TYPES)]
  prompts = lambda cfg: [decode_rows(b, tokenizer)[0][0] for b in BatchIterator(examples, ptok, cfg)]
  in_batch_only = prompts(recipe(batch_size=1, negative_prob=1.0, prompt_drop=0.0))
  assert in_batch_only == [[t] for t in TYPES]  # a batch of one has no other types to sample
  remembered = prompts(recipe(batch_size=1, negative_prob=1.0, prompt_drop=0.0, type_memory=2))
  assert remembered[0] == [TYPES[0]]
  for i in range(1, len(TYPES)):
    assert TYPES[i] in remembered[i] and len(remembered[i]) == 2
    assert set(remembered[i]) - {TYPES[i]} <= set(TYPES[max(0, i - 2) : i])


def test_drop_remainder_and_exhaustion(ptok):
  examples = [NERExample(["john", "paris"], [(0, 0, "person")], (), str(i)) for i in range(10)]
  assert len(list(BatchIterator(examples, ptok, recipe(batch_size=4)))) == 3
  batches = list(BatchIterator(examples, ptok, recipe(batch_size=4), drop_remainder=True))
  assert len(batches) == 2 and all((b["num_words"] > 0).all() for b in batches)


def test_bad_inputs(ptok):
  for bad in [
    dict(window_overlap=2),
    dict(negative_prob=1.5),
    dict(prompt_drop=-0.1),
    dict(batch_size=0),
    dict(token_buckets=(64, 32)),
    dict(max_tokens=1),
    dict(max_len=3),
  ]:
    with pytest.raises(ValueError):
      recipe(**bad)
  ex = NERExample(["john"], [(0, 0, "person")])
  with pytest.raises(ValueError, match="max_width"):
    make_training_batch([ex], ptok, recipe(max_width=4), np.random.default_rng(0))
  with pytest.raises(ValueError, match="bad entity type"):
    make_training_batch([NERExample(["john"], [(0, 0, "a <<ENT>> b")])], ptok, recipe(), np.random.default_rng(0))
  with pytest.raises(ValueError, match="not NERExample"):
    next(BatchIterator([{"tokens": ["a"]}], ptok, recipe()))
  cfg = RecipeConfig.from_model_config(ptok.config, batch_size=2)
  assert (cfg.max_len, cfg.max_width, cfg.max_types, cfg.batch_size) == (64, K, 10, 2)


def test_iterator_skips_unusable_examples_counts_and_names_them(ptok, caplog):
  good = [NERExample(["john", "paris"], [(0, 0, "person"), (1, 1, "city")], (), f"good.json:{i}") for i in range(6)]
  bad = [
    NERExample(["john"], [(0, 0, "   ")], (), "bad.json:1"),  # a blank type
    NERExample(["john"], [(0, 0, "a <<ENT>> b")], (), "bad.json:2"),  # a special token in a type
    NERExample(["john"], [(0, 0, "person")], ("\t",), "bad.json:3"),  # a blank negative
    NERExample(["antidisestablishmentarianism"], [(0, 0, "person")], (), "bad.json:4"),  # 8 subtokens, 7 left
    NERExample(["john"], [(0, 0, " ".join(["city"] * 12))], (), "bad.json:5"),  # the prompt alone is over 12
  ]
  odd = NERExample(["", "\u200b", "john"], [(2, 2, "person"), (0, 1, "city")], (), "odd.json:1")  # subtoken-less words
  source = [good[0], bad[0], good[1], bad[1], bad[2], good[2], bad[3], odd, bad[4], good[3], good[4], good[5]]
  cfg = recipe(batch_size=4, max_tokens=12, negative_prob=0.0, prompt_drop=0.0, shuffle_types=False)
  with pytest.raises(ValueError, match="alone needs"):  # make_training_batch (not the iterator) stays strict
    make_training_batch([bad[3]], ptok, cfg, np.random.default_rng(0))
  it = BatchIterator(source, ptok, cfg)
  batches = list(it)
  assert (it.stats.examples, it.stats.skipped_examples, it.stats.rows) == (12, 5, 7)
  assert sum(int(b["labels"].sum()) for b in batches) == 2 * len(good) + 2  # every usable entity is labelled
  assert sum(int((b["num_words"] > 0).sum()) for b in batches) == len(good) + 1
  warnings = [r.getMessage() for r in caplog.records if r.name == "gliner_jax.data.batch_iterator"]
  assert len(warnings) == 5
  for warning, ex, why in zip(
    warnings, bad, ["empty string", "special token", "empty string", "alone needs", "prompt"]
  ):
    assert f"example {ex.id!r}" in warning and why in warning, warning
  assert json.loads(json.dumps(it.get_state()))["stats"]["skipped_examples"] == 5


def test_iterator_stops_when_nothing_is_usable(ptok):
  blank = [NERExample(["john"], [(0, 0, " ")], (), f"bad.json:{i}") for i in range(1000)]
  with pytest.raises(ValueError, match="1000 training examples in a row were unusable.*bad.json:999"):
    next(BatchIterator(blank, ptok, recipe()))
  assert (
    next(BatchIterator(blank[:999] + [NERExample(["john"], [(0, 0, "person")])], ptok, recipe()))["labels"].sum() == 1
  )
