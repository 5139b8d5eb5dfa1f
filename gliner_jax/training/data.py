"""Training data for `train_and_evaluate`: examples from the configured sources, batches from grain.

`config.data.train` is a list of sources, each a dict with
  path:          a file (any supported format) or a dataset folder (then `split` picks the file);
  split:         for folders ("train", "dev", "test");
  max_examples:  keep the first N (optional);
  repeat:        use the source's examples this many times per pass over the data (an integer >= 1,
                 optional; up-weights a small source in a mixture);
  label_map:     a name in `gliner_jax.evaluation.label_maps`, or a dict raw tag -> natural-language type ("" drops the
                 tag; unlisted tags are lower-cased with "_" as spaces) (optional).
Relative paths are resolved against the working directory, then the repository root.

A malformed record does not stop a run: it is left out, counted and logged with its file:line
(`on_error="skip"` of `gliner_jax.data.readers`), and every example's id is its file:line.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np

from gliner_jax.data.batch_iterator import BatchIterator
from gliner_jax.data.grain_source import make_example_dataset
from gliner_jax.data.paths import REPO_ROOT
from gliner_jax.data.readers import NERExample, read_dataset_folder, read_ner_file
from gliner_jax.data.recipe import RecipeConfig
from gliner_jax.interop import storage
from gliner_jax.processing.prompts import PromptTokenizer
from gliner_jax.training.pipeline import ShardedBatches


def resolve_data_path(path: str) -> str:
  if storage.is_remote(path):  # gs://... is read through the path layer
    if storage.exists(path):
      return path
    raise FileNotFoundError(f"data source {path!r} not found")
  for candidate in (path, os.path.join(REPO_ROOT, path)):
    if os.path.exists(candidate):
      return candidate
  raise FileNotFoundError(f"data source {path!r} not found (also tried under {REPO_ROOT})")


def relabel(examples: Iterable[NERExample], mapping) -> list[NERExample]:
  """`NERExample.relabel` of each example (relations follow their entities)."""
  return [ex.relabel(mapping) for ex in examples]


def load_source(source: dict[str, Any], *, on_error: str = "skip") -> list[NERExample]:
  """The examples of one source; malformed records are skipped and logged (`on_error="raise"`: stopped at).

  >>> from gliner_jax.training.config import BUNDLED_TRAIN   # the bundled Pile-NER slice
  >>> examples = load_source(dict(path=BUNDLED_TRAIN, max_examples=100, repeat=2))
  >>> len(examples), examples[0].id   # each example's id: its file and line
  (200, '...pile_ner_slice_train.txt:1')
  """
  path = resolve_data_path(source["path"])
  options = dict(on_error=on_error, located_ids=True)
  if storage.isdir(path):
    examples = read_dataset_folder(path, source.get("split", "train"), **options)
  else:
    examples = read_ner_file(path, **options)
  if source.get("max_examples"):
    examples = examples[: int(source["max_examples"])]
  mapping = source.get("label_map")
  if isinstance(mapping, str):
    from gliner_jax.evaluation.label_maps import get_label_map

    examples = relabel(examples, get_label_map(mapping))
  elif mapping is not None:  # a dict of raw tag -> type ("" drops it); other tags: lower case, _ -> space
    table = dict(mapping)
    examples = relabel(examples, lambda t: table[t] if t in table else t.replace("_", " ").lower())
  repeat = source.get("repeat", 1)
  if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
    raise ValueError(f"data source {source['path']!r}: repeat must be an integer >= 1, got {repeat!r}")
  return examples * repeat


def load_examples(sources, *, on_error: str = "skip") -> list[NERExample]:
  """All examples of the configured sources, in order (see `load_source`)."""
  out: list[NERExample] = []
  for source in sources or []:
    out += load_source(dict(source), on_error=on_error)
  return out


def make_train_iterator(
  examples: list[NERExample],
  prompt_tokenizer: PromptTokenizer,
  recipe: RecipeConfig,
  seed: int,
  shard_index: int | None = None,
  shard_count: int | None = None,
) -> BatchIterator:
  """Seeded, endlessly repeated training batches of one data shard (default: one shard per JAX process);
  checkpointable. Shards deal the examples round-robin and draw negatives with `shard_seed`."""
  if not examples:
    raise ValueError("no training examples: check config.data.train")
  dataset = make_example_dataset(
    examples, seed=seed, shuffle=True, num_epochs=None, shard_index=shard_index, shard_count=shard_count
  )
  return BatchIterator(dataset, prompt_tokenizer, recipe, seed=shard_seed(seed, shard_index or 0))


def shard_seed(seed: int, shard: int) -> int:
  """The recipe seed of data shard `shard`: `seed` itself for shard 0 (a one-shard run keeps its batches).

  >>> shard_seed(0, 0), shard_seed(0, 1) != shard_seed(1, 0)
  (0, True)
  """
  return seed if shard == 0 else int(np.random.SeedSequence([seed, shard]).generate_state(1)[0])


def make_sharded_batches(
  examples: list[NERExample],
  prompt_tokenizer: PromptTokenizer,
  recipe: RecipeConfig,
  seed: int,
  shards: Sequence[int],
  shard_count: int,
) -> ShardedBatches:
  """The batches of data shards `shards` of `shard_count` (each `recipe.batch_size` rows), joined in order.

  Example:
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> from gliner_jax.training.config import BUNDLED_TRAIN
    >>> ptok = PromptTokenizer(AutoTokenizer.from_pretrained(DEFAULT_MODEL), GLiNERConfig.load(DEFAULT_MODEL))
    >>> examples = load_source(dict(path=BUNDLED_TRAIN, max_examples=16))
    >>> batches = make_sharded_batches(examples, ptok, RecipeConfig(batch_size=4), seed=0, shards=[0, 1],
    ...                                shard_count=2)  # one process building both halves of batch 8
    >>> batches.shards, batches.next_host_batch().arrays["input_ids"].shape[0]
    ([0, 1], 8)
  """
  return ShardedBatches(
    {j: make_train_iterator(examples, prompt_tokenizer, recipe, seed, j, shard_count) for j in shards}
  )
