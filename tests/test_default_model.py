"""The embedded default model: present, small enough to ship, loads without torch-side files, predicts."""

import glob
import json
import os

import numpy as np
import pytest
from safetensors.numpy import load_file

import gliner_jax
from conftest import skip_or_fail
from gliner_jax.data.paths import resolve_repo_path
from gliner_jax.interop.checkpoint import PARAMS_FILE

if not os.path.isdir(gliner_jax.DEFAULT_MODEL):
  skip_or_fail(f"no default model at {gliner_jax.DEFAULT_MODEL}", "git checkout -- gliner_jax/assets/default_model")


def _strings(value):
  if isinstance(value, str):
    yield value
  elif isinstance(value, dict):
    for k, v in value.items():
      yield from _strings(k)
      yield from _strings(v)
  elif isinstance(value, list):
    for v in value:
      yield from _strings(v)


def test_shipped_files_name_no_local_path():
  """Paths in the shipped JSON files are repository-relative; the backbone is named by its hub id."""
  files = [f for f in glob.glob(os.path.join(gliner_jax.DEFAULT_MODEL, "*.json")) if not f.endswith("tokenizer.json")]
  assert len(files) >= 3
  for name in files:
    with open(name) as f:
      for text in _strings(json.load(f)):
        assert not os.path.isabs(text) and "site-packages" not in text and ".venv" not in text, (name, text)
  assert gliner_jax.GLiNERConfig.load(gliner_jax.DEFAULT_MODEL).model_name == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def model():
  return gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)


def test_shipped_as_bf16_under_64mb():
  path = os.path.join(gliner_jax.DEFAULT_MODEL, PARAMS_FILE)
  assert os.path.getsize(path) <= 64 * 2**20
  assert {str(v.dtype) for v in load_file(path).values()} == {"bfloat16"}


def test_loads_as_float32(model):
  import jax

  assert {np.asarray(x).dtype for x in jax.tree.leaves(model.params)} == {np.dtype("float32")}


TEXT = "Barack Obama visited Berlin and met Angela Merkel."
GOLD = {("Barack Obama", "person"), ("Berlin", "city"), ("Angela Merkel", "person")}


@pytest.mark.parametrize(
  "labels", [["person", "city", "award"], ["award", "city", "person"], ["city", "person", "award"]]
)
def test_finds_people_and_a_city_whatever_the_label_order(model, labels):
  found = {(e.text, e.label) for e in model.predict_entities(TEXT, labels, threshold=0.3)}
  assert found == GOLD


def test_scores_are_calibrated_enough_for_the_default_threshold(model):
  found = {(e.text, e.label) for e in model.predict_entities(TEXT, ["person", "city"], threshold=0.5)}
  assert ("Barack Obama", "person") in found and ("Angela Merkel", "person") in found


@pytest.mark.slow
@pytest.mark.subprocess
def test_evaluate_script_reproduces_the_model_card_table(tmp_path):
  """`scripts/evaluate.py` on the five CrossNER test sets gives the shipped crossner_results.json (~1-2 min)."""
  import subprocess
  import sys

  shipped = json.load(open(os.path.join(gliner_jax.DEFAULT_MODEL, "crossner_results.json")))
  assert not any(os.path.isabs(f) for f in shipped["datasets"].values())  # ../shared/data/crossner/<domain>
  folders = {name: resolve_repo_path(f) for name, f in shipped["datasets"].items()}
  if not all(os.path.isdir(f) for f in folders.values()):
    skip_or_fail(
      f"CrossNER test sets not found at {sorted(folders.values())}",
      "put the data folder beside the repository (../shared/data) or set GLINER_JAX_DATA=<folder>",
    )
  thresholds = [run["threshold"] for run in shipped["runs"]]
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  subprocess.run(
    [
      sys.executable,
      os.path.join(repo, "scripts", "evaluate.py"),
      f"--out_dir={tmp_path}",
      "--sweep=" + ",".join(map(str, thresholds)),
      "--datasets=" + ",".join(f"{name}={path}" for name, path in folders.items()),
    ],
    check=True,
    capture_output=True,
  )
  fresh = json.load(open(tmp_path / "results.json"))
  assert fresh["datasets"] == shipped["datasets"]  # written repository-relative, as shipped
  assert [run["threshold"] for run in fresh["runs"]] == thresholds
  for old, new in zip(shipped["runs"], fresh["runs"]):
    # bf16 weights, float32 compute: a score can cross a threshold on another CPU, hence 0.2 F1 points.
    assert abs(new["average"]["f1"] - old["average"]["f1"]) <= 0.002, (old["threshold"], new["average"])
    for a, b in zip(old["datasets"], new["datasets"]):
      assert a["name"] == b["name"] and a["num_gold"] == b["num_gold"] and a["num_examples"] == b["num_examples"]
      assert abs(a["f1"] - b["f1"]) <= 0.002, (old["threshold"], a["name"], a["f1"], b["f1"])
