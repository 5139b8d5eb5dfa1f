"""Parity of the JAX encoders with `transformers` (fp32, CPU) and HF weight conversion."""

from __future__ import annotations

import json
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from conftest import perturb_parameters as _perturb
from conftest import random_padded_batch as _random_batch
from conftest import require_module
from conftest import torch_last_hidden as _torch_hidden

torch = require_module("torch")
transformers = require_module("transformers")

from gliner_jax.interop import hf_weights  # noqa: E402
from gliner_jax.interop.hf_weights import (  # noqa: E402
  convert_hf_state_dict,
  encoder_params_from_hf_state_dict,
  encoder_params_to_hf_state_dict,
  load_hf_encoder,
)
from gliner_jax.model.encoders import BertEncoder, DebertaV2Encoder, EncoderConfig, build_encoder  # noqa: E402
from gliner_jax.model.encoders.deberta import log_bucket_position, relative_positions  # noqa: E402

torch.set_num_threads(1)

TOL = 1e-4
TEXTS = [
  "Barack Obama was born in Hawaii and served as president.",
  "Paris is the capital of France.",
  "Hi!",
]

# Switches of microsoft/deberta-v3-{xsmall,small,base,large} and mdeberta-v3-base.
V3_SWITCHES = dict(
  model_type="deberta-v2",
  relative_attention=True,
  max_relative_positions=-1,
  position_buckets=256,
  norm_rel_ebd="layer_norm",
  share_att_key=True,
  pos_att_type="p2c|c2p",
  position_biased_input=False,
  type_vocab_size=0,
  hidden_act="gelu",
  layer_norm_eps=1e-7,
  max_position_embeddings=512,
  pad_token_id=0,
)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)

DEBERTA_VARIANTS = {
  # name: (hf config dict, sequence length)
  "v3_small_like": ({**V3_SWITCHES, **TINY, "vocab_size": 1000}, 24),
  "mdeberta_v3_like": ({**V3_SWITCHES, **TINY, "vocab_size": 2500}, 17),
  "small_buckets": ({**V3_SWITCHES, **TINY, "vocab_size": 300, "position_buckets": 8}, 40),
  "no_shared_key": (
    {**V3_SWITCHES, **TINY, "vocab_size": 300, "position_buckets": 8, "share_att_key": False},
    30,
  ),
  "c2p_only_unbucketed": (
    {
      **V3_SWITCHES,
      **TINY,
      "vocab_size": 300,
      "position_buckets": -1,
      "max_relative_positions": 12,
      "pos_att_type": ["c2p"],
      "share_att_key": False,
    },
    30,
  ),
  # deberta-v2-xlarge style switches: conv branch, absolute positions, token types, embed_proj.
  "v2_conv_embed_proj": (
    {
      **V3_SWITCHES,
      **TINY,
      "vocab_size": 300,
      "position_buckets": 8,
      "conv_kernel_size": 3,
      "conv_act": "gelu",
      "position_biased_input": True,
      "type_vocab_size": 2,
      "embedding_size": 48,
      "norm_rel_ebd": "none",
      "hidden_act": "gelu_new",
    },
    20,
  ),
}


# ----------------------------------------------------------------------------- helpers
def _run_ours(config, params, input_ids, attention_mask, token_type_ids=None, dtype=jnp.float32):
  model = build_encoder(config, dtype=dtype)
  fn = jax.jit(lambda p, i, m, t: model.apply({"params": p}, i, m, t))
  tt = None if token_type_ids is None else jnp.asarray(token_type_ids)
  out = fn(params, jnp.asarray(input_ids), jnp.asarray(attention_mask), tt)
  return np.asarray(out, np.float32)


def _hf_deberta(hf_dict: dict, seed: int):
  torch.manual_seed(seed)
  cfg = transformers.DebertaV2Config(**{k: v for k, v in hf_dict.items() if k != "model_type"})
  model = transformers.DebertaV2Model(cfg).eval()
  _perturb(model, seed)
  return model


def _state(model) -> dict[str, np.ndarray]:
  return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- BERT family
@pytest.fixture(scope="module", params=["minilm", "bert_tiny"])
def real_bert(request):
  directory = Path(request.getfixturevalue(f"{request.param}_dir"))  # conftest: minilm_dir, bert_tiny_dir
  assert (directory / "model.safetensors").exists(), f"weights missing: {directory}"
  tok = transformers.AutoTokenizer.from_pretrained(str(directory))
  batch = tok(TEXTS, padding=True, return_tensors="np")
  hf = transformers.BertModel.from_pretrained(str(directory)).eval()
  return directory, batch, hf


