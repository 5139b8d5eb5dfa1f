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
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from gliner_jax.data.grain_source import make_example_dataset
from gliner_jax.data.paths import REPO_ROOT
from gliner_jax.data.readers import NERExample, read_dataset_folder, read_ner_file
from gliner_jax.data.recipe import BatchIterator, RecipeConfig
from gliner_jax.inference.processing import PromptTokenizer


def resolve_data_path(path: str) -> str:
  for candidate in (path, os.path.join(REPO_ROOT, path)):
    if os.path.exists(candidate):
      return candidate
  raise FileNotFoundError(f"data source {path!r} not found (also tried under {REPO_ROOT})")


def relabel(examples: Iterable[NERExample], mapping) -> list[NERExample]:
  out = []
  for ex in examples:
    spans = tuple((s, e, mapping(t)) for s, e, t in ex.spans)
    out.append(
      NERExample(
        ex.tokens, tuple(x for x in spans if x[2]), tuple(mapping(t) for t in ex.negatives if mapping(t)), ex.id
      )
    )
  return out


def load_source(source: dict[str, Any]) -> list[NERExample]:
  path = resolve_data_path(source["path"])
  if os.path.isdir(path):
    examples = read_dataset_folder(path, source.get("split", "train"))
  else:
    examples = read_ner_file(path)
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


def load_examples(sources) -> list[NERExample]:
  """All examples of the configured sources, in order."""
  out: list[NERExample] = []
  for source in sources or []:
    out += load_source(dict(source))
  return out


def make_train_iterator(
  examples: list[NERExample], prompt_tokenizer: PromptTokenizer, recipe: RecipeConfig, seed: int
) -> BatchIterator:
  """Seeded, sharded (one shard per JAX process), endlessly repeated training batches; checkpointable."""
  if not examples:
    raise ValueError("no training examples: check config.data.train")
  dataset = make_example_dataset(examples, seed=seed, shuffle=True, num_epochs=None)
  return BatchIterator(dataset, prompt_tokenizer, recipe, seed=seed)
