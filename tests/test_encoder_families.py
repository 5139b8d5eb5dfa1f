"""The encoder family registry: every family provides every part, and one registered family (a toy one, here)
is enough for EncoderConfig, build_encoder, the FLOP count, HF weight conversion and the backbone table."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from gliner_jax.interop.hf_weights import (
  convert_hf_state_dict,
  encoder_params_to_hf_state_dict,
  expected_shapes,
  token_embedding_path,
  weight_table,
)
from gliner_jax.model import backbones
from gliner_jax.model.encoders import FAMILIES, EncoderConfig, build_encoder
from gliner_jax.model.encoders.bert.hf import layer_tensors
from gliner_jax.model.encoders.bert.module import BertLayer
from gliner_jax.model.encoders.families import (
  Backbone,
  EncoderFamily,
  FlopTerms,
  family_for_hf_type,
  register_families,
)
from gliner_jax.model.encoders.layers import embed, encoder_inputs
from gliner_jax.model.encoders.stack import run_layers
from gliner_jax.model.encoders.weights import tensors
from gliner_jax.model.flops import encoder_flops
from gliner_jax.scaling.ladder import param_counts, pretrained_rung

# A small config.json per registered family (a new family must add one here).
TINY_HF = {
  "bert": dict(model_type="bert", vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=24),
  "roberta": dict(model_type="xlm-roberta", vocab_size=40, hidden_size=16, num_hidden_layers=2,
                  num_attention_heads=2, intermediate_size=24, max_position_embeddings=20),
  "deberta-v2": dict(model_type="deberta-v2", vocab_size=40, hidden_size=16, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=24, relative_attention=True, position_buckets=8,
                     pos_att_type="p2c|c2p", norm_rel_ebd="layer_norm", position_biased_input=False,
                     embedding_size=8, conv_kernel_size=3),
  "modernbert": dict(model_type="modernbert", vocab_size=40, hidden_size=16, num_hidden_layers=3,
                     num_attention_heads=2, intermediate_size=24, local_attention=4, attention_bias=True),
  "t5": dict(model_type="mt5", vocab_size=40, d_model=16, d_kv=4, d_ff=24, num_layers=2, num_heads=2),
}  # fmt: skip


def _random_params(config: EncoderConfig, seed: int = 0) -> dict:
  flat = expected_shapes(config)
  rng = np.random.default_rng(seed)
  return traverse_util.unflatten_dict({p: rng.normal(size=s).astype(np.float32) for p, s in flat.items()})


def test_every_family_has_a_tiny_config_here():
  assert sorted(TINY_HF) == sorted(FAMILIES)


@pytest.mark.parametrize("model_type", sorted(TINY_HF))
def test_every_family_provides_every_part(model_type):
  family = FAMILIES[model_type]
  hf = TINY_HF[model_type]
  assert family_for_hf_type(hf["model_type"]) is family
  config = EncoderConfig.from_hf_dict(hf)
  assert config.model_type == model_type
  assert EncoderConfig.from_hf_dict(config.to_hf_dict()) == config  # the mapping is its own inverse
  assert isinstance(build_encoder(config), family.module)
  # The weight table names exactly the module's parameters, inside the family's HF roots.
  table = weight_table(config)
  assert {t.path for t in table} == set(expected_shapes(config))
  assert all(t.hf_name.startswith(family.hf_roots) for t in table)
  assert token_embedding_path(config) in expected_shapes(config)
  # HF names -> params -> HF names is the identity.
  params = _random_params(config)
  state = encoder_params_to_hf_state_dict(params, config)
  back = convert_hf_state_dict(state, config).params
  jax.tree.map(np.testing.assert_array_equal, back, params)
  terms = family.flops(config, 2, 7)
  assert isinstance(terms, FlopTerms) and terms.ffn_matrices in (2, 3)
  for name, backbone in family.backbones.items():
    assert backbones.BACKBONE_CONFIGS[name] == dict(backbone.hf_config)
    assert backbones.ENCODERS[name]["model_type"] == model_type
    assert backbones.ENCODERS[name]["vocab_size"] == backbone.gliner_vocab_size


# ------------------------------------------------------------------------------------------- a toy family
class ToyEncoder(nn.Module):
  """Token embeddings (no positions, no norm) then BERT layers: the smallest family that reuses shared parts."""

  config: EncoderConfig
  dtype: object = jnp.float32
  param_dtype: object = jnp.float32

  @nn.compact
  def __call__(self, input_ids, attention_mask, token_type_ids=None, *, segment_ids=None, deterministic=True):
    cfg = self.config
    inputs = encoder_inputs(cfg, "ToyEncoder", ("toy",), input_ids, attention_mask, token_type_ids, segment_ids)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = embed(cfg.vocab_size, cfg.hidden_size, ("vocab", "embed"), name="tokens", **kw)(inputs.input_ids)
    return run_layers(BertLayer, cfg, h, (inputs.key_mask,), deterministic=deterministic, **kw)


def _toy_from_hf(d, hf_type):
  return EncoderConfig(
    model_type="toy",
    hf_model_type=hf_type,
    vocab_size=d["vocab"],
    hidden_size=d["width"],
    num_hidden_layers=d["depth"],
    num_attention_heads=d["heads"],
    intermediate_size=2 * d["width"],
    type_vocab_size=0,
  )


def _toy_to_hf(c):
  return dict(
    model_type=c.hf_model_type, vocab=c.vocab_size, width=c.hidden_size, depth=c.num_hidden_layers,
    heads=c.num_attention_heads,
  )  # fmt: skip


def _toy_weights(c):
  out = tensors("toy.tokens", ("tokens",), "embedding")
  for i in range(c.num_hidden_layers):  # HF-style names under "toy.", as a BERT layer's
    out += [dataclasses.replace(t, hf_name=t.hf_name.replace("encoder.", "toy.")) for t in layer_tensors(i, "qkv")]
  return out


TOY = EncoderFamily(
  model_type="toy",
  module=ToyEncoder,
  hf_model_types=("toy-hf",),
  from_hf=_toy_from_hf,
  to_hf=_toy_to_hf,
  weights=_toy_weights,
  hf_roots=("toy.",),
  token_embedding="toy.tokens.weight",
  problems=lambda c: ["toy encoders need an even depth"] if c.num_hidden_layers % 2 else [],
  unused_weights=lambda c: frozenset({"toy.position_ids"}),
  flops=lambda c, batch, tokens: FlopTerms(other=2 * batch * tokens * c.vocab_size),
  backbones={"toy/tiny": Backbone(dict(model_type="toy-hf", vocab=30, width=8, depth=2, heads=2), 33)},
)
TOY_HF = dict(model_type="toy-hf", vocab=30, width=8, depth=2, heads=2)


@pytest.fixture
def toy(monkeypatch):
  monkeypatch.setitem(FAMILIES, "toy", TOY)
  return TOY


def test_unregistered_family_is_refused():
  with pytest.raises(ValueError, match=r"No encoder family for model_type='toy'; registered: \['bert'"):
    EncoderConfig(model_type="toy", vocab_size=4, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=8)  # fmt: skip
  with pytest.raises(ValueError, match="Unsupported encoder model_type 'toy-hf'"):
    EncoderConfig.from_hf_dict(TOY_HF)


def test_a_registered_toy_family_configures_builds_counts_and_converts(toy):
  config = EncoderConfig.from_hf_dict(TOY_HF)
  assert (config.model_type, config.hf_model_type, config.hidden_size) == ("toy", "toy-hf", 8)
  assert config.to_hf_dict() == TOY_HF
  with pytest.raises(ValueError, match="toy encoders need an even depth"):
    EncoderConfig.from_hf_dict(dict(TOY_HF, depth=3))
  with pytest.raises(ValueError, match="gated_mlp is only supported for t5"):
    EncoderConfig.from_dict(dict(config.to_dict(), gated_mlp=True))

  model = build_encoder(config)
  assert isinstance(model, ToyEncoder)
  ids = jnp.array([[3, 4, 5, 0]], jnp.int32)
  mask = jnp.array([[1, 1, 1, 0]], jnp.int32)
  params = _random_params(config, seed=1)
  hidden = model.apply({"params": params}, ids, mask)
  assert hidden.shape == (1, 4, 8)

  # FLOPs: a BERT layer stack of the same shape, plus the toy family's own term.
  bert_like = EncoderConfig(model_type="bert", vocab_size=30, hidden_size=8, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=16)  # fmt: skip
  toy_flops, bert_flops = encoder_flops(config, 4, batch_size=3), encoder_flops(bert_like, 4, batch_size=3)
  assert toy_flops.other == 2 * 3 * 4 * 30
  assert toy_flops.total == bert_flops.total + toy_flops.other

  # HF weights: written under the family's names, read back (its unused buffer and anything outside its roots
  # ignored), and they compute the same hidden states.
  state = encoder_params_to_hf_state_dict(params, config)
  assert "toy.tokens.weight" in state and "toy.layer.1.attention.self.q.weight" in state
  assert token_embedding_path(config) == ("tokens", "embedding")
  extra = {"toy.position_ids": np.arange(4), "lm_head.weight": np.zeros(3)}
  conv = convert_hf_state_dict({**state, **extra}, config)
  assert sorted(conv.ignored) == ["lm_head.weight", "toy.position_ids"]
  np.testing.assert_array_equal(model.apply({"params": conv.params}, ids, mask), hidden)
  with pytest.raises(ValueError, match=r"missing 1 tensor\(s\): \['toy.layer.0.output.dense.bias'\]"):
    convert_hf_state_dict({k: v for k, v in state.items() if k != "toy.layer.0.output.dense.bias"}, config)

  # Its backbone is listed (live lookups; BACKBONE_CONFIGS / ENCODERS are snapshots taken at import).
  assert backbones.backbone_config("toy/tiny") == TOY.backbones["toy/tiny"].hf_config
  assert backbones.encoder_fields("toy/tiny")["vocab_size"] == 33


def test_register_families_refuses_clashes(toy):
  with pytest.raises(ValueError, match="registered twice"):
    register_families(TOY)
  with pytest.raises(ValueError, match=r"HF model_type\(s\) \['xlm-roberta'\] already read"):
    register_families(EncoderFamily(**{**TOY.__dict__, "model_type": "toy2", "hf_model_types": ("xlm-roberta",)}))
  with pytest.raises(ValueError, match="lies outside hf_roots"):
    EncoderFamily(**{**TOY.__dict__, "token_embedding": "embeddings.tokens.weight"})


# ------------------------------------------------------------------ the published backbones' parameter counts
# Encoder parameters (embeddings included) the ladder computes from the bundled table, against the published
# sizes: the Ettin encoders are named by their total size (github.com/JHU-CLSP/ettin-encoder-vs-decoder README);
# the DeBERTa-v3 model cards give backbone (non-embedding) and embedding parameters separately.
PUBLISHED_TOTAL = {
  "jhu-clsp/ettin-encoder-17m": 17e6,
  "jhu-clsp/ettin-encoder-32m": 32e6,
  "jhu-clsp/ettin-encoder-68m": 68e6,
  "jhu-clsp/ettin-encoder-150m": 150e6,
  "jhu-clsp/ettin-encoder-400m": 400e6,
  "jhu-clsp/ettin-encoder-1b": 1e9,
  "answerdotai/ModernBERT-base": 149e6,
  "sentence-transformers/all-MiniLM-L6-v2": 22.7e6,
}
PUBLISHED_BACKBONE_AND_EMBEDDING = {
  "microsoft/deberta-v3-xsmall": (22e6, 48e6),
  "microsoft/deberta-v3-small": (44e6, 98e6),
  "microsoft/deberta-v3-base": (86e6, 98e6),
  "microsoft/deberta-v3-large": (304e6, 131e6),
}
TOLERANCE = 0.05  # names round (17M, 1B), cards print two digits, and the vocabulary here has GLiNER's 3 tokens


@pytest.mark.parametrize("name", sorted(PUBLISHED_TOTAL))
def test_bundled_backbone_sizes_match_the_published_totals(name):
  counts = param_counts(pretrained_rung(name))
  assert counts.encoder == pytest.approx(PUBLISHED_TOTAL[name], rel=TOLERANCE)


@pytest.mark.parametrize("name", sorted(PUBLISHED_BACKBONE_AND_EMBEDDING))
def test_bundled_deberta_sizes_match_the_model_cards(name):
  counts = param_counts(pretrained_rung(name))
  backbone, embedding = PUBLISHED_BACKBONE_AND_EMBEDDING[name]
  # The ladder counts DeBERTa's relative-position table (512 x hidden) as an embedding.
  assert counts.encoder - counts.embedding == pytest.approx(backbone, rel=TOLERANCE)
  assert counts.embedding == pytest.approx(embedding, rel=TOLERANCE)
