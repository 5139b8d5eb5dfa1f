"""The training stage's registry of model kinds: per kind, its loss, training batches and optimizer groups.

`gliner_jax.model.kinds` declares the kinds (module, inputs, init batch); here each registers what training
needs on top, so `gliner_jax.training.steps.build` and `gliner_jax.training.loop` never branch on the kind:

  loss(out, batch, key, options)      the training objective of one forward (`out`: the module's output)
  loss_options(config.loss)           the loss keywords of a config's `loss` section (refusing meaningless ones)
  batches(examples, start, recipe, seed, shards, shard_count)   this process's `ShardedBatches`
  held_out_batches(examples, start, recipe)   one pass over `examples` in order (recipe seed 0, last partial
                                      batch dropped): the batches of a held-out loss (None: the kind has none;
                                      `gliner_jax.scaling.runner.held_out_loss`)
  target_shapes(batch, words, types, max_width)   the shapes and dtypes of its training targets (AOT compiles)
  encodes_labels                      whether its batches carry label token ids for a labels encoder rather
                                      than labels in each row's prompt (`gliner_jax.data.bi_encoder`)
  is_encoder_param                    the optimizer's encoder group (None: the default, `encoder/...`)
  eval_metrics(model, examples, config)   metrics beyond the entity scores that evaluation during training adds (a
                                      relex kind: relation P/R/F1; None: none)
  shares_eval_forward                 whether evaluation may score with the run's own jitted forward on the
                                      training shardings (`gliner_jax.inference.device_scoring.DeviceScoring`)

Example (a token model's entry; `loss` is called by the train step on the module's output and a batch):
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> kind = training_kind(GLiNERConfig.load(DEFAULT_MODEL).replace(span_mode="token_level"))
  >>> kind.loss.__name__, kind.encodes_labels, kind.loss_options({"alpha": 0.75, "gamma": 2.0, "masking": "none"})
  ('token_objective', False, {'alpha': 0.75, 'gamma': 2.0})
  >>> out = model.apply({"params": params}, **inputs)  # a model, its inputs and a batch  # doctest: +SKIP
  >>> loss = kind.loss(out, batch, key, kind.loss_options(config.loss))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping, Sequence

import jax.numpy as jnp

from gliner_jax.data.batch_iterator import BatchIterator
from gliner_jax.data.relex_recipe import RelexBatchIterator, RelexRecipe, relex_array_shapes
from gliner_jax.evaluation.relations import evaluate_relations
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.kinds import KINDS, kind_of
from gliner_jax.processing.prompts import PromptTokenizer
from gliner_jax.processing.relex_prompts import RelexPromptTokenizer
from gliner_jax.training.bi_encoder import bi_encoder_held_out_batches, is_encoder_param, make_bi_encoder_batches
from gliner_jax.training.data import make_sharded_batches
from gliner_jax.training.losses import bi_encoder_loss_options, span_loss, token_loss, token_loss_options
from gliner_jax.training.model_init import StartingPoint
from gliner_jax.training.pipeline import ShardedBatches
from gliner_jax.training.relex_data import make_relex_batches, relex_recipe_of
from gliner_jax.training.relex_losses import relex_loss, relex_loss_options

TargetShapes = Callable[[int, int, int, int], dict[str, tuple[tuple[int, ...], Any]]]


def span_target_shapes(batch: int, words: int, types: int, max_width: int) -> dict[str, tuple[tuple[int, ...], Any]]:
  """A span kind's training targets (`gliner_jax.data.recipe`): span labels [B, W, K, C] and span_mask [B, W, K].

  Example:
    >>> span_target_shapes(2, 8, 4, 3)["labels"][0]
    (2, 8, 3, 4)
  """
  return {
    "labels": ((batch, words, max_width, types), jnp.float32),
    "span_mask": ((batch, words, max_width), jnp.bool_),
  }


def token_target_shapes(batch: int, words: int, types: int, max_width: int) -> dict[str, tuple[tuple[int, ...], Any]]:
  """A token kind's training targets: start / end / inside labels [B, W, C, 3] and word_mask [B, W].

  Example:
    >>> token_target_shapes(2, 8, 4, 3)["labels"][0]
    (2, 8, 4, 3)
  """
  del max_width  # token targets have no width axis
  return {"labels": ((batch, words, types, 3), jnp.float32), "word_mask": ((batch, words), jnp.bool_)}


@dataclasses.dataclass(frozen=True)
class TrainingKind:
  """What training needs of one model kind (see the module docstring)."""

  loss: Callable[..., Any]
  loss_options: Callable[[Mapping[str, Any]], dict[str, Any]]
  batches: Callable[..., ShardedBatches]
  target_shapes: TargetShapes = span_target_shapes
  encodes_labels: bool = False
  is_encoder_param: Callable[[Sequence[str]], bool] | None = None
  shares_eval_forward: bool = True
  held_out_batches: Callable[..., Iterable[dict[str, Any]]] | None = None
  eval_metrics: Callable[..., dict[str, float]] | None = None


TRAINING: dict[str, TrainingKind] = {}


def register_training(kind_name: str, kind: TrainingKind) -> TrainingKind:
  """Registers the training parts of the model kind `kind_name` (once); returns them."""
  if kind_name not in KINDS:
    raise ValueError(f"unknown model kind {kind_name!r}: register it in gliner_jax.model.kinds first ({sorted(KINDS)})")
  if kind_name in TRAINING:
    raise ValueError(f"model kind {kind_name!r} already has its training parts")
  TRAINING[kind_name] = kind
  return kind


def training_kind(config: GLiNERConfig) -> TrainingKind:
  """The training parts of `config`'s kind."""
  name = kind_of(config).name
  if name not in TRAINING:
    raise ValueError(f"model kind {name!r} cannot be trained: no training parts registered ({sorted(TRAINING)})")
  return TRAINING[name]


