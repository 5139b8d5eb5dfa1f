"""Build the tfds datasets from tiny fixtures (no TensorFlow), read them back, feed grain."""

import os

import pytest
import tensorflow_datasets as tfds

from gliner_jax.data import tfds_builders as tb
from gliner_jax.data.grain_source import make_example_dataset
from gliner_jax.data.readers import (
  DataFormatError,
  NERExample,
  read_dataset_folder,
  read_gliner_json,
  read_pilener_conversations,
)

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "data")
GLINER_DIR = os.path.join(FIX, "pilener_gliner")
CONV_DIR = os.path.join(FIX, "pilener_conv")

tfds.disable_progress_bar()


def test_tensorflow_is_not_needed():
  import importlib.util

  assert importlib.util.find_spec("tensorflow") is None  # the point of these builders


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


def test_feature_round_trip_without_building():
  ex = NERExample(("Zoë", "", "日本"), ((0, 2, "a b"), (1, 1, "é")), ("n",), "id-1")
  assert tb.example_from_features(tb.example_to_features(ex)) == ex
  encoded = tb.features().encode_example(tb.example_to_features(ex))
  decoded = tb.features().deserialize_example_np(tb.features().serialize_example(encoded))
  assert tb.example_from_features(decoded) == ex


def test_pile_ner_gliner_format(data_dir):
  source = tb.load_data_source("pile_ner", "train", data_dir, GLINER_DIR)
  expected = read_gliner_json(os.path.join(GLINER_DIR, "pilener_train.json"))
  assert len(source) == 5 and list(source) == expected
  assert source[-1] == expected[-1] and source[1:3] == expected[1:3]
  with pytest.raises(IndexError):
    source[5]
  files = os.listdir(os.path.join(data_dir, "pile_ner", "default", "1.0.0"))
  assert any(".array_record" in f for f in files)


def test_pile_ner_conversation_format_with_heldout(tmp_path):
  config = tb.PileNERConfig(name="half", heldout_fraction=0.5)
  builder = tb.PileNER(config=config, data_dir=str(tmp_path), file_format="array_record")
  train = tb.load_data_source(builder, "train", manual_dir=CONV_DIR)
  valid = tb.load_data_source(builder, "validation", manual_dir=CONV_DIR)
  expected = read_pilener_conversations(os.path.join(CONV_DIR, "train.json"))
  held = [tb.heldout_bucket(e) < 0.5 for e in expected]
  assert 0 < sum(held) < len(expected)
  assert list(train) == [e for e, h in zip(expected, held) if not h]
  assert list(valid) == [e for e, h in zip(expected, held) if h]


def test_pile_ner_rejects_other_formats_and_empty_heldout(tmp_path):
  # folder_mixed/test.json is InstructUIE, not one of Pile-NER's formats.
  builder = tb.PileNER(
    config=tb.PileNERConfig(name="x", filename="test.json"), data_dir=str(tmp_path / "a"), file_format="array_record"
  )
  with pytest.raises(DataFormatError, match=r"test\.json: Pile-NER must be in one of"):
    tb.load_data_source(builder, "train", manual_dir=os.path.join(FIX, "folder_mixed"))
  with pytest.raises(ValueError, match=r"\['validation'\] would have no examples"):
    tb.load_data_source("pile_ner/heldout1pct", "train", str(tmp_path / "b"), CONV_DIR)


def test_find_pilener_file(tmp_path):
  assert tb.find_pilener_file(GLINER_DIR).endswith("pilener_train.json")
  assert tb.find_pilener_file(CONV_DIR).endswith("train.json")
  with pytest.raises(FileNotFoundError, match="expected pilener_train.json or train.json"):
    tb.find_pilener_file(str(tmp_path))


@pytest.mark.parametrize("folder", ["folder_bio", "folder_mixed"])
def test_ner_folder_config_per_folder(data_dir, folder):
  builder = tb.ner_folder_builder(os.path.join(FIX, folder), data_dir=data_dir)
  for split in ("train", "dev", "test"):
    got = tb.load_data_source(builder, split)
    assert list(got) == read_dataset_folder(os.path.join(FIX, folder), split)
  assert set(builder.info.splits) == {"train", "dev", "test"}
  # Once prepared it can be reopened by name from the files alone.
  again = tb.load_data_source(f"ner_folder/{folder}", "test", data_dir)
  assert list(again) == read_dataset_folder(os.path.join(FIX, folder), "test")


