"""The one place a model name becomes a local folder: a folder as it is, or a hub repository fetched.

`from_pretrained`, `scripts/convert_checkpoint.py` and training's model initialisation all call
`resolve_model_dir`. From a hub repository only the files a model needs are fetched: its config
files, its tokenizer files, and one set of weights (safetensors before a PyTorch pickle).

Example (the hub id is not run as a doctest: it downloads ~600 MB once):
  >>> resolve_model_dir("urchade/gliner_small-v2.1", HubOptions(revision="main"))  # doctest: +SKIP
  '~/.cache/huggingface/hub/models--urchade--gliner_small-v2.1/snapshots/...'
  >>> from gliner_jax import DEFAULT_MODEL
  >>> resolve_model_dir(DEFAULT_MODEL) == DEFAULT_MODEL  # a folder: unchanged
  True
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from typing import Sequence

from gliner_jax.interop import storage
from gliner_jax.interop.state_dict import SAFETENSORS, SAFETENSORS_INDEX, TORCH_PICKLE

CONFIG_FILES = ("gliner_config.json", "gliner_jax_config.json", "config.json", "encoder_config.json")
TOKENIZER_PATTERNS = (
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.txt",
  "vocab.json",
  "merges.txt",
  "spm.model",
  "*.model",
  "sentencepiece*",
  "labels_tokenizer/*",  # a bi-encoder's labels tokenizer
)
JAX_WEIGHTS = "params.safetensors"


@dataclasses.dataclass(frozen=True)
class HubOptions:
  """How to reach the hub: a `revision` (branch, tag or commit), an access `token`, a `cache_dir`."""

  revision: str | None = None
  token: str | bool | None = None
  cache_dir: str | None = None
  local_files_only: bool = False

  def kwargs(self) -> dict:
    """Keyword arguments for huggingface_hub and transformers' `from_pretrained`."""
    out = dict(
      revision=self.revision, token=self.token, cache_dir=self.cache_dir, local_files_only=self.local_files_only
    )
    return {k: v for k, v in out.items() if v not in (None, False)}


def looks_like_hub_id(name: str) -> bool:
  """ "name" or "namespace/name", not a path that exists or points somewhere on this machine."""
  if not name or os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1 or "\\" in name:
    return False
  parent = os.path.dirname(name)
  return not os.path.exists(name) and not (parent and os.path.isdir(parent))


def backbone_name(path: str, name: str = "") -> str:
  """What a model records as its backbone (`GLiNERConfig.model_name`): a hub id or a plain name, never a
  path of this machine (the name travels with exported and shipped models).

  `name` wins; a hub id is kept; a local folder gives the hub id in its config.json (`_name_or_path`)
  when there is one, else the folder's name.

  >>> backbone_name("sentence-transformers/all-MiniLM-L6-v2")
  'sentence-transformers/all-MiniLM-L6-v2'
  >>> backbone_name("/no/such/dir/bert_tiny")
  'bert_tiny'
  """
  if name:
    return str(name)
  path = str(path or "")
  if not path or looks_like_hub_id(path):
    return path
  config_file = os.path.join(path, "config.json")
  if os.path.isfile(config_file):
    import json

    with open(config_file) as f:
      recorded = str(json.load(f).get("_name_or_path") or "")
    if looks_like_hub_id(recorded):
      return recorded
  return os.path.basename(os.path.normpath(path))


def needed_files(repo_files: Sequence[str]) -> list[str]:
  """Which files of a model repository to fetch: configs, tokenizer files and one set of weights.

  Example:
    >>> needed_files(["gliner_config.json", "pytorch_model.bin", "model.safetensors", "README.md"])
    ['gliner_config.json', 'model.safetensors']
  """
  files = set(repo_files)
  out = [f for f in repo_files if f in CONFIG_FILES]
  out += [f for f in repo_files if any(fnmatch.fnmatch(f, p) for p in TOKENIZER_PATTERNS)]
  if JAX_WEIGHTS in files:
    out.append(JAX_WEIGHTS)
  elif SAFETENSORS in files:
    out.append(SAFETENSORS)
  elif SAFETENSORS_INDEX in files:
    out.append(SAFETENSORS_INDEX)
    out += sorted(f for f in files if fnmatch.fnmatch(f, "model-*-of-*.safetensors"))
  elif TORCH_PICKLE in files:
    out.append(TORCH_PICKLE)
  return list(dict.fromkeys(out))


def resolve_model_dir(name: str, options: HubOptions | None = None, *, files: Sequence[str] | None = None) -> str:
  """A local folder for `name`: the folder itself, or the needed files of the hub repository `name`.

  `files` restricts the download (e.g. `["config.json"]` for a backbone's shape alone). An object-store
  folder (gs://bucket/models/x) is downloaded to a temporary folder (`gliner_jax.interop.storage.local_copy`).
  """
  if storage.is_remote(name):
    if not storage.isdir(name):
      raise FileNotFoundError(f"no model directory at {name}")
    return storage.local_copy(name)
  if os.path.isdir(name):
    return name
  if not looks_like_hub_id(name):
    raise FileNotFoundError(f"no model directory at {name}")
  options = options or HubOptions()
  from huggingface_hub import HfApi, snapshot_download

  try:
    if files is None and not options.local_files_only:
      repo_files = HfApi().list_repo_files(name, revision=options.revision, token=options.token)
      files = needed_files(repo_files)
    return snapshot_download(name, allow_patterns=list(files) if files is not None else None, **options.kwargs())
  except Exception as err:  # httpx, requests and huggingface_hub each raise their own connection errors
    if _is_unreachable(err):
      raise HubUnreachableError(
        f"{name!r} is not a local folder, and the Hugging Face hub could not be reached "
        f"({type(err).__name__}: {err}). Download it where the hub is reachable and pass its folder, "
        "or point HF_HOME at a cache that holds it"
      ) from err
    raise


class HubUnreachableError(OSError):
  """A hub id was given where the Hugging Face hub cannot be reached (offline, or a firewall)."""


def _is_unreachable(err: BaseException) -> bool:
  """Whether `err` (or an error it was raised from) is a failed connection rather than a refusal by the hub."""
  while err is not None:
    name = type(err).__name__
    if name in ("ConnectError", "ConnectTimeout", "ConnectionError", "LocalEntryNotFoundError", "OfflineModeIsEnabled"):
      return True
    if isinstance(err, (ConnectionError, TimeoutError)):
      return True
    err = err.__cause__ or err.__context__
  return False
