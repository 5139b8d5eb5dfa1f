"""Evaluation during training: micro P/R/F1 of the current parameters, and predictors over them.

Example (the tiny config's random initial parameters, before any training step: every score is near 0.5, so
at threshold 0.5 they predict hundreds of spans, all wrong):
  >>> from gliner_jax.configs import tiny
  >>> from gliner_jax.training.config import BUNDLED_DEV
  >>> from gliner_jax.training.data import load_source
  >>> from gliner_jax.training.steps import build, initial_state
  >>> config = tiny.get_config()
  >>> parts = build(config); state = initial_state(parts, 0)
  >>> evaluate(parts, state, load_source(dict(path=BUNDLED_DEV, max_examples=4)), config)
  {'eval_precision': 0.0, 'eval_recall': 0.0, 'eval_f1': 0.0, 'eval_predicted': 658}
  >>> model = inference_model(parts, state)   # a GLiNER predictor over the same parameters
  >>> model.predict_entities("Ada Lovelace was born in London.", ["person", "city"], threshold=0.6)
  []
"""

from __future__ import annotations

import jax

from gliner_jax.evaluation.scoring import predict_word_spans, score_spans
from gliner_jax.inference.api import make_predictor
from gliner_jax.training.kinds import training_kind
from gliner_jax.training.steps import TrainComponents


def evaluate(parts: TrainComponents, state, examples, config) -> dict[str, float]:
  """Micro P/R/F1 on word-tokenised examples with the current parameters, over all their types, plus the kind's
  `eval_metrics` (`gliner_jax.training.kinds`; a relex kind: eval_relation_precision / _recall / _f1 / _predicted).

  The parameters stay where training keeps them when the kind allows it: the forward is the run's
  `parts.eval_candidates` (compiled once per batch shape for the whole run, outputs replicated); decoding
  runs on the host, on every process.
  """
  labels = sorted({t for ex in examples for _, _, t in ex.spans} | {t for ex in examples for t in ex.negatives})
  model = eval_predictor(parts, state)
  predicted = predict_word_spans(
    model,
    examples,
    labels,
    threshold=config.eval.threshold,
    flat_ner=config.eval.flat_ner,
    batch_size=config.eval.batch_size,
  )
  scores = score_spans([ex.spans for ex in examples], [[p[:3] for p in row] for row in predicted])
  extra = training_kind(parts.config).eval_metrics  # e.g. a relex kind's relation scores
  return {
    "eval_precision": scores.precision,
    "eval_recall": scores.recall,
    "eval_f1": scores.f1,
    "eval_predicted": scores.num_predicted,
    **(extra(model, examples, config) if extra is not None else {}),
  }


def eval_predictor(parts: TrainComponents, state):
  """A predictor over the training parameters as they are (sharded, not gathered) that scores with the run's
  jitted eval forwards (`TrainComponents.eval_scoring`) instead of compiling its own; for kinds that do not
  share them, `inference_model`."""
  params = state["params"]
  scoring = parts.eval_scoring(params)
  if scoring is None:
    return inference_model(parts, state)
  return make_predictor(parts.config, params, parts.start.tokenizer, scoring=scoring)


def inference_model(parts: TrainComponents, state):
  """A predictor of the model's kind over the current parameters (gathered to the host)."""
  return make_predictor(
    parts.config, jax.device_get(state["params"]), parts.start.tokenizer, labels_tokenizer=parts.start.labels_tokenizer
  )
