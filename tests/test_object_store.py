"""gs:// everywhere a path goes, tested against a real GCS JSON API served on 127.0.0.1 (gcp-storage-emulator).

STORAGE_EMULATOR_HOST alone points every client at the emulator: `gliner_jax.interop.storage` maps it for
tensorstore (orbax's array writer) and gcsfs. The emulator runs in a thread of the test process; the
training runs are subprocesses of scripts/train.py that reach it over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import require_module, sigkill_when
from gliner_jax.interop import storage

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = "bucket"


def serve_generation_headers() -> None:
  """Makes the emulator's media downloads carry `x-goog-generation` / `x-goog-metageneration`, as GCS's do.

  tensorstore reads an object's generation from those headers (OCDBT's manifest is a read-modify-write on
  it); without them every orbax save fails with "Malformed StorageGeneration".
  """
  from gcp_storage_emulator import server
  from gcp_storage_emulator.exceptions import NotFound
  from gcp_storage_emulator.handlers import objects

  original = objects.download
  if getattr(original, "adds_generation", False):
    return

  def download(request, response, storage_, *args, **kwargs):
    try:
      obj = storage_.get_file_obj(request.params["bucket_name"], request.params["object_id"])
      response["x-goog-generation"] = str(obj["generation"])
      response["x-goog-metageneration"] = str(obj["metageneration"])
    except NotFound:
      pass  # the original answers 404
    return original(request, response, storage_, *args, **kwargs)

  download.adds_generation = True
  objects.download = download  # objects.get(alt=media) calls it by name
  for _, handlers in server.HANDLERS:
    for method, handler in list(handlers.items()):
      if handler is original:
        handlers[method] = download


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def emulator():
  """The emulator's URL, in STORAGE_EMULATOR_HOST for this process and its children (restored after)."""
  require_module("gcsfs")
  server_module = require_module("gcp_storage_emulator.server", "gcp-storage-emulator")
  serve_generation_headers()
  port = free_port()
  server = server_module.create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
  server.start()
  names = (storage.EMULATOR_ENV, storage.TENSORSTORE_URL_ENV, storage.GCSFS_BUCKET_PROBE_ENV)
  saved = {name: os.environ.get(name) for name in names}
  for name in names:
    os.environ.pop(name, None)
  os.environ[storage.EMULATOR_ENV] = f"http://127.0.0.1:{port}"
  try:
    yield os.environ[storage.EMULATOR_ENV]
  finally:
    server.stop()
    for name, value in saved.items():
      if value is None:
        os.environ.pop(name, None)
      else:
        os.environ[name] = value


# ------------------------------------------------------------------------------------ no emulator needed
def test_missing_gcsfs_is_an_error_naming_the_extra(monkeypatch):
  monkeypatch.setitem(sys.modules, "gcsfs", None)  # import gcsfs -> ImportError
  for call in (storage.as_path, storage.resolve, storage.exists):
    with pytest.raises(ImportError, match=r"gs://bucket/run: gs:// paths need gcsfs.*pip install 'gliner_jax\[gcs\]'"):
      call("gs://bucket/run")
  assert storage.resolve("runs/x") == os.path.abspath("runs/x")  # local paths need nothing


def test_emulator_host_alone_configures_tensorstore_and_gcsfs(monkeypatch):
  gcsfs_core = require_module("gcsfs.core", "gcsfs")
  import fsspec

  monkeypatch.setenv(storage.EMULATOR_ENV, "127.0.0.1:9")
  monkeypatch.delenv(storage.TENSORSTORE_URL_ENV, raising=False)
  monkeypatch.delenv(storage.GCSFS_BUCKET_PROBE_ENV, raising=False)
  settings = storage.configure_object_store()
  assert settings.emulator == settings.tensorstore_url == "http://127.0.0.1:9"
  assert os.environ[storage.TENSORSTORE_URL_ENV] == "http://127.0.0.1:9"
  assert os.environ[storage.GCSFS_BUCKET_PROBE_ENV] == "false"  # inherited by child processes
  assert fsspec.get_filesystem_class("gs") is gcsfs_core.GCSFileSystem  # no gRPC bucket-type probe
  assert fsspec.config.conf["gs"]["token"] == "anon" and fsspec.config.conf["gs"]["use_listings_cache"] is False
  monkeypatch.setenv(storage.TENSORSTORE_URL_ENV, "http://elsewhere:1")  # a setting of the user's own stays
  assert storage.configure_object_store().tensorstore_url == "http://elsewhere:1"
  assert storage.scheme("gs://b/x") == "gs" and storage.scheme("file:///tmp/x") is None
  assert storage.join("gs://b/run/", "checkpoints", "7") == "gs://b/run/checkpoints/7"


