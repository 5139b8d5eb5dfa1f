"""The main job: fine-tune the embedded default model on the bundled data, evaluate, predict.

  python scripts/main.py --workdir workdirs/main [--config configs/main.py] [--config.train.num_steps=40]
(README: `bash scripts/main.sh` sets up .venv and runs this.) The terminal shows the progress bar, the
scores and the predictions, warnings and errors; the library's INFO lines go to <workdir>/log.txt
(`--verbosity=0` shows them too).
"""

import os

from absl import app, flags
from ml_collections import config_flags

from gliner_jax.training.main_job import run_main_job

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
config_flags.DEFINE_config_file("config", os.path.join(_REPO, "configs", "main.py"), "Main-job config.")
flags.DEFINE_string("workdir", "workdirs/main", "Where checkpoints and metrics go (resumes if present).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  run_main_job(FLAGS.config, FLAGS.workdir, verbosity=FLAGS.verbosity if FLAGS["verbosity"].present else None)


if __name__ == "__main__":
  app.run(main)
