"""AOT compilation of the sharded train step for a TPU topology on the CPU host (needs libtpu).

libtpu lives in a folder of its own (`.venv-libtpu`, installed by scripts/setup.sh test, or the folder
named by $GLINER_JAX_LIBTPU_DIR), never in the main environment: the compiles run in subprocesses
(scripts/aot_compile.py) that put it on their path, so `import jax` elsewhere loads no TPU runtime.
Besides the tiny config, shrunk copies of configs/gliner_modernbert.py and configs/bi_encoder_minilm.py and
the tiny config with span_mode token_level and configs/relex_tiny.py (span and token relex) compile
(`test_every_model_kind_compiles`), a shrunk GLiNER-L compiles
with its encoder layers scanned and rematerialised (`test_scanned_rematerialised_train_step_compiles`), and the abstract
batch the compile uses is checked against a batch the training data pipeline builds (on the CPU).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from conftest import skip_or_fail
from gliner_jax import DEFAULT_MODEL
from gliner_jax.configs import bi_encoder_minilm, gliner_modernbert, gliner_small, tiny
from gliner_jax.training import aot
from gliner_jax.training.config_files import load_config
from gliner_jax.training.kinds import training_kind
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


@pytest.mark.subprocess
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


@pytest.mark.slow
@pytest.mark.subprocess
def test_report_describes_the_topology(report):
  assert report.num_devices == 4
  assert "v5" in report.device_kind.lower()
  assert report.mesh_shape == MESH
  assert (report.batch_size, report.tokens, report.words, report.types) == (8, 32, 16, 4)
  assert report.hbm_bytes == 16 * aot.GIB


@pytest.mark.subprocess
def test_memory_covers_the_replicated_state(report, state_bytes):
  # Data parallel: every device holds the whole state (TPU tiling can only pad it), plus its batch rows.
  assert report.argument_bytes >= state_bytes
  assert report.output_bytes >= state_bytes
  assert report.alias_bytes >= state_bytes  # the donated state is updated in place
  assert report.generated_code_bytes > 0
  assert report.temp_bytes >= 0
  assert report.peak_bytes >= report.argument_bytes + report.generated_code_bytes
  assert report.fits and report.peak_bytes < report.hbm_bytes


@pytest.mark.subprocess
def test_flops_at_least_the_encoder_matmuls(report):
  enc = abstract_starting_point(tiny.get_config().model).config.encoder
  layer_params = 4 * enc.hidden_size**2 + 2 * enc.hidden_size * enc.intermediate_size
  rows_per_device = report.batch_size // report.num_devices
  # forward + backward of the encoder's dense layers alone: 6 FLOPs per parameter per token.
  lower_bound = 6 * layer_params * enc.num_hidden_layers * rows_per_device * report.tokens
  assert report.flops_per_device >= lower_bound
  assert report.flops == report.flops_per_device * 4


@pytest.mark.subprocess
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
  assert aot.default_shapes(cfg) == (128, 48, 8)  # the fixed shape: max_tokens 128, max_len 48, max_types 8
  assert aot.default_shapes(cfg, words=32) == (128, 32, 8)
  # The published recipe's pod shape, for DeBERTa (its 512 positions) and ModernBERT (recipe.max_tokens).
  assert aot.default_shapes(gliner_small.get_config()) == (512, 384, 25)
  assert aot.default_shapes(gliner_modernbert.get_config()) == (512, 384, 25)
  # A bi-encoder's label axis: max_types x batch (25 x 8) in type_buckets (.., 200), a multiple of the batch.
  bi = bi_encoder_minilm.get_config()
  assert aot.default_shapes(bi) == (512, 96, 200)
  assert aot.default_shapes(bi, types=30) == (512, 96, 32)
  with pytest.raises(ValueError, match="words=64 > tokens=32"):
    aot.default_shapes(cfg, tokens=32, words=64)
  with pytest.raises(ValueError, match="types must be positive"):
    aot.default_shapes(cfg, types=-1)


def _bi_encoder_config():
  """A random two-encoder GLiNER on the bundled slice (as tests/test_bi_encoder.py trains)."""
  from gliner_jax.training.config import BUNDLED_TRAIN, base_config

  c = base_config()
  c.model.init = "random"
  c.model.tokenizer = DEFAULT_MODEL
  enc = dict(model_type="bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
  c.model.encoder = dict(enc, vocab_size=1)
  c.model.labels_encoder_shape = dict(enc, hidden_size=24, vocab_size=1)
  c.model.update(hidden_size=32, max_width=4, max_len=40, max_types=4, dropout=0.0, num_rnn_layers=0)
  c.data.train = [dict(path=BUNDLED_TRAIN, max_examples=8)]
  c.recipe.update(token_buckets=(64, 128), word_buckets=(16, 40), type_buckets=(8, 16, 32), max_tokens=128)
  c.train.batch_size = 4
  return c


def _pipeline_config(kind: str):
  if kind == "bi_encoder":
    return _bi_encoder_config()
  if kind == "span_relex":
    from gliner_jax.configs import relex_tiny

    return relex_tiny.get_config()
  c = tiny.get_config()
  if kind == "token_level":
    c.model.span_mode = "token_level"
  return c


@pytest.mark.parametrize("kind", ["span", "token_level", "bi_encoder", "span_relex"])
def test_abstract_batch_is_the_training_runs_batch(kind):
  """With recipe.fixed_shape (as on a multi-host run), every batch the data pipeline builds has the shape of
  `training_shape`, and `abstract_batch` has its arrays: names, shapes, dtypes."""
  from gliner_jax.training import loop

  cfg = _pipeline_config(kind)
  cfg.recipe.fixed_shape = True
  parts = loop.build(cfg)
  host = loop.training_batches(cfg, parts).next_host_batch()
  tokens, words, types = aot.default_shapes(cfg)
  assert host.dims == (tokens, words, types) == aot.training_shape(cfg, parts.start)
  label_tokens = host.arrays["labels_input_ids"].shape[-1] if kind == "bi_encoder" else 0
  expected = aot.abstract_batch(
    cfg.train.batch_size, tokens, words, types, parts.config.max_width, None, training_kind(parts.config), label_tokens
  )
  got = {k: (tuple(v.shape), np.dtype(v.dtype)) for k, v in host.arrays.items()}
  assert got == {k: (tuple(v.shape), np.dtype(v.dtype)) for k, v in expected.items()}


# Shrunk copies of the real configs (their recipes, heads and encoder families; small widths and depths),
# written to files and compiled by scripts/aot_compile.py; token_level is configs/tiny.py with a flag.
KIND_CONFIGS = {
  "modernbert": """
    from gliner_jax.configs import gliner_modernbert

    def get_config(arg=""):
      c = gliner_modernbert.get_config()
      # A global and two sliding-window layers (a 16-token window over 32 tokens): both attention kinds.
      layers = ("full_attention", "sliding_attention", "sliding_attention")
      c.model.encoder.update(num_hidden_layers=3, layer_types=layers, local_attention=16, hidden_size=64,
                             num_attention_heads=4, intermediate_size=96, vocab_size=1000)
      c.model.hidden_size = 64
      return c
  """,
  "bi_encoder": """
    from gliner_jax.configs import bi_encoder_minilm

    def get_config(arg=""):
      c = bi_encoder_minilm.get_config("quick")
      c.model.encoder.update(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                             vocab_size=1000)
      # Wider than hidden_size: the labels projection is in the step too.
      c.model.labels_encoder_shape = dict(c.model.encoder.to_dict(), hidden_size=48, num_hidden_layers=1)
      c.model.hidden_size = 32
      return c
  """,
}
KIND_CONFIGS["span_relex"] = """
    from gliner_jax.configs import relex_tiny

    def get_config(arg=""):
      return relex_tiny.get_config()
