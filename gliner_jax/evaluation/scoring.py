"""Zero-shot NER evaluation: word-level prediction, exact-match P/R/F1, dataset runner, reports.

Scoring follows gliner 0.2.29's evaluator: a prediction is correct when its (start word, end word,
type) equals a gold span of the same example. Gold and predicted spans are *sets* per example, so
duplicates count once. Counts are summed over a dataset (micro average); precision is 0 when nothing
is predicted, recall is 0 when there is no gold span, F1 is 0 when both are 0 (so a dataset with no
gold span and no prediction scores 0, not 1, as in gliner). The average over datasets is the plain
mean of their precisions, recalls and F1s.

Evaluation data is already split into words: the words are given to the model as they are (as
gliner's `evaluate` feeds `tokenized_text` to the model), never re-split. Texts longer than the
model's `max_len` words are read whole, in overlapping windows (gliner truncates them instead).

Example (the bundled default model on the first 20 sentences of the bundled CrossNER AI slice; a dataset
folder, e.g. {"crossner_ai": "../shared/data/crossner/ai"}, is read the same way):
  >>> import gliner_jax
  >>> from gliner_jax.scaling.presets import CROSSNER_AI_SLICE
  >>> from gliner_jax.training.main_job import bundled_crossner_slice
  >>> model = gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)
  >>> predict_word_spans(model, [["Ada", "Lovelace", "was", "born", "in", "London"]], ["person", "city"])
  [[(0, 1, 'person', 0.76...), (5, 5, 'city', 0.70...)]]
  >>> data = bundled_crossner_slice(CROSSNER_AI_SLICE)
  >>> data = dataclasses.replace(data, examples=data.examples[:20])
  >>> report = evaluate_datasets(model, [data])
  >>> s = report.results[0].scores; round(s.f1, 2), s.num_gold   # the default model is small (docs/default_model.md)
  (0.16, 89)
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from gliner_jax.data.readers import NERExample, find_split_file, read_dataset_folder, read_label_file
from gliner_jax.evaluation.label_maps import LabelMap, get_label_map
from gliner_jax.inference.decoding import check_threshold
from gliner_jax.interop import storage

Span = tuple[int, int, str]
ScoredSpan = tuple[int, int, str, float]

LABEL_FILES = ("labels.json", "label.txt")


# ----------------------------------------------------------------------------------- metrics
@dataclasses.dataclass(frozen=True)
class Scores:
  """Exact-match micro scores of one dataset (fractions in [0, 1]) and the counts behind them."""

  precision: float
  recall: float
  f1: float
  true_positives: int
  num_predicted: int
  num_gold: int


def _ratio(num: int, den: int) -> float:
  return float(np.float64(num) / np.float64(den)) if den else 0.0


def _f1(p: float, r: float) -> float:
  return float(2 * (np.float64(p) * np.float64(r)) / np.float64(p + r)) if p + r else 0.0


def score_spans(gold: Sequence[Iterable[Sequence]], predicted: Sequence[Iterable[Sequence]]) -> Scores:
  """Exact-match micro P/R/F1 of per-example span lists ``(start, end, type[, score])``.

  Duplicates within an example count once; scores (a 4th element) are ignored.

  >>> score_spans([[(0, 1, "person"), (3, 3, "city")]], [[(0, 1, "person"), (0, 1, "person"), (2, 2, "city")]])
  Scores(precision=0.5, recall=0.5, f1=0.5, true_positives=1, num_predicted=2, num_gold=2)
  """
  if len(gold) != len(predicted):
    raise ValueError(f"gold has {len(gold)} examples but predicted has {len(predicted)}")
  tp = n_pred = n_gold = 0
  for g, p in zip(gold, predicted):
    g_set = {(int(s[0]), int(s[1]), s[2]) for s in g}
    p_set = {(int(s[0]), int(s[1]), s[2]) for s in p}
    tp += len(g_set & p_set)
    n_pred += len(p_set)
    n_gold += len(g_set)
  precision, recall = _ratio(tp, n_pred), _ratio(tp, n_gold)
  return Scores(precision, recall, _f1(precision, recall), tp, n_pred, n_gold)


# ----------------------------------------------------------------------------------- prediction
class PretokenizedSplitter:
  """Word splitter returning given word lists: text ``" ".join(words)`` -> those words.

  Register word lists with :meth:`register` (returns the text to predict on); an unregistered
  text is split on single spaces. Offsets index the joined text, so words may hold any character.

  >>> sp = PretokenizedSplitter(); text = sp.register(["U.S.", "-based", "firm"])
  >>> sp(text)
  [('U.S.', 0, 4), ('-based', 5, 11), ('firm', 12, 16)]
  """

  def __init__(self):
    self.words: dict[str, tuple[str, ...]] = {}

  def register(self, words: Sequence[str]) -> str:
    text = " ".join(words)
    known = self.words.setdefault(text, tuple(words))
    if known != tuple(words):
      raise ValueError(f"two different word lists join to the same text {text[:60]!r}")
    return text

  def __call__(self, text: str) -> list[tuple[str, int, int]]:
    words = self.words.get(text)
    if words is None:
      words = tuple(w for w in text.split(" ") if w)
      starts, pos = [], 0
      for w in words:
        pos = text.index(w, pos)
        starts.append(pos)
        pos += len(w)
    else:
      starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]]).tolist()
    return [(w, s, s + len(w)) for w, s in zip(words, starts)]


def _rounds(examples: Sequence[Sequence[str]]) -> list[list[int]]:
  """Groups example indices so that no group has two different word lists with the same join."""
  rounds: list[tuple[dict[str, tuple[str, ...]], list[int]]] = []
  for i, words in enumerate(examples):
    text, words = " ".join(words), tuple(words)
    for seen, members in rounds:
      if seen.setdefault(text, words) == words:
        members.append(i)
        break
    else:
      rounds.append(({text: words}, [i]))
  return [members for _, members in rounds]


def predict_word_spans(
  model,
  examples: Sequence[NERExample | Sequence[str]],
  labels: Sequence[str],
  *,
  threshold: float = 0.5,
  flat_ner: bool = True,
  multi_label: bool = False,
  batch_size: int = 8,
) -> list[list[ScoredSpan]]:
  """Entities of pre-tokenised examples as ``(start_word, end_word_inclusive, label, score)``.

  ``examples`` are :class:`NERExample` or word lists; the words reach the model unchanged (the
  model's own word splitter is not used; the model object is not modified). Blank words are kept
  in place: they have no sub-token, so no span starts or ends on them (as in gliner).

  Example (not run here: `model` is a predictor; the module example runs it):
  >>> predict_word_spans(model, [["Ada", "Lovelace", "was", "born"]], ["person"])  # doctest: +SKIP
  [[(0, 1, 'person', 0.77)]]
  """
  word_lists = [tuple(ex.tokens) if isinstance(ex, NERExample) else tuple(ex) for ex in examples]
  for i, words in enumerate(word_lists):
    bad = [w for w in words if not isinstance(w, str)]
    if bad:
      raise ValueError(f"example {i}: words must be strings, got {bad[:3]!r}")
  out: list[list[ScoredSpan]] = [[] for _ in word_lists]
  for members in _rounds(word_lists):
    splitter = PretokenizedSplitter()
    texts = [splitter.register(word_lists[i]) for i in members]
    entities = model.batch_predict_entities(
      texts,
      labels,
      batch_size=batch_size,
      threshold=threshold,
      flat_ner=flat_ner,
      multi_label=multi_label,
      words_splitter=splitter,
    )
    for i, text, ents in zip(members, texts, entities):
      split = splitter(text)
      by_start = {s: w for w, (_, s, _) in enumerate(split)}
      by_end = {e: w for w, (_, _, e) in enumerate(split)}
      out[i] = [(by_start[e.start], by_end[e.end], e.label, float(e.score)) for e in ents]
  return out


def filter_threshold(predictions: Sequence[Sequence[ScoredSpan]], threshold: float) -> list[list[ScoredSpan]]:
  """The spans scoring strictly above ``threshold`` (compared in float32, as the model does).

  For the greedy decoder this equals decoding at ``threshold`` directly, given predictions
  decoded at any lower threshold (see :func:`sweep_thresholds`).
  """
  t = np.float32(check_threshold(threshold))
  return [[s for s in spans if np.float32(s[3]) > t] for spans in predictions]


# ----------------------------------------------------------------------------------- datasets
@dataclasses.dataclass(frozen=True)
class EvalDataset:
  """One dataset ready to score: examples with mapped types and the labels given to the model."""

  name: str
  path: str
  examples: tuple[NERExample, ...]
  labels: tuple[str, ...]


def load_eval_dataset(
  name: str,
  folder: str,
  split: str = "test",
  *,
  scheme: str = "gliner",
  label_map: LabelMap | None = None,
  max_examples: int | None = None,
  **read_options,
) -> EvalDataset:
  """Reads ``split`` of a dataset folder (any format of `read_dataset_folder`) and maps its types.

  The labels given to the model are, in this order: the folder's label file (``labels.json`` or
  ``label.txt``, mapped) if it has one, then the mapped types found in the whole split, ordered as
  in the dataset's label map (see `gliner_jax.evaluation.label_maps`), unknown ones sorted. ``max_examples``
  keeps the first examples, after the labels are collected.

  Example (not run here: it reads the CrossNER folders of ../shared/data, not shipped with the package):
  >>> ds = load_eval_dataset("crossner_ai", "../shared/data/crossner/ai", max_examples=40)  # doctest: +SKIP
  >>> ds.labels[:3]  # doctest: +SKIP
  ('algorithm', 'conference', 'else')
  """
  if max_examples is not None and max_examples < 1:
    raise ValueError(f"max_examples must be >= 1 or None, got {max_examples}")
  label_map = label_map or get_label_map(name, scheme)
  path = find_split_file(folder, split)
  examples = label_map.apply(read_dataset_folder(folder, split, **read_options))
  if not examples:
    raise ValueError(f"{path}: no examples")
  labels: list[str] = []
  for file in LABEL_FILES:
    if storage.isfile(storage.join(folder, file)):
      labels = label_map.map_labels(read_label_file(storage.join(folder, file)))
      break
  present = {t for ex in examples for _, _, t in ex.spans}
  rank = {t: i for i, t in enumerate(label_map.types)}
  labels += sorted(present - set(labels), key=lambda t: (rank.get(t, len(rank)), t))
  if not labels:
    raise ValueError(f"{path}: no entity types (no label file and no annotated span)")
  if max_examples is not None:
    examples = examples[:max_examples]
  return EvalDataset(name, path, tuple(examples), tuple(labels))


# ----------------------------------------------------------------------------------- reports
@dataclasses.dataclass(frozen=True)
class DatasetResult:
  """Scores of one dataset at one threshold."""

  name: str
  num_examples: int
  labels: tuple[str, ...]
  scores: Scores
  seconds: float  # prediction time (shared by all thresholds of a sweep)


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
  """Per-dataset results at one threshold, and their average."""

  threshold: float
  flat_ner: bool
  multi_label: bool
  split: str
  results: tuple[DatasetResult, ...]

  @property
  def average(self) -> dict[str, float]:
    """Mean precision, recall and F1 over datasets."""
    if not self.results:
      return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    return {k: float(np.mean([getattr(r.scores, k) for r in self.results])) for k in ("precision", "recall", "f1")}

  def to_dict(self) -> dict[str, Any]:
    return {
      "threshold": self.threshold,
      "flat_ner": self.flat_ner,
      "multi_label": self.multi_label,
      "split": self.split,
      "average": self.average,
      "datasets": [
        {
          "name": r.name,
          "num_examples": r.num_examples,
          "labels": list(r.labels),
          "seconds": r.seconds,
          **dataclasses.asdict(r.scores),
        }
        for r in self.results
      ],
    }

  def to_markdown(self) -> str:
    """A table: dataset, P, R, F1 (percent), #examples, then the average row."""
    lines = [
      f"threshold {self.threshold:g}, {'flat' if self.flat_ner else 'nested'} decoding, split {self.split}",
      "",
      "| dataset | P | R | F1 | #examples |",
      "|---|---:|---:|---:|---:|",
    ]
    for r in self.results:
      s = r.scores
      lines.append(
        f"| {r.name} | {100 * s.precision:.2f} | {100 * s.recall:.2f} | {100 * s.f1:.2f} | {r.num_examples} |"
      )
    avg = self.average
    total = sum(r.num_examples for r in self.results)
    lines.append(
      f"| **average** | {100 * avg['precision']:.2f} | {100 * avg['recall']:.2f} | {100 * avg['f1']:.2f} | {total} |"
    )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- runner
