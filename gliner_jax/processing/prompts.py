"""From words and entity types to token ids: the prompt `<<ENT>> type1 <<ENT>> type2 ... <<SEP>> words`.

The prompt is tokenized word by word (`is_split_into_words=True`) with the backbone's own special
tokens around it; each text word is represented by its first subtoken and each type by its `<<ENT>>`
token, as in gliner 0.2.29. Unlike gliner, a text word keeps at most `MAX_WORD_TOKENS` subtokens, and
words spelled like special tokens are plain text (gliner would read a text `<<ENT>>` as one more type).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from gliner_jax.model.config import SPECIAL_TOKENS, GLiNERConfig

# Subtokens kept per text word: ordinary words need far fewer; a longer one keeps its first ones.
MAX_WORD_TOKENS = 32


@dataclasses.dataclass(frozen=True)
class EncodedText:
  """One prompt + text, tokenized. Indices are positions in `input_ids`; -1 means none."""

  input_ids: np.ndarray
  word_token_index: np.ndarray
  type_token_index: np.ndarray

  @property
  def num_tokens(self) -> int:
    return len(self.input_ids)

  @property
  def num_words(self) -> int:
    return len(self.word_token_index)


def validate_labels(labels: Sequence[str], special_tokens: Sequence[str] = SPECIAL_TOKENS) -> list[str]:
  """Checks entity types: a non-empty list of non-empty strings without special tokens."""
  if isinstance(labels, str):
    raise ValueError(f"labels must be a list of strings, got the string {labels!r}")
  labels = list(labels)
  if not labels:
    raise ValueError("labels is empty: give at least one entity type")
  for i, label in enumerate(labels):
    if not isinstance(label, str):
      raise ValueError(f"labels[{i}] is {type(label).__name__} {label!r}, not a string")
    if not label.strip():
      raise ValueError(f"labels[{i}] is an empty string")
    for tok in special_tokens:
      if tok in label:
        raise ValueError(f"labels[{i}]={label!r} contains the special token {tok!r}")
  return labels


class PromptTokenizer:
  """Tokenizes (words, types) pairs into `EncodedText`s with a Hugging Face fast tokenizer.

  Example (the shipped default model's tokenizer and config):
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> pt = PromptTokenizer(AutoTokenizer.from_pretrained(DEFAULT_MODEL), GLiNERConfig.load(DEFAULT_MODEL))
    >>> enc = pt.encode_batch([["Paris", "is", "big"]], [["city"]])[0]
    >>> pt.tokenizer.convert_ids_to_tokens(enc.input_ids.tolist())
    ['[CLS]', '<<ENT>>', 'city', '<<SEP>>', 'paris', 'is', 'big', '[SEP]']
    >>> enc.type_token_index.tolist(), enc.word_token_index.tolist()
    ([1], [4, 5, 6])
  """

  def __init__(self, tokenizer, config: GLiNERConfig):
    if not getattr(tokenizer, "is_fast", False):
      raise ValueError(
        f"{type(tokenizer).__name__} is a slow tokenizer: GLiNER needs a fast one (word ids per "
        "subtoken); load it with AutoTokenizer.from_pretrained(..., use_fast=True)"
      )
    if len(tokenizer) > config.encoder.vocab_size:
      raise ValueError(
        f"the tokenizer has {len(tokenizer)} tokens but the encoder's embedding table has "
        f"{config.encoder.vocab_size} rows: ids past the table would give NaN scores; use the "
        "tokenizer the model was trained with"
      )
    self.tokenizer = tokenizer
    self.config = config
    self.class_token_id = tokenizer.convert_tokens_to_ids(config.ent_token)
    if config.class_token_index >= 0 and self.class_token_id != config.class_token_index:
      raise ValueError(
        f"tokenizer maps {config.ent_token!r} to {self.class_token_id}, but the config says "
        f"class_token_index={config.class_token_index}"
      )
    if self.class_token_id is None or self.class_token_id == tokenizer.unk_token_id:
      raise ValueError(
        f"tokenizer has no {config.ent_token!r} token; add the special tokens {SPECIAL_TOKENS} before use"
      )
    self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # Ids a text or label word must never produce: the prompt markers and the backbone's specials.
    marker_ids = {tokenizer.convert_tokens_to_ids(t) for t in (config.ent_token, config.sep_token, "[FLERT]")}
    self._reserved_ids = np.asarray(
      sorted((marker_ids | set(tokenizer.all_special_ids)) - {None, tokenizer.unk_token_id}), np.int64
    )

  def prompt_words(self, labels: Sequence[str]) -> list[str]:
    out = []
    for label in labels:
      out += [self.config.ent_token, label]
    return out + [self.config.sep_token]

  def encode_batch(
    self, texts: Sequence[Sequence[str]], labels: Sequence[Sequence[str]], max_word_tokens: int | None = MAX_WORD_TOKENS
  ) -> list[EncodedText]:
    """Tokenizes each (text words, labels) pair as one prompt + text sequence.

    A text word keeps at most its first `max_word_tokens` subtokens (None: all), so one huge word
    (a URL slug, a base64 blob) cannot crowd out its neighbours; it is still one word, read by its
    first subtoken. Text and label words are plain text: one spelled like `<<ENT>>` or `[SEP]` is
    tokenized into ordinary pieces, and type positions come only from the prompt's own markers.

    Example:
      >>> from transformers import AutoTokenizer
      >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
      >>> pt = PromptTokenizer(AutoTokenizer.from_pretrained(DEFAULT_MODEL), GLiNERConfig.load(DEFAULT_MODEL))
      >>> enc = pt.encode_batch([["see", "<<ENT>>"]], [["city", "person"]])[0]
      >>> len(enc.type_token_index), enc.num_words
      (2, 2)
    """
    if max_word_tokens is not None and max_word_tokens < 1:
      raise ValueError(f"max_word_tokens must be >= 1 or None, got {max_word_tokens}")
    prompts = [self.prompt_words(l) for l in labels]
    sequences = [p + list(t) for p, t in zip(prompts, texts)]
    enc = self.tokenizer(sequences, is_split_into_words=True, add_special_tokens=True, truncation=False, verbose=False)
    return [
      self._encode_one(
        np.asarray(enc["input_ids"][i], np.int64),
        np.asarray([-1 if w is None else w for w in enc.word_ids(i)], np.int64),
        seq,
        len(prompt),
        max_word_tokens,
      )
      for i, (seq, prompt) in enumerate(zip(sequences, prompts))
    ]

  def _encode_one(
    self, ids: np.ndarray, wid: np.ndarray, words: Sequence[str], num_prompt: int, max_word_tokens: int | None
  ) -> EncodedText:
    marker = (wid >= 0) & (wid < num_prompt) & (wid % 2 == 0)  # <<ENT>> at even prompt words, <<SEP>> last
    bad = (wid >= 0) & ~marker & np.isin(ids, self._reserved_ids)
    if bad.any():
      ids, wid = self._as_plain_text(ids, wid, words, set(wid[bad].tolist()))
      marker = (wid >= 0) & (wid < num_prompt) & (wid % 2 == 0)
    pos = np.arange(len(ids))
    run_start = np.ones(len(ids), bool)
    run_start[1:] = wid[1:] != wid[:-1]
    rank = pos - np.maximum.accumulate(np.where(run_start, pos, 0))  # subtoken index within its word
    in_text = wid >= num_prompt
    keep = ~in_text | (rank < (len(ids) if max_word_tokens is None else max_word_tokens))
    new_pos = np.cumsum(keep) - 1
    first = np.full(len(words) - num_prompt, -1, np.int32)
    starts = in_text & (rank == 0)
    first[wid[starts] - num_prompt] = new_pos[starts]
    types = marker & (wid < num_prompt - 1) & (ids == self.class_token_id)
    return EncodedText(ids[keep].astype(np.int32), first, new_pos[types].astype(np.int32))

  def _as_plain_text(self, ids, wid, words, word_indices):
    """Re-tokenizes the given words ignoring added special tokens; reserved ids left become unk."""
    unk = self.tokenizer.unk_token_id if self.tokenizer.unk_token_id is not None else self.pad_id
    parts_ids, parts_wid, pos = [], [], 0
    for w in sorted(word_indices):
      piece = np.asarray(
        self.tokenizer(
          [words[w]], is_split_into_words=True, add_special_tokens=False, split_special_tokens=True, verbose=False
        )["input_ids"],
        np.int64,
      )
      piece = np.where(np.isin(piece, self._reserved_ids), unk, piece)
      span = np.flatnonzero(wid == w)
      parts_ids += [ids[pos : span[0]], piece]
      parts_wid += [wid[pos : span[0]], np.full(len(piece), w, np.int64)]
      pos = span[-1] + 1
    parts_ids.append(ids[pos:])
    parts_wid.append(wid[pos:])
    return np.concatenate(parts_ids), np.concatenate(parts_wid)
