"""The main job (scripts/main.py -> `run_main_job`) on a 2-step config: it scores the default model on the
bundled CrossNER slice, fine-tunes it with `train_and_evaluate`, scores the result with the run's own predictor
(nothing is built twice), and prints the reports and predictions it returns.
"""

from __future__ import annotations

import json
import os

import pytest

from gliner_jax.configs import main as main_config
from gliner_jax.evaluation.scoring import EvaluationReport
from gliner_jax.inference.api import GLiNER
from gliner_jax.training import loop
from gliner_jax.training.main_job import EXAMPLE_TEXTS, run_main_job


@pytest.mark.slow
def test_main_job_returns_and_prints_its_reports(tmp_path, monkeypatch, capsys):
  config = main_config.get_config("2")
  config.train.compilation_cache_dir = ""
  config.data.eval = [dict(config.data.eval[0], max_examples=4)]
  builds = []
  real_build = loop.build
  monkeypatch.setattr(loop, "build", lambda *a, **k: builds.append(1) or real_build(*a, **k))
  workdir = str(tmp_path / "main")
  result = run_main_job(config, workdir)
  out = capsys.readouterr().out

  assert len(builds) == 1  # the tuned model is the run's own predictor, not a rebuilt one
  training = result.training
  assert (training.start_step, training.final_step, int(training.state["step"])) == (0, 2, 2)
  assert isinstance(training.predictor, GLiNER) and result.log_file.startswith(workdir)
  assert training.last_train["step"] == 2 and set(training.last_eval) >= {"eval_f1", "eval_predicted"}
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows if "loss" in r] == [1, 2]
  assert [r for r in rows if "eval_f1" in r] == [{"step": 2, **training.last_eval}]
  for report in (result.before, result.after):
    assert isinstance(report, EvaluationReport) and len(report.results) == 1
    assert report.results[0].scores.num_gold > 0
  assert "Default model before fine-tuning:\n" + result.before.to_markdown() in out
  assert "After fine-tuning:\n" + result.after.to_markdown() in out
  assert all(text in out for text in EXAMPLE_TEXTS)
