"""Exports a training checkpoint as a model directory: gliner_jax's format, or gliner 0.2.x's (--format gliner).

  python scripts/export_model.py --config configs/minilm_pilener.py --workdir workdirs/minilm_pilener \
    --dst gliner_jax/assets/default_model --dtype bfloat16
  python scripts/export_model.py --config configs/minilm_pilener.py --workdir workdirs/minilm_pilener \
    --dst minilm_pilener_gliner --format gliner
"""

from absl import app, flags
from ml_collections import config_flags

from gliner_jax.training.export import export_model

config_flags.DEFINE_config_file("config", None, "The training config of the run.")
flags.DEFINE_string("workdir", None, "The training workdir.")
flags.DEFINE_string("dst", None, "Output model directory.")
flags.DEFINE_string(
  "dtype", "auto", "Parameter dtype on disk: float32, bfloat16, or auto (bfloat16 for gliner_jax, float32 for gliner)."
)
flags.DEFINE_enum(
  "format",
  "gliner_jax",
  ["gliner_jax", "gliner"],
  "gliner_jax: this library's checkpoint; gliner: a gliner 0.2.x folder (gliner.GLiNER loads it).",
)
flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
flags.mark_flags_as_required(["config", "workdir", "dst"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  step = export_model(FLAGS.config, FLAGS.workdir, FLAGS.dst, FLAGS.dtype, FLAGS.step, format=FLAGS.format)
  print(f"exported step {step} to {FLAGS.dst} ({FLAGS.format} format)")


if __name__ == "__main__":
  app.run(main)
