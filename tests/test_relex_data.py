"""Relex training data: gliner's relex records in the readers, windows, the dataset converters, the relex prompt,
and static-shape relex batches (gold entities, pairs and relation targets against brute force, resume)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest
from transformers import AutoTokenizer

from conftest import require_module
from gliner_jax import DEFAULT_MODEL
from gliner_jax.data.readers import DataFormatError, NERExample, ReadStats, read_gliner_json, read_ner_file
from gliner_jax.data.recipe import RecipeConfig, RecipeStats, split_into_windows
from gliner_jax.data.relation_formats import convert_relation_file, docred_record, spert_record, write_relex_json
from gliner_jax.data.relex_recipe import (
  RelexBatchIterator,
  RelexRecipe,
  gold_targets,
  relex_array_shapes,
  sample_pairs,
)
from gliner_jax.inference.relex import RelexGLiNER
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.relex.span_relex import RelexConfig
from gliner_jax.processing.relex_prompts import RelexPromptTokenizer, relex_prompt
from gliner_jax.training.data import load_source
from gliner_jax.training.model_init import StartingPoint
from gliner_jax.training.relex_data import make_relex_batches, relex_recipe_of

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 3


def _write(path, records, jsonl=False):
  with open(path, "w") as f:
    if isinstance(records, dict):
      json.dump(records, f)
    elif jsonl:
      f.write("".join(json.dumps(r) + "\n" for r in records))
    else:
      f.write("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
  return str(path)


RECORD = {
  "tokenized_text": ["Ann", "Lee", "works", "at", "Acme", "in", "Oslo", "."],
  "ner": [[0, 1, "person"], [4, 4, "company"], [6, 6, "city"]],
  "relations": [[0, 1, "works at"], [1, 2, "located in"]],
}


# ------------------------------------------------------------------------------------------------ reader
def test_relex_records_read_with_relations_and_label_keys(tmp_path):
  second = dict(
    RECORD,
    ner_labels=["person", "company", "city", "country"],
    rel_labels=["works at", "located in", "born in"],
    rel_negatives=["ceo of"],
    ner_negatives=["date"],
  )
  for jsonl in (False, True):
    path = _write(tmp_path / f"rx{jsonl}.json", [RECORD, second], jsonl)
    first, other = read_ner_file(path)
    assert first == NERExample(
      RECORD["tokenized_text"],
      [(0, 1, "person"), (4, 4, "company"), (6, 6, "city")],
      (),
      "0",
      [(0, 1, "works at"), (1, 2, "located in")],
    )
    assert other.negatives == ("date", "country")
    assert other.relation_negatives == ("ceo of", "born in")
    assert other.relations == first.relations
  roundtrip = NERExample.from_json(json.loads(json.dumps(other.to_json())))
  assert roundtrip == other
  assert other.to_gliner()["relations"] == RECORD["relations"]
  assert NERExample.from_json(NERExample(["a"], []).to_json()).relations == ()


@pytest.mark.parametrize(
  "change, fault",
  [
    ({"relations": [[0, 3, "x"]]}, r"relations\[0\] = \[0, 3, 'x'\]: head and tail must be indices of the 3 entities"),
    ({"relations": [[1, 1, "x"]]}, r"relations\[0\] = \[1, 1, 'x'\]: head and tail are the same entity"),
    ({"relations": [[0, 1]]}, r"relations\[0\] = \[0, 1\]: is not \[head, tail, type\]"),
    ({"relations": [[0, 1, ""]]}, r"relations\[0\] = \[0, 1, ''\]: type must be a non-empty string"),
    ({"relations": [["0", 1, "x"]]}, r"relations\[0\] = \['0', 1, 'x'\]: head and tail must be integers"),
    ({"relations": {"0": 1}}, r"relations must be a list"),
    ({"relation": []}, r"unknown key\(s\) \['relation'\] in a relex record"),
  ],
)
def test_relex_record_errors_name_file_and_line(tmp_path, change, fault):
  path = _write(tmp_path / "bad.json", [RECORD, dict(RECORD, **change)])
  with pytest.raises(DataFormatError, match=rf"^{re.escape(str(tmp_path))}/bad.json:3 \(record 1\): {fault}"):
    read_gliner_json(path)
  path = _write(tmp_path / "bad.jsonl", [RECORD, dict(RECORD, **change)], jsonl=True)
  with pytest.raises(DataFormatError, match=rf"^{re.escape(str(tmp_path))}/bad.jsonl:2: {fault}"):
    read_ner_file(path)
  stats = ReadStats()
  assert len(read_ner_file(path, on_error="skip", stats=stats)) == 1
  assert len(stats.errors) == 1 and stats.errors[0].startswith(f"{tmp_path}/bad.jsonl:2: ")


def test_example_rejects_bad_relations():
  with pytest.raises(ValueError, match=r"relation 0 \(0, 1, 'x'\): head and tail must be indices of the 1 entities"):
    NERExample(["a", "b"], [(0, 0, "t")], relations=[(0, 1, "x")])


def test_label_maps_of_a_training_source_keep_relations_on_their_entities(tmp_path):
  record = dict(RECORD, ner=[[0, 1, "PER"], [4, 4, "ORG"], [6, 6, "LOC"]])
  path = _write(tmp_path / "train.json", [record])
  (ex,) = load_source(dict(path=path, label_map={"PER": "person", "ORG": "", "LOC": "city"}))
  assert ex.spans == ((0, 1, "person"), (6, 6, "city")) and ex.relations == ()  # both relations touched Acme
  (ex,) = load_source(dict(path=path, label_map={"ORG": "company"}))
  assert ex.spans == ((0, 1, "per"), (4, 4, "company"), (6, 6, "loc"))
  assert ex.relations == ((0, 1, "works at"), (1, 2, "located in"))
  record = dict(RECORD, relations=[[0, 2, "lives in"], [1, 2, "located in"]])
  (ex,) = load_source(dict(path=_write(tmp_path / "b.json", [record]), label_map={"company": ""}))
  assert ex.spans == ((0, 1, "person"), (6, 6, "city")) and ex.relations == ((0, 1, "lives in"),)


# ------------------------------------------------------------------------------------------------ windows
def test_windows_keep_and_reindex_relations_and_count_the_cut_ones():
  tokens = [f"w{i}" for i in range(10)]
  spans = [(0, 0, "a"), (2, 2, "b"), (5, 5, "c"), (8, 9, "d")]
  relations = [(0, 1, "r1"), (1, 2, "r2"), (2, 3, "r3"), (0, 3, "r4"), (3, 0, "r5")]
  ex = NERExample(tokens, spans, ("neg",), "doc", relations, ("rneg",))
  stats = RecipeStats()
  windows = split_into_windows(ex, 6, 3, stats)
  assert [(w.tokens[0], w.spans, w.relations) for w in windows] == [
    ("w0", ((0, 0, "a"), (2, 2, "b"), (5, 5, "c")), ((0, 1, "r1"), (1, 2, "r2"))),
    ("w3", ((2, 2, "c"),), ()),
    ("w4", ((1, 1, "c"), (4, 5, "d")), ((0, 1, "r3"),)),
  ]
  assert all(w.relation_negatives == ("rneg",) and w.negatives == ("neg",) for w in windows)
  assert stats.cut_relations == 2  # r4 and r5: their entities are 8 words apart, in no window together


# ------------------------------------------------------------------------------------------------ converters
SPERT = [
  {
    "tokens": ["Mary", "Smith", "teaches", "at", "Bell", "College", "in", "Leeds", "."],
    "entities": [
      {"type": "Peop", "start": 0, "end": 2},
      {"type": "Org", "start": 4, "end": 6},
      {"type": "Loc", "start": 7, "end": 8},
    ],
    "relations": [{"type": "Work_For", "head": 0, "tail": 1}, {"type": "OrgBased_In", "head": 1, "tail": 2}],
    "orig_id": 17,
  },
  {"tokens": ["Rain", "fell", "."], "entities": [], "relations": []},
]
SPERT_TYPES = {
  "entities": {
    "Peop": {"short": "Peop", "verbose": "People"},
    "Org": {"short": "Org", "verbose": "Organization"},
    "Loc": {"short": "Loc", "verbose": "Location"},
  },
  "relations": {
    "Work_For": {"short": "Work", "verbose": "Work for", "symmetric": False},
    "OrgBased_In": {"short": "OrgBI", "verbose": "Organization based in", "symmetric": False},
  },
}
DOCRED = {
  "title": "Tom Ward",
  "sents": [["Tom", "Ward", "was", "born", "in", "Perth", "."], ["Ward", "later", "moved", "to", "Perth", "."]],
  "vertexSet": [
    [
      {"name": "Tom Ward", "pos": [0, 2], "sent_id": 0, "type": "PER"},
      {"name": "Ward", "pos": [0, 1], "sent_id": 1, "type": "PER"},
    ],
    [
      {"name": "Perth", "pos": [5, 6], "sent_id": 0, "type": "LOC"},
      {"name": "Perth", "pos": [4, 5], "sent_id": 1, "type": "LOC"},
    ],
  ],
  "labels": [{"h": 0, "t": 1, "r": "P19", "evidence": [0]}, {"h": 0, "t": 1, "r": "P551", "evidence": [1]}],
}
REL_INFO = {"P19": "place of birth", "P551": "residence"}


def test_spert_conversion_is_exact(tmp_path):
  path = _write(tmp_path / "conll04.json", SPERT)
  types = _write(tmp_path / "types.json", SPERT_TYPES)
  records, stats = convert_relation_file(path, "spert", types_path=types)
  assert records == [
    {
      "tokenized_text": SPERT[0]["tokens"],
      "ner": [[0, 1, "people"], [4, 5, "organization"], [7, 7, "location"]],
      "relations": [[0, 1, "work for"], [1, 2, "organization based in"]],
    },
    {"tokenized_text": ["Rain", "fell", "."], "ner": [], "relations": []},
  ]
  assert dataclasses.astuple(stats) == (2, 3, 2, 2)
  raw, _ = convert_relation_file(path, "spert")
  assert raw[0]["ner"][0] == [0, 1, "Peop"] and raw[0]["relations"][0] == [0, 1, "Work_For"]
  out = str(tmp_path / "out.json")
  write_relex_json(records, out)
  first, second = read_ner_file(out)
  assert first.spans == ((0, 1, "people"), (4, 5, "organization"), (7, 7, "location"))
  assert first.relations == ((0, 1, "work for"), (1, 2, "organization based in"))
  assert second.spans == () and first.id == "0"


@pytest.mark.parametrize(
  "mentions, relations",
  [
    # closest: "Ward" (word 7, sentence 2) and the first "Perth" (word 5) have one word between them
    ("closest", [[1, 2, "place of birth"], [1, 2, "residence"]]),
    ("first", [[0, 2, "place of birth"], [0, 2, "residence"]]),
    ("all", [[a, b, r] for r in ("place of birth", "residence") for a, b in ((0, 2), (0, 3), (1, 2), (1, 3))]),
  ],
)
def test_docred_conversion_is_exact(mentions, relations):
  record = docred_record(DOCRED, "dev.json:1", REL_INFO, mentions=mentions)
  assert record["tokenized_text"] == DOCRED["sents"][0] + DOCRED["sents"][1]
  assert record["ner"] == [[0, 1, "person"], [7, 7, "person"], [5, 5, "location"], [11, 11, "location"]]
  assert record["relations"] == relations
  raw = docred_record(DOCRED, "dev.json:1", None, entity_names={}, mentions=mentions)
  assert [t for _, _, t in raw["ner"]] == ["PER", "PER", "LOC", "LOC"]
  names = {"place of birth": "P19", "residence": "P551"}
  assert raw["relations"] == [[a, b, names[r]] for a, b, r in relations]


def test_converter_errors_name_the_record(tmp_path):
  bad = dict(SPERT[0], relations=[{"type": "Work_For", "head": 0, "tail": 0}])
  path = _write(tmp_path / "bad.json", [SPERT[1], bad])
  with pytest.raises(DataFormatError, match=r"bad.json:3 \(record 1\): relations\[0\] .* two different entity"):
    convert_relation_file(path, "spert")
  with pytest.raises(DataFormatError, match=r"x:1: labels\[0\]: relation 'P19' is not in rel_info"):
    docred_record(DOCRED, "x:1", {"P551": "residence"})
  doc = json.loads(json.dumps(DOCRED))
  doc["vertexSet"][0][1]["pos"] = [0, 9]
  with pytest.raises(DataFormatError, match=r"vertexSet\[0\]\[1\]: pos \[0, 9\] is not \[start, end\) in sentence 1"):
    docred_record(doc, "x:1")
  with pytest.raises(DataFormatError, match=r"entities\[0\] .* need 0 <= start < end <= 2"):
    spert_record({"tokens": ["a", "b"], "entities": [{"type": "T", "start": 1, "end": 3}]}, "y:1")


@pytest.mark.subprocess
def test_convert_script_writes_a_readable_file(tmp_path):
  src = _write(tmp_path / "dev.json", [DOCRED])
  info = _write(tmp_path / "rel_info.json", REL_INFO)
  out = tmp_path / "dev_gliner.json"
  cmd = [sys.executable, os.path.join(REPO, "scripts", "convert_relations.py"), "--format", "docred"]
  cmd += ["--input", src, "--rel_info", info, "--output", str(out)]
  done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)
  assert done.returncode == 0, done.stderr
  assert "1 records, 4 entities, 2 relations read, 2 written" in done.stdout
  (example,) = read_ner_file(str(out))
  assert example.relations == ((1, 2, "place of birth"), (1, 2, "residence"))


# ------------------------------------------------------------------------------------------------ batches
@pytest.fixture(scope="module")
def tokenizer():
  tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
  tok.add_tokens(["<<REL>>"], special_tokens=True)
  return tok


def _config(tokenizer, **changes) -> GLiNERConfig:
  enc = EncoderConfig(
    model_type="bert",
    vocab_size=len(tokenizer),
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
  )
  values = dict(
    encoder=enc,
    hidden_size=32,
    max_width=K,
    max_len=64,
    max_types=10,
    class_token_index=tokenizer.convert_tokens_to_ids("<<ENT>>"),
  )
  values.update(changes)
  return GLiNERConfig(**values)


def _recipe(**kw) -> RecipeConfig:
  values = dict(batch_size=4, max_len=64, max_width=K, max_types=10, prompt_drop=0.0)
  values.update(kw)
  return RecipeConfig(**values)


PEOPLE = ["ann", "bob", "carl", "dora", "eve", "fred"]
PLACES = ["oslo", "paris", "rome", "lima"]
FIRMS = ["acme", "globex", "initech"]
RELATIONS = ["works at", "lives in", "located in", "knows"]


def _examples(n: int, seed: int = 0) -> list[NERExample]:
  """Sentences `<person> ... <firm> ... <place>` of varying length, with random relations among their entities."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    filler = ["the"] * int(rng.integers(0, 20))
    person = str(rng.choice(PEOPLE))
    tokens = [person, "smith", "works", "at", str(rng.choice(FIRMS)), *filler, "in", str(rng.choice(PLACES)), "."]
    spans = [(0, 1, "person"), (4, 4, "company"), (len(tokens) - 2, len(tokens) - 2, "city"), (0, 0, "first name")]
    pairs = [(a, b) for a in range(4) for b in range(4) if a != b]
    chosen = rng.choice(len(pairs), size=int(rng.integers(0, 4)), replace=False)
    relations = [(*pairs[j], str(rng.choice(RELATIONS))) for j in chosen]
    out.append(NERExample(tokens, spans, (), f"ex{i}", relations))
  return out


