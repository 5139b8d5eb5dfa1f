"""Reduced-precision prediction from the same float32 checkpoint: bfloat16 matmuls, int8 encoder kernels.

XLA's CPU backend runs a dot of bfloat16 operands at about twice the float32 rate when the dot
accumulates and returns float32, but a dot that returns bfloat16 is computed as a float32 dot between
two conversions (so flax's own `dtype=jnp.bfloat16` is no faster on CPU). Reduced precision is
therefore applied per dense layer, by a flax method interceptor, while the model stays float32:

  dtype="bfloat16"  every `nn.Dense` reads its input and its kernel (stored so) in bfloat16 and
                    accumulates in float32; layer norms, attention, the LSTM and the span head's
                    einsums stay float32.
  quantize="int8"   the encoder's dense kernels are stored as int8 with one float32 scale per output
                    column (symmetric, max |w| -> 127), dequantized in the matmul:
                    y = (x @ q) * scale + bias, with q read in the compute dtype (exact: |q| <= 127).

Example (a two-layer stand-in whose first layer is named like the encoder):
  >>> class Tiny(nn.Module):
  ...   @nn.compact
  ...   def __call__(self, x):
  ...     return nn.Dense(2, name="head")(nn.Dense(4, name="encoder")(x))
  >>> model, x = Tiny(), np.ones((1, 3), np.float32)
  >>> params = model.init(jax.random.key(0), x)["params"]
  >>> precision = Precision.of(dtype="bfloat16", quantize="int8")
  >>> variables = precision.prepare(model, params, {"x": x})
  >>> variables["params"]["encoder"]["kernel"].dtype, variables["params"]["head"]["kernel"].dtype
  (dtype('int8'), dtype(bfloat16))
  >>> variables["quant"]["encoder"]["scale"].shape
  (4,)
  >>> out = precision.apply(model, variables, x)
  >>> out.shape, out.dtype, bool(np.allclose(out, model.apply({"params": params}, x), atol=0.05))
  ((1, 2), dtype('float32'), True)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

QUANT = "quant"  # the variable collection holding the int8 kernels' scales
DTYPES = ("float32", "bfloat16")
QUANTIZE = (None, "int8")


def _dtype_name(dtype: Any) -> str:
  name = jnp.dtype(dtype).name if dtype is not None else "float32"
  if name not in DTYPES:
    raise ValueError(f"dtype={dtype!r}: prediction computes in one of {DTYPES}")
  return name


@dataclasses.dataclass(frozen=True)
class Precision:
  """The dtype dense layers multiply in and how the encoder's kernels are stored.

  Example:
    >>> Precision.of(jnp.bfloat16).dtype
    'bfloat16'
  """

  dtype: str = "float32"
  quantize: str | None = None

  @classmethod
  def of(cls, dtype: Any = "float32", quantize: str | None = None) -> "Precision":
    if quantize not in QUANTIZE:
      raise ValueError(f"quantize={quantize!r}: use one of {QUANTIZE}")
    return cls(_dtype_name(dtype), quantize)

  @classmethod
  def parse(cls, name: str) -> "Precision":
    """A precision from its name: "float32", "bfloat16", "int8" (float32 with int8 kernels), "bfloat16+int8".

    Example:
      >>> Precision.parse("bfloat16+int8")
      Precision(dtype='bfloat16', quantize='int8')
    """
    kw: dict[str, str] = {}
    for part in name.split("+"):
      if part == "int8":
        kw["quantize"] = "int8"
      elif part in DTYPES:
        kw["dtype"] = part
      else:
        raise ValueError(f"unknown precision part {part!r} in {name!r}: use float32, bfloat16, int8 or dtype+int8")
    return cls.of(**kw)

  def as_kwargs(self) -> dict[str, Any]:
    """The `GLiNER(...)` / `from_pretrained(...)` arguments for this precision."""
    return {"dtype": self.dtype, "quantize": self.quantize}

  @property
  def is_default(self) -> bool:
    return self == Precision()

  def prepare(self, model: nn.Module, params: Any, example_batch: dict[str, np.ndarray]) -> dict[str, Any]:
    """The variables `apply` reads: params with the dense kernels cast or quantized (+ int8 scales).

    `example_batch` is any valid padded batch; it is only traced, to find the dense layers called.
    """
    if self.is_default:
      return {"params": params}
    flat = traverse_util.flatten_dict(params)
    scales = {}
    for path in dense_paths(model, {"params": params}, example_batch):
      key = path + ("kernel",)
      if self.quantize == "int8" and path[0].endswith("encoder"):
        flat[key], scales[path + ("scale",)] = quantize_int8(flat[key])
      elif self.dtype != "float32":
        flat[key] = jnp.asarray(flat[key], self.dtype)
    variables = {"params": traverse_util.unflatten_dict(flat)}
    if scales:
      variables[QUANT] = traverse_util.unflatten_dict(scales)
    return variables

  def apply(self, model: nn.Module, variables: dict[str, Any], *args, **kwargs):
    """`model.apply(variables, ...)`, its dense layers computed at this precision."""
    if self.is_default:
      return model.apply(variables, *args, **kwargs)
    with nn.intercept_methods(_dense_interceptor(jnp.dtype(self.dtype))):
      return model.apply(variables, *args, **kwargs)


def quantize_int8(kernel) -> tuple[jax.Array, jax.Array]:
  """Symmetric per-output-column int8: (q int8 [in, out], scale float32 [out]) with kernel ~= q * scale.

  Example:
    >>> q, s = quantize_int8(np.array([[0.5, -2.0], [1.0, 1.0]]))
    >>> q.tolist(), (s * 127).round(3).tolist()
    ([[64, -127], [127, 64]], [1.0, 2.0])
  """
  kernel = np.asarray(kernel, np.float32)
  scale = np.abs(kernel).max(axis=0) / 127.0
  scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
  q = np.clip(np.rint(kernel / scale), -127, 127).astype(np.int8)
  return jnp.asarray(q), jnp.asarray(scale)


def _is_dense_call(context) -> bool:
  return type(context.module) is nn.Dense and context.method_name == "__call__"


def dense_paths(model: nn.Module, variables: dict[str, Any], batch: dict[str, np.ndarray]) -> list[tuple[str, ...]]:
  """Module paths of the `nn.Dense` layers that `model.apply(variables, **batch)` calls (traced, not run).

  Example (on a GLiNER model the first path is ``('encoder', 'layer_0', 'attention', 'key')``):
    >>> model, x = nn.Sequential([nn.Dense(4), nn.Dense(2)]), np.ones((1, 3), np.float32)
    >>> dense_paths(model, model.init(jax.random.key(0), x), {"inputs": x})
    [('layers_0',), ('layers_1',)]
  """
  found = set()

  def record(next_fun, args, kwargs, context):
    if _is_dense_call(context):
      found.add(tuple(context.module.path))
    return next_fun(*args, **kwargs)

  def run(v, b):
    with nn.intercept_methods(record):
      return model.apply(v, **b)

  jax.eval_shape(run, variables, batch)
  return sorted(found)


def _dense_interceptor(compute_dtype):
  def intercept(next_fun, args, kwargs, context):
    if not _is_dense_call(context):
      return next_fun(*args, **kwargs)
    module = context.module
    x = args[0] if args else kwargs["inputs"]
    kernel = nn.meta.unbox(module.get_variable("params", "kernel"))
    dims = (((x.ndim - 1,), (0,)), ((), ()))
    y = jax.lax.dot_general(
      x.astype(compute_dtype), kernel.astype(compute_dtype), dims, preferred_element_type=jnp.float32
    )
    if module.has_variable(QUANT, "scale"):
      y = y * module.get_variable(QUANT, "scale")
    if module.use_bias:
      y = y + nn.meta.unbox(module.get_variable("params", "bias")).astype(jnp.float32)
    return y.astype(module.dtype or x.dtype)

  return intercept
