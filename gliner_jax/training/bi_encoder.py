"""Training a bi-encoder GLiNER (a labels encoder beside the text encoder): its starting point, the init
batch, the optimizer groups and the training batches; the loop (`gliner_jax.training.loop`) picks them
when `config.labels_encoder` is set.

The config's `model` section names the labels encoder: `labels_encoder` (a Hugging Face encoder folder or
hub id, init "hf_encoder"; `labels_encoder_name` records its hub id, as `name` does for `path`) or
`labels_encoder_shape` (EncoderConfig fields, init "random", with the tokenizer `labels_tokenizer`). A
bi-encoder has no BiLSTM (`num_rnn_layers=0`) and no prompt tokens: the text tokenizer and the embedding
tables stay as the backbones ship them. Both encoders learn at the encoder learning rate. The loss is
`span_loss` with `losses.bi_encoder_loss_options`; batches come from `gliner_jax.data.bi_encoder` (one
label set per batch, so one data shard: a single process).

Example:
  >>> from configs import bi_encoder_minilm
  >>> start = bi_encoder_starting_point(bi_encoder_minilm.get_config().model)
  >>> start.config.labels_encoder.hidden_size, start.labels_tokenizer is not None
  (384, True)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gliner_jax.data.bi_encoder import BiEncoderBatchIterator
from gliner_jax.data.grain_source import make_example_dataset
from gliner_jax.data.readers import NERExample
from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.interop.hub import backbone_name
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.processing.bi_encoder_inputs import TextTokenizer
from gliner_jax.training.model_init import StartingPoint, _head_fields, resolve_path
from gliner_jax.training.pipeline import ShardedBatches

ENCODER_KEYS = ("encoder", "labels_encoder")


def bi_encoder_starting_point(model_cfg) -> StartingPoint:
  """The StartingPoint of a bi-encoder (init "hf_encoder" or "random"; see the module docstring)."""
  from transformers import AutoTokenizer

  kind = model_cfg.init
  if kind == "hf_encoder":
    from gliner_jax.interop.hf_weights import load_hf_encoder

    if not model_cfg.get("labels_encoder"):
      raise ValueError("init='hf_encoder' bi-encoder: set config.model.labels_encoder (an encoder folder or hub id)")
    path, labels_path = resolve_path(model_cfg.path), resolve_path(model_cfg.labels_encoder)
    enc_cfg, enc_params = load_hf_encoder(path)
    labels_cfg, labels_params = load_hf_encoder(labels_path)
    tokenizer, labels_tokenizer = AutoTokenizer.from_pretrained(path), AutoTokenizer.from_pretrained(labels_path)
    params = {"encoder": enc_params, "labels_encoder": labels_params}
    model_name = backbone_name(model_cfg.path, model_cfg.get("name", ""))
    labels_name = backbone_name(model_cfg.labels_encoder, model_cfg.get("labels_encoder_name", ""))
  elif kind == "random":
    if not model_cfg.get("labels_encoder_shape"):
      raise ValueError("init='random' bi-encoder: set config.model.labels_encoder_shape (EncoderConfig fields)")
    tokenizer = AutoTokenizer.from_pretrained(resolve_path(model_cfg.tokenizer))
    labels_tokenizer = AutoTokenizer.from_pretrained(
      resolve_path(model_cfg.get("labels_tokenizer") or model_cfg.tokenizer)
    )
    enc_cfg = _random_encoder(model_cfg.encoder, tokenizer)
    labels_cfg = _random_encoder(model_cfg.labels_encoder_shape, labels_tokenizer)
    params, model_name, labels_name = None, "random", "random"
  else:
    raise ValueError(f"config.model.init={kind!r}: a new bi-encoder starts from 'hf_encoder' or 'random'")
  config = GLiNERConfig(
    encoder=enc_cfg,
    labels_encoder=labels_cfg,
    model_name=model_name,
    labels_encoder_name=labels_name,
    **_head_fields(model_cfg),
  )
  return StartingPoint(config, tokenizer, params, labels_tokenizer)


def _random_encoder(fields, tokenizer) -> EncoderConfig:
  enc = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(fields).items()}
  enc["vocab_size"] = len(tokenizer)
  enc.setdefault("pad_token_id", tokenizer.pad_token_id or 0)
  return EncoderConfig.from_dict(enc)


def is_encoder_param(path: Sequence[str]) -> bool:
  """The optimizer's encoder group: both transformers (gliner trains all of `token_rep_layer` at its
  encoder learning rate; here the projections stay with the heads, as for the uni-encoder)."""
  return bool(path) and path[0] in ENCODER_KEYS


def dummy_batch(batch_size: int, tokens: int = 32, words: int = 16, label_tokens: int = 8) -> dict[str, np.ndarray]:
  """Model inputs of the right ranks (one label per row) to initialise a bi-encoder."""
  return dict(
    input_ids=np.zeros((batch_size, tokens), np.int32),
    attention_mask=np.ones((batch_size, tokens), np.int32),
    word_token_index=np.zeros((batch_size, words), np.int32),
    num_words=np.full((batch_size,), words, np.int32),
    labels_input_ids=np.zeros((batch_size, 1, label_tokens), np.int32),
    labels_attention_mask=np.ones((batch_size, 1, label_tokens), np.int32),
  )


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