def _words_at(tokenizer, ids: np.ndarray, start: int) -> str:
  """The label after the marker at `start`: the tokens up to the next marker, as text."""
  markers = set(tokenizer.convert_tokens_to_ids(["<<ENT>>", "<<SEP>>", "<<REL>>"]))
  end = start + 1
  while ids[end] not in markers:
    end += 1
  return tokenizer.decode(ids[start + 1 : end].tolist())


def _brute_force(tokenizer, batch, row: int, example: NERExample, max_width: int | None, max_entities: int):
  """The expected gold entities and relation triples of one row, from its decoded prompt."""
  ids = batch["input_ids"][row]
  ents = [_words_at(tokenizer, ids, p) for p in batch["type_token_index"][row] if p >= 0]
  rels = [_words_at(tokenizer, ids, p) for p in batch["relation_token_index"][row] if p >= 0]
  ok = [t in ents and (max_width is None or e - s < max_width) for s, e, t in example.spans]
  slots = sorted({(s, e) for (s, e, _), good in zip(example.spans, ok) if good})[:max_entities]
  triples = set()
  for h, t, r in example.relations:
    hs, ts = example.spans[h][:2], example.spans[t][:2]
    if ok[h] and ok[t] and r in rels and hs in slots and ts in slots and hs != ts:
      triples.add((slots.index(hs), slots.index(ts), rels.index(r)))
  return slots, triples, rels


