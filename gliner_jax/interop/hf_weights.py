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
# The top-level names of each family's bare HF encoder; anything else (pooler, heads, decoder) is ignored.
ROOTS = {
  "bert": ("embeddings.", "encoder."),
  "roberta": ("embeddings.", "encoder."),
  "deberta-v2": ("embeddings.", "encoder."),
  "modernbert": ("embeddings.", "layers.", "final_norm."),
  "t5": ("shared.", "encoder."),
}

# The token embedding table of each family: its bare HF name and its path in our parameter tree.
TOKEN_EMBEDDING_NAMES = {
  "bert": "embeddings.word_embeddings.weight",
  "roberta": "embeddings.word_embeddings.weight",
  "deberta-v2": "embeddings.word_embeddings.weight",
  "modernbert": "embeddings.tok_embeddings.weight",
  "t5": "shared.weight",
}


def token_embedding_path(config: EncoderConfig) -> TreePath:
  """Where the [vocab, width] token embedding table sits in the encoder's parameter tree.

  Example:
      >>> token_embedding_path(EncoderConfig.from_hf_dict({"model_type": "t5"}))
      ('embed_tokens', 'embedding')
  """
  name = TOKEN_EMBEDDING_NAMES[config.model_type]
  return next(t.path for t in _tensor_table(config) if name in (t.hf_name, *t.tied))


@dataclasses.dataclass(frozen=True)
class _Tensor:
  """One HF tensor <-> one leaf of our parameter tree."""

  hf_name: str
  path: TreePath
  # "copy", "transpose" (linear weight), "reverse" (conv weight), "fused" (a linear weight whose output
  # stacks k projections, HF [k*out, in] <-> ours [in, k, out]) or "fused_bias" ([k*out] <-> [k, out]).
  transform: str
  is_layer_norm: bool = False
  tied: tuple[str, ...] = ()  # other HF names of the same tensor (read if hf_name is absent, all written)


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
  if kind == "layer_norm_no_bias":  # also T5's RMSNorm
    return [_Tensor(hf + ".weight", path + ("scale",), "copy")]
  if kind == "fused":
    return [_Tensor(hf + ".weight", path + ("kernel",), "fused")]
  if kind == "fused_bias":
    return [_Tensor(hf + ".weight", path + ("kernel",), "fused"), _Tensor(hf + ".bias", path + ("bias",), "fused_bias")]
  if kind == "embedding":
    return [_Tensor(hf + ".weight", path + ("embedding",), "copy")]
  if kind == "conv":
    return [_Tensor(hf + ".weight", path + ("kernel",), "reverse"), _Tensor(hf + ".bias", path + ("bias",), "copy")]
  raise AssertionError(kind)


def _modernbert_table(config: EncoderConfig) -> list[_Tensor]:
  norm = "layer_norm" if config.norm_bias else "layer_norm_no_bias"
  attn = "linear" if config.attention_bias else "linear_no_bias"
  mlp = "linear" if config.mlp_bias else "linear_no_bias"
  out = _module("embeddings.tok_embeddings", ("tok_embeddings",), "embedding")
  out += _module("embeddings.norm", ("embeddings_norm",), norm)
  for i in range(config.num_hidden_layers):
    hf, ours = f"layers.{i}.", (f"layer_{i}",)
    if i > 0:
      out += _module(hf + "attn_norm", ours + ("attn_norm",), norm)
    out += _module(hf + "attn.Wqkv", ours + ("attention", "qkv"), "fused_bias" if config.attention_bias else "fused")
    out += _module(hf + "attn.Wo", ours + ("attention", "output"), attn)
    out += _module(hf + "mlp_norm", ours + ("mlp_norm",), norm)
    out += _module(hf + "mlp.Wi", ours + ("mlp", "wi"), "fused_bias" if config.mlp_bias else "fused")
    out += _module(hf + "mlp.Wo", ours + ("mlp", "wo"), mlp)
  return out + _module("final_norm", ("final_norm",), norm)