def test_ner_folder_manual_dir(tmp_path):
  got = tb.load_data_source("ner_folder/manual", "dev", str(tmp_path), os.path.join(FIX, "folder_bio"))
  assert list(got) == [NERExample(("Bob", "sat"), ((0, 0, "person"),), (), "0")]


def test_load_data_source_argument_checks(tmp_path):
  builder = tb.ner_folder_builder(os.path.join(FIX, "folder_bio"), data_dir=str(tmp_path))
  with pytest.raises(ValueError, match="differs from the builder"):
    tb.load_data_source(builder, "test", data_dir=str(tmp_path / "other"))
  config = tb.NERFolderConfig(name="t", folder=os.path.join(FIX, "folder_bio"))
  tfrecord = tb.NERFolder(config=config, data_dir=str(tmp_path), file_format="tfrecord")
  with pytest.raises(ValueError, match="array_record"):
    tb.load_data_source(tfrecord, "test")


# ----------------------------------------------------------------------------- grain


@pytest.fixture(scope="module")
def examples():
  return [NERExample((f"w{i}",), ((0, 0, "t"),), (), str(i)) for i in range(11)]


def ids(items):
  return [int(e.id) for e in items]


def test_grain_shards_are_disjoint_and_cover(examples):
  shards = [ids(make_example_dataset(examples, seed=3, num_epochs=1, shard_index=i, shard_count=2)) for i in range(2)]
  assert not set(shards[0]) & set(shards[1])
  assert sorted(shards[0] + shards[1]) == list(range(11))
  assert len(shards[0]) == 6 and len(shards[1]) == 5
  even = [
    len(make_example_dataset(examples, seed=3, num_epochs=1, shard_index=i, shard_count=2, drop_remainder=True))
    for i in range(2)
  ]
  assert even == [5, 5]


def test_grain_shuffle_is_seeded(examples):
  def order(seed, shuffle=True):
    return ids(make_example_dataset(examples, seed=seed, shuffle=shuffle, num_epochs=1, shard_index=0, shard_count=1))

  assert order(0) == order(0) and sorted(order(0)) == list(range(11))
  assert order(0) != order(1) and order(0) != list(range(11))
  assert order(5, shuffle=False) == list(range(11))


def test_grain_epochs_reshuffle_and_default_shard(examples):
  ds = make_example_dataset(examples, seed=0, num_epochs=2)  # jax: 1 process -> 1 shard
  got = ids(ds)
  assert len(got) == 22 and sorted(got[:11]) == sorted(got[11:]) == list(range(11))
  assert got[:11] != got[11:]
  forever = make_example_dataset(examples, seed=0)
  it = iter(forever)
  assert ids(next(it) for _ in range(22)) == got


def test_grain_iterator_state_round_trips(examples):
  ds = make_example_dataset(examples, seed=7, shard_index=1, shard_count=2)  # infinite
  it = iter(ds)
  for _ in range(9):  # past the end of the first epoch of this 5-example shard
    next(it)
  state = it.get_state()
  expected = ids(next(it) for _ in range(8))
  resumed = iter(ds)
  resumed.set_state(state)
  assert ids(next(resumed) for _ in range(8)) == expected
  fresh = iter(make_example_dataset(examples, seed=7, shard_index=1, shard_count=2))
  fresh.set_state(state)  # a rebuilt pipeline resumes the same way
  assert ids(next(fresh) for _ in range(8)) == expected


def test_grain_over_tfds_source(data_dir):
  source = tb.load_data_source("pile_ner", "train", data_dir, GLINER_DIR)
  got = list(make_example_dataset(source, seed=0, num_epochs=1, shard_index=0, shard_count=1))
  assert sorted(got, key=lambda e: int(e.id)) == list(source)


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(shard_index=0), "both"),
    (dict(shard_index=2, shard_count=2), "shard_index <"),
    (dict(seed=-1), "seed"),
    (dict(num_epochs=0), "num_epochs"),
    (dict(shard_index=0, shard_count=12), "cannot fill"),
  ],
)
def test_grain_argument_errors(examples, kwargs, match):
  kwargs = {"seed": 0, **kwargs}
  with pytest.raises(ValueError, match=match):
    make_example_dataset(examples, **kwargs)


def test_grain_rejects_non_examples():
  ds = make_example_dataset([{"tokens": ["a"]}], seed=0, num_epochs=1, shard_index=0, shard_count=1)
  with pytest.raises(TypeError, match="must yield NERExample"):
    list(ds)
