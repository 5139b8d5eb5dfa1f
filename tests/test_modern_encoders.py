"""ModernBERT and T5 / mT5 encoders: parity with `transformers`, HF conversion, configs, and GLiNER uni-encoder
models on them against gliner 0.2.29 (logits, entities, export round trip).

Encoders are random small configs (fp32, CPU) on padded batches: max |delta| of the last hidden state
<= 1e-4. ModernBERT is checked against HF's eager attention on every position (a padded query whose
window holds no real key is uniform over the keys in both), against HF's default (sdpa) attention on
real tokens, and against each sequence run alone, unpadded. GLiNER references are built with
`gliner.GLiNER.from_config` on a random 2-layer ModernBERT (MiniLM's WordPiece tokenizer, sliding window
of 16 so that long prompts use it) and a random 2-layer mT5 (gated-gelu, a sentencepiece tokenizer trained
here; T5 adds no [CLS], only </s>), their heads scaled like conftest's `_scale_heads`.
Tolerances: logits <= 1e-4; entities identical as (start, end, label, text); scores within 1e-4.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from conftest import (
  PARITY_LABELS,
  PARITY_TEXTS,
  _build_reference,
  perturb_parameters,
  random_padded_batch,
  reference_logits,
  require_module,
  torch_last_hidden,
  train_sentencepiece,
)

torch = require_module("torch")
transformers = require_module("transformers")

from gliner_jax import GLiNER  # noqa: E402
from gliner_jax.interop import hf_weights  # noqa: E402
from gliner_jax.interop.checkpoint import flatten_params  # noqa: E402
from gliner_jax.interop.hf_weights import (  # noqa: E402
  convert_hf_state_dict,
  encoder_params_from_hf_state_dict,
  encoder_params_to_hf_state_dict,
)
from gliner_jax.interop.state_dict import read_state_dict  # noqa: E402
from gliner_jax.model.encoders import EncoderConfig, ModernBertEncoder, T5Encoder, build_encoder  # noqa: E402
from gliner_jax.model.encoders.attention import dot_product_attention  # noqa: E402
from gliner_jax.model.encoders.t5 import relative_buckets  # noqa: E402
from gliner_jax.model.encoders.weights import hf_shape  # noqa: E402
from gliner_jax.processing.buckets import batch_shape, pad_batch  # noqa: E402
from gliner_jax.training.sharding import DEFAULT_RULES  # noqa: E402

TOL = 1e-4
LOGIT_TOL = 1e-4
SCORE_TOL = 1e-4

MODERNBERT_VARIANTS = {
  # name: HF config dict (model_type modernbert)
  "base_like": dict(global_attn_every_n_layers=3, local_attention=8, global_rope_theta=1000.0, local_rope_theta=100.0),
  "biases_all_flags": dict(
    global_attn_every_n_layers=2,
    local_attention=6,
    attention_bias=True,
    mlp_bias=True,
    norm_bias=True,
    hidden_activation="gelu_new",
    norm_eps=1e-6,
  ),
  "irregular_new_style": dict(  # (transformers 5.16 cannot build an all-global ModernBERT)
    layer_types=["sliding_attention", "full_attention", "full_attention", "sliding_attention"],
    local_attention=10,
    rope_parameters={
      "full_attention": {"rope_type": "default", "rope_theta": 500.0},
      "sliding_attention": {"rope_type": "default", "rope_theta": 20.0},
    },
  ),
}
MODERNBERT_TINY = dict(
  vocab_size=300,
  hidden_size=64,
  num_hidden_layers=4,
  num_attention_heads=4,
  intermediate_size=96,
  pad_token_id=0,
  **dict(bos_token_id=1, cls_token_id=1, eos_token_id=2, sep_token_id=2),
)
T5_VARIANTS = {
  # name: (HF config dict, encoder class)
  "t5_v1_0_relu": dict(model_type="t5", feed_forward_proj="relu"),
  "mt5_gated_gelu": dict(model_type="mt5", feed_forward_proj="gated-gelu"),
  "t5_gated_silu_wide_heads": dict(model_type="t5", feed_forward_proj="gated-silu", d_kv=24),
}
T5_TINY = dict(
  vocab_size=300,
  d_model=64,
  d_kv=16,
  d_ff=96,
  num_layers=3,
  num_heads=4,
  relative_attention_num_buckets=16,
  relative_attention_max_distance=20,
)


# ----------------------------------------------------------------------------- helpers
_perturb = perturb_parameters
_torch_hidden = torch_last_hidden
_random_batch = functools.partial(random_padded_batch, shorter_by=13)


def _run_ours(config, params, ids, mask):
  model = build_encoder(config)
  return np.asarray(jax.jit(lambda p, i, m: model.apply({"params": p}, i, m))(params, ids, mask))


def _state(model) -> dict[str, np.ndarray]:
  return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def _hf_modernbert(variant: str, attn_implementation: str = "sdpa"):
  hf_dict = {"model_type": "modernbert", **MODERNBERT_TINY, **MODERNBERT_VARIANTS[variant]}
  torch.manual_seed(0)
  hf_config = transformers.AutoConfig.for_model(**hf_dict)
  model = transformers.AutoModel.from_config(hf_config, attn_implementation=attn_implementation).eval()
  _perturb(model, sorted(MODERNBERT_VARIANTS).index(variant))
  return hf_dict, model


def _hf_t5(variant: str):
  hf_dict = {**T5_TINY, **T5_VARIANTS[variant]}
  torch.manual_seed(0)
  cls = transformers.MT5EncoderModel if hf_dict["model_type"] == "mt5" else transformers.T5EncoderModel
  model = cls(transformers.AutoConfig.for_model(**hf_dict)).eval()
  _perturb(model, sorted(T5_VARIANTS).index(variant))
  return hf_dict, model


# ------------------------------------------------------------------------- attention
def test_attention_implementations_agree_and_masked_rows_are_uniform():
  rng = np.random.default_rng(0)
  q, k, v = (jnp.asarray(rng.standard_normal((2, 6, 3, 8)), jnp.float32) for _ in range(3))
  bias = jnp.asarray(rng.standard_normal((1, 3, 6, 6)), jnp.float32)
  mask = np.ones((2, 1, 6, 6), bool)
  mask[0, :, :, 4:] = False  # padded keys
  mask[1, :, 2, :] = False  # a query that sees no key at all
  mask = jnp.asarray(mask)
  outs = {
    impl: np.asarray(dot_product_attention(q, k, v, bias=bias, mask=mask, scale=0.3, implementation=impl))
    for impl in ("xla", "einsum")
  }
  np.testing.assert_allclose(outs["xla"], outs["einsum"], atol=1e-6)
  logits = np.einsum("bqhd,bkhd->bhqk", q, k) * 0.3 + np.asarray(bias)
  probs = np.where(np.asarray(mask), np.exp(logits - logits.max(-1, keepdims=True)), 0.0)
  probs[1, :, 2] = 1.0  # uniform over every key, like torch's masked_fill(finfo.min) + softmax
  probs /= probs.sum(-1, keepdims=True)
  expected = np.einsum("bhqk,bkhd->bqhd", probs, v)
  np.testing.assert_allclose(outs["xla"], expected, atol=1e-5)
  with pytest.raises(ValueError, match="no attention dropout"):
    dot_product_attention(q, k, v, dropout=lambda p: p, deterministic=False, implementation="xla")
  with pytest.raises(ValueError, match="boolean"):
    dot_product_attention(q, k, v, mask=mask.astype(jnp.float32))


# ------------------------------------------------------------------------ ModernBERT
@pytest.mark.parametrize("variant", sorted(MODERNBERT_VARIANTS))
def test_modernbert_parity_padded(variant):
  hf_dict, sdpa = _hf_modernbert(variant)
  _, eager = _hf_modernbert(variant, "eager")
  config = EncoderConfig.from_hf_dict(hf_dict)
  ids, mask = _random_batch(config.vocab_size, 40, pad_id=0, seed=1)
  result = convert_hf_state_dict(_state(sdpa), config)
  assert result.ignored == ()
  ours = _run_ours(config, result.params, ids, mask)
  real = mask.astype(bool)
  every = np.abs(ours - _torch_hidden(eager, ids, mask)).max()
  on_tokens = np.abs(ours - _torch_hidden(sdpa, ids, mask))[real].max()
  print(f"modernbert {variant}: max |delta| {every:.2e} (all positions, eager), {on_tokens:.2e} (tokens, sdpa)")
  assert every <= TOL and on_tokens <= TOL
  if "sliding_attention" in config.layer_types:  # the window changes the result: it is really applied
    full = dataclasses.replace(config, layer_types=("full_attention",) * config.num_hidden_layers)
    assert np.abs(_run_ours(full, result.params, ids, mask) - ours)[real].max() > 1e-2


def test_modernbert_padded_batch_equals_each_sequence_unpadded():
  hf_dict, hf = _hf_modernbert("base_like")
  config = EncoderConfig.from_hf_dict(hf_dict)
  params = encoder_params_from_hf_state_dict(_state(hf), config)
  lengths = (40, 27, 9, 1)
  ids, mask = _random_batch(config.vocab_size, 40, pad_id=0, seed=2, lengths=lengths)
  ours = _run_ours(config, params, ids, mask)
  worst = 0.0
  for row, n in enumerate(lengths):
    alone = _torch_hidden(hf, ids[row : row + 1, :n], mask[row : row + 1, :n])[0]
    worst = max(worst, float(np.abs(ours[row, :n] - alone).max()))
  assert worst <= TOL, worst


def test_modernbert_checkpoint_wrappers_and_round_trip():
  hf_dict, hf = _hf_modernbert("biases_all_flags")
  config = EncoderConfig.from_hf_dict(hf_dict)
  state = _state(hf)
  params = encoder_params_from_hf_state_dict(state, config)
  back = encoder_params_to_hf_state_dict(params, config)
  assert set(back) == set(state)
  assert all(np.array_equal(back[k], v) for k, v in state.items())
  # ModernBertForMaskedLM: the encoder under "model.", its head and decoder are ignored.
  mlm = {"model." + k: v for k, v in state.items()}
  mlm.update({"head.dense.weight": np.zeros((64, 64)), "decoder.weight": np.zeros((300, 64))})
  result = convert_hf_state_dict(mlm, config)
  assert set(result.ignored) == {"head.dense.weight", "decoder.weight"}
  jax.tree_util.tree_map(np.testing.assert_array_equal, result.params, params)
  # Without the bias flags the biases are unexpected, by name.
  no_bias = dataclasses.replace(config, attention_bias=False)
  with pytest.raises(ValueError, match=r"unexpected .*layers\.0\.attn\.Wqkv\.bias"):
    encoder_params_from_hf_state_dict(state, no_bias)
  # The full-size layout (answerdotai/ModernBERT-base) matches HF's, tensor for tensor.
  base = dict(
    model_type="modernbert",
    vocab_size=50368,
    hidden_size=768,
    intermediate_size=1152,
    num_hidden_layers=22,
    num_attention_heads=12,
    global_attn_every_n_layers=3,
    local_attention=128,
  )
  with torch.device("meta"):
    meta = transformers.ModernBertModel(transformers.AutoConfig.for_model(**base))
  _assert_layout(EncoderConfig.from_hf_dict(base), meta)


def _assert_layout(config: EncoderConfig, hf_model) -> None:
  hf_shapes = {k: tuple(v.shape) for k, v in hf_model.state_dict().items()}
  expected = hf_weights.expected_shapes(config)
  ours = {}
  for t in hf_weights.weight_table(config):
    for name in (t.hf_name, *t.tied):
      ours[name] = hf_shape(t.transform, expected[t.path])
  assert ours == hf_shapes


# -------------------------------------------------------------------------------- T5
def test_t5_buckets_match_reference():
  from transformers.models.t5.modeling_t5 import T5Attention

  for length, buckets, max_distance in [(600, 32, 128), (300, 16, 20), (90, 8, 12), (50, 32, 128)]:
    ids = torch.arange(length)
    ref = T5Attention._relative_position_bucket(
      ids[None, :] - ids[:, None], bidirectional=True, num_buckets=buckets, max_distance=max_distance
    ).numpy()
    np.testing.assert_array_equal(relative_buckets(length, buckets, max_distance), ref)


@pytest.mark.parametrize("variant", sorted(T5_VARIANTS))
def test_t5_parity_padded(variant):
  hf_dict, hf = _hf_t5(variant)
  config = EncoderConfig.from_hf_dict(hf_dict)
  assert config.gated_mlp == hf.config.is_gated_act and config.hidden_act == hf.config.dense_act_fn
  ids, mask = _random_batch(config.vocab_size, 40, pad_id=0, seed=3)
  result = convert_hf_state_dict(_state(hf), config)
  assert result.ignored == ()
  ours = _run_ours(config, result.params, ids, mask)
  delta = np.abs(ours - _torch_hidden(hf, ids, mask)).max()
  print(f"t5 {variant}: max |delta| {delta:.2e}")
  assert delta <= TOL


def test_t5_checkpoint_wrappers_tied_embeddings_and_round_trip():
  hf_dict, hf = _hf_t5("mt5_gated_gelu")
  config = EncoderConfig.from_hf_dict(hf_dict)
  state = _state(hf)
  assert {"shared.weight", "encoder.embed_tokens.weight"} <= set(state)
  params = encoder_params_from_hf_state_dict(state, config)
  back = encoder_params_to_hf_state_dict(params, config)
  assert set(back) == set(state) and all(np.array_equal(back[k], v) for k, v in state.items())
  # HF's own save keeps one of the tied names: either one suffices.
  for dropped in ("shared.weight", "encoder.embed_tokens.weight"):
    alone = {k: v for k, v in state.items() if k != dropped}
    jax.tree_util.tree_map(np.testing.assert_array_equal, encoder_params_from_hf_state_dict(alone, config), params)
  # A tied copy that differs is an error, not a silent choice.
  broken = dict(state, **{"encoder.embed_tokens.weight": state["shared.weight"] + 1})
  with pytest.raises(ValueError, match="tied to"):
    encoder_params_from_hf_state_dict(broken, config)
  # A whole T5ForConditionalGeneration: the decoder and the LM head are ignored.
  full = {**state, "decoder.block.0.layer.0.SelfAttention.q.weight": np.zeros((64, 64)), "lm_head.weight": np.zeros(1)}
  result = convert_hf_state_dict(full, config)
  assert set(result.ignored) == {"decoder.block.0.layer.0.SelfAttention.q.weight", "lm_head.weight"}
  # The full-size layout (google/mt5-small: d_kv * heads != d_model) matches HF's.
  small = dict(model_type="mt5", vocab_size=250112, d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_heads=6)
  with torch.device("meta"):
    meta = transformers.MT5EncoderModel(transformers.AutoConfig.for_model(**small))
  _assert_layout(EncoderConfig.from_hf_dict(small), meta)


# ---------------------------------------------------------------------- configs & axes
CONFIG_CASES = {
  "modernbert_old_style": {
    "model_type": "modernbert",
    **MODERNBERT_TINY,
    "global_attn_every_n_layers": 2,
    "global_rope_theta": 1000.0,
    "local_rope_theta": 50.0,
  },
  "modernbert_irregular": {
    "model_type": "modernbert",
    **MODERNBERT_TINY,
    "layer_types": ["sliding_attention", "full_attention", "full_attention", "sliding_attention"],
    "norm_bias": True,
    "embedding_dropout": 0.1,
  },
  "t5": {"model_type": "t5", **T5_TINY},
  "mt5": {"model_type": "mt5", **T5_TINY, "feed_forward_proj": "gated-gelu", "dropout_rate": 0.0},
  "t5_gated_silu": {"model_type": "t5", **T5_TINY, "feed_forward_proj": "gated-silu"},
}


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_config_round_trips(name):
  hf = CONFIG_CASES[name]
  config = EncoderConfig.from_hf_dict(hf)
  out = config.to_hf_dict()
  assert out["model_type"] == hf["model_type"]
  assert EncoderConfig.from_hf_dict(out) == config
  assert EncoderConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    hf_config = transformers.AutoConfig.for_model(**out)  # transformers accepts it and means the same encoder
  assert EncoderConfig.from_hf_dict(hf_config.to_dict()) == config
  assert config.type_vocab_size == 0 and not config.uses_position_embeddings


def test_config_reads_both_modernbert_spellings_and_refuses_what_it_cannot_run():
  old = EncoderConfig.from_hf_dict(CONFIG_CASES["modernbert_old_style"])
  new = EncoderConfig.from_hf_dict(
    {
      "model_type": "modernbert",
      **MODERNBERT_TINY,
      "layer_types": ["full_attention", "sliding_attention"] * 2,
      "rope_parameters": {
        "full_attention": {"rope_type": "default", "rope_theta": 1000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 50.0},
      },
    }
  )
  assert old == new and old.to_hf_dict()["global_attn_every_n_layers"] == 2
  assert (
    "global_attn_every_n_layers" not in EncoderConfig.from_hf_dict(CONFIG_CASES["modernbert_irregular"]).to_hf_dict()
  )
  base = {"model_type": "modernbert", **MODERNBERT_TINY}
  with pytest.raises(ValueError, match="rope_type='yarn'"):
    EncoderConfig.from_hf_dict({**base, "rope_parameters": {"full_attention": {"rope_type": "yarn", "factor": 2.0}}})
  with pytest.raises(ValueError, match="layer_types has 3 entries for 4 layers"):
    EncoderConfig.from_hf_dict({**base, "layer_types": ["full_attention"] * 3})
  with pytest.raises(ValueError, match="feed_forward_proj"):
    EncoderConfig.from_hf_dict({"model_type": "t5", "feed_forward_proj": "swiglu-gelu"})
  with pytest.raises(ValueError, match="decoder"):
    EncoderConfig.from_hf_dict({"model_type": "t5", "is_decoder": True})
  t5 = EncoderConfig.from_hf_dict(CONFIG_CASES["t5"])
  with pytest.raises(ValueError, match="no token types"):
    dataclasses.replace(t5, type_vocab_size=2)
  with pytest.raises(ValueError, match="one dropout_rate"):
    dataclasses.replace(t5, attention_probs_dropout_prob=0.0)
  with pytest.raises(ValueError, match="gated_mlp is only supported for t5"):
    dataclasses.replace(old, gated_mlp=True)
  assert isinstance(build_encoder(old), ModernBertEncoder) and isinstance(build_encoder(t5), T5Encoder)


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_every_param_has_logical_axes_known_to_the_sharding_rules(name):
  config = EncoderConfig.from_hf_dict({**CONFIG_CASES[name], "attention_bias": True, "mlp_bias": True})
  model = build_encoder(config)
  ids = jnp.ones((1, 4), jnp.int32)
  abstract = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), ids, ids))
  flat_specs = traverse_util.flatten_dict(nn.get_partition_spec(abstract)["params"])
  flat_shapes = traverse_util.flatten_dict(nn.meta.unbox(abstract)["params"])
  assert set(flat_specs) == set(flat_shapes)
  known = {name for name, _ in DEFAULT_RULES}
  for path, spec in flat_specs.items():
    assert len(spec) == len(flat_shapes[path].shape), path
    assert all(isinstance(a, str) and a in known for a in spec), (path, spec)
  if config.model_type == "modernbert":
    assert tuple(flat_specs[("layer_0", "attention", "qkv", "kernel")]) == ("embed", "qkv", "joined_kv")
    assert tuple(flat_specs[("layer_0", "mlp", "wi", "kernel")]) == ("embed", "glu", "mlp")
  else:
    assert tuple(flat_specs[("relative_attention_bias", "embedding")]) == ("rel_pos", "heads")


@pytest.mark.slow  # 12-15 s each; tests/test_encoders.py checks dropout in the fast tier
@pytest.mark.parametrize("name", ["modernbert_irregular", "mt5"])
def test_dropout_only_when_not_deterministic(name):
  config = EncoderConfig.from_hf_dict(CONFIG_CASES[name])
  config = dataclasses.replace(config, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
  model = build_encoder(config)
  ids, mask = _random_batch(config.vocab_size, 10, pad_id=0, seed=9)
  abstract = nn.meta.unbox(jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), ids, mask)))
  rng = np.random.default_rng(0)
  variables = jax.tree_util.tree_map(lambda x: (0.3 * rng.standard_normal(x.shape)).astype(np.float32), abstract)
  evaluate = jax.jit(lambda v: model.apply(v, ids, mask))
  train = jax.jit(lambda v, k: model.apply(v, ids, mask, deterministic=False, rngs={"dropout": k}))
  eval_out = np.asarray(evaluate(variables))
  outs = [np.asarray(train(variables, jax.random.key(k, impl="rbg"))) for k in (1, 2)]
  assert np.isfinite(outs[0]).all()
  assert np.abs(outs[0] - eval_out).max() > 1e-3 and np.abs(outs[0] - outs[1]).max() > 1e-3


# ------------------------------------------------------------------------ GLiNER parity
def _t5_sentencepiece(directory: str) -> None:
  pieces = dict(pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>")
  tokenizer = {"tokenizer_class": "T5Tokenizer", "model_max_length": 512, "extra_ids": 0}
  train_sentencepiece(directory, "spiece", pieces, tokenizer, user_defined_symbols=())


def _perturb_norms(model, seed: int) -> None:
  """LayerNorm / RMSNorm scales away from 1, so that parity sees them."""
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in model.named_parameters():
      if "norm" in name:
        p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))


@pytest.fixture(scope="module")
def modernbert_backbone_dir(minilm_dir, tmp_path_factory) -> str:
  """A random 2-layer ModernBERT (global, then sliding window 16) with MiniLM's WordPiece tokenizer."""
  directory = str(tmp_path_factory.mktemp("modernbert_tiny"))
  tok = transformers.AutoTokenizer.from_pretrained(minilm_dir)
  tok.save_pretrained(directory)
  torch.manual_seed(4)
  cfg = transformers.ModernBertConfig(
    vocab_size=len(tok),
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=96,
    global_attn_every_n_layers=2,
    local_attention=16,
    global_rope_theta=10000.0,
    local_rope_theta=1000.0,
    pad_token_id=tok.pad_token_id,
    bos_token_id=tok.cls_token_id,
    cls_token_id=tok.cls_token_id,
    eos_token_id=tok.sep_token_id,
    sep_token_id=tok.sep_token_id,
    initializer_range=0.3,
  )
  model = transformers.ModernBertModel(cfg).eval()
  _perturb_norms(model, 4)
  model.save_pretrained(directory)
  return directory


