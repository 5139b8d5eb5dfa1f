"""Training a relex model (configs/relex_tiny.py through scripts/train.py): the loss falls, a run SIGKILLed after its
first checkpoint resumes and logs every step as the uninterrupted run did, and the exported gliner relex folder loads
(in gliner_jax and in gliner 0.2.29) and predicts the same entities and relations as the trained parameters. The AOT
compile of the relex train step for TPU v5e:2x2 is in tests/test_aot.py (its kind list holds both relex kinds).

The runs reuse tests/test_train.py's fixtures (one persistent compilation cache, `full_run` over this module's
`config_file`) and its kill-and-resume check.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import test_train
from test_relex_predict import check_against_reference
from test_train import NUM_STEPS, check_resume_after_sigkill, read_metrics

from conftest import require_module
from gliner_jax import GLiNER
from gliner_jax.inference.relex import Relation, RelexGLiNER
from gliner_jax.training.config_files import load_config
from gliner_jax.training.export import export_model

CONFIG_FILE = '''\
"""configs/relex_tiny.py on its first 8 sentences with fixed batch shapes (one compiled train step)."""
from gliner_jax.configs import relex_tiny as _relex_tiny


def get_config(arg=""):
  c = _relex_tiny.get_config(arg)
  c.data.train = [dict(path=_relex_tiny.RELEX_TRAIN, max_examples=8)]
  c.data.eval = [dict(path=_relex_tiny.RELEX_DEV)]
  c.recipe.update(token_buckets=(64,), word_buckets=(16,), type_buckets=(8,), max_tokens=64,
                  prompt_drop=0.0, negative_prob=0.0, shuffle_types=False)
  c.optimizer.update(encoder_lr=3e-3, head_lr=3e-3, warmup_ratio=0.1)
  c.train.update(batch_size=8, num_steps={num_steps}, checkpoint_every=2, log_every=1, eval_every={num_steps})
  return c
'''
TEXTS = [
  "Maria Lopez works at Harbor Bank in Lisbon .",
  "Jonas Berg founded Atlas Robotics , a company based in Osaka .",
  "The headquarters of Cedar Health are in Toronto .",
]
ENTITY_LABELS = ["person", "organization", "city"]
RELATION_LABELS = ["works at", "founded", "located in", "born in"]
run_env = test_train.run_env  # the subprocesses' environment (one compilation cache)
full_run = test_train.full_run  # an uninterrupted run of this module's config_file


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> str:
  path = str(tmp_path_factory.mktemp("relex_config") / "relex_tiny_fixed.py")
  with open(path, "w") as f:
    f.write(CONFIG_FILE.format(num_steps=NUM_STEPS))
  return path


@pytest.mark.slow
@pytest.mark.subprocess
def test_relex_run_learns_and_evaluates(full_run):
  with open(os.path.join(full_run, "config.json")) as f:
    saved = json.load(f)
  assert saved["model"]["relations_layer"] == "dot"
  rows = [r for r in read_metrics(full_run) if "loss" in r]
  assert [r["step"] for r in rows] == list(range(1, NUM_STEPS + 1))
  losses = np.array([r["loss"] for r in rows])
  assert np.all(np.isfinite(losses)) and all(r["grad_norm"] > 0 for r in rows)
  assert losses[-4:].mean() < 0.5 * losses[0], losses
  assert losses[-4:].mean() < losses[4:8].mean(), losses
  (evaluation,) = [r for r in read_metrics(full_run) if "eval_f1" in r]
  assert evaluation["step"] == NUM_STEPS
  scores = ("eval_precision", "eval_f1", "eval_relation_precision", "eval_relation_f1", "eval_relation_boundaries_f1")
  assert all(0 <= evaluation[k] <= 1 for k in scores), evaluation  # relation scores beside the entity scores
  assert evaluation["eval_relation_f1"] <= evaluation["eval_relation_boundaries_f1"]


@pytest.mark.slow
@pytest.mark.subprocess
def test_relex_resume_after_sigkill_reproduces_every_step(config_file, run_env, full_run, tmp_path):
  check_resume_after_sigkill(config_file, run_env, full_run, str(tmp_path / "killed"))


@pytest.mark.slow
@pytest.mark.subprocess
def test_exported_relex_folder_loads_and_predicts(config_file, full_run, tmp_path):
  """export_model(format="gliner") writes gliner's relex folder: GLiNER.from_pretrained reads it back as a RelexGLiNER
  with the checkpoint's parameters, predicting what the trained parameters predict; gliner 0.2.29 reads it too."""
  config = load_config(config_file)
  folder = str(tmp_path / "relex_gliner")
  assert export_model(config, full_run, folder, format="gliner") == NUM_STEPS
  with open(os.path.join(folder, "gliner_config.json")) as f:
    written = json.load(f)
  assert (written["model_type"], written["relations_layer"]) == ("gliner_uni_encoder_span_relex", "dot")
  model = GLiNER.from_pretrained(folder, compilation_cache=False)
  assert type(model) is RelexGLiNER and model.config.relations_layer == "dot"
  again = RelexGLiNER.from_pretrained(folder, compilation_cache=False)
  assert again.config == model.config
  found = model.batch_predict_relations(TEXTS, ENTITY_LABELS, RELATION_LABELS, threshold=0.3, relation_threshold=0.3)
  assert len(found) == len(TEXTS) and sum(len(entities) for entities, _ in found) > 0
  for text, (entities, relations) in zip(TEXTS, found):
    assert all(e.text == text[e.start : e.end] and e.label in ENTITY_LABELS for e in entities)
    assert all(isinstance(r, Relation) and r.label in RELATION_LABELS for r in relations)
    assert all(r.head is entities[r.head_index] and r.tail is entities[r.tail_index] for r in relations)
  require_module("torch")
  require_module("gliner")
  from test_export_gliner import load_with_gliner

  check_against_reference(load_with_gliner(folder), model)
