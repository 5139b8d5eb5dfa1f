"""The vocabulary of the HF weight tables: which Hugging Face tensor is which leaf of our parameter tree.

Each encoder family lists its tensors (`EncoderFamily.weights`, built with `tensors`) as data; the
conversion machinery that walks such a table in both directions is `gliner_jax.interop.hf_weights`.

Example:
    >>> [(t.hf_name, t.path, t.transform) for t in tensors("encoder.layer.0.output.dense", ("ffn", "output"), "linear")]
    [('encoder.layer.0.output.dense.weight', ('ffn', 'output', 'kernel'), 'transpose'), \
('encoder.layer.0.output.dense.bias', ('ffn', 'output', 'bias'), 'copy')]
    >>> hf_shape("fused", (16, 3, 8))
    (24, 16)
"""

from __future__ import annotations

import dataclasses

TreePath = tuple[str, ...]
# How an HF tensor becomes our leaf: "copy", "transpose" (linear weight [out, in] -> kernel [in, out]),
# "reverse" (conv weight: all axes reversed), "fused" (a linear weight whose output stacks k projections,
# HF [k*out, in] <-> ours [in, k, out]) or "fused_bias" ([k*out] <-> [k, out]).
TRANSFORMS = ("copy", "transpose", "reverse", "fused", "fused_bias")
# The kinds of HF submodule `tensors` expands.
KINDS = (
  "linear",
  "linear_no_bias",
  "layer_norm",
  "layer_norm_no_bias",
  "fused",
  "fused_bias",
  "embedding",
  "conv",
)


@dataclasses.dataclass(frozen=True)
class HFTensor:
  """One HF tensor <-> one leaf of our parameter tree.

  `is_layer_norm` lets the reader accept the old LayerNorm names (``gamma`` / ``beta``); `tied` holds
  other HF names of the same tensor (read when `hf_name` is absent, all written).
  """

  hf_name: str
  path: TreePath
  transform: str
  is_layer_norm: bool = False
  tied: tuple[str, ...] = ()

  def __post_init__(self) -> None:
    if self.transform not in TRANSFORMS:
      raise ValueError(f"HFTensor {self.hf_name!r}: transform={self.transform!r} (use one of {TRANSFORMS})")


def tensors(hf: str, path: TreePath, kind: str) -> list[HFTensor]:
  """The tensors of one HF submodule named `hf` whose Flax counterpart sits at `path`; `kind` is one of `KINDS`
  ("layer_norm_no_bias" also covers T5's RMSNorm)."""
  if kind == "linear":
    return [HFTensor(hf + ".weight", path + ("kernel",), "transpose"), HFTensor(hf + ".bias", path + ("bias",), "copy")]
  if kind == "linear_no_bias":
    return [HFTensor(hf + ".weight", path + ("kernel",), "transpose")]
  if kind == "layer_norm":
    return [
      HFTensor(hf + ".weight", path + ("scale",), "copy", True),
      HFTensor(hf + ".bias", path + ("bias",), "copy", True),
    ]
  if kind == "layer_norm_no_bias":
    return [HFTensor(hf + ".weight", path + ("scale",), "copy")]
  if kind == "fused":
    return [HFTensor(hf + ".weight", path + ("kernel",), "fused")]
  if kind == "fused_bias":
    return [
      HFTensor(hf + ".weight", path + ("kernel",), "fused"),
      HFTensor(hf + ".bias", path + ("bias",), "fused_bias"),
    ]
  if kind == "embedding":
    return [HFTensor(hf + ".weight", path + ("embedding",), "copy")]
  if kind == "conv":
    return [HFTensor(hf + ".weight", path + ("kernel",), "reverse"), HFTensor(hf + ".bias", path + ("bias",), "copy")]
  raise ValueError(f"unknown HF submodule kind {kind!r}; use one of {KINDS}")


def hf_shape(transform: str, ours: tuple[int, ...]) -> tuple[int, ...]:
  """The HF shape of a tensor whose Flax shape is `ours`."""
  if transform in ("transpose", "reverse"):
    return ours[::-1]
  if transform == "fused":
    return (ours[1] * ours[2], ours[0])
  if transform == "fused_bias":
    return (ours[0] * ours[1],)
  return ours
