"""Trains GLiNER: `python scripts/train.py --config configs/tiny.py --workdir /tmp/run`.

Config fields can be overridden on the command line, e.g. `--config.train.num_steps=100`.
Re-running with the same workdir resumes from its last checkpoint.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from gliner_jax.training.loop import train_and_evaluate

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, config.json and metrics.jsonl.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  app.run(main)
