"""Tests of gliner_jax.data.readers: hand-written fixtures and the real files in ../shared/data."""

import json
import os

import pytest

from gliner_jax.data.paths import shared_data
from gliner_jax.data.readers import (
  DataFormatError,
  NERExample,
  ReadStats,
  match_mention,
  read_bio,
  read_dataset_folder,
  read_gliner_json,
  read_instructuie_json,
  read_label_file,
  read_ner_file,
  read_pilener_conversations,
  read_slimer_jsonl,
  word_tokenize,
)

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "data")
DATA = shared_data()  # ../shared/data beside the repository, or $GLINER_JAX_DATA
needs_data = pytest.mark.needs_shared_data  # conftest: skips without it (fails with CI=true)


def fix(*parts):
  return os.path.join(FIX, *parts)


# ----------------------------------------------------------------------------- NERExample


def test_example_coerces_and_round_trips_json():
  ex = NERExample(["a", "b"], [[0, 1, "x"]], ["y"], "7")
  assert ex.tokens == ("a", "b") and ex.spans == ((0, 1, "x"),) and ex.negatives == ("y",)
  data = json.loads(json.dumps(ex.to_json()))
  assert NERExample.from_json(data) == ex
  assert hash(NERExample.from_json(data)) == hash(ex)
  assert ex.to_gliner() == {"tokenized_text": ["a", "b"], "ner": [[0, 1, "x"]], "negatives": ["y"]}


@pytest.mark.parametrize(
  "spans, match",
  [
    ([(1, 0, "x")], "out of range"),
    ([(0, 2, "x")], "out of range"),
    ([(0, 0, "")], "non-empty"),
    ([(0, 0)], "not \\(start, end, type\\)"),
    ([(0.0, 0, "x")], "out of range"),
  ],
)
def test_example_rejects_bad_spans(spans, match):
  with pytest.raises(ValueError, match=match):
    NERExample(["a", "b"], spans)


def test_word_tokenize_and_match_mention():
  assert word_tokenize("World Clean-Up Day (2017), snake_case!") == [
    "World",
    "Clean-Up",
    "Day",
    "(",
    "2017",
    ")",
    ",",
    "snake_case",
    "!",
  ]
  tokens = ["a", "New", "York", "and", "new", "York", "New", "York"]
  assert match_mention(tokens, "New York") == [(1, 2), (6, 7)]
  assert match_mention(tokens, "new york", case_sensitive=False) == [(1, 2), (4, 5), (6, 7)]
  assert match_mention(tokens, "York and") == [(2, 3)]
  assert match_mention(tokens, " ") == [] and match_mention(tokens, "Boston") == []
  # Overlapping occurrences are all found.
  assert match_mention(["a", "a", "a"], "a a") == [(0, 1), (1, 2)]


# ----------------------------------------------------------------------------- GLiNER JSON


def test_gliner_json_fixture():
  got = read_gliner_json(fix("pilener_gliner", "pilener_train.json"))
  assert len(got) == 5
  assert got[0] == NERExample(
    ("Ada", "Lovelace", "wrote", "notes", "on", "the", "Analytical", "Engine", "."),
    ((0, 1, "person"), (6, 7, "machine")),
    ("city",),
    "0",
  )
  assert got[1].spans == ((2, 2, "city"), (0, 0, "city"))  # file order kept
  assert got[2].spans == () and got[2].negatives == ("person", "date")


@needs_data
def test_gliner_json_real_sample():
  got = read_gliner_json(f"{DATA}/gliner_sample/sample_data.json")
  assert len(got) == 64
  assert got[0].tokens == ("State", "University", "of", "New", "York", "Press", ",", "1997", ".")
  assert got[0].spans == ((0, 5, "Publisher"),)
  assert got[3].spans == ((7, 9, "Event"), (1, 2, "Event"))
  assert got[3].tokens[7:10] == ("World", "Clean-Up", "Day")


def test_gliner_json_bad_index_names_record():
  with pytest.raises(DataFormatError, match=r"gliner_bad_index\.json:4 \(record 2\): ner\[0\]"):
    read_gliner_json(fix("malformed", "gliner_bad_index.json"))


