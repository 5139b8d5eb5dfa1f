"""A seeded, sharded, checkpointable grain pipeline of :class:`NERExample`\\ s.

Collation into model batches happens downstream (tokenisation needs the model's tokenizer).
"""

from __future__ import annotations

from typing import Sequence

import grain

from gliner_jax.data.readers import NERExample


def _checked(example):
  if not isinstance(example, NERExample):
    raise TypeError(
      f"the source must yield NERExample, got {type(example).__name__} "
      f"(wrap tfds sources with tfds_builders.load_data_source)"
    )
  return example


def make_example_dataset(
  source: Sequence[NERExample],
  *,
  seed: int,
  shuffle: bool = True,
  num_epochs: int | None = None,
  shard_index: int | None = None,
  shard_count: int | None = None,
  drop_remainder: bool = False,
) -> grain.MapDataset:
  """A ``grain.MapDataset`` over this process's shard of ``source``.

  ``source`` is any random-access sequence of examples (a list, or
  :func:`gliner_jax.data.tfds_builders.load_data_source`). Records are dealt round-robin
  to ``shard_count`` shards (defaults: ``jax.process_index()`` / ``jax.process_count()``),
  so shards are disjoint and together cover the source; ``drop_remainder=True`` trims them
  to equal length (needed when hosts must take the same number of steps over finite
  epochs). Each shard is shuffled with ``seed`` (every epoch differently) and repeated
  ``num_epochs`` times (``None``: forever). The order depends only on the arguments.

  ``iter(dataset)`` is a ``grain.DatasetIterator``: ``get_state()`` / ``set_state()``
  checkpoint and resume it exactly. Example::

      ds = make_example_dataset(examples, seed=0, num_epochs=1)
      it = iter(ds); first = next(it); state = it.get_state()
  """
  if shard_index is None and shard_count is None:
    import jax  # only needed for the defaults

    shard_index, shard_count = jax.process_index(), jax.process_count()
  if shard_index is None or shard_count is None:
    raise ValueError("give both shard_index and shard_count, or neither")
  if not (
    isinstance(shard_count, int)
    and shard_count >= 1
    and isinstance(shard_index, int)
    and 0 <= shard_index < shard_count
  ):
    raise ValueError(f"need 0 <= shard_index < shard_count, got {shard_index}/{shard_count}")
  if not (isinstance(seed, int) and 0 <= seed < 2**32):
    raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
  if num_epochs is not None and not (isinstance(num_epochs, int) and num_epochs >= 1):
    raise ValueError(f"num_epochs must be a positive int or None, got {num_epochs!r}")
  size = len(source)
  per_shard = size // shard_count
  if per_shard == 0:
    raise ValueError(f"{size} examples cannot fill {shard_count} shards")
  ds = grain.MapDataset.source(source)
  ds = ds[shard_index::shard_count]
  if drop_remainder:
    ds = ds[:per_shard]
  if shuffle:
    ds = ds.shuffle(seed=seed)
  if num_epochs != 1:
    ds = ds.repeat(num_epochs)
  return ds.map(_checked)
