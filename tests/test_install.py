"""Packaging: the built wheel's metadata (ranges, extras, Python versions), the missing-extra error, the
licence files, the model cards of exports, and the two environment checks of docs/install.md:
scripts/check_python313.sh (the wheel on Python 3.13) and scripts/check_lowest_versions.sh (the lowest
declared versions on Python 3.11).
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import gliner_jax
from conftest import skip_or_fail
from gliner_jax.data.paths import REPO_ROOT
from gliner_jax.interop.extras import EXTRAS, MissingExtraError, install_command, missing_modules, require_extra
from gliner_jax.interop.gliner_export import UNKNOWN_TRAINING_DATA, model_card, write_model_card

ASSETS = os.path.join(os.path.dirname(gliner_jax.__file__), "assets")
# What only the extras bring: predicting, converting and exporting must not import any of them.
EXTRA_ONLY = ("grain", "tensorflow_datasets", "ml_collections", "torch", "matplotlib", "gcsfs", "array_record")


# ------------------------------------------------------------------------------------------ the wheel
SOURCES = ("gliner_jax", "configs", "pyproject.toml", "README.md", "LICENSE")  # what the build reads
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
  """The wheel, built from a copy of the sources (a build leaves build/ and egg-info behind)."""
  tmp = tmp_path_factory.mktemp("wheel")
  source, out = tmp / "source", tmp / "dist"
  for name in SOURCES:
    copy = shutil.copytree if os.path.isdir(os.path.join(REPO_ROOT, name)) else shutil.copy
    copy(os.path.join(REPO_ROOT, name), source / name, **({} if copy is shutil.copy else {"ignore": IGNORE}))
  build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)]
  subprocess.run(build, check=True, capture_output=True, cwd=tmp, timeout=600)
  (name,) = [n for n in os.listdir(out) if n.endswith(".whl")]
  return str(out / name)


@pytest.fixture(scope="module")
def metadata(wheel) -> email.message.Message:
  with zipfile.ZipFile(wheel) as z:
    (path,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
    return email.message_from_bytes(z.read(path))


@pytest.mark.subprocess
def test_wheel_admits_python_311_to_313_and_later(metadata):
  spec = SpecifierSet(metadata["Requires-Python"])
  assert [v for v in ("3.10", "3.11", "3.12", "3.13", "3.14") if v in spec] == ["3.11", "3.12", "3.13", "3.14"]


@pytest.mark.subprocess
def test_wheel_dependencies_are_ranges_and_extras_exist(metadata):
  requirements = [Requirement(r) for r in metadata.get_all("Requires-Dist")]
  assert set(metadata.get_all("Provides-Extra")) == set(EXTRAS)
  bare = {r.name.lower().replace("_", "-") for r in requirements if r.marker is None}
  assert bare == {
    "jax",
    "flax",
    "numpy",
    "transformers",
    "tokenizers",
    "huggingface-hub",
    "safetensors",
    "sentencepiece",
    "etils",
    "absl-py",
  }
  for r in requirements:
    in_test_only = r.marker is not None and r.marker.evaluate({"extra": "test"}) and r.name == "gliner"
    if in_test_only:  # the reference version the parity tests were written against
      assert str(r.specifier) == "==0.2.29"
      continue
    if r.name == "gliner_jax":  # an extra made of other extras
      continue
    assert r.specifier and all(s.operator == ">=" for s in r.specifier), f"{r}: a lower bound only"
  in_extra = lambda extra: {
    r.name for r in requirements if r.marker is not None and r.marker.evaluate({"extra": extra})
  }
  assert {"optax", "orbax-checkpoint", "grain", "tensorflow-datasets", "ml_collections", "gcsfs"} <= in_extra("train")
  assert in_extra("torch") == {"torch"} and in_extra("gcs") == {"gcsfs"}
  assert [str(r) for r in requirements if r.name == "jax" and r.extras] == ['jax[tpu]>=0.8.0; extra == "tpu"']


@pytest.mark.subprocess
def test_wheel_ships_licences_configs_and_assets(wheel, metadata):
  with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    licence = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert len(licence) == 1 and z.read(licence[0]) == open(os.path.join(REPO_ROOT, "LICENSE"), "rb").read()
  assert metadata["License-Expression"] == "Apache-2.0"
  for path in (
    "gliner_jax/assets/LICENSES.md",
    "gliner_jax/configs/tiny.py",
    "gliner_jax/assets/default_model/params.safetensors",
    "gliner_jax/assets/default_model/MODEL_CARD.md",
  ):
    assert path in names, path


# ------------------------------------------------------------------------------------------ extras
def test_require_extra_names_the_extra_and_the_command():
  require_extra("train", "json", "os.path")  # present: nothing happens
  assert missing_modules("json", "no_such_module_gliner_jax", "no_such_pkg_gliner_jax.sub") == [
    "no_such_module_gliner_jax",
    "no_such_pkg_gliner_jax.sub",
  ]
  with pytest.raises(MissingExtraError) as e:
    require_extra("torch", "json", "no_such_module_gliner_jax", needed_by="reading x.bin")
  assert str(e.value) == (
    "reading x.bin needs no_such_module_gliner_jax, from the [torch] extra (PyTorch .bin checkpoints "
    '(safetensors need no torch)): pip install "gliner_jax[torch]"'
  )
  assert isinstance(e.value, ImportError)
  with pytest.raises(ValueError, match="unknown extra 'training'"):
    install_command("training")


def _python(code: str, blocked: tuple[str, ...]) -> subprocess.CompletedProcess:
  """Runs `code` in a fresh interpreter in which every module in `blocked` fails to import, as if missing."""
  prelude = f"import sys\nfor name in {blocked!r}:\n  sys.modules[name] = None\n"
  return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, cwd=REPO_ROOT)


@pytest.mark.subprocess
def test_importing_training_without_the_train_extra_says_which_extra():
  result = _python("import gliner_jax.training.loop", ("optax",))
  assert result.returncode != 0
  assert (
    "gliner_jax.interop.extras.MissingExtraError: gliner_jax.training needs optax, from the [train] extra "
    '(training: the loop, checkpoints, grain/tfds data, configs): pip install "gliner_jax[train]"'
  ) in result.stderr


@pytest.mark.subprocess
def test_training_from_files_needs_no_tfds_and_the_tfds_builders_say_which_extra():
  result = _python("import gliner_jax.training.loop, gliner_jax.training.data", ("tensorflow_datasets",))
  assert result.returncode == 0, result.stderr
  result = _python("import gliner_jax.data.tfds_builders", ("tensorflow_datasets",))
  assert result.returncode != 0
  assert (
    "MissingExtraError: gliner_jax.data.tfds_builders needs tensorflow_datasets, from the [train] extra"
  ) in result.stderr


@pytest.mark.subprocess
def test_reading_a_torch_pickle_without_torch_says_which_extra(tmp_path):
  (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
  code = f"from gliner_jax.interop.state_dict import read_state_dict\nread_state_dict({str(tmp_path)!r})"
  result = _python(code, ("torch",))
  assert result.returncode != 0
  assert f"MissingExtraError: reading the PyTorch pickle {tmp_path / 'pytorch_model.bin'}" in result.stderr
  assert 'pip install "gliner_jax[torch]"' in result.stderr


@pytest.mark.subprocess
def test_predicting_converting_and_exporting_need_no_extra(tmp_path):
  """The bare install's promise, with every extra-only package unimportable: load the default model,
  predict, write it as a gliner 0.2.x folder and as a gliner_jax checkpoint, load both back, predict again."""
  code = f"""
