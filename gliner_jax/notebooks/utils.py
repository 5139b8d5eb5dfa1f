"""Helpers behind the Colab notebooks (notebooks/*.ipynb), so that no logic lives only in a notebook.

Display (HTML strings, no pandas): `highlight_entities_html`, `entities_table`, `label_colors`.
Environment: `notebook_mode` / `offline_mode` (env GLINER_JAX_NOTEBOOK_MODE=ci: offline, small),
`detect_accelerator`, `default_mesh_shape`, `notebook_workdir`.
Models and data: `resolve_model`, `load_model`, `crossner_datasets`.
Speed: `measure_throughput`. Training (from `gliner_jax.notebooks.training`, re-exported here):
`load_config`, `configure_run`, `train` (with a live loss / learning-rate plot), `read_metrics`,
`plot_metrics`, `checkpoint_steps`.

Example (not run as a doctest: it downloads a model when online and draws in a notebook):
  >>> from IPython.display import HTML, display  # doctest: +SKIP
  >>> model, source = load_model("urchade/gliner_small-v2.1")  # doctest: +SKIP
  >>> text = "Ada Lovelace was born in London."  # doctest: +SKIP
  >>> display(HTML(highlight_entities_html(text, model.predict_entities(text, ["person", "city"]))))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
import tempfile
import time
import warnings
from typing import Any, Mapping, Sequence

from gliner_jax.interop import storage

# Re-exported: the notebooks import these from here (pyproject.toml: F401 ignored in this file).
from gliner_jax.notebooks.training import (
  TrainRun,
  available_configs,
  checkpoint_steps,
  configure_run,
  describe_config,
  figure_png,
  load_config,
  plot_metrics,
  read_metrics,
  train,
)

MODE_ENV = "GLINER_JAX_NOTEBOOK_MODE"
MODEL_ENV = "GLINER_JAX_MODEL"
WORKDIR_ENV = "GLINER_JAX_WORKDIR"
MODES = ("default", "ci")
HUB_MODEL = "urchade/gliner_small-v2.1"
CROSSNER_DOMAINS = ("ai", "literature", "music", "politics", "science")
PALETTE = (
  "#ffd166",
  "#8ecae6",
  "#b5e48c",
  "#f4a3c0",
  "#cdb4db",
  "#f9c74f",
  "#90e0ef",
  "#ffadad",
  "#a0c4ff",
  "#caffbf",
  "#ffc6ff",
  "#e9c46a",
)

_TRUE = ("1", "true", "yes", "on")


# ----------------------------------------------------------------------------------- environment
def notebook_mode() -> str:
  """ "ci" when GLINER_JAX_NOTEBOOK_MODE=ci (offline, tiny config, few steps), else "default"."""
  mode = os.environ.get(MODE_ENV, "").strip().lower() or "default"
  if mode not in MODES:
    raise ValueError(f"{MODE_ENV}={mode!r}: use one of {MODES} (or leave it unset)")
  return mode


def offline_mode() -> bool:
  """True in ci mode or when HF_HUB_OFFLINE is set: nothing is downloaded, bundled data is used."""
  return notebook_mode() == "ci" or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def detect_accelerator() -> str:
  """ "tpu", "gpu" or "cpu": the platform of JAX's default devices."""
  import jax

  platform = jax.devices()[0].platform.lower()
  return "gpu" if platform in ("gpu", "cuda", "rocm") else platform


