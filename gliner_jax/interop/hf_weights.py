"""Conversion between Hugging Face encoder state dicts and our Flax parameter trees.

Importing this module does not import torch: safetensors checkpoints are read with
`safetensors.numpy`; only `pytorch_model.bin` files need torch (imported lazily).

Example:
    >>> cfg, params = load_hf_encoder("path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> hidden = build_encoder(cfg).apply({"params": params}, ids, mask)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from gliner_jax.model.encoders.config import EncoderConfig

logger = logging.getLogger(__name__)

TreePath = tuple[str, ...]
# Wrappers used by HF task models around the bare encoder (e.g. BertForMaskedLM -> "bert.").
BASE_PREFIXES = ("bert.", "roberta.", "deberta.", "model.")
_ALIASES = {".weight": ".gamma", ".bias": ".beta"}  # old LayerNorm names


@dataclasses.dataclass(frozen=True)
class _Tensor:
  """One HF tensor <-> one leaf of our parameter tree."""

  hf_name: str
  path: TreePath
  transform: str  # "copy", "transpose" (linear weight) or "reverse" (conv weight)
  is_layer_norm: bool = False


@dataclasses.dataclass(frozen=True)
class HFConversion:
  """Result of `convert_hf_state_dict`: params plus the names that were skipped."""

  params: dict[str, Any]
  ignored: tuple[str, ...]


# ----------------------------------------------------------------------- name table
def _module(hf: str, path: TreePath, kind: str) -> list[_Tensor]:
  if kind == "linear":
    return [_Tensor(hf + ".weight", path + ("kernel",), "transpose"), _Tensor(hf + ".bias", path + ("bias",), "copy")]
  if kind == "linear_no_bias":
    return [_Tensor(hf + ".weight", path + ("kernel",), "transpose")]
  if kind == "layer_norm":
    return [
      _Tensor(hf + ".weight", path + ("scale",), "copy", True),
      _Tensor(hf + ".bias", path + ("bias",), "copy", True),
    ]
  if kind == "embedding":
    return [_Tensor(hf + ".weight", path + ("embedding",), "copy")]
  if kind == "conv":
    return [_Tensor(hf + ".weight", path + ("kernel",), "reverse"), _Tensor(hf + ".bias", path + ("bias",), "copy")]
  raise AssertionError(kind)


def _tensor_table(config: EncoderConfig) -> list[_Tensor]:
  """All HF tensors (bare-model names) that make up the encoder described by `config`."""
  deberta = config.model_type == "deberta-v2"
  out = _module("embeddings.word_embeddings", ("embeddings", "word_embeddings"), "embedding")
  if config.uses_position_embeddings:
    out += _module("embeddings.position_embeddings", ("embeddings", "position_embeddings"), "embedding")
  if config.type_vocab_size > 0:
    out += _module("embeddings.token_type_embeddings", ("embeddings", "token_type_embeddings"), "embedding")
  if deberta and config.word_embedding_size != config.hidden_size:
    out += _module("embeddings.embed_proj", ("embeddings", "embed_proj"), "linear_no_bias")
  out += _module("embeddings.LayerNorm", ("embeddings", "norm"), "layer_norm")

  qkv = ("query_proj", "key_proj", "value_proj") if deberta else ("query", "key", "value")
  separate_pos = deberta and config.relative_attention and not config.share_att_key
  for i in range(config.num_hidden_layers):
    hf, ours = f"encoder.layer.{i}.", (f"layer_{i}",)
    for hf_name, name in zip(qkv, ("query", "key", "value")):
      out += _module(hf + "attention.self." + hf_name, ours + ("attention", name), "linear")
    if separate_pos and "c2p" in config.pos_att_type:
      out += _module(hf + "attention.self.pos_key_proj", ours + ("attention", "pos_key"), "linear")
    if separate_pos and "p2c" in config.pos_att_type:
      out += _module(hf + "attention.self.pos_query_proj", ours + ("attention", "pos_query"), "linear")
    out += _module(hf + "attention.output.dense", ours + ("attention", "output"), "linear")
    out += _module(hf + "attention.output.LayerNorm", ours + ("attention", "norm"), "layer_norm")
    out += _module(hf + "intermediate.dense", ours + ("ffn", "intermediate"), "linear")
    out += _module(hf + "output.dense", ours + ("ffn", "output"), "linear")
    out += _module(hf + "output.LayerNorm", ours + ("ffn", "norm"), "layer_norm")

  if deberta and config.relative_attention:
    out += _module("encoder.rel_embeddings", ("rel_embeddings",), "embedding")
    if config.norm_rel_ebd == "layer_norm":
      out += _module("encoder.LayerNorm", ("rel_norm",), "layer_norm")
  if deberta and config.conv_kernel_size > 0:
    out += _module("encoder.conv.conv", ("conv", "conv"), "conv")
    out += _module("encoder.conv.LayerNorm", ("conv", "norm"), "layer_norm")
  return out


def _unused_names(config: EncoderConfig) -> set[str]:
  """Tensors HF checkpoints may carry inside the encoder that the forward pass never reads."""
  names = {"embeddings.position_ids", "embeddings.token_type_ids"}
  if not config.uses_position_embeddings:
    names.add("embeddings.position_embeddings.weight")
  if config.model_type == "deberta-v2" and not config.relative_attention:
    names |= {"encoder.LayerNorm.weight", "encoder.LayerNorm.bias"}
  return names


def _expected_shapes(config: EncoderConfig) -> dict[TreePath, tuple[int, ...]]:
  """Flat {path: shape} of the Flax parameters, from an abstract (shape-only) init."""
  from gliner_jax.model.encoders.bert import BertEncoder
  from gliner_jax.model.encoders.deberta import DebertaV2Encoder

  cls = DebertaV2Encoder if config.model_type == "deberta-v2" else BertEncoder
  ids = jnp.ones((1, 2), jnp.int32)
  abstract = jax.eval_shape(lambda: cls(config).init(jax.random.PRNGKey(0), ids, ids))
  flat = _flatten(nn.meta.unbox(abstract["params"]))
  return {p: tuple(v.shape) for p, v in flat.items()}


# ------------------------------------------------------------------------- helpers
def _flatten(tree: Mapping[str, Any]) -> dict[TreePath, Any]:
  return traverse_util.flatten_dict(dict(tree))


def _unflatten(flat: Mapping[TreePath, Any]) -> dict[str, Any]:
  return traverse_util.unflatten_dict(dict(flat))


def _to_ours(array: np.ndarray, transform: str) -> np.ndarray:
  if transform == "transpose":
    return array.T
  if transform == "reverse":
    return np.transpose(array, tuple(range(array.ndim))[::-1])
  return array


_to_hf = _to_ours  # every transform is its own inverse


def _detect_base_prefix(names: list[str]) -> str:
  if any(n.startswith(("embeddings.", "encoder.")) for n in names):
    return ""
  for base in BASE_PREFIXES:
    if any(n.startswith(base + "embeddings.") for n in names):
      return base
  return ""


def _as_numpy(value: Any) -> np.ndarray:
  if hasattr(value, "detach"):  # a torch tensor slipped through
    value = value.detach().cpu()
    if str(value.dtype) == "torch.bfloat16":
      value = value.float()
    value = value.numpy()
  return np.asarray(value)


# ---------------------------------------------------------------------- public API
def convert_hf_state_dict(state: Mapping[str, Any], config: EncoderConfig, prefix: str = "") -> HFConversion:
  """Convert an HF state dict to our params and return which names were ignored.

  Only names starting with `prefix` are considered (it is stripped first); a leading
  "bert." / "roberta." / "deberta." / "model." is detected and stripped too. Names outside
  ``embeddings.*`` / ``encoder.*`` (pooler, LM heads...) and known unused buffers are
  ignored. Missing, unexpected (inside the encoder) or mis-shaped tensors raise a
  ValueError listing every offending name.

  Example:
      >>> conv = convert_hf_state_dict(torch_model_state, cfg)  # doctest: +SKIP
      >>> conv.ignored  # doctest: +SKIP
      ('pooler.dense.weight', 'pooler.dense.bias', 'embeddings.position_ids')
  """
  ignored: list[str] = []
  local: dict[str, str] = {}
  for name in state:
    if prefix and not name.startswith(prefix):
      ignored.append(name)
    else:
      local[name[len(prefix) :]] = name
  base = _detect_base_prefix(list(local))
  unused = _unused_names(config)
  inside: dict[str, str] = {}
  for short, original in local.items():
    if not short.startswith(base):
      ignored.append(original)
      continue
    short = short[len(base) :]
    if not short.startswith(("embeddings.", "encoder.")) or short in unused:
      ignored.append(original)
    else:
      inside[short] = original

  expected = _expected_shapes(config)
  table = _tensor_table(config)
  if {t.path for t in table} != set(expected):
    raise AssertionError(
      f"internal error: HF name table and module parameters disagree: {sorted(set(expected) ^ {t.path for t in table})}"
    )

  flat: dict[TreePath, np.ndarray] = {}
  missing: list[str] = []
  bad_shape: list[str] = []
  used: set[str] = set()
  for t in table:
    candidates = [t.hf_name]
    if t.is_layer_norm:
      for new, old in _ALIASES.items():
        if t.hf_name.endswith(new):
          candidates.append(t.hf_name[: -len(new)] + old)
    found = next((c for c in candidates if c in inside), None)
    if found is None:
      missing.append(prefix + base + t.hf_name)
      continue
    used.add(found)
    array = _as_numpy(state[inside[found]])
    want = expected[t.path]
    want_hf = want if t.transform == "copy" else want[::-1]
    if tuple(array.shape) != want_hf:
      bad_shape.append(f"{inside[found]}: got {tuple(array.shape)}, expected {want_hf}")
      continue
    flat[t.path] = np.ascontiguousarray(_to_ours(array, t.transform).astype(np.float32))
  unexpected = sorted(orig for short, orig in inside.items() if short not in used)

  if missing or unexpected or bad_shape:
    parts = []
    if missing:
      parts.append(f"missing {len(missing)} tensor(s): {missing}")
    if unexpected:
      parts.append(f"unexpected {len(unexpected)} tensor(s): {unexpected}")
    if bad_shape:
      parts.append(f"mis-shaped {len(bad_shape)} tensor(s): {bad_shape}")
    raise ValueError(
      f"Cannot convert HF state dict to a {config.model_type} encoder (prefix={prefix + base!r}): " + "; ".join(parts)
    )
  return HFConversion(params=_unflatten(flat), ignored=tuple(ignored))


def encoder_params_from_hf_state_dict(
  state: Mapping[str, Any], config: EncoderConfig, prefix: str = ""
) -> dict[str, Any]:
  """Params pytree (float32 numpy leaves) for `build_encoder(config)` from HF tensors.

  Ignored names (pooler, heads, buffers) are logged at INFO level; see
  `convert_hf_state_dict` for the rules and the errors raised.

  Example:
      >>> params = encoder_params_from_hf_state_dict(hf_model.state_dict(), cfg)  # doctest: +SKIP
      >>> build_encoder(cfg).apply({"params": params}, ids, mask)  # doctest: +SKIP
  """
  result = convert_hf_state_dict(state, config, prefix)
  if result.ignored:
    logger.info("Ignored %d non-encoder tensor(s): %s", len(result.ignored), result.ignored)
  return result.params


def encoder_params_to_hf_state_dict(
  params: Mapping[str, Any], config: EncoderConfig, prefix: str = ""
) -> dict[str, np.ndarray]:
  """Inverse of `encoder_params_from_hf_state_dict`: HF-named float32 numpy tensors.

  Names are those of the bare HF model (``embeddings.*``, ``encoder.*``) with `prefix`
  prepended. Raises ValueError if `params` does not match `config`.

  Example:
      >>> state = encoder_params_to_hf_state_dict(params, cfg, "deberta.")  # doctest: +SKIP
  """
  flat = _flatten(nn.meta.unbox(dict(params)))
  table = _tensor_table(config)
  wanted = {t.path for t in table}
  missing = sorted("/".join(p) for p in wanted - set(flat))
  unexpected = sorted("/".join(p) for p in set(flat) - wanted)
  if missing or unexpected:
    raise ValueError(f"params do not match the {config.model_type} config: missing {missing}, unexpected {unexpected}")
  return {
    prefix + t.hf_name: np.ascontiguousarray(_to_hf(np.asarray(flat[t.path], dtype=np.float32), t.transform))
    for t in table
  }


def _read_weights(directory: Path) -> dict[str, np.ndarray]:
  from gliner_jax.interop.state_dict import read_state_dict

  return read_state_dict(str(directory))


def load_hf_encoder(directory: str | Path, prefix: str = "") -> tuple[EncoderConfig, dict[str, Any]]:
  """Read ``config.json`` + weights of a local HF checkpoint directory.

  Example:
      >>> cfg, params = load_hf_encoder("/models/all-MiniLM-L6-v2")  # doctest: +SKIP
      >>> cfg.model_type, cfg.hidden_size  # doctest: +SKIP
      ('bert', 384)
  """
  directory = Path(directory)
  config_file = directory / "config.json"
  if not config_file.exists():
    raise FileNotFoundError(f"No config.json in {directory}")
  config = EncoderConfig.from_hf_dict(json.loads(config_file.read_text()))
  params = encoder_params_from_hf_state_dict(_read_weights(directory), config, prefix)
  return config, params