def test_compile_cache_keeps_an_object_store_url():
  from gliner_jax.inference.compile_cache import enable_compilation_cache

  require_module("gcsfs")
  before = jax.config.jax_compilation_cache_dir
  jax.config.update("jax_compilation_cache_dir", None)
  try:
    assert enable_compilation_cache("gs://bucket/jax_cache/") == "gs://bucket/jax_cache"
    assert jax.config.jax_compilation_cache_dir == "gs://bucket/jax_cache"
  finally:
    jax.config.update("jax_compilation_cache_dir", before)


# -------------------------------------------------------------------------------------- against the emulator
@pytest.mark.parametrize("where", ["local", "gs"])
def test_path_layer_behaves_alike_locally_and_on_gs(emulator, tmp_path, where):
  base = str(tmp_path) if where == "local" else f"gs://{BUCKET}/paths"
  storage.write_text(storage.join(base, "a", "x.json"), '{"n": 1}')
  storage.write_text(storage.join(base, "a", "sub", "y.txt"), "é\n")
  with storage.open_file(storage.join(base, "a", "z.bin"), "wb") as f:
    f.write(b"\x00\x01")
  assert storage.listdir(storage.join(base, "a")) == ["sub", "x.json", "z.bin"]
  assert storage.isdir(storage.join(base, "a", "sub")) and storage.isfile(storage.join(base, "a", "x.json"))
  assert not storage.exists(storage.join(base, "a", "missing"))
  storage.move(storage.join(base, "a"), storage.join(base, "moved", "a-1"))
  assert not storage.exists(storage.join(base, "a", "x.json"))
  assert json.loads(storage.read_text(storage.join(base, "moved", "a-1", "x.json"))) == {"n": 1}
  assert storage.read_text(storage.join(base, "moved", "a-1", "sub", "y.txt")) == "é\n"
  with storage.open_file(storage.join(base, "moved", "a-1", "z.bin"), "rb") as f:
    assert f.read() == b"\x00\x01"
  with pytest.raises(FileNotFoundError):
    storage.move(storage.join(base, "a"), storage.join(base, "again"))


def test_metrics_writer_on_gs_keeps_the_rows_up_to_the_resumed_step(emulator):
  from gliner_jax.training.metrics_log import MetricsWriter

  workdir = f"gs://{BUCKET}/metrics_run"
  path = storage.join(workdir, "metrics.jsonl")
  writer = MetricsWriter(workdir, resume_step=0, sync_seconds=3600)
  for step in (1, 2, 3):
    writer.write({"step": step, "loss": np.float32(1.0 / step)})
  assert not storage.exists(path)  # kept until the next sync (object stores cannot append)
  writer.sync()
  rows = [json.loads(line) for line in storage.read_text(path).splitlines()]
  assert rows == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}, {"step": 3, "loss": pytest.approx(1 / 3)}]
  resumed = MetricsWriter(workdir, resume_step=2, sync_seconds=0)  # sync_seconds=0: every write is stored
  assert [json.loads(line)["step"] for line in storage.read_text(path).splitlines()] == [1, 2]
  resumed.write({"step": 3, "loss": 9.0})
  assert [json.loads(line) for line in storage.read_text(path).splitlines()][-1] == {"step": 3, "loss": 9.0}
  # what the notebooks read back
  from gliner_jax.notebooks.training import read_metrics
  from gliner_jax.notebooks.utils import prepare_workdir

  assert prepare_workdir(workdir) == workdir
  assert [(r["step"], r["loss"]) for r in read_metrics(workdir)] == [(1, 1.0), (2, 0.5), (3, 9.0)]


