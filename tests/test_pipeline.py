"""The loop's input pipeline: data shards joined into one process's rows, the prefetch thread, which data
shards a process builds, and checkpoints of one data state per shard.

Multi-process runs themselves are in tests/test_multihost.py; the pipelined loop's resume and logging in
tests/test_train.py.
"""

from __future__ import annotations

import dataclasses
import os
import threading

import jax
import numpy as np
import pytest

from gliner_jax.configs import tiny
from gliner_jax.data.readers import read_ner_file
from gliner_jax.data.recipe import make_training_batch
from gliner_jax.processing.prompts import PromptTokenizer
from gliner_jax.training import loop
from gliner_jax.training.config import ASSETS
from gliner_jax.training.data import make_train_iterator
from gliner_jax.training.distributed import process_shards
from gliner_jax.training.pipeline import Prefetcher, batch_dims, pad_training_batch


@pytest.fixture(scope="module")
def parts():
  config = tiny.get_config()
  config.model.encoder = dict(config.model.encoder, num_hidden_layers=1)
  return config, loop.build(config)


def test_two_shards_in_one_process_are_the_shards_batches_padded_to_one_shape(parts):
  config, built = parts
  config = config.copy_and_resolve_references()
  config.train.data_shards = 2
  config.data.train = [dict(path=config.data.eval[0]["path"])]  # passages of varied length: shapes differ
  batches = loop.training_batches(config, built)
  assert batches.shards == [0, 1] and len(batches.shapes) == 6
  recipe = loop.training_recipe(config, built, batch_size=4)
  ptok = batches.iterators[0].prompt_tokenizer
  alone = [make_train_iterator(loop.load_examples(config.data.train), ptok, recipe, 0, j, 2) for j in (0, 1)]
  padded_some = False
  for _ in range(6):
    joined = batches.next_host_batch()
    halves = [next(it) for it in alone]
    padded_some |= any((h["input_ids"].shape[1], h["word_token_index"].shape[1]) != joined.dims[:2] for h in halves)
    for j, half in enumerate(halves):
      expected = pad_training_batch(half, joined.dims, ptok.pad_id)
      for key, array in expected.items():
        np.testing.assert_array_equal(joined.arrays[key][4 * j : 4 * j + 4], array, err_msg=key)
    assert sorted(joined.data_state) == [0, 1]
    assert joined.stats["rows"] == sum(it.stats.rows for it in alone)
  assert padded_some  # one half had to be padded to the other's shape at least once


def test_padding_a_batch_is_building_it_at_the_larger_shape(parts):
  config, built = parts
  examples = read_ner_file(os.path.join(ASSETS, "data", "crossner_ai_test_slice.txt"))[:4]  # short sentences
  ptok = PromptTokenizer(built.start.tokenizer, built.config)
  buckets = loop.training_recipe(config, built, batch_size=4)
  small = make_training_batch(examples, ptok, buckets, np.random.default_rng(0))
  large = make_training_batch(examples, ptok, dataclasses.replace(buckets, fixed_shape=True), np.random.default_rng(0))
  assert batch_dims(small) < batch_dims(large) == (128, 48, 8)
  padded = pad_training_batch(small, batch_dims(large), ptok.pad_id)
  assert sorted(padded) == sorted(large)
  for key, array in large.items():
    np.testing.assert_array_equal(padded[key], array, err_msg=key)


def test_a_process_builds_the_shards_on_its_devices(parts):
  _, built = parts  # one process, one device: it holds every row
  assert process_shards(built.batch_sharding, 8, 1) == [0]
  assert process_shards(built.batch_sharding, 8, 4) == [0, 1, 2, 3]
  with pytest.raises(ValueError, match="not divisible by data_shards=3"):
    process_shards(built.batch_sharding, 8, 3)
  assert jax.process_count() == 1


def test_prefetcher_keeps_order_bounds_its_queue_and_raises_the_producers_error():
  made = []

  def produce():
    made.append(len(made))
    return made[-1]

  pipe = Prefetcher(produce, depth=2)
  assert [pipe.next()[0] for _ in range(2)] == [0, 1]
  threading.Event().wait(0.3)
  assert len(made) <= 5  # 2 taken, 2 in the queue, 1 waiting to go in: the thread never runs further ahead
  assert [pipe.next()[0] for _ in range(3)] == [2, 3, 4]
  pipe.close()

  calls = []

  def broken():
    calls.append(1)
    if len(calls) == 3:
      raise RuntimeError("source broke")
    return len(calls)

  pipe = Prefetcher(broken, depth=2)
  assert [pipe.next()[0] for _ in range(2)] == [1, 2]
  with pytest.raises(RuntimeError, match="source broke"):
    pipe.next()
  pipe.close()

  inline = Prefetcher(iter(range(3)).__next__, depth=0)
  assert [inline.next()[0] for _ in range(3)] == [0, 1, 2]
  inline.close()


def test_checkpoints_hold_one_data_state_per_shard_and_old_checkpoints_still_restore(tmp_path):
  import jax.numpy as jnp
  import orbax.checkpoint as ocp

  from gliner_jax.training.checkpointing import TrainCheckpointer

  state = {"w": jnp.arange(3.0)}
  shardings = jax.tree.map(lambda x: x.sharding, state)
  ckpt = TrainCheckpointer(str(tmp_path / "checkpoints"))
  ckpt.save(1, state, {0: {"consumed": 5}, 1: {"consumed": 7}})
  ckpt.wait()
  assert sorted(os.listdir(tmp_path / "checkpoints" / "1" / "data_shards")) == [
    "commit_success.txt",
    "shard_0.json",
    "shard_1.json",
  ]
  restored, data, step = ckpt.restore_latest(state, shardings, shards=[1])  # what the process of shard 1 reads
  assert step == 1 and data == {1: {"consumed": 7}}
  np.testing.assert_array_equal(restored["w"], [0.0, 1.0, 2.0])
  # a checkpoint of before data shards: one JSON item "data", read as shard 0's state
  args = ocp.args.Composite(state=ocp.args.StandardSave(state), data=ocp.args.JsonSave({"consumed": 3}))
  ckpt.manager.save(2, args=args)
  ckpt.wait()
  assert ckpt.restore_latest(state, shardings)[1:] == ({0: {"consumed": 3}}, 2)
  ckpt.close()
