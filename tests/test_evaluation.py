"""Tests of gliner_jax.evaluation.scoring, label_maps, dataset_folders and scripts/evaluate.py.

Metrics are checked on hand-made cases and against gliner 0.2.29's evaluator; the whole pipeline
(prediction on given words + scoring) against gliner 0.2.29's `GLiNER.evaluate` on CrossNER AI.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gliner_jax.data.paths import shared_data
from gliner_jax.data.readers import NERExample, read_bio, read_label_file
from gliner_jax.evaluation.dataset_folders import find_data_root, report_metadata, resolve_datasets
from gliner_jax.evaluation.label_maps import dataset_key, generic_name, get_label_map
from gliner_jax.evaluation.scoring import (
  DatasetResult,
  EvaluationReport,
  PretokenizedSplitter,
  Scores,
  evaluate_datasets,
  filter_threshold,
  load_eval_dataset,
  predict_word_spans,
  score_spans,
  sweep_thresholds,
  write_report,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = shared_data()  # ../shared/data beside the repository, or $GLINER_JAX_DATA
needs_data = pytest.mark.needs_shared_data  # conftest: skips without it (fails with CI=true)

MIT_MOVIE = """O\twhat
O\tmovies
O\tstar
B-ACTOR\tsteve
I-ACTOR\tmcqueen

B-GENRE\thorror
O\tfilms
O\tdirected
O\tby
B-DIRECTOR\tjohn
I-DIRECTOR\tcarpenter
O\tin
B-YEAR\t1980