# ----------------------------------------------------------------------------- conversations


def test_conversations_fixture_matches_merges_and_counts():
  stats = ReadStats()
  got = read_pilener_conversations(fix("pilener_conv", "train.json"), stats=stats)
  assert [e.id for e in got] == ["c0", "c1", "c3"]  # c2 merged into c1; c3 re-asks 'event'
  assert got[0].tokens[:2] == ("Ada", "Lovelace") and len(got[0].tokens) == 16
  assert got[0].spans == ((0, 1, "person"), (1, 1, "person"), (6, 7, "machine"), (9, 9, "year"), (11, 11, "person"))
  assert got[0].negatives == ("planet",)
  assert got[1].tokens[1:4] == ("World", "Clean-Up", "Day")
  assert got[1].spans == ((1, 3, "event"), (10, 10, "city")) and got[1].negatives == ()
  assert got[2].tokens == got[1].tokens and got[2].spans == () and got[2].negatives == ("event",)
  assert (stats.records, stats.mentions, stats.unmatched_mentions) == (4, 8, 2)
  assert any("'Difference Engine' not found" in p for p in stats.problems)


def test_conversations_case_insensitive_option():
  stats = ReadStats()
  got = read_pilener_conversations(fix("pilener_conv", "train.json"), case_sensitive=False, stats=stats)
  assert got[1].spans == ((1, 3, "event"), (10, 10, "city"))
  assert stats.unmatched_mentions == 1


def test_conversations_bad_answer_names_record():
  with pytest.raises(DataFormatError, match=r"conv_bad_answer\.json:4 \(record 1\): conversations\[3\].*JSON list"):
    read_pilener_conversations(fix("malformed", "conv_bad_answer.json"))


def test_conversations_structure_errors(tmp_path):
  path = tmp_path / "conv.json"
  path.write_text(json.dumps([{"conversations": [{"from": "human", "value": "Hello"}]}]))
  with pytest.raises(DataFormatError, match=r"conv\.json:1 \(record 0\): .*'Text: '"):
    read_pilener_conversations(str(path))
  path.write_text(
    json.dumps(
      [
        {
          "conversations": [
            {"from": "human", "value": "Text: a"},
            {"from": "gpt", "value": "ok"},
            {"from": "human", "value": "Which is x?"},
            {"from": "gpt", "value": "[]"},
          ]
        }
      ]
    )
  )
  with pytest.raises(DataFormatError, match=r"record 0\): conversations\[2\]"):
    read_pilener_conversations(str(path))


@needs_data
def test_uniner_crossner_ai_real():
  stats = ReadStats()
  got = read_pilener_conversations(f"{DATA}/uniner/CrossNER_AI.json", stats=stats)
  assert stats.records == 5603 and len(got) == 431  # one record per (sentence, type)
  assert stats.unmatched_mentions == 0
  first = got[0]
  assert first.id == "CrossNER_AI_0"
  assert first.tokens == tuple(
    "Typical generative model approaches include naive Bayes classifier s , Gaussian "
    "mixture model s , variational autoencoders and others .".split()
  )
  assert first.spans == ((5, 7, "algorithm"), (10, 12, "algorithm"), (15, 16, "algorithm"))
  assert len(first.negatives) == 12 and "algorithm" not in first.negatives
  assert set(first.negatives) | {"algorithm"} == {
    "algorithm",
    "conference",
    "country",
    "field",
    "location",
    "metrics",
    "organization",
    "person",
    "product",
    "program language",
    "researcher",
    "task",
    "university",
  }
  # Where the regex reproduces the BIO source's words, the matched spans cover the BIO
  # entities (UniversalNER dropped 'misc'; 4 others are absent from its answers).
  bio = read_bio(f"{DATA}/crossner/ai/test.txt")
  same = [(u, b) for u, b in zip(got, bio) if u.tokens == b.tokens]
  assert len(same) == 349
  gold = [(u.id, s[:2]) for u, b in same for s in b.spans if s[2] != "misc"]
  found = {(u.id, s[:2]) for u, _ in same for s in u.spans}
  assert len(gold) == 1251 and len([g for g in gold if g not in found]) == 4


