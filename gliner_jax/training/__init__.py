"""Training: the loop and step, its config, data, checkpoints, model initialisation,
export, optimizer, losses, sharding, AOT compiles.

Needs the [train] extra (`pip install "gliner_jax[train]"`); importing this package without it raises
`gliner_jax.interop.extras.MissingExtraError` naming the extra.
"""

from gliner_jax.interop.extras import require_extra

require_extra(
  "train",
  "optax",
  "orbax.checkpoint",
  "ml_collections",
  "grain",
  "tensorflow_datasets",
  "tqdm",
  needed_by="gliner_jax.training",
)
