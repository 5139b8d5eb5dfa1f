"""Training a bi-encoder GLiNER (a labels encoder beside the text encoder): the optimizer groups and the
training batches, registered for the "bi_encoder" kind in `gliner_jax.training.kinds`; its starting point
is `gliner_jax.training.model_init.bi_encoder_starting_point`, its init batch
`gliner_jax.model.kinds.bi_encoder_dummy_batch`.

The config's `model` section names the labels encoder: `labels_encoder` (a Hugging Face encoder folder or
hub id, init "hf_encoder"; `labels_encoder_name` records its hub id, as `name` does for `path`) or
`labels_encoder_shape` (EncoderConfig fields, init "random", with the tokenizer `labels_tokenizer`). A
bi-encoder has no BiLSTM (`num_rnn_layers=0`) and no prompt tokens: the text tokenizer and the embedding
tables stay as the backbones ship them. Both encoders learn at the encoder learning rate. The loss is
`span_loss` with `losses.bi_encoder_loss_options`; batches come from `gliner_jax.data.bi_encoder` (one
label set per batch, so one data shard: a single process).

Example:
  >>> is_encoder_param(("labels_encoder", "layer_0", "kernel")), is_encoder_param(("span_head", "kernel"))
  (True, False)
"""

from __future__ import annotations

from typing import Sequence

from gliner_jax.data.bi_encoder import BiEncoderBatchIterator
from gliner_jax.data.grain_source import make_example_dataset
from gliner_jax.data.readers import NERExample
from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.processing.bi_encoder_inputs import TextTokenizer
from gliner_jax.training.model_init import StartingPoint
from gliner_jax.training.pipeline import ShardedBatches

ENCODER_KEYS = ("encoder", "labels_encoder")


def is_encoder_param(path: Sequence[str]) -> bool:
  """The optimizer's encoder group: both transformers (gliner trains all of `token_rep_layer` at its
  encoder learning rate; here the projections stay with the heads, as for the uni-encoder)."""
  return bool(path) and path[0] in ENCODER_KEYS


def make_bi_encoder_batches(
  examples: list[NERExample],
  start: StartingPoint,
  recipe: RecipeConfig,
  seed: int,
  shards: Sequence[int],
  shard_count: int,
) -> ShardedBatches:
  """Seeded, endlessly repeated, checkpointable bi-encoder training batches (`BiEncoderBatchIterator`).

  Raises ValueError for more than one data shard: a batch's rows share one label set, which rows built
  apart (other shards, other processes) cannot.
  """
  if shard_count != 1 or list(shards) != [0]:
    raise ValueError(
      f"a bi-encoder trains on one data shard (got shards {list(shards)} of {shard_count}): every row of a "
      "batch is scored against the batch's one label set; run a single process with train.data_shards=1"
    )
  if not examples:
    raise ValueError("no training examples: check config.data.train")
  dataset = make_example_dataset(examples, seed=seed, shuffle=True, num_epochs=None)
  text = TextTokenizer(start.tokenizer, start.config)
  return ShardedBatches({0: BiEncoderBatchIterator(dataset, text, start.labels_tokenizer, recipe, seed=seed)})


def bi_encoder_held_out_batches(
  examples: list[NERExample], start: StartingPoint, recipe: RecipeConfig
) -> BiEncoderBatchIterator:
  """Bi-encoder batches of one pass over `examples`, in order (seed 0: the same label sets every time), the
  last partial batch dropped: what a held-out loss reads (`gliner_jax.scaling.runner.held_out_loss`)."""
  text = TextTokenizer(start.tokenizer, start.config)
  return BiEncoderBatchIterator(list(examples), text, start.labels_tokenizer, recipe, seed=0, drop_remainder=True)