# ----------------------------------------------------------------------------- SLIMER


def test_slimer_fixture_groups_by_document():
  stats = ReadStats()
  got = read_slimer_jsonl(fix("slimer.jsonl"), stats=stats)
  assert got == [
    NERExample(
      ("Ada", "met", "Bob", ".", "Bob", "left", "."),
      ((0, 0, "person"), (2, 2, "person"), (4, 4, "person")),
      ("city",),
      "7",
    ),
    NERExample(("Rome", "is", "old", "."), ((0, 0, "city"),), (), "9"),
  ]
  assert stats.unmatched_mentions == 1 and "Milan" in stats.problems[0]


def test_slimer_bad_json_line_number():
  with pytest.raises(DataFormatError, match=r"slimer_bad_json\.jsonl:3: invalid JSON"):
    read_slimer_jsonl(fix("malformed", "slimer_bad_json.jsonl"))


@needs_data
def test_slimer_real_validation():
  stats = ReadStats()
  path = f"{DATA}/pile_ner_subset/5pos_5neg_perNE_top391NEs_FalseDef_validation.jsonl"
  got = read_slimer_jsonl(path, stats=stats)
  assert stats.records == 1320 and len(got) == 882
  assert stats.unmatched_mentions == 3 and stats.mentions == 1582
  month = next(e for e in got if e.id == "43340")
  assert {month.tokens[s] for s, _, t in month.spans if t == "month"} == {"August", "January", "February"}


# ----------------------------------------------------------------------------- InstructUIE


def test_instructuie_fixture_snaps_and_skips():
  stats = ReadStats()
  got = read_instructuie_json(fix("instructuie.json"), stats=stats)
  assert got[0].spans == ((0, 0, "else"), (4, 4, "location"))  # 'Israel' inside 'Israeli'
  assert got[1].spans == ((0, 0, "organization"), (5, 5, "organization"))  # unclaimed one
  assert got[2].spans == ()  # two unclaimed 'Serb' words: ambiguous, skipped
  assert got[3].spans == ((0, 1, "city"),)
  assert (stats.snapped_entities, stats.skipped_entities, stats.duplicate_spans) == (2, 1, 1)
  assert "record 2" in stats.problems[0] and "'Serb'" in stats.problems[0]


def test_instructuie_bad_pos_names_record():
  with pytest.raises(DataFormatError, match=r"instructuie_bad_pos\.json:1 \(record 1\): .*pos"):
    read_instructuie_json(fix("malformed", "instructuie_bad_pos.json"))


@needs_data
def test_instructuie_ai_test_vs_bio_source():
  stats = ReadStats()
  got = read_instructuie_json(f"{DATA}/instructuie/CrossNER_AI/test.json", stats=stats)
  bio = read_bio(f"{DATA}/crossner/ai/test.txt")
  assert len(got) == 431 and stats.spans == 1804 and stats.lost == 0
  assert [e.tokens for e in got] == [e.tokens for e in bio]
  missing = []
  for ours, gold in zip(got, bio):
    assert {s[:2] for s in ours.spans} <= {s[:2] for s in gold.spans}
    missing += [(s, len(gold.tokens)) for s in gold.spans if s[:2] not in {o[:2] for o in ours.spans}]
  # The README's known defect: 5 entities ending on the sentence's last token are dropped.
  assert len(missing) == 5 and all(s[1] == n - 1 for s, n in missing)


@needs_data
def test_instructuie_conll_snapped_entities_match_gold():
  stats = ReadStats()
  got = read_instructuie_json(f"{DATA}/instructuie/conll2003/test.json", stats=stats)
  gold = read_bio(f"{DATA}/gner/conll2003/test.txt")
  assert (stats.snapped_entities, stats.skipped_entities) == (10, 0)
  assert stats.spans == sum(len(g.spans) for g in gold) == 5648
  same = sum({s[:2] for s in a.spans} == {s[:2] for s in b.spans} for a, b in zip(got, gold))
  assert same == 3443  # the rest: offsets that point at an earlier, unannotated occurrence


