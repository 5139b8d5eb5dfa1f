"""A bi-encoder's inputs: texts without a prompt, and label names tokenized for the labels encoder."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gliner_jax.model.config import GLiNERConfig
from gliner_jax.processing.buckets import bucket
from gliner_jax.processing.prompts import PromptTokenizer

LABEL_TOKEN_BUCKETS = (8, 16, 32, 64, 128, 256, 512)


class TextTokenizer(PromptTokenizer):
  """A bi-encoder's text tokenizer: the words alone between the backbone's special tokens, no prompt.

  As gliner 0.2.29's bi-encoder processor: the words tokenized with `is_split_into_words=True`, each
  word read by its first subtoken. As `PromptTokenizer`, a text word keeps at most `max_word_tokens`
  subtokens and words spelled like special tokens are plain text. The tokenizer may hold more tokens
  than the embedding table has rows (gliner adds its three prompt tokens to a bi-encoder's tokenizer
  without rows for them): only its own vocabulary must fit.

  Example (the default model's tokenizer and config; a bi-encoder's would do the same):
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> tokenizer, config = AutoTokenizer.from_pretrained(DEFAULT_MODEL), GLiNERConfig.load(DEFAULT_MODEL)
    >>> enc = TextTokenizer(tokenizer, config).encode_batch([["Paris", "is", "big"]], [[]])[0]
    >>> enc.num_words, len(enc.type_token_index)
    (3, 0)
  """

  def __init__(self, tokenizer, config: GLiNERConfig):
    if not getattr(tokenizer, "is_fast", False):
      raise ValueError(f"{type(tokenizer).__name__} is a slow tokenizer: GLiNER needs a fast one (word ids)")
    if tokenizer.vocab_size > config.encoder.vocab_size:
      raise ValueError(
        f"the tokenizer's vocabulary has {tokenizer.vocab_size} tokens but the text encoder's embedding table "
        f"has {config.encoder.vocab_size} rows: use the tokenizer the model was trained with"
      )
    self.tokenizer = tokenizer
    self.config = config
    self.class_token_id = None
    self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    markers = {tokenizer.convert_tokens_to_ids(t) for t in (config.ent_token, config.sep_token, "[FLERT]")}
    self._reserved_ids = np.asarray(
      sorted((markers | set(tokenizer.all_special_ids)) - {None, tokenizer.unk_token_id}), np.int64
    )

  def prompt_words(self, labels: Sequence[str]) -> list[str]:
    if labels:
      raise ValueError("a bi-encoder's text has no prompt: its labels go to the labels encoder")
    return []


class LabelTokenizer:
  """Tokenizes label names for the labels encoder (the label alone, with the tokenizer's special tokens,
  truncated to what the encoder reads) and pads them to bucketed [rows, tokens] arrays.

  Example (the default model's config with its encoder as the labels encoder, and its tokenizer):
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> config = GLiNERConfig.load(DEFAULT_MODEL)
    >>> config = config.replace(labels_encoder=config.encoder, num_rnn_layers=0)
    >>> label_tokenizer = LabelTokenizer(AutoTokenizer.from_pretrained(DEFAULT_MODEL), config)
    >>> ids, mask = label_tokenizer.batch(["person", "city"], rows=4)
    >>> ids.shape, mask.sum(axis=1).tolist()
    ((4, 8), [3, 3, 0, 0])
  """

  def __init__(self, tokenizer, config: GLiNERConfig):
    if config.labels_encoder is None:
      raise ValueError("LabelTokenizer needs a bi-encoder config (labels_encoder)")
    limit = getattr(tokenizer, "model_max_length", None) or 10**9
    self.tokenizer = tokenizer
    self.max_tokens = int(min(limit, config.labels_encoder.max_sequence_length, LABEL_TOKEN_BUCKETS[-1]))
    self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

  def encode(self, labels: Sequence[str]) -> list[np.ndarray]:
    """Token ids of each label (truncated to `max_tokens`)."""
    enc = self.tokenizer(list(labels), truncation=True, max_length=self.max_tokens, verbose=False)
    return [np.asarray(ids, np.int32) for ids in enc["input_ids"]]

  def pad(self, encoded: Sequence[np.ndarray], rows: int, tokens: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """[rows, tokens] ids and mask (tokens: the bucket of the longest label); rows past the labels are empty."""
    if len(encoded) > rows:
      raise ValueError(f"{len(encoded)} labels do not fit {rows} rows")
    if tokens is None:
      tokens = bucket(max([len(e) for e in encoded] + [1]), LABEL_TOKEN_BUCKETS)
    ids = np.full((rows, tokens), self.pad_id, np.int32)
    mask = np.zeros((rows, tokens), np.int32)
    for i, e in enumerate(encoded):
      ids[i, : len(e)] = e
      mask[i, : len(e)] = 1
    return ids, mask

  def batch(self, labels: Sequence[str], rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`pad(encode(labels))` with `rows` rows (default: one per label)."""
    encoded = self.encode(labels)
    return self.pad(encoded, len(encoded) if rows is None else rows)


def text_inputs(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """The text arrays of a padded batch (`pad_batch` without the prompt's `type_token_index`)."""
  return {k: v for k, v in batch.items() if k != "type_token_index"}