def default_mesh_shape(batch_size: int, num_devices: int | None = None) -> dict[str, int]:
  """A mesh for the devices present: data parallel over as many devices as divide the batch.

  The batch is split over data x fsdp, so the data axis takes gcd(batch_size, devices); devices left
  over go to the tensor axis (weights split, batch not).

  >>> default_mesh_shape(8, 8), default_mesh_shape(4, 8)
  ({'data': 8, 'fsdp': 1, 'tensor': 1}, {'data': 4, 'fsdp': 1, 'tensor': 2})
  """
  if num_devices is None:
    import jax

    num_devices = jax.device_count()
  if batch_size < 1 or num_devices < 1:
    raise ValueError(f"batch_size and num_devices must be >= 1, got {batch_size} and {num_devices}")
  data = math.gcd(batch_size, num_devices)
  return {"data": data, "fsdp": 1, "tensor": num_devices // data}


def in_colab() -> bool:
  """True in a Google Colab runtime (google.colab importable)."""
  import importlib.util

  try:
    return importlib.util.find_spec("google.colab") is not None
  except (ImportError, ValueError):  # no `google` package at all
    return False


def prepare_workdir(workdir: str) -> str:
  """Creates the run directory; mounts Google Drive first when it is under /content/drive in Colab. A gs://
  workdir is written through `gliner_jax.interop.storage` (needs gcsfs: pip install 'gliner_jax[gcs]')."""
  if storage.is_remote(workdir):
    storage.makedirs(workdir)  # names the missing client, if any; object stores have no folders to make
    return workdir
  if workdir.startswith("/content/drive/") and not os.path.isdir("/content/drive/MyDrive"):
    if not in_colab():
      raise ValueError(
        f"{workdir} is a Google Drive folder, which only Colab mounts; outside Colab use a local "
        "folder (notebook_workdir picks one for a /content/ default)"
      )
    from google.colab import drive  # only in Colab

    drive.mount("/content/drive")
  os.makedirs(workdir, exist_ok=True)
  return workdir


def notebook_workdir(default: str) -> str:
  """The run directory: env GLINER_JAX_WORKDIR if set, a fresh temporary folder in ci mode, else `default`;
  outside Colab a Colab default (under /content/) becomes `gliner_jax_runs/<its last folder>` under the
  working directory (plain Jupyter has no Drive to mount)."""
  if os.environ.get(WORKDIR_ENV):
    return os.environ[WORKDIR_ENV]
  if notebook_mode() == "ci":
    return tempfile.mkdtemp(prefix="gliner_jax_notebook_")
  if default.startswith("/content/") and not in_colab():
    return os.path.abspath(os.path.join("gliner_jax_runs", os.path.basename(os.path.normpath(default))))
  return default


# ----------------------------------------------------------------------------------- models and data
def resolve_model(hub_id: str = HUB_MODEL, *, offline: bool | None = None) -> str:
  """Which model to load: env GLINER_JAX_MODEL if set, else `hub_id` online, else the embedded default."""
  from gliner_jax import DEFAULT_MODEL

  if os.environ.get(MODEL_ENV):
    return os.environ[MODEL_ENV]
  return DEFAULT_MODEL if (offline_mode() if offline is None else offline) else hub_id


@dataclasses.dataclass(frozen=True)
class LoadedModel:
  """What `load_model` loaded: the model, the folder or hub id it came from, and what the user should know."""

  model: Any
  source: str
  requested: str
  fell_back: bool
  note: str

  def __iter__(self):  # `model, source = load_model(...)`
    return iter((self.model, self.source))


def _fallback_note(requested: str, why: str) -> str:
  return (
    f"Using the embedded default model (gliner_jax.DEFAULT_MODEL: MiniLM-L6, zero-shot CrossNER F1 ~24), "
    f"NOT {requested!r}.\n"
    f"  why: {why}\n"
    f"  what to do: connect the runtime to the internet and re-run this cell (the checkpoint is downloaded "
    f"and converted), or download {requested!r} elsewhere (`huggingface-cli download {requested} --local-dir "
    f"DIR`), upload DIR and set HUB_MODEL to its path; set {MODE_ENV} and HF_HUB_OFFLINE off to go online."
  )


def load_model(hub_id: str = HUB_MODEL, *, offline: bool | None = None, fallback: bool = True) -> LoadedModel:
  """Loads `hub_id` (converted from PyTorch when it is a gliner checkpoint), or the embedded default model.

  Offline (ci mode, HF_HUB_OFFLINE) the default is used without trying the hub; online, a checkpoint
  that cannot be fetched or converted falls back to the default with a warning, unless `fallback=False`.
  `LoadedModel.note` says which model it is and, after a fallback, why and what to do.

  Example:
    (not run as a doctest: online it downloads ~600 MB)
    >>> loaded = load_model("urchade/gliner_small-v2.1"); print(loaded.note)  # doctest: +SKIP
    >>> model, source = loaded  # doctest: +SKIP
  """
  from gliner_jax import DEFAULT_MODEL
  from gliner_jax.inference.api import GLiNER  # every model kind registered

  source = resolve_model(hub_id, offline=offline)
  if source == DEFAULT_MODEL and hub_id != DEFAULT_MODEL:
    why = (
      f"offline mode ({MODE_ENV}=ci or HF_HUB_OFFLINE=1): nothing is downloaded"
      if os.environ.get(MODEL_ENV) is None
      else f"{MODEL_ENV} names it"
    )
    return LoadedModel(GLiNER.from_pretrained(DEFAULT_MODEL), DEFAULT_MODEL, hub_id, True, _fallback_note(hub_id, why))
  try:
    model = GLiNER.from_pretrained(source)
  except Exception as err:  # noqa: BLE001 -- network, hub and conversion errors alike
    if not fallback or source == DEFAULT_MODEL or source == os.environ.get(MODEL_ENV):
      raise
    warnings.warn(f"could not load {source!r} ({type(err).__name__}: {err}); using the embedded default model")
    note = _fallback_note(source, f"loading it failed with {type(err).__name__}: {err}")
    return LoadedModel(GLiNER.from_pretrained(DEFAULT_MODEL), DEFAULT_MODEL, source, True, note)
  return LoadedModel(model, source, hub_id, False, f"Loaded {source!r}.")


def describe_model(model) -> str:
  """One line: encoder type and size, head sizes, and where the weights came from."""
  c, e = model.config, model.config.encoder
  return (
    f"{c.model_name or e.model_type}: {e.model_type} {e.num_hidden_layers}x{e.hidden_size}, "
    f"hidden {c.hidden_size}, max_len {c.max_len} words, max_width {c.max_width}, max_types {c.max_types}"
  )


def parse_labels(text: str) -> list[str]:
  """Comma-separated entity types (a Colab form field) -> a list; empty items are dropped.

  >>> parse_labels("person, city ,, award")
  ['person', 'city', 'award']
  """
  labels = [label.strip() for label in str(text).split(",") if label.strip()]
  if not labels:
    raise ValueError(f"no entity type in {text!r}: give comma-separated types, e.g. 'person, city'")
  return labels


def crossner_datasets(
  source: str | Mapping[str, str] | None = None,
  *,
  offline: bool | None = None,
  max_examples: int | None = None,
  split: str = "test",
) -> list:
  """CrossNER evaluation sets (`gliner_jax.evaluation.scoring.EvalDataset`) for `evaluate_datasets`.

  `source`: a mapping name -> folder, or a folder holding the domain folders (ai/, literature/, ...,
  as in CrossNER's ner_data). Without it: online, the shared data folder when present; offline or
  without shared data, the bundled 100-sentence slice of CrossNER AI. `max_examples` keeps the first
  examples of each set.
  """
  from gliner_jax.evaluation.scoring import load_eval_dataset
  from gliner_jax.training.config import ASSETS, SHARED_DATA
  from gliner_jax.training.main_job import bundled_crossner_slice

  if max_examples is not None and max_examples < 1:
    raise ValueError(f"max_examples must be >= 1 or None, got {max_examples}")
  offline = offline_mode() if offline is None else offline
  if source is None and not offline and os.path.isdir(os.path.join(SHARED_DATA, "crossner")):
    source = os.path.join(SHARED_DATA, "crossner")
  if isinstance(source, str) and source:
    folders = {
      f"crossner_{d}": os.path.join(source, d) for d in CROSSNER_DOMAINS if os.path.isdir(os.path.join(source, d))
    }
    if not folders:
      raise FileNotFoundError(f"{source} has none of the CrossNER domain folders {CROSSNER_DOMAINS}")
    source = folders
  if source:
    return [load_eval_dataset(name, folder, split, max_examples=max_examples) for name, folder in source.items()]
  dataset = bundled_crossner_slice(os.path.join(ASSETS, "data", "crossner_ai_test_slice.txt"))
  return [dataclasses.replace(dataset, examples=dataset.examples[:max_examples])]


# ----------------------------------------------------------------------------------- display
def label_colors(labels: Sequence[str]) -> dict[str, str]:
  """A background colour per label, in order (the palette repeats after 12 labels)."""
  return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(dict.fromkeys(labels))}


