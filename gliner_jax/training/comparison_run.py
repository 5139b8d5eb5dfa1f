"""The gliner 0.2.29 vs gliner_jax training comparison end to end, resumable: windows, both trainings, CrossNER
scores and the results files. scripts/compare_training.py is its command line; the steps are in
`gliner_jax.training.reference_comparison`, the tables in `gliner_jax.training.comparison_report`.

Example:
  >>> result = run_comparison(Settings(steps=100), "workdirs/compare_training")  # doctest: +SKIP
  >>> print(result.text)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Sequence

from absl import logging

from gliner_jax.training.comparison_report import comparison_table, results_text, verdicts
from gliner_jax.training.reference_comparison import (
  DOMAINS,
  INITS,
  Settings,
  build_reference,
  default_data,
  evaluate_model,
  is_model_folder,
  prepare_windows,
  train_ours,
  train_reference,
)


@dataclasses.dataclass
class ComparisonResult:
  """What `run_comparison` wrote to workdir/results.md (`text`) and results.json (the rest)."""

  settings: Settings
  data: dict[str, int]
  runs: list[dict[str, Any]]
  table: str
  verdicts: list[str]
  text: str


def check_inits(inits: Sequence[str]) -> None:
  """ValueError unless `inits` is a non-empty list of "own" / "reference"."""
  if not inits or set(inits) - set(INITS):
    raise ValueError(f"--init: use one or more of {INITS}, got {list(inits)}")


def prepare_workdir(s: Settings, workdir: str, source: str) -> tuple[str, dict[str, int]]:
  """Checks that `workdir` holds no runs with other settings, writes the windows once and settings.json.

  Returns (the windows file, its counts).
  """
  from gliner_jax.data.paths import repo_relative

  os.makedirs(workdir, exist_ok=True)
  settings_path = os.path.join(workdir, "settings.json")
  if os.path.isfile(settings_path):
    with open(settings_path) as f:
      previous = json.load(f)["settings"]
    if previous != s.to_dict():
      raise ValueError(f"{workdir} holds runs with other settings ({settings_path}); use another --workdir")
  train_file = os.path.join(workdir, "train_windows.json")
  if not os.path.isfile(train_file):
    data_stats = prepare_windows(source, s.max_len, s.max_width, train_file)
  else:
    with open(settings_path) as f:
      data_stats = json.load(f)["data"]
  with open(settings_path, "w") as f:
    json.dump({"settings": s.to_dict(), "data": data_stats, "source": repo_relative(source)}, f, indent=2)
  return train_file, data_stats


def _finished(run_dir: str) -> list[dict[str, Any]]:
  path = os.path.join(run_dir, "run.json")
  if not os.path.isfile(path):
    return []
  with open(path) as f:
    return [json.load(f)]


def run_comparison(
  s: Settings,
  workdir: str,
  *,
  backbone: str | None = None,
  data: str | None = None,
  inits: Sequence[str] = ("own",),
  skip_reference: bool = False,
  skip_ours: bool = False,
  thresholds: Sequence[float] = (0.3, 0.5),
  domains: Sequence[str] = DOMAINS,
  max_eval_examples: int | None = None,
  eval_batch_size: int = 8,
) -> ComparisonResult:
  """Trains gliner 0.2.29 and gliner_jax (one run per init) in `workdir`, or reuses their finished runs, scores
  each on CrossNER and writes workdir/results.md and results.json.

  `backbone`: a backbone folder (default: the installed all-MiniLM-L6-v2); `data`: the training passages
  (default: the shared Pile-NER subset); `skip_*`: reuse the finished runs in `workdir` instead of training.
  """
  from gliner_jax.interop.installed_models import minilm_dir

  check_inits(inits)
  workdir = os.path.abspath(workdir)
  backbone = backbone or minilm_dir()
  source = data or default_data()
  train_file, data_stats = prepare_workdir(s, workdir, source)
  logging.info("training windows: %s", data_stats)

  runs = []
  ref_dir = os.path.join(workdir, "reference")
  runs += [train_reference(s, backbone, train_file, ref_dir)] if not skip_reference else _finished(ref_dir)
  for init in inits:
    run_dir = os.path.join(workdir, f"ours_{init}")
    init_dir = os.path.join(ref_dir, "init") if init == "reference" else None
    if init_dir and not is_model_folder(init_dir):
      build_reference(s, backbone).save_pretrained(init_dir, safe_serialization=True)
    runs += [train_ours(s, backbone, train_file, run_dir, init_dir)] if not skip_ours else _finished(run_dir)
  if not runs:
    raise ValueError(f"nothing to evaluate: no finished run in {workdir}")

  for run in runs:
    start = time.perf_counter()
    run["eval"] = evaluate_model(
      run["model_dir"],
      [float(t) for t in thresholds],
      domains,
      max_eval_examples,
      eval_batch_size,
      cache=os.path.join(os.path.dirname(run["model_dir"]), "eval.json"),
    )
    logging.info("%s evaluated in %.0f s", run["name"], time.perf_counter() - start)

  table, lines = comparison_table(runs), verdicts(runs)
  text = results_text(runs, s.steps, s.batch_size, max_eval_examples)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(text)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(
      {"settings": s.to_dict(), "data": data_stats, "table": table, "verdicts": lines, "runs": runs}, f, indent=2
    )
  return ComparisonResult(settings=s, data=data_stats, runs=runs, table=table, verdicts=lines, text=text)