O\tshow
O\tme
B-TITLE\tthe
I-TITLE\tgodfather
"""


# ----------------------------------------------------------------------------------- metrics
def test_score_spans_hand_made():
  gold = [[(0, 1, "person"), (3, 3, "city")], [(2, 4, "org")], []]
  pred = [
    [(0, 1, "person"), (3, 3, "country"), (5, 5, "city")],  # 1 tp, wrong type, spurious
    [(2, 4, "org"), (2, 3, "org")],  # 1 tp, wrong boundary
    [(0, 1, "person")],
  ]  # right span of example 0, but in example 2
  s = score_spans(gold, pred)
  assert (s.true_positives, s.num_predicted, s.num_gold) == (2, 6, 3)
  assert s.precision == pytest.approx(1 / 3, abs=1e-15)
  assert s.recall == pytest.approx(2 / 3, abs=1e-15)
  assert s.f1 == pytest.approx(4 / 9, abs=1e-15)


def test_score_spans_duplicates_and_scores():
  gold = [[(0, 0, "a"), (0, 0, "a"), (1, 2, "b")]]
  pred = [[(0, 0, "a", 0.9), (0, 0, "a", 0.8), (1, 2, "c", 0.7)]]  # 4th element (score) ignored
  assert score_spans(gold, pred) == Scores(0.5, 0.5, 0.5, 1, 2, 2)
  # the same span with two labels is two predictions
  assert score_spans([[(0, 0, "a")]], [[(0, 0, "a"), (0, 0, "b")]]) == Scores(0.5, 1.0, 2 / 3, 1, 2, 1)


def test_score_spans_empty_cases():
  assert score_spans([[(0, 0, "a")]], [[]]) == Scores(0.0, 0.0, 0.0, 0, 0, 1)
  assert score_spans([[]], [[(0, 0, "a")]]) == Scores(0.0, 0.0, 0.0, 0, 1, 0)
  assert score_spans([[], []], [[], []]) == Scores(0.0, 0.0, 0.0, 0, 0, 0)  # gliner: 0, not 1
  assert score_spans([], []) == Scores(0.0, 0.0, 0.0, 0, 0, 0)
  with pytest.raises(ValueError, match="gold has 2 examples but predicted has 1"):
    score_spans([[], []], [[]])


def test_score_spans_equals_gliner_evaluator_on_random_sets():
  from gliner.evaluation.evaluator import BaseNEREvaluator

  rng = np.random.default_rng(0)
  for trial in range(60):
    n = int(rng.integers(1, 6))

    def rand_spans():
      out = []
      for _ in range(int(rng.integers(0, 7))):
        s = int(rng.integers(0, 4))
        out.append((s, s + int(rng.integers(0, 2)), str(rng.choice(["a", "b", "c"]))))
      return out

    gold = [rand_spans() for _ in range(n)]
    pred = [rand_spans() for _ in range(n)]
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      y_true, y_pred = BaseNEREvaluator(gold, pred).transform_data()
      ref = BaseNEREvaluator.compute_prf(y_true, y_pred)
    ours = score_spans(gold, pred)
    assert (ours.precision, ours.recall, ours.f1) == (
      float(ref["precision"]),
      float(ref["recall"]),
      float(ref["f_score"]),
    ), trial


# ----------------------------------------------------------------------------------- label maps
def test_label_maps_crossner_schemes_and_spellings():
  ai = get_label_map("CrossNER_AI")
  assert ai.dataset == "crossner_ai" and ai.scheme == "gliner"
  assert [ai(t) for t in ("programlang", "misc", "organisation", "metrics")] == [
    "program language",
    "else",
    "organization",
    "metrics",
  ]
  # the spellings of the other sources map to the same names
  assert [ai(t) for t in ("programming language", "metric", "else", "Program Language")] == [
    "program language",
    "metrics",
    "else",
    "program language",
  ]
  gner = get_label_map("ai", scheme="gner")
  assert [gner(t) for t in ("programlang", "metrics", "program language")] == [
    "programming language",
    "metric",
    "programming language",
  ]
  assert gner("misc") is None and "else" not in gner.types
  assert get_label_map("science")("astronomicalobject") == "astronomical object"
  assert get_label_map("crossner-music")("musicalartist") == "musical artist"
  assert get_label_map("politics")("politicalparty") == "political party"
  assert get_label_map("literature")("literarygenre") == "literary genre"


def test_label_maps_conll_mit_and_fallback(caplog):
  conll = get_label_map("conll2003")
  assert [conll(t) for t in ("PER", "LOC", "ORG", "MISC", "organisation")] == [
    "person",
    "location",
    "organization",
    "else",
    "organization",
  ]
  assert get_label_map("conll03", "gner")("MISC") == "miscellaneous"
  assert get_label_map("mit-restaurant")("Restaurant_Name") == "restaurant name"
  assert get_label_map("mit_movie")("Actor") == get_label_map("mit_movie")("ACTOR") == "actor"
  assert get_label_map("MIT movie")("RATINGS_AVERAGE") == "ratings average"
  assert [dataset_key(n) for n in ("CrossNER_AI", "ai", "mit-movie", "CoNLL 2003", "wnut17")] == [
    "crossner_ai",
    "crossner_ai",
    "mit_movie",
    "conll2003",
    None,
  ]
  assert generic_name("Some_Odd-Tag  X") == "some odd tag x"
  generic = get_label_map("wnut17")
  assert generic.dataset is None and generic.types == ()
  examples = [NERExample(["a", "b", "c"], [(0, 0, "Creative_Work"), (1, 1, "person"), (2, 2, "misc")])]
  with caplog.at_level(logging.WARNING, logger="gliner_jax.evaluation.label_maps"):
    mapped = generic.apply(examples)
  assert mapped[0].spans == ((0, 0, "creative work"), (1, 1, "person"), (2, 2, "misc"))
  assert "['Creative_Work', 'misc', 'person']" in caplog.text
  caplog.clear()
  with caplog.at_level(logging.WARNING, logger="gliner_jax.evaluation.label_maps"):
    get_label_map("ai").apply(examples)
  assert "'crossner_ai'" in caplog.text and "['Creative_Work']" in caplog.text


def test_label_map_apply_drops_merges_and_overrides():
  ex = NERExample(["x", "y", "z"], [(0, 0, "misc"), (1, 2, "organisation"), (1, 2, "organization")], ["programlang"])
  out = get_label_map("ai", "gner").apply([ex])[0]
  assert out.spans == ((1, 2, "organization"),) and out.negatives == ("programming language",)
  custom = get_label_map("ai", overrides={"misc": "miscellaneous", "programlang": None})
  assert custom("misc") == "miscellaneous" and custom("programlang") is None
  assert "miscellaneous" in custom.types and "program language" not in custom.types
  with pytest.raises(ValueError, match="scheme must be one of"):
    get_label_map("ai", scheme="natural")
  with pytest.raises(ValueError, match="non-empty string or None"):
    get_label_map("ai", overrides={"misc": " "})


@needs_data
def test_crossner_labels_match_each_source():
  for domain, folder in (
    ("AI", "ai"),
    ("literature", "literature"),
    ("music", "music"),
    ("politics", "politics"),
    ("science", "science"),
  ):
    with open(f"{DATA}/instructuie/CrossNER_{domain}/labels.json") as f:
      gliner_labels = tuple(json.load(f))
    bio = load_eval_dataset(f"crossner_{folder}", f"{DATA}/crossner/{folder}")
    assert bio.labels == gliner_labels, domain  # same names, same prompt order as the GLiNER paper data
    gner_labels = read_label_file(f"{DATA}/gner/crossner_{folder}/label.txt")
    assert set(load_eval_dataset(folder, f"{DATA}/crossner/{folder}", scheme="gner").labels) == set(gner_labels)
  js = load_eval_dataset("CrossNER_AI", f"{DATA}/instructuie/CrossNER_AI", max_examples=30)
  bio = load_eval_dataset("crossner_ai", f"{DATA}/crossner/ai", max_examples=30)
  assert js.labels == bio.labels and len(js.examples) == 30
  assert {t for ex in js.examples for _, _, t in ex.spans} <= set(bio.labels)
  assert js.examples[0].spans == bio.examples[0].spans


def test_load_eval_dataset_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="no file for split 'test'"):
    load_eval_dataset("x", str(tmp_path))
  with pytest.raises(ValueError, match="max_examples must be >= 1"):
    load_eval_dataset("x", str(tmp_path), max_examples=0)
  for bad in ({}, [], str(tmp_path)):
    with pytest.raises(ValueError, match="non-empty {name: folder} mapping"):
      evaluate_datasets(None, bad)
  with pytest.raises(ValueError, match="thresholds must not be empty"):
    sweep_thresholds(None, {"x": str(tmp_path)}, [])


# ----------------------------------------------------------------------------------- splitter
def test_pretokenized_splitter():
  sp = PretokenizedSplitter()
  words = ["U.S.", "-based", "", " ", "firm"]
  text = sp.register(words)
  split = sp(text)
  assert [w for w, _, _ in split] == words
  assert all(text[s:e] == w for w, s, e in split)
  assert sp.register(words) == text
  with pytest.raises(ValueError, match="two different word lists"):
    sp.register(["U.S. -based", "", " ", "firm"])
  assert sp("a  b") == [("a", 0, 1), ("b", 3, 4)]  # unregistered: single spaces


def test_report_markdown_and_files(tmp_path):
  results = (
    DatasetResult("ai", 10, ("person",), Scores(0.5, 0.25, 1 / 3, 1, 2, 4), 1.0),
    DatasetResult("music", 4, ("band",), Scores(1.0, 0.75, 6 / 7, 3, 3, 4), 0.5),
  )
  report = EvaluationReport(0.5, True, False, "test", results)
  assert report.average == pytest.approx({"precision": 0.75, "recall": 0.5, "f1": (1 / 3 + 6 / 7) / 2})
  assert report.to_markdown().splitlines()[2:] == [
    "| dataset | P | R | F1 | #examples |",
    "|---|---:|---:|---:|---:|",
    "| ai | 50.00 | 25.00 | 33.33 | 10 |",
    "| music | 100.00 | 75.00 | 85.71 | 4 |",
    "| **average** | 75.00 | 50.00 | 59.52 | 14 |",
  ]
  other = EvaluationReport(0.3, True, False, "test", results)
  paths = write_report([other, report], str(tmp_path), extra={"model": "m"})
  data = json.load(open(paths["json"]))
  assert data["model"] == "m" and [r["threshold"] for r in data["runs"]] == [0.3, 0.5]
  assert data["runs"][1]["datasets"][1]["f1"] == pytest.approx(6 / 7)
  assert open(paths["md"]).read().count("| **average** |") == 2
  assert open(paths["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------------- with a model
@pytest.fixture(scope="module")
def jax_model(converted_minilm):
  from gliner_jax import GLiNER

  return GLiNER.from_pretrained(converted_minilm)


@pytest.fixture(scope="module")
def ai_sentences():
  from conftest import require_shared_data

  require_shared_data()
  ds = load_eval_dataset("crossner_ai", f"{DATA}/crossner/ai")
  short = [ex for ex in ds.examples if len(ex.tokens) <= 60][:40]
  return short, ds.labels


def test_predict_word_spans_matches_char_level_api(jax_model):
  texts = ["Barack Obama was born in Hawaii .", "Apple released the iPhone in 2007 in Cupertino ."]
  labels = ["person", "location", "organization", "date"]
  words = [t.split(" ") for t in texts]
  before = jax_model.words_splitter
  ours = predict_word_spans(jax_model, words, labels, threshold=0.3)
  assert jax_model.words_splitter is before
  ents = jax_model.batch_predict_entities(texts, labels, threshold=0.3)
  assert sum(map(len, ours)) > 0
  for text, w, spans, ent in zip(texts, words, ours, ents):
    starts = np.cumsum([0] + [len(x) + 1 for x in w[:-1]]).tolist()
    ends = [a + len(x) for a, x in zip(starts, w)]
    expected = [(starts.index(e.start), ends.index(e.end), e.label, e.score) for e in ent]
    assert [(s, e, lab) for s, e, lab, _ in spans] == [x[:3] for x in expected]
    np.testing.assert_allclose([x[3] for x in spans], [x[3] for x in expected], rtol=1e-6)
  with pytest.raises(ValueError, match="words must be strings"):
    predict_word_spans(jax_model, [["a", 3]], labels)


def _reference_evaluate(ref, examples, labels, threshold, monkeypatch):
  """gliner 0.2.29 `evaluate` on GLiNER-format data: (its F1, its word-level predictions)."""
  import gliner.model
  from gliner.evaluation import BaseNEREvaluator

  captured = []

  class Capturing(BaseNEREvaluator):
    def __init__(self, all_true, all_outs):
      super().__init__(all_true, all_outs)
      captured.append([sorted((sp.start, sp.end, sp.entity_type) for sp in out) for out in all_outs])

  monkeypatch.setattr(gliner.model, "BaseNEREvaluator", Capturing)
  data = [{"tokenized_text": list(ex.tokens), "ner": [list(s) for s in ex.spans]} for ex in examples]
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _, f1 = ref.evaluate(data, flat_ner=True, threshold=threshold, batch_size=8, entity_types=list(labels))
  return float(f1), captured[-1]


@pytest.mark.slow  # ~22 s; test_predict_word_spans_matches_char_level_api and the scoring tests stay fast
@needs_data
def test_f1_equals_gliner_evaluate(reference_minilm, jax_model, ai_sentences, monkeypatch):
  import torch

  torch.set_num_threads(1)
  ref, _ = reference_minilm
  examples, labels = ai_sentences
  ref_f1, ref_pred = _reference_evaluate(ref, examples, labels, 0.5, monkeypatch)
  report = evaluate_datasets(jax_model, [_dataset(examples, labels)], threshold=0.5)
  scores = report.results[0].scores
  assert scores.num_predicted >= 100, scores
  assert abs(scores.f1 - ref_f1) <= 1e-3, (scores, ref_f1)
  ours = [sorted(s[:3] for s in spans) for spans in predict_word_spans(jax_model, examples, labels)]
  same = sum(a == b for a, b in zip(ours, ref_pred))
  assert same >= len(examples) - 1, f"{same} of {len(examples)} examples predicted alike"

  # A random model finds no CrossNER entity (F1 = 0 on both sides), so score again against a gold
  # set that also holds every third reference prediction: P, R and F1 are then far from 0 and 1.
  mixed = [NERExample(ex.tokens, set(ex.spans) | set(p[::3])) for ex, p in zip(examples, ref_pred)]
  ref_f1, _ = _reference_evaluate(ref, mixed, labels, 0.5, monkeypatch)
  scores = evaluate_datasets(jax_model, [_dataset(mixed, labels)], threshold=0.5).results[0].scores
  assert 0.1 < scores.precision < 0.9 and 0.1 < scores.f1 < 0.9, scores
  assert abs(scores.f1 - ref_f1) <= 1e-3, (scores, ref_f1)


def _dataset(examples, labels):
  from gliner_jax.evaluation.scoring import EvalDataset

  return EvalDataset("crossner_ai", "", tuple(examples), tuple(labels))


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("flat_ner", [True, False])
def test_sweep_equals_separate_runs(jax_model, ai_sentences, flat_ner):
  examples, labels = ai_sentences
  examples = examples[:16]
  thresholds = [0.3, 0.5, 0.7]
  low = predict_word_spans(jax_model, examples, labels, threshold=0.3, flat_ner=flat_ner)
  assert sum(map(len, low)) > sum(map(len, filter_threshold(low, 0.5))) > 0
  for t in thresholds[1:]:
    direct = predict_word_spans(jax_model, examples, labels, threshold=t, flat_ner=flat_ner)
    assert filter_threshold(low, t) == direct, t
  reports = sweep_thresholds(jax_model, [_dataset(examples, labels)], thresholds, flat_ner=flat_ner)
  assert [r.threshold for r in reports] == thresholds
  for r in reports:
    direct = predict_word_spans(jax_model, examples, labels, threshold=r.threshold, flat_ner=flat_ner)
    assert r.results[0].scores == score_spans([ex.spans for ex in examples], direct)
  with pytest.raises(ValueError, match="threshold"):
    sweep_thresholds(jax_model, [_dataset(examples, labels)], [0.5, 1.5])


def test_mit_tag_first_folder(jax_model, tmp_path):
  folder = tmp_path / "mit_movie"
  folder.mkdir()
  (folder / "test.txt").write_text(MIT_MOVIE)
  report = evaluate_datasets(jax_model, {"mit_movie": str(folder)}, threshold=0.3, batch_size=2)
  (result,) = report.results
  assert result.num_examples == 3
  assert result.labels == ("actor", "director", "genre", "title", "year")
  assert result.scores.num_gold == 5
  gold = [ex.spans for ex in get_label_map("mit_movie").apply(read_bio(str(folder / "test.txt")))]
  pred = predict_word_spans(jax_model, read_bio(str(folder / "test.txt")), result.labels, threshold=0.3)
  assert result.scores == score_spans(gold, pred)


@pytest.mark.subprocess
def test_script_end_to_end(converted_minilm, tmp_path):
  folder = tmp_path / "movies"
  folder.mkdir()
  (folder / "test.txt").write_text(MIT_MOVIE)
  out = tmp_path / "out"
  env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
  proc = subprocess.run(
    [
      sys.executable,
      os.path.join(REPO, "scripts", "evaluate.py"),
      f"--model={converted_minilm}",
      f"--datasets=mit_movie={folder}",
      "--sweep=0.3,0.5",
      "--max_examples=2",
      f"--out_dir={out}",
      "--batch_size=2",
    ],
    capture_output=True,
    text=True,
    env=env,
    cwd=str(tmp_path),
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  data = json.load(open(out / "results.json"))
  assert [r["threshold"] for r in data["runs"]] == [0.3, 0.5]
  assert data["runs"][0]["datasets"][0]["name"] == "mit_movie"
  assert data["runs"][0]["datasets"][0]["num_examples"] == 2
  assert data["runs"][0]["datasets"][0]["labels"] == ["actor", "director", "genre", "title", "year"]
  md = open(out / "results.md").read()
  assert md.count("| mit_movie |") == 2 and "| mit_movie |" in proc.stdout
  assert open(out / "results.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
  bad = subprocess.run(
    [
      sys.executable,
      os.path.join(REPO, "scripts", "evaluate.py"),
      f"--model={converted_minilm}",
      "--datasets=nowhere",
      f"--out_dir={out}",
    ],
    capture_output=True,
    text=True,
    env=env,
    timeout=300,
  )
  assert bad.returncode != 0 and "neither one of" in bad.stderr


@needs_data
def test_resolve_datasets_finds_the_crossner_domains(tmp_path):
  folders = resolve_datasets(["ai", "science", f"movie={tmp_path}"], None)
  assert folders == {
    "crossner_ai": os.path.join(find_data_root(), "crossner", "ai"),
    "crossner_science": os.path.join(find_data_root(), "crossner", "science"),
    "movie": str(tmp_path),
  }
  assert all(os.path.isfile(os.path.join(f, "test.txt")) for f in list(folders.values())[:2])
  with pytest.raises(ValueError, match="is not a folder"):
    resolve_datasets([f"x={tmp_path / 'missing'}"], None)
  with pytest.raises(ValueError, match="given twice"):
    resolve_datasets([f"x={tmp_path}", f"x={tmp_path}"], None)
  with pytest.raises(ValueError, match="neither one of"):
    resolve_datasets(["nowhere"], None)
  with pytest.raises(ValueError, match="is empty"):
    resolve_datasets([], None)
  assert report_metadata(str(tmp_path), folders, "gner") == {
    "model": str(tmp_path),
    "scheme": "gner",
    "datasets": {
      "crossner_ai": os.path.join("..", "shared", "data", "crossner", "ai"),
      "crossner_science": os.path.join("..", "shared", "data", "crossner", "science"),
      "movie": str(tmp_path),
    },
  }
