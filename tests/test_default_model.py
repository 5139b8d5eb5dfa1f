"""The embedded default model: present, small enough to ship, loads without torch-side files, predicts."""

import os

import numpy as np
import pytest
from safetensors.numpy import load_file

import gliner_jax
from gliner_jax.checkpoint import PARAMS_FILE

pytestmark = pytest.mark.skipif(not os.path.isdir(gliner_jax.DEFAULT_MODEL), reason="no default model shipped")


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


@pytest.mark.parametrize("labels", [["person", "city", "award"], ["award", "city", "person"],
                                    ["city", "person", "award"]])
def test_finds_people_and_a_city_whatever_the_label_order(model, labels):
  found = {(e.text, e.label) for e in model.predict_entities(TEXT, labels, threshold=0.3)}
  assert found == GOLD


def test_scores_are_calibrated_enough_for_the_default_threshold(model):
  found = {(e.text, e.label) for e in model.predict_entities(TEXT, ["person", "city"], threshold=0.5)}
  assert ("Barack Obama", "person") in found and ("Angela Merkel", "person") in found


def test_evaluate_script_reproduces_the_model_card_table(tmp_path):
  """`scripts/evaluate.py` on the five CrossNER test sets gives the shipped crossner_results.json (~1-2 min)."""
  import json
  import subprocess
  import sys
  shipped = json.load(open(os.path.join(gliner_jax.DEFAULT_MODEL, "crossner_results.json")))
  folders = shipped["datasets"]
  if not all(os.path.isdir(f) for f in folders.values()):
    pytest.skip(f"CrossNER test sets not found at {sorted(folders.values())}")
  thresholds = [run["threshold"] for run in shipped["runs"]]
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  subprocess.run([sys.executable, os.path.join(repo, "scripts", "evaluate.py"), f"--out_dir={tmp_path}",
                  "--sweep=" + ",".join(map(str, thresholds)),
                  "--datasets=" + ",".join(f"{name}={path}" for name, path in folders.items())],
                 check=True, capture_output=True)
  fresh = json.load(open(tmp_path / "results.json"))
  assert [run["threshold"] for run in fresh["runs"]] == thresholds
  for old, new in zip(shipped["runs"], fresh["runs"]):
    # bf16 weights, float32 compute: a score can cross a threshold on another CPU, hence 0.2 F1 points.
    assert abs(new["average"]["f1"] - old["average"]["f1"]) <= 0.002, (old["threshold"], new["average"])
    for a, b in zip(old["datasets"], new["datasets"]):
      assert a["name"] == b["name"] and a["num_gold"] == b["num_gold"] and a["num_examples"] == b["num_examples"]
      assert abs(a["f1"] - b["f1"]) <= 0.002, (old["threshold"], a["name"], a["f1"], b["f1"])