def test_bert_parity_real_weights(real_bert):
  directory, batch, hf = real_bert
  mask = batch["attention_mask"]
  assert len(set(mask.sum(1))) == 3  # three different lengths -> real padding
  expected = _torch_hidden(hf, batch["input_ids"], mask, batch["token_type_ids"])
  config, params = load_hf_encoder(directory)
  assert config.model_type == "bert"
  ours = _run_ours(config, params, batch["input_ids"], mask, batch["token_type_ids"])
  assert ours.shape == expected.shape
  assert np.abs(ours - expected).max() <= TOL
  # token_type_ids=None means all-zero token types.
  ours_default = _run_ours(config, params, batch["input_ids"], mask)
  np.testing.assert_allclose(ours_default, ours, atol=1e-6)


def test_bert_tiny_conversion_reports_heads(bert_tiny_dir):
  from safetensors.numpy import load_file

  BERT_TINY_DIR = Path(bert_tiny_dir)
  config = EncoderConfig.from_hf_dict(json.loads((BERT_TINY_DIR / "config.json").read_text()))
  state = load_file(str(BERT_TINY_DIR / "model.safetensors"))
  result = convert_hf_state_dict(state, config)
  assert result.ignored and all(n.startswith("cls.") for n in result.ignored)
  # LayerNorm.gamma/beta (old names) were picked up.
  np.testing.assert_array_equal(result.params["embeddings"]["norm"]["scale"], state["bert.embeddings.LayerNorm.gamma"])


def test_roberta_position_offset_parity():
  hf_cfg = transformers.RobertaConfig(
    vocab_size=120,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    type_vocab_size=1,
    pad_token_id=1,
    hidden_act="gelu",
  )
  torch.manual_seed(0)
  hf = transformers.RobertaModel(hf_cfg, add_pooling_layer=True).eval()
  _perturb(hf, 1)
  config = EncoderConfig.from_hf_dict({**hf_cfg.to_dict(), "model_type": "roberta"})
  assert config.position_embedding_type == "padding_offset"
  assert config.max_sequence_length == 40 - 2
  ids, mask = _random_batch(120, 38, pad_id=1, seed=3)
  expected = _torch_hidden(hf, ids, mask)
  result = convert_hf_state_dict(_state(hf), config)
  assert set(result.ignored) >= {"pooler.dense.weight", "pooler.dense.bias"}
  ours = _run_ours(config, result.params, ids, mask)
  assert np.abs(ours - expected).max() <= TOL
  # Too long for the position table (pad offset included): a clear error, not an XLA crash.
  long_ids, long_mask = _random_batch(120, 39, pad_id=1, seed=4)
  with pytest.raises(ValueError, match="exceeds the maximum of 38"):
    _run_ours(config, result.params, long_ids, long_mask)


# ------------------------------------------------------------------------------ DeBERTa
def test_log_buckets_match_reference():
  from transformers.models.deberta_v2.modeling_deberta_v2 import build_relative_position

  for length, buckets, max_pos in [(600, 256, 512), (300, 8, 512), (90, 8, 64), (50, 16, 30)]:
    x = torch.zeros(1, length, 4)
    ref = build_relative_position(x, x, bucket_size=buckets, max_position=max_pos)[0].numpy()
    ours = relative_positions(length, buckets, max_pos)
    np.testing.assert_array_equal(ours, ref)
  # Within ±mid the distance is unchanged; beyond it is compressed but monotone.
  assert log_bucket_position(np.arange(4), 8, 512).tolist() == [0, 1, 2, 3]
  far = log_bucket_position(np.arange(4, 512), 8, 512)
  assert np.all(np.diff(far) >= 0) and far.max() == 7


@pytest.mark.parametrize("variant", sorted(DEBERTA_VARIANTS))
def test_deberta_parity_random_weights(variant):
  hf_dict, length = DEBERTA_VARIANTS[variant]
  seed = sorted(DEBERTA_VARIANTS).index(variant)
  hf = _hf_deberta(hf_dict, seed)
  config = EncoderConfig.from_hf_dict(hf_dict)
  ids, mask = _random_batch(config.vocab_size, length, pad_id=0, seed=seed)
  types = (np.arange(ids.size).reshape(ids.shape) % 2) if config.type_vocab_size else None
  expected = _torch_hidden(hf, ids, mask, types)
  params = encoder_params_from_hf_state_dict(_state(hf), config)
  ours = _run_ours(config, params, ids, mask, types)
  assert np.abs(ours - expected).max() <= TOL