@pytest.fixture(scope="module")
def mt5_backbone_dir(tmp_path_factory) -> str:
  """A random 2-layer mT5 encoder (gated-gelu, as gliner-x's backbone) with a sentencepiece tokenizer."""
  directory = str(tmp_path_factory.mktemp("mt5_tiny"))
  _t5_sentencepiece(directory)
  tok = transformers.AutoTokenizer.from_pretrained(directory)
  torch.manual_seed(5)
  cfg = transformers.MT5Config(
    vocab_size=len(tok),
    d_model=64,
    d_kv=16,
    d_ff=128,
    num_layers=2,
    num_heads=4,
    feed_forward_proj="gated-gelu",
    initializer_factor=3.0,
  )  # peaked attention: distinct <<ENT>> vectors, no label ties
  model = transformers.T5EncoderModel(cfg).eval()
  _perturb_norms(model, 5)
  model.save_pretrained(directory)
  return directory


@pytest.fixture(scope="module", params=["modernbert", "mt5"])
def case(request, tmp_path_factory):
  """(family, gliner reference, its saved folder, our model converted from that folder)."""
  backbone = request.getfixturevalue(f"{request.param}_backbone_dir")
  out = str(tmp_path_factory.mktemp(f"ref_{request.param}"))
  ref = _build_reference(backbone, out, hidden_size=96, max_width=8, max_len=96)
  return request.param, ref, out, GLiNER.from_pretrained(out)


