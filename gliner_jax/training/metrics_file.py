"""Reading a training run's metrics: the rows `train_and_evaluate` appends to `<workdir>/metrics.jsonl`.

Read through the path layer (`gliner_jax.interop.storage`), so a `gs://` workdir works like a local one.

Example (a workdir holding one training row and one evaluation row):
  >>> import tempfile
  >>> from gliner_jax.training.metrics_log import MetricsWriter
  >>> workdir = tempfile.mkdtemp()
  >>> writer = MetricsWriter(workdir, resume_step=0)
  >>> writer.write({"step": 1, "loss": 2.5}); writer.write({"step": 1, "eval_f1": 0.4})
  >>> losses = [(r["step"], r["loss"]) for r in read_metrics(workdir)]
  >>> f1 = [r["eval_f1"] for r in read_metrics(workdir, "eval")]
  >>> losses, f1
  ([(1, 2.5)], [0.4])
"""

from __future__ import annotations

import json
from typing import Any

from etils import epath

from gliner_jax.interop import storage

METRICS_FILE = "metrics.jsonl"
KINDS = ("train", "eval", "all")


def metrics_path(workdir: str) -> epath.Path:
  """`<workdir>/metrics.jsonl` (local or gs://)."""
  return storage.as_path(storage.join(workdir, METRICS_FILE))


def read_metrics(workdir: str, kind: str = "train") -> list[dict[str, Any]]:
  """Rows of workdir/metrics.jsonl: "train" rows (with loss), "eval" rows (with eval_f1), or "all".

  No file: no rows. A half-written last line (a run still writing) is skipped; any other bad line is an error.
  """
  if kind not in KINDS:
    raise ValueError(f"kind={kind!r}: use 'train', 'eval' or 'all'")
  path = metrics_path(workdir)
  if not path.exists():
    return []
  lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
  rows = []
  for i, line in enumerate(lines):
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as err:
      if i == len(lines) - 1:
        break
      raise ValueError(f"{path}, line {i + 1}: not JSON ({err})") from err
  if kind == "train":
    return [r for r in rows if "loss" in r]
  return [r for r in rows if "eval_f1" in r] if kind == "eval" else rows