def _fields(entity: Any, index: int) -> tuple[int, int, str, float | None]:
  get = entity.get if isinstance(entity, Mapping) else lambda k: getattr(entity, k, None)
  start, end, label = get("start"), get("end"), get("label")
  if not isinstance(start, int) or not isinstance(end, int) or not isinstance(label, str):
    raise ValueError(f"entities[{index}] needs int start/end and a str label, got {entity!r}")
  return start, end, label, get("score")


def highlight_entities_html(
  text: str, entities: Sequence[Any], colors: Mapping[str, str] | None = None, show_scores: bool = True
) -> str:
  """`text` as HTML with each entity in a coloured <mark> tagged with its label (and score).

  Entities are `Entity` objects or gliner-style dicts with character offsets (`end` exclusive).
  Nested entities (flat_ner=False) are drawn inside one another; partly overlapping ones are an error.

  >>> highlight_entities_html("Ada met Bob", [{"start": 0, "end": 3, "label": "person", "score": 0.9}])
  '<div ...><mark ...>Ada<span ...>person 0.90</span></mark> met Bob</div>'
  """
  if not isinstance(text, str):
    raise ValueError(f"text must be a string, got {type(text).__name__}")
  spans = [_fields(e, i) for i, e in enumerate(entities)]
  for i, (start, end, _, _) in enumerate(spans):
    if not 0 <= start < end <= len(text):
      raise ValueError(f"entities[{i}]: offsets ({start}, {end}) are not inside a text of {len(text)} characters")
  colors = dict(colors or {})
  for label in dict.fromkeys(s[2] for s in sorted(spans, key=lambda s: s[:2]) if s[2] not in colors):
    colors[label] = PALETTE[len(colors) % len(PALETTE)]
  children: dict[int, list[int]] = {-1: []}  # a tree of nested spans; -1 is the whole text
  stack: list[int] = []
  for i in sorted(range(len(spans)), key=lambda i: (spans[i][0], -spans[i][1], i)):
    start, end = spans[i][:2]
    while stack and spans[stack[-1]][1] <= start:
      stack.pop()
    if stack and end > spans[stack[-1]][1]:
      raise ValueError(f"entities {spans[stack[-1]][:3]} and {spans[i][:3]} overlap without nesting")
    children[stack[-1] if stack else -1].append(i)
    children[i] = []
    stack.append(i)

  def render(lo: int, hi: int, node: int) -> str:
    out, pos = [], lo
    for child in children[node]:
      start, end, label, score = spans[child]
      tag = html.escape(label) + (f" {score:.2f}" if show_scores and score is not None else "")
      out.append(html.escape(text[pos:start]))
      out.append(
        f'<mark style="background:{colors[label]};padding:0.15em 0.3em;margin:0 0.1em;'
        f'border-radius:0.35em;border:1px solid rgba(0,0,0,0.15)">{render(start, end, child)}'
        f'<span style="font-size:0.7em;font-weight:bold;margin-left:0.35em;opacity:0.75">{tag}</span></mark>'
      )
      pos = end
    out.append(html.escape(text[pos:hi]))
    return "".join(out)

  return f'<div style="line-height:2.4;white-space:pre-wrap;font-family:sans-serif">{render(0, len(text), -1)}</div>'


