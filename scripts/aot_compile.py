"""Compiles the sharded train step for a TPU topology on this host (no TPU needed) and prints its
per-device memory, FLOPs and collectives. Needs libtpu: `pip install "jax[tpu]==<jax version>"`.

  python scripts/aot_compile.py --config configs/gliner_small.py --topology v5e:2x4 \
    [--mesh data=2,fsdp=4,tensor=1] [--batch_size 64] [--tokens 512 --words 384 --types 25] [--max_batch]

`--max_batch` doubles the batch (from one row per batch shard) until the step no longer fits in HBM.
Config fields can be overridden as in scripts/train.py, e.g. `--config.train.compute_dtype=float32`.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from gliner_jax.aot import compile_train_step, max_batch_that_fits

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
flags.DEFINE_string("topology", "v5e:2x4", "TPU topology, CHIP:SHAPE (v4:2x2x1, v5e:2x4, v5p:2x2x1, v6e:2x4).")
flags.DEFINE_string("mesh", None, "Mesh axis sizes, e.g. data=2,fsdp=4,tensor=1 (default: config.mesh.shape).")
flags.DEFINE_integer("batch_size", None, "Global batch size (default: config.train.batch_size).")
flags.DEFINE_integer("tokens", None, "Tokens per row (default: the bucket holding words and the prompt).")
flags.DEFINE_integer("words", None, "Words per row (default: config.model.max_len).")
flags.DEFINE_integer("types", None, "Entity types per row (default: config.model.max_types).")
flags.DEFINE_bool("max_batch", False, "Search the largest power-of-2 batch that fits (one compile per try).")
flags.mark_flags_as_required(["config"])


def parse_mesh(text: str | None) -> dict[str, int] | None:
  if not text:
    return None
  try:
    return {k.strip(): int(v) for k, v in (item.split("=") for item in text.split(","))}
  except ValueError as e:
    raise app.UsageError(f"--mesh={text!r}: expected name=size pairs, e.g. data=2,fsdp=4,tensor=1") from e


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  mesh = parse_mesh(FLAGS.mesh)
  shapes = dict(seq_tokens=FLAGS.tokens, words=FLAGS.words, types=FLAGS.types)
  if FLAGS.max_batch:
    best, reports = max_batch_that_fits(FLAGS.config, FLAGS.topology, mesh, start=FLAGS.batch_size, **shapes)
    fitting = [r for r in reports if r.fits]
    print(fitting[-1].summary() if fitting else "nothing fits")
    print(f"largest power-of-2 batch that fits: {best}")
  else:
    print(compile_train_step(FLAGS.config, FLAGS.topology, mesh, FLAGS.batch_size, **shapes).summary())


if __name__ == "__main__":
  app.run(main)
