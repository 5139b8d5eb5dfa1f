"""Conversion between Hugging Face encoder state dicts and our Flax parameter trees: the generic machinery that
walks a family's weight table (`EncoderFamily.weights`, data in `gliner_jax.model.encoders.<family>.hf`).

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

from gliner_jax.model.encoders import build_encoder
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.families import FAMILIES, get_family
from gliner_jax.model.encoders.weights import HFTensor, TreePath, hf_shape

logger = logging.getLogger(__name__)

# Wrappers used by HF task models around the bare encoder (e.g. BertForMaskedLM -> "bert.").
BASE_PREFIXES = ("bert.", "roberta.", "deberta.", "model.")
_ALIASES = {".weight": ".gamma", ".bias": ".beta"}  # old LayerNorm names
# The token embedding table of each family: its bare HF name (`EncoderFamily.token_embedding`), as registered
# when this module was imported.
TOKEN_EMBEDDING_NAMES = {name: family.token_embedding for name, family in FAMILIES.items()}


def weight_table(config: EncoderConfig) -> list[HFTensor]:
  """All HF tensors (bare-model names) that make up the encoder described by `config`: its family's table.

  Example:
      >>> cfg = EncoderConfig.from_hf_dict({"model_type": "bert", "num_hidden_layers": 2})
      >>> len(weight_table(cfg)), weight_table(cfg)[-1].hf_name
      (37, 'encoder.layer.1.output.LayerNorm.bias')
  """
  return get_family(config.model_type).weights(config)


def token_embedding_path(config: EncoderConfig) -> TreePath:
  """Where the [vocab, width] token embedding table sits in the encoder's parameter tree.

  Example:
      >>> token_embedding_path(EncoderConfig.from_hf_dict({"model_type": "t5"}))
      ('embed_tokens', 'embedding')
  """
  name = get_family(config.model_type).token_embedding
  return next(t.path for t in weight_table(config) if name in (t.hf_name, *t.tied))


@dataclasses.dataclass(frozen=True)
class HFConversion:
  """Result of `convert_hf_state_dict`: params plus the names that were skipped."""

  params: dict[str, Any]
  ignored: tuple[str, ...]


def expected_shapes(config: EncoderConfig) -> dict[TreePath, tuple[int, ...]]:
  """Flat {path: shape} of the Flax parameters, from an abstract (shape-only) init.

  Example:
      >>> cfg = EncoderConfig.from_hf_dict({"model_type": "bert", "vocab_size": 50, "hidden_size": 8,
      ...     "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16})
      >>> expected_shapes(cfg)[("layer_0", "ffn", "intermediate", "kernel")]
      (8, 16)
  """
  ids = jnp.ones((1, 2), jnp.int32)
  abstract = jax.eval_shape(lambda: build_encoder(config).init(jax.random.PRNGKey(0), ids, ids))
  flat = _flatten(nn.meta.unbox(abstract["params"]))
  return {p: tuple(v.shape) for p, v in flat.items()}


# ------------------------------------------------------------------------- helpers
def _flatten(tree: Mapping[str, Any]) -> dict[TreePath, Any]:
  return traverse_util.flatten_dict(dict(tree))


def _unflatten(flat: Mapping[TreePath, Any]) -> dict[str, Any]:
  return traverse_util.unflatten_dict(dict(flat))


def _to_ours(array: np.ndarray, transform: str, shape: tuple[int, ...]) -> np.ndarray:
  if transform in ("transpose", "reverse"):
    return np.transpose(array, tuple(range(array.ndim))[::-1])
  if transform in ("fused", "fused_bias"):
    return array.T.reshape(shape) if transform == "fused" else array.reshape(shape)
  return array


def _to_hf(value: np.ndarray, transform: str) -> np.ndarray:
  if transform in ("transpose", "reverse"):
    return np.transpose(value, tuple(range(value.ndim))[::-1])
  if transform == "fused":
    return value.reshape(value.shape[0], -1).T
  if transform == "fused_bias":
    return value.reshape(-1)
  return value


def _detect_base_prefix(names: list[str], roots: tuple[str, ...]) -> str:
  if any(n.startswith(roots) for n in names):
    return ""
  for base in BASE_PREFIXES:
    if any(n.startswith(base + roots[0]) for n in names):
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
  the family's encoder (`EncoderFamily.hf_roots`: ``embeddings.*`` / ``encoder.*`` for BERT and DeBERTa,
  ``embeddings.*`` / ``layers.*`` / ``final_norm.*`` for ModernBERT, ``shared.*`` / ``encoder.*`` for T5: pooler,
  LM heads, a T5 decoder...) and known unused buffers (`EncoderFamily.unused_weights`) are ignored. Missing,
  unexpected (inside the encoder) or mis-shaped tensors raise a ValueError listing every offending name; so do tied
  copies (T5's ``encoder.embed_tokens`` beside ``shared``) that differ.

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
  family = get_family(config.model_type)
  roots = family.hf_roots
  base = _detect_base_prefix(list(local), roots)
  unused = family.unused_weights(config)
  inside: dict[str, str] = {}
  for short, original in local.items():
    if not short.startswith(base):
      ignored.append(original)
      continue
    short = short[len(base) :]
    if not short.startswith(roots) or short in unused:
      ignored.append(original)
    else:
      inside[short] = original

  expected = expected_shapes(config)
  table = weight_table(config)
  if {t.path for t in table} != set(expected):
    raise AssertionError(
      f"internal error: HF name table and module parameters disagree: {sorted(set(expected) ^ {t.path for t in table})}"
    )

  flat: dict[TreePath, np.ndarray] = {}
  missing: list[str] = []
  bad_shape: list[str] = []
  used: set[str] = set()
  for t in table:
    candidates = [t.hf_name, *t.tied]
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
    want_hf = hf_shape(t.transform, want)
    if tuple(array.shape) != want_hf:
      bad_shape.append(f"{inside[found]}: got {tuple(array.shape)}, expected {want_hf}")
      continue
    for other in t.tied:  # a tied copy must hold the same values
      if other != found and other in inside:
        used.add(other)
        if not np.array_equal(_as_numpy(state[inside[other]]), array):
          bad_shape.append(f"{inside[other]}: tied to {inside[found]} but holds different values")
    flat[t.path] = np.ascontiguousarray(_to_ours(array, t.transform, want).astype(np.float32))
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

  Names are those of the bare HF model (see `EncoderFamily.hf_roots`) with `prefix` prepended; tied tensors (T5's
  ``shared`` and ``encoder.embed_tokens``) are written under each name. Raises ValueError if
  `params` does not match `config`.

  Example:
      >>> state = encoder_params_to_hf_state_dict(params, cfg, "deberta.")  # doctest: +SKIP
  """
  flat = _flatten(nn.meta.unbox(dict(params)))
  table = weight_table(config)
  wanted = {t.path for t in table}
  missing = sorted("/".join(p) for p in wanted - set(flat))
  unexpected = sorted("/".join(p) for p in set(flat) - wanted)
  if missing or unexpected:
    raise ValueError(f"params do not match the {config.model_type} config: missing {missing}, unexpected {unexpected}")
  out = {}
  for t in table:
    value = np.ascontiguousarray(_to_hf(np.asarray(flat[t.path], dtype=np.float32), t.transform))
    for name in (t.hf_name, *t.tied):
      out[prefix + name] = value.copy() if name != t.hf_name else value
  return out


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