"""
KIND_CONFIGS["token_relex"] = KIND_CONFIGS["span_relex"].replace("get_config()", 'get_config("token")')
KIND_FLAGS = {
  "modernbert": ["--types=4"],
  "span_relex": ["--types=4"],  # R = 4 relation types, E = 32 entity slots (gliner_jax.training.kinds)
  "token_relex": ["--types=4"],
  "bi_encoder": ["--types=16", "--label_tokens=8"],  # 16 labels per batch: 2 per row
  "token_level": ["--types=4", "--config.model.span_mode=token_level"],
}


@pytest.fixture(scope="module", params=sorted(KIND_FLAGS))
def kind_report(request, tmp_path_factory):
  """(kind, its config, the report of its compile on v5e:2x2)."""
  kind, folder = request.param, tmp_path_factory.mktemp(f"aot_{request.param}")
  if kind in KIND_CONFIGS:
    config_file = folder / f"{kind}.py"
    config_file.write_text(textwrap.dedent(KIND_CONFIGS[kind]))
    config = load_config(str(config_file))
  else:
    config_file = os.path.join("configs", "tiny.py")
    config = tiny.get_config()
    config.model.span_mode = "token_level"
  out = folder / "report.json"
  mesh = ",".join(f"{k}={v}" for k, v in MESH.items())
  args = [os.path.join("scripts", "aot_compile.py"), "--config", str(config_file), f"--topology={TOPOLOGY}"]
  args += [f"--mesh={mesh}", "--batch_size=8", "--tokens=32", "--words=16", f"--json_out={out}", *KIND_FLAGS[kind]]
  proc = _with_libtpu(args)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return kind, config, aot.AOTReport(**json.loads(out.read_text())), proc.stdout


def _abstract_bytes(tree) -> int:
  return sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


@pytest.mark.slow
@pytest.mark.subprocess
def test_every_model_kind_compiles(kind_report):
  """ModernBERT (global + sliding-window layers), a bi-encoder (two encoders, the labels split over the
  rows) and token_level compile for v5e:2x2: their whole state and batch are the step's arguments, the
  state is donated, the gradients are reduced, and the encoders' matmuls are counted."""
  from gliner_jax.training import sharding as shd
  from gliner_jax.training.loop import build

  kind, config, report, stdout = kind_report
  start = abstract_starting_point(config.model)
  parts = build(config, mesh=shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1]), start=start)
  state = _abstract_bytes(jax.eval_shape(parts.init_fn, jax.random.key(0)))
  types, label_tokens = {"bi_encoder": (16, 8)}.get(kind, (4, 0))
  batch = aot.abstract_batch(8, 32, 16, types, start.config.max_width, None, training_kind(start.config), label_tokens)
  assert (report.num_devices, report.mesh_shape, report.hbm_bytes) == (4, MESH, 16 * aot.GIB)
  assert (report.batch_size, report.tokens, report.words, report.types) == (8, 32, 16, types)
  assert (report.span_mode, report.label_tokens) == (start.config.span_mode, label_tokens)
  assert start.config.span_mode == ("token_level" if kind in ("token_level", "token_relex") else "markerV0")
  assert (start.config.relations_layer is not None) == kind.endswith("relex")
  assert (start.config.encoder.model_type == "modernbert") == (kind == "modernbert")
  assert (start.config.labels_encoder is not None) == (kind == "bi_encoder")
  # Data parallel: every device holds the whole state and a quarter of the batch.
  assert report.argument_bytes >= state + _abstract_bytes(batch) // 4
  assert report.output_bytes >= state and report.alias_bytes >= state
  assert report.fits and report.generated_code_bytes > 0
  assert report.collectives["all-reduce"] + report.collectives["reduce-scatter"] > 0
  # forward + backward of the encoders' dense layers: 6 FLOPs per weight per token, on 2 rows per device.
  encoders = [(start.config.encoder, 2 * 32)]
  if kind == "bi_encoder":
    encoders.append((start.config.labels_encoder, types // 4 * label_tokens))
  lower_bound = 0
  for enc, tokens_per_device in encoders:
    mlp = 3 if enc.model_type == "modernbert" else 2  # ModernBERT's MLP is gated: two input matrices
    layer = 4 * enc.hidden_size**2 + mlp * enc.hidden_size * enc.intermediate_size
    lower_bound += 6 * layer * enc.num_hidden_layers * tokens_per_device
  assert report.flops_per_device >= lower_bound
  assert f"topology {TOPOLOGY}" in stdout and "fits" in stdout and start.config.span_mode in stdout
  if label_tokens:
    assert f"labels {types} x {label_tokens} tokens" in stdout


@pytest.mark.subprocess
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


# configs/gliner_large.py (DeBERTa-v3-large) shrunk to 3 layers, compiled with its layers scanned and
# rematerialised (scripts/aot_compile.py --scan_layers --remat_policy).
SCAN_REMAT_CONFIG = """
  from gliner_jax.configs import gliner_large

  def get_config(arg=""):
    c = gliner_large.get_config()
    c.model.encoder.update(num_hidden_layers=3, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                           vocab_size=1000)
    c.model.hidden_size = 64
    return c
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_scanned_rematerialised_train_step_compiles(tmp_path):
  """A DeBERTa GLiNER with `--scan_layers --remat_policy=nothing_saveable` compiles for v5e:2x2: the report
  records both options, the step's arguments hold the whole state with the layers stacked [3, ...], the state
  is donated and the gradients are reduced."""
  from gliner_jax.training import sharding as shd
  from gliner_jax.training.loop import build

  config_file, out = tmp_path / "large_shrunk.py", tmp_path / "report.json"
  config_file.write_text(textwrap.dedent(SCAN_REMAT_CONFIG))
  mesh = ",".join(f"{k}={v}" for k, v in MESH.items())
  args = [os.path.join("scripts", "aot_compile.py"), "--config", str(config_file), f"--topology={TOPOLOGY}"]
  args += [f"--mesh={mesh}", "--batch_size=8", "--tokens=32", "--words=16", "--types=4", f"--json_out={out}"]
  proc = _with_libtpu([*args, "--scan_layers", "--remat_policy=nothing_saveable"])
  assert proc.returncode == 0, proc.stderr[-4000:]
  report = aot.AOTReport(**json.loads(out.read_text()))
  assert (report.remat_policy, report.scan_layers) == ("nothing_saveable", True)
  assert "remat nothing_saveable, scan_layers True" in proc.stdout and "fits" in proc.stdout

  config = load_config(str(config_file))
  config.model.update(scan_layers=True, remat_policy="nothing_saveable")
  start = abstract_starting_point(config.model)
  assert start.config.encoder.model_type == "deberta-v2" and start.config.encoder.scan_layers
  parts = build(config, mesh=shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1]), start=start)
  state = jax.eval_shape(parts.init_fn, jax.random.key(0))
  encoder = state["params"]["encoder"]
  assert "layers" in encoder and not any(k.startswith("layer_") for k in encoder)
  assert encoder["layers"]["attention"]["query"]["kernel"].shape == (3, 64, 64)
  batch = aot.abstract_batch(8, 32, 16, 4, start.config.max_width, None, training_kind(start.config))
  assert report.argument_bytes >= _abstract_bytes(state) + _abstract_bytes(batch) // 4
  assert report.alias_bytes >= _abstract_bytes(state)
  assert report.fits and report.collectives["all-reduce"] + report.collectives["reduce-scatter"] > 0
