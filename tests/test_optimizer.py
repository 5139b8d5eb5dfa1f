"""Tests of gliner_jax.training.optimizer: schedules, grouped AdamW, clipping, no-decay mask, torch parity."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
import torch
import transformers

from gliner_jax.training import optimizer as opt

torch.set_num_threads(1)

SHAPES = {
  "encoder": {
    "embeddings": {"embedding": (10, 4)},
    "layer_0": {"dense": {"kernel": (4, 4), "bias": (4,)}, "norm": {"scale": (4,), "bias": (4,)}},
  },
  "proj": {"kernel": (4, 3), "bias": (3,)},
  "rnn": {"gate_vector": (3,)},
  "span_rep": {"out": {"kernel": (3, 3)}},
  "temperature": (),
}
EXPECTED_LABELS = {
  "encoder": {
    "embeddings": {"embedding": "encoder/decay"},
    "layer_0": {
      "dense": {"kernel": "encoder/decay", "bias": "encoder/no_decay"},
      "norm": {"scale": "encoder/no_decay", "bias": "encoder/no_decay"},
    },
  },
  "proj": {"kernel": "head/decay", "bias": "head/no_decay"},
  "rnn": {"gate_vector": "head/no_decay"},
  "span_rep": {"out": {"kernel": "head/decay"}},
  "temperature": "head/no_decay",
}


def _is_shape(x):
  return isinstance(x, tuple) and all(isinstance(d, int) for d in x)


def random_tree(seed, scale=1.0):
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map(
    lambda s: jnp.asarray(rng.standard_normal(s) * scale, jnp.float32), SHAPES, is_leaf=_is_shape
  )


def flat_items(tree):
  return {opt.path_names(p): np.asarray(v) for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def hf_factor(kind, warmup, total):
  """The reference's schedule multiplier (Hugging Face's get_scheduler lambda)."""
  param = torch.nn.Parameter(torch.zeros(1))
  sgd = torch.optim.SGD([param], lr=1.0)
  sched = transformers.get_scheduler(kind, sgd, num_warmup_steps=warmup, num_training_steps=total)
  return lambda step: sched.lr_lambdas[0](step)


def hand_adamw(params, grads_seq, *, lrs, wds, labels, b1, b2, eps, max_norm=None):
  """Plain numpy AdamW (decoupled decay, bias-corrected moments); `labels` maps path -> group."""
  p = {k: v.astype(np.float64) for k, v in flat_items(params).items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: np.zeros_like(x) for k, x in p.items()}
  for t, grads in enumerate(grads_seq):
    g = {k: x.astype(np.float64) for k, x in flat_items(grads).items()}
    if max_norm is not None:
      norm = math.sqrt(sum(float((x**2).sum()) for x in g.values()))
      if norm > max_norm:
        g = {k: x * max_norm / norm for k, x in g.items()}
    for k in p:
      group, decay = labels[k].split("/")
      lr, wd = lrs[group](t), (wds[group] if decay == "decay" else 0.0)
      m[k] = b1 * m[k] + (1 - b1) * g[k]
      v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
      m_hat, v_hat = m[k] / (1 - b1 ** (t + 1)), v[k] / (1 - b2 ** (t + 1))
      p[k] = p[k] - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * p[k])
  return p


def run_optax(tx, params, grads_seq):
  state = tx.init(params)
  for grads in grads_seq:
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  return params


LABELS_FLAT = {opt.path_names(p): v for p, v in jax.tree_util.tree_flatten_with_path(EXPECTED_LABELS)[0]}


def test_no_decay_mask_picks_biases_norms_and_vectors():
  assert opt.param_labels(random_tree(0)) == EXPECTED_LABELS


def test_labels_on_boxed_params_with_params_collection():
  class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x):
      x = nn.Dense(
        4,
        kernel_init=nn.with_logical_partitioning(nn.initializers.lecun_normal(), ("embed", "mlp")),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("mlp",)),
        name="encoder",
      )(x)
      x = nn.LayerNorm(
        scale_init=nn.with_logical_partitioning(nn.initializers.ones, ("norm",)),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("norm",)),
        name="ln",
      )(x)
      return nn.Dense(
        2,
        kernel_init=nn.with_logical_partitioning(nn.initializers.lecun_normal(), ("mlp", "embed")),
        use_bias=False,
        name="head",
      )(x)

  variables = Tiny().init(jax.random.key(0), jnp.ones((1, 3)))
  assert isinstance(variables["params"]["encoder"]["kernel"], nn.LogicallyPartitioned)
  labels = nn.meta.unbox(opt.param_labels(variables))
  assert labels == {
    "params": {
      "encoder": {"kernel": "encoder/decay", "bias": "encoder/no_decay"},
      "ln": {"scale": "head/no_decay", "bias": "head/no_decay"},
      "head": {"kernel": "head/decay"},
    }
  }

  cfg = opt.OptimizerConfig(total_steps=5, warmup_steps=0, max_grad_norm=None)
  tx, _ = opt.make_optimizer(cfg)
  grads = jax.tree_util.tree_map(jnp.ones_like, variables)
  boxed = nn.meta.unbox(run_optax(tx, variables, [grads, grads]))
  plain = run_optax(tx, nn.meta.unbox(variables), nn.meta.unbox([grads, grads]))
  jax.tree_util.tree_map(np.testing.assert_array_equal, boxed, plain)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedules_match_reference_scheduler(kind):
  cfg = opt.OptimizerConfig(total_steps=50, warmup_ratio=0.1, scheduler=kind)
  _, schedules = opt.make_optimizer(cfg)
  factor = hf_factor(kind, 5, 50)
  steps = np.arange(51)
  np.testing.assert_allclose(
    np.asarray(jax.vmap(schedules.encoder)(steps)), [1e-5 * factor(s) for s in steps], rtol=1e-6, atol=1e-12
  )
  np.testing.assert_allclose(
    np.asarray(jax.vmap(schedules.head)(steps)), [5e-5 * factor(s) for s in steps], rtol=1e-6, atol=1e-12
  )


def test_schedule_values_at_chosen_steps():
  lin = opt.make_schedule(1.0, total_steps=100, warmup_steps=10, kind="linear")
  cos = opt.make_schedule(1.0, total_steps=100, warmup_steps=10, kind="cosine")
  const = opt.make_schedule(1.0, total_steps=100, warmup_steps=10, kind="constant")
  floor = opt.make_schedule(2.0, total_steps=100, warmup_steps=10, kind="cosine", min_lr_ratio=0.1)
  for step, want in [(0, 0.0), (5, 0.5), (10, 1.0), (55, 0.5), (100, 0.0), (150, 0.0)]:
    assert float(lin(step)) == pytest.approx(want, abs=1e-7)
  for step, want in [
    (0, 0.0),
    (4, 0.4),
    (10, 1.0),
    (32.5, 0.5 * (1 + math.cos(math.pi / 4))),
    (55, 0.5),
    (100, 0.0),
    (150, 0.0),
  ]:
    assert float(cos(step)) == pytest.approx(want, abs=1e-7)
  for step, want in [(3, 0.3), (10, 1.0), (99, 1.0)]:
    assert float(const(step)) == pytest.approx(want, abs=1e-7)
  assert float(floor(100)) == pytest.approx(0.2, abs=1e-7)
  assert float(floor(55)) == pytest.approx(2.0 * (0.1 + 0.9 * 0.5), abs=1e-6)


def test_warmup_steps_and_learning_rates():
  assert opt.OptimizerConfig(total_steps=25, warmup_ratio=0.1).num_warmup_steps == 3  # ceil(2.5)
  assert opt.OptimizerConfig(total_steps=25, warmup_steps=7).num_warmup_steps == 7
  _, schedules = opt.make_optimizer(opt.OptimizerConfig(total_steps=100, scheduler="linear"))
  lrs = schedules.learning_rates(5)
  assert set(lrs) == {"encoder", "head"}
  assert float(lrs["encoder"]) == pytest.approx(0.5e-5, rel=1e-6)
  assert float(lrs["head"]) == pytest.approx(2.5e-5, rel=1e-6)
  assert float(schedules(10)["head"]) == pytest.approx(5e-5, rel=1e-6)


def test_defaults_follow_gliner_recipe():
  cfg = opt.OptimizerConfig()
  assert (cfg.encoder_lr, cfg.head_lr, cfg.encoder_weight_decay, cfg.head_weight_decay) == (1e-5, 5e-5, 0.01, 0.01)
  assert (cfg.warmup_ratio, cfg.max_grad_norm, cfg.b1, cfg.b2, cfg.eps) == (0.1, 1.0, 0.9, 0.999, 1e-8)


CFG = opt.OptimizerConfig(
  total_steps=10,
  encoder_lr=1e-2,
  head_lr=3e-2,
  encoder_weight_decay=0.1,
  head_weight_decay=0.3,
  warmup_steps=0,
  scheduler="linear",
  max_grad_norm=None,
  eps=1e-8,
)


def lrs_of(cfg):
  _, schedules = opt.make_optimizer(cfg)
  return {"encoder": lambda t: float(schedules.encoder(t)), "head": lambda t: float(schedules.head(t))}


def test_first_update_equals_hand_computed_adamw():
  params, grads = random_tree(0), random_tree(1)
  tx, _ = opt.make_optimizer(CFG)
  updates, _ = tx.update(grads, tx.init(params), params)
  p, g, u = flat_items(params), flat_items(grads), flat_items(updates)
  lr = {"encoder": 1e-2, "head": 3e-2}
  wd = {"encoder": 0.1, "head": 0.3}
  for k, label in LABELS_FLAT.items():
    group, decay = label.split("/")
    # first Adam step: m_hat = g, v_hat = g^2
    want = -lr[group] * (g[k] / (np.abs(g[k]) + 1e-8) + (wd[group] if decay == "decay" else 0.0) * p[k])
    # atol: optax forms the bias correction 1 - b2**t in float32 (relative error ~1e-5).
    np.testing.assert_allclose(u[k], want, rtol=1e-5, atol=1e-6, err_msg=str(k))


def test_three_updates_equal_hand_computed_adamw():
  params = random_tree(0)
  grads_seq = [random_tree(s) for s in (1, 2, 3)]
  tx, _ = opt.make_optimizer(CFG)
  got = flat_items(run_optax(tx, params, grads_seq))
  want = hand_adamw(
    params,
    grads_seq,
    lrs=lrs_of(CFG),
    wds={"encoder": 0.1, "head": 0.3},
    labels=LABELS_FLAT,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
  )
  for k in want:
    np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=str(k))


@pytest.mark.parametrize("grad_scale, clipped", [(10.0, True), (0.05, False)])
def test_clipping_by_global_norm(grad_scale, clipped):
  # A large eps makes Adam's first step depend on the gradient scale, so clipping is visible.
  cfg = CFG.replace(max_grad_norm=1.0, eps=1.0)
  params = random_tree(0)
  grads = random_tree(1, scale=grad_scale)
  norm = float(optax.tree.norm(grads))
  assert (norm > 1.0) == clipped
  tx, _ = opt.make_optimizer(cfg)
  got = flat_items(run_optax(tx, params, [grads]))
  kw = dict(lrs=lrs_of(cfg), wds={"encoder": 0.1, "head": 0.3}, labels=LABELS_FLAT, b1=0.9, b2=0.999, eps=1.0)
  with_clip = hand_adamw(params, [grads], max_norm=1.0, **kw)
  without_clip = hand_adamw(params, [grads], **kw)
  for k in got:
    np.testing.assert_allclose(got[k], with_clip[k], rtol=1e-5, atol=1e-6, err_msg=str(k))
  differs = any(not np.allclose(with_clip[k], without_clip[k], rtol=1e-4) for k in got)
  assert differs == clipped


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_matches_torch_adamw_with_reference_param_groups(kind):
  """Several steps against torch AdamW + HF scheduler + clip_grad_norm_, as the reference trains."""
  cfg = opt.OptimizerConfig(
    total_steps=8,
    warmup_ratio=0.25,
    scheduler=kind,
    encoder_lr=1e-2,
    head_lr=5e-2,
    encoder_weight_decay=0.1,
    head_weight_decay=0.2,
    max_grad_norm=1.0,
  )
  params = random_tree(0)
  grads_seq = [random_tree(10 + s, scale=0.5 if s % 2 else 2.0) for s in range(6)]

  torch_params = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in flat_items(params).items()}
  groups = {}
  for k, label in LABELS_FLAT.items():
    groups.setdefault(label, []).append(torch_params[k])
  torch_opt = torch.optim.AdamW(
    [
      {
        "params": ps,
        "lr": cfg.encoder_lr if lab.startswith("encoder") else cfg.head_lr,
        "weight_decay": 0.0
        if lab.endswith("no_decay")
        else (cfg.encoder_weight_decay if lab.startswith("encoder") else cfg.head_weight_decay),
      }
      for lab, ps in groups.items()
    ],
    betas=(0.9, 0.999),
    eps=1e-8,
  )
  sched = transformers.get_scheduler(kind, torch_opt, num_warmup_steps=2, num_training_steps=8)
  for grads in grads_seq:
    for k, g in flat_items(grads).items():
      torch_params[k].grad = torch.tensor(g)
    torch.nn.utils.clip_grad_norm_(list(torch_params.values()), 1.0)
    torch_opt.step()
    sched.step()

  tx, _ = opt.make_optimizer(cfg)
  got = flat_items(run_optax(tx, params, grads_seq))
  for k, p in torch_params.items():
    np.testing.assert_allclose(got[k], p.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=str(k))
  assert any(not np.allclose(got[k], v) for k, v in flat_items(params).items())


def test_custom_encoder_predicate_and_configdict():
  cd = ml_collections.ConfigDict(dict(total_steps=10, warmup_steps=0, encoder_lr=0.0, head_lr=1e-2, max_grad_norm=None))
  params, grads = random_tree(0), random_tree(1)
  # lr 0 for the encoder group: encoder params (and, with the custom predicate, "proj") stay put
  tx, _ = opt.make_optimizer(cd, is_encoder=lambda path: path[0] in ("encoder", "proj"))
  before, after = flat_items(params), flat_items(run_optax(tx, params, [grads]))
  for k in before:
    frozen = k[0] in ("encoder", "proj")
    assert np.array_equal(before[k], after[k]) == frozen, k
  tx, _ = opt.make_optimizer(
    opt.OptimizerConfig(total_steps=10, warmup_steps=0, encoder_lr=0.0, encoder_key="span_rep", max_grad_norm=None)
  )
  after = flat_items(run_optax(tx, params, [grads]))
  assert np.array_equal(before[("span_rep", "out", "kernel")], after[("span_rep", "out", "kernel")])
  assert not np.array_equal(before[("proj", "kernel")], after[("proj", "kernel")])


def test_jit_update():
  tx, _ = opt.make_optimizer(CFG.replace(max_grad_norm=1.0, warmup_steps=2))
  params, grads = random_tree(0), random_tree(1)
  step = jax.jit(lambda p, s, g: tx.update(g, s, p))
  eager, _ = tx.update(grads, tx.init(params), params)
  jitted, _ = step(params, tx.init(params), grads)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), eager, jitted)


@pytest.mark.parametrize(
  "changes, match",
  [
    (dict(total_steps=0), "total_steps"),
    (dict(scheduler="step"), "scheduler"),
    (dict(warmup_ratio=1.5), "warmup_ratio"),
    (dict(warmup_steps=20, total_steps=10), "warmup_steps"),
    (dict(head_lr=-1.0), "head_lr"),
    (dict(max_grad_norm=0.0), "max_grad_norm"),
    (dict(b2=1.0), "b2"),
    (dict(eps=0.0), "eps"),
  ],
)
def test_bad_config_raises(changes, match):
  with pytest.raises(ValueError, match=match):
    opt.OptimizerConfig(**changes)


def test_bad_config_inputs_raise():
  with pytest.raises(ValueError, match="unknown OptimizerConfig fields"):
    opt.make_optimizer({"total_steps": 10, "lr": 1e-3})
  with pytest.raises(ValueError, match="OptimizerConfig or a mapping"):
    opt.make_optimizer(3)