@pytest.mark.parametrize("span_mode, layer", [("markerV0", "dot"), ("token_level", "none"), ("markerV0", "none")])
def test_every_gold_relation_is_labelled_once_and_pairs_follow_the_reference(tokenizer, span_mode, layer):
  config = _config(tokenizer, span_mode=span_mode)
  examples = _examples(24)
  relex = RelexRecipe(layer, max_entities=8, relation_types=6, negative_ratio=(2.0, 2.0))
  it = RelexBatchIterator(examples, RelexPromptTokenizer(tokenizer, config), _recipe(), relex, seed=3)
  total = 0
  for b in range(6):
    batch = next(it)
    for i in range(4):
      ex = examples[4 * b + i]
      slots, triples, rels = _brute_force(tokenizer, batch, i, ex, None if span_mode == "token_level" else K, 8)
      gold = batch["gold_entities"][i]
      assert [tuple(x) for x in gold[: len(slots)]] == slots and (gold[len(slots) :] == -1).all()
      labels = batch["relation_labels"][i]
      assert {tuple(x) for x in np.argwhere(labels)} == triples and labels.sum() == len(triples)
      assert batch["relation_mask"][i].sum() == len(rels)
      pairs = batch["gold_pairs"][i]
      positives = {(h, t) for h, t, _ in triples}
      n = len(slots)
      assert not pairs[n:].any() and not pairs[:, n:].any() and not np.diag(pairs).any()
      if layer == "none":
        assert pairs.sum() == n * (n - 1)
      else:
        assert all(pairs[h, t] and pairs[t, h] for h, t in positives)
        reversed_ = {(t, h) for h, t in positives} - positives
        wanted = min(max(1, 2 * len(positives)), n * (n - 1) - len(positives)) if n > 1 else 0
        assert pairs.sum() == len(positives) + max(len(reversed_), wanted)
      np.testing.assert_array_equal(batch["adjacency_labels"][i], pairs.astype(np.float32))
      total += len(triples)
  assert it.stats.relations == total > 0
  assert it.stats.relations_dropped_type == 0  # prompt_drop=0 and room for every type


