"""AOT compilation of the sharded train step for a TPU topology on the CPU host (needs libtpu).

libtpu lives in a folder of its own (`.venv-libtpu`, installed by scripts/setup.sh test, or the folder
named by $GLINER_JAX_LIBTPU_DIR), never in the main environment: the compiles run in subprocesses
(scripts/aot_compile.py) that put it on their path, so `import jax` elsewhere loads no TPU runtime.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import tiny
from conftest import skip_or_fail
from gliner_jax.training import aot
from gliner_jax.training.model_init import abstract_starting_point

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBTPU_DIR = os.environ.get(aot.LIBTPU_DIR_ENV) or os.path.join(REPO, ".venv-libtpu")
TOPOLOGY = "v5e:2x2"  # 4 chips: the smallest v5e slice libtpu accepts
MESH = {"data": 4, "fsdp": 1, "tensor": 1}
SHAPES = dict(seq_tokens=32, words=16, types=4)
TPU_ERRORS = ("host bounds", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_HOSTNAMES", "libtpu")


def _with_libtpu(args: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
  """Runs `python args` with libtpu on its path (only there); skips, or fails with CI=true, without it."""
  if not os.path.isdir(os.path.join(LIBTPU_DIR, "libtpu")):
    skip_or_fail(
      f"libtpu is not installed in {LIBTPU_DIR}: no TPU compiler for AOT",
      f".venv/bin/python -m pip install --no-deps --target .venv-libtpu {aot.LIBTPU_PIN} "
      "(bash scripts/setup.sh test does)",
    )
  env = {**os.environ, aot.LIBTPU_DIR_ENV: LIBTPU_DIR, "JAX_PLATFORMS": "cpu"}
  return subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> aot.AOTReport:
  out = tmp_path_factory.mktemp("aot") / "report.json"
  mesh = ",".join(f"{k}={v}" for k, v in MESH.items())
  proc = _with_libtpu(
    [
      os.path.join("scripts", "aot_compile.py"),
      "--config",
      os.path.join("configs", "tiny.py"),
      f"--topology={TOPOLOGY}",
      f"--mesh={mesh}",
      "--batch_size=8",
      "--tokens=32",
      "--words=16",
      "--types=4",
      f"--json_out={out}",
    ]
  )
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert f"topology {TOPOLOGY}" in proc.stdout and "fits" in proc.stdout, proc.stdout
  return aot.AOTReport(**json.loads(out.read_text()))


def test_main_environment_loads_no_tpu_runtime():
  """`import jax; jax.devices()` here prints no libtpu errors: libtpu is not in this environment (unless
  this is a TPU machine, where it belongs)."""
  env = {k: v for k, v in os.environ.items() if k != aot.LIBTPU_DIR_ENV}
  proc = subprocess.run(
    [sys.executable, "-c", "import jax; print(jax.devices()[0].platform)"],
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
    cwd=REPO,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  if proc.stdout.strip() == "tpu":
    return
  assert importlib.util.find_spec("libtpu") is None, (
    "libtpu is installed in the main environment of a machine without TPUs: every jax import loads the TPU "
    "runtime; .venv/bin/python -m pip uninstall -y libtpu (the AOT compile uses .venv-libtpu)"
  )
  assert not [e for e in TPU_ERRORS if e in proc.stderr], proc.stderr[-3000:]


def test_setup_installs_the_pinned_libtpu_outside_the_environment():
  with open(os.path.join(REPO, "scripts", "setup.sh")) as f:
    setup = f.read()
  assert f"LIBTPU={aot.LIBTPU_PIN}" in setup and '--target .venv-libtpu "$LIBTPU"' in setup
  with open(os.path.join(REPO, "requirements-test.txt")) as f:
    assert not [line for line in f if line.strip().startswith("libtpu")]  # not installed into .venv


def test_missing_libtpu_is_a_clear_error(monkeypatch):
  if importlib.util.find_spec("libtpu") is not None:
    pytest.skip("libtpu is importable in this environment (as on a TPU machine): nothing is missing")
  monkeypatch.delenv(aot.LIBTPU_DIR_ENV, raising=False)
  with pytest.raises(RuntimeError, match=r"need libtpu.*--target \.venv-libtpu libtpu==.*GLINER_JAX_LIBTPU_DIR"):
    aot.topology_devices(TOPOLOGY)
  monkeypatch.setenv(aot.LIBTPU_DIR_ENV, os.path.join(REPO, "no-such-folder"))
  with pytest.raises(RuntimeError, match="no-such-folder has no libtpu package"):
    aot.topology_devices(TOPOLOGY)


@pytest.fixture(scope="module")
def state_bytes() -> int:
  """Bytes of params + AdamW moments + step of the tiny model (replicated on every device here)."""
  from gliner_jax.training import sharding as shd
  from gliner_jax.training.loop import build

  cfg = tiny.get_config()
  parts = build(
    cfg,
    mesh=shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1]),
    start=abstract_starting_point(cfg.model),
  )
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
  assert aot.count_collectives(hlo) == {
    "all-reduce": 1,
    "all-gather": 1,
    "reduce-scatter": 1,
    "all-to-all": 0,
    "collective-permute": 1,
  }


def test_default_shapes_and_bad_shapes():
  cfg = tiny.get_config()
  assert aot.default_shapes(cfg) == (96, 48, 8)  # 48 words + 2 * 8 prompt tokens + 2 -> bucket 96
  with pytest.raises(ValueError, match="words=64 > tokens=32"):
    aot.default_shapes(cfg, tokens=32, words=64)
  with pytest.raises(ValueError, match="types must be positive"):
    aot.default_shapes(cfg, types=-1)


def test_bad_topology_is_a_clear_error():
  code = (
    "from gliner_jax.training import aot\n"
    "for topology in ('v5e', 'v5e:3x3'):\n"
    "  try:\n"
    "    aot.topology_devices(topology)\n"
    "    print('accepted', topology)\n"
    "  except ValueError as e:\n"
    "    print('ValueError:', str(e).splitlines()[0])\n"
  )
  proc = _with_libtpu(["-c", code], timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  first, second = proc.stdout.strip().splitlines()[-2:]
  assert first.startswith("ValueError:") and "CHIP:SHAPE" in first, proc.stdout
  assert second.startswith("ValueError:") and "libtpu rejects topology" in second, proc.stdout
