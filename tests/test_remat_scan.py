"""Rematerialisation and nn.scan over the encoder layers (`gliner_jax.model.encoders.stack`) compute what the
plain layer stack computes.

For every encoder family the same initial parameters (stacked with `stack_layers` for scan) give the same
output, loss and gradients for: plain, remat with each policy, scan, scan + remat. Remat keeps the dropout
masks (compared with dropout on); scan draws its own (compared deterministic). Two GLiNER train steps
(`gliner_jax.training.loop.build`) agree over 3 steps for BERT and DeBERTa. ModernBERT (layers that differ)
and DeBERTa with a ConvLayer refuse scan by name. Checkpoints on disk keep the unscanned layout.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gliner_jax.model.encoders import EncoderConfig, build_encoder
from gliner_jax.model.encoders.config import REMAT_POLICY_NAMES
from gliner_jax.model.encoders.stack import match_layer_layout, stack_layers, unstack_layers

POLICIES = [p for p in REMAT_POLICY_NAMES if p != "none"]
VOCAB = 40

FAMILIES = {
  "bert": dict(model_type="bert"),
  "roberta": dict(model_type="roberta", position_embedding_type="padding_offset", pad_token_id=1),
  "deberta": dict(
    model_type="deberta-v2",
    type_vocab_size=0,
    relative_attention=True,
    position_buckets=8,
    max_relative_positions=64,
    norm_rel_ebd="layer_norm",
    share_att_key=True,
    pos_att_type=("p2c", "c2p"),
    position_biased_input=False,
    layer_norm_eps=1e-7,
  ),
  "t5": dict(model_type="t5", type_vocab_size=0, gated_mlp=True, hidden_act="gelu_new", layer_norm_eps=1e-6),
  "modernbert": dict(
    model_type="modernbert",
    type_vocab_size=0,
    layer_types=("full_attention", "sliding_attention", "sliding_attention"),
    local_attention=4,
    layer_norm_eps=1e-5,
    embedding_dropout_prob=0.1,
  ),
}


def encoder_config(family: str, **changes) -> EncoderConfig:
  fields = dict(
    vocab_size=VOCAB,
    hidden_size=16,
    num_hidden_layers=3,
    num_attention_heads=2,
    intermediate_size=24,
    hidden_dropout_prob=0.2,
    attention_probs_dropout_prob=0.2,
  )
  return EncoderConfig(**{**fields, **FAMILIES[family], **changes})


def batch(cfg: EncoderConfig):
  rng = np.random.RandomState(0)
  ids = rng.randint(2, VOCAB, size=(2, 9)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[1, 6:] = 0
  ids[1, 6:] = cfg.pad_token_id
  return jnp.asarray(ids), jnp.asarray(mask)


def plain_params(cfg: EncoderConfig):
  ids, mask = batch(cfg)
  params = nn.meta.unbox(build_encoder(cfg).init(jax.random.key(0), ids, mask)["params"])
  # Perturb norms and biases away from 1 and 0 so their gradients and the layer order matter.
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(7), len(leaves))
  return jax.tree.unflatten(tree, [np.asarray(v + 0.1 * jax.random.normal(k, v.shape)) for v, k in zip(leaves, keys)])


def loss_and_grads(cfg: EncoderConfig, params, deterministic: bool):
  ids, mask = batch(cfg)
  model = build_encoder(cfg)
  weights = jax.random.normal(jax.random.key(3), (2, 9, cfg.hidden_size))

  def loss(p):
    h = model.apply({"params": p}, ids, mask, deterministic=deterministic, rngs={"dropout": jax.random.key(5)})
    return jnp.sum(jnp.tanh(h) * weights * mask[..., None])

  value, grads = jax.value_and_grad(loss)(params)  # eager: cheaper than compiling each variant
  return float(value), jax.tree.map(np.asarray, grads)


def assert_trees_close(got, want, rtol=1e-5):
  """Leafwise |got - want| <= rtol * (|want| + max |want| over the whole tree): float32 noise of reordered
  sums, also on gradients that are zero but for rounding (e.g. a key bias under softmax)."""
  assert jax.tree.structure(got) == jax.tree.structure(want)
  scale = max(float(np.max(np.abs(np.asarray(w)))) for w in jax.tree.leaves(want))
  for (path, g), w in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(
      np.asarray(g), np.asarray(w), rtol=rtol, atol=rtol * scale, err_msg=jax.tree_util.keystr(path)
    )


# ------------------------------------------------------------------------------------ configuration
def test_unknown_remat_policy_is_refused_with_the_known_names():
  with pytest.raises(ValueError, match=r"remat_policy='save_it_all'.*nothing_saveable.*dots_saveable"):
    encoder_config("bert", remat_policy="save_it_all")


def test_scan_is_refused_by_name_where_layers_differ():
  with pytest.raises(ValueError, match="ModernBERT's layers differ"):
    encoder_config("modernbert", scan_layers=True)
  with pytest.raises(ValueError, match="ConvLayer runs between layers 0 and 1"):
    encoder_config("deberta", scan_layers=True, conv_kernel_size=3)


def test_gliner_config_options_reach_its_encoders():
  from gliner_jax.model.config import GLiNERConfig

  cfg = GLiNERConfig(encoder=encoder_config("bert"), remat_policy="dots_saveable", scan_layers=True)
  assert (cfg.encoder.remat_policy, cfg.encoder.scan_layers) == ("dots_saveable", True)
  back = GLiNERConfig.from_dict(cfg.to_dict())
  assert back == cfg
  with pytest.raises(ValueError, match="remat_policy='bogus'"):
    GLiNERConfig(encoder=encoder_config("bert"), remat_policy="bogus")


def test_default_layout_is_unchanged_and_scan_stacks_it_with_a_layers_axis():
  cfg = encoder_config("bert")
  ids, mask = batch(cfg)
  plain = build_encoder(cfg).init(jax.random.key(0), ids, mask)["params"]
  assert sorted(plain) == ["embeddings", "layer_0", "layer_1", "layer_2"]
  scanned = build_encoder(dataclasses.replace(cfg, scan_layers=True)).init(jax.random.key(0), ids, mask)["params"]
  assert sorted(scanned) == ["embeddings", "layers"]
  specs = nn.get_partition_spec(scanned)
  assert tuple(specs["layers"]["attention"]["query"]["kernel"]) == ("layers", "embed", "joined_kv")
  assert tuple(specs["layers"]["ffn"]["norm"]["scale"]) == ("layers", "norm")
  shapes = jax.tree.map(np.shape, nn.meta.unbox(scanned))
  assert shapes == jax.tree.map(np.shape, stack_layers(jax.tree.map(np.asarray, nn.meta.unbox(plain))))
  assert shapes["layers"]["attention"]["query"]["kernel"] == (3, 16, 16)


def test_stack_and_unstack_are_inverse_and_refuse_bad_trees():
  params = {
    "encoder": {
      "emb": np.arange(3.0),
      **{f"layer_{i}": {"w": np.full((2, 2), i), "b": np.full(2, -i)} for i in range(3)},
    },
    "head": {"w": np.ones(4)},
  }
  stacked = stack_layers(params)
  assert sorted(stacked["encoder"]) == ["emb", "layers"]
  np.testing.assert_array_equal(stacked["encoder"]["layers"]["w"][:, 0, 0], [0, 1, 2])
  back = unstack_layers(stacked)
  assert jax.tree.structure(back) == jax.tree.structure(params)
  for got, want in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
    np.testing.assert_array_equal(got, want)
  assert match_layer_layout(params, stacked)["encoder"]["layers"]["b"].shape == (3, 2)
  assert sorted(match_layer_layout(stacked, params)["encoder"]) == ["emb", "layer_0", "layer_1", "layer_2"]
  with pytest.raises(ValueError, match="without gaps"):
    stack_layers({"layer_0": {"w": np.ones(1)}, "layer_2": {"w": np.ones(1)}})
  with pytest.raises(ValueError, match="parameter trees differ"):
    stack_layers({"layer_0": {"w": np.ones(1)}, "layer_1": {"v": np.ones(1)}})


# ------------------------------------------------------------------------------ same loss and gradients
@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_remat_keeps_loss_gradients_and_dropout_masks(family):
  """Dropout on: remat recomputes with the same keys, so every policy gives the plain stack's numbers."""
  cfg = encoder_config(family)
  params = plain_params(cfg)
  want_loss, want_grads = loss_and_grads(cfg, params, deterministic=False)
  no_dropout, _ = loss_and_grads(cfg, params, deterministic=True)
  assert abs(no_dropout - want_loss) > 1e-3 * abs(want_loss)  # dropout really changes the loss
  for policy in POLICIES:
    loss, grads = loss_and_grads(dataclasses.replace(cfg, remat_policy=policy), params, deterministic=False)
    assert loss == pytest.approx(want_loss, rel=1e-5), policy
    assert_trees_close(grads, want_grads)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["bert", "roberta", "deberta", "t5"])