def test_deberta_v3_checkpoint_layouts_match_hf():
  """Full-size deberta-v3 / mdeberta configs: our tensor table == HF model's (meta device)."""
  sizes = {
    "deberta-v3-xsmall": dict(
      hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536, vocab_size=128100
    ),
    "deberta-v3-small": dict(
      hidden_size=768, num_hidden_layers=6, num_attention_heads=12, intermediate_size=3072, vocab_size=128100
    ),
    "deberta-v3-large": dict(
      hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096, vocab_size=128100
    ),
    "mdeberta-v3-base": dict(
      hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, vocab_size=251000
    ),
  }
  for name, dims in sizes.items():
    hf_dict = {**V3_SWITCHES, **dims}
    with torch.device("meta"):
      hf_cfg = {k: v for k, v in hf_dict.items() if k != "model_type"}
      hf = transformers.DebertaV2Model(transformers.DebertaV2Config(**hf_cfg))
    hf_shapes = {k: tuple(v.shape) for k, v in hf.state_dict().items() if "position_ids" not in k}
    config = EncoderConfig.from_hf_dict(hf_dict)
    expected = hf_weights.expected_shapes(config)
    ours = {}
    for t in hf_weights.weight_table(config):
      shape = expected[t.path]
      ours[t.hf_name] = shape if t.transform == "copy" else shape[::-1]
    assert ours == hf_shapes, name


# ---------------------------------------------------------------------------- converter
@pytest.fixture(scope="module")
def small_deberta():
  hf_dict = {**V3_SWITCHES, **TINY, "vocab_size": 1000, "position_buckets": 8, "share_att_key": False}
  hf = _hf_deberta(hf_dict, 11)
  return EncoderConfig.from_hf_dict(hf_dict), _state(hf)


def test_converter_roundtrip_prefixes_and_ignored(small_deberta):
  config, state = small_deberta
  params = encoder_params_from_hf_state_dict(state, config)
  back = encoder_params_to_hf_state_dict(params, config)
  assert set(back) == set(state)
  for name, value in state.items():
    np.testing.assert_array_equal(back[name], value, err_msg=name)

  # A task-model checkpoint ("deberta." + heads + unused absolute positions) in a GLiNER wrapper.
  outer = "token_rep_layer.bert_layer.model."
  wrapped = {outer + "deberta." + k: v for k, v in state.items()}
  wrapped[outer + "deberta.embeddings.position_embeddings.weight"] = np.zeros((512, 64))
  wrapped[outer + "deberta.embeddings.position_ids"] = np.arange(512)[None]
  wrapped[outer + "lm_predictions.lm_head.bias"] = np.zeros(1000, np.float32)
  wrapped["span_rep_layer.proj.weight"] = np.zeros((3, 3), np.float32)
  result = convert_hf_state_dict(wrapped, config, prefix=outer)
  assert set(result.ignored) == {
    outer + "deberta.embeddings.position_embeddings.weight",
    outer + "deberta.embeddings.position_ids",
    outer + "lm_predictions.lm_head.bias",
    "span_rep_layer.proj.weight",
  }
  jax.tree_util.tree_map(np.testing.assert_array_equal, result.params, params)
  # The prefix roundtrips through the inverse too.
  assert set(encoder_params_to_hf_state_dict(params, config, prefix="deberta.")) == {"deberta." + k for k in state}