def span_objective(out, batch: Mapping[str, Any], key, options: Mapping[str, Any]):
  """`span_loss` of a span model's logits [B, W, K, C] on the batch's span labels."""
  return span_loss(out.logits, batch["labels"], batch["span_mask"], batch["type_mask"], key=key, **options)


def token_objective(out, batch: Mapping[str, Any], key, options: Mapping[str, Any]):
  """`token_loss` of a token model's logits [B, W, C, 3] on the batch's start / end / inside labels."""
  del key  # the token loss samples no negatives
  return token_loss(out.logits, batch["labels"], batch["word_mask"], batch["type_mask"], **options)


def prompt_batches(examples, start: StartingPoint, recipe, seed: int, shards: Sequence[int], shard_count: int):
  """Uni-encoder training batches: labels in each row's prompt (`gliner_jax.training.data.make_sharded_batches`)."""
  return make_sharded_batches(
    examples, PromptTokenizer(start.tokenizer, start.config), recipe, seed, shards, shard_count
  )


def prompt_held_out_batches(examples, start: StartingPoint, recipe) -> BatchIterator:
  """Uni-encoder batches of one pass over `examples`, in order (seed 0), the last partial batch dropped."""
  prompts = PromptTokenizer(start.tokenizer, start.config)
  return BatchIterator(list(examples), prompts, recipe, seed=0, drop_remainder=True)


