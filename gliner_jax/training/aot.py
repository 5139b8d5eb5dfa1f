"""Ahead-of-time compilation of the sharded train step for TPU topologies, on any host (no TPU needed).

libtpu provides compile-only TPU devices for a topology name such as "v5e:2x4". On a CPU host keep it
out of the main environment (there every `import jax` would load the TPU runtime and print errors):
install it into a folder of its own and name that folder in $GLINER_JAX_LIBTPU_DIR, which only the AOT
compile puts on the path (scripts/setup.sh test: `pip install --no-deps --target .venv-libtpu
libtpu==0.0.42.1`; scripts/aot_compile.py finds `.venv-libtpu` by itself). The train step of
`gliner_jax.training.loop.build` is lowered with abstract, sharded inputs and compiled by the real TPU compiler.
The compiled program reports its per-device memory, its FLOPs and its collectives, so a config can be
sized for a pod slice before renting one. Every kind of model the loop trains compiles: span heads
(markerV0, marker), token_level, and bi-encoders (a labels encoder; `config.model.labels_encoder`). Without
explicit shapes, the step is compiled for the one shape a multi-host run pads every batch to
(`training_shape`: `recipe.fixed_shape`, the largest shape the config names).

Example (not run as a doctest: it needs libtpu, see above; tests/test_aot.py compiles under it):
  >>> from gliner_jax.configs import gliner_small
  >>> report = compile_train_step(gliner_small.get_config(), "v5e:2x4", batch_size=16)  # doctest: +SKIP
  >>> print(report.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import math
import os
import re
import sys
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from gliner_jax.data.bi_encoder import batch_recipe, label_axis
from gliner_jax.data.recipe import RecipeConfig, encoder_token_limit, named_shapes
from gliner_jax.training import sharding as shd
from gliner_jax.training.kinds import TrainingKind, training_kind
from gliner_jax.training.model_init import abstract_starting_point

GIB = 1024**3
# HBM per JAX device (megacore chips, v4 and v5p, are one device per chip).
TPU_HBM_GIB = {"v4": 32, "v5e": 16, "v5p": 95, "v6e": 32}
_CHIP_CONFIG = {"v4": "megacore", "v5p": "megacore"}
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
_COLLECTIVE_RE = re.compile(r"\s(" + "|".join(COLLECTIVES) + r")(?:-start)?\(")
_OOM_MARKERS = ("RESOURCE_EXHAUSTED", "Ran out of memory", "out of memory")
LIBTPU_DIR_ENV = "GLINER_JAX_LIBTPU_DIR"
LIBTPU_PIN = "libtpu==0.0.42.1"  # the version jax[tpu]==0.10.2 pins
# Tokens per label of a bi-encoder's batch (a `LABEL_TOKEN_BUCKETS` bucket): 16 holds labels of up to 14
# subtokens, so a batch of open Pile-NER types rarely needs more.
DEFAULT_LABEL_TOKENS = 16


@dataclasses.dataclass
class AOTReport:
  """What the TPU compiler says about one train step: per-device memory, FLOPs, collectives."""

  topology: str
  device_kind: str
  num_devices: int
  mesh_shape: dict[str, int]
  batch_size: int
  tokens: int
  words: int
  types: int
  compute_dtype: str
  argument_bytes: int
  output_bytes: int
  alias_bytes: int
  temp_bytes: int
  generated_code_bytes: int
  flops_per_device: float
  collectives: dict[str, int]
  hbm_bytes: int
  compile_seconds: float
  span_mode: str = "markerV0"
  label_tokens: int = 0  # a bi-encoder's tokens per label (its `types` is the batch's label axis); else 0
  remat_policy: str = "none"  # the encoder layer stack's (config.model.remat_policy, scan_layers)
  scan_layers: bool = False
  lower_seconds: float = 0.0  # tracing and lowering to HLO, before `compile_seconds`

  @property
  def peak_bytes(self) -> int:
    """Live bytes at the peak: inputs, outputs not aliased to (donated) inputs, scratch, and code."""
    return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes + self.generated_code_bytes

  @property
  def fits(self) -> bool:
    return self.peak_bytes <= self.hbm_bytes

  @property
  def flops(self) -> float:
    """FLOPs of one step over all devices."""
    return self.flops_per_device * self.num_devices

  def summary(self) -> str:
    mesh = ",".join(f"{k}={v}" for k, v in self.mesh_shape.items())
    colls = ", ".join(f"{k} x{v}" for k, v in self.collectives.items() if v) or "none"
    types = f"labels {self.types} x {self.label_tokens} tokens" if self.label_tokens else f"types {self.types}"
    return "\n".join(
      [
        f"topology {self.topology} ({self.num_devices} x {self.device_kind}), mesh {mesh}",
        f"batch {self.batch_size} x tokens {self.tokens}, words {self.words}, {types}, {self.span_mode}, "
        f"{self.compute_dtype}; remat {self.remat_policy}, scan_layers {self.scan_layers}; "
        f"lowered in {self.lower_seconds:.0f} s, compiled in {self.compile_seconds:.0f} s",
        f"per-device memory: arguments {_fmt(self.argument_bytes)}, outputs {_fmt(self.output_bytes)} "
        f"(aliased {_fmt(self.alias_bytes)}), temporaries {_fmt(self.temp_bytes)}, code "
        f"{_fmt(self.generated_code_bytes)}",
        f"peak {_fmt(self.peak_bytes)} of {self.hbm_bytes / GIB:.0f} GiB HBM: "
        f"{'fits' if self.fits else 'DOES NOT FIT'}",
        f"FLOPs per step: {self.flops:.3e} ({self.flops_per_device:.3e} per device)",
        f"collectives: {colls}",
      ]
    )


def _fmt(num_bytes: int) -> str:
  return f"{num_bytes / GIB:.2f} GiB" if num_bytes >= GIB else f"{num_bytes / 2**20:.1f} MiB"


def chip_name(topology: str) -> str:
  return topology.split(":", 1)[0].lower()


def import_libtpu() -> None:
  """Makes libtpu importable (jax finds the TPU compiler through it): from the environment, else from the
  folder named by $GLINER_JAX_LIBTPU_DIR (a `pip install --target` folder), put first on sys.path."""
  try:
    import libtpu  # noqa: F401

    return
  except ImportError:
    pass
  folder = os.environ.get(LIBTPU_DIR_ENV)
  if folder and os.path.isdir(os.path.join(folder, "libtpu")):
    sys.path.insert(0, os.path.abspath(folder))
    import libtpu  # noqa: F401

    return
  where = f"{LIBTPU_DIR_ENV}={folder} has no libtpu package" if folder else f"{LIBTPU_DIR_ENV} is not set"
  raise RuntimeError(
    f"AOT compiles for TPU need libtpu, not importable here ({where}): install it into a folder "
    f"of its own, pip install --no-deps --target .venv-libtpu {LIBTPU_PIN}, and set "
    f'{LIBTPU_DIR_ENV}=.venv-libtpu (on a TPU VM: pip install "jax[tpu]=={jax.__version__}")'
  )


def topology_devices(topology: str) -> list[Any]:
  """Compile-only TPU devices for a topology name "CHIP:AxB[xC]" (v4, v5e, v5p, v6e); needs libtpu
  (`import_libtpu`)."""
  import_libtpu()
  if ":" not in topology or chip_name(topology) not in TPU_HBM_GIB:
    raise ValueError(
      f"topology {topology!r}: expected CHIP:SHAPE with CHIP in {sorted(TPU_HBM_GIB)}, e.g. 'v5e:2x4' or 'v4:2x2x1'"
    )
  # Lets this process load libtpu while another process (e.g. a test run) holds its lock file.
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
  from jax.experimental import topologies

  try:
    desc = topologies.get_topology_desc(
      topology, "tpu", chip_config_name=_CHIP_CONFIG.get(chip_name(topology), "default")
    )
  except jax.errors.JaxRuntimeError as e:
    raise ValueError(f"libtpu rejects topology {topology!r}: {e}") from e
  return list(desc.devices)


def count_collectives(hlo_text: str) -> dict[str, int]:
  """Collective ops in an (optimized) HLO module; async pairs count once (their -start op)."""
  counts = collections.Counter(m.group(1) for m in _COLLECTIVE_RE.finditer(hlo_text))
  return {name: counts.get(name, 0) for name in COLLECTIVES}


def training_shape(config, start=None) -> tuple[int, int, int]:
  """(tokens, words, types) of the one shape a multi-host run of `config` pads every batch to
  (`recipe.fixed_shape`, forced on several processes): the largest shape the config names
  (`gliner_jax.data.recipe.named_shapes`; tokens from `recipe.max_tokens`, else the encoder's limit). For a
  bi-encoder, types is the batch's label axis (`gliner_jax.data.bi_encoder.label_axis`: max_types x
  batch_size, bucketed, a multiple of the batch). `start` defaults to `abstract_starting_point(config.model)`.

  Example:
    >>> from gliner_jax.configs import tiny
    >>> training_shape(tiny.get_config())   # max_tokens 128, max_len 48, max_types 8
    (128, 48, 8)
  """
  model = (start or abstract_starting_point(config.model)).config
  overrides = {**dict(config.get("recipe", {})), "fixed_shape": True}
  recipe = RecipeConfig.from_model_config(model, batch_size=int(config.train.batch_size), **overrides)
  limit = recipe.max_tokens if recipe.max_tokens is not None else encoder_token_limit(model)
  encodes_labels = training_kind(model).encodes_labels
  if encodes_labels:
    recipe = batch_recipe(recipe)
  (shape,) = named_shapes(recipe, limit)
  types = label_axis(shape.types, recipe) if encodes_labels else shape.types
  return shape.tokens, shape.words, types


def default_shapes(
  config, tokens: int | None = None, words: int | None = None, types: int | None = None, start=None
) -> tuple[int, int, int]:
  """(tokens, words, types): those given, the others the training run's (`training_shape`). A bi-encoder's
  types (its batch's label axis, split over the rows) is rounded up to a multiple of the batch size."""
  start = start or abstract_starting_point(config.model)
  if None in (tokens, words, types):
    default = training_shape(config, start)
    tokens, words, types = (default[i] if v is None else v for i, v in enumerate((tokens, words, types)))
  tokens, words, types = int(tokens), int(words), int(types)
  for name, value in (("tokens", tokens), ("words", words), ("types", types)):
    if value < 1:
      raise ValueError(f"{name} must be positive, got {value}")
  if words > tokens:
    raise ValueError(f"words={words} > tokens={tokens}: every word needs at least one token")
  if training_kind(start.config).encodes_labels:
    batch = int(config.train.batch_size)
    types = -(-types // batch) * batch
  return tokens, words, types


def abstract_batch(
  batch_size: int,
  tokens: int,
  words: int,
  types: int,
  max_width: int,
  sharding,
  kind: TrainingKind,
  label_tokens: int = 0,
) -> dict[str, jax.ShapeDtypeStruct]:
  """Shapes and dtypes of one training batch of model kind `kind` (`gliner_jax.training.kinds.training_kind`), with
  the batch sharding: the text inputs, the labels (in the prompt: type_token_index; for a kind that
  `encodes_labels`, the `types` labels as labels_input_ids / labels_attention_mask [B, types / B, label_tokens], as
  `gliner_jax.data.bi_encoder` builds them) and the kind's `target_shapes`."""

  def spec(shape, dtype):
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)

  b = batch_size
  batch = dict(
    input_ids=spec((b, tokens), jnp.int32),
    attention_mask=spec((b, tokens), jnp.int32),
    word_token_index=spec((b, words), jnp.int32),
    num_words=spec((b,), jnp.int32),
    type_mask=spec((b, types), jnp.bool_),
  )
  if kind.encodes_labels:
    if types % b:
      raise ValueError(f"a bi-encoder batch's {types} labels must split evenly over its {b} rows")
    if label_tokens < 1:
      raise ValueError("a kind that encodes its labels needs label_tokens >= 1 (the tokens of each label)")
    batch["labels_input_ids"] = spec((b, types // b, label_tokens), jnp.int32)
    batch["labels_attention_mask"] = spec((b, types // b, label_tokens), jnp.int32)
  else:
    batch["type_token_index"] = spec((b, types), jnp.int32)
  for name, (shape, dtype) in kind.target_shapes(b, words, types, max_width).items():
    batch[name] = spec(shape, dtype)
  return batch


def _with_overrides(config, batch_size: int | None, mesh_shape: Mapping[str, int] | None):
  config = copy.deepcopy(config)
  if batch_size is not None:
    config.train.batch_size = int(batch_size)
  if mesh_shape is not None:
    config.mesh.shape = {k: int(v) for k, v in dict(mesh_shape).items()}
  return config


def compile_train_step(
  config,
  topology: str,
  mesh_shape: Mapping[str, int] | None = None,
  batch_size: int | None = None,
  seq_tokens: int | None = None,
  words: int | None = None,
  types: int | None = None,
  label_tokens: int | None = None,
) -> AOTReport:
  """Compiles `build(config).train_step` for a TPU topology and reports memory, FLOPs and collectives.

  `mesh_shape` (default `config.mesh.shape`; one axis may be -1) and `batch_size` (default
  `config.train.batch_size`, the global batch) override the config. Shapes default to `default_shapes`
  (the training run's fixed shape); a bi-encoder's `types` is its batch's label axis and `label_tokens`
  (default `DEFAULT_LABEL_TOKENS`) the tokens of each label.
  A program that does not fit in HBM is still reported (with `fits=False`) when the compiler gets
  that far; a compiler out-of-memory error is raised as MemoryError.

  Example (not run as a doctest: it needs libtpu, see the module docstring):
    >>> r = compile_train_step(tiny.get_config(), "v5e:2x2", {"data": 4, "fsdp": 1, "tensor": 1})  # doctest: +SKIP
    >>> r.collectives["all-reduce"] > 0  # doctest: +SKIP
    True
  """
  from gliner_jax.training.loop import build

  devices = topology_devices(topology)
  config = _with_overrides(config, batch_size, mesh_shape)
  start = abstract_starting_point(config.model)
  tokens, words, types = default_shapes(config, seq_tokens, words, types, start=start)
  mesh = shd.make_mesh(dict(config.mesh.shape), devices=devices)
  if tokens > start.config.encoder.max_sequence_length:
    raise ValueError(
      f"tokens={tokens} > {start.config.encoder.max_sequence_length}, the most the encoder reads (its position table)"
    )
  kind = training_kind(start.config)
  labels_encoder = start.config.labels_encoder
  if not kind.encodes_labels:
    if label_tokens:
      raise ValueError("label_tokens is for a bi-encoder (config.model.labels_encoder); this model reads a prompt")
    label_tokens = 0
  else:
    label_tokens = int(label_tokens or DEFAULT_LABEL_TOKENS)
    if label_tokens > labels_encoder.max_sequence_length:
      raise ValueError(
        f"label_tokens={label_tokens} > {labels_encoder.max_sequence_length}, the most the labels encoder reads"
      )
  parts = build(config, mesh=mesh, start=start)
  state = jax.eval_shape(parts.init_fn, jax.random.key(0))  # carries the state shardings
  batch = abstract_batch(
    config.train.batch_size,
    tokens,
    words,
    types,
    parts.config.max_width,
    parts.batch_sharding,
    kind,
    label_tokens=label_tokens,
  )
  rng = jax.ShapeDtypeStruct(
    (), jax.random.key(0).dtype, sharding=jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  )
  t0 = time.perf_counter()
  lowered = parts.train_step.lower(state, batch, rng)
  lower_seconds = time.perf_counter() - t0
  t0 = time.perf_counter()
  try:
    compiled = lowered.compile()
  except jax.errors.JaxRuntimeError as e:
    if any(m in str(e) for m in _OOM_MARKERS):
      raise MemoryError(
        f"{topology}, batch {config.train.batch_size}: the TPU compiler ran out of HBM: {str(e)[:500]}"
      ) from e
    raise
  seconds = time.perf_counter() - t0
  mem = compiled.memory_analysis()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return AOTReport(
    topology=topology,
    device_kind=devices[0].device_kind,
    num_devices=len(devices),
    mesh_shape=dict(mesh.shape),
    batch_size=config.train.batch_size,
    tokens=tokens,
    words=words,
    types=types,
    compute_dtype=config.train.compute_dtype,
    argument_bytes=int(mem.argument_size_in_bytes),
    output_bytes=int(mem.output_size_in_bytes),
    alias_bytes=int(mem.alias_size_in_bytes),
    temp_bytes=int(mem.temp_size_in_bytes),
    generated_code_bytes=int(mem.generated_code_size_in_bytes),
    flops_per_device=float(cost.get("flops", 0.0)),
    collectives=count_collectives(compiled.as_text()),
    hbm_bytes=TPU_HBM_GIB[chip_name(topology)] * GIB,
    compile_seconds=seconds,
    span_mode=parts.config.span_mode,
    label_tokens=label_tokens,
    remat_policy=parts.config.remat_policy,
    scan_layers=parts.config.scan_layers,
    lower_seconds=lower_seconds,
  )


def max_batch_that_fits(
  config,
  topology: str,
  mesh_shape: Mapping[str, int] | None = None,
  seq_tokens: int | None = None,
  words: int | None = None,
  types: int | None = None,
  start: int | None = None,
  limit: int = 4096,
  log=print,
  label_tokens: int | None = None,
) -> tuple[int, list[AOTReport]]:
  """The largest global batch `start * 2**k <= limit` whose train step fits in HBM (0: none fits).

  `start` defaults to the number of batch shards (one row per device). Doubles until a compile does
  not fit; returns the batch size and every report compiled on the way. One compile per step: with
  large models on a small CPU host each one takes minutes.
  """
  devices = topology_devices(topology)
  mesh = shd.make_mesh(dict(mesh_shape or config.mesh.shape), devices=devices)
  batch_axes = dict((k, v) for k, v in config.mesh.rules).get("batch") or ()
  batch_axes = (batch_axes,) if isinstance(batch_axes, str) else tuple(batch_axes)
  shards = math.prod(mesh.shape[a] for a in batch_axes)
  batch, best, reports = int(start or shards), 0, []
  while batch <= limit:
    try:
      report = compile_train_step(config, topology, dict(mesh.shape), batch, seq_tokens, words, types, label_tokens)
    except MemoryError as e:
      log(f"batch {batch}: {e}")
      break
    reports.append(report)
    log(f"batch {batch}: peak {report.peak_bytes / GIB:.2f} GiB, fits={report.fits} ({report.compile_seconds:.0f} s)")
    if not report.fits:
      break
    best, batch = batch, batch * 2
  return best, reports