# ----------------------------------------------------------------------------- BIO


def test_bio_token_first_fixture():
  got = read_bio(fix("token_first.txt"))
  assert [e.tokens for e in got] == [
    ("Steve", "Jobs", "founded", "Apple", "."),
    ("In", "New", "York"),
    (" ", "IBM", "AT", "T", "lab"),
  ]
  assert got[0].spans == ((0, 1, "person"), (3, 3, "org"))
  assert got[1].spans == ((1, 2, "location of city"),)
  assert got[2].spans == ((1, 1, "org"), (2, 3, "org"))  # IOB1: I- after O opens an entity
  assert [e.id for e in got] == ["0", "1", "2"]


def test_bio_tag_first_auto_and_explicit():
  expected = [((3, 4, "Actor"),), ((0, 0, "Genre"), (1, 2, "Actor"), (3, 3, "Year"))]
  for order in ("auto", "tag_first"):
    got = read_bio(fix("tag_first.txt"), column_order=order)
    assert [e.spans for e in got] == expected
    assert got[0].tokens == ("what", "movies", "star", "steve", "mcqueen")
  with pytest.raises(DataFormatError, match=r"tag_first\.txt:1: bad tag 'what'"):
    read_bio(fix("tag_first.txt"), column_order="token_first")


def test_bio_bioes_and_conll_columns():
  assert read_bio(fix("bioes.txt"))[0].spans == (
    (0, 1, "MANP"),
    (2, 2, "MANP"),
    (4, 4, "MATE"),
    (5, 5, "MATE"),
    (7, 9, "MANP"),
  )
  got = read_bio(fix("conll4.txt"))
  assert got[0].tokens == ("EU", "rejects", "German", "call")
  assert [e.spans for e in got] == [((0, 0, "ORG"), (2, 2, "MISC")), ((0, 1, "PER"),)]


@pytest.mark.parametrize(
  "name, match",
  [
    ("bad_columns.txt", r"bad_columns\.txt:4: expected 2 columns, got 3"),
    ("bad_tag.txt", r"bad_tag\.txt:5: bad tag 'X-org'"),
    ("no_tags.txt", r"no_tags\.txt: cannot detect the column order"),
  ],
)
def test_bio_malformed(name, match):
  with pytest.raises(DataFormatError, match=match):
    read_bio(fix("malformed", name))


def test_bio_explicit_order_reports_the_line():
  with pytest.raises(DataFormatError, match=r"no_tags\.txt:1: bad tag 'person'"):
    read_bio(fix("malformed", "no_tags.txt"), column_order="token_first")


def test_bio_bad_column_order_argument():
  with pytest.raises(ValueError, match="column_order"):
    read_bio(fix("token_first.txt"), column_order="first")


@needs_data
@pytest.mark.parametrize(
  "domain, n", [("ai", 431), ("literature", 416), ("music", 465), ("politics", 651), ("science", 543)]
)
def test_bio_crossner_test_counts(domain, n):
  assert len(read_bio(f"{DATA}/crossner/{domain}/test.txt")) == n


@needs_data
def test_bio_crossner_ai_first_example_and_totals():
  got = read_bio(f"{DATA}/crossner/ai/test.txt")
  assert got[0].tokens[5:8] == ("naive", "Bayes", "classifier")
  assert got[0].spans == ((5, 7, "algorithm"), (10, 12, "algorithm"), (15, 16, "algorithm"))
  assert sum(len(e.spans) for e in got) == 1809
  assert got[-1].tokens[-2:] == ("functions", ".")


