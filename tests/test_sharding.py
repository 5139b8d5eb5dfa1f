"""Meshes, logical shardings, and sharded train steps equal to the single-device step.

The sharded steps run in a subprocess with 8 host CPU devices (the device count is fixed when jax
starts, and this process may already have started it with one): see tests/sharded_step_check.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AbstractMesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gliner_jax.training import sharding as shd
from gliner_jax.training.optimizer import OptimizerConfig, make_optimizer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESHES = ("8,1,1", "2,4,1", "2,2,2")


@pytest.fixture(scope="module")
def sharded_steps() -> dict:
  env = dict(
    os.environ,
    JAX_PLATFORMS="cpu",
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    XLA_FLAGS="--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0",
  )
  proc = subprocess.run(
    [sys.executable, os.path.join(REPO_ROOT, "tests", "sharded_step_check.py"), *MESHES],
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert proc.returncode == 0, proc.stderr[-5000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  return json.loads(line[len("RESULT ") :])


@pytest.mark.subprocess
@pytest.mark.parametrize("mesh", MESHES)
def test_sharded_step_matches_single_device(sharded_steps, mesh):
  ref, got = sharded_steps["reference"], sharded_steps["meshes"][mesh]
  assert sharded_steps["devices"] == 8 and got["num_devices"] == 8 and ref["num_devices"] == 1
  assert len(got["losses"]) == 2 and ref["losses"][1] < ref["losses"][0]  # the first update did something
  for a, b in zip(got["losses"], ref["losses"]):
    assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), (got["losses"], ref["losses"])
  for a, b in zip(got["grad_norms"], ref["grad_norms"]):
    assert abs(a - b) <= 1e-5 * b, (got["grad_norms"], ref["grad_norms"])
  # weights moved by up to ~2e-3 in the two steps; the meshes agree to far less than that
  assert ref["max_update"] > 1e-3
  assert got["max_param_diff"] <= 1e-4, (got["max_param_diff"], got["worst_param"])


@pytest.mark.parametrize(
  "mesh, kernel, table",
  [
    ("8,1,1", [32, 64], [30525, 32]),
    ("2,4,1", [8, 64], [30525, 8]),  # embed over fsdp
    ("2,2,2", [16, 32], [30525, 16]),  # embed over fsdp, mlp over tensor; vocab never sharded
  ],
)
@pytest.mark.subprocess
def test_params_are_sharded_as_the_rules_say(sharded_steps, mesh, kernel, table):
  got = sharded_steps["meshes"][mesh]
  assert got["batch_spec"] == str(P(("data", "fsdp")))
  shapes = list(got["shard_shapes"].values())
  assert shapes == [kernel, table]
  if mesh == "8,1,1":
    assert got["sharded"] == []
  else:
    assert "['encoder']['layer_0']['ffn']['intermediate']['kernel']" in got["sharded"]
    assert "['encoder']['embeddings']['norm']['scale']" not in got["sharded"]
  assert sharded_steps["reference"]["sharded"] == []


@pytest.mark.subprocess
def test_make_mesh_fills_the_minus_one_axis(sharded_steps):
  assert sharded_steps["auto_mesh"] == {"data": 2, "fsdp": 2, "tensor": 2}
  mesh = shd.make_mesh({"data": -1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
  assert dict(mesh.shape) == {"data": 1, "fsdp": 1, "tensor": 1}


@pytest.mark.parametrize(
  "shape, message",
  [
    ({"data": -1, "fsdp": -1, "tensor": 1}, "at most one axis may be -1"),
    ({"data": 2, "fsdp": 1, "tensor": 1}, "needs 2 devices, 1 are available"),
    ({"data": -1, "fsdp": 3, "tensor": 1}, "1 devices are not divisible by 3"),
  ],
)
def test_make_mesh_rejects_wrong_device_counts(shape, message):
  with pytest.raises(ValueError, match=message):
    shd.make_mesh(shape, devices=jax.devices()[:1])


def test_fit_spec_replicates_dimensions_the_mesh_does_not_divide():
  mesh = AbstractMesh((2, 4, 2), shd.MESH_AXES)
  assert shd.fit_spec(P("fsdp", "tensor"), (8, 6), mesh) == P("fsdp", "tensor")
  assert shd.fit_spec(P("fsdp", "tensor"), (6, 5), mesh) == P(None, None)
  assert shd.fit_spec(P(("data", "fsdp"), None), (16, 3), mesh) == P(("data", "fsdp"), None)
  assert shd.fit_spec(
    P(
      ("data", "fsdp"),
    ),
    (12, 3),
    mesh,
  ) == P(None, None)  # 12 % 8; padded to rank 2
  assert shd.fit_spec(P(), (7,), mesh) == P(None)


def test_check_batch_divisible():
  mesh = AbstractMesh((2, 4, 2), shd.MESH_AXES)
  shd.check_batch_divisible(16, mesh, shd.DEFAULT_RULES)
  with pytest.raises(ValueError, match="batch_size=12 is not divisible by the 8 devices"):
    shd.check_batch_divisible(12, mesh, shd.DEFAULT_RULES)
  shd.check_batch_divisible(12, mesh, (("batch", "data"),))


class _Tiny(nn.Module):
  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", nn.with_logical_partitioning(nn.initializers.ones, ("embed", "mlp")), (4, 6))
    bias = self.param("bias", nn.with_logical_partitioning(nn.initializers.zeros, ("mlp",)), (6,))
    return x @ kernel + bias


def test_logical_shardings_match_the_state_structure():
  """Shardings line up leaf for leaf with the state, optax's empty masked nodes included (restore needs it)."""
  mesh = shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
  tx, _ = make_optimizer(OptimizerConfig(total_steps=10))

  def init(rng):
    params = _Tiny().init(rng, jnp.ones((2, 4)))["params"]
    return {"params": params, "opt_state": tx.init(params)}

  abstract = jax.eval_shape(init, jax.random.key(0))
  shardings = shd.logical_shardings(abstract, mesh, shd.DEFAULT_RULES)
  unboxed = nn.meta.unbox(abstract)
  assert jax.tree.structure(shardings) == jax.tree.structure(unboxed)
  assert all(isinstance(s, NamedSharding) for s in jax.tree.leaves(shardings))
  assert shardings["params"]["kernel"].spec == P("fsdp", "tensor")
  assert shardings["params"]["bias"].spec == P("tensor")
  # usable the way the checkpoint restore uses them
  jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), unboxed, shardings)
