"""Exports a training checkpoint as a model directory.

  python scripts/export_model.py --config configs/minilm_pilener.py --workdir workdirs/minilm_pilener \
    --dst gliner_jax/assets/default_model --dtype bfloat16
"""

from absl import app, flags
from ml_collections import config_flags

from gliner_jax.export import export_model

config_flags.DEFINE_config_file("config", None, "The training config of the run.")
flags.DEFINE_string("workdir", None, "The training workdir.")
flags.DEFINE_string("dst", None, "Output model directory.")
flags.DEFINE_string("dtype", "bfloat16", "Parameter dtype on disk (float32 or bfloat16).")
flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
flags.mark_flags_as_required(["config", "workdir", "dst"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  step = export_model(FLAGS.config, FLAGS.workdir, FLAGS.dst, FLAGS.dtype, FLAGS.step)
  print(f"exported step {step} to {FLAGS.dst}")


if __name__ == "__main__":
  app.run(main)
