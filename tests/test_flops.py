"""Analytic FLOP counts vs XLA's cost analysis of the jitted forward.

Tolerance: XLA also counts elementwise work (softmax, layer norms, GELU, masks, the factored head's
relu(start + end) over [W, K, 4D]) at about one FLOP per element per op, which the analytic count
leaves out; at the widths below (head_dim 64, hidden 96-128) that is under ~12% of the matrix products.
XLA counts the body of a `lax.scan` once, so the BiLSTM recurrence (sequential over words) is left out
of the XLA comparison by comparing models without the RNN, and the RNN's count is checked by hand.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders import build_encoder
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.flops import encoder_flops, head_flops, model_flops, train_step_flops, xla_flops
from gliner_jax.model.span_model import GLiNERSpanModel, MarkerV0SpanHead

TOL = 0.15
B, T, W, C, K = 2, 64, 40, 5, 4

BERT = EncoderConfig(
  model_type="bert", vocab_size=100, hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512
)
DEBERTA_V3 = EncoderConfig(
  model_type="deberta-v2",
  vocab_size=100,
  hidden_size=128,
  num_hidden_layers=2,
  num_attention_heads=2,
  intermediate_size=512,
  type_vocab_size=0,
  relative_attention=True,
  position_buckets=32,
  norm_rel_ebd="layer_norm",
  share_att_key=True,
  pos_att_type=("p2c", "c2p"),
  position_biased_input=False,
)
DEBERTA_C2P = EncoderConfig(
  model_type="deberta-v2",
  vocab_size=100,
  hidden_size=128,
  num_hidden_layers=2,
  num_attention_heads=2,
  intermediate_size=512,
  type_vocab_size=0,
  relative_attention=True,
  max_relative_positions=48,
  share_att_key=False,
  pos_att_type=("c2p",),
)
MODERNBERT = EncoderConfig.from_hf_dict(
  dict(
    model_type="modernbert",
    vocab_size=100,
    hidden_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=256,
    global_attn_every_n_layers=2,
    local_attention=16,
  )
)
MT5 = EncoderConfig.from_hf_dict(
  dict(model_type="mt5", vocab_size=100, d_model=128, d_kv=48, d_ff=256, num_layers=2, num_heads=2)
)
ENCODERS = {"bert": BERT, "deberta_v3": DEBERTA_V3, "deberta_c2p": DEBERTA_C2P, "modernbert": MODERNBERT, "mt5": MT5}


def _zeros_like_params(module, *args, **kwargs):
  shapes = jax.eval_shape(lambda: nn.meta.unbox(module.init(jax.random.PRNGKey(0), *args, **kwargs)["params"]))
  return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def _batch():
  return dict(
    input_ids=jnp.ones((B, T), jnp.int32),
    attention_mask=jnp.ones((B, T), jnp.int32),
    word_token_index=jnp.tile(jnp.arange(W, dtype=jnp.int32)[None] + 2 * C + 2, (B, 1)),
    num_words=jnp.full((B,), W, jnp.int32),
    type_token_index=jnp.tile(jnp.arange(C, dtype=jnp.int32)[None] * 2 + 1, (B, 1)),
  )


@pytest.fixture(scope="module", params=sorted(ENCODERS))
def encoder_case(request):
  cfg = ENCODERS[request.param]
  enc = build_encoder(cfg)
  ids = jnp.ones((B, T), jnp.int32)
  params = _zeros_like_params(enc, ids, ids)
  measured = xla_flops(lambda p, i, m: enc.apply({"params": p}, i, m), params, ids, ids)
  return cfg, measured


def test_encoder_matches_xla(encoder_case):
  cfg, measured = encoder_case
  analytic = encoder_flops(cfg, T, batch_size=B)
  assert analytic.total <= measured <= (1 + TOL) * analytic.total, (measured, analytic)
  if cfg.relative_attention:
    assert analytic.relative_position > 0.05 * analytic.total  # the term is real, and XLA sees it
  else:
    assert analytic.relative_position == 0


@pytest.mark.parametrize("impl", ["reference", "factored"])
@pytest.mark.parametrize("encoder_name", ["bert", "deberta_v3"])
def test_model_matches_xla(encoder_name, impl):
  # hidden 96 != 128: the projection layer is part of the head.
  cfg = GLiNERConfig(encoder=ENCODERS[encoder_name], hidden_size=96, max_width=K, num_rnn_layers=0)
  model = GLiNERSpanModel(cfg, span_head_impl=impl)
  batch = _batch()
  params = _zeros_like_params(model, **batch)
  measured = xla_flops(lambda p, b: model.apply({"params": p}, **b).logits, params, batch)
  analytic = model_flops(cfg, T, W, C, impl, batch_size=B)
  assert analytic.head.projection > 0 and analytic.head.rnn == 0
  assert analytic.total <= measured <= (1 + TOL) * analytic.total, (measured, analytic)
  assert analytic.per_word == pytest.approx(analytic.total / (B * W))


@pytest.mark.parametrize("impl", ["reference", "factored"])
def test_span_head_matches_xla(impl):
  """The span head alone, where the two implementations differ, within 5%."""
  d = 96
  cfg = GLiNERConfig(encoder=BERT, hidden_size=d, max_width=K, num_rnn_layers=0)
  head = MarkerV0SpanHead(d, K, impl=impl)
  words, types = jnp.ones((B, W, d)), jnp.ones((B, C, d))
  params = _zeros_like_params(head, words, types)
  measured = xla_flops(lambda p, x, y: head.apply({"params": p}, x, y), params, words, types)
  h = head_flops(cfg, W, C, impl, batch_size=B)
  analytic = h.span_endpoints + h.span_out_projection + h.scores
  assert analytic <= measured <= 1.05 * analytic, (measured, h)  # little elementwise work here


def test_rnn_count_by_hand():
  d, cfg = 96, GLiNERConfig(encoder=BERT, hidden_size=96, max_width=K, num_rnn_layers=1)
  h = d // 2
  per_direction = 2 * W * d * 4 * h + 2 * W * h * 4 * h  # input and recurrent products per step
  assert head_flops(cfg, W, C, batch_size=B).rnn == B * 2 * per_direction


def test_factored_head_is_a_small_fraction_for_minilm():
  minilm = EncoderConfig(
    model_type="bert",
    vocab_size=30522,
    hidden_size=384,
    num_hidden_layers=6,
    num_attention_heads=12,
    intermediate_size=1536,
  )
  cfg = GLiNERConfig(encoder=minilm, hidden_size=512, max_width=12)
  for words in (30, 120, 350):
    ref = head_flops(cfg, words, 5, "reference")
    fac = head_flops(cfg, words, 5, "factored")
    assert fac.total < 0.25 * ref.total
    assert fac.span_out_projection + fac.scores < 0.1 * (ref.span_out_projection + ref.scores)
    # The shared parts are counted the same way by both.
    assert (fac.projection, fac.rnn, fac.span_endpoints, fac.prompt) == (
      ref.projection,
      ref.rnn,
      ref.span_endpoints,
      ref.prompt,
    )
  # With the factored head, the encoder dominates the model at these lengths.
  f = model_flops(cfg, num_tokens=170, num_words=120, num_types=5, impl="factored")
  assert f.encoder.total > f.head.total


def test_counts_scale_with_batch_and_train_step():
  cfg = GLiNERConfig(encoder=BERT, hidden_size=96, max_width=K)
  one, eight = model_flops(cfg, T, W, C, batch_size=1), model_flops(cfg, T, W, C, batch_size=8)
  assert eight.total == 8 * one.total
  assert eight.per_word == pytest.approx(one.per_word)
  assert train_step_flops(one.total) == 3 * one.total
  # DeBERTa projects its relative table once per batch, so it does not scale with the batch.
  deb = encoder_flops(DEBERTA_V3, T, batch_size=8).relative_position
  assert deb < 8 * encoder_flops(DEBERTA_V3, T, batch_size=1).relative_position


def test_bad_arguments_raise():
  cfg = GLiNERConfig(encoder=BERT, hidden_size=96)
  with pytest.raises(ValueError, match="impl"):
    head_flops(cfg, 10, 2, "fast")
  with pytest.raises(ValueError, match="num_words"):
    head_flops(cfg, 0, 2)
  with pytest.raises(ValueError, match="num_tokens"):
    encoder_flops(BERT, -1)
