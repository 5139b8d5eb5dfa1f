"""Training sources: relabelling, truncation and repetition of configured data sources; malformed records skipped."""

import json

import pytest

from gliner_jax.training.config import BUNDLED_TRAIN
from gliner_jax.training.data import load_examples, load_source


def test_repeat_multiplies_a_source_in_order():
  once = load_source(dict(path=BUNDLED_TRAIN, max_examples=5))
  thrice = load_source(dict(path=BUNDLED_TRAIN, max_examples=5, repeat=3))
  assert len(once) == 5
  assert thrice == once * 3


def test_mixture_keeps_source_order_and_applies_label_maps():
  first = load_source(dict(path=BUNDLED_TRAIN, max_examples=2))
  raw_types = sorted({t for ex in first for _, _, t in ex.spans})
  renamed = {raw_types[0]: "renamed type"}
  mixed = load_examples(
    [dict(path=BUNDLED_TRAIN, max_examples=2, label_map=renamed), dict(path=BUNDLED_TRAIN, max_examples=1, repeat=2)]
  )
  assert len(mixed) == 4
  assert [ex.tokens for ex in mixed] == [first[0].tokens, first[1].tokens, first[0].tokens, first[0].tokens]
  types_after = {t for ex in mixed[:2] for _, _, t in ex.spans}
  assert "renamed type" in types_after and raw_types[0] not in types_after


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_repeat_names_the_source(bad):
  with pytest.raises(ValueError, match="repeat must be an integer >= 1"):
    load_source(dict(path=BUNDLED_TRAIN, max_examples=2, repeat=bad))


def test_a_malformed_training_record_is_skipped_and_reported(tmp_path, caplog):
  path = tmp_path / "train.json"
  records = [{"tokenized_text": ["Ada", "wrote"], "ner": [[0, 0, "person"]]}] * 3
  records[1] = {"tokenized_text": ["Ada"], "ner": [[0, 3, "person"]]}
  path.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]")
  got = load_examples([dict(path=str(path))])
  assert [e.id for e in got] == [f"{path}:2 (record 0)", f"{path}:4 (record 2)"]
  assert "1 malformed records skipped" in caplog.text and f"{path}:3 (record 1): ner[0]" in caplog.text
  with pytest.raises(ValueError, match=r"train\.json:3 \(record 1\)"):
    load_source(dict(path=str(path)), on_error="raise")
