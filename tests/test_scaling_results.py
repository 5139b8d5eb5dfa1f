"""results.jsonl: the documented schema, its reader (file:line errors) and its writer (whole lines only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gliner_jax.scaling import results
from gliner_jax.scaling.results import REQUIRED_KEYS, ResultRow, append_result, example_row, read_results


def test_required_keys_are_the_documented_ones():
  assert set(REQUIRED_KEYS) == {
    "run", "rung", "params_total", "params_non_embedding", "train_examples", "train_tokens", "types_seen",
    "train_flops", "xla_flops", "wall_seconds", "mfu", "train_loss", "eval_loss", "f1", "f1_avg", "seed",
    "git_commit", "config_hash", "jax_version", "flax_version", "device_kind", "device_count", "status",
  }  # fmt: skip
  assert results.STATUSES == ("ok", "diverged", "nan")


def test_append_then_read_round_trip(tmp_path):
  path = str(tmp_path / "study" / "results.jsonl")  # the folder does not exist yet
  first = example_row(run="a", budget_flops=1e13, note="kept")
  second = ResultRow.from_dict(example_row(run="b", status="nan", train_loss=float("nan"), eval_loss=None))
  append_result(path, first)
  append_result(path, second)
  rows = read_results(path)
  assert [r["run"] for r in rows] == ["a", "b"]
  assert rows[0] == first  # extra keys (optional or not) kept as written
  assert rows[1]["train_loss"] is None  # NaN written as null: the file stays strict JSON
  assert rows[1]["status"] == "nan"
  text = (tmp_path / "study" / "results.jsonl").read_text()
  assert text.count("\n") == 2 and text.endswith("\n")
  assert "NaN" not in text
  assert [p.name for p in (tmp_path / "study").iterdir()] == ["results.jsonl"]  # no temporary left behind


def test_numpy_scalars_are_written_as_numbers(tmp_path):
  path = str(tmp_path / "r.jsonl")
  append_result(path, example_row(params_total=np.int64(5), train_flops=np.float32(2.5), f1={"ai": np.float64(0.5)}))
  row = read_results(path)[0]
  assert row["params_total"] == 5 and row["train_flops"] == 2.5 and row["f1"] == {"ai": 0.5}


def test_reader_names_file_line_and_keys(tmp_path):
  path = tmp_path / "results.jsonl"
  good = json.dumps(example_row())
  bad_type = json.dumps(example_row(params_total="22M"))
  missing = example_row()
  del missing["eval_loss"], missing["seed"]
  bad_status = json.dumps(example_row(status="crashed"))
  path.write_text("\n".join([good, bad_type, json.dumps(missing), "", bad_status, "{not json", good]) + "\n")
  with pytest.raises(ValueError) as err:
    read_results(str(path))
  message = str(err.value)
  assert f"{path}:2: params_total='22M' is a str, not int" in message
  assert f"{path}:3: missing required keys ['eval_loss', 'seed']" in message
  assert f"{path}:5: status='crashed' is not one of ['ok', 'diverged', 'nan']" in message
  assert f"{path}:6: not JSON" in message
  assert f"{path}:1" not in message and f"{path}:7" not in message


def test_reader_refuses_null_where_a_value_is_required_and_booleans_as_counts(tmp_path):
  path = tmp_path / "results.jsonl"
  path.write_text(json.dumps(example_row(train_flops=None, seed=True)) + "\n")
  with pytest.raises(ValueError, match=r":1: train_flops is null; seed=True is a bool, not int"):
    read_results(str(path))


def test_killed_writer_half_line_is_dropped_and_repaired(tmp_path):
  path = tmp_path / "results.jsonl"
  path.write_text(json.dumps(example_row(run="a")) + "\n" + json.dumps(example_row(run="b"))[:40])
  assert [r["run"] for r in read_results(str(path))] == ["a"]
  append_result(str(path), example_row(run="c"))
  assert [r["run"] for r in read_results(str(path))] == ["a", "c"]
  assert path.read_text().endswith("\n")


def test_writer_refuses_bad_rows_and_leaves_the_file_alone(tmp_path):
  path = tmp_path / "results.jsonl"
  append_result(str(path), example_row(run="a"))
  before = path.read_text()
  with pytest.raises(ValueError, match=r"'b' does not follow the schema: missing required keys \['status'\]"):
    append_result(str(path), {k: v for k, v in example_row(run="b").items() if k != "status"})
  with pytest.raises(ValueError, match=r"f1 values must be numbers"):
    append_result(str(path), example_row(run="c", f1={"ai": "high"}))
  assert path.read_text() == before
  with pytest.raises(ValueError, match=r"ResultRow 'd': status='done' is not one of"):
    ResultRow.from_dict(example_row(run="d", status="done"))


def test_missing_file_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="no results file at"):
    read_results(str(tmp_path / "nothing.jsonl"))
