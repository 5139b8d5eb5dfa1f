"""Zero-shot NER evaluation: exact-match P/R/F1 per dataset, as a markdown table, JSON and a bar chart.

  .venv/bin/python scripts/evaluate.py --model path/to/model --out_dir /tmp/eval \
      [--datasets ai,music,mit_movie=/data/mit/movie] [--sweep 0.3,0.4,0.5] [--max_examples 200]

By default the five CrossNER test sets (ai, literature, music, politics, science) are read from
``<data_root>/crossner/<domain>`` (``--data_root`` defaults to $GLINER_JAX_DATA, else ``<repo>/../shared/data``:
`gliner_jax.data.paths.shared_data`). A ``--datasets`` entry is either a CrossNER domain
(or ``conll2003``) under the data root, or ``name=folder`` for any folder holding ``<split>.txt``
(BIO, token-first or tag-first such as MIT movie/restaurant), ``.json``/``.jsonl`` (GLiNER or
InstructUIE JSON). The name picks the label map (see gliner_jax/evaluation/label_maps.py); the entries are resolved by
`gliner_jax.evaluation.dataset_folders.resolve_datasets`.
Writes results.md, results.json and results.png to --out_dir; results.json names the model and the data
folders relative to the repository root (``../shared/data/...``) when they are in it or in the data root.
--model, ``name=folder`` and --out_dir may be gs:// URLs (`gliner_jax.interop.storage`, docs/object_stores.md).
"""

from __future__ import annotations

from absl import app, flags, logging

import gliner_jax
from gliner_jax.evaluation.dataset_folders import CROSSNER_DOMAINS, report_metadata, resolve_datasets
from gliner_jax.evaluation.scoring import sweep_thresholds, write_report

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "gliner_jax or gliner checkpoint folder (default: gliner_jax.DEFAULT_MODEL).")
flags.DEFINE_list(
  "datasets",
  list(CROSSNER_DOMAINS),
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


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
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
  paths = write_report(reports, FLAGS.out_dir, extra=report_metadata(model_path, folders, FLAGS.scheme))
  for report in reports:
    print(report.to_markdown())
  logging.info("wrote %s", ", ".join(paths.values()))


if __name__ == "__main__":
  app.run(main)
