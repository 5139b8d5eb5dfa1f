"""Docstring examples that run as doctests: each module listed here must run all its examples cleanly.

Modules whose examples are sketches (they need a model folder, a data file or a TPU, or show a fragment)
are listed in docs/testing_tiers.md until their examples are made runnable or marked `# doctest: +SKIP`.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

RUNNABLE = [
  "gliner_jax.data.paths",
  "gliner_jax.data.readers",
  "gliner_jax.evaluation.label_maps",
  "gliner_jax.inference.compile_counter",
  "gliner_jax.inference.decoding",
  "gliner_jax.interop.hf_weights",
  "gliner_jax.model.backbones",
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
  "gliner_jax.model.encoders.t5",
  "gliner_jax.model.encoders.t5.hf",
  "gliner_jax.model.encoders.weights",
  "gliner_jax.training.config",
  "gliner_jax.training.logging_setup",
  "gliner_jax.training.model_init",
]
RUNNABLE_SLOW = [  # each builds and runs small encoders: 15-60 s on 2 cores
  "gliner_jax.model.encoders",
  "gliner_jax.model.encoders.attention",
  "gliner_jax.model.encoders.bert.module",
  "gliner_jax.model.encoders.deberta.module",
  "gliner_jax.model.encoders.modernbert.module",
  "gliner_jax.model.encoders.t5.module",
  "gliner_jax.training.bi_encoder",
]


@pytest.mark.parametrize("name", RUNNABLE + [pytest.param(name, marks=pytest.mark.slow) for name in RUNNABLE_SLOW])
def test_docstring_examples_run(name):
  module = importlib.import_module(name)
  result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False)
  assert result.attempted > 0, f"{name} has no docstring examples: take it off the list"
  assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (printed above)"