def test_converter_lists_all_problems(small_deberta):
  config, state = small_deberta
  broken = dict(state)
  dropped = "encoder.layer.1.attention.self.pos_key_proj.bias"
  reshaped = "encoder.rel_embeddings.weight"
  extra = "encoder.layer.0.attention.self.extra_proj.weight"
  del broken[dropped]
  broken[reshaped] = np.zeros((10, 64), np.float32)
  broken[extra] = np.zeros((64, 64), np.float32)
  with pytest.raises(ValueError) as err:
    encoder_params_from_hf_state_dict(broken, config)
  message = str(err.value)
  for name in (dropped, reshaped, extra):
    assert name in message
  assert "missing 1" in message and "unexpected 1" in message and "mis-shaped 1" in message
  assert "expected (16, 64)" in message

  # Each problem alone is also caught.
  only_missing = {k: v for k, v in state.items() if k != "embeddings.word_embeddings.weight"}
  with pytest.raises(ValueError, match="embeddings.word_embeddings.weight"):
    encoder_params_from_hf_state_dict(only_missing, config)
  with pytest.raises(ValueError, match="unexpected"):
    encoder_params_from_hf_state_dict({**state, "encoder.foo": np.zeros(1)}, config)
  # Params that do not match the config are refused by the inverse as well.
  params = encoder_params_from_hf_state_dict(state, config)
  del params["layer_1"]
  with pytest.raises(ValueError, match="layer_1"):
    encoder_params_to_hf_state_dict(params, config)


def test_load_hf_encoder_reads_bin_and_safetensors(tmp_path, small_deberta):
  config, state = small_deberta
  hf_dict = {**V3_SWITCHES, **TINY, "vocab_size": 1000, "position_buckets": 8, "share_att_key": False}
  bin_dir, st_dir = tmp_path / "bin", tmp_path / "st"
  for d in (bin_dir, st_dir):
    d.mkdir()
    (d / "config.json").write_text(json.dumps(hf_dict))
  torch.save({k: torch.from_numpy(v) for k, v in state.items()}, bin_dir / "pytorch_model.bin")
  from safetensors.numpy import save_file

  save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(st_dir / "model.safetensors"))
  reference = encoder_params_from_hf_state_dict(state, config)
  for d in (bin_dir, st_dir):
    cfg, params = load_hf_encoder(d)
    assert cfg == config
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, reference)
  with pytest.raises(FileNotFoundError):
    load_hf_encoder(tmp_path)


# -------------------------------------------------------------------- dtype & partitioning
def test_bf16_compute_smoke(small_deberta):
  config, state = small_deberta
  params = encoder_params_from_hf_state_dict(state, config)
  ids, mask = _random_batch(config.vocab_size, 20, pad_id=0, seed=5)
  ref = _run_ours(config, params, ids, mask)
  model = build_encoder(config, dtype=jnp.bfloat16)
  out = jax.jit(lambda p: model.apply({"params": p}, ids, mask))(params)
  assert out.dtype == jnp.bfloat16
  out = np.asarray(out, np.float32)
  assert np.isfinite(out).all()
  assert np.abs(out - ref).max() < 0.25
  assert np.abs(out - ref).mean() < 0.03
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), ids, mask))
  dtypes = {x.dtype for x in jax.tree_util.tree_leaves(nn.meta.unbox(variables["params"]))}
  assert dtypes == {jnp.dtype(jnp.float32)}


PARTITION_CONFIGS = {
  "bert": EncoderConfig(
    model_type="bert", vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
  ),
  "roberta": EncoderConfig.from_hf_dict(
    {
      "model_type": "xlm-roberta",
      "vocab_size": 50,
      "hidden_size": 16,
      "num_hidden_layers": 1,
      "num_attention_heads": 2,
      "intermediate_size": 32,
    }
  ),
  **{name: EncoderConfig.from_hf_dict(d) for name, (d, _) in DEBERTA_VARIANTS.items()},
}


@pytest.mark.parametrize("name", sorted(PARTITION_CONFIGS))
def test_every_param_has_logical_axes(name):
  config = PARTITION_CONFIGS[name]
  model = build_encoder(config)
  ids = jnp.ones((1, 4), jnp.int32)
  abstract = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), ids, ids))
  specs = nn.get_partition_spec(abstract)["params"]
  shapes = nn.meta.unbox(abstract)["params"]
  flat_specs = traverse_util.flatten_dict(specs)
  flat_shapes = traverse_util.flatten_dict(shapes)
  assert set(flat_specs) == set(flat_shapes)
  for path, spec in flat_specs.items():
    assert len(spec) == len(flat_shapes[path].shape), path
    assert all(isinstance(a, str) for a in spec), (path, spec)
  assert flat_specs[("embeddings", "word_embeddings", "embedding")][0] == "vocab"
  assert tuple(flat_specs[("layer_0", "attention", "query", "kernel")]) == ("embed", "joined_kv")
  assert tuple(flat_specs[("layer_0", "ffn", "intermediate", "kernel")]) == ("embed", "mlp")
  if config.relative_attention:
    assert tuple(flat_specs[("rel_embeddings", "embedding")]) == ("rel_pos", "embed")