@needs_data
def test_bio_real_variants():
  fab = read_bio(f"{DATA}/gner/FabNER/test.txt")  # BIOES
  assert len(fab) == 2064 and sum(len(e.spans) for e in fab) == 9633
  harvey = read_bio(f"{DATA}/gner/HarveyNER/test.txt")  # -DOCSTART- before every tweet
  assert len(harvey) == 1303 and all("-DOCSTART-" not in e.tokens for e in harvey)
  twitter = read_bio(f"{DATA}/gner/broad_twitter_corpus/test.txt")  # has ' ' tokens
  assert any(" " in e.tokens for e in twitter)
  pile = read_bio(f"{DATA}/pile_ner_subset/391xALL_BIO_dev.txt")  # README numbers
  assert len(pile) == 2217 and sum(len(e.tokens) for e in pile) == 461127
  assert sum(len(e.spans) for e in pile) == 30978
  assert len({t for e in pile for _, _, t in e.spans}) == 368
  assert pile[0].spans[0] == (0, 4, "treatment")


# ----------------------------------------------------------------------------- labels, folders


def test_label_files():
  assert read_label_file(fix("label.txt")) == ["person", "programming language", "musical artist"]
  assert read_label_file(fix("labels.json")) == ["location", "organization", "else"]
  with pytest.raises(DataFormatError, match=r"dup_label\.txt:3: duplicate type 'person'"):
    read_label_file(fix("malformed", "dup_label.txt"))


@needs_data
def test_label_files_real():
  assert read_label_file(f"{DATA}/gner/crossner_ai/label.txt")[-3:] == ["programming language", "field", "metric"]
  assert len(read_label_file(f"{DATA}/instructuie/CrossNER_AI/labels.json")) == 14
  assert len(read_label_file(f"{DATA}/pile_ner_subset/391_label.txt")) == 391


def test_dataset_folder_picks_reader_by_content():
  assert read_dataset_folder(fix("folder_mixed"), "train") == read_gliner_json(
    fix("pilener_gliner", "pilener_train.json")
  )
  assert read_dataset_folder(fix("folder_mixed"), "dev") == read_slimer_jsonl(fix("slimer.jsonl"))
  assert read_dataset_folder(fix("folder_mixed"), "test") == read_instructuie_json(fix("instructuie.json"))
  assert [e.tokens for e in read_dataset_folder(fix("folder_bio"), "test")] == [("Paris", "is", "nice"), ("Ann",)]
  assert read_ner_file(fix("pilener_conv", "train.json")) == read_pilener_conversations(
    fix("pilener_conv", "train.json")
  )


def test_dataset_folder_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"no file for split 'test'.*test\.txt"):
    read_dataset_folder(str(tmp_path), "test")
  (tmp_path / "test.json").write_text(json.dumps([{"tokens": ["a"], "ner_tags": [0]}]))
  with pytest.raises(DataFormatError, match=r"test\.json:1 \(record 0\): unrecognised NER record"):
    read_dataset_folder(str(tmp_path), "test")


@needs_data
def test_dataset_folder_real_prefers_bio():
  # gner/conll2003 has both test.txt (BIO) and test.json (tag ids): the BIO file wins.
  got = read_dataset_folder(f"{DATA}/gner/conll2003", "dev")
  assert len(got) == 3250 and got[0].tokens[0] == "CRICKET"
  assert read_dataset_folder(f"{DATA}/instructuie/CrossNER_AI", "test")[0].spans == (
    (5, 7, "algorithm"),
    (10, 12, "algorithm"),
    (15, 16, "algorithm"),
  )


# ----------------------------------------------------------------------------- training mode: skip and report

TRAIN_RECORDS = [
  '{"tokenized_text": ["Ada", "wrote"], "ner": [[0, 0, "person"]]}',
  '{"tokenized_text": ["a", "b"], "ner": [[1, 2, "x"]]}',  # past the last token
  '{"tokenized_text": ["Bob", "ran"], "ner": [[0, 0, "person"]], "id": "b7"}',
  '{"tokenized_text": ["a", "b"], "ner": [[1, 0, "x"]]}',  # end < start
  '{"tokenized_text": ["a", "b"], "ner": [[0, 0, 5]]}',  # a non-string type
  '{"tokenized_text": ["a", "b"], "ner": [[0, 0, "  "]]}',  # a blank type
  '["not", "a", "record"]',
  '{"tokenized_text": ["Cy", "sang"], "ner": []}',
]
BAD = {1: "need 0 <= start", 3: "need 0 <= start", 4: "non-empty string", 5: "non-empty string", 6: "JSON object"}


