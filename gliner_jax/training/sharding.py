"""Meshes and logical-axis sharding: parameters carry logical names, the config maps them to mesh axes.

Example (a dense layer whose kernel is named ("embed", "mlp"): fsdp x tensor):
  >>> mesh = make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
  >>> init = nn.with_logical_partitioning(nn.initializers.lecun_normal(), ("embed", "mlp"))
  >>> abstract_boxed_state = jax.eval_shape(nn.Dense(4, kernel_init=init).init, jax.random.key(0), np.ones((1, 8)))
  >>> shardings = logical_shardings(abstract_boxed_state, mesh, DEFAULT_RULES)
  >>> tuple(shardings["params"]["kernel"].spec), tuple(shardings["params"]["bias"].spec)
  (('fsdp', 'tensor'), (None,))
"""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

MESH_AXES = ("data", "fsdp", "tensor")

# Logical axis -> mesh axes. Batch over data x fsdp; weights' model dimension over fsdp (ZeRO-3 style),
# hidden/heads dimensions over tensor. Tables whose sizes rarely divide (vocab) stay replicated.
DEFAULT_RULES: tuple[tuple[str, Any], ...] = (
  ("batch", ("data", "fsdp")),
  ("embed", "fsdp"),
  ("mlp", "tensor"),
  ("heads", "tensor"),
  ("joined_kv", "tensor"),
  ("lstm_gates", "tensor"),
  ("vocab", None),
  ("kv", None),
  ("norm", None),
  ("rel_pos", None),
  ("type_vocab", None),
  ("pos_vocab", None),
  ("lstm_in", None),
  ("embed_in", None),
  ("conv_width", None),
  ("qkv", None),  # ModernBERT's fused q/k/v stack (3)
  ("glu", None),  # ModernBERT's GeGLU (input, gate) stack (2)
  ("layers", None),  # the leading axis of scanned encoder layers (scan_layers)
)


def make_mesh(shape: Mapping[str, int], devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A mesh with the given named axis sizes; one size may be -1 (all remaining devices).

  Axes are `AxisType.Auto` so shardings propagate through the program from the in/out shardings.
  """
  devices = list(devices if devices is not None else jax.devices())
  names = tuple(shape.keys())
  sizes = [int(s) for s in shape.values()]
  if sizes.count(-1) > 1:
    raise ValueError(f"mesh {dict(shape)}: at most one axis may be -1")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f"mesh {dict(shape)}: {len(devices)} devices are not divisible by {known}")
    sizes[sizes.index(-1)] = len(devices) // known
  if math.prod(sizes) != len(devices):
    raise ValueError(f"mesh {dict(zip(names, sizes))} needs {math.prod(sizes)} devices, {len(devices)} are available")
  return jax.make_mesh(tuple(sizes), names, axis_types=(AxisType.Auto,) * len(names), devices=devices)


def _axis_size(mesh: Mesh, axes) -> int:
  if axes is None:
    return 1
  axes = (axes,) if isinstance(axes, str) else axes
  return math.prod(mesh.shape[a] for a in axes)


def fit_spec(spec: P, shape: Sequence[int], mesh: Mesh, name: str = "") -> P:
  """Drops the mesh axes of dimensions they do not divide (those dimensions are replicated)."""
  dims = list(spec) + [None] * (len(shape) - len(spec))
  fitted = []
  for size, axes in zip(shape, dims):
    if axes is not None and size % _axis_size(mesh, axes):
      logging.info("sharding: %s dim of size %d not divisible by %s; replicated", name, size, axes)
      axes = None
    fitted.append(axes)
  return P(*fitted)


def logical_shardings(abstract_boxed: Any, mesh: Mesh, rules: Sequence[tuple[str, Any]]) -> Any:
  """NamedShardings for a tree of (possibly `nn.LogicallyPartitioned`) abstract arrays.

  The result has the structure of the unboxed tree (so it can be zipped with the state, e.g. for
  checkpoint restore); unannotated leaves are replicated.
  """
  specs = nn.get_partition_spec(abstract_boxed)
  mesh_specs = nn.logical_to_mesh(specs, rules)
  shapes = nn.meta.unbox(abstract_boxed)

  def sharding(spec, leaf):
    if hasattr(leaf, "shape"):
      return NamedSharding(mesh, fit_spec(spec, leaf.shape, mesh))
    if not jax.tree.leaves(leaf):  # an empty node (e.g. optax's MaskedNode) stays as it is
      return leaf
    return NamedSharding(mesh, P())

  return jax.tree.map(sharding, mesh_specs, shapes, is_leaf=lambda x: isinstance(x, P))


def batch_sharding(mesh: Mesh, rules: Sequence[tuple[str, Any]]) -> NamedSharding:
  """Sharding of every batch array: the leading (batch) dimension over the 'batch' rule's axes."""
  return NamedSharding(mesh, nn.logical_to_mesh_axes(("batch",), rules))


def shard_batch(
  batch: Mapping[str, np.ndarray], sharding: NamedSharding, global_batch: int | None = None
) -> dict[str, jax.Array]:
  """Host numpy batch (this process's rows) -> global device arrays with the batch sharding.

  `global_batch` (the rows of all processes together) is needed where processes hold the same rows
  (a mesh axis spanning hosts outside the batch axes); by default each process holds its own.
  """
  if jax.process_count() == 1:
    return jax.device_put(dict(batch), sharding)
  shape = lambda v: None if global_batch is None else (global_batch, *v.shape[1:])
  return {k: jax.make_array_from_process_local_data(sharding, v, shape(v)) for k, v in batch.items()}


def check_batch_divisible(batch_size: int, mesh: Mesh, rules: Sequence[tuple[str, Any]]) -> None:
  n = _axis_size(mesh, dict(rules).get("batch"))
  if batch_size % n:
    raise ValueError(f"batch_size={batch_size} is not divisible by the {n} devices of the batch axes")
