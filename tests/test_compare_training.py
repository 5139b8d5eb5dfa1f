"""scripts/compare_training.py (gliner_jax.training.reference_comparison, comparison_run, comparison_report): the same
hyper-parameters reach gliner 0.2.29's Trainer and gliner_jax's loop, and the functions run end to end (two steps of
each library on a bert-tiny-shaped backbone, then gliner_jax's evaluator on a few CrossNER sentences), so the
comparison in the README cannot silently rot."""

from __future__ import annotations

import json
import os
import warnings

import pytest

from gliner_jax.training import comparison_report as report
from gliner_jax.training import reference_comparison as comparison
from gliner_jax.training.config import BUNDLED_TRAIN


def test_same_hyper_parameters_reach_both_trainers(tmp_path):
  from gliner.config import GLiNERConfig as ReferenceConfig

  from gliner_jax.data.recipe import RecipeConfig
  from gliner_jax.training.losses import SpanLossConfig
  from gliner_jax.training.optimizer import OptimizerConfig

  # Distinct values everywhere, so a field mapped to the wrong one shows.
  s = comparison.Settings(
    steps=37,
    batch_size=6,
    seed=5,
    hidden_size=96,
    max_width=7,
    max_len=40,
    max_types=11,
    dropout=0.23,
    max_neg_type_ratio=2,
    focal_alpha=0.6,
    focal_gamma=1.5,
    encoder_lr=2e-5,
    head_lr=3e-4,
    encoder_weight_decay=0.02,
    head_weight_decay=0.03,
    warmup_ratio=0.2,
    max_grad_norm=4.0,
  )
  args = comparison.reference_training_args(s, str(tmp_path / "ref"))
  ref_model = ReferenceConfig(**comparison.reference_model_config(s, "backbone"))
  ours = comparison.our_config(s, "backbone", BUNDLED_TRAIN)

  opt = OptimizerConfig.from_dict({**dict(ours.optimizer), "total_steps": ours.train.num_steps})
  assert (args.learning_rate, args.others_lr) == (opt.encoder_lr, opt.head_lr) == (2e-5, 3e-4)
  assert (args.weight_decay, args.others_weight_decay) == (opt.encoder_weight_decay, opt.head_weight_decay)
  assert args.lr_scheduler_type == opt.scheduler == "linear"
  assert args.get_warmup_steps(args.max_steps) == opt.num_warmup_steps == 8  # ceil(37 * 0.2), both sides
  assert args.max_grad_norm == opt.max_grad_norm == 4.0
  assert (args.adam_beta1, args.adam_beta2, args.adam_epsilon) == (opt.b1, opt.b2, opt.eps)
  assert args.max_steps == ours.train.num_steps == 37
  assert args.per_device_train_batch_size == ours.train.batch_size == 6
  assert args.seed == ours.train.seed == 5
  assert args.optim == "adamw_torch" and args.gradient_accumulation_steps == 1 and not args.bf16
  assert ours.train.compute_dtype == "float32"

  loss = SpanLossConfig.from_dict(dict(ours.loss))
  assert (args.focal_loss_alpha, args.focal_loss_gamma) == (loss.alpha, loss.gamma) == (0.6, 1.5)
  assert args.loss_reduction == loss.reduction == "sum"
  assert args.masking == loss.masking == "none" and args.negatives == loss.negatives == 1.0
  assert args.label_smoothing == loss.label_smoothing == 0.0 and args.focal_loss_prob_margin == loss.prob_margin
  assert args.loss_type == loss.loss_type == "focal" and not args.use_span_width_weight

  for field in ("span_mode", "hidden_size", "max_width", "max_len", "max_types", "dropout", "num_rnn_layers"):
    assert getattr(ref_model, field) == ours.model[field], field
  assert ref_model.embed_ent_token is ours.model.embed_ent_token is False
  assert ref_model.subtoken_pooling == "first"

  # Prompts: gliner draws r uniformly in {0..R}; ours gives negatives with probability R/(R+1), r in {1..R}.
  recipe = RecipeConfig(
    max_len=s.max_len, max_width=s.max_width, max_types=s.max_types, batch_size=s.batch_size, **dict(ours.recipe)
  )
  assert recipe.max_neg_type_ratio == ref_model.max_neg_type_ratio == 2
  assert recipe.negative_prob == pytest.approx(2 / 3)
  assert recipe.prompt_drop == 0.0 and recipe.shuffle_types and recipe.type_memory == 0
  assert recipe.max_types == ref_model.max_types and max(recipe.word_buckets) >= s.max_len

  start = comparison.our_config(s, "backbone", BUNDLED_TRAIN, init_dir=str(tmp_path / "init"))
  assert (start.model.init, start.model.path) == ("gliner", str(tmp_path / "init"))


def test_lstm_biases_are_not_decayed_as_in_gliner():
  """gliner decays every parameter but LayerNorms and names containing "bias" (the LSTM's bias_ih_l0, ...)."""
  import numpy as np

  from gliner_jax.training.optimizer import param_labels

  rnn = {k: np.zeros((2, 4, 8) if k.startswith("w") else (2, 8)) for k in ("w_ih", "w_hh", "b_ih", "b_hh")}
  labels = param_labels({"rnn": rnn})["rnn"]
  assert labels == {"w_ih": "head/decay", "w_hh": "head/decay", "b_ih": "head/no_decay", "b_hh": "head/no_decay"}


