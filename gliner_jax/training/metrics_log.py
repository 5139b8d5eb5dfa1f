"""The run's metrics file: one JSON object per row in `workdir/metrics.jsonl`, local or on an object store.

Locally every row is appended at once. Object stores cannot append (gcsfs's "a" mode silently replaces the
object), so there the writer keeps the rows and rewrites the object at most every `sync_seconds`, and
whenever `sync()` is called; the training loop syncs before every checkpoint save, so the rows up to a
checkpoint's step are stored before that checkpoint is, and a run killed later resumes with all of them.

Example (a local workdir; a gs://bucket/run one is written at each sync):
  >>> import tempfile
  >>> from gliner_jax.training.metrics_file import read_metrics
  >>> workdir = tempfile.mkdtemp()
  >>> writer = MetricsWriter(workdir, resume_step=0)
  >>> writer.write({"step": 1, "loss": 2.5})
  >>> writer.sync()
  >>> read_metrics(workdir)
  [{'step': 1, 'loss': 2.5}]
"""

from __future__ import annotations

import json
import time
from typing import Any

import jax
import numpy as np

from gliner_jax.interop import storage

METRICS_FILE = "metrics.jsonl"


def _line(row: dict[str, Any]) -> str:
  return json.dumps({k: (float(v) if isinstance(v, (np.floating, jax.Array)) else v) for k, v in row.items()}) + "\n"


class MetricsWriter:
  """Appends one JSON object per row to workdir/metrics.jsonl (rows past a resumed step are dropped)."""

  def __init__(self, workdir: str, resume_step: int, sync_seconds: float = 30.0):
    self.path = storage.as_path(workdir) / METRICS_FILE
    self.remote = storage.is_remote(workdir)
    self.sync_seconds = sync_seconds
    self._lines: list[str] = []
    self._dirty = False
    self._synced = time.monotonic()
    if self.path.exists():
      rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
      self._lines = [json.dumps(row) + "\n" for row in rows if row.get("step", 0) <= resume_step]
      self.path.write_text("".join(self._lines))
    if not self.remote:
      self._lines = []  # appended to the file as they come

  def write(self, row: dict[str, Any]) -> None:
    if not self.remote:
      with self.path.open("a") as f:
        f.write(_line(row))
      return
    self._lines.append(_line(row))
    self._dirty = True
    if time.monotonic() - self._synced >= self.sync_seconds:
      self.sync()

  def sync(self) -> None:
    """Stores every row written so far (on an object store: rewrites the object; locally: nothing to do)."""
    if self._dirty:
      self.path.write_text("".join(self._lines))
      self._dirty = False
    self._synced = time.monotonic()


class NullWriter:
  """The MetricsWriter of processes other than 0: they log nothing."""

  def write(self, row: dict[str, Any]) -> None:
    pass

  def sync(self) -> None:
    pass