def test_relations_past_the_entity_slots_or_too_wide_are_dropped_and_counted(tokenizer):
  config = _config(tokenizer)
  ex = NERExample(
    "ann smith met bob in the old town hall".split(),
    [(0, 1, "person"), (3, 3, "person"), (5, 8, "place"), (7, 8, "building")],
    relations=[(0, 1, "met"), (1, 2, "visited"), (0, 3, "visited"), (1, 3, "visited")],
  )
  it = RelexBatchIterator([ex], RelexPromptTokenizer(tokenizer, config), _recipe(), RelexRecipe("dot", 2), seed=0)
  batch = next(it)
  assert batch["gold_entities"][0].tolist() == [[0, 1], [3, 3]]
  met = _words_at(tokenizer, batch["input_ids"][0], batch["relation_token_index"][0][0]) == "met"
  assert np.argwhere(batch["relation_labels"][0]).tolist() == [[0, 1, 0 if met else 1]]
  s = it.stats
  assert (s.relations, s.wide_entities, s.entities_over_slots, s.relations_dropped_entity) == (1, 1, 1, 3)


def test_shapes_are_static_and_from_a_bounded_set(tokenizer):
  config = _config(tokenizer)
  relex = RelexRecipe("dot", max_entities=8, relation_types=5)
  examples = sorted(_examples(40, seed=1), key=lambda ex: len(ex.tokens))  # short batches first, long ones last
  it = RelexBatchIterator(examples, RelexPromptTokenizer(tokenizer, config), _recipe(), relex, seed=0)
  allowed = {(s.tokens, s.words, s.types) for s in it.shapes}
  seen = set()
  for batch in it:
    dims = (batch["input_ids"].shape[1], batch["word_token_index"].shape[1], batch["type_mask"].shape[1])
    assert dims in allowed
    seen.add(dims)
    assert batch["gold_entities"].shape == (4, 8, 2) and batch["relation_labels"].shape == (4, 8, 8, 5)
    for key, (shape, dtype) in relex_array_shapes(4, 8, 5).items():
      assert batch[key].shape == shape and batch[key].dtype == dtype, key
  assert len(seen) >= 2  # the words bucket changes with the sentence lengths


