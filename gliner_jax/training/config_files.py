"""Training configs read from files: `configs/<name>.py` by name, or any `.py` path, through its `get_config(arg)`.

The one loader used by the notebooks, the benchmarks and the tests (scripts/train.py reads its `--config` with
ml_collections' config_flags, which loads the same files). Names are looked up in $GLINER_JAX_CONFIG_DIR, the
installed `gliner_jax.configs` package (the repository's configs/ folder, shipped in the wheel), the checkout's
configs/, and ./configs.

Example:
  >>> load_config("tiny").train.num_steps
  20
  >>> "tiny" in available_configs()
  True
"""

from __future__ import annotations

import importlib.util
import os
import re

from gliner_jax.data.paths import REPO_ROOT

CONFIG_DIR_ENV = "GLINER_JAX_CONFIG_DIR"


def config_dirs(config_dir: str | None = None) -> list[str]:
  """Where configs are looked up by name, first match wins: `config_dir` alone if given, else
  $GLINER_JAX_CONFIG_DIR, the installed `gliner_jax.configs`, the checkout's configs/ and ./configs."""
  if config_dir:
    return [config_dir]
  try:
    import gliner_jax.configs

    package = list(gliner_jax.configs.__path__)
  except ImportError:  # an editable install made before gliner_jax.configs existed
    package = []
  dirs = [
    os.environ.get(CONFIG_DIR_ENV),
    *package,
    os.path.join(REPO_ROOT, "configs"),
    os.path.join(os.getcwd(), "configs"),
  ]
  seen, out = set(), []
  for d in dirs:
    if d and os.path.realpath(d) not in seen:
      seen.add(os.path.realpath(d))
      out.append(d)
  return out


def available_configs(config_dir: str | None = None) -> list[str]:
  """Names of the config files (configs/*.py) that `load_config` finds."""
  names = set()
  for d in config_dirs(config_dir):
    if os.path.isdir(d):
      names |= {f[:-3] for f in os.listdir(d) if f.endswith(".py") and not f.startswith("_")}
  return sorted(names)


def config_path(name: str, config_dir: str | None = None) -> str:
  """The file of config `name` (a name like "tiny", or a path ending in .py, returned as it is if it exists)."""
  if name.endswith(".py"):
    path = name
  elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
    found = [os.path.join(d, name + ".py") for d in config_dirs(config_dir)]
    path = next((p for p in found if os.path.isfile(p)), "")
    if not path:
      raise FileNotFoundError(
        f"no config {name!r} in {config_dirs(config_dir)} (available: "
        f"{available_configs(config_dir)}); pass a .py path or config_dir"
      )
  else:
    raise ValueError(f"config name {name!r}: give a name like 'tiny' or a path ending in .py")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no config file {path}")
  return path


def load_config(name: str, arg: str = "", *, config_dir: str | None = None):
  """`get_config(arg)` of configs/<name>.py (or of a .py path), without ml_collections.config_flags.

  >>> load_config("tiny").train.num_steps
  20
  """
  path = config_path(name, config_dir)
  spec = importlib.util.spec_from_file_location(f"gliner_jax_config_{os.path.basename(path)[:-3]}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"{path} has no get_config()")
  return module.get_config(arg)
