"""How many CPU cores a process computes with, for JAX and for torch alike (benchmarks, CPU serving).

XLA's CPU backend has no thread-count flag (`intra_op_parallelism_threads` is a TensorFlow session
option, and XLA_FLAGS rejects it as an unknown flag): its thread pools are sized from the cores the
process may run on. So the limit is the process's CPU affinity, set before JAX starts; one core also
turns off Eigen's multi-threading. torch reads OMP_NUM_THREADS / MKL_NUM_THREADS.

Example (not run as a doctest: it pins the whole process to two cores and sets XLA's flags):
  >>> limit_cpu_threads(2)  # before `import jax`  # doctest: +SKIP
  [0, 1]
"""

from __future__ import annotations

import os
import sys


def limit_cpu_threads(n: int) -> list[int]:
  """Restricts this process (and its children) to `n` of its CPU cores; returns the cores kept.

  Must run before jax (and torch) are imported.
  """
  if n < 1:
    raise ValueError(f"need at least one thread, got {n}")
  if "jax" in sys.modules:
    raise RuntimeError("limit_cpu_threads must run before jax is imported (XLA sizes its thread pools at start)")
  cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
  keep = cores[:n]
  if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, keep)
  if n == 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
  for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(n)
  return keep


def limit_benchmark_threads(n: int, *, torch: bool = False) -> list[int]:
  """Sets up a benchmark process on `n` cores: `limit_cpu_threads(n)`, Hugging Face offline (nothing is
  downloaded mid-run), and with `torch=True` torch's intra-op threads to `n` and inter-op threads to 1.

  Must run before jax is imported (`limit_cpu_threads`). Returns the cores kept.

  Not run as a doctest (as `limit_cpu_threads`):

  >>> limit_benchmark_threads(2, torch=True)  # doctest: +SKIP
  [0, 1]
  """
  keep = limit_cpu_threads(n)
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
  if torch:
    import torch as torch_module

    torch_module.set_num_threads(n)
    try:
      torch_module.set_num_interop_threads(1)
    except RuntimeError:  # already set, or torch's pools already started
      pass
  return keep