def test_default_relation_axis_is_the_type_axis_of_a_fixed_shape_run(tokenizer):
  ptok = RelexPromptTokenizer(tokenizer, _config(tokenizer))
  it = RelexBatchIterator(_examples(8), ptok, _recipe(fixed_shape=True), RelexRecipe("dot"), seed=0)
  for batch in it:
    assert batch["relation_mask"].shape == batch["type_mask"].shape == (4, 16)  # max_types 10 -> bucket 16
    assert batch["relation_mask"].sum(1).max() <= 10


def test_resume_gives_the_same_next_batches(tokenizer):
  config = _config(tokenizer)
  examples = _examples(30, seed=2)
  start = StartingPoint(config, tokenizer, None)
  relex = RelexRecipe("dot", max_entities=8, relation_types=6)
  batches = make_relex_batches(examples, start, _recipe(), 5, [0], 1, relex)
  for _ in range(3):
    batches.next_host_batch()
  state = json.loads(json.dumps(batches.get_state(), default=int))
  expected = [batches.next_host_batch().arrays for _ in range(3)]
  again = make_relex_batches(examples, start, _recipe(), 5, [0], 1, relex)
  again.set_state({int(k): v for k, v in state.items()})
  for want in expected:
    got = again.next_host_batch().arrays
    assert sorted(got) == sorted(want)
    for key in want:
      np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  assert batches.stats()["relations"] == again.stats()["relations"] > 0


