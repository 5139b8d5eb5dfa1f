"""The results of a scaling study: results.jsonl, one JSON object per finished (or failed) run.

The schema is documented in docs/scaling.md ("results.jsonl"); anyone may write the file (another
launcher, a notebook, a spreadsheet export) as long as every row has the `REQUIRED_KEYS` with the types
of `ResultRow`. Rows whose `status` is not "ok" are kept: a failed run is a row, never a gap.

Files go through the path layer (`gliner_jax.interop.storage`), like training's metrics.jsonl, so
``gs://bucket/study/results.jsonl`` works as well as a local path. `append_result` rewrites the whole file:
locally to a temporary sibling that it renames over the old one, on an object store as one upload (objects are
replaced whole). Either way a killed writer leaves the old file or the new one, never half a line.

Example (a study folder "study/"; here a temporary one):
  >>> import os, tempfile
  >>> path = os.path.join(tempfile.mkdtemp(), "study", "results.jsonl")
  >>> row = example_row(run="minilm-L2-c1e13-s0", rung="minilm-L2")
  >>> append_result(path, row)
  >>> [r["run"] for r in read_results(path)]
  ['minilm-L2-c1e13-s0']
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import uuid
from typing import Any

from gliner_jax.interop import storage

STATUSES = ("ok", "diverged", "nan")

# key -> (accepted types, may it be null). Numbers written as ints are accepted where floats are expected.
_NUMBER = (int, float)
SCHEMA: dict[str, tuple[tuple[type, ...], bool]] = {
  "run": ((str,), False),  # the run's deterministic name (unique per settings and seed)
  "rung": ((str,), False),  # the ladder rung (backbone / shape) it trained
  "params_total": ((int,), False),
  "params_non_embedding": ((int,), False),
  "train_examples": ((int,), False),  # examples (passages) seen in training
  "train_tokens": ((int,), False),  # real (unpadded) tokens seen
  "types_seen": ((int,), False),  # distinct entity types seen
  "train_flops": (_NUMBER, False),  # analytic (gliner_jax.model.flops), on real tokens
  "xla_flops": (_NUMBER, True),  # XLA's cost analysis of the training, where the backend has one
  "wall_seconds": (_NUMBER, False),
  "mfu": (_NUMBER, True),
  "train_loss": (_NUMBER, True),  # mean over the last 10% of steps
  "eval_loss": (_NUMBER, True),  # held-out data
  "f1": ((dict,), True),  # dataset name -> zero-shot F1 in [0, 1]
  "f1_avg": (_NUMBER, True),  # mean of `f1`
  "seed": ((int,), False),
  "git_commit": ((str,), False),
  "config_hash": ((str,), False),
  "jax_version": ((str,), False),
  "flax_version": ((str,), False),
  "device_kind": ((str,), False),
  "device_count": ((int,), False),
  "status": ((str,), False),  # one of STATUSES
}
REQUIRED_KEYS: tuple[str, ...] = tuple(SCHEMA)
# Keys a writer may add and the fits and plots use when present; any other extra key is kept untouched.
OPTIONAL_SCHEMA: dict[str, tuple[tuple[type, ...], bool]] = {
  "budget_flops": (_NUMBER, True),  # the budget the run was planned for (IsoFLOP groups); else train_flops
  "steps": ((int,), True),
  "train_spans": ((int,), True),  # labelled spans seen
  "params_encoder": ((int,), True),
  "params_head": ((int,), True),
  "error": ((str,), True),  # why a run that is not "ok" stopped
}


@dataclasses.dataclass(frozen=True)
class ResultRow:
  """One run of a scaling study, as written to results.jsonl (`to_dict`); see `SCHEMA` for each field."""

  run: str
  rung: str
  params_total: int
  params_non_embedding: int
  train_examples: int
  train_tokens: int
  types_seen: int
  train_flops: float
  xla_flops: float | None
  wall_seconds: float
  mfu: float | None
  train_loss: float | None
  eval_loss: float | None
  f1: dict[str, float] | None
  f1_avg: float | None
  seed: int
  git_commit: str
  config_hash: str
  jax_version: str
  flax_version: str
  device_kind: str
  device_count: int
  status: str
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # optional and other keys

  def __post_init__(self):
    problems = validate_row(self.to_dict())
    if problems:
      raise ValueError(f"ResultRow {self.run!r}: " + "; ".join(problems))

  def to_dict(self) -> dict[str, Any]:
    row = {k: getattr(self, k) for k in REQUIRED_KEYS}
    row.update(self.extra)
    return row

  @classmethod
  def from_dict(cls, row: dict[str, Any]) -> "ResultRow":
    return cls(**{k: row.get(k) for k in REQUIRED_KEYS}, extra={k: v for k, v in row.items() if k not in SCHEMA})


def _is_type(value: Any, types: tuple[type, ...]) -> bool:
  if isinstance(value, bool):  # bool is an int in Python, never a count or a number here
    return False
  return isinstance(value, types)


def validate_row(row: Any) -> list[str]:
  """The problems with one row (empty when it follows the schema): missing keys, wrong types, bad status."""
  if not isinstance(row, dict):
    return [f"a row is a JSON object, not {type(row).__name__}"]
  problems = []
  missing = [k for k in REQUIRED_KEYS if k not in row]
  if missing:
    problems.append(f"missing required keys {missing}")
  for key, (types, nullable) in {**SCHEMA, **OPTIONAL_SCHEMA}.items():
    if key not in row:
      continue
    value = row[key]
    if value is None:
      if not nullable:
        problems.append(f"{key} is null")
    elif not _is_type(value, types):
      names = "/".join(t.__name__ for t in types)
      problems.append(f"{key}={value!r} is a {type(value).__name__}, not {names}")
  if isinstance(row.get("f1"), dict):
    bad = {k: v for k, v in row["f1"].items() if not _is_type(v, _NUMBER)}
    if bad:
      problems.append(f"f1 values must be numbers: {bad}")
  if "status" in row and isinstance(row["status"], str) and row["status"] not in STATUSES:
    problems.append(f"status={row['status']!r} is not one of {list(STATUSES)}")
  return problems


def _clean(value: Any) -> Any:
  """JSON-ready: numpy scalars to Python numbers, NaN/inf to null (results.jsonl is strict JSON)."""
  if isinstance(value, dict):
    return {str(k): _clean(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_clean(v) for v in value]
  if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy / jax scalar
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def _parse_lines(text: str, path: str) -> tuple[list[dict[str, Any]], bool]:
  """(the rows, whether an unterminated last line that is not JSON was dropped)."""
  lines = text.split("\n")
  rows, errors, dropped = [], [], False
  for number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as err:
      if number == len(lines) and not text.endswith("\n"):  # a writer killed mid-line
        dropped = True
        continue
      errors.append(f"{path}:{number}: not JSON ({err})")
      continue
    problems = validate_row(row)
    if problems:
      errors.append(f"{path}:{number}: " + "; ".join(problems))
    else:
      rows.append(row)
  if errors:
    raise ValueError(f"{path} does not follow the results schema (docs/scaling.md):\n  " + "\n  ".join(errors))
  return rows, dropped


def read_results(path: str) -> list[dict[str, Any]]:
  """Every row of a results.jsonl (local or gs://), each checked against the schema.

  A schema error raises ValueError naming ``file:line`` and the keys at fault. An unterminated, unparsable last
  line (a writer that was killed mid-line; `append_result` never leaves one) is dropped with a warning.
  """
  file = storage.as_path(path)
  if not file.exists():
    raise FileNotFoundError(f"no results file at {path}")
  rows, dropped = _parse_lines(file.read_text(), str(path))
  if dropped:
    logging.warning("%s: dropped an unterminated last line (a writer killed mid-line)", path)
  return rows


def append_result(path: str, row: ResultRow | dict[str, Any]) -> None:
  """Adds one row to results.jsonl (created with its folder if missing); the row is validated first.

  The file is rewritten whole to a temporary sibling that then replaces it (a rename), so readers never
  see half a line. One writer per file: two processes appending at once may lose a row.
  """
  data = _clean(row.to_dict() if isinstance(row, ResultRow) else dict(row))
  problems = validate_row(data)
  if problems:
    raise ValueError(f"result row {data.get('run')!r} does not follow the schema: " + "; ".join(problems))
  file = storage.as_path(path)
  file.parent.mkdir(parents=True, exist_ok=True)
  old = ""
  if file.exists():
    old = file.read_text()
    _parse_lines(old, str(path))  # never append to a file that is already broken
    if old and not old.endswith("\n"):
      old = old[: old.rfind("\n") + 1]  # the unparsable tail of a killed foreign writer
  text = old + json.dumps(data, allow_nan=False) + "\n"
  if "://" in str(path):  # an object store: an upload replaces the object whole or not at all
    file.write_text(text)
    return
  tmp = file.parent / f".{file.name}.{uuid.uuid4().hex}.tmp"
  tmp.write_text(text)
  tmp.replace(file)  # a rename: atomic on a local file system


def example_row(**overrides: Any) -> dict[str, Any]:
  """A complete, valid row with placeholder values (for docs and tests); `overrides` replace fields."""
  row = {
    "run": "example-run",
    "rung": "example-rung",
    "params_total": 22_700_000,
    "params_non_embedding": 10_900_000,
    "train_examples": 2_000,
    "train_tokens": 300_000,
    "types_seen": 1_500,
    "train_flops": 1.0e13,
    "xla_flops": None,
    "wall_seconds": 60.0,
    "mfu": 0.1,
    "train_loss": 1.0,
    "eval_loss": 1.2,
    "f1": {"ai": 0.2, "music": 0.3},
    "f1_avg": 0.25,
    "seed": 0,
    "git_commit": "0" * 40,
    "config_hash": "0" * 12,
    "jax_version": "0.0.0",
    "flax_version": "0.0.0",
    "device_kind": "cpu",
    "device_count": 1,
    "status": "ok",
  }
  row.update(overrides)
  return row