def entity_rows(entities: Sequence[Any], digits: int = 3) -> list[tuple[str, str, float | None, int, int]]:
  """(text, label, rounded score, start, end) per entity, in the given order."""
  rows = []
  for i, e in enumerate(entities):
    start, end, label, score = _fields(e, i)
    value = e.get("text") if isinstance(e, Mapping) else getattr(e, "text", None)
    rows.append(
      (value if value is not None else "", label, None if score is None else round(float(score), digits), start, end)
    )
  return rows


def entities_table(entities: Sequence[Any], digits: int = 3) -> str:
  """An HTML table (text, label, score, start, end) of entities; one "no entities" row when empty."""
  head = "".join(
    f'<th style="text-align:left;padding:0 0.8em">{h}</th>' for h in ("text", "label", "score", "start", "end")
  )
  body = [
    "<tr>"
    + "".join(f'<td style="padding:0 0.8em">{html.escape(str("" if v is None else v))}</td>' for v in row)
    + "</tr>"
    for row in entity_rows(entities, digits)
  ]
  if not body:
    body = ['<tr><td colspan="5" style="padding:0 0.8em"><i>no entities</i></td></tr>']
  return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


@dataclasses.dataclass(frozen=True)
class Throughput:
  """Words read and seconds taken by one `batch_predict_entities` call (compiled programs warm)."""

  texts: int
  words: int
  entities: int
  seconds: float

  @property
  def words_per_second(self) -> float:
    return self.words / self.seconds if self.seconds > 0 else float("inf")

  def __str__(self) -> str:
    return (
      f"{self.texts} texts, {self.words} words, {self.entities} entities in {self.seconds:.3f} s: "
      f"{self.words_per_second:,.0f} words/s"
    )


def measure_throughput(
  model,
  texts: Sequence[str],
  labels: Sequence[str],
  *,
  batch_size: int = 8,
  threshold: float = 0.5,
  warmup: bool = True,
) -> Throughput:
  """Times `model.batch_predict_entities` on `texts`; a first, untimed call compiles the programs."""
  texts = list(texts)
  if warmup:
    model.batch_predict_entities(texts, labels, batch_size=batch_size, threshold=threshold)
  start = time.perf_counter()
  result = model.batch_predict_entities(texts, labels, batch_size=batch_size, threshold=threshold)
  seconds = time.perf_counter() - start
  words = sum(len(list(model.words_splitter(t))) for t in texts)
  return Throughput(len(texts), words, sum(map(len, result)), seconds)
