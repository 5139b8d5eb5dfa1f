"""AOT compilation of the sharded train step for a TPU topology on the CPU host (needs libtpu)."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from configs import tiny
from gliner_jax import aot
from gliner_jax.model_init import abstract_starting_point

TOPOLOGY = "v5e:2x2"  # 4 chips: the smallest v5e slice libtpu accepts
MESH = {"data": 4, "fsdp": 1, "tensor": 1}
SHAPES = dict(seq_tokens=32, words=16, types=4)


def _needs_libtpu():
  try:
    import libtpu  # noqa: F401
  except ImportError:
    pytest.skip('libtpu is not installed (pip install "jax[tpu]==<jax version>"): no TPU compiler for AOT')


@pytest.fixture(scope="module")
def report() -> aot.AOTReport:
  _needs_libtpu()
  return aot.compile_train_step(tiny.get_config(), TOPOLOGY, MESH, batch_size=8, **SHAPES)


@pytest.fixture(scope="module")
def state_bytes() -> int:
  """Bytes of params + AdamW moments + step of the tiny model (replicated on every device here)."""
  from gliner_jax.train import build
  from gliner_jax import sharding as shd
  cfg = tiny.get_config()
  parts = build(cfg, mesh=shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1]),
                start=abstract_starting_point(cfg.model))
  state = jax.eval_shape(parts.init_fn, jax.random.key(0))
  return sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(state))


def test_report_describes_the_topology(report):
  assert report.num_devices == 4
  assert "v5" in report.device_kind.lower()
  assert report.mesh_shape == MESH
  assert (report.batch_size, report.tokens, report.words, report.types) == (8, 32, 16, 4)
  assert report.hbm_bytes == 16 * aot.GIB


def test_memory_covers_the_replicated_state(report, state_bytes):
  # Data parallel: every device holds the whole state (TPU tiling can only pad it), plus its batch rows.
  assert report.argument_bytes >= state_bytes
  assert report.output_bytes >= state_bytes
  assert report.alias_bytes >= state_bytes  # the donated state is updated in place
  assert report.generated_code_bytes > 0
  assert report.temp_bytes >= 0
  assert report.peak_bytes >= report.argument_bytes + report.generated_code_bytes
  assert report.fits and report.peak_bytes < report.hbm_bytes


def test_flops_at_least_the_encoder_matmuls(report):
  enc = abstract_starting_point(tiny.get_config().model).config.encoder
  layer_params = 4 * enc.hidden_size**2 + 2 * enc.hidden_size * enc.intermediate_size
  rows_per_device = report.batch_size // report.num_devices
  # forward + backward of the encoder's dense layers alone: 6 FLOPs per parameter per token.
  lower_bound = 6 * layer_params * enc.num_hidden_layers * rows_per_device * report.tokens
  assert report.flops_per_device >= lower_bound
  assert report.flops == report.flops_per_device * 4


def test_data_parallel_step_reduces_gradients(report):
  assert report.collectives["all-reduce"] + report.collectives["reduce-scatter"] > 0
  assert set(report.collectives) == set(aot.COLLECTIVES)
  text = report.summary()
  assert "v5e:2x2" in text and "fits" in text and "all-reduce" in text


def test_count_collectives_counts_async_pairs_once():
  hlo = """
  %all-reduce-start.1 = f32[4]{0} all-reduce-start(f32[4]{0} %p), replica_groups={{0,1}}, to_apply=%add
  %all-reduce-done.1 = f32[4]{0} all-reduce-done(f32[4]{0} %all-reduce-start.1)
  %ag = f32[8]{0} all-gather(f32[4]{0} %p), dimensions={0}
  %rs = f32[2]{0} reduce-scatter(f32[4]{0} %p), dimensions={0}, to_apply=%add
  %cp-start = (f32[4]{0}, f32[4]{0}) collective-permute-start(f32[4]{0} %p), source_target_pairs={{0,1}}
  %cp-done = f32[4]{0} collective-permute-done(%cp-start)
  %fusion.all-gather = f32[4]{0} fusion(f32[4]{0} %p), kind=kLoop, calls=%fused
  """
  assert aot.count_collectives(hlo) == {"all-reduce": 1, "all-gather": 1, "reduce-scatter": 1,
                                        "all-to-all": 0, "collective-permute": 1}


def test_default_shapes_and_bad_shapes():
  cfg = tiny.get_config()
  assert aot.default_shapes(cfg) == (96, 48, 8)  # 48 words + 2 * 8 prompt tokens + 2 -> bucket 96
  with pytest.raises(ValueError, match="words=64 > tokens=32"):
    aot.default_shapes(cfg, tokens=32, words=64)
  with pytest.raises(ValueError, match="types must be positive"):
    aot.default_shapes(cfg, types=-1)


def test_bad_topology_is_a_clear_error():
  _needs_libtpu()
  with pytest.raises(ValueError, match="CHIP:SHAPE"):
    aot.topology_devices("v5e")
  with pytest.raises(ValueError, match="libtpu rejects topology"):
    aot.topology_devices("v5e:3x3")
