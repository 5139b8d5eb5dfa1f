"""A prediction call's device work: its (window, label group) rows, and the device batches they are scored in.

`plan_items` reads every text in overlapping windows of at most `max_len` words with every group of labels
(one `PlanItem` and one tokenized prompt + window per pair), shrinking the windows of text dense with long
words until each fits the encoder. `device_batches` groups those rows into device batches at bucketed
shapes: length-sorted rows of one text each, or several texts per encoder row (`packing_capacity`,
`gliner_jax.processing.packing`).

Example:
  >>> from transformers import AutoTokenizer
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> ptok = PromptTokenizer(AutoTokenizer.from_pretrained(DEFAULT_MODEL), GLiNERConfig.load(DEFAULT_MODEL))
  >>> words = [["Ada", "lives", "in", "London", "."] * 3, ["Paris"]]
  >>> items, encoded = plan_items(ptok, words, [["person", "city"]], max_types=25, max_len=8, max_tokens=512,
  ...                             window_overlap=2)
  >>> [(i.text_index, i.word_start, i.word_stop, i.own_start, i.own_stop) for i in items]
  [(0, 0, 8, 0, 7), (0, 6, 14, 7, 10), (0, 7, 15, 10, 15), (1, 0, 1, 0, 1)]
  >>> [(members, shape.batch, shape.words) for members, shape, _ in device_batches(encoded, 2, ptok.pad_id)]
  [([3, 0], 2, 8), ([1, 2], 2, 8)]
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from gliner_jax.inference.candidates import PlanItem
from gliner_jax.processing.buckets import BATCH_BUCKETS, BatchShape, batch_shape, bucket, device_batch_size, pad_batch
from gliner_jax.processing.packing import DEFAULT_PACKED_TOKENS, PackedShape, packed_batches, pad_packed_batch
from gliner_jax.processing.prompts import MAX_WORD_TOKENS, EncodedText, PromptTokenizer
from gliner_jax.processing.windows import word_windows


def plan_items(
  prompt_tokenizer: PromptTokenizer,
  words: Sequence[Sequence[str]],
  groups: Sequence[Sequence[str]],
  *,
  max_types: int,
  max_len: int,
  max_tokens: int,
  window_overlap: int,
) -> tuple[list[PlanItem], list[EncodedText]]:
  """All (window, label group) items, tokenized: group `g`'s labels are numbered from `g * max_types`.

  Each text word keeps at most `MAX_WORD_TOKENS` subtokens (fewer if the prompt leaves less room), so a
  huge word cannot fill the encoder. A text's windows shrink until each fits `max_tokens`: first down to
  2 * window_overlap words (spans of up to `window_overlap / 2` words are still read whole), then, only for
  text dense with long words, down to one word. Only a prompt with no room left is an error. Texts without
  words give no item.
  """
  items: list[PlanItem] = []
  encoded: list[EncodedText] = []
  floor = 2 * window_overlap
  for g, group in enumerate(groups):
    prompt_tokens = prompt_tokenizer.encode_batch([[]], [group])[0].num_tokens
    room = max_tokens - prompt_tokens
    if room < 1:
      raise ValueError(
        f"the prompt of {len(group)} labels takes {prompt_tokens} of the encoder's "
        f"{max_tokens} tokens and leaves no room for words; use fewer or shorter labels"
      )
    word_cap = min(MAX_WORD_TOKENS, room)
    for t, text_words in enumerate(words):
      if not text_words:
        continue
      max_words = max_len
      while True:
        windows = word_windows(len(text_words), max_words, min(window_overlap, max_words // 2))
        enc = prompt_tokenizer.encode_batch(
          [list(text_words[a:b]) for a, b, _, _ in windows], [group] * len(windows), max_word_tokens=word_cap
        )
        longest = max(e.num_tokens for e in enc)
        if longest <= max_tokens:
          break
        if max_words == 1:  # only a tokenizer adding tokens between prompt and text gets here
          raise ValueError(f"text {t}: a one-word window takes {longest} tokens, over the encoder's {max_tokens}")
        shrunk = int(max_words * 0.75)
        max_words = max(floor, shrunk) if max_words > floor else max(1, min(max_words - 1, shrunk))
      for (a, b, own_a, own_b), e in zip(windows, enc):
        items.append(PlanItem(t, a, b, g * max_types, own_a, own_b))
        encoded.append(e)
  return items, encoded


def packing_capacity(packing: bool | int | None, max_tokens: int) -> int | None:
  """Tokens per packed encoder row for a predictor's `packing` argument (False / None / 0: no packing).

  Example:
    >>> packing_capacity(False, 512), packing_capacity(True, 512), packing_capacity(128, 512)
    (None, 256, 128)
  """
  if packing is False or packing is None or packing == 0:
    return None
  if packing is True:
    return min(DEFAULT_PACKED_TOKENS, max_tokens)
  if isinstance(packing, bool) or not isinstance(packing, int) or packing < 1:
    raise ValueError(f"packing must be a bool or a positive number of tokens per row, got {packing!r}")
  if packing > max_tokens:
    raise ValueError(f"packing={packing} tokens per row exceeds the encoder's {max_tokens}")
  return packing


def device_batches(
  encoded: Sequence[EncodedText],
  batch_size: int,
  pad_id: int,
  *,
  capacity: int | None = None,
  hidden_size: int = 768,
) -> Iterator[tuple[list[int], BatchShape | PackedShape, dict[str, np.ndarray]]]:
  """(members, shape, arrays) for each device batch: indices into `encoded` in batch order, the static shape,
  and the model's inputs. Unpacked (`capacity` None): length-sorted rows of one text each, up to
  `device_batch_size(batch_size)` per batch; packed: several texts per encoder row of `capacity` tokens
  (`gliner_jax.processing.packing.packed_batches`, which sizes rows by `hidden_size`)."""
  if capacity is not None:
    for members, rows, shape in packed_batches(encoded, batch_size, capacity, hidden_size):
      yield members, shape, pad_packed_batch(encoded, rows, shape, pad_id)
    return
  order = sorted(range(len(encoded)), key=lambda i: (encoded[i].num_tokens, encoded[i].num_words))
  step = device_batch_size(batch_size)
  for lo in range(0, len(order), step):
    members = order[lo : lo + step]
    rows = [encoded[i] for i in members]
    shape = batch_shape(rows, bucket(len(rows), BATCH_BUCKETS))
    yield members, shape, pad_batch(rows, shape, pad_id)