def _t5_table(config: EncoderConfig) -> list[_Tensor]:
  out = [_Tensor("shared.weight", ("embed_tokens", "embedding"), "copy", tied=("encoder.embed_tokens.weight",))]
  out += _module(
    "encoder.block.0.layer.0.SelfAttention.relative_attention_bias", ("relative_attention_bias",), "embedding"
  )
  ffn = ("wi_0", "wi_1", "wo") if config.gated_mlp else ("wi", "wo")
  for i in range(config.num_hidden_layers):
    hf, ours = f"encoder.block.{i}.layer.", (f"layer_{i}",)
    out += _module(hf + "0.layer_norm", ours + ("attention_norm",), "layer_norm_no_bias")
    for hf_name, name in zip("qkvo", ("query", "key", "value", "output")):
      out += _module(hf + "0.SelfAttention." + hf_name, ours + ("attention", name), "linear_no_bias")
    out += _module(hf + "1.layer_norm", ours + ("ffn_norm",), "layer_norm_no_bias")
    for name in ffn:
      out += _module(hf + "1.DenseReluDense." + name, ours + ("ffn", name), "linear_no_bias")
  return out + _module("encoder.final_layer_norm", ("final_norm",), "layer_norm_no_bias")


def _tensor_table(config: EncoderConfig) -> list[_Tensor]:
  """All HF tensors (bare-model names) that make up the encoder described by `config`."""
  if config.model_type == "modernbert":
    return _modernbert_table(config)
  if config.model_type == "t5":
    return _t5_table(config)
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
  if config.model_type in ("modernbert", "t5"):
    return set()
  if not config.uses_position_embeddings:
    names.add("embeddings.position_embeddings.weight")
  if config.model_type == "deberta-v2" and not config.relative_attention:
    names |= {"encoder.LayerNorm.weight", "encoder.LayerNorm.bias"}
  return names


def _expected_shapes(config: EncoderConfig) -> dict[TreePath, tuple[int, ...]]:
  """Flat {path: shape} of the Flax parameters, from an abstract (shape-only) init."""
  from gliner_jax.model.encoders import build_encoder

  ids = jnp.ones((1, 2), jnp.int32)
  abstract = jax.eval_shape(lambda: build_encoder(config).init(jax.random.PRNGKey(0), ids, ids))
  flat = _flatten(nn.meta.unbox(abstract["params"]))
  return {p: tuple(v.shape) for p, v in flat.items()}


# ------------------------------------------------------------------------- helpers
def _flatten(tree: Mapping[str, Any]) -> dict[TreePath, Any]:
  return traverse_util.flatten_dict(dict(tree))


def _unflatten(flat: Mapping[TreePath, Any]) -> dict[str, Any]:
  return traverse_util.unflatten_dict(dict(flat))


def _hf_shape(transform: str, ours: tuple[int, ...]) -> tuple[int, ...]:
  """The HF shape of a tensor whose Flax shape is `ours`."""
  if transform in ("transpose", "reverse"):
    return ours[::-1]
  if transform == "fused":
    return (ours[1] * ours[2], ours[0])
  if transform == "fused_bias":
    return (ours[0] * ours[1],)
  return ours


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


def _detect_base_prefix(names: list[str], roots: tuple[str, ...] = ROOTS["bert"]) -> str:
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
  the family's encoder (`ROOTS`: ``embeddings.*`` / ``encoder.*`` for BERT and DeBERTa, ``embeddings.*``
  / ``layers.*`` / ``final_norm.*`` for ModernBERT, ``shared.*`` / ``encoder.*`` for T5: pooler, LM heads,
  a T5 decoder...) and known unused buffers are ignored. Missing, unexpected (inside the encoder) or
  mis-shaped tensors raise a ValueError listing every offending name; so do tied copies (T5's
  ``encoder.embed_tokens`` beside ``shared``) that differ.

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
  roots = ROOTS[config.model_type]
  base = _detect_base_prefix(list(local), roots)
  unused = _unused_names(config)
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
    want_hf = _hf_shape(t.transform, want)
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

  Names are those of the bare HF model (see `ROOTS`) with `prefix` prepended; tied tensors (T5's
  ``shared`` and ``encoder.embed_tokens``) are written under each name. Raises ValueError if
  `params` does not match `config`.

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