# orbax's failed restore leaves tensorstore callbacks aimed at its closed asyncio loop; they are harmless
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_checkpointer_on_gs_restores_and_sets_unreadable_steps_aside(emulator):
  from gliner_jax.training.checkpointing import TrainCheckpointer

  directory = f"gs://{BUCKET}/ckpt_run/checkpoints"
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  state = {"w": jnp.arange(6.0), "step": jnp.int32(1)}
  ckpt = TrainCheckpointer(directory)
  ckpt.save(1, state, {0: {"consumed": 8}})
  ckpt.save(2, {"w": state["w"] * 2, "step": jnp.int32(2)}, {0: {"consumed": 16}})
  ckpt.close()
  assert storage.exists(storage.join(directory, "2", "commit_success.txt"))
  import fsspec

  fs = fsspec.core.url_to_fs(storage.resolve(directory))[0]
  manifests = [p for p in fs.find(storage.join(directory, "2", "state")) if p.rsplit("/", 1)[-1].startswith("manifest")]
  assert manifests, "no OCDBT manifest in the saved state"
  for path in manifests:  # garble step 2's array manifests
    storage.as_path("gs://" + path).write_bytes(b"not a manifest")
  template = jax.tree.map(jnp.zeros_like, state)
  shardings = jax.tree.map(lambda _: sharding, state)
  ckpt = TrainCheckpointer(directory)
  with pytest.warns(UserWarning, match="checkpoint at step 2 .* unreadable"):
    restored, data, step = ckpt.restore_latest(template, shardings)
  assert step == 1 and data == {0: {"consumed": 8}}
  np.testing.assert_array_equal(restored["w"], np.arange(6.0))
  assert ckpt.latest_step() == 1 and not storage.exists(storage.join(directory, "2"))
  aside = storage.listdir(directory + "_unreadable")
  assert [name.split("-")[0] for name in aside] == ["2"]
  assert storage.exists(storage.join(directory + "_unreadable", aside[0], "commit_success.txt"))
  ckpt.save(2, {"w": state["w"] * 3, "step": jnp.int32(2)}, {0: {"consumed": 16}})  # the step is free again
  ckpt.close()
  ckpt = TrainCheckpointer(directory)
  restored, data, step = ckpt.restore_latest(template, shardings)
  ckpt.close()
  assert step == 2 and data == {0: {"consumed": 16}}
  np.testing.assert_array_equal(restored["w"], 3 * np.arange(6.0))
  from gliner_jax.notebooks.training import checkpoint_steps

  assert checkpoint_steps(f"gs://{BUCKET}/ckpt_run") == [1, 2]


@pytest.mark.slow  # 27 s here: loading the default model and compiling its predictions
def test_save_pretrained_and_from_pretrained_round_trip_through_gs(emulator):
  import gliner_jax
  from gliner_jax import GLiNER

  model = GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)  # shipped in bfloat16: saving it so loses nothing
  url = f"gs://{BUCKET}/models/default"
  model.save_pretrained(url, dtype="bfloat16")
  assert {"gliner_jax_config.json", "params.safetensors", "tokenizer.json"} <= set(storage.listdir(url))
  loaded = GLiNER.from_pretrained(url)
  assert loaded.config == model.config
  texts = [
    "Barack Obama visited Berlin with Angela Merkel in 2013.",
    "Apple opened an office in Paris, France, led by Tim Cook.",
  ]
  labels = ["person", "city", "country", "organization"]
  want = model.batch_predict_entities(texts, labels, threshold=0.3)
  assert sum(map(len, want)) >= 5
  assert loaded.batch_predict_entities(texts, labels, threshold=0.3) == want  # exact scores included
  export = f"gs://{BUCKET}/models/default_gliner"
  model.save_pretrained(export, format="gliner", dtype="bfloat16")
  assert {"gliner_config.json", "model.safetensors", "tokenizer.json"} <= set(storage.listdir(export))
  with pytest.raises(FileNotFoundError, match="no model directory at gs://bucket/models/missing"):
    GLiNER.from_pretrained(f"gs://{BUCKET}/models/missing")