def test_factory_needs_a_relex_config(tokenizer):
  start = StartingPoint(_config(tokenizer), tokenizer, None)
  with pytest.raises(ValueError, match="not a relex model config: it has no relations_layer"):
    make_relex_batches(_examples(2), start, _recipe(), 0, [0], 1)
  assert relex_recipe_of(start.config, relations_layer="gat", max_entities=4) == RelexRecipe("gat", 4)
  with pytest.raises(ValueError, match=r"need recipe fixed_shape=True"):
    make_relex_batches(_examples(4), start, _recipe(), 0, [0, 1], 2, RelexRecipe("dot"))


def test_training_prompt_is_the_one_prediction_builds(tokenizer):
  config = _config(tokenizer)
  ex = NERExample(
    "Ann works at Globex .".split(), [(0, 0, "person"), (3, 3, "company")], relations=[(0, 1, "works at")]
  )
  cfg = _recipe(negative_prob=0.0, shuffle_types=False)
  it = RelexBatchIterator([ex], RelexPromptTokenizer(tokenizer, config), cfg, RelexRecipe("dot", 4, 4), seed=0)
  batch = next(it)
  n = int(batch["attention_mask"][0].sum())
  assert tokenizer.convert_ids_to_tokens(batch["input_ids"][0][:n].tolist()) == [
    "[CLS]", "<<ENT>>", "person", "<<ENT>>", "company", "<<SEP>>", "<<REL>>", "works", "at", "<<SEP>>",
    "ann", "works", "at", "globe", "##x", ".", "[SEP]",
  ]  # fmt: skip
  predictor = RelexGLiNER(RelexConfig(config), {}, tokenizer)
  enc = predictor.planner.encode(list(ex.tokens), ["person", "company"], ["works at"])
  np.testing.assert_array_equal(batch["input_ids"][0][:n], enc.input_ids)
  np.testing.assert_array_equal(batch["word_token_index"][0][:5], enc.word_token_index)
  np.testing.assert_array_equal(batch["type_token_index"][0][:2], enc.type_token_index)
  np.testing.assert_array_equal(batch["relation_token_index"][0][:1], enc.relation_token_index)
  assert enc.word_token_index.tolist() == [10, 11, 12, 13, 15] and enc.relation_token_index.tolist() == [6]
  assert relex_prompt(["person", "company"], ["works at"]) == ("person", "company", "<<SEP>>", "works at")


