"""The configs: each builds and says how to run it, and the top-level configs/ ships as `gliner_jax.configs`.

The wheel test builds the real wheel (a few seconds) from a copy of the sources and imports the configs
from its unzipped files with `python -S`, so neither the checkout nor the editable install can stand in.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile

import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

import gliner_jax
import gliner_jax.configs
from gliner_jax.data.paths import REPO_ROOT

CONFIG_DIR = os.path.join(REPO_ROOT, "configs")
NAMES = sorted(f[:-3] for f in os.listdir(CONFIG_DIR) if f.endswith(".py") and not f.startswith("_"))


def test_the_package_is_the_top_level_folder():
  assert {"tiny", "main", "gliner_small", "minilm_pilener"} <= set(NAMES)
  assert [os.path.realpath(p) for p in gliner_jax.configs.__path__] == [os.path.realpath(CONFIG_DIR)]
  with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
    setuptools = tomllib.load(f)["tool"]["setuptools"]
  assert setuptools["package-dir"] == {"gliner_jax.configs": "configs"}
  # The package list is written out (find cannot map configs/): it must hold every package folder.
  package_root = os.path.dirname(gliner_jax.__file__)
  folders = {
    os.path.normpath(os.path.join("gliner_jax", os.path.relpath(root, package_root))).replace(os.sep, ".")
    for root, _, files in os.walk(package_root)
    if "__init__.py" in files
  }
  assert sorted(setuptools["packages"]) == sorted(folders | {"gliner_jax.configs"})


@pytest.mark.parametrize("name", NAMES)
def test_config_builds_says_how_to_run_and_imports_only_gliner_jax(name):
  module = importlib.import_module(f"gliner_jax.configs.{name}")
  assert os.path.realpath(module.__file__) == os.path.realpath(os.path.join(CONFIG_DIR, f"{name}.py"))
  config = module.get_config()
  assert isinstance(config, ml_collections.ConfigDict)
  assert config.train.num_steps >= 1 and config.train.batch_size >= 1 and config.data.train, name
  json.loads(config.to_json_best_effort())
  assert re.search(rf"^\s+python scripts/\w+\.py --config configs/{name}\.py --workdir \S+", module.__doc__, re.M), (
    f"configs/{name}.py: its docstring needs the command that runs it"
  )
  for node in ast.walk(ast.parse(open(module.__file__, encoding="utf-8").read())):
    if isinstance(node, ast.ImportFrom):
      assert node.level == 0, f"configs/{name}.py: relative import"
      roots = [node.module.split(".")[0]]
    elif isinstance(node, ast.Import):
      roots = [a.name.split(".")[0] for a in node.names]
    else:
      continue
    assert all(r == "gliner_jax" or r in sys.stdlib_module_names for r in roots), (name, roots)
  # scripts/train.py's --config flag still takes the file path.
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "config", flag_values=values, lock_config=True)
  values(["train.py", f"--config={os.path.join(CONFIG_DIR, name)}.py"])
  assert values.config.to_dict() == config.to_dict()


@pytest.mark.subprocess
def test_wheel_ships_the_configs(tmp_path):
  source = tmp_path / "source"  # a copy, so that the build leaves no build/ or egg-info in the checkout
  ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
  shutil.copytree(os.path.join(REPO_ROOT, "gliner_jax"), source / "gliner_jax", ignore=ignore)
  shutil.copytree(CONFIG_DIR, source / "configs", ignore=ignore)
  for name in ("pyproject.toml", "README.md", "requirements.txt"):
    shutil.copy(os.path.join(REPO_ROOT, name), source / name)
  build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source)]
  subprocess.run(build + ["-w", str(tmp_path / "dist")], check=True, capture_output=True, cwd=tmp_path, timeout=120)
  (wheel,) = (tmp_path / "dist").iterdir()
  with zipfile.ZipFile(wheel) as zf:
    shipped = {n for n in zf.namelist() if n.startswith("gliner_jax/configs/")}
    zf.extractall(tmp_path / "unzipped")
  assert shipped == {f"gliner_jax/configs/{n}.py" for n in NAMES + ["__init__"]}

  # -S: no site-packages .pth files, so the editable install's finder cannot supply gliner_jax.configs.
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "unzipped"), sysconfig.get_paths()["purelib"]]))
  probe = (
    "import json, gliner_jax, gliner_jax.configs.tiny as tiny\n"
    "print(json.dumps([gliner_jax.__file__, tiny.__file__, tiny.get_config().train.num_steps]))\n"
  )
  out = subprocess.run(
    [sys.executable, "-S", "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
  )
  assert out.returncode == 0, out.stderr[-3000:]
  package, tiny, steps = json.loads(out.stdout.splitlines()[-1])
  unzipped = str(tmp_path / "unzipped") + os.sep
  assert package.startswith(unzipped) and tiny.startswith(unzipped) and steps == 20


def test_the_bundled_backbones_build_the_models_offline():
  """configs/gliner_modernbert.py and configs/bi_encoder_minilm.py build their models from the bundled backbone
  table alone (jax.eval_shape: no download, no tokenizer), with the encoders of transformers' ModernBERT-base
  (ModernBertConfig's defaults are that model) and all-MiniLM-L6-v2, parameter for parameter."""
  import jax
  import torch
  import transformers

  from gliner_jax.configs import bi_encoder_minilm, gliner_modernbert
  from gliner_jax.model.backbones import BACKBONE_CONFIGS
  from gliner_jax.model.encoders.config import EncoderConfig
  from gliner_jax.training import sharding as shd
  from gliner_jax.training.loop import build
  from gliner_jax.training.model_init import abstract_starting_point

  def ours(module) -> dict[str, int]:
    cfg = module.get_config()
    mesh = shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
    parts = build(cfg, mesh=mesh, start=abstract_starting_point(cfg.model))
    params = jax.eval_shape(parts.init_fn, jax.random.key(0))["params"]
    return {k: sum(x.size for x in jax.tree.leaves(v)) for k, v in params.items()}

  def hf(model, config) -> int:
    with torch.device("meta"):
      return sum(p.numel() for p in model(config).parameters())

  modernbert, defaults = BACKBONE_CONFIGS["answerdotai/ModernBERT-base"], transformers.ModernBertConfig().to_dict()
  assert {k: v for k, v in defaults.items() if k in modernbert} == {
    k: modernbert[k] for k in defaults if k in modernbert
  }
  assert EncoderConfig.from_hf_dict(defaults) == EncoderConfig.from_hf_dict(modernbert)  # layer kinds, RoPE thetas
  counts = ours(gliner_modernbert)
  # The tokenizer's 50368 ids and GLiNER's three tokens.
  assert counts["encoder"] == hf(transformers.ModernBertModel, transformers.ModernBertConfig(vocab_size=50371))
  assert 148e6 < counts["encoder"] < 150e6  # "149M parameters" (the model card)

  minilm = BACKBONE_CONFIGS["sentence-transformers/all-MiniLM-L6-v2"]
  text = hf(lambda c: transformers.BertModel(c, add_pooling_layer=False), transformers.BertConfig(**minilm))
  counts = ours(bi_encoder_minilm)
  assert counts["encoder"] == counts["labels_encoder"] == text  # a bi-encoder adds no prompt tokens
