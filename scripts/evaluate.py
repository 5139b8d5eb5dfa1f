"""Zero-shot NER evaluation: exact-match P/R/F1 per dataset, as a markdown table, JSON and a bar chart.

  .venv/bin/python scripts/evaluate.py --model path/to/model --out_dir /tmp/eval \
      [--datasets ai,music,mit_movie=/data/mit/movie] [--sweep 0.3,0.4,0.5] [--max_examples 200]

By default the five CrossNER test sets (ai, literature, music, politics, science) are read from
``<data_root>/crossner/<domain>`` (``--data_root`` defaults to $GLINER_JAX_DATA, else ``<repo>/../shared/data``:
`gliner_jax.data.paths.shared_data`). A ``--datasets`` entry is either a CrossNER domain
(or ``conll2003``) under the data root, or ``name=folder`` for any folder holding ``<split>.txt``
(BIO, token-first or tag-first such as MIT movie/restaurant), ``.json``/``.jsonl`` (GLiNER or
InstructUIE JSON). The name picks the label map (see gliner_jax/evaluation/label_maps.py).
Writes results.md, results.json and results.png to --out_dir; results.json names the model and the data
folders relative to the repository root (``../shared/data/...``) when they are in it or in the data root.
--model, ``name=folder`` and --out_dir may be gs:// URLs (`gliner_jax.interop.storage`, docs/object_stores.md).
"""

from __future__ import annotations

import os
import sys

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
  sys.path.insert(0, _REPO)

from absl import app, flags, logging  # noqa: E402

from gliner_jax.interop import storage  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "gliner_jax or gliner checkpoint folder (default: gliner_jax.DEFAULT_MODEL).")
flags.DEFINE_list(
  "datasets",
  ["ai", "literature", "music", "politics", "science"],
  "CrossNER domains under <data_root>/crossner, or name=folder entries.",
)
flags.DEFINE_string("data_root", None, "Folder holding crossner/ (default: found automatically).")
flags.DEFINE_string("split", "test", "Split to read from every folder.")
flags.DEFINE_float("threshold", 0.5, "Decoding threshold (ignored when --sweep is given).")
flags.DEFINE_list("sweep", [], "Thresholds to evaluate, e.g. 0.3,0.4,0.5 (one prediction pass).")
flags.DEFINE_bool("flat", True, "Flat decoding (no overlapping entities).")
flags.DEFINE_bool("nested", False, "Nested decoding (same as --noflat).")
flags.DEFINE_bool("multi_label", False, "Allow several labels on one span.")
flags.DEFINE_enum("scheme", "gliner", ["gliner", "gner"], "Label naming scheme (gliner_jax/evaluation/label_maps.py).")
flags.DEFINE_integer("batch_size", 8, "Texts per device batch.")
flags.DEFINE_integer("max_examples", None, "Evaluate only the first N examples of each dataset.")
flags.DEFINE_string("out_dir", "eval_results", "Where results.md/.json/.png go.")

DEFAULT_DOMAINS = ("ai", "literature", "music", "politics", "science", "conll2003")


def find_data_root() -> str:
  from gliner_jax.data.paths import DATA_ENV, shared_data

  path = shared_data()
  if os.path.isdir(os.path.join(path, "crossner")):
    return path
  raise FileNotFoundError(
    f"no crossner/ folder in the data root {path} (${DATA_ENV}, else <repo>/../shared/data); "
    "pass --data_root or name=folder datasets"
  )


def resolve_datasets(entries: list[str], data_root: str | None) -> dict[str, str]:
  """``["ai", "movie=/x"]`` -> ``{"crossner_ai": "<root>/crossner/ai", "movie": "/x"}``."""
  out: dict[str, str] = {}
  for entry in entries:
    if "=" in entry:
      name, folder = (part.strip() for part in entry.split("=", 1))
    elif entry in DEFAULT_DOMAINS:
      data_root = data_root or find_data_root()
      name = entry if entry == "conll2003" else f"crossner_{entry}"
      folder = os.path.join(data_root, "crossner", entry)
    else:
      raise ValueError(f"--datasets entry {entry!r} is neither one of {DEFAULT_DOMAINS} nor name=folder")
    if not name or not storage.isdir(folder):
      raise ValueError(f"--datasets entry {entry!r}: {folder!r} is not a folder")
    if name in out:
      raise ValueError(f"--datasets: dataset name {name!r} given twice")
    out[name] = folder
  if not out:
    raise ValueError("--datasets is empty")
  return out


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  import gliner_jax
  from gliner_jax.data.paths import repo_relative
  from gliner_jax.evaluation.scoring import sweep_thresholds, write_report

  if FLAGS.nested and FLAGS["flat"].present and FLAGS.flat:
    raise app.UsageError("--flat and --nested contradict each other")
  flat_ner = FLAGS.flat and not FLAGS.nested
  thresholds = [float(t) for t in FLAGS.sweep] or [FLAGS.threshold]
  folders = resolve_datasets(FLAGS.datasets, FLAGS.data_root)
  model_path = FLAGS.model or gliner_jax.DEFAULT_MODEL
  model = gliner_jax.GLiNER.from_pretrained(model_path)
  reports = sweep_thresholds(
    model,
    folders,
    thresholds,
    FLAGS.split,
    flat_ner=flat_ner,
    multi_label=FLAGS.multi_label,
    batch_size=FLAGS.batch_size,
    max_examples=FLAGS.max_examples,
    scheme=FLAGS.scheme,
  )
  paths = write_report(
    reports,
    FLAGS.out_dir,
    extra={
      "model": repo_relative(model_path) if os.path.isdir(model_path) else model_path,
      "scheme": FLAGS.scheme,
      "datasets": {
        name: folder if storage.is_remote(folder) else repo_relative(folder) for name, folder in folders.items()
      },
    },
  )
  for report in reports:
    print(report.to_markdown())
  logging.info("wrote %s", ", ".join(paths.values()))


if __name__ == "__main__":
  app.run(main)
