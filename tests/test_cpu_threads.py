"""limit_cpu_threads: the cores a process (JAX and torch) computes with, set before JAX starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gliner_jax.inference.cpu_threads import limit_cpu_threads

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = """
import json, os, sys
from gliner_jax.inference.cpu_threads import limit_cpu_threads
kept = limit_cpu_threads(1)
assert "jax" not in sys.modules  # importing gliner_jax did not start JAX
import jax, jax.numpy as jnp
x = jnp.ones((256, 256))
float((x @ x).sum())
print(json.dumps({"kept": kept, "affinity": sorted(os.sched_getaffinity(0)), "xla": os.environ["XLA_FLAGS"],
                  "omp": os.environ["OMP_NUM_THREADS"]}))
"""


@pytest.mark.subprocess
def test_one_thread_in_a_fresh_process():
  env = dict(os.environ, PYTHONPATH=REPO, XLA_FLAGS="")
  proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert len(out["kept"]) == 1 and out["affinity"] == out["kept"]
  assert "--xla_cpu_multi_thread_eigen=false" in out["xla"] and "intra_op" not in out["xla"]
  assert out["omp"] == "1"


def test_refused_after_jax_started_or_below_one():
  import jax  # noqa: F401

  with pytest.raises(RuntimeError, match="before jax is imported"):
    limit_cpu_threads(2)
  with pytest.raises(ValueError, match="at least one thread"):
    limit_cpu_threads(0)