def test_scan_with_and_without_remat_matches_the_plain_stack(family):
  cfg = encoder_config(family)
  params = plain_params(cfg)
  want_loss, want_grads = loss_and_grads(cfg, params, deterministic=True)
  stacked = stack_layers(params)
  for policy in ["none", *POLICIES]:
    scan_cfg = dataclasses.replace(cfg, scan_layers=True, remat_policy=policy)
    loss, grads = loss_and_grads(scan_cfg, stacked, deterministic=True)
    assert loss == pytest.approx(want_loss, rel=1e-5), policy
    assert_trees_close(unstack_layers(grads), want_grads)
  # With dropout on, scan runs (its masks come from split keys, so its loss is its own) and stays finite.
  loss, grads = loss_and_grads(dataclasses.replace(cfg, scan_layers=True), stacked, deterministic=False)
  assert np.isfinite(loss) and all(np.isfinite(g).all() for g in jax.tree.leaves(grads))


# ------------------------------------------------------------------------------------ full train steps
def _train_config(family: str, remat_policy: str, scan_layers: bool, encoder_dropout: float):
  from configs import tiny

  config = tiny.get_config()
  fields = {k: v for k, v in FAMILIES[family].items() if k != "model_type"}
  config.model.encoder = dict(
    config.model.encoder,
    model_type=FAMILIES[family]["model_type"],
    **fields,
    hidden_dropout_prob=encoder_dropout,
    attention_probs_dropout_prob=encoder_dropout,
  )
  config.model.update(remat_policy=remat_policy, scan_layers=scan_layers)
  config.recipe.update(token_buckets=(64,), word_buckets=(32,), type_buckets=(8,), max_tokens=64)
  config.train.update(batch_size=4)
  return config