@pytest.mark.parametrize("token_level", [False, True])
def test_gold_targets_and_pairs_match_the_reference_processor(tokenizer, token_level):
  """gliner 0.2.29's relex processors on the same rows and prompts: the gold entities, the pairs without random
  negatives (its adj_matrix) and the relation labels of each pair (its rel_matrix), for "dot" and "none"."""
  require_module("torch")
  processor = require_module("gliner.data_processing.processor")
  cfg = types.SimpleNamespace(
    max_width=K, max_len=64, relations_layer="dot", rel_token="<<REL>>", ent_token="<<ENT>>", sep_token="<<SEP>>"
  )
  kind = processor.RelationExtractionTokenProcessor if token_level else processor.RelationExtractionSpanProcessor
  reference = kind(cfg, tokenizer, words_splitter=object())
  examples = _examples(12, seed=4)
  examples[0] = dataclasses.replace(examples[0], spans=examples[0].spans + ((2, 6, "clause"),))  # too wide for K
  # every entity type in the prompt: gliner's span processor numbers the relations' entities over all spans of at
  # most max_width words, prompted or not, so a type left out of its prompt shifts its relation indices
  ents = [sorted({t for _, _, t in ex.spans} | {"date"}) for ex in examples]
  rels = [sorted({t for _, _, t in ex.relations} - {"knows"} | {"born in"}) for ex in examples]
  records = [
    {
      "tokenized_text": list(ex.tokens),
      "ner": [list(x) for x in ex.spans],
      "relations": [list(r) for r in ex.relations],
    }
    for ex in examples
  ]
  batch = reference.collate_raw_batch(records, entity_types=ents, relation_types=rels)
  adj, rel = (t.numpy() for t in reference.create_relation_labels(batch, add_random_negatives=False))
  cfg.relations_layer = "none"
  _, rel_all = (t if t is None else t.numpy() for t in reference.create_relation_labels(batch))
  if token_level:
    spans = [batch["span_idx"][i][batch["span_mask"][i]].tolist() for i in range(len(examples))]
  else:
    spans = [batch["span_idx"][i][batch["span_label"][i] > 0].tolist() for i in range(len(examples))]
  no_random = RelexRecipe("dot", add_random_negatives=False)
  for i, ex in enumerate(examples):
    slots, triples = gold_targets(ex, ents[i], rels[i], 32, None if token_level else K)
    assert [list(s) for s in slots] == spans[i]
    n = len(slots)
    labels = np.zeros((n, n, len(rels[i])), np.float32)
    for h, t, c in triples:
      labels[h, t, c] = 1.0
    pairs, _ = sample_pairs({(h, t) for h, t, _ in triples}, n, np.random.default_rng(0), no_random)
    grid = np.zeros((n, n), np.float32)
    for h, t in pairs:
      grid[h, t] = 1.0
    np.testing.assert_array_equal(adj[i, :n, :n], grid)
    assert not adj[i, n:].any() and not adj[i, :, n:].any()
    rows = [labels[h, t] for h, t in sorted(pairs)]
    np.testing.assert_array_equal(rel[i, : len(rows), : len(rels[i])], np.array(rows).reshape(-1, len(rels[i])))
    every = [labels[h, t] for h in range(n) for t in range(n) if h != t]
    np.testing.assert_array_equal(rel_all[i, : len(every), : len(rels[i])], np.array(every).reshape(-1, len(rels[i])))
    assert not rel_all[i, len(every) :].any() and not rel[i, len(rows) :].any()


def test_gold_targets_and_pairs_on_hand_made_rows():
  ex = NERExample(
    ["Ann", "works", "at", "Acme"], [(3, 3, "org"), (0, 0, "person"), (0, 0, "name")], relations=[(1, 0, "works at")]
  )
  assert gold_targets(ex, ["person", "org", "name"], ["works at"], 8, 4) == ([(0, 0), (3, 3)], [(0, 1, 0)])
  assert gold_targets(ex, ["org"], ["works at"], 8, 4) == ([(3, 3)], [])
  pairs, negatives = sample_pairs({(0, 1)}, 3, np.random.default_rng(0), RelexRecipe("none"))
  assert pairs == {(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)} and negatives == 5
  pairs, negatives = sample_pairs({(0, 1)}, 2, np.random.default_rng(0), RelexRecipe("dot", negative_ratio=5))
  assert pairs == {(0, 1), (1, 0)} and negatives == 1
  no_reversed = RelexRecipe("dot", negative_ratio=1, add_reversed_negatives=False, add_random_negatives=False)
  assert sample_pairs({(0, 1)}, 4, np.random.default_rng(0), no_reversed) == ({(0, 1)}, 0)
