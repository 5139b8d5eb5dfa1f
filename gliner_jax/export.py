"""Turns a training workdir's checkpoint into a gliner_jax model directory (for `GLiNER.from_pretrained`).

Example:
  >>> export_model(config, "workdirs/minilm_pilener", "gliner_jax/assets/default_model", dtype="bfloat16")
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp

from gliner_jax.checkpoint import save_checkpoint
from gliner_jax.model_init import starting_point


def export_model(config, workdir: str, dst: str, dtype: str | None = "bfloat16", step: int | None = None) -> int:
  """Writes the params of checkpoint `step` (default: latest) with the run's config and tokenizer; returns step."""
  start = starting_point(config.model)
  manager = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")))
  step = step if step is not None else manager.latest_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints")
  restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  params = jax.device_get(restored["state"]["params"])
  save_checkpoint(dst, start.config, params, start.tokenizer, dtype=dtype)
  return step