def _run_steps(config, params, steps: int = 3):
  """`steps` train steps from `params` (None: the run's own init; converted to the model's layout): the losses,
  grad norms, and the initial and final params (unscanned)."""
  from gliner_jax.data.recipe import RecipeConfig
  from gliner_jax.processing.prompts import PromptTokenizer
  from gliner_jax.training import loop
  from gliner_jax.training import sharding as shd
  from gliner_jax.training.data import load_examples, make_train_iterator

  parts = loop.build(config)
  fresh = loop.initial_state(parts, seed=0)
  params = fresh["params"] if params is None else match_layer_layout(params, fresh["params"])
  initial = unstack_layers(jax.tree.map(np.asarray, jax.device_get(params)))
  state = {"step": fresh["step"], "params": params, "opt_state": parts.tx.init(params)}
  state = jax.device_put(state, parts.state_shardings)
  recipe = RecipeConfig.from_model_config(parts.config, batch_size=config.train.batch_size, **dict(config.recipe))
  prompts = PromptTokenizer(parts.start.tokenizer, parts.config)
  batches = make_train_iterator(load_examples(config.data.train), prompts, recipe, seed=0)
  losses, norms = [], []
  for _ in range(steps):
    state, metrics = parts.train_step(state, shd.shard_batch(next(batches), parts.batch_sharding), jax.random.key(1))
    metrics = jax.device_get(metrics)
    assert metrics["finite"]
    losses.append(float(metrics["loss"]))
    norms.append(float(metrics["grad_norm"]))
  return losses, norms, initial, unstack_layers(jax.tree.map(np.asarray, jax.device_get(state["params"])))


@pytest.mark.slow
@pytest.mark.parametrize("family", ["bert", "deberta"])
def test_train_steps_agree_plain_remat_scan(family):
  """loop.build's train step, 3 steps from the same parameters. Encoder dropout is 0 so scan's own masks do
  not enter (the span head's dropout and negative sampling are on and shared); remat alone is also checked
  with encoder dropout on."""
  plain_losses, plain_norms, start, plain_final = _run_steps(_train_config(family, "none", False, 0.0), None)
  for policy, scan in [("nothing_saveable", False), ("none", True), ("dots_saveable", True)]:
    losses, norms, initial, final = _run_steps(_train_config(family, policy, scan, 0.0), start)
    assert_trees_close(initial, start, rtol=0.0)
    np.testing.assert_allclose(losses, plain_losses, rtol=1e-5, err_msg=f"{policy} scan={scan}")
    np.testing.assert_allclose(norms, plain_norms, rtol=1e-5, err_msg=f"{policy} scan={scan}")
    assert_trees_close(final, plain_final, rtol=1e-5)
  dropout_losses, _, _, dropout_final = _run_steps(_train_config(family, "none", False, 0.1), start)
  remat_losses, _, _, remat_final = _run_steps(_train_config(family, "dots_saveable", False, 0.1), start)
  assert abs(dropout_losses[0] - plain_losses[0]) > 1e-4 * abs(plain_losses[0])  # encoder dropout is on
  np.testing.assert_allclose(remat_losses, dropout_losses, rtol=1e-5)
  assert_trees_close(remat_final, dropout_final, rtol=1e-5)


@pytest.mark.slow
def test_checkpoint_on_disk_keeps_the_unscanned_layout(tmp_path):
  from gliner_jax.interop.checkpoint import load_checkpoint, save_checkpoint
  from gliner_jax.model.config import GLiNERConfig

  cfg = GLiNERConfig(encoder=encoder_config("bert"), hidden_size=16, scan_layers=True, remat_policy="dots_saveable")
  params = {"encoder": stack_layers(plain_params(cfg.encoder)), "head": {"w": np.ones(3, np.float32)}}
  save_checkpoint(str(tmp_path), cfg, params)
  loaded_cfg, loaded = load_checkpoint(str(tmp_path))
  assert sorted(loaded["encoder"]) == ["embeddings", "layer_0", "layer_1", "layer_2"]
  assert (loaded_cfg.scan_layers, loaded_cfg.remat_policy) == (False, "dots_saveable")
  for got, want in zip(jax.tree.leaves(loaded), jax.tree.leaves(unstack_layers(params))):
    np.testing.assert_array_equal(got, want)
