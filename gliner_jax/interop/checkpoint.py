"""The gliner_jax checkpoint directory: config JSON, parameters in safetensors, tokenizer files.

my_model/
  gliner_jax_config.json   GLiNERConfig.to_dict()
  params.safetensors       flat "encoder/layer_0/attention/query/kernel" -> array
  tokenizer.json, tokenizer_config.json, ...
  labels_tokenizer/        a bi-encoder's labels tokenizer

The directory may be local or an object-store URL (gs://bucket/models/my_model).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np
from flax import traverse_util
from safetensors.numpy import load_file, save_file

from gliner_jax.interop import storage
from gliner_jax.model.config import CONFIG_FILE, GLiNERConfig
from gliner_jax.model.encoders.stack import unstack_layers

PARAMS_FILE = "params.safetensors"
SEP = "/"
LABELS_TOKENIZER_DIR = "labels_tokenizer"  # a bi-encoder's labels tokenizer, where gliner 0.2.29 keeps it too


def flatten_params(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """{"a": {"b": x}} -> {"a/b": np.asarray(x)}."""
  flat = traverse_util.flatten_dict(dict(params), sep=SEP)
  return {k: np.asarray(v) for k, v in flat.items()}


def unflatten_params(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
  """{"a/b": x} -> {"a": {"b": x}}."""
  return traverse_util.unflatten_dict(dict(flat), sep=SEP)


def save_checkpoint(
  directory: str,
  config: GLiNERConfig,
  params: Mapping[str, Any],
  tokenizer=None,
  dtype: Any = None,
  labels_tokenizer=None,
) -> None:
  """Writes a gliner_jax checkpoint. `dtype` (e.g. "bfloat16") casts floating params for shipping; a
  bi-encoder's `labels_tokenizer` goes to the `labels_tokenizer/` subfolder.

  Example (the shipped default model, written again to a temporary folder):
    >>> import tempfile
    >>> from gliner_jax import DEFAULT_MODEL
    >>> config, params = load_checkpoint(DEFAULT_MODEL)
    >>> out = tempfile.mkdtemp()
    >>> save_checkpoint(out, config, params, dtype="bfloat16")
    >>> is_checkpoint(out), load_checkpoint(out)[0] == config
    (True, True)
  """
  # On disk the encoder layers are always layer_0, layer_1, ... (what the converters read and write).
  if config.scan_layers:
    config = config.replace(scan_layers=False)
  flat = flatten_params(unstack_layers(params))
  if dtype is not None:
    import ml_dtypes  # shipped with jax

    target = np.dtype(ml_dtypes.bfloat16) if str(dtype) == "bfloat16" else np.dtype(dtype)
    flat = {
      k: v.astype(target) if np.issubdtype(v.dtype, np.floating) or v.dtype == target else v for k, v in flat.items()
    }
  with storage.writable_dir(directory) as folder:  # gs://...: written here, then uploaded
    save_file(
      {k: np.ascontiguousarray(v) for k, v in flat.items()},
      os.path.join(folder, PARAMS_FILE),
      metadata={"format": "gliner_jax"},
    )
    config.save(folder)
    if tokenizer is not None:
      tokenizer.save_pretrained(folder)
    if labels_tokenizer is not None:
      labels_tokenizer.save_pretrained(os.path.join(folder, LABELS_TOKENIZER_DIR))


def load_checkpoint(directory: str, dtype: Any = np.float32) -> tuple[GLiNERConfig, dict[str, Any]]:
  """Reads (config, params) back; low-precision floats are upcast to `dtype` (None keeps them). A gs://
  directory is downloaded first (`gliner_jax.interop.storage.local_copy`)."""
  for name in (CONFIG_FILE, PARAMS_FILE):
    if not storage.exists(storage.join(directory, name)):
      raise FileNotFoundError(f"{directory} is not a gliner_jax checkpoint: {name} is missing")
  directory = storage.local_copy(directory)
  config = GLiNERConfig.load(directory)
  flat = load_file(os.path.join(directory, PARAMS_FILE))
  if dtype is not None:
    flat = {
      k: v.astype(dtype) if v.dtype != dtype and v.dtype.kind in "fV" or str(v.dtype) == "bfloat16" else v
      for k, v in flat.items()
    }
  return config, unflatten_params(flat)


def is_checkpoint(directory: str) -> bool:
  return storage.exists(storage.join(directory, CONFIG_FILE)) and storage.exists(storage.join(directory, PARAMS_FILE))
