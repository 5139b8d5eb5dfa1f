"""The main job behind the README's first command (scripts/main.py).

Fine-tunes the embedded default model on the bundled Pile-NER slice with `train_and_evaluate` (the code
path of a TPU run), scores it on the bundled CrossNER AI slice before and after, and prints predictions.
"""

from __future__ import annotations

import dataclasses
import os

from gliner_jax.data.readers import read_bio
from gliner_jax.evaluation.label_maps import get_label_map
from gliner_jax.evaluation.scoring import EvalDataset, EvaluationReport, evaluate_datasets
from gliner_jax.inference.api import GLiNER
from gliner_jax.training.logging_setup import log_to_workdir
from gliner_jax.training.loop import TrainResult, train_and_evaluate

EXAMPLE_TEXTS = (
  "Geoffrey Hinton received the Turing Award with Yoshua Bengio and Yann LeCun for their work on deep "
  "neural networks at the University of Toronto.",
  "The European Space Agency launched the Jupiter Icy Moons Explorer from Kourou in French Guiana in April 2023.",
  "Pfizer and BioNTech developed a COVID-19 vaccine that the FDA approved in December 2020.",
)
EXAMPLE_LABELS = ("person", "organization", "location", "award", "date", "product", "disease")


@dataclasses.dataclass(frozen=True)
class MainJobResult:
  """The main job's outcome: the CrossNER slice's scores before and after fine-tuning (`evaluate_datasets`),
  the training run, and the log file."""

  before: EvaluationReport
  after: EvaluationReport
  training: TrainResult
  log_file: str


def bundled_crossner_slice(path: str) -> EvalDataset:
  label_map = get_label_map("crossner_ai")
  examples = tuple(label_map.apply(read_bio(path)))
  labels = tuple(t for t in label_map.types if any(t == s[2] for ex in examples for s in ex.spans))
  return EvalDataset("crossner_ai (bundled 100-sentence slice)", path, examples, labels)


def print_predictions(model: GLiNER, texts=EXAMPLE_TEXTS, labels=EXAMPLE_LABELS, threshold: float = 0.5) -> None:
  for text, entities in zip(texts, model.batch_predict_entities(list(texts), list(labels), threshold=threshold)):
    print(f"\n{text}")
    for e in entities:
      print(f"  {e.text!r:40} {e.label:14} {e.score:.3f}")


def run_main_job(config, workdir: str, verbosity: int | None = None) -> MainJobResult:
  """Evaluate the default model, fine-tune it on the bundled slice, evaluate again, predict; returns the
  scores before and after and the training run (`MainJobResult`).

  Log lines of INFO and above go to `<workdir>/log.txt`; the terminal shows those `verbosity` (absl's
  --verbosity; None: WARNING and above) asks for (`log_to_workdir`).
  """
  log_file = log_to_workdir(workdir, verbosity)
  dataset = bundled_crossner_slice(config.crossner_slice)
  base = GLiNER.from_pretrained(config.model.path)
  before = evaluate_datasets(base, [dataset], threshold=config.eval.threshold)
  print("\nDefault model before fine-tuning:\n" + before.to_markdown())
  print(f"\nFine-tuning on the bundled Pile-NER slice for {config.train.num_steps} steps -> {workdir}")
  result = train_and_evaluate(config, workdir)
  tuned = result.predictor  # the run's parameters and compiled eval forwards: nothing is rebuilt
  after = evaluate_datasets(tuned, [dataset], threshold=config.eval.threshold)
  print("\nAfter fine-tuning:\n" + after.to_markdown())
  print(f"\nTraining metrics: {os.path.join(workdir, 'metrics.jsonl')}; log: {log_file}")
  print_predictions(tuned, threshold=config.eval.threshold)
  return MainJobResult(before=before, after=after, training=result, log_file=log_file)
