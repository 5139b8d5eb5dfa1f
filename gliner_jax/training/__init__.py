"""Training: the loop and step, its config, data, checkpoints, model initialisation,
export, optimizer, losses, sharding, AOT compiles.

Needs the [train] extra (`pip install "gliner_jax[train]"`); importing this package without it raises
`gliner_jax.interop.extras.MissingExtraError` naming the extra. tensorflow-datasets (also [train]) is checked
where it is used, `gliner_jax.data.tfds_builders`: runs from files train without it.
"""

from gliner_jax.interop.extras import require_extra

require_extra(
  "train",
  "optax",
  "orbax.checkpoint",
  "ml_collections",
  "grain",
  "tqdm",
  needed_by="gliner_jax.training",
)
