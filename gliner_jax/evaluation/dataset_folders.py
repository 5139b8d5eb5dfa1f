"""Which folders an evaluation reads: CrossNER domains under the data root, or ``name=folder`` entries.

`resolve_datasets` turns the ``--datasets`` entries of scripts/evaluate.py into ``{name: folder}``, the mapping
`gliner_jax.evaluation.scoring.sweep_thresholds` takes; `report_metadata` records the model and the folders in
results.json relative to the repository root (``../shared/data/...``) when they are in it or in the data root.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> resolve_datasets([f"movie={folder}"]) == {"movie": folder}
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from gliner_jax.data.paths import DATA_ENV, repo_relative, shared_data
from gliner_jax.interop import storage

CROSSNER_DOMAINS = ("ai", "literature", "music", "politics", "science")
DEFAULT_DOMAINS = (*CROSSNER_DOMAINS, "conll2003")  # the bare names a --datasets entry may be


def find_data_root() -> str:
  """The data root holding ``crossner/`` ($GLINER_JAX_DATA, else ``<repo>/../shared/data``).

  >>> os.path.isdir(os.path.join(find_data_root(), "crossner"))  # doctest: +SKIP
  True

  (Skipped: a clone without ../shared/data raises FileNotFoundError.)
  """
  path = shared_data()
  if os.path.isdir(os.path.join(path, "crossner")):
    return path
  raise FileNotFoundError(
    f"no crossner/ folder in the data root {path} (${DATA_ENV}, else <repo>/../shared/data); "
    "pass --data_root or name=folder datasets"
  )


def resolve_datasets(entries: Sequence[str], data_root: str | None = None) -> dict[str, str]:
  """``["ai", "movie=/x"]`` -> ``{"crossner_ai": "<root>/crossner/ai", "movie": "/x"}``.

  An entry is one of `DEFAULT_DOMAINS` (a folder under ``<data_root>/crossner``, ``conll2003`` keeping its
  name) or ``name=folder`` (a local or gs:// folder). Raises ValueError on an unknown entry, a missing folder,
  a name given twice or no entry at all.

  >>> resolve_datasets(["nowhere"])
  Traceback (most recent call last):
  ...
  ValueError: --datasets entry 'nowhere' is neither one of ('ai', ..., 'conll2003') nor name=folder
  """
  out: dict[str, str] = {}
  for entry in entries:
    if "=" in entry:
      name, folder = (part.strip() for part in entry.split("=", 1))
    elif entry in DEFAULT_DOMAINS:
      data_root = data_root or find_data_root()
      name = entry if entry == "conll2003" else f"crossner_{entry}"
      folder = os.path.join(data_root, "crossner", entry)
    else:
      raise ValueError(f"--datasets entry {entry!r} is neither one of {DEFAULT_DOMAINS} nor name=folder")
    if not name or not storage.isdir(folder):
      raise ValueError(f"--datasets entry {entry!r}: {folder!r} is not a folder")
    if name in out:
      raise ValueError(f"--datasets: dataset name {name!r} given twice")
    out[name] = folder
  if not out:
    raise ValueError("--datasets is empty")
  return out


def report_metadata(model_path: str, folders: Mapping[str, str], scheme: str) -> dict[str, Any]:
  """The ``extra`` fields results.json records: the model, the label scheme and the dataset folders, local
  paths made relative to the repository root where they are in it or in the data root.

  >>> report_metadata("gs://bucket/model", {"movie": "gs://bucket/mit/movie"}, "gliner")
  {'model': 'gs://bucket/model', 'scheme': 'gliner', 'datasets': {'movie': 'gs://bucket/mit/movie'}}
  """
  return {
    "model": repo_relative(model_path) if os.path.isdir(model_path) else model_path,
    "scheme": scheme,
    "datasets": {
      name: folder if storage.is_remote(folder) else repo_relative(folder) for name, folder in folders.items()
    },
  }
