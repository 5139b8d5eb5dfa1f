"""Training quality vs gliner 0.2.29: the same data, backbone and hyper-parameters trained by both, scored alike.

  .venv/bin/python scripts/compare_training.py --workdir workdirs/compare_training [--steps 500] [--threads 2]
      [--max_eval_examples N] [--init own,reference] [--skip_reference] [--skip_ours]
      [--config configs/compare_gliner.py]

The settings come from --config (default: configs/compare_gliner.py, its `compare` block); --steps, --batch_size,
--seed, --encoder_lr and --head_lr override them. The steps are `gliner_jax.training.comparison_run.run_comparison`
(docs/training.md). Writes ``workdir/results.md`` and ``workdir/results.json`` and prints the former.
"""

from __future__ import annotations

from absl import app, flags, logging

from gliner_jax.inference.cpu_threads import limit_benchmark_threads

FLAGS = flags.FLAGS
flags.DEFINE_string(
  "config", None, "Comparison settings: a config file with a `compare` block (configs/compare_gliner.py)."
)
flags.DEFINE_integer("steps", None, "Optimizer steps for each library (default: the config's, 500).")
flags.DEFINE_integer("batch_size", None, "Windows per batch for each library (default: the config's, 8).")
flags.DEFINE_string("workdir", "workdirs/compare_training", "Where both runs, their models and the results go.")
flags.DEFINE_integer("threads", 2, "CPU threads for torch and XLA.")
flags.DEFINE_integer("max_eval_examples", None, "Score only the first N test sentences of each CrossNER domain.")
flags.DEFINE_bool("skip_reference", False, "Do not train gliner 0.2.29 (reuse the finished run in --workdir).")
flags.DEFINE_bool("skip_ours", False, "Do not train gliner_jax (reuse the finished run(s) in --workdir).")
flags.DEFINE_list("init", ["own"], "gliner_jax starting points: own (backbone + own head init), reference (gliner's).")
flags.DEFINE_list("thresholds", ["0.3", "0.5"], "Decoding thresholds (flat decoding).")
flags.DEFINE_list("domains", ["ai", "literature", "music", "politics", "science"], "CrossNER test domains.")
flags.DEFINE_string("data", None, "Training passages (default: the shared Pile-NER subset).")
flags.DEFINE_string("backbone", None, "Backbone folder (default: the local all-MiniLM-L6-v2 package).")
flags.DEFINE_integer("seed", None, "Seed of both runs (model init, data order, sampling; default: the config's, 0).")
flags.DEFINE_float("encoder_lr", None, "Encoder learning rate (default: the config's).")
flags.DEFINE_float("head_lr", None, "Learning rate of everything else (default: the config's).")
flags.DEFINE_integer("eval_batch_size", 8, "Texts per evaluation batch.")


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  limit_benchmark_threads(FLAGS.threads, torch=True)  # before jax is imported
  from gliner_jax.training.comparison_run import check_inits, run_comparison
  from gliner_jax.training.config_files import load_config
  from gliner_jax.training.reference_comparison import comparison_config, settings_from_config

  config = load_config(FLAGS.config) if FLAGS.config else comparison_config()
  overrides = {k: getattr(FLAGS, k) for k in ("steps", "batch_size", "seed", "encoder_lr", "head_lr")}
  try:
    check_inits(FLAGS.init)
    s = settings_from_config(config, **overrides)
    result = run_comparison(
      s,
      FLAGS.workdir,
      backbone=FLAGS.backbone,
      data=FLAGS.data,
      inits=FLAGS.init,
      skip_reference=FLAGS.skip_reference,
      skip_ours=FLAGS.skip_ours,
      thresholds=[float(t) for t in FLAGS.thresholds],
      domains=FLAGS.domains,
      max_eval_examples=FLAGS.max_eval_examples,
      eval_batch_size=FLAGS.eval_batch_size,
    )
  except ValueError as e:  # bad settings or workdir: say so without a traceback
    raise app.UsageError(str(e)) from None
  print(result.text)


if __name__ == "__main__":
  app.run(main)
