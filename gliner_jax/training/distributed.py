"""Multi-process training on JAX's own runtime: `jax.distributed.initialize`, data shards, host-side sums.

On a TPU pod (Cloud TPU VMs, GKE TPU slices) `initialize()` with no arguments joins the processes of the
pod; on CPU and GPU clusters pass the coordinator address, the number of processes and this process's id
(CPU collectives go over gloo), or set GLINER_JAX_DISTRIBUTED=1 where `jax.distributed.initialize()` finds
them itself (SLURM, Open MPI, Kubernetes). Otherwise nothing happens: a single-process run needs no setup
(GLINER_JAX_DISTRIBUTED=0 turns the TPU detection off too).

The global batch is cut into `data_shards` blocks of consecutive rows, each the output of its own data
stream (`gliner_jax.training.pipeline.ShardedBatches`); a process builds the blocks that live on its
devices (`process_shards`). A one-process run with data_shards=N builds exactly the batches of an
N-process run.

Example (`initialize` is not run as a doctest: it joins a two-host cluster):
  >>> initialize("10.0.0.1:1234", num_processes=2, process_id=0)  # doctest: +SKIP
  True
  >>> from gliner_jax.training.sharding import DEFAULT_RULES, batch_sharding, make_mesh
  >>> sharding = batch_sharding(make_mesh({"data": -1, "fsdp": 1, "tensor": 1}), DEFAULT_RULES)
  >>> process_shards(sharding, batch_size=16, shard_count=2)  # one process holds every row; process 0 of 2: [0]
  [0, 1]
"""

from __future__ import annotations

import logging
import os

import jax
import numpy as np

ENV = "GLINER_JAX_DISTRIBUTED"


def tpu_cluster_detected() -> str | None:
  """The name of the TPU cluster environment `jax.distributed.initialize()` would join, or None.

  Uses jax's own detection (`jax._src.clusters`, a private module: None if it moves).
  """
  try:
    from jax._src import clusters

    for env in clusters.ClusterEnv._cluster_types:
      if "tpu" in env.__name__.lower() and not env.opt_in_only_method and env.is_env_present():
        return env.__name__
  except Exception as err:  # noqa: BLE001 -- detection is best effort; explicit flags always work
    logging.info("cluster detection unavailable: %s", err)
  return None


def initialize(
  coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> bool:
  """Joins a multi-process JAX runtime; returns whether it did. Call before anything touches a device.

  With `coordinator_address` ("host:port" of process 0) the three values are used as given (CPU
  collectives over gloo); without it, `jax.distributed.initialize()` runs on a TPU pod
  (`tpu_cluster_detected`) or where GLINER_JAX_DISTRIBUTED=1; otherwise nothing is done.
  """
  if jax.distributed.is_initialized():
    return True
  explicit = (coordinator_address, num_processes, process_id)
  if coordinator_address:
    if num_processes is None or process_id is None:
      raise ValueError("--coordinator_address needs --num_processes and --process_id")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices only; GPUs use NCCL
    jax.distributed.initialize(coordinator_address, num_processes=num_processes, process_id=process_id)
  elif any(x is not None for x in explicit):
    raise ValueError("--num_processes and --process_id need --coordinator_address")
  else:
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in ("0", "false", "no"):
      return False
    cluster = "the environment's" if setting in ("1", "true", "yes") else tpu_cluster_detected()
    if cluster is None:
      return False
    logging.info("joining %s cluster with jax.distributed.initialize()", cluster)
    jax.distributed.initialize()
  logging.info("process %d of %d, %d local devices", jax.process_index(), jax.process_count(), jax.local_device_count())
  return True


def process_rows(sharding: jax.sharding.Sharding, batch_size: int) -> list[int]:
  """Rows of a global batch of `batch_size` that live on this process's devices, in order."""
  rows: set[int] = set()
  for index in sharding.addressable_devices_indices_map((batch_size,)).values():
    rows.update(range(*index[0].indices(batch_size)))
  return sorted(rows)


def process_shards(sharding: jax.sharding.Sharding, batch_size: int, shard_count: int) -> list[int]:
  """The data shards this process builds: those whose rows (shard j: rows j*b .. (j+1)*b - 1, b =
  batch_size / shard_count) live on its devices. Their rows, concatenated in order, are this process's
  part of the batch (`jax.make_array_from_process_local_data`). Processes holding the same rows (a mesh
  axis that spans hosts but not the batch) build the same shards.
  """
  if shard_count < 1 or batch_size % shard_count:
    raise ValueError(f"batch_size={batch_size} is not divisible by data_shards={shard_count}")
  rows = process_rows(sharding, batch_size)
  size = batch_size // shard_count
  shards = [j for j in range(shard_count) if set(range(j * size, (j + 1) * size)) <= set(rows)]
  if [r for j in shards for r in range(j * size, (j + 1) * size)] != rows:
    raise ValueError(
      f"process {jax.process_index()} holds rows {rows[:8]}... of the batch, which blocks of {size} rows "
      f"(data_shards={shard_count}) do not tile; raise config.train.data_shards"
    )
  return shards


def sum_over_processes(values: np.ndarray) -> np.ndarray:
  """Element-wise sum of an int vector over all processes (every process must call it; int32 on device)."""
  values = np.asarray(values, np.int32)
  if jax.process_count() == 1:
    return values
  from jax.experimental import multihost_utils

  return np.asarray(multihost_utils.process_allgather(values)).sum(axis=0)
