"""Orbax checkpoints of a training run: state (params, optimizer, step), data-iterator state, config.

A checkpoint that cannot be read (e.g. a run killed while writing it) is skipped with a warning and
the one before it is restored; the unreadable ones are moved to `<directory>_unreadable/` so that the
resumed run can save those steps again (orbax skips saving a step not newer than the latest one).

Example:
  >>> ckpt = TrainCheckpointer(os.path.join(workdir, "checkpoints"), config)
  >>> state, data_state, step = ckpt.restore_latest(fresh_state, shardings)
  >>> ckpt.save(step, state, data_state)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from typing import Any

import jax
import orbax.checkpoint as ocp


def _config_json(config) -> dict[str, Any]:
  if hasattr(config, "to_json_best_effort"):
    return json.loads(config.to_json_best_effort())
  return json.loads(json.dumps(config, default=str))


class TrainCheckpointer:
  """A thin wrapper over `ocp.CheckpointManager` with the three items of a training checkpoint."""

  def __init__(self, directory: str, config=None, max_to_keep: int = 3):
    self.config = _config_json(config) if config is not None else {}
    if "://" not in directory:  # orbax needs absolute local paths (gs:// etc. pass through)
      directory = os.path.abspath(directory)
    self.directory = directory
    self.manager = ocp.CheckpointManager(
      directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    )

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, data_state: Any) -> None:
    saved = self.manager.save(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state), config=ocp.args.JsonSave(self.config)
      ),
    )
    if not saved:
      logging.warning(
        "checkpoint of step %d was not saved (latest step in %s is %s)",
        step,
        self.directory,
        self.manager.latest_step(),
      )

  def restore(self, step: int, template_state: Any, shardings: Any) -> tuple[Any, Any]:
    abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), template_state, shardings)
    restored = self.manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore())
    )
    return restored["state"], restored["data"]

  def restore_latest(self, template_state: Any, shardings: Any) -> tuple[Any, Any, int]:
    """(state, data_state, step) of the newest readable checkpoint, or (template, None, 0)."""
    self.manager.reload()
    unreadable = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        state, data = self.restore(step, template_state, shardings)
      except Exception as err:  # noqa: BLE001 -- any unreadable checkpoint falls back to an older one
        warnings.warn(
          f"checkpoint at step {step} in {self.directory} is unreadable "
          f"({type(err).__name__}: {str(err)[:300]}); falling back to the one before it"
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
      aside = self.directory.rstrip(os.sep) + "_unreadable"
      os.makedirs(aside, exist_ok=True)
      for step in steps:
        source = os.path.join(self.directory, str(step))
        if os.path.isdir(source):
          target = os.path.join(aside, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
          shutil.move(source, target)
          logging.warning("moved unreadable checkpoint %s to %s", source, target)
    self.manager.reload()

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves and releases the manager's threads."""
    self.manager.close()
