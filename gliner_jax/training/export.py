"""Turns a training workdir's checkpoint into a model folder: gliner_jax's own (for `GLiNER.from_pretrained`)
or gliner 0.2.x's (for `gliner.GLiNER.from_pretrained`, see `gliner_jax.interop.gliner_export`).

Example (not run as a doctest: it needs a training run's workdir; tests/test_export_gliner.py runs it):
  >>> export_model(config, "workdirs/minilm_pilener", "minilm_pilener/", dtype="bfloat16")  # doctest: +SKIP
  >>> export_model(config, "workdirs/minilm_pilener", "minilm_pilener_gliner/", format="gliner")  # doctest: +SKIP
"""

from __future__ import annotations

import jax
import orbax.checkpoint as ocp

from gliner_jax.data.paths import repo_relative
from gliner_jax.inference.api import make_predictor
from gliner_jax.interop import storage
from gliner_jax.interop.checkpoint import save_checkpoint
from gliner_jax.interop.gliner_export import write_model_card
from gliner_jax.training.model_init import starting_point

FORMATS = ("gliner_jax", "gliner")
# What dtype="auto" means per format: gliner_jax ships bfloat16, gliner checkpoints are float32.
AUTO_DTYPES = {"gliner_jax": "bfloat16", "gliner": "float32"}


def export_model(
  config, workdir: str, dst: str, dtype: str | None = "auto", step: int | None = None, format: str = "gliner_jax"
) -> int:
  """Writes the params of checkpoint `step` (default: latest) with the run's config and tokenizer; returns step.

  `format` is "gliner_jax" or "gliner"; `dtype` the on-disk precision ("auto": the format's default,
  None: float32 as trained). Both formats get a model card (README.md) naming the config's training data
  (`training_data(config)`).
  """
  if format not in FORMATS:
    raise ValueError(f"format={format!r}: use one of {FORMATS}")
  dtype = AUTO_DTYPES[format] if dtype == "auto" else dtype
  start = starting_point(config.model)
  manager = ocp.CheckpointManager(storage.resolve(storage.join(workdir, "checkpoints")))
  step = step if step is not None else manager.latest_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints")
  restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  params = jax.device_get(restored["state"]["params"])
  if format == "gliner":  # the kind's predictor writes its own gliner folder (a relex model: gliner's relex layout)
    model = make_predictor(
      start.config, params, start.tokenizer, labels_tokenizer=start.labels_tokenizer, compilation_cache=False
    )
    model.save_pretrained(dst, dtype=dtype or "float32", format="gliner", trained_on=training_data(config))
  else:
    save_checkpoint(dst, start.config, params, start.tokenizer, dtype=dtype)
    write_model_card(
      dst, config.model.get("name") or config.model.get("path") or "unknown", training_data(config), format
    )
  return step


def training_data(config) -> list[str] | None:
  """The training config's data entries as card lines ("path (split=train, max_examples=600)"); None if it has none.

  Example:
    >>> from gliner_jax.configs import tiny
    >>> training_data(tiny.get_config())
    ['gliner_jax/assets/data/pile_ner_slice_train.txt (max_examples=64)']
  """
  entries = config.get("data", {}).get("train") or []
  lines = []
  for entry in entries:
    entry = dict(entry)
    path = entry.pop("path", None)
    path = repo_relative(str(path)) if path else str(entry.pop("name", None) or "unknown source")
    options = ", ".join(f"{k}={v}" for k, v in sorted(entry.items()) if k != "label_map")
    lines.append(f"{path} ({options})" if options else path)
  return lines or None