def _our_logits(model: GLiNER, texts, labels):
  words = [[w for w, _, _ in model.words_splitter(t)] for t in texts]
  enc = model.prompt_tokenizer.encode_batch(words, [labels] * len(texts))
  batch = pad_batch(enc, batch_shape(enc, len(texts)), model.prompt_tokenizer.pad_id)
  return model.logits(batch), batch["num_words"]


def _max_span_delta(ref, ours, texts) -> float:
  worst = 0.0
  for lo in range(0, len(texts), 6):
    chunk = texts[lo : lo + 6]
    expected = reference_logits(ref, chunk, PARITY_LABELS)
    got, num_words = _our_logits(ours, chunk, PARITY_LABELS)
    b, w, k, c = expected.shape
    valid = (np.arange(w)[:, None] + np.arange(k)[None, :])[None] < num_words[:b, None, None]
    assert np.abs(expected[valid]).max() > 1.0  # the heads were scaled so that entities appear
    worst = max(worst, float(np.abs(got[:b, :w, :k, :c] - expected)[valid].max()))
  return worst


def test_gliner_checkpoint_is_read_as_its_family(case):
  family, ref, out, ours = case
  assert ours.config.encoder.model_type == ("t5" if family == "mt5" else "modernbert")
  assert ours.config.encoder == EncoderConfig.from_hf_dict(ref.config.encoder_config.to_dict())
  prompt = ours.prompt_tokenizer.encode_batch([["Paris"]], [PARITY_LABELS])[0]
  ids = list(np.asarray(prompt.input_ids))
  if family == "mt5":  # T5 adds no [CLS]: the prompt starts with <<ENT>> and ends with </s>
    assert ids[0] == ours.prompt_tokenizer.class_token_id and ids[-1] == ours.tokenizer.eos_token_id
  else:
    assert ids[0] == ours.tokenizer.cls_token_id and ids[-1] == ours.tokenizer.sep_token_id


