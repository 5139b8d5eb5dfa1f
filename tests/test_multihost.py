"""Multi-process training on one machine: configs/tiny.py on 2 processes x 4 CPU devices (`jax.distributed`
over gloo, scripts/train.py --coordinator_address/--num_processes/--process_id) logs the per-step losses of
1 process x 8 devices, and logs them again after both processes are SIGKILLed after their first
checkpoint and restarted.

The one-process reference is told to build its batches as two processes do by default: two data shards
of 4 rows each and one fixed batch shape (`--config.train.data_shards=2 --config.recipe.fixed_shape=True`).
Both runs then see the same global batches row for row (dropout included: the rng is the same), and
differ only in which process builds which rows and where they live. The reference runs alongside the
pair; all share a persistent compilation cache, so the restarted pair compiles nothing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_STEPS = 12
CHECKPOINT_EVERY = 4
OVERRIDES = [
  f"--config.train.num_steps={NUM_STEPS}",
  f"--config.train.checkpoint_every={CHECKPOINT_EVERY}",
  f"--config.train.eval_every={NUM_STEPS}",
  "--config.eval.threshold=0.1",  # low enough for the barely trained model to predict spans
]
REFERENCE_FLAGS = ("--config.train.data_shards=2", "--config.recipe.fixed_shape=True")
TIMEOUT = 600


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
  return str(tmp_path_factory.mktemp("jax_cache"))


def env(devices: int, cache_dir: str) -> dict[str, str]:
  out = dict(os.environ)
  out.update(
    PYTHONPATH=REPO_ROOT + os.pathsep + out.get("PYTHONPATH", ""),
    JAX_PLATFORMS="cpu",
    XLA_FLAGS=f"--xla_force_host_platform_device_count={devices} --xla_backend_optimization_level=0",
    JAX_COMPILATION_CACHE_DIR=cache_dir,
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
  )
  return out


def command(workdir: str, *extra: str, config_file: str = "tiny.py") -> list[str]:
  script = os.path.join(REPO_ROOT, "scripts", "train.py")
  config = os.path.join(REPO_ROOT, "configs", config_file)
  return [sys.executable, script, f"--config={config}", f"--workdir={workdir}", *OVERRIDES, *extra]


def launch_pair(workdir: str, cache_dir: str, logs: str, config_file: str = "tiny.py") -> list[subprocess.Popen]:
  """Processes 0 and 1 of a 2-process run (4 CPU devices each), their stderr in logs/process_<i>.log."""
  port = free_port()
  procs = []
  for i in range(2):
    flags = (f"--coordinator_address=localhost:{port}", "--num_processes=2", f"--process_id={i}")
    with open(os.path.join(logs, f"process_{i}.log"), "a") as log:
      procs.append(
        subprocess.Popen(
          command(workdir, *flags, config_file=config_file),
          env=env(4, cache_dir),
          stdout=subprocess.DEVNULL,
          stderr=log,
        )
      )
  return procs


def wait_all(procs: list[subprocess.Popen], logs: str) -> None:
  try:
    codes = [proc.wait(timeout=TIMEOUT) for proc in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for i, code in enumerate(codes):
    with open(os.path.join(logs, f"process_{i}.log")) as f:
      assert code == 0, f"process {i} exited with {code}: {f.read()[-4000:]}"


def read_rows(workdir: str) -> list[dict]:
  rows = []
  path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          rows.append(json.loads(line))
        except json.JSONDecodeError:  # a row being written
          pass
  return rows


def losses(rows: list[dict]) -> dict[int, float]:
  return {r["step"]: r["loss"] for r in rows if "loss" in r}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir) -> dict:
  """configs/tiny.py: the reference (1 process x 8 devices) and, alongside it, a 2 x 4 run SIGKILLed (both
  processes) once its first checkpoint is committed, then restarted."""
  return run_killed_pair_and_reference(tmp_path_factory, cache_dir, "tiny.py")


@pytest.fixture(scope="module")
def relex_runs(tmp_path_factory, cache_dir) -> dict:
  """The same runs of configs/relex_tiny.py (a joint entity and relation model)."""
  return run_killed_pair_and_reference(tmp_path_factory, cache_dir, "relex_tiny.py")


def run_killed_pair_and_reference(tmp_path_factory, cache_dir: str, config_file: str) -> dict:
  workdir = str(tmp_path_factory.mktemp("two_processes"))
  reference_dir = str(tmp_path_factory.mktemp("one_process"))
  logs = str(tmp_path_factory.mktemp("logs"))
  with open(os.path.join(logs, "reference.log"), "w") as log:
    reference = subprocess.Popen(
      command(reference_dir, *REFERENCE_FLAGS, config_file=config_file),
      env=env(8, cache_dir),
      stdout=subprocess.DEVNULL,
      stderr=log,
    )
  try:
    first = os.path.join(workdir, "checkpoints", str(CHECKPOINT_EVERY), "commit_success.txt")
    procs = launch_pair(workdir, cache_dir, logs, config_file)
    deadline = time.monotonic() + TIMEOUT
    try:
      while not os.path.exists(first):
        assert all(p.poll() is None for p in procs), f"a process exited early: {[p.poll() for p in procs]}"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.02)
      for p in procs:
        p.send_signal(signal.SIGKILL)
    finally:
      for p in procs:
        if p.poll() is None:
          p.kill()
        p.wait(timeout=60)
    before_kill = read_rows(workdir)
    wait_all(launch_pair(workdir, cache_dir, logs, config_file), logs)
    code = reference.wait(timeout=TIMEOUT)
  finally:
    if reference.poll() is None:
      reference.kill()
  with open(os.path.join(logs, "reference.log")) as f:
    assert code == 0, f"the reference exited with {code}: {f.read()[-4000:]}"
  with open(os.path.join(workdir, "log.txt")) as f:  # process 0's INFO lines, both launches
    log = f.read()
  resumed = [int(line.rsplit(" ", 1)[-1]) for line in log.splitlines() if "resumed from step" in line]
  return dict(
    workdir=workdir,
    reference=read_rows(reference_dir),
    before_kill=before_kill,
    after=read_rows(workdir),
    resumed=resumed,
    log=log,
  )


def assert_same_losses(got: dict[int, float], expected: dict[int, float]) -> None:
  for step, loss in got.items():
    assert abs(loss - expected[step]) <= 1e-4, (step, loss, expected[step])


def test_two_processes_log_the_losses_of_one_before_and_after_a_sigkill(runs):
  check_losses_of_one_before_and_after_a_sigkill(runs)


def test_relex_two_processes_log_the_losses_of_one_before_and_after_a_sigkill(relex_runs):
  check_losses_of_one_before_and_after_a_sigkill(relex_runs)


def check_losses_of_one_before_and_after_a_sigkill(runs: dict) -> None:
  reference, two_processes = runs["reference"], runs
  expected = losses(reference)
  assert sorted(expected) == list(range(1, NUM_STEPS + 1))
  killed_at = max(losses(two_processes["before_kill"]))
  assert CHECKPOINT_EVERY <= killed_at < NUM_STEPS, "the run finished before it could be killed"
  assert_same_losses(losses(two_processes["before_kill"]), expected)  # uninterrupted: steps 1..killed_at
  assert two_processes["resumed"] and CHECKPOINT_EVERY <= two_processes["resumed"][0] <= killed_at
  after = losses(two_processes["after"])
  assert sorted(after) == list(range(1, NUM_STEPS + 1))
  assert_same_losses(after, expected)  # the resumed steps too, each logged once


def test_two_processes_evaluate_and_count_as_one(runs):
  """The same eval scores (jitted on the training shardings), recipe counters summed over both processes'
  shards, one compiled train step, and only process 0 writes."""
  reference, two_processes = runs["reference"], runs
  evals = [r for r in two_processes["after"] if "eval_f1" in r]
  (expected,) = [r for r in reference if "eval_f1" in r]
  assert len(evals) == 1 and evals[0]["step"] == NUM_STEPS
  assert expected["eval_predicted"] > 0  # the comparison means something
  assert evals[0]["eval_predicted"] == expected["eval_predicted"]
  for key in ("eval_precision", "eval_recall", "eval_f1"):
    assert evals[0][key] == pytest.approx(expected[key], abs=1e-9), key
  last, last_ref = two_processes["after"][-2], reference[-2]
  counters = {k for k in last_ref if k.startswith("recipe_")}
  assert {"recipe_examples", "recipe_rows"} <= counters and last_ref["recipe_rows"] == 8 * NUM_STEPS
  assert {k: last[k] for k in counters} == {k: last_ref[k] for k in counters}
  assert last["batch_shape"] == last_ref["batch_shape"] and last["train_step_programs"] == 1
  assert np.isfinite([r["tokens_per_second"] for r in two_processes["after"] if "loss" in r]).all()
  assert os.path.exists(os.path.join(two_processes["workdir"], "config.json"))
  assert "process 0 builds data shards [0]" in two_processes["log"]
