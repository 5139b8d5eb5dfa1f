"""Orbax checkpoints of a training run: state (params, optimizer, step), data-iterator states, config.

The state is saved by every process (its shards of the arrays); the data-iterator states are one JSON
file per data shard (`DataStatesHandler`), written and read by the process that builds that shard, so
a multi-host run resumes every stream where it stopped (on another process count too, with the same
config.train.data_shards). A checkpoint that cannot be read (e.g. a run killed while writing it) is
skipped with a warning and the one before it is restored; the unreadable ones are moved to
`<directory>_unreadable/` so that the resumed run can save those steps again (orbax skips saving a
step not newer than the latest one).

Example (not run as a doctest: it needs a training state and its shardings; tests/test_checkpoint.py runs it):
  >>> ckpt = TrainCheckpointer("gs://bucket/run/checkpoints", config)  # doctest: +SKIP
  >>> state, data_states, step = ckpt.restore_latest(fresh_state, shardings, shards=[0])  # doctest: +SKIP
  >>> ckpt.save(step, state, data_states)  # data_states: {shard: BatchIterator.get_state()}  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import warnings
from typing import Any, Sequence

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from gliner_jax.interop import storage

DATA_ITEM = "data_shards"
LEGACY_DATA_ITEM = "data"  # one JSON state (single-process checkpoints written before data shards)


def _config_json(config) -> dict[str, Any]:
  if hasattr(config, "to_json_best_effort"):
    return json.loads(config.to_json_best_effort())
  return json.loads(json.dumps(config, default=str))


def _shard_file(directory: epath.Path, shard: int) -> epath.Path:
  return directory / f"shard_{shard}.json"


class DataStatesHandler(ocp.handlers.AsyncCheckpointHandler):
  """Orbax handler of per-shard data-iterator states: every process writes the shards it is given
  (`shard_<j>.json`, unlike `JsonCheckpointHandler`, which writes on the primary host only) and reads
  back the ones it asks for."""

  async def async_save(self, directory: epath.Path, args: "DataStatesSave"):
    async def write():
      for shard, state in args.states.items():
        await asyncio.to_thread(_shard_file(directory, shard).write_text, json.dumps(state))

    return [ocp.future.CommitFutureAwaitingContractedSignals(write(), name="data_states_save")]

  def save(self, directory: epath.Path, args: "DataStatesSave"):
    for shard, state in args.states.items():
      _shard_file(directory, shard).write_text(json.dumps(state))

  def restore(self, directory: epath.Path, args: "DataStatesRestore") -> dict[int, Any]:
    out = {}
    for shard in args.shards:
      path = _shard_file(directory, shard)
      if not path.exists():
        raise FileNotFoundError(f"no data state of shard {shard} in {directory}")
      out[shard] = json.loads(path.read_text())
    return out

  def metadata(self, directory: epath.Path) -> None:
    return None

  def finalize(self, directory: epath.Path) -> None:
    pass

  def close(self) -> None:
    pass


@ocp.args.register_with_handler(DataStatesHandler, for_save=True)
@dataclasses.dataclass
class DataStatesSave(ocp.args.CheckpointArgs):
  states: dict[int, Any]


@ocp.args.register_with_handler(DataStatesHandler, for_restore=True)
@dataclasses.dataclass
class DataStatesRestore(ocp.args.CheckpointArgs):
  shards: list[int]


def _all_processes(flag: bool) -> bool:
  """Whether `flag` holds on every process (each must call this)."""
  if jax.process_count() == 1:
    return flag
  from jax.experimental import multihost_utils

  return bool(np.asarray(multihost_utils.process_allgather(np.int32(flag))).all())


class TrainCheckpointer:
  """A thin wrapper over `ocp.CheckpointManager` with the three items of a training checkpoint."""

  def __init__(self, directory: str, config=None, max_to_keep: int = 3):
    self.config = _config_json(config) if config is not None else {}
    directory = storage.resolve(directory)  # absolute when local (orbax needs that); gs:// etc. configured
    self.directory = directory
    self._closed = False
    self.manager = ocp.CheckpointManager(
      directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    )

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, data_states: dict[int, Any]) -> None:
    """Saves (asynchronously) the state and this process's data shards' states {shard: state}."""
    items = {"state": ocp.args.StandardSave(state), "config": ocp.args.JsonSave(self.config)}
    items[DATA_ITEM] = DataStatesSave({int(k): v for k, v in data_states.items()})
    saved = self.manager.save(step, args=ocp.args.Composite(**items))
    if not saved:
      logging.warning(
        "checkpoint of step %d was not saved (latest step in %s is %s)",
        step,
        self.directory,
        self.manager.latest_step(),
      )

  def restore(
    self, step: int, template_state: Any, shardings: Any, shards: Sequence[int] = (0,)
  ) -> tuple[Any, dict[int, Any]]:
    """(state, {shard: data state}) of a step, for the data shards `shards` this process builds."""
    abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), template_state, shardings)
    items: dict[str, Any] = {"state": ocp.args.StandardRestore(abstract)}
    legacy = list(shards) == [0] and not (epath.Path(self.directory) / str(step) / DATA_ITEM).exists()
    items[LEGACY_DATA_ITEM if legacy else DATA_ITEM] = (
      ocp.args.JsonRestore() if legacy else DataStatesRestore([int(j) for j in shards])
    )
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    return restored["state"], ({0: restored[LEGACY_DATA_ITEM]} if legacy else dict(restored[DATA_ITEM]))

  def restore_latest(
    self, template_state: Any, shardings: Any, shards: Sequence[int] = (0,)
  ) -> tuple[Any, dict[int, Any] | None, int]:
    """(state, {shard: data state}, step) of the newest checkpoint every process can read, or (template, None, 0)."""
    self.manager.reload()
    unreadable = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        state, data = self.restore(step, template_state, shardings, shards)
        error = None
      except Exception as err:  # noqa: BLE001 -- any unreadable checkpoint falls back to an older one
        error = err
      if not _all_processes(error is None):
        reason = f"{type(error).__name__}: {str(error)[:300]}" if error else "unreadable on another process"
        warnings.warn(
          f"checkpoint at step {step} in {self.directory} is unreadable ({reason}); falling back to the one before it"
        )
        unreadable.append(step)
        continue
      logging.info("restored checkpoint step %d from %s", step, self.directory)
      self._set_aside(unreadable)
      return state, data, step
    self._set_aside(unreadable)
    return template_state, None, 0

  def _set_aside(self, steps: list[int]) -> None:
    """Moves unreadable step folders out of the way (kept for inspection, not deleted)."""
    if not steps:
      return
    if jax.process_index() == 0:
      aside = self.directory + "_unreadable"
      for step in steps:
        source = storage.join(self.directory, str(step))
        if storage.isdir(source):
          target = storage.join(aside, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
          storage.move(source, target)
          logging.warning("moved unreadable checkpoint %s to %s", source, target)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils

      multihost_utils.sync_global_devices("gliner_jax_checkpoints_set_aside")
    self.manager.reload()

  def wait(self) -> None:
    if not self._closed:
      self.manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves and releases the manager's threads (again: nothing)."""
    if not self._closed:
      self.manager.close()
      self._closed = True