def test_training_data_and_evaluation_results_through_gs(emulator):
  from gliner_jax.data.readers import read_dataset_folder, read_ner_file
  from gliner_jax.evaluation.scoring import DatasetResult, EvaluationReport, Scores, write_report
  from gliner_jax.training.config import BUNDLED_DEV
  from gliner_jax.training.data import load_source

  with open(BUNDLED_DEV, encoding="utf-8") as f:
    storage.write_text(f"gs://{BUCKET}/data/crossner_ai/dev.txt", f.read())
  local = read_ner_file(BUNDLED_DEV)
  remote = read_dataset_folder(f"gs://{BUCKET}/data/crossner_ai", "validation")
  assert len(remote) == len(local) > 10
  assert [(ex.tokens, ex.spans) for ex in remote] == [(ex.tokens, ex.spans) for ex in local]
  sourced = load_source(dict(path=f"gs://{BUCKET}/data/crossner_ai/dev.txt", max_examples=3))
  assert [ex.tokens for ex in sourced] == [ex.tokens for ex in local[:3]]
  assert sourced[0].id.startswith(f"gs://{BUCKET}/data/crossner_ai/dev.txt:")

  result = DatasetResult("ai", 10, ("person",), Scores(0.5, 0.25, 1 / 3, 1, 2, 4), 1.0)
  paths = write_report(EvaluationReport(0.5, True, False, "test", (result,)), f"gs://{BUCKET}/eval", extra={"m": 1})
  assert paths["json"] == f"gs://{BUCKET}/eval/results.json"
  assert json.loads(storage.read_text(paths["json"]))["m"] == 1
  assert "| **average** |" in storage.read_text(paths["md"])
  with storage.open_file(paths["png"], "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------ training to gs://, SIGKILL, resume
TRAIN_FLAGS = ("--config.train.compilation_cache_dir=gs://bucket/jax_cache",)  # shared by the three runs


def train_command(workdir: str) -> list[str]:
  return [
    sys.executable,
    os.path.join(REPO_ROOT, "scripts", "train.py"),
    f"--config={os.path.join(REPO_ROOT, 'configs', 'tiny.py')}",
    f"--workdir={workdir}",
    *TRAIN_FLAGS,
  ]


def run_env() -> dict[str, str]:
  """The subprocesses get STORAGE_EMULATOR_HOST (set by the fixture) and nothing else of the object store."""
  env = {k: v for k, v in os.environ.items() if k not in (storage.TENSORSTORE_URL_ENV, storage.GCSFS_BUCKET_PROBE_ENV)}
  env.update(
    PYTHONPATH=REPO_ROOT + os.pathsep + env.get("PYTHONPATH", ""),
    JAX_PLATFORMS="cpu",
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    XLA_FLAGS="--xla_backend_optimization_level=0",
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
  )
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  return env


def run_training(workdir: str, *flags: str) -> str:
  command = train_command(workdir) + list(flags)
  proc = subprocess.run(command, env=run_env(), capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-5000:]
  return proc.stderr


def losses(workdir: str) -> dict[int, float]:
  """{step: loss} of metrics.jsonl, read back from the bucket."""
  rows = [json.loads(line) for line in storage.read_text(storage.join(workdir, "metrics.jsonl")).splitlines()]
  return {row["step"]: row["loss"] for row in rows if "loss" in row}


@pytest.mark.slow
@pytest.mark.subprocess
def test_training_to_gs_resumes_after_sigkill_with_the_same_losses(emulator):
  full, killed = f"gs://{BUCKET}/runs/full", f"gs://{BUCKET}/runs/killed"
  run_training(full)
  expected = losses(full)
  assert sorted(expected) == list(range(1, 21))  # configs/tiny.py: 20 steps, a checkpoint every 5
  assert json.loads(storage.read_text(storage.join(full, "config.json")))["train"]["num_steps"] == 20
  assert storage.listdir(f"gs://{BUCKET}/jax_cache"), "no compiled program was cached in the bucket"

  first = storage.join(killed, "checkpoints", "5", "commit_success.txt")
  proc = sigkill_when(train_command(killed), run_env(), lambda: storage.exists(first), "its first checkpoint")
  assert proc.returncode == -signal.SIGKILL
  assert not storage.exists(storage.join(killed, "checkpoints", "20")), "the run finished before it was killed"
  kept = sorted(losses(killed))
  assert kept[:5] == [1, 2, 3, 4, 5] and kept[-1] < 20

  log = run_training(killed, "--verbosity=0")  # INFO on the terminal too (by default it goes to log.txt)
  resumed = [int(line.rsplit(" ", 1)[-1]) for line in log.splitlines() if "resumed from step" in line]
  assert resumed and resumed[0] >= 5 and resumed[0] % 5 == 0, log[-3000:]
  got = losses(killed)
  assert sorted(got) == list(range(1, 21))
  for step in range(1, 21):
    assert abs(got[step] - expected[step]) <= 1e-5, (step, got[step], expected[step])