# ------------------------------------------------------------------------------- config
def test_config_from_hf_and_roundtrip(minilm_dir):
  base = EncoderConfig.from_hf_dict(
    {
      **V3_SWITCHES,
      "hidden_size": 768,
      "num_hidden_layers": 12,
      "num_attention_heads": 12,
      "intermediate_size": 3072,
      "vocab_size": 128100,
    }
  )
  assert base.pos_att_type == ("p2c", "c2p")
  assert base.relative_span == 256 and base.effective_max_relative_positions == 512
  assert not base.uses_position_embeddings and base.type_vocab_size == 0
  assert base.norm_rel_ebd == "layer_norm" and base.share_att_key
  assert EncoderConfig.from_dict(json.loads(json.dumps(base.to_dict()))) == base
  assert isinstance(build_encoder(base), DebertaV2Encoder)

  minilm = EncoderConfig.from_hf_dict(json.loads((Path(minilm_dir) / "config.json").read_text()))
  assert (minilm.hidden_size, minilm.num_hidden_layers, minilm.layer_norm_eps) == (384, 6, 1e-12)
  assert isinstance(build_encoder(minilm), BertEncoder)

  xlmr = EncoderConfig.from_hf_dict({"model_type": "xlm-roberta", "vocab_size": 250002})
  assert (xlmr.model_type, xlmr.pad_token_id, xlmr.position_embedding_type) == ("roberta", 1, "padding_offset")

  for bad in ({"model_type": "gpt2"}, {"model_type": "deberta"}, {}):
    with pytest.raises(ValueError, match="Unsupported encoder model_type"):
      EncoderConfig.from_hf_dict(bad)
  with pytest.raises(ValueError, match="position_embedding_type"):
    EncoderConfig.from_hf_dict({"model_type": "bert", "position_embedding_type": "relative_key"})
  with pytest.raises(ValueError, match="hidden_act"):
    EncoderConfig(
      model_type="bert",
      vocab_size=5,
      hidden_size=8,
      num_hidden_layers=1,
      num_attention_heads=2,
      intermediate_size=8,
      hidden_act="mish",
    )
  with pytest.raises(ValueError, match="not a multiple"):
    EncoderConfig(
      model_type="bert", vocab_size=5, hidden_size=10, num_hidden_layers=1, num_attention_heads=3, intermediate_size=8
    )
  with pytest.raises(ValueError, match="Unknown EncoderConfig fields"):
    EncoderConfig.from_dict({**base.to_dict(), "bogus": 1})


def test_bad_inputs_raise_clear_errors(small_deberta):
  config, state = small_deberta
  params = encoder_params_from_hf_state_dict(state, config)
  model = build_encoder(config)
  ids = jnp.ones((2, 5), jnp.int32)
  with pytest.raises(ValueError, match="attention_mask shape"):
    model.apply({"params": params}, ids, jnp.ones((2, 4), jnp.int32))
  with pytest.raises(ValueError, match=r"\[batch, length\]"):
    model.apply({"params": params}, ids[0], ids[0])
  with pytest.raises(ValueError, match="integers"):
    model.apply({"params": params}, ids.astype(jnp.float32), ids)


@pytest.mark.parametrize("name", ["bert", "v2_conv_embed_proj"])
def test_dropout_only_when_not_deterministic(name):
  config = PARTITION_CONFIGS[name]
  model = build_encoder(config)
  ids, mask = _random_batch(config.vocab_size, 10, pad_id=0, seed=9)
  # Random values for an abstract init: avoids compiling the (slow on CPU) initialisers.
  abstract = nn.meta.unbox(jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), ids, mask)))
  rng = np.random.default_rng(0)
  variables = jax.tree_util.tree_map(lambda x: (1 + 0.2 * rng.standard_normal(x.shape)).astype(np.float32), abstract)
  evaluate = jax.jit(lambda v: model.apply(v, ids, mask))
  train = jax.jit(lambda v, k: model.apply(v, ids, mask, deterministic=False, rngs={"dropout": k}))
  eval_out = np.asarray(evaluate(variables))
  outs = [np.asarray(train(variables, jax.random.key(k, impl="rbg"))) for k in (1, 2)]
  assert np.isfinite(outs[0]).all()
  assert np.abs(outs[0] - eval_out).max() > 1e-3
  assert np.abs(outs[0] - outs[1]).max() > 1e-3
