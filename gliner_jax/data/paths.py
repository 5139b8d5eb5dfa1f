"""Where the repository and the shared data folder are, found relative to this package (no machine paths).

The shared data folder (CrossNER, Pile-NER subset, GNER sets, ...; provenance in its README.md) lives
beside the repository, at ``<repo>/../shared/data``; set ``GLINER_JAX_DATA`` to use another folder.
Files that record data locations (e.g. the default model's ``crossner_results.json``) store them
relative to the repository root, as ``../shared/data/...``, and `resolve_repo_path` turns them back
into paths on this machine.

Example:
  >>> folder = shared_data("crossner", "ai")  # <repo>/../shared/data/crossner/ai, absolute
  >>> repo_relative(folder)
  '../shared/data/crossner/ai'
  >>> resolve_repo_path("../shared/data/crossner/ai") == folder
  True
"""

from __future__ import annotations

import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA_ENV = "GLINER_JAX_DATA"
# How data paths are written in shipped files: relative to the repository root.
SHARED_DATA_RELATIVE = os.path.join(os.pardir, "shared", "data")


def shared_data(*parts: str) -> str:
  """A path in the shared data folder: ``$GLINER_JAX_DATA`` if set, else ``<repo>/../shared/data``.

  The path may not exist (a clone without the data beside it); callers check and say so.
  """
  root = os.environ.get(DATA_ENV) or os.path.join(os.path.dirname(REPO_ROOT), "shared", "data")
  return os.path.join(os.path.abspath(root), *parts)


def resolve_repo_path(path: str) -> str:
  """A path as stored in a shipped file -> a path here: relative paths are relative to the repository
  root, and ``../shared/data/...`` means `shared_data` (so ``GLINER_JAX_DATA`` moves it too)."""
  if os.path.isabs(path):
    return path
  norm = os.path.normpath(path)
  if norm == SHARED_DATA_RELATIVE:
    return shared_data()
  if norm.startswith(SHARED_DATA_RELATIVE + os.sep):
    return shared_data(norm[len(SHARED_DATA_RELATIVE) + 1 :])
  return os.path.normpath(os.path.join(REPO_ROOT, norm))


def repo_relative(path: str) -> str:
  """The inverse of `resolve_repo_path`, for paths written into files that travel with the repository:
  the shared data folder -> ``../shared/data/...``, a path inside the repository -> relative to its root;
  anything else (a folder of the user's own) stays absolute."""
  path = os.path.abspath(path)
  for root, written in ((shared_data(), SHARED_DATA_RELATIVE), (REPO_ROOT, os.curdir)):
    if path == root or path.startswith(root + os.sep):
      return os.path.normpath(os.path.join(written, os.path.relpath(path, root)))
  return path
