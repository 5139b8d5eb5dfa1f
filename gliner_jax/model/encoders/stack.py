"""An encoder's layer stack with optional rematerialisation (`nn.remat`) and `nn.scan`, and the conversion
between its two parameter layouts.

Two `EncoderConfig` fields (set from `GLiNERConfig.remat_policy` / `scan_layers`, i.e. `config.model.*` of
a training config) choose how `run_layers` applies the `num_hidden_layers` identical layers:

- `remat_policy`: "none" (keep every activation for the backward pass, today's behaviour) or the name of a
  `jax.checkpoint_policies` policy (`REMAT_POLICIES`): each layer is wrapped in `nn.remat` with it, so the
  backward pass recomputes what the policy does not save ("nothing_saveable" keeps only the layer inputs).
- `scan_layers`: the layers run as one `nn.scan` over stacked parameters: XLA compiles one layer body
  instead of L copies. The parameters then live under `layers/...` with a leading [L] axis (logical axis
  name "layers") instead of `layer_0/...`, `layer_1/...`; `stack_layers` / `unstack_layers` convert
  (`match_layer_layout` converts a tree to the layout of another). Checkpoints on disk keep the unscanned
  layout (`gliner_jax.interop.checkpoint.save_checkpoint` unstacks).

Both give the same function and gradients. Remat keeps the dropout masks too; scan draws each layer's
dropout key by splitting the scan's key, so with dropout on its masks differ from the unscanned stack's
(same distribution).

Example (`run_layers` runs inside an encoder's compact `__call__`: see `gliner_jax.model.encoders.bert.module`):
  >>> params = {"encoder": {"layer_0": {"w": np.zeros(2)}, "layer_1": {"w": np.ones(2)}}}
  >>> stacked = stack_layers(params)
  >>> stacked["encoder"]["layers"]["w"].tolist()
  [[0.0, 0.0], [1.0, 1.0]]
  >>> unstack_layers(stacked)["encoder"]["layer_1"]["w"].tolist()
  [1.0, 1.0]
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from gliner_jax.model.encoders.config import REMAT_POLICY_NAMES, EncoderConfig

SCAN_NAME = "layers"
LAYER_PREFIX = "layer_"
_LAYER_KEY = re.compile(r"^layer_(\d+)$")

# Each `remat_policy` name -> its `jax.checkpoint_policies` policy; "none" turns remat off.
REMAT_POLICIES: dict[str, Callable[..., bool] | None] = {
  name: None if name == "none" else getattr(jax.checkpoint_policies, name) for name in REMAT_POLICY_NAMES
}


def check_remat_policy(name: str) -> str:
  """`name` if it is a known remat policy, else ValueError listing them.

  Example:
    >>> check_remat_policy("dots_saveable")
    'dots_saveable'
  """
  if name not in REMAT_POLICIES:
    raise ValueError(f"remat_policy={name!r} is not a known policy; choose one of {sorted(REMAT_POLICIES)}")
  return name


@functools.lru_cache(maxsize=None)
def _layer_body(layer_cls: type[nn.Module], scanned: bool) -> type[nn.Module]:
  """`layer_cls` with `deterministic` as a field (remat and scan trace their call arguments, a Python
  flag must stay static) and, for scan, the (carry, output) return of a scan body."""

  class Body(layer_cls):  # type: ignore[valid-type, misc]
    deterministic: bool = True

    def __call__(self, x, *args):
      y = layer_cls.__call__(self, x, *args, deterministic=self.deterministic)
      return (y, None) if scanned else y

  Body.__name__ = Body.__qualname__ = layer_cls.__name__
  return Body


def run_layers(
  layer_cls: type[nn.Module],
  config: EncoderConfig,
  x: jax.Array,
  args: Sequence[Any],
  *,
  deterministic: bool,
  per_layer: Callable[[int], Mapping[str, Any]] | None = None,
  after_layer: Callable[[int, jax.Array], jax.Array] | None = None,
  **module_kwargs: Any,
) -> jax.Array:
  """Applies `config.num_hidden_layers` layers `layer_cls(config, **module_kwargs)` to `x`; call it from the
  encoder's `@nn.compact __call__` so the layers are its children (`layer_{i}`, or `layers` when scanned).

  `args` go to every layer after `x` (arrays, e.g. the attention mask); `per_layer(i)` adds module fields
  that differ between layers and `after_layer(i, x)` runs between layers: both only without scan (the
  encoder refuses scan_layers where it needs them).

  Example (not run here: it is called inside an encoder module's compact __call__):
    >>> h = run_layers(BertLayer, cfg, h, (key_mask,), deterministic=True, dtype=jnp.float32)  # doctest: +SKIP
  """
  policy_name = check_remat_policy(config.remat_policy)
  scan = config.scan_layers
  if scan and (per_layer is not None or after_layer is not None):
    raise ValueError(f"{layer_cls.__name__}: layers that differ from each other cannot run under scan_layers")
  body = _layer_body(layer_cls, scan)
  if policy_name != "none":
    # Under scan, CSE across iterations cannot undo the remat, so its prevention is not needed.
    body = nn.remat(body, policy=REMAT_POLICIES[policy_name], prevent_cse=not scan)
  if not scan:
    for i in range(config.num_hidden_layers):
      extra = dict(per_layer(i)) if per_layer is not None else {}
      x = body(config, deterministic=deterministic, name=f"{LAYER_PREFIX}{i}", **extra, **module_kwargs)(x, *args)
      if after_layer is not None:
        x = after_layer(i, x)
    return x
  scanned = nn.scan(
    body,
    variable_axes={"params": 0},
    split_rngs={"params": True, "dropout": True},
    in_axes=(nn.broadcast,) * len(args),
    length=config.num_hidden_layers,
    metadata_params={nn.PARTITION_NAME: SCAN_NAME},
  )
  x, _ = scanned(config, deterministic=deterministic, name=SCAN_NAME, **module_kwargs)(x, *args)
  return x


def _layer_keys(tree: Mapping[str, Any]) -> list[str]:
  """The `layer_{i}` keys of `tree` in order; ValueError unless they are layer_0 .. layer_{n-1}."""
  found = sorted((int(m.group(1)), k) for k in tree if (m := _LAYER_KEY.match(k)))
  if [i for i, _ in found] != list(range(len(found))):
    raise ValueError(f"layer keys must run layer_0 .. layer_{{n-1}} without gaps, got {[k for _, k in found]}")
  return [k for _, k in found]


def stack_layers(params: Mapping[str, Any]) -> dict[str, Any]:
  """The scanned layout of `params`: wherever a dict holds `layer_0 .. layer_{n-1}`, they become one
  `layers` subtree whose leaves are the n layers' leaves stacked on a new leading axis.

  Example:
    >>> stack_layers({"layer_0": {"w": np.zeros(2)}, "layer_1": {"w": np.ones(2)}})["layers"]["w"].shape
    (2, 2)
  """
  if not isinstance(params, Mapping):
    return params
  out = {k: stack_layers(v) for k, v in params.items() if not _LAYER_KEY.match(k)}
  keys = _layer_keys(params)
  if keys:
    if SCAN_NAME in params:
      raise ValueError(f"params hold both {SCAN_NAME!r} and {keys[0]!r}: mixed layouts")
    layers = [params[k] for k in keys]
    shapes = [jax.tree.structure(layer) for layer in layers]
    if any(s != shapes[0] for s in shapes):
      raise ValueError(f"{keys}: the layers' parameter trees differ, they cannot be stacked")
    out[SCAN_NAME] = jax.tree.map(lambda *leaves: np.stack([np.asarray(v) for v in leaves]), *layers)
  return out


def unstack_layers(params: Mapping[str, Any]) -> dict[str, Any]:
  """The unscanned layout of `params` (inverse of `stack_layers`): every `layers` subtree with leading
  axis n becomes `layer_0 .. layer_{n-1}`.

  Example:
    >>> unstack_layers({"layers": {"w": np.zeros((2, 3))}})["layer_1"]["w"].shape
    (3,)
  """
  if not isinstance(params, Mapping):
    return params
  out = {k: unstack_layers(v) for k, v in params.items() if k != SCAN_NAME}
  if SCAN_NAME in params:
    stacked = params[SCAN_NAME]
    if _layer_keys(params):
      raise ValueError(f"params hold both {SCAN_NAME!r} and layer_i keys: mixed layouts")
    lengths = {np.shape(v)[0] for v in jax.tree.leaves(stacked)}
    if len(lengths) != 1:
      raise ValueError(f"{SCAN_NAME!r} leaves disagree on the number of layers: {sorted(lengths)}")
    (n,) = lengths
    for i in range(n):
      out[f"{LAYER_PREFIX}{i}"] = jax.tree.map(lambda v, i=i: np.asarray(v)[i], stacked)
  return out


def is_scanned(params: Mapping[str, Any]) -> bool:
  """True when some dict in `params` holds a scanned `layers` subtree."""
  if not isinstance(params, Mapping):
    return False
  return SCAN_NAME in params or any(is_scanned(v) for v in params.values())


def has_layer_keys(params: Mapping[str, Any]) -> bool:
  """True when some dict in `params` holds unscanned `layer_{i}` subtrees."""
  if not isinstance(params, Mapping):
    return False
  return any(_LAYER_KEY.match(k) for k in params) or any(has_layer_keys(v) for v in params.values())


def match_layer_layout(params: Mapping[str, Any] | None, like: Mapping[str, Any]) -> Mapping[str, Any] | None:
  """`params` converted to the layer layout of `like` (stacked when `like` is scanned, else unstacked), e.g.
  unscanned starting weights (an HF encoder, a checkpoint) for a model built with scan_layers.

  Example:
    >>> scanned = {"encoder": {"layers": {"w": np.zeros((2, 3))}}}
    >>> sorted(match_layer_layout({"encoder": {"layer_0": {"w": np.ones(3)}, "layer_1": {"w": np.ones(3)}}},
    ...                           scanned)["encoder"])
    ['layers']
  """
  if params is None:
    return None
  if is_scanned(like) and has_layer_keys(params):
    return stack_layers(params)
  if has_layer_keys(like) and is_scanned(params):
    return unstack_layers(params)
  return params