def _load_all(
  dataset_folders: Mapping[str, str] | Sequence[EvalDataset], split: str, scheme: str, max_examples: int | None
) -> list[EvalDataset]:
  if isinstance(dataset_folders, Mapping) and dataset_folders:
    return [
      load_eval_dataset(name, folder, split, scheme=scheme, max_examples=max_examples)
      for name, folder in dataset_folders.items()
    ]
  datasets = list(dataset_folders) if not isinstance(dataset_folders, str) else [dataset_folders]
  bad = [type(d).__name__ for d in datasets if not isinstance(d, EvalDataset)]
  if bad or not datasets:
    raise ValueError(
      f"datasets must be a non-empty {{name: folder}} mapping or a list of EvalDataset, "
      f"got items of type {bad or 'none'}"
    )
  return datasets


def sweep_thresholds(
  model,
  dataset_folders: Mapping[str, str] | Sequence[EvalDataset],
  thresholds: Sequence[float],
  split: str = "test",
  *,
  flat_ner: bool = True,
  multi_label: bool = False,
  batch_size: int = 8,
  max_examples: int | None = None,
  scheme: str = "gliner",
) -> list[EvaluationReport]:
  """One report per threshold, from a single prediction pass at the lowest threshold.

  Exact, not an approximation: the decoder visits candidates from the highest score down and keeps
  each one that does not clash with those already kept. Raising the threshold only removes the
  lowest-scored candidates, which are visited last, so every decision about the remaining ones is
  unchanged; decoding at ``t`` equals keeping the spans above ``t`` of a decoding at ``t0 < t``.
  This holds in flat and nested mode, with or without ``multi_label``.

  ``dataset_folders``: name -> folder (see :func:`load_eval_dataset`), or loaded `EvalDataset`s.
  """
  if not thresholds:
    raise ValueError("thresholds must not be empty")
  thresholds = [check_threshold(t) for t in thresholds]
  datasets = _load_all(dataset_folders, split, scheme, max_examples)
  lowest = min(thresholds)
  predicted = []
  for ds in datasets:
    start = time.perf_counter()
    spans = predict_word_spans(
      model, ds.examples, ds.labels, threshold=lowest, flat_ner=flat_ner, multi_label=multi_label, batch_size=batch_size
    )
    predicted.append((spans, time.perf_counter() - start))
  reports = []
  for t in thresholds:
    results = tuple(
      DatasetResult(
        ds.name,
        len(ds.examples),
        ds.labels,
        score_spans([ex.spans for ex in ds.examples], filter_threshold(spans, t)),
        seconds,
      )
      for ds, (spans, seconds) in zip(datasets, predicted)
    )
    reports.append(EvaluationReport(t, flat_ner, multi_label, split, results))
  return reports


