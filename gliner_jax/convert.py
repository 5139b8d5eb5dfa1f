"""Converts PyTorch weights into gliner_jax parameters (no torch needed for safetensors).

- a gliner 0.2.x checkpoint directory (gliner_config.json + model.safetensors | pytorch_model.bin +
  tokenizer files) -> a gliner_jax checkpoint directory;
- a plain Hugging Face encoder directory (config.json + weights) -> encoder parameters, saved as
  encoder_config.json (EncoderConfig) + params.safetensors + tokenizer files.

Example:
  >>> convert_gliner_checkpoint("urchade_gliner_small-v2.1/", "gliner_small_jax/")
  >>> config, params = load_gliner_state("urchade_gliner_small-v2.1/")
  >>> convert_hf_encoder("all-MiniLM-L6-v2/", "minilm_jax/")
  >>> enc_config, enc_params = load_converted_encoder("minilm_jax/")
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import numpy as np

from gliner_jax.config import GLiNERConfig
from gliner_jax.encoders.config import EncoderConfig
from gliner_jax.encoders.hf_weights import encoder_params_from_hf_state_dict

ENCODER_PREFIX = "token_rep_layer.bert_layer.model."
ENCODER_CONFIG_FILE = "encoder_config.json"


class ConversionError(ValueError):
  """Raised with the full list of missing, unexpected and mis-shaped tensors."""


def read_state_dict(directory: str) -> dict[str, np.ndarray]:
  """Reads model.safetensors (numpy only) or pytorch_model.bin (needs torch) from a directory."""
  st = os.path.join(directory, "model.safetensors")
  if os.path.exists(st):
    from safetensors.numpy import load_file
    return dict(load_file(st))
  pt = os.path.join(directory, "pytorch_model.bin")
  if os.path.exists(pt):
    try:
      import torch
    except ImportError as e:
      raise ImportError(f"{pt} is a PyTorch pickle: reading it needs torch (pip install torch), "
                        "or convert it to model.safetensors first") from e
    state = torch.load(pt, map_location="cpu", weights_only=True)
    return {k: v.detach().float().numpy() if v.is_floating_point() else v.numpy() for k, v in state.items()}
  raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {directory}")


def _ffn_names(torch_prefix: str, ours: str) -> list[tuple[str, str, str]]:
  return [(f"{torch_prefix}.0.weight", f"{ours}/dense_in/kernel", "T"),
          (f"{torch_prefix}.0.bias", f"{ours}/dense_in/bias", ""),
          (f"{torch_prefix}.3.weight", f"{ours}/dense_out/kernel", "T"),
          (f"{torch_prefix}.3.bias", f"{ours}/dense_out/bias", "")]


def head_tensor_map(config: GLiNERConfig) -> list[tuple[str, str, str, tuple[int, ...]]]:
  """(torch name, our flat name, transform, our shape) for every non-encoder tensor."""
  d, e = config.hidden_size, config.encoder.hidden_size
  span = "span_rep_layer.span_rep_layer"
  rows: list[tuple[str, str, str]] = []
  if config.needs_projection:
    rows += [("token_rep_layer.projection.weight", "projection/kernel", "T"),
             ("token_rep_layer.projection.bias", "projection/bias", "")]
  rows += _ffn_names(f"{span}.project_start", "span_head/project_start")
  rows += _ffn_names(f"{span}.project_end", "span_head/project_end")
  rows += [(f"{span}.out_project.0.weight", "span_head/out_dense_in/kernel", "T"),
           (f"{span}.out_project.0.bias", "span_head/out_dense_in/bias", ""),
           (f"{span}.out_project.3.weight", "span_head/out_dense_out/kernel", "T"),
           (f"{span}.out_project.3.bias", "span_head/out_dense_out/bias", "")]
  rows += _ffn_names("prompt_rep_layer", "prompt_head")
  shapes = {"projection/kernel": (e, d), "projection/bias": (d,)}
  for ffn in ("span_head/project_start", "span_head/project_end", "prompt_head"):
    shapes.update({f"{ffn}/dense_in/kernel": (d, 4 * d), f"{ffn}/dense_in/bias": (4 * d,),
                   f"{ffn}/dense_out/kernel": (4 * d, d), f"{ffn}/dense_out/bias": (d,)})
  shapes.update({"span_head/out_dense_in/kernel": (2 * d, 4 * d), "span_head/out_dense_in/bias": (4 * d,),
                 "span_head/out_dense_out/kernel": (4 * d, d), "span_head/out_dense_out/bias": (d,)})
  out = [(t, o, tr, shapes[o]) for t, o, tr in rows]
  if config.num_rnn_layers:
    h = d // 2
    for suffix, direction in (("", 0), ("_reverse", 1)):
      out += [(f"rnn.lstm.weight_ih_l0{suffix}", f"rnn/w_ih/{direction}", "T", (d, 4 * h)),
              (f"rnn.lstm.weight_hh_l0{suffix}", f"rnn/w_hh/{direction}", "T", (h, 4 * h)),
              (f"rnn.lstm.bias_ih_l0{suffix}", f"rnn/b_ih/{direction}", "", (4 * h,)),
              (f"rnn.lstm.bias_hh_l0{suffix}", f"rnn/b_hh/{direction}", "", (4 * h,))]
  return out


def _set(tree: dict, path: str, value) -> None:
  *parents, leaf = path.split("/")
  for p in parents:
    tree = tree.setdefault(p, {})
  tree[leaf] = value


def gliner_params_from_state_dict(state: Mapping[str, np.ndarray], config: GLiNERConfig) -> dict[str, Any]:
  """Maps a gliner 0.2.x span-model state dict onto our parameter tree; errors list every problem."""
  problems: list[str] = []
  enc_state = {k[len(ENCODER_PREFIX):]: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}
  try:
    encoder = encoder_params_from_hf_state_dict(enc_state, config.encoder)
  except ValueError as err:
    problems.append(f"encoder ({ENCODER_PREFIX}*): {err}")
    encoder = None
  params: dict[str, Any] = {"encoder": encoder}
  stacked: dict[str, list] = {}
  used = set()
  for torch_name, ours, transform, shape in head_tensor_map(config):
    if torch_name not in state:
      problems.append(f"missing: {torch_name}")
      continue
    used.add(torch_name)
    value = np.asarray(state[torch_name], np.float32)
    value = value.T if transform == "T" else value
    if value.shape != shape:
      problems.append(f"mis-shaped: {torch_name} gives {value.shape}, expected {shape}")
      continue
    if ours.startswith("rnn/"):
      stacked.setdefault(ours.rsplit("/", 1)[0], [None, None])[int(ours[-1])] = value
    else:
      _set(params, ours, value)
  for name, pair in stacked.items():
    if all(p is not None for p in pair):
      _set(params, name, np.stack(pair))
  unexpected = sorted(k for k in state if not k.startswith(ENCODER_PREFIX) and k not in used)
  problems += [f"unexpected: {k}" for k in unexpected]
  if problems:
    raise ConversionError("cannot convert the gliner state dict:\n  " + "\n  ".join(problems))
  return params


def load_gliner_state(directory: str) -> tuple[GLiNERConfig, dict[str, Any]]:
  """Reads a gliner 0.2.x checkpoint directory into (GLiNERConfig, params)."""
  cfg_path = os.path.join(directory, "gliner_config.json")
  if not os.path.exists(cfg_path):
    raise FileNotFoundError(f"{directory} has no gliner_config.json: not a gliner 0.2.x checkpoint")
  with open(cfg_path) as f:
    config = GLiNERConfig.from_reference(json.load(f))
  return config, gliner_params_from_state_dict(read_state_dict(directory), config)


def load_reference_tokenizer(directory: str, config: GLiNERConfig):
  """The checkpoint's tokenizer, with GLiNER's special tokens added exactly as the reference adds them."""
  from transformers import AutoTokenizer
  tokenizer = AutoTokenizer.from_pretrained(directory)
  missing = [t for t in ("[FLERT]", config.ent_token, config.sep_token) if t not in tokenizer.get_vocab()]
  if missing:
    tokenizer.add_tokens(missing, special_tokens=True)
  return tokenizer


def convert_gliner_checkpoint(src: str, dst: str, dtype: Any = None) -> str:
  """gliner 0.2.x checkpoint directory -> gliner_jax checkpoint directory; returns dst."""
  from gliner_jax.checkpoint import save_checkpoint
  config, params = load_gliner_state(src)
  tokenizer = load_reference_tokenizer(src, config)
  ent_id = tokenizer.convert_tokens_to_ids(config.ent_token)
  if config.class_token_index not in (-1, ent_id):
    raise ConversionError(f"gliner_config.json class_token_index={config.class_token_index} but the "
                          f"tokenizer maps {config.ent_token!r} to {ent_id}")
  config = config.replace(class_token_index=ent_id)
  save_checkpoint(dst, config, params, tokenizer, dtype=dtype)
  return dst


def convert_hf_encoder(src: str, dst: str, dtype: Any = None) -> str:
  """Hugging Face encoder directory -> dst/{encoder_config.json, params.safetensors, tokenizer}; returns dst.

  `dtype` (e.g. "bfloat16") casts the parameters for shipping; `load_converted_encoder` upcasts them.

  Example:
    >>> convert_hf_encoder("all-MiniLM-L6-v2/", "minilm_jax/", dtype="bfloat16")
  """
  from transformers import AutoTokenizer
  from gliner_jax.checkpoint import PARAMS_FILE, flatten_params
  from gliner_jax.encoders.hf_weights import load_hf_encoder
  from safetensors.numpy import save_file
  config, params = load_hf_encoder(src)
  flat = flatten_params(params)
  if dtype is not None:
    import ml_dtypes  # shipped with jax
    target = np.dtype(ml_dtypes.bfloat16) if str(dtype) == "bfloat16" else np.dtype(dtype)
    flat = {k: v.astype(target) for k, v in flat.items()}
  tokenizer = AutoTokenizer.from_pretrained(src)
  os.makedirs(dst, exist_ok=True)
  save_file({k: np.ascontiguousarray(v) for k, v in flat.items()}, os.path.join(dst, PARAMS_FILE),
            metadata={"format": "gliner_jax_encoder"})
  with open(os.path.join(dst, ENCODER_CONFIG_FILE), "w") as f:
    json.dump(config.to_dict(), f, indent=2, sort_keys=True)
  tokenizer.save_pretrained(dst)
  return dst


def load_converted_encoder(directory: str, dtype: Any = np.float32) -> tuple[EncoderConfig, dict[str, Any]]:
  """Reads what `convert_hf_encoder` wrote: (EncoderConfig, params cast to `dtype`; None keeps them)."""
  from gliner_jax.checkpoint import PARAMS_FILE, unflatten_params
  from safetensors.numpy import load_file
  for name in (ENCODER_CONFIG_FILE, PARAMS_FILE):
    if not os.path.exists(os.path.join(directory, name)):
      raise FileNotFoundError(f"{directory} is not a converted encoder: {name} is missing")
  with open(os.path.join(directory, ENCODER_CONFIG_FILE)) as f:
    config = EncoderConfig.from_dict(json.load(f))
  flat = load_file(os.path.join(directory, PARAMS_FILE))
  if dtype is not None:
    flat = {k: v.astype(dtype) for k, v in flat.items()}
  return config, unflatten_params(flat)
