"""Compiles the sharded train step for a TPU topology on this host (no TPU needed) and prints its
per-device memory, FLOPs and collectives.

  python scripts/aot_compile.py --config configs/gliner_small.py --topology v5e:2x4 \
    [--mesh data=2,fsdp=4,tensor=1] [--batch_size 64] [--tokens 512 --words 384 --types 25] [--max_batch] \
    [--label_tokens 16] [--remat_policy nothing_saveable] [--scan_layers] [--libtpu_dir .venv-libtpu] \
    [--json_out report.json]

Any config the training loop takes compiles: span heads, `token_level`, bi-encoders. Shapes not given are
those of the training run's fixed shape (`gliner_jax.training.aot.training_shape`: the one shape a multi-host
run pads every batch to, the largest the config names); a bi-encoder's `--types` is its batch's label axis
(rounded up to a multiple of the batch) and `--label_tokens` the tokens per label.

Needs libtpu, kept out of the main environment (there it would make every `import jax` on a CPU host
print TPU errors): `bash scripts/setup.sh test` installs it into `.venv-libtpu` (`pip install --no-deps
--target .venv-libtpu libtpu==0.0.42.1`), which this script puts on the path; `--libtpu_dir` (default
$GLINER_JAX_LIBTPU_DIR, else `<repo>/.venv-libtpu`) names another folder. On a TPU VM, libtpu from
`pip install "jax[tpu]==<jax version>"` is used as installed.
`--max_batch` doubles the batch (from one row per batch shard) until the step no longer fits in HBM.
`--json_out` also writes the report (every field of `gliner_jax.training.aot.AOTReport`) as JSON.
Config fields can be overridden as in scripts/train.py, e.g. `--config.train.compute_dtype=float32`.
"""

import dataclasses
import json
import os

from absl import app, flags, logging
from ml_collections import config_flags

from gliner_jax.training.aot import LIBTPU_DIR_ENV, compile_train_step, max_batch_that_fits

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
flags.DEFINE_string("topology", "v5e:2x4", "TPU topology, CHIP:SHAPE (v4:2x2x1, v5e:2x4, v5p:2x2x1, v6e:2x4).")
flags.DEFINE_string("mesh", None, "Mesh axis sizes, e.g. data=2,fsdp=4,tensor=1 (default: config.mesh.shape).")
flags.DEFINE_integer("batch_size", None, "Global batch size (default: config.train.batch_size).")
flags.DEFINE_integer("tokens", None, "Tokens per row (default: the training run's fixed shape, as --words/--types).")
flags.DEFINE_integer("words", None, "Words per row (default: the max_len bucket).")
flags.DEFINE_integer(
  "types", None, "Entity types per row (default: the max_types bucket); a bi-encoder's labels per batch."
)
flags.DEFINE_integer("label_tokens", None, "A bi-encoder's tokens per label (default 16).")
flags.DEFINE_bool("max_batch", False, "Search the largest power-of-2 batch that fits (one compile per try).")
flags.DEFINE_string(
  "libtpu_dir",
  None,
  f"Folder holding the libtpu package (pip install --target); default "
  f"${LIBTPU_DIR_ENV}, else <repo>/.venv-libtpu when present.",
)
flags.DEFINE_string("remat_policy", None, "Sets config.model.remat_policy (a jax.checkpoint_policies name, or none).")
flags.DEFINE_bool("scan_layers", None, "Sets config.model.scan_layers (nn.scan over the encoder layers).")
flags.DEFINE_string("json_out", None, "Also write the report (the largest fitting one with --max_batch) as JSON here.")
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
  libtpu_dir = FLAGS.libtpu_dir or os.environ.get(LIBTPU_DIR_ENV) or os.path.join(_REPO, ".venv-libtpu")
  if os.path.isdir(libtpu_dir):
    os.environ[LIBTPU_DIR_ENV] = libtpu_dir  # gliner_jax.training.aot.import_libtpu puts it on the path
  mesh = parse_mesh(FLAGS.mesh)
  config = FLAGS.config
  if FLAGS.remat_policy is not None:
    config.model.remat_policy = FLAGS.remat_policy
  if FLAGS.scan_layers is not None:
    config.model.scan_layers = FLAGS.scan_layers
  shapes = dict(seq_tokens=FLAGS.tokens, words=FLAGS.words, types=FLAGS.types, label_tokens=FLAGS.label_tokens)
  if FLAGS.max_batch:
    best, reports = max_batch_that_fits(config, FLAGS.topology, mesh, start=FLAGS.batch_size, **shapes)
    fitting = [r for r in reports if r.fits]
    report = fitting[-1] if fitting else None
    print(report.summary() if report else "nothing fits")
    print(f"largest power-of-2 batch that fits: {best}")
  else:
    report = compile_train_step(config, FLAGS.topology, mesh, FLAGS.batch_size, **shapes)
    print(report.summary())
  if FLAGS.json_out:
    with open(FLAGS.json_out, "w") as f:
      json.dump(dataclasses.asdict(report) if report else None, f, indent=2)


if __name__ == "__main__":
  app.run(main)