register_training(
  "span",
  TrainingKind(
    loss=span_objective, loss_options=dict, batches=prompt_batches, held_out_batches=prompt_held_out_batches
  ),
)
register_training(
  "token",
  TrainingKind(
    loss=token_objective,
    loss_options=token_loss_options,
    batches=prompt_batches,
    held_out_batches=prompt_held_out_batches,
    target_shapes=token_target_shapes,
  ),
)
register_training(
  "bi_encoder",
  TrainingKind(
    loss=span_objective,
    loss_options=bi_encoder_loss_options,
    batches=make_bi_encoder_batches,
    held_out_batches=bi_encoder_held_out_batches,
    encodes_labels=True,
    is_encoder_param=is_encoder_param,
    shares_eval_forward=False,  # its predictor scores label chunks, not the whole model's forward
  ),
)
register_training(
  "bi_encoder_token",
  TrainingKind(
    loss=token_objective,  # gliner 0.2.29's BiEncoderTokenModel.loss is the uni token model's
    loss_options=token_loss_options,
    batches=make_bi_encoder_batches,  # token_level: start / end / inside labels of the batch's label set
    held_out_batches=bi_encoder_held_out_batches,
    target_shapes=token_target_shapes,
    encodes_labels=True,
    is_encoder_param=is_encoder_param,
    shares_eval_forward=False,  # its predictor scores label chunks, not the whole model's forward
  ),
)


def relex_target_shapes(batch: int, words: int, types: int, max_width: int) -> dict[str, tuple[tuple[int, ...], Any]]:
  """A span relex kind's batch beyond the prompt (`gliner_jax.data.relex_recipe`): the span targets, the relation
  types' `<<REL>>` positions, the teacher-forced entities and pairs and the relation targets, with E =
  `RelexRecipe.max_entities` entity slots and R = `types` relation types (what `RelexRecipe.relation_types`
  defaults to: the recipe's max_types, which a fixed-shape run's type axis is).

  Example:
    >>> relex_target_shapes(2, 8, 4, 3)["relation_labels"][0]
    (2, 32, 32, 4)
  """
  entities = RelexRecipe().max_entities
  return {**span_target_shapes(batch, words, types, max_width), **relex_array_shapes(batch, entities, types)}


def token_relex_target_shapes(
  batch: int, words: int, types: int, max_width: int
) -> dict[str, tuple[tuple[int, ...], Any]]:
  """`relex_target_shapes` with the token model's targets (start / end / inside labels, word_mask).

  Example:
    >>> token_relex_target_shapes(2, 8, 4, 3)["labels"][0]
    (2, 8, 4, 3)
  """
  entities = RelexRecipe().max_entities
  return {**token_target_shapes(batch, words, types, max_width), **relex_array_shapes(batch, entities, types)}


def relex_held_out_batches(examples, start: StartingPoint, recipe) -> RelexBatchIterator:
  """Relex batches of one pass over `examples`, in order (seed 0), the last partial batch dropped."""
  prompts = RelexPromptTokenizer(start.tokenizer, start.config, start.config.rel_token)
  return RelexBatchIterator(list(examples), prompts, recipe, relex_recipe_of(start.config), seed=0, drop_remainder=True)


def relation_metrics(model, examples, config) -> dict[str, float]:
  """Relation precision / recall / F1 of a relex predictor on the eval examples at `config.eval.threshold`, strict
  (head and tail spans and types, relation type) and boundaries F1 (`gliner_jax.evaluation.relations`); nothing
  when the examples hold no relation."""
  if not any(ex.relations for ex in examples):
    return {}
  scores = evaluate_relations(
    model,
    examples,
    threshold=config.eval.threshold,
    batch_size=config.eval.batch_size,
    flat_ner=config.eval.flat_ner,
  )
  return {
    "eval_relation_precision": scores.strict.precision,
    "eval_relation_recall": scores.strict.recall,
    "eval_relation_f1": scores.strict.f1,
    "eval_relation_boundaries_f1": scores.boundaries.f1,
    "eval_relation_predicted": scores.strict.true_positives + scores.strict.false_positives,
  }


for _kind, _targets in (("span_relex", relex_target_shapes), ("token_relex", token_relex_target_shapes)):
  register_training(
    _kind,
    TrainingKind(
      loss=relex_loss,  # entity + adjacency + relation terms, as gliner 0.2.29 (span or token entity term)
      loss_options=relex_loss_options,
      batches=make_relex_batches,
      held_out_batches=relex_held_out_batches,
      target_shapes=_targets,
      shares_eval_forward=False,  # RelexGLiNER scores entities and relations with its own forward
      eval_metrics=relation_metrics,
    ),
  )
