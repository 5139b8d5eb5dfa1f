"""Nothing tied to one machine: data found beside the repository (gliner_jax.data.paths), backbones recorded by
name (gliner_jax.training.model_init.backbone_name), no machine paths in the repository's files."""

from __future__ import annotations

import json
import os
import subprocess

import ml_collections
import pytest

from gliner_jax.data import paths
from gliner_jax.training.model_init import backbone_name, starting_point

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_repo_root_and_shared_data_are_found_from_the_package(monkeypatch):
  assert os.path.realpath(paths.REPO_ROOT) == os.path.realpath(REPO)
  monkeypatch.delenv(paths.DATA_ENV, raising=False)
  assert paths.shared_data("crossner", "ai") == os.path.join(os.path.dirname(REPO), "shared", "data", "crossner", "ai")
  monkeypatch.setenv(paths.DATA_ENV, "/somewhere/data")
  assert paths.shared_data("crossner") == os.path.join("/somewhere/data", "crossner")


@pytest.mark.parametrize("data_env", [None, "elsewhere"])
def test_repo_relative_round_trip(monkeypatch, tmp_path, data_env):
  if data_env:
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / data_env))
  else:
    monkeypatch.delenv(paths.DATA_ENV, raising=False)
  folder = paths.shared_data("crossner", "ai")
  assert paths.repo_relative(folder) == os.path.join("..", "shared", "data", "crossner", "ai")
  assert paths.resolve_repo_path("../shared/data/crossner/ai") == folder
  assert paths.resolve_repo_path("../shared/data") == paths.shared_data()
  model = os.path.join(REPO, "gliner_jax", "assets", "default_model")
  assert paths.repo_relative(model) == os.path.join("gliner_jax", "assets", "default_model")
  assert paths.resolve_repo_path("gliner_jax/assets/default_model") == os.path.normpath(model)
  assert paths.repo_relative(str(tmp_path / "mine")) == str(tmp_path / "mine")  # the user's own folder
  assert paths.resolve_repo_path(str(tmp_path)) == str(tmp_path)


def test_backbone_name_is_never_a_local_path(tmp_path):
  assert backbone_name("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
  assert backbone_name("bert-base-uncased") == "bert-base-uncased"
  assert backbone_name(str(tmp_path / "a" / "b" / "model"), name="org/model") == "org/model"
  local = tmp_path / "my_backbone"
  local.mkdir()
  assert backbone_name(str(local)) == "my_backbone"
  (local / "config.json").write_text(json.dumps({"_name_or_path": str(tmp_path / "elsewhere")}))
  assert backbone_name(str(local) + os.sep) == "my_backbone"  # a recorded local path is no better
  (local / "config.json").write_text(json.dumps({"_name_or_path": "google/bert_uncased_L-2_H-128_A-2"}))
  assert backbone_name(str(local)) == "google/bert_uncased_L-2_H-128_A-2"
  assert backbone_name("") == ""


def _hf_encoder_config(path: str, name: str = "") -> ml_collections.ConfigDict:
  from gliner_jax.training.config import base_config

  model = base_config().model
  model.update(init="hf_encoder", path=path, name=name, hidden_size=32, max_width=4, max_len=48, max_types=8)
  return model


def test_starting_point_records_the_backbone_by_name(bert_tiny_dir):
  """What training exports (gliner_jax.training.export writes `starting_point(config.model).config`)."""
  start = starting_point(_hf_encoder_config(bert_tiny_dir))
  assert start.config.model_name == os.path.basename(os.path.normpath(bert_tiny_dir))
  named = starting_point(_hf_encoder_config(bert_tiny_dir, name="google/bert_uncased_L-2_H-128_A-2"))
  assert named.config.model_name == "google/bert_uncased_L-2_H-128_A-2"


def test_no_machine_paths_in_the_repository():
  """Tracked (and new, unignored) files name no absolute path of a checkout or of a virtualenv."""
  files = subprocess.run(
    ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
  ).stdout.split()
  bad = []
  home = os.path.expanduser("~")
  # The checkout's parent (where ../shared lives) and the real shared folder, wherever this clone is.
  parents = {os.path.dirname(REPO), os.path.dirname(os.path.realpath(REPO))}
  parents.add(os.path.dirname(os.path.realpath(paths.shared_data())))
  needles = ("/site-packages/", ".venv/lib/") + tuple(sorted(p + os.sep for p in parents if p not in ("", "/")))
  needles += (home + os.sep,) if home not in ("/", "") else ()
  for name in files:
    path = os.path.join(REPO, name)
    if name == "tests/test_paths.py" or not os.path.isfile(path) or os.path.getsize(path) > 5_000_000:
      continue
    try:
      with open(path, encoding="utf-8") as f:
        text = f.read()
    except UnicodeDecodeError:
      continue
    bad += [f"{name}: {n}" for n in needles if n in text]
  assert not bad, bad
