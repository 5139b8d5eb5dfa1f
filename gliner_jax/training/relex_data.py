"""Training batches of a relex model for `train_and_evaluate`: `make_relex_batches`, the TrainingKind.batches of the
relex kinds (`gliner_jax.training.kinds`), over `gliner_jax.data.relex_recipe.RelexBatchIterator`.

Example::

    batches = make_relex_batches(examples, start, RecipeConfig(batch_size=8, prompt_drop=0.0), seed=0, shards=[0],
                                 shard_count=1)
    host_batch = batches.next_host_batch()
    host_batch.arrays["relation_labels"].shape    # (8, E, E, R)
"""

from __future__ import annotations

from typing import Sequence

from gliner_jax.data.grain_source import make_example_dataset
from gliner_jax.data.readers import NERExample
from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.data.relex_recipe import RelexBatchIterator, RelexRecipe
from gliner_jax.processing.relex_prompts import RelexPromptTokenizer
from gliner_jax.training.data import shard_seed
from gliner_jax.training.model_init import StartingPoint
from gliner_jax.training.pipeline import ShardedBatches


def relex_recipe_of(config, **overrides) -> RelexRecipe:
  """The `RelexRecipe` of a relex model config (its `relations_layer`), with `overrides`.

  A config without `relations_layer` (not a relex model) is an error unless `overrides` names it.
  """
  layer = overrides.pop("relations_layer", getattr(config, "relations_layer", None))
  if layer is None:
    raise ValueError(
      "not a relex model config: it has no relations_layer; set model.relations_layer (gliner 0.2.29 names: "
      "dot, mlp, bilinear, gcn, gat, attention, none)"
    )
  return RelexRecipe(relations_layer=layer, **overrides)


def make_relex_batches(
  examples: list[NERExample],
  start: StartingPoint,
  recipe: RecipeConfig,
  seed: int,
  shards: Sequence[int],
  shard_count: int,
  relex: RelexRecipe | None = None,
) -> ShardedBatches:
  """Seeded, endlessly repeated, checkpointable relex training batches of data shards `shards` of `shard_count`
  (each `recipe.batch_size` rows; shards deal the examples round-robin, as `make_sharded_batches`).

  `relex` defaults to `relex_recipe_of(start.config)`; the `<<REL>>` token is the config's `rel_token`.
  Several shards in one process need `recipe.fixed_shape` (their rows are joined without re-padding).
  """
  if not examples:
    raise ValueError("no training examples: check config.data.train")
  if len(shards) > 1 and not recipe.fixed_shape:
    raise ValueError(
      f"data shards {list(shards)} in one process need recipe fixed_shape=True: relex batches are joined as built"
    )
  relex = relex if relex is not None else relex_recipe_of(start.config)
  ptok = RelexPromptTokenizer(start.tokenizer, start.config)
  iterators = {}
  for j in shards:
    dataset = make_example_dataset(
      examples, seed=seed, shuffle=True, num_epochs=None, shard_index=j, shard_count=shard_count
    )
    iterators[j] = RelexBatchIterator(dataset, ptok, recipe, relex, seed=shard_seed(seed, j))
  return ShardedBatches(iterators)
