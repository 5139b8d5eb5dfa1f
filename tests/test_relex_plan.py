"""`RelexPlanner` against brute force, on the bundled default model's tokenizer (no model, no torch).

- label groups keep every label once, in order, at most `max_types` per group, each (entity group, relation group)
  prompt within half the encoder; one group each when everything fits; a clear error when nothing can;
- windows cover every word, hold at most `max_len` words and fit the encoder with the longest prompt;
- `pad` gives the buckets of the rows' largest dimensions, with -1 past each row's relation types;
- `warmup_batches` holds the shape of every batch a prediction over those rows can run (every subset of the rows at
  every device batch size up to the asked one, as `RelexGLiNER._predict` cuts them).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from transformers import AutoTokenizer

from gliner_jax import DEFAULT_MODEL
from gliner_jax.inference.relex_plan import RelexPlanner
from gliner_jax.interop.convert import add_gliner_tokens
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.processing.buckets import (
  BATCH_BUCKETS,
  TOKEN_BUCKETS,
  TYPE_BUCKETS,
  WORD_BUCKETS,
  bucket,
  device_batch_size,
)

ENTITIES = ["person", "organization", "city", "country", "date"]
RELATIONS = ["works at", "located in", "founded", "born in", "lives in", "capital of", "member of"]
WORDS = "Alice Smith , who was born in Paris in 1970 , founded Acme Corp in Berlin , the capital of Germany .".split()


@pytest.fixture(scope="module")
def tokenizer():
  tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
  return add_gliner_tokens(tok, tokens=("<<ENT>>", "<<SEP>>", "<<REL>>"))


def _planner(tokenizer, max_tokens=512, **config) -> RelexPlanner:
  encoder = EncoderConfig(
    model_type="bert",
    vocab_size=len(tokenizer),
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
  )
  fields = dict(encoder=encoder, hidden_size=32, max_width=3, relations_layer="dot") | config
  return RelexPlanner(tokenizer, GLiNERConfig(**fields), max_tokens)


@pytest.mark.parametrize("max_types", [1, 2, 3, 25])
@pytest.mark.parametrize("max_tokens", [512, 40])
def test_label_groups_partition_the_labels_within_max_types_and_half_the_encoder(tokenizer, max_types, max_tokens):
  planner = _planner(tokenizer, max_tokens, max_types=max_types)
  for e, r in [(ENTITIES, RELATIONS), (ENTITIES[:1], []), (ENTITIES, RELATIONS[:2])]:
    entity_groups, relation_groups = planner.label_groups(e, r)
    assert sum(entity_groups, []) == e and sum(relation_groups, []) == r
    assert all(0 < len(g) <= max_types for g in entity_groups)
    assert all(0 < len(g) <= max_types for g in relation_groups) or relation_groups == [[]]
    for eg, rg in itertools.product(entity_groups, relation_groups):
      assert len(planner.encode([], eg, rg).input_ids) <= max_tokens // 2
    if max_types == 25 and max_tokens == 512:
      assert (entity_groups, relation_groups) == ([e], [r])


def test_label_groups_halve_relation_groups_first(tokenizer):
  planner = _planner(tokenizer, 512, max_types=25)
  whole = len(planner.encode([], ENTITIES, RELATIONS).input_ids)
  entity_groups, relation_groups = _planner(tokenizer, 2 * whole - 2, max_types=25).label_groups(ENTITIES, RELATIONS)
  assert entity_groups == [ENTITIES] and len(relation_groups) == 2


def test_label_groups_refuse_a_pair_of_labels_over_half_the_encoder(tokenizer):
  with pytest.raises(ValueError, match="over half the encoder's 8"):
    _planner(tokenizer, 8).label_groups(["person"], ["works at"])


@pytest.mark.parametrize("max_len", [4, 7, 12, 384])
@pytest.mark.parametrize("max_tokens", [512, 48])
def test_windows_cover_every_word_and_fit_the_encoder(tokenizer, max_len, max_tokens):
  planner = _planner(tokenizer, max_tokens, max_len=max_len)
  prompts = [(ENTITIES[:2], RELATIONS[:3]), (ENTITIES[2:], RELATIONS[3:])]
  for n in [1, 2, 5, len(WORDS)]:
    planned = planner.windows(0, WORDS[:n], prompts)
    covered = set()
    for window, encoded in planned:
      assert window.stop - window.start <= max_len and len(encoded) == len(prompts)
      assert all(len(e.input_ids) <= max_tokens for e in encoded)
      assert [e.num_words for e in encoded] == [window.stop - window.start] * len(prompts)
      covered |= set(range(window.start, window.stop))
    assert covered == set(range(n))
  assert planner.windows(0, [], prompts) == []


def test_windows_refuse_a_prompt_that_leaves_no_room_for_one_word(tokenizer):
  with pytest.raises(ValueError, match="text 3: a one-word window"):
    _planner(tokenizer, 16).windows(3, WORDS, [(ENTITIES, RELATIONS)])


def _rows(planner):
  lengths = [(3, ENTITIES[:1], RELATIONS[:1]), (20, ENTITIES, RELATIONS), (9, ENTITIES[:3], []), (1, ENTITIES, [])]
  return [planner.encode(WORDS[:n], e, r) for n, e, r in lengths]


def test_pad_gives_the_buckets_of_the_largest_row(tokenizer):
  planner = _planner(tokenizer)
  rows = _rows(planner)
  shape, batch = planner.pad(rows, 8)
  expected = (
    8,
    bucket(max(e.num_tokens for e in rows), TOKEN_BUCKETS),
    bucket(max(e.num_words for e in rows), WORD_BUCKETS),
    bucket(max(len(e.type_token_index) for e in rows), TYPE_BUCKETS),
    bucket(max(len(e.relation_token_index) for e in rows), TYPE_BUCKETS),
  )
  assert shape == expected
  assert batch["input_ids"].shape == shape[:2] and batch["relation_token_index"].shape == (8, shape[4])
  for i, e in enumerate(rows):
    k = len(e.relation_token_index)
    np.testing.assert_array_equal(batch["relation_token_index"][i, :k], e.relation_token_index)
    assert (batch["relation_token_index"][i, k:] == -1).all()
  assert (batch["relation_token_index"][len(rows) :] == -1).all()


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_warmup_batches_hold_every_shape_a_prediction_can_run(tokenizer, batch_size):
  planner = _planner(tokenizer)
  rows = _rows(planner)
  batches = planner.warmup_batches(rows, batch_size)
  sizes = BATCH_BUCKETS[: BATCH_BUCKETS.index(device_batch_size(batch_size)) + 1]
  runnable = set()
  for b in sizes:
    for k in range(1, min(b, len(rows)) + 1):
      for subset in itertools.combinations_with_replacement(rows, k):
        runnable.add(planner.pad(list(subset), b)[0])
  assert set(batches) == runnable
  for shape, batch in batches.items():
    assert batch["input_ids"].shape == shape[:2] and batch["relation_token_index"].shape == (shape[0], shape[4])
