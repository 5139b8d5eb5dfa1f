"""Optional dependencies: which extra of `pip install gliner_jax[...]` provides a module.

The bare install predicts, loads, converts and exports; training needs `[train]`, PyTorch `.bin` checkpoints
`[torch]`, gs:// paths `[gcs]`. A stage package that needs an extra checks for it on import, so a missing
package fails at once with the extra to install instead of an ImportError deep inside.

Example:
  >>> from gliner_jax.interop.extras import require_extra
  >>> require_extra("train", "optax", "ml_collections")  # raises MissingExtraError if either is absent
"""

from __future__ import annotations

import importlib.util

EXTRAS = {
  "train": "training: the loop, checkpoints, grain/tfds data, configs",
  "torch": "PyTorch .bin checkpoints (safetensors need no torch)",
  "gcs": "gs:// paths",
  "notebooks": "the Colab notebooks' helpers",
  "tpu": "jax with libtpu",
  "test": "the test suite",
}


class MissingExtraError(ImportError):
  """A module of an optional extra is not installed; the message names the extra and the pip command."""


def install_command(extra: str) -> str:
  """The pip command that adds `extra` to an installed gliner_jax."""
  if extra not in EXTRAS:
    raise ValueError(f"unknown extra {extra!r}; gliner_jax's extras are {sorted(EXTRAS)}")
  return f'pip install "gliner_jax[{extra}]"'


def missing_modules(*modules: str) -> list[str]:
  """The names in `modules` that cannot be imported (found without importing them)."""
  missing = []
  for name in modules:
    try:
      found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package is missing, or was set to None in sys.modules
      found = False
    if not found:
      missing.append(name)
  return missing


def require_extra(extra: str, *modules: str, needed_by: str = "") -> None:
  """Raises MissingExtraError naming `extra` when any of `modules` is not importable.

  Args:
    extra: the extra that provides the modules ("train", "torch", ...).
    modules: importable module names, e.g. "optax", "orbax.checkpoint".
    needed_by: what needs them, for the message (default: "this part of gliner_jax").
  """
  command = install_command(extra)
  missing = missing_modules(*modules)
  if missing:
    raise MissingExtraError(
      f"{needed_by or 'this part of gliner_jax'} needs {', '.join(missing)}, from the [{extra}] extra "
      f"({EXTRAS[extra]}): {command}"
    )