def test_windows_file_is_read_alike(tmp_path):
  from gliner_jax.data.readers import read_ner_file
  from gliner_jax.training.data import load_examples

  out = str(tmp_path / "windows.json")
  stats = comparison.prepare_windows(BUNDLED_TRAIN, 48, 12, out)
  records = comparison.read_windows(out)
  assert stats["windows"] - stats["empty_windows_dropped"] == len(records) > 0
  assert all(r["ner"] and len(r["tokenized_text"]) <= 48 for r in records)
  ours = load_examples([{"path": out}])
  assert [list(ex.tokens) for ex in ours] == [r["tokenized_text"] for r in records]
  assert [[list(s) for s in ex.spans] for ex in ours] == [r["ner"] for r in records]
  assert sum(len(ex.spans) for ex in read_ner_file(out)) == stats["spans"]


@pytest.mark.slow
@pytest.mark.needs_shared_data
def test_both_trainers_run_and_are_scored_alike(bert_tiny_dir, tmp_path):
  s = comparison.Settings(
    steps=2, batch_size=2, hidden_size=128, max_len=32, max_types=6, checkpoint_every=2, log_every=1, head_lr=1e-3
  )
  train_file = str(tmp_path / "windows.json")
  comparison.prepare_windows(BUNDLED_TRAIN, s.max_len, s.max_width, train_file)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = comparison.train_reference(s, bert_tiny_dir, train_file, str(tmp_path / "reference"))
  assert ref["steps"] == 2 and os.path.isfile(os.path.join(ref["model_dir"], "gliner_config.json"))
  assert len(ref["losses"]) == 2 and not os.path.isdir(str(tmp_path / "reference" / "checkpoints"))
  ours = comparison.train_ours(s, bert_tiny_dir, train_file, str(tmp_path / "ours"))
  assert ours["steps"] == 2 and len(ours["losses"]) == 2
  # A finished run is reused, not retrained.
  assert comparison.train_ours(s, bert_tiny_dir, train_file, str(tmp_path / "ours")) == ours

  runs = []
  for run in (ref, ours):
    cache = os.path.join(os.path.dirname(run["model_dir"]), "eval.json")
    run["eval"] = comparison.evaluate_model(run["model_dir"], [0.3, 0.5], ["ai"], 2, cache=cache)
    with open(cache) as f:
      assert json.load(f)["reports"] == run["eval"]
    runs.append(run)
  assert [r["threshold"] for r in runs[0]["eval"]] == [0.3, 0.5]
  assert runs[0]["eval"][0]["datasets"][0]["num_examples"] == 2
  table = report.comparison_table(runs)
  assert "| 0.3 | gliner_jax - gliner 0.2.29 |" in table and "| 0.5 | gliner 0.2.29 |" in table
  assert len(report.verdicts(runs)) == 2
  assert report.mean_loss([(1, 4.0), (2, 2.0)], last=1) == 2.0
  assert "| gliner_jax | 2 (0) |" in report.timing_table(runs)


def test_config_file_holds_the_settings_and_flags_override_them():
  from gliner_jax.configs import compare_gliner
  from gliner_jax.training.config_files import load_config

  config = load_config("compare_gliner")
  assert config.to_dict() == compare_gliner.get_config().to_dict()
  assert comparison.settings_from_config(config) == comparison.Settings()
  s = comparison.settings_from_config(config, steps=7, seed=None, head_lr=1e-3)
  assert (s.steps, s.seed, s.head_lr, s.encoder_lr) == (7, 0, 1e-3, 5e-5)
  # The training part is the gliner_jax side of those settings.
  assert config.train.num_steps == 500 and config.optimizer.head_lr == 5e-4 and config.model.hidden_size == 384
  with pytest.raises(ValueError, match=r"unknown comparison settings \['stepz'\]"):
    comparison.Settings.from_dict({"stepz": 3})
  del config["compare"]
  with pytest.raises(ValueError, match="no `compare` block"):
    comparison.settings_from_config(config)


def test_bad_runs_are_refused_before_training(tmp_path):
  from gliner_jax.training.comparison_run import check_inits, prepare_workdir

  check_inits(["own", "reference"])
  for bad in ([], ["own", "theirs"]):
    with pytest.raises(ValueError, match=r"--init: use one or more of \('own', 'reference'\)"):
      check_inits(bad)
  s = comparison.Settings(max_len=48)
  train_file, stats = prepare_workdir(s, str(tmp_path), BUNDLED_TRAIN)
  assert comparison.read_windows(train_file) and stats["spans"] > 0
  assert prepare_workdir(s, str(tmp_path), BUNDLED_TRAIN) == (train_file, stats)  # reused
  with pytest.raises(ValueError, match="holds runs with other settings"):
    prepare_workdir(comparison.Settings(max_len=40), str(tmp_path), BUNDLED_TRAIN)