def evaluate_datasets(
  model,
  dataset_folders: Mapping[str, str] | Sequence[EvalDataset],
  split: str = "test",
  threshold: float = 0.5,
  flat_ner: bool = True,
  batch_size: int = 8,
  max_examples: int | None = None,
  *,
  multi_label: bool = False,
  scheme: str = "gliner",
) -> EvaluationReport:
  """Scores a model on several dataset folders at one threshold.

  Example (not run here: a predictor and the CrossNER folders of ../shared/data; the module example runs it on
  the bundled slice):
  >>> report = evaluate_datasets(model, {"crossner_ai": "../shared/data/crossner/ai"}, max_examples=5)  # doctest: +SKIP
  >>> report.results[0].scores.f1, report.average["f1"]  # doctest: +SKIP
  """
  return sweep_thresholds(
    model,
    dataset_folders,
    [threshold],
    split,
    flat_ner=flat_ner,
    multi_label=multi_label,
    batch_size=batch_size,
    max_examples=max_examples,
    scheme=scheme,
  )[0]


def write_report(
  reports: EvaluationReport | Sequence[EvaluationReport], out_dir: str, extra: Mapping[str, Any] | None = None
) -> dict[str, str]:
  """Writes ``results.md``, ``results.json`` and ``results.png`` (F1 bars) into ``out_dir``.

  Several reports (a threshold sweep) give one table each and grouped bars. ``extra`` is stored
  in the JSON (e.g. the model path). Returns the written paths by kind. ``out_dir`` may be a gs:// URL.
  """
  if isinstance(reports, EvaluationReport):
    reports = [reports]
  if not reports:
    raise ValueError("no report to write")
  storage.makedirs(out_dir)
  paths = {kind: storage.join(out_dir, f"results.{kind}") for kind in ("md", "json", "png")}
  with storage.open_file(paths["md"], "w") as f:
    f.write("\n".join(r.to_markdown() for r in reports))
  with storage.open_file(paths["json"], "w") as f:
    json.dump({**(extra or {}), "runs": [r.to_dict() for r in reports]}, f, indent=2)
  _plot(reports, paths["png"])
  return paths


def _plot(reports: Sequence[EvaluationReport], path: str) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  names = [r.name for r in reports[0].results] + ["average"]
  x = np.arange(len(names))
  width = 0.8 / len(reports)
  fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(names) + 1), 3.6))
  for i, report in enumerate(reports):
    f1 = [100 * r.scores.f1 for r in report.results] + [100 * report.average["f1"]]
    bars = ax.bar(x - 0.4 + width * (i + 0.5), f1, width, label=f"threshold {report.threshold:g}")
    ax.bar_label(bars, fmt="%.1f", fontsize=7)
  ax.set_xticks(x, names, rotation=20, ha="right")
  ax.set_ylabel("F1 (%)")
  ax.set_ylim(0, 100)
  ax.set_title(f"zero-shot NER, exact match ({'flat' if reports[0].flat_ner else 'nested'} decoding)")
  ax.legend(fontsize=8)
  fig.tight_layout()
  with storage.open_file(path, "wb") as f:
    fig.savefig(f, format="png", dpi=120)
  plt.close(fig)