def test_gliner_logits_match_reference(case):
  family, ref, _, ours = case
  delta = _max_span_delta(ref, ours, PARITY_TEXTS)
  print(f"{family}: max |delta logits| {delta:.2e}")
  assert delta <= LOGIT_TOL, f"{family}: max |delta logits| = {delta:.2e}"


@pytest.mark.slow  # 2-33 s each; the fast tier keeps each family's encoder parity (test_*_parity_padded)
@pytest.mark.parametrize("threshold", [0.3, 0.5])
@pytest.mark.parametrize("flat_ner", [True, False])
def test_gliner_entities_match_reference(case, threshold, flat_ner):
  family, ref, _, ours = case
  expected = ref.inference(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  got = ours.batch_predict_entities(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  total, worst = 0, 0.0
  for i, (e, g) in enumerate(zip(expected, got)):
    assert [(x["start"], x["end"], x["label"], x["text"]) for x in e] == [
      (x.start, x.end, x.label, x.text) for x in g
    ], f"{family}: text {i} differs"
    if e:
      worst = max(worst, float(np.max(np.abs(np.array([x.score for x in g]) - [x["score"] for x in e]))))
    total += len(e)
  print(f"{family} threshold={threshold} flat={flat_ner}: {total} entities, max |delta score| {worst:.2e}")
  assert worst <= SCORE_TOL
  assert total >= 20, f"{family}: only {total} entities, the comparison is vacuous"


def _load_with_gliner(folder: str):
  from gliner import GLiNER as RefGLiNER

  with warnings.catch_warnings(), tempfile.TemporaryDirectory() as empty_cache:
    warnings.simplefilter("ignore")
    model = RefGLiNER.from_pretrained(folder, local_files_only=True, cache_dir=empty_cache)
  return model.eval()


def test_export_round_trips_into_gliner(case, tmp_path):
  family, ref, ref_dir, ours = case
  folder = str(tmp_path / "exported")
  ours.save_pretrained(folder, format="gliner")
  exported, original = read_state_dict(folder), read_state_dict(ref_dir)
  assert set(exported) <= set(original) and all(np.array_equal(original[k], v) for k, v in exported.items())
  loaded = _load_with_gliner(folder)
  assert type(loaded.model).__name__ == "UniEncoderSpanModel"
  in_torch = {k: v.detach().numpy() for k, v in loaded.model.state_dict().items()}
  assert set(in_torch) == set(exported), sorted(set(in_torch) ^ set(exported))  # nothing left at random init
  assert all(np.array_equal(in_torch[k], v) for k, v in exported.items())
  texts = PARITY_TEXTS[:6]
  assert np.array_equal(reference_logits(loaded, texts, PARITY_LABELS), reference_logits(ref, texts, PARITY_LABELS))
  assert _max_span_delta(loaded, ours, texts) <= LOGIT_TOL
  again = GLiNER.from_pretrained(folder)
  assert flatten_params(again.params).keys() == flatten_params(ours.params).keys()
  assert again.config.encoder == ours.config.encoder


@pytest.mark.parametrize("family", [pytest.param("modernbert", marks=pytest.mark.slow), "mt5"])  # fast: mt5
def test_token_level_model_on_the_new_backbones(family, request, tmp_path):
  from gliner import GLiNER as RefGLiNER

  backbone = request.getfixturevalue(f"{family}_backbone_dir")
  torch.manual_seed(0)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = RefGLiNER.from_config({"model_name": backbone, "span_mode": "token_level", "hidden_size": 64, "max_len": 96})
  ref.eval()
  ref.save_pretrained(str(tmp_path))
  ours = GLiNER.from_pretrained(str(tmp_path))
  texts = PARITY_TEXTS[:6]
  expected = reference_logits(ref, texts, PARITY_LABELS)  # [B, W, C, 3]
  got, num_words = _our_logits(ours, texts, PARITY_LABELS)
  b, w, c, _ = expected.shape
  valid = np.arange(w)[None, :] < num_words[:b, None]
  delta = float(np.abs(got[:b, :w, :c] - expected)[valid].max())
  print(f"{family} token_level: max |delta logits| {delta:.2e}")
  assert np.abs(expected[valid]).std() > 1e-3 and delta <= LOGIT_TOL


@pytest.mark.parametrize("name", ["modernbert_irregular", "mt5"])
def test_bf16_compute_keeps_float32_params_and_stays_close(name):
  config = EncoderConfig.from_hf_dict(CONFIG_CASES[name])
  ids, mask = _random_batch(config.vocab_size, 24, pad_id=0, seed=7)
  outs = {}
  for dtype in (jnp.float32, jnp.bfloat16):
    model = build_encoder(config, dtype=dtype)
    abstract = nn.meta.unbox(jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), ids, mask)))
    assert {x.dtype for x in jax.tree_util.tree_leaves(abstract)} == {jnp.dtype(jnp.float32)}
    rng = np.random.default_rng(0)
    variables = jax.tree_util.tree_map(lambda x: (0.3 * rng.standard_normal(x.shape)).astype(np.float32), abstract)
    out = jax.jit(lambda v: model.apply(v, ids, mask))(variables)
    assert out.dtype == dtype
    outs[dtype] = np.asarray(out, np.float32)
  assert np.isfinite(outs[jnp.bfloat16]).all()
  delta = np.abs(outs[jnp.bfloat16] - outs[jnp.float32])
  assert delta.max() < 0.25 and delta.mean() < 0.03, (delta.max(), delta.mean())
