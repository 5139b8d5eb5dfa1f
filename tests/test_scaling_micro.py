"""The micro study end to end through the command line: plan, run (and a resumed rerun), fit, plot."""

import json
import os
import subprocess
import sys

import pytest

from gliner_jax.data.paths import REPO_ROOT
from gliner_jax.scaling.results import REQUIRED_KEYS, read_results

CONFIG = os.path.join("configs", "scaling", "micro.py")
RUNS = [f"minilm-l6-v2-L{k}-c{b}-s0" for b in ("3e11", "4.5e11") for k in (1, 2, 3)]


def _cli(*args: str) -> str:
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run(
    [sys.executable, "scripts/scaling.py", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500, env=env
  )
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
  return out.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_micro_study_end_to_end(tmp_path, minilm_dir):
  workdir = str(tmp_path / "micro")
  plan = _cli("plan", "--config", CONFIG, "--workdir", workdir)
  assert [line.split("|")[1].strip() for line in plan.splitlines() if line.startswith("| minilm")] == RUNS

  _cli("run", "--config", CONFIG, "--workdir", workdir)
  results = os.path.join(workdir, "results.jsonl")
  rows = read_results(results)
  assert [r["run"] for r in rows] == RUNS
  for row in rows:
    assert set(REQUIRED_KEYS) <= set(row)
    assert row["status"] == "ok", row
    assert abs(row["train_flops"] / row["budget_flops"] - 1) <= 0.01
    assert row["eval_loss"] is not None and row["train_loss"] is not None and row["xla_flops"] > 0
    assert set(row["f1"]) == {"crossner_ai"} and row["f1_avg"] == row["f1"]["crossner_ai"]
    assert row["git_commit"] and len(row["config_hash"]) == 12 and row["device_kind"]
    steps = [json.loads(line) for line in open(os.path.join(workdir, "runs", row["run"], "metrics.jsonl"))]
    assert max(s["step"] for s in steps if "loss" in s) == row["steps"]
  by_run = {r["run"]: r for r in rows}
  for k in (1, 2, 3):  # more budget: more steps and data for the same rung
    small, big = by_run[f"minilm-l6-v2-L{k}-c3e11-s0"], by_run[f"minilm-l6-v2-L{k}-c4.5e11-s0"]
    assert big["steps"] > small["steps"] and big["train_tokens"] > small["train_tokens"]
  assert by_run[RUNS[0]]["steps"] > by_run[RUNS[2]]["steps"]  # the 1-layer rung takes more steps than 3 layers

  # A finished run is never repeated; one whose row is lost resumes from its final checkpoint without training.
  with open(results) as f:
    lines = f.readlines()
  with open(results, "w") as f:
    f.writelines(lines[:-1])
  last = os.path.join(workdir, "runs", RUNS[-1], "metrics.jsonl")
  before = open(last).read()
  out = _cli("run", "--config", CONFIG, "--workdir", workdir)
  assert sum("already in" in line for line in out.splitlines()) == 5
  assert open(last).read() == before  # no step was trained again
  again = read_results(results)
  assert [r["run"] for r in again] == RUNS
  assert again[-1]["train_loss"] == rows[-1]["train_loss"] and again[-1]["eval_loss"] == pytest.approx(
    rows[-1]["eval_loss"]
  )

  _cli("fit", "--workdir", workdir)
  fit = json.load(open(os.path.join(workdir, "fit.json")))
  assert fit
  pngs = _cli("plot", "--workdir", workdir).split()
  assert pngs and all(p.endswith(".png") and os.path.getsize(p) > 0 for p in pngs)
