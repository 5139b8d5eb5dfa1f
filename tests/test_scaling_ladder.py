"""Ladder rungs: parameter counts against the real weights and a hand count, truncation, configs, bad input."""

import numpy as np
import pytest

from gliner_jax.interop.hf_weights import load_hf_encoder
from gliner_jax.model.backbones import ENCODERS
from gliner_jax.scaling import ladder
from gliner_jax.training.config import base_config
from gliner_jax.training.model_init import starting_point, truncate_encoder

HEAD = dict(hidden_size=384, max_width=8, max_len=32, max_types=12)


def _size(tree) -> int:
  if isinstance(tree, dict):
    return sum(_size(v) for v in tree.values())
  return int(np.prod(np.shape(tree)))


def test_truncated_minilm_counts_match_its_real_weights(minilm_dir):
  full_cfg, full = load_hf_encoder(minilm_dir)
  for k in (1, 3, 6):
    counts = ladder.param_counts(ladder.pretrained_rung(ladder.MINILM, k, path=minilm_dir), **HEAD)
    _, params = truncate_encoder(full_cfg, full, k)
    # the real encoder plus the 3 GLiNER token rows the tokenizer adds
    assert counts.encoder == _size(params) + ladder.GLINER_TOKENS * full_cfg.hidden_size
    tables = (full_cfg.vocab_size + ladder.GLINER_TOKENS + 512 + 2) * 384  # words, positions, token types
    assert counts.embedding == tables
    assert counts.non_embedding == counts.total - tables
    assert counts.head == counts.total - counts.encoder
  heads = {ladder.param_counts(ladder.pretrained_rung(ladder.MINILM, k), **HEAD).head for k in (1, 2, 6)}
  assert len(heads) == 1  # the head does not depend on the depth


def test_scratch_rung_counts_by_hand():
  width, depth, vocab = 256, 4, 1000
  rung = ladder.scratch_rung(width, depth, ladder.MINILM, vocab_size=vocab)
  assert rung.name == "bert-w256-d4" and rung.kind == "scratch"
  counts = ladder.param_counts(rung, hidden_size=width, max_width=4)
  d, i = width, 4 * width
  embeddings = (vocab + 512 + 2) * d + 2 * d  # tables + layer norm
  layer = 4 * (d * d + d) + (d * i + i) + (i * d + d) + 2 * 2 * d  # q k v o, ffn in / out, two layer norms
  assert counts.encoder == embeddings + depth * layer
  assert counts.embedding == (vocab + 512 + 2) * d


def test_truncate_encoder_keeps_the_first_layers(minilm_dir):
  cfg, params = load_hf_encoder(minilm_dir)
  cut_cfg, cut = truncate_encoder(cfg, params, 2)
  assert cut_cfg.num_hidden_layers == 2 and sorted(k for k in cut if k.startswith("layer_")) == ["layer_0", "layer_1"]
  np.testing.assert_array_equal(cut["layer_1"]["ffn"]["output"]["kernel"], params["layer_1"]["ffn"]["output"]["kernel"])
  for bad in (0, 7):
    with pytest.raises(ValueError, match="encoder_layers=.*has 6 layers"):
      truncate_encoder(cfg, params, bad)


def test_rung_config_builds_the_truncated_pretrained_model(minilm_dir):
  base = base_config()
  base.model.update(hidden_size=384, max_len=32)
  config = ladder.rung_config(base, ladder.pretrained_rung(ladder.MINILM, 2, path=minilm_dir))
  assert config.model.encoder_layers == 2 and config.model.path == minilm_dir and config.model.name == ladder.MINILM
  assert config.model.encoder.num_hidden_layers == 2 and base.model.path == ""  # the base is untouched
  start = starting_point(config.model)
  assert start.config.encoder.num_hidden_layers == 2
  _, full = load_hf_encoder(minilm_dir)
  np.testing.assert_array_equal(
    start.params["encoder"]["layer_1"]["attention"]["query"]["kernel"], full["layer_1"]["attention"]["query"]["kernel"]
  )
  assert "layer_2" not in start.params["encoder"]


def test_bundled_backbones_are_rungs():
  deberta = ladder.pretrained_rung("microsoft/deberta-v3-small")
  counts = ladder.param_counts(deberta, hidden_size=768, max_width=12)
  # DeBERTa's 128k-token table: total and non-embedding counts differ more than two-fold
  assert counts.total > 2 * counts.non_embedding
  assert ladder.encoder_fields(ladder.pretrained_rung("microsoft/deberta-v3-large", 12))["num_hidden_layers"] == 12
  assert ladder.encoder_fields(deberta)["vocab_size"] == ENCODERS["microsoft/deberta-v3-small"]["vocab_size"]


def test_rungs_round_trip_through_config_dicts():
  for rung in (ladder.pretrained_rung(ladder.MINILM, 3, path="/x"), ladder.scratch_rung(128, 2, ladder.MINILM)):
    assert ladder.Rung.from_dict(rung.to_dict()) == rung


@pytest.mark.parametrize(
  "kwargs, message",
  [
    (dict(name="a b", backbone="x"), "rung name 'a b'"),
    (dict(name="a", backbone="x", shape=(("hidden_size", 8),), tokenizer="t"), "exactly one of backbone"),
    (dict(name="a"), "exactly one of backbone"),
    (dict(name="a", shape=(("hidden_size", 8),)), "needs a tokenizer"),
    (dict(name="a", backbone="x", layers=-1), "layers must be >= 0"),
  ],
)
def test_bad_rungs_are_refused(kwargs, message):
  with pytest.raises(ValueError, match=message):
    ladder.Rung(**kwargs)


def test_unknown_backbones_and_too_many_layers_are_refused(tmp_path):
  with pytest.raises(ValueError, match="not a bundled backbone"):
    ladder.encoder_fields(ladder.pretrained_rung(str(tmp_path / "nowhere")))
  with pytest.raises(ValueError, match="layers=8, but .* has 6"):
    ladder.encoder_fields(ladder.pretrained_rung(ladder.MINILM, 8))
  with pytest.raises(ValueError, match="unknown fields"):
    ladder.Rung.from_dict(dict(name="a", backbone="x", depth=3))