def test_training_read_skips_malformed_records_and_names_their_lines(tmp_path, caplog):
  path = tmp_path / "train.json"
  path.write_text("[\n" + ",\n".join(TRAIN_RECORDS) + "\n]\n")  # record i on line i + 2
  stats = ReadStats()
  got = read_ner_file(path, on_error="skip", located_ids=True, stats=stats)
  assert [e.tokens[0] for e in got] == ["Ada", "Bob", "Cy"]
  assert [e.id for e in got] == [f"{path}:2 (record 0)", f"{path}:4 (record 2) [b7]", f"{path}:9 (record 7)"]
  assert len(stats.errors) == len(BAD) and stats.records == len(TRAIN_RECORDS) and stats.examples == 3
  for error, (i, what) in zip(stats.errors, BAD.items()):
    assert error.startswith(f"{path}:{i + 2} (record {i}): ") and what in error, error
  assert f"{len(BAD)} malformed records skipped" in caplog.text and f"{path}:8 (record 6)" in caplog.text
  with pytest.raises(DataFormatError, match=r"train\.json:3 \(record 1\): ner\[0\]"):  # strict: the first one stops
    read_ner_file(path)
  assert [e.id for e in read_ner_file(tmp_path / "train.json", on_error="skip")] == ["0", "b7", "7"]


def test_training_read_of_json_lines_skips_bad_lines(tmp_path):
  path = tmp_path / "train.jsonl"
  path.write_text("\n".join(TRAIN_RECORDS[:3] + ["{not json"]) + "\n")
  stats = ReadStats()
  got = read_ner_file(path, on_error="skip", located_ids=True, stats=stats)
  assert [e.id for e in got] == [f"{path}:1", f"{path}:3 [b7]"]
  assert [e.split(":")[1] for e in stats.errors] == ["2", "4"] and "invalid JSON line" in stats.errors[1]


def test_training_read_of_a_first_malformed_record_still_finds_the_format(tmp_path):
  path = tmp_path / "train.json"
  path.write_text("[" + ",".join(TRAIN_RECORDS[6:8]) + "]")
  with pytest.raises(DataFormatError, match="unrecognised NER record"):
    read_ner_file(path)
  assert [e.tokens for e in read_ner_file(path, on_error="skip")] == [("Cy", "sang")]


def test_training_read_of_other_formats_skips_what_is_malformed():
  stats = ReadStats()
  got = read_pilener_conversations(fix("malformed", "conv_bad_answer.json"), on_error="skip", stats=stats)
  assert [e.id for e in got] == ["a"] and stats.errors[0].startswith(f"{fix('malformed', 'conv_bad_answer.json')}:4")
  stats = ReadStats()
  got = read_slimer_jsonl(fix("malformed", "slimer_bad_json.jsonl"), on_error="skip", located_ids=True, stats=stats)
  path = fix("malformed", "slimer_bad_json.jsonl")
  assert [e.id for e in got] == [f"{path}:1 [1]"] and stats.errors[0].startswith(f"{path}:3: invalid JSON")
  for name, line, first_lines in [("bad_tag.txt", 5, [1]), ("bad_columns.txt", 4, [1])]:
    stats = ReadStats()
    got = read_bio(fix("malformed", name), on_error="skip", located_ids=True, stats=stats)
    assert [e.tokens for e in got] == [("Steve", "Jobs")], name  # the sentence with the bad line is left out
    assert [e.id for e in got] == [f"{fix('malformed', name)}:{n}" for n in first_lines]
    assert stats.errors == [stats.errors[0]] and stats.errors[0].startswith(f"{fix('malformed', name)}:{line}: ")
  with pytest.raises(ValueError, match="on_error"):
    read_ner_file(fix("malformed", "bad_tag.txt"), on_error="ignore")
