"""Training from a notebook: configs by name, a run with a live loss / learning-rate plot, metrics.

Used by notebooks/tpu_pretraining.ipynb through `gliner_jax.notebooks.utils` (which re-exports these).

Example:
  (not run as a doctest: it trains for a minute and draws in a notebook; tests/test_notebooks.py runs it)
  >>> config = configure_run(load_config("tiny"), num_steps=10)  # doctest: +SKIP
  >>> run = train(config, "/tmp/gliner_tiny", live_plot=True)  # doctest: +SKIP
  >>> print(run.summary()); display(plot_metrics("/tmp/gliner_tiny"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import io
import os
import threading
import time
import warnings
from typing import Any, Mapping

from gliner_jax.interop import storage
from gliner_jax.training.config_files import CONFIG_DIR_ENV, available_configs, load_config  # noqa: F401 (re-exported)
from gliner_jax.training.metrics_file import metrics_path, read_metrics


def configure_run(
  config,
  *,
  num_steps: int | None = None,
  train_path: str | None = None,
  mesh_shape: Mapping[str, int] | None = None,
  compilation_cache_dir: str | None = None,
  static_shape_tokens: int | None = None,
):
  """A copy of `config` set up for a notebook run.

  `train_path`: the full Pile-NER (GLiNER JSON, conversation JSON, BIO) replaces the configured
  training data. Without it, configured sources that do not exist here (e.g. the shared data folder
  in Colab) are replaced by the bundled Pile-NER slice, with a warning.
  `static_shape_tokens`: pad every batch to one shape (this many tokens, max_len words, max_types
  types; longer rows are split) so that a run compiles one training program, and a resumed run
  finds it in the compilation cache. Costs padding; bucketed shapes (None) waste less compute.
  """
  from gliner_jax.training.config import BUNDLED_TRAIN
  from gliner_jax.training.data import resolve_data_path

  config = config.copy_and_resolve_references()
  if train_path:
    config.data.train = [dict(path=resolve_data_path(train_path))]
  else:
    missing = []
    for source in config.data.train:
      try:
        resolve_data_path(source["path"])
      except FileNotFoundError:
        missing.append(source["path"])
    if missing or not config.data.train:
      warnings.warn(
        f"training data not found here ({missing[:3]}{' ...' if len(missing) > 3 else ''}); "
        "training on the bundled Pile-NER slice instead"
      )
      config.data.train = [dict(path=BUNDLED_TRAIN)]
  if num_steps is not None:
    if num_steps < 1:
      raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    config.train.num_steps = int(num_steps)
  if mesh_shape is not None:
    config.mesh.shape = dict(mesh_shape)
  if compilation_cache_dir:
    config.train.compilation_cache_dir = compilation_cache_dir
  if static_shape_tokens is not None:
    if static_shape_tokens < 2:
      raise ValueError(f"static_shape_tokens must be >= 2 or None, got {static_shape_tokens}")
    config.recipe.update(
      max_tokens=int(static_shape_tokens),
      token_buckets=(int(static_shape_tokens),),
      word_buckets=(int(config.model.max_len),),
      type_buckets=(int(config.model.max_types),),
    )
  return config


def describe_config(config) -> str:
  """A few lines: backbone, head sizes, data, steps, batch and mesh of a training config."""
  m, t = config.model, config.train
  encoder = dict(m.encoder) if m.encoder else {}
  if m.init == "random":
    backbone = (
      f"random {encoder.get('model_type', '?')} {encoder.get('num_hidden_layers', '?')}x"
      f"{encoder.get('hidden_size', '?')}"
    )
  else:
    backbone = f"{m.path} ({m.init})"
  data = ", ".join(
    f"{os.path.basename(str(s['path']))}" + (f" (first {s['max_examples']})" if s.get("max_examples") else "")
    for s in config.data.train
  )
  return "\n".join(
    [
      f"model: {backbone}; hidden {m.hidden_size}, max_len {m.max_len}, "
      f"max_width {m.max_width}, max_types {m.max_types}",
      f"data: {data}",
      f"train: {t.num_steps} steps, batch {t.batch_size}, {t.compute_dtype}, checkpoint every {t.checkpoint_every}",
      f"mesh: {dict(config.mesh.shape)}",
    ]
  )


# ----------------------------------------------------------------------------------- runs and metrics
def plot_metrics(workdir: str, title: str | None = None):
  """A matplotlib Figure: training loss and learning rates against the step, from metrics.jsonl.

  Built without pyplot (safe from a background thread); a notebook shows it with `display(fig)`.
  """
  from matplotlib.figure import Figure

  rows = read_metrics(workdir)
  fig = Figure(figsize=(10, 3.4))
  loss_ax, lr_ax = fig.subplots(1, 2)
  steps = [r["step"] for r in rows]
  loss_ax.plot(steps, [r["loss"] for r in rows], marker="." if len(rows) < 50 else None)
  loss_ax.set(xlabel="step", ylabel="loss", title="training loss")
  for key, name in (("learning_rate", "heads"), ("encoder_learning_rate", "encoder")):
    if any(key in r for r in rows):
      lr_ax.plot([r["step"] for r in rows if key in r], [r[key] for r in rows if key in r], label=name)
  lr_ax.set(xlabel="step", ylabel="learning rate", title="learning rate")
  if rows:
    lr_ax.legend(fontsize=8)
  else:
    loss_ax.text(0.5, 0.5, "no metrics yet", ha="center", va="center", transform=loss_ax.transAxes)
  fig.suptitle(title or os.path.basename(os.path.normpath(workdir)), fontsize=9)
  fig.tight_layout()
  return fig


def figure_png(fig) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=90)
  return buffer.getvalue()


def checkpoint_steps(workdir: str) -> list[int]:
  """Steps of the finished orbax checkpoints in workdir/checkpoints, ascending."""
  directory = storage.join(workdir, "checkpoints")
  if not storage.isdir(directory):
    return []
  names = storage.listdir(directory)
  return sorted(int(d) for d in names if d.isdigit() and storage.isdir(storage.join(directory, d)))


@dataclasses.dataclass
class TrainRun:
  """What one `train` call did. `resumed` is None when there was no checkpoint to resume from."""

  state: Any  # what train_fn returned: train_and_evaluate's TrainResult (.state, .predictor, ...)
  start_checkpoint: int  # the newest checkpoint in the workdir before the call (0: none)
  final_step: int
  seconds: float
  resumed: bool | None

  def summary(self) -> str:
    if self.resumed is None:
      origin = "started from scratch"
    elif self.resumed:
      origin = f"resumed from the checkpoint at step {self.start_checkpoint}"
    else:
      origin = f"did NOT resume from the checkpoint at step {self.start_checkpoint}"
    return f"{origin}, trained to step {self.final_step} in {self.seconds:.0f} s"


def _live_plot(workdir: str, handle, stop: threading.Event, refresh_seconds: float) -> None:
  from IPython.display import Image

  seen = None
  while not stop.wait(refresh_seconds):
    path = metrics_path(workdir)
    stamp = (path.stat().mtime, path.stat().length) if path.exists() else None
    if stamp != seen:
      seen = stamp
      handle.update(Image(data=figure_png(plot_metrics(workdir))))
  handle.update(Image(data=figure_png(plot_metrics(workdir))))


def train(
  config,
  workdir: str,
  *,
  live_plot: bool = False,
  refresh_seconds: float = 10.0,
  require_resume: bool = False,
  train_fn=None,
) -> TrainRun:
  """Runs `train.train_and_evaluate(config, workdir)` (resuming from the workdir's checkpoints).

  live_plot: redraw the loss / learning-rate plot every `refresh_seconds` while training (needs
  IPython). Training runs in the calling thread, so interrupting the kernel stops it.
  require_resume: raise RuntimeError if the workdir has a checkpoint but the run did not continue
  from it. Resuming is checked on metrics.jsonl: a resumed run keeps the rows logged up to its
  checkpoint unchanged, a restarted one rewrites them.
  """
  if train_fn is None:
    from gliner_jax.training.loop import train_and_evaluate as train_fn
  steps = checkpoint_steps(workdir)
  start = steps[-1] if steps else 0
  before = [r for r in read_metrics(workdir, "all") if r.get("step", 0) <= start]
  stop, plotter = threading.Event(), None
  if live_plot:
    from IPython.display import Image, display

    handle = display(Image(data=figure_png(plot_metrics(workdir))), display_id=True)
    plotter = threading.Thread(target=_live_plot, args=(workdir, handle, stop, refresh_seconds), daemon=True)
    plotter.start()
  began = time.perf_counter()
  try:
    state = train_fn(config, workdir)
  finally:
    stop.set()
    if plotter is not None:
      plotter.join()
  seconds = time.perf_counter() - began
  resumed = None
  if start and before:
    resumed = before == [r for r in read_metrics(workdir, "all") if r.get("step", 0) <= start]
  if start and require_resume and not resumed:
    raise RuntimeError(
      f"{workdir} had a checkpoint at step {start} but training did not resume from it "
      "(metrics up to that step were rewritten or never logged); see the warnings above"
    )
  return TrainRun(state, start, int(config.train.num_steps), seconds, resumed)