import json, sys
import gliner_jax
out = {str(tmp_path)!r}
text, labels = "Ada Lovelace worked with Charles Babbage in London.", ["person", "city"]
model = gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)
first = [(e.text, e.label) for e in model.predict_entities(text, labels)]
model.save_pretrained(out + "/gliner", format="gliner")
model.save_pretrained(out + "/jax")
again = [[(e.text, e.label) for e in gliner_jax.GLiNER.from_pretrained(out + d).predict_entities(text, labels)]
         for d in ("/gliner", "/jax")]
loaded = sorted(m for m in {EXTRA_ONLY!r} if sys.modules.get(m) is not None)
print(json.dumps(dict(first=first, again=again, loaded=loaded)))
"""
  result = _python(code, EXTRA_ONLY)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report["first"] == [["Ada Lovelace", "person"], ["Charles Babbage", "person"], ["London", "city"]]
  assert report["again"] == [report["first"], report["first"]]
  assert report["loaded"] == []


# ------------------------------------------------------------------------------------------ licences, cards
def test_licence_file_is_apache_2():
  text = open(os.path.join(REPO_ROOT, "LICENSE")).read()
  assert text.split()[:5] == ["Apache", "License", "Version", "2.0,", "January"]
  assert "END OF TERMS AND CONDITIONS" in text


def test_licence_table_covers_every_shipped_data_file_and_the_default_model():
  table = open(os.path.join(ASSETS, "LICENSES.md")).read()
  rows = [line for line in table.splitlines() if line.startswith("| `assets/")]
  data = sorted(n for n in os.listdir(os.path.join(ASSETS, "data")) if n != "README.md")
  assert data == [
    "crossner_ai_test_slice.txt",
    "pile_ner_slice_dev.txt",
    "pile_ner_slice_train.txt",
    "relex_tiny_dev.json",
    "relex_tiny_train.json",
  ]
  for name in data:
    (row,) = [r for r in rows if f"`assets/data/{name}`" in r]
    assert ("CC BY-NC 4.0" in row) == name.startswith("pile_ner"), row
    assert ("MIT" in row) == name.startswith("crossner"), row
    assert ("Apache-2.0" in row and "written for gliner_jax" in row) == name.startswith("relex"), row
  weights = [r for r in rows if r.startswith("| `assets/default_model/params.safetensors`")]
  assert len(weights) == 1 and "research use only" in weights[0]
  card = open(os.path.join(ASSETS, "default_model", "MODEL_CARD.md")).read()
  for needle in ("all-MiniLM-L6-v2", "Pile-NER", "CC BY-NC 4.0", "research use only"):
    assert needle in card, needle


def test_model_card_names_the_training_data_or_says_unknown(tmp_path):
  card = model_card(
    "bert-base-uncased", ["../shared/data/pile_ner_subset/x.txt (repeat=3)", "conll (split=train)"], "g"
  )
  assert card.splitlines()[:12] == [
    "# GLiNER model exported by gliner_jax",
    "",
    "- format: g",
    "- backbone: bert-base-uncased",
    "",
    "## Trained on",
    "",
    "- ../shared/data/pile_ner_subset/x.txt (repeat=3)",
    "- conll (split=train)",
    "",
    "## Terms",
    "",
  ]
  assert "Trained on Pile-NER (CC BY-NC 4.0): these weights are for **research use only**." in card
  unknown = open(write_model_card(str(tmp_path), "b", None, "g")).read()
  assert f"- {UNKNOWN_TRAINING_DATA}" in unknown and "research use only" not in unknown
  with pytest.raises(TypeError, match="sequence of strings"):
    model_card("b", "one string", "g")


def test_training_data_lines_come_from_the_config():
  from gliner_jax.configs import minilm_pilener, tiny
  from gliner_jax.training.export import training_data

  assert training_data(tiny.get_config()) == ["gliner_jax/assets/data/pile_ner_slice_train.txt (max_examples=64)"]
  lines = training_data(minilm_pilener.get_config())
  assert lines[:2] == [
    "../shared/data/pile_ner_subset/391xALL_BIO_dev.txt (repeat=3)",
    "../shared/data/gner/conll2003 (max_examples=600, split=train)",
  ]
  config = tiny.get_config()
  config.data.train = []
  assert training_data(config) is None


def test_save_pretrained_gliner_writes_the_card(tmp_path):
  model = gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)
  model.save_pretrained(str(tmp_path / "a"), format="gliner", trained_on=["pile_ner_slice_train.txt"])
  model.save_pretrained(str(tmp_path / "b"), format="gliner")
  a, b = (open(tmp_path / d / "README.md").read() for d in ("a", "b"))
  assert "- pile_ner_slice_train.txt\n" in a and "research use only" in a
  assert f"- {UNKNOWN_TRAINING_DATA}\n" in b


def test_docs_licence_table_is_the_shipped_one():
  rows = lambda text: [line for line in text.splitlines() if line.startswith("|")]
  shipped = rows(open(os.path.join(ASSETS, "LICENSES.md")).read())
  docs = open(os.path.join(REPO_ROOT, "docs", "install.md")).read()
  assert len(shipped) == 9 and "\n".join(shipped) in docs


# ------------------------------------------------------------------------------------------ environments
def _run_check(script: str, timeout: int):
  result = subprocess.run(
    ["bash", os.path.join(REPO_ROOT, "scripts", script)], capture_output=True, text=True, timeout=timeout
  )
  assert result.returncode == 0, f"{script} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
  return result.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_wheel_on_python_313_predicts_the_same_and_trains():
  if os.geteuid() != 0:
    skip_or_fail("the Python 3.13 check needs root (debootstrap, chroot, mount)", "run the tests as root")
  out = _run_check("check_python313.sh", timeout=1500)
  assert "Python 3.13" in out and "trained steps 1 .. 20" in out
  assert "largest score difference" in out and out.rstrip().endswith("check_python313.sh: OK")


@pytest.mark.slow
@pytest.mark.subprocess
def test_lowest_declared_versions_pass_the_prediction_conversion_and_export_tests():
  out = _run_check("check_lowest_versions.sh", timeout=2400)
  listing = out[out.index("== installed (lowest-direct):") : out.index("== end of installed")]
  installed = dict(re.findall(r"^  ([A-Za-z0-9_.\-]+)==(\S+)$", listing, re.M))
  installed = {canonicalize_name(k): Version(v) for k, v in installed.items()}
  with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
  declared = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["train"]]
  declared += [Requirement(r) for r in project["optional-dependencies"]["test"]]
  at_bound = {}
  for r in declared:
    if r.name == "gliner_jax":
      continue
    (spec,) = r.specifier
    at_bound[canonicalize_name(r.name)] = (installed[canonicalize_name(r.name)], Version(spec.version))
  # Every declared lower bound is what ran (torch is overridden to the local build: docs/install.md).
  assert {n: v for n, v in at_bound.items() if v[0] != v[1]} == {}
  assert installed["torch"].base_version == "2.13.0"
  assert re.search(r"^\d+ passed", out, re.M) and not re.search(r"\d+ (failed|error)", out)
