"""How a relex prediction is cut into static-shape device rows: label groups, windows, padding and warmup shapes.

`RelexPlanner` holds what planning needs (the tokenizer, the relex `GLiNERConfig` and the encoder's token limit) and
nothing of the model's parameters, so `gliner_jax.inference.relex.RelexGLiNER` plans with it and tests can plan
without a model.

- `label_groups`: the entity and relation labels go into one prompt, as gliner reads them, while they fit: at most
  `max_types` of each, in a prompt of at most half the encoder; past that they are split into groups, and each
  (entity group, relation group) pair is one pass over the text.
- `windows`: a text longer than `max_len` words is read in windows (`gliner_jax.processing.windows.word_windows`,
  2 * max_width words shared), shrunk until every window fits in the encoder with its longest prompt.
- `items`: every (text, window, pass) row of a prediction.
- `pad`: rows padded to the bucketed (rows, tokens, words, entity types, relation types) shape.
- `warmup_batches`: one device batch for each shape a prediction over such rows can run.

Example (a test-size relex config on the bundled default model's tokenizer):
  >>> from transformers import AutoTokenizer
  >>> from gliner_jax import DEFAULT_MODEL
  >>> from gliner_jax.interop.convert import add_gliner_tokens
  >>> from gliner_jax.model.config import GLiNERConfig
  >>> from gliner_jax.model.encoders.config import EncoderConfig
  >>> tok = add_gliner_tokens(AutoTokenizer.from_pretrained(DEFAULT_MODEL), tokens=("<<ENT>>", "<<SEP>>", "<<REL>>"))
  >>> enc = EncoderConfig(model_type="bert", vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
  ...                     num_attention_heads=2, intermediate_size=64)
  >>> config = GLiNERConfig(encoder=enc, hidden_size=32, max_width=4, max_len=6, max_types=2,
  ...                       relations_layer="dot")
  >>> planner = RelexPlanner(tok, config, max_tokens=512)
  >>> planner.label_groups(["person", "company", "city"], ["founded", "works at"])
  ([['person', 'company'], ['city']], [['founded', 'works at']])
  >>> words = "Bob founded Globex in Springfield last May .".split()
  >>> [(w.start, w.stop) for w, _ in planner.windows(0, words, [(["person"], [])])]
  [(0, 6), (2, 8)]
  >>> shape, batch = planner.pad([planner.encode(["Bob", "founded", "Globex"], ["person"], ["founded"])], rows=2)
  >>> shape, batch["relation_token_index"].shape
  ((2, 32, 8, 4, 4), (2, 4))
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from typing import Any

import numpy as np

from gliner_jax.model.config import GLiNERConfig
from gliner_jax.processing.buckets import (
  BATCH_BUCKETS,
  TOKEN_BUCKETS,
  TYPE_BUCKETS,
  WORD_BUCKETS,
  BatchShape,
  bucket,
  device_batch_size,
  pad_batch,
)
from gliner_jax.processing.relex_prompts import RelexEncodedText, encode_relex_prompts
from gliner_jax.processing.windows import WordWindow, word_windows

ENTITY_SLOTS = (16, 32, 64, 128, 256, 512)


@dataclasses.dataclass(frozen=True, order=True)
class RelexShape:
  """The static shape of one relex device batch: rows, tokens, words, entity types, relation types, entity slots."""

  batch: int
  tokens: int
  words: int
  types: int
  relations: int
  entities: int


@dataclasses.dataclass(frozen=True)
class RelexItem:
  """One device row of a relex prediction: window `window_index` (`window`) of text `text`, read with the labels of
  pass `label_pass` (an (entity group, relation group) pair), encoded."""

  text: int
  window_index: int
  window: WordWindow
  label_pass: int
  encoded: RelexEncodedText


@dataclasses.dataclass(frozen=True)
class RelexPlan:
  """The rows of one relex prediction: the entity and relation label groups, the (entity group, relation group)
  passes, and one `RelexItem` per text window and pass."""

  entity_groups: list[list[str]]
  relation_groups: list[list[str]]
  passes: list[tuple[int, int]]
  items: list[RelexItem]


@dataclasses.dataclass(frozen=True)
class RelexPlanner:
  """Plans relex rows for a tokenizer (with the prompt's marker tokens), a relex `GLiNERConfig` and the encoder's
  token limit `max_tokens`."""

  tokenizer: Any
  config: GLiNERConfig
  max_tokens: int

  def encode(self, words: list[str], entity_labels: list[str], relation_labels: list[str]) -> RelexEncodedText:
    """The prompt `<<ENT>> e1 ... <<SEP>> <<REL>> r1 ... <<SEP>>` and the words (`encode_relex_prompts`)."""
    config = self.config
    return encode_relex_prompts(
      self.tokenizer,
      [words],
      [entity_labels],
      [relation_labels],
      ent_token=config.ent_token,
      sep_token=config.sep_token,
      rel_token=config.rel_token,
    )[0]

  def label_groups(
    self, entity_labels: list[str], relation_labels: list[str]
  ) -> tuple[list[list[str]], list[list[str]]]:
    """The entity and relation label groups one prediction reads, each pair of groups in one prompt: groups of at
    most `config.max_types` labels (the most gliner's relex training reads), halved, relation groups first, while
    a prompt would take more than half the encoder. No relation labels give one empty relation group."""
    entity_labels, relation_labels = list(entity_labels), list(relation_labels)
    e_size = max(1, min(self.config.max_types, len(entity_labels)))
    r_size = max(1, min(self.config.max_types, len(relation_labels)))
    while True:
      entity_groups = [entity_labels[i : i + e_size] for i in range(0, len(entity_labels), e_size)] or [[]]
      relation_groups = [relation_labels[i : i + r_size] for i in range(0, len(relation_labels), r_size)] or [[]]
      longest = max(len(self.encode([], e, r).input_ids) for e in entity_groups for r in relation_groups)
      if longest <= self.max_tokens // 2:
        return entity_groups, relation_groups
      if r_size > 1:
        r_size = (r_size + 1) // 2
      elif e_size > 1:
        e_size = (e_size + 1) // 2
      else:
        raise ValueError(
          f"one entity label and one relation label take a prompt of {longest} tokens, over half the encoder's "
          f"{self.max_tokens}; use shorter labels"
        )

  def windows(
    self, text_index: int, words: list[str], prompts: list[tuple[list[str], list[str]]]
  ) -> list[tuple[WordWindow, list[RelexEncodedText]]]:
    """The windows of text `text_index` (`word_windows`: at most max_len words, 2 * max_width shared), each encoded
    with every (entity labels, relation labels) prompt; windows shrink (down to 2 * overlap words, then to one word)
    until each fits in the encoder with the longest prompt. A text without words has no window."""
    if not words:
      return []
    max_words, overlap = max(self.config.max_len, 1), 2 * self.config.max_width
    floor = 2 * overlap
    while True:
      windows = word_windows(len(words), max_words, min(overlap, max_words // 2))
      encoded = [[self.encode(words[w.start : w.stop], e, r) for e, r in prompts] for w in windows]
      longest = max(len(e.input_ids) for row in encoded for e in row)
      if longest <= self.max_tokens:
        return list(zip(windows, encoded))
      if max_words == 1:
        raise ValueError(
          f"text {text_index}: a one-word window with a prompt of {max(len(e) for e, _ in prompts)} entity and "
          f"{max(len(r) for _, r in prompts)} relation labels takes {longest} tokens, over the encoder's "
          f"{self.max_tokens}; use fewer or shorter labels"
        )
      shrunk = int(max_words * 0.75)
      max_words = max(floor, shrunk) if max_words > floor else max(1, min(max_words - 1, shrunk))

  def plan(self, words: list[list[str]], entity_labels: list[str], relation_labels: list[str]) -> RelexPlan:
    """Every (text, window, pass) row of a prediction over texts split into `words`; warns when entity labels are
    split into groups while relation labels are asked for (relations across groups are not scored)."""
    entity_groups, relation_groups = self.label_groups(entity_labels, relation_labels)
    if len(entity_groups) > 1 and relation_labels:
      warnings.warn(
        f"{len(entity_labels)} entity labels are read in {len(entity_groups)} groups (max_types="
        f"{self.config.max_types}, or the prompt is over half the encoder): relations between entities of different "
        "groups are not scored; pass fewer entity labels to score them all",
        stacklevel=4,
      )
    passes = [(g, r) for g in range(len(entity_groups)) for r in range(len(relation_groups))]
    prompts = [(entity_groups[g], relation_groups[r]) for g, r in passes]
    items = []
    for t, text_words in enumerate(words):
      for w, (window, encs) in enumerate(self.windows(t, text_words, prompts)):
        items += [RelexItem(t, w, window, p, enc) for p, enc in enumerate(encs)]
    return RelexPlan(entity_groups, relation_groups, passes, items)

  def pad(self, chunk: list[RelexEncodedText], rows: int) -> tuple[tuple[int, ...], dict[str, np.ndarray]]:
    """The bucketed (rows, tokens, words, types, relations) shape of `chunk` and its padded model inputs."""
    shape = BatchShape(
      batch=rows,
      tokens=bucket(max(e.num_tokens for e in chunk), TOKEN_BUCKETS),
      words=bucket(max(max(e.num_words for e in chunk), 1), WORD_BUCKETS),
      types=bucket(max(len(e.type_token_index) for e in chunk), TYPE_BUCKETS),
    )
    relations = bucket(max(len(e.relation_token_index) for e in chunk), TYPE_BUCKETS)
    pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
    batch = pad_batch(chunk, shape, pad_id)
    batch["relation_token_index"] = np.full((rows, relations), -1, np.int32)
    for i, e in enumerate(chunk):
      batch["relation_token_index"][i, : len(e.relation_token_index)] = e.relation_token_index
    return (rows, shape.tokens, shape.words, shape.types, relations), batch

  def warmup_batches(
    self, encoded: list[RelexEncodedText], batch_size: int
  ) -> dict[tuple[int, ...], dict[str, np.ndarray]]:
    """One padded batch per (rows, tokens, words, types, relations) shape that predicting `encoded` rows at
    `batch_size` can run: each device batch size up to `device_batch_size(batch_size)` with every bucket a set of
    the rows reaches, rows repeated or left out."""
    first: dict[tuple[int, ...], int] = {}
    for i, e in enumerate(encoded):
      first.setdefault(self.pad([e], 1)[0][1:], i)
    sizes = BATCH_BUCKETS[: BATCH_BUCKETS.index(device_batch_size(batch_size)) + 1]
    chunks: dict[tuple[int, ...], list[int]] = {}
    for n in range(1, 5):  # a bucket of each of the four dimensions is reached by at most four rows
      for group in itertools.combinations_with_replacement(first, n):
        members = list(dict.fromkeys(first[g] for g in group))
        for b in sizes:
          if len(members) <= b:
            chunks.setdefault((b, *(max(dim) for dim in zip(*group))), members)
    return {shape: self.pad([encoded[i] for i in chunks[shape]], shape[0])[1] for shape in sorted(chunks)}
