"""Label sets (gliner_jax.processing.labels): names, descriptions, and gliner 0.2.29's normalisation."""

from __future__ import annotations

import pytest

from conftest import require_module
from gliner_jax.processing.labels import LabelSet

CASES = [
  ["person", "city"],
  ["city", "person", "city", "person"],
  "person",
  {"person": "a named human being", "city": "a town or a city"},
  {"b": "x", "a": "y"},
]


@pytest.mark.parametrize("labels", CASES, ids=range(len(CASES)))
def test_prompts_and_names_are_gliners(labels):
  gliner_model = require_module("gliner.model")
  prompts, names = gliner_model._normalize_label_set(labels)
  ours = LabelSet.of(labels)
  assert list(ours.prompts) == list(prompts)
  assert list(ours.names) == list(names)
  assert ours.described == isinstance(labels, dict)
  assert LabelSet.of(ours) is ours


@pytest.mark.parametrize(
  "labels, message",
  [
    ({"person": "someone", "people": "someone"}, "same description 'someone'"),
    ({"person": 3}, "both strings"),
    (["person", 7], r"labels\[1\] is int 7"),
    (42, "list of names or a {name: description} mapping"),
  ],
)
def test_bad_labels_are_named(labels, message):
  with pytest.raises(ValueError, match=message):
    LabelSet.of(labels)
