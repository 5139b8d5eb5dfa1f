"""Parity of gliner_jax.training.losses with gliner 0.2.29's span-model loss, plus negative-sampling properties."""

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from gliner.modeling.base import BaseModel, UniEncoderSpanModel

from gliner_jax.training import losses

torch.set_num_threads(1)

B, L, K, C = 3, 7, 4, 5


def reference_loss(logits, labels, span_mask, type_mask, dtype=torch.float64, **kw):
  """Runs the reference span-model loss method on torch copies of the numpy inputs."""
  owner = types.SimpleNamespace(_loss=functools.partial(BaseModel._loss, None))
  return UniEncoderSpanModel.loss(
    owner,
    torch.tensor(logits, dtype=dtype),
    torch.tensor(labels, dtype=dtype),
    torch.tensor(type_mask),
    torch.tensor(span_mask),
    **kw,
  ).item()


@pytest.fixture(scope="module")
def batch():
  """Random 4-D inputs with padded spans/types and some logits beyond the 1e-6 log floor."""
  rng = np.random.default_rng(0)
  logits = (rng.standard_normal((B, L, K, C)) * 4.0).astype(np.float32)
  logits[0, 0, 0, :2] = [20.0, -20.0]
  labels = (rng.random((B, L, K, C)) < 0.15).astype(np.float32)
  span_mask = rng.random((B, L, K)) < 0.8
  type_mask = np.ones((B, C), dtype=np.int64)
  type_mask[1, 3:] = 0
  type_mask[2, 4:] = 0
  labels[1, :, :, 3:] = 0
  labels[2, :, :, 4:] = 0
  labels[~span_mask] = 0
  labels[0, 0, 0, :2] = [0.0, 1.0]  # saturated wrong predictions
  return logits, labels, span_mask, type_mask


FOCAL_CASES = [
  dict(),
  dict(alpha=0.25),
  dict(gamma=2.0),
  dict(alpha=0.75, gamma=0.5),
  dict(label_smoothing=0.1),
  dict(alpha=0.6, gamma=1.5, label_smoothing=0.2),
  dict(prob_margin=0.1),
  dict(alpha=0.3, gamma=2.0, prob_margin=0.05, label_smoothing=0.05),
]


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("case", FOCAL_CASES, ids=str)
def test_focal_matches_reference(batch, case, reduction):
  logits, labels, span_mask, type_mask = batch
  ref = reference_loss(logits, labels, span_mask, type_mask, reduction=reduction, **case)
  ours = losses.span_loss(logits, labels, span_mask, type_mask, reduction=reduction, **case)
  assert ours.dtype == jnp.float32
  np.testing.assert_allclose(float(ours), ref, rtol=1e-5)


@pytest.mark.parametrize("case", FOCAL_CASES[:4], ids=str)
def test_matches_reference_run_in_float32(batch, case):
  logits, labels, span_mask, type_mask = batch
  small = np.clip(logits, -6, 6)  # where torch's float32 `1 - sigmoid` does not cancel badly
  ref = reference_loss(small, labels, span_mask, type_mask, dtype=torch.float32, **case)
  ours = losses.span_loss(small, labels, span_mask, type_mask, **case)
  np.testing.assert_allclose(float(ours), ref, rtol=1e-5)


def test_flat_layout_and_none_reduction(batch):
  logits, labels, span_mask, type_mask = batch
  flat = lambda a: a.reshape(B, L * K, *a.shape[3:])
  kw = dict(alpha=0.4, gamma=1.0)
  four_d = losses.span_loss(logits, labels, span_mask, type_mask, **kw)
  three_d = losses.span_loss(flat(logits), flat(labels), flat(span_mask), type_mask, **kw)
  per = losses.span_loss(logits, labels, span_mask, type_mask, reduction="none", **kw)
  assert per.shape == logits.shape
  np.testing.assert_allclose(float(three_d), float(four_d), rtol=1e-6)
  np.testing.assert_allclose(float(per.sum()), float(four_d), rtol=1e-6)
  assert np.all(np.asarray(per)[~span_mask] == 0)
  assert np.all(np.asarray(per)[1, ..., 3:] == 0)
  assert np.all(np.asarray(per)[span_mask][:, :3] > 0)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("dice_gamma", [0.0, 1.0, 2.5])
def test_dice_matches_reference(batch, dice_gamma, reduction):
  logits, labels, span_mask, type_mask = batch
  kw = dict(loss_type="dice", dice_gamma=dice_gamma, reduction=reduction)
  ref = reference_loss(logits, labels, span_mask, type_mask, **kw)
  ours = losses.span_loss(logits, labels, span_mask, type_mask, **kw)
  np.testing.assert_allclose(float(ours), ref, rtol=1e-5)


def test_bce_ignores_alpha_gamma(batch):
  logits, labels, span_mask, type_mask = batch
  ref = reference_loss(logits, labels, span_mask, type_mask)
  ours = losses.span_loss(logits, labels, span_mask, type_mask, loss_type="bce", alpha=0.3, gamma=2.0)
  np.testing.assert_allclose(float(ours), ref, rtol=1e-5)


@pytest.mark.parametrize("case", [dict(), dict(alpha=0.25, gamma=2.0)], ids=str)
def test_span_width_weight_matches_reference(batch, case):
  logits, labels, span_mask, type_mask = batch
  ref = reference_loss(logits, labels, span_mask, type_mask, use_span_width_weight=True, **case)
  ours = losses.span_loss(logits, labels, span_mask, type_mask, span_width_weight=True, **case)
  flat = lambda a: a.reshape(B, L * K, *a.shape[3:])
  ours_flat = losses.span_loss(
    flat(logits), flat(labels), flat(span_mask), type_mask, span_width_weight=True, max_width=K, **case
  )
  np.testing.assert_allclose(float(ours), ref, rtol=1e-5)
  np.testing.assert_allclose(float(ours_flat), ref, rtol=1e-5)


def test_mean_with_no_valid_span_is_zero(batch):
  logits, labels, _, type_mask = batch
  none_valid = np.zeros((B, L, K), bool)
  assert reference_loss(logits, labels, none_valid, type_mask, reduction="mean") == 0.0
  assert float(losses.span_loss(logits, labels, none_valid, type_mask, reduction="mean")) == 0.0


def test_ignore_index_elements_contribute_nothing(batch):
  logits, labels, span_mask, type_mask = batch
  ignored = labels.copy()
  ignored[0, 1] = losses.IGNORE_INDEX
  ref = reference_loss(logits, ignored, span_mask, type_mask, gamma=2.0, alpha=0.25)
  ours = losses.span_loss(logits, ignored, span_mask, type_mask, gamma=2.0, alpha=0.25)
  np.testing.assert_allclose(float(ours), ref, rtol=1e-5)
  per = losses.span_loss(logits, ignored, span_mask, type_mask, reduction="none")
  assert np.all(np.asarray(per)[0, 1] == 0)


@pytest.mark.parametrize("masking", ["global", "label", "span"])
def test_negatives_one_is_no_masking(batch, masking):
  logits, labels, span_mask, type_mask = batch
  plain = losses.span_loss(logits, labels, span_mask, type_mask, masking="none")
  sampled = losses.span_loss(
    logits, labels, span_mask, type_mask, masking=masking, negatives=1.0, key=jax.random.key(3)
  )
  assert float(sampled) == float(plain)


@pytest.mark.parametrize("masking", ["global", "label", "span"])
def test_negatives_zero_matches_reference(batch, masking):
  """With ratio 0 the reference's random draw is deterministic (drop every candidate)."""
  logits, labels, span_mask, type_mask = batch
  labels = labels.copy()
  labels[0, :, :, 4] = 0  # a type with no positive span, for masking="label"
  kw = dict(alpha=0.25, gamma=2.0, negatives=0.0, masking=masking)
  ref = reference_loss(logits, labels, span_mask, type_mask, **kw)
  ours = losses.span_loss(logits, labels, span_mask, type_mask, key=jax.random.key(0), **kw)
  np.testing.assert_allclose(float(ours), ref, rtol=1e-5)
  full = losses.span_loss(logits, labels, span_mask, type_mask, alpha=0.25, gamma=2.0)
  assert float(ours) < float(full)


def test_negative_sampling_properties(batch):
  logits, labels, span_mask, type_mask = batch
  big_labels = np.zeros((4, 500, 6), np.float32)
  big_labels[:, ::7, 1] = 1.0
  mask = losses.negative_keep_mask(big_labels, negatives=0.3, masking="global", key=jax.random.key(1))
  mask = np.asarray(mask)
  assert np.all(mask[big_labels == 1] == 1)
  kept = mask[big_labels == 0].mean()
  assert 0.27 < kept < 0.33
  again = losses.negative_keep_mask(big_labels, negatives=0.3, masking="global", key=jax.random.key(1))
  other = losses.negative_keep_mask(big_labels, negatives=0.3, masking="global", key=jax.random.key(2))
  np.testing.assert_array_equal(np.asarray(again), mask)
  assert np.any(np.asarray(other) != mask)

  # Gradients: dropped negatives get none, positives always do.
  flat = lambda a: a.reshape(B, L * K, *a.shape[3:])
  x, y, sm = flat(logits), flat(labels), flat(span_mask)
  key = jax.random.key(5)
  grad = jax.grad(lambda z: losses.span_loss(z, y, sm, type_mask, gamma=1.0, negatives=0.5, masking="global", key=key))(
    jnp.asarray(x)
  )
  keep = np.asarray(losses.negative_keep_mask(y, negatives=0.5, masking="global", key=key))
  # Elements beyond the 1e-6 log floor are saturated (no gradient, as in the reference).
  valid = sm[:, :, None] & (type_mask[:, None, :] != 0) & (np.abs(x) < 13)
  grad = np.asarray(grad)
  assert np.all(grad[(keep == 0)] == 0)
  assert np.all(grad[(y == 1) & valid] != 0)
  assert np.all(grad[(y == 0) & valid & (keep == 1)] != 0)
  assert 0 < (keep[(y == 0) & valid] == 0).sum() < ((y == 0) & valid).sum()


def test_label_and_span_candidates():
  labels = np.zeros((1, 3, 2), np.float32)
  labels[0, 0, 0] = 1.0  # type 1 never positive; spans 1 and 2 never positive
  by_label = np.asarray(losses.negative_keep_mask(labels, negatives=0.0, masking="label", key=jax.random.key(0)))
  by_span = np.asarray(losses.negative_keep_mask(labels, negatives=0.0, masking="span", key=jax.random.key(0)))
  np.testing.assert_array_equal(by_label[0], [[1, 0], [1, 0], [1, 0]])
  np.testing.assert_array_equal(by_span[0], [[1, 1], [0, 0], [0, 0]])


@pytest.mark.parametrize(
  "case",
  [
    dict(),
    dict(alpha=0.25, gamma=2.0),
    dict(gamma=0.5, label_smoothing=0.1),
    dict(gamma=0.3, prob_margin=0.1),
    dict(loss_type="dice", dice_gamma=0.5),
    dict(eps=None, gamma=0.5),
    dict(reduction="mean", span_width_weight=True),
  ],
  ids=str,
)
def test_gradient_finite_at_extreme_logits(case):
  x = jnp.array([[[1e4, -1e4, 1e4, -1e4, 0.0, 30.0]]], jnp.float32).reshape(1, 2, 1, 3)
  y = jnp.array([[[1.0, 1.0, 0.0, 0.0, 1.0, 0.0]]]).reshape(1, 2, 1, 3)
  fn = lambda z: losses.span_loss(z, y, jnp.ones((1, 2, 1)), jnp.ones((1, 3)), **case)
  value, grad = jax.value_and_grad(fn)(x)
  assert np.isfinite(float(value))
  assert np.all(np.isfinite(np.asarray(grad)))


def test_unfloored_loss_is_exact_bce_at_extremes():
  x = jnp.array([[[-50.0, 50.0]]])
  y = jnp.array([[[1.0, 0.0]]])
  ours = losses.span_loss(x, y, jnp.ones((1, 1)), jnp.ones((1, 2)), eps=None)
  floored = losses.span_loss(x, y, jnp.ones((1, 1)), jnp.ones((1, 2)))
  np.testing.assert_allclose(float(ours), 100.0, rtol=1e-6)
  np.testing.assert_allclose(float(floored), -2 * np.log(1e-6), rtol=1e-6)


def test_bfloat16_logits_computed_in_float32(batch):
  logits, labels, span_mask, type_mask = batch
  bf = jnp.asarray(logits, jnp.bfloat16)
  ours = losses.span_loss(bf, labels, span_mask, type_mask, alpha=0.25, gamma=2.0)
  ref = losses.span_loss(bf.astype(jnp.float32), labels, span_mask, type_mask, alpha=0.25, gamma=2.0)
  assert ours.dtype == jnp.float32
  assert float(ours) == float(ref)


def test_jit_and_config(batch):
  logits, labels, span_mask, type_mask = batch
  cfg = losses.SpanLossConfig(alpha=0.25, gamma=2.0, negatives=0.5, reduction="mean")
  fn = jax.jit(lambda a, b, c, d, k: cfg.apply(a, b, c, d, key=k))
  eager = cfg.apply(logits, labels, span_mask, type_mask, key=jax.random.key(7))
  jitted = fn(logits, labels, span_mask, type_mask, jax.random.key(7))
  np.testing.assert_allclose(float(jitted), float(eager), rtol=1e-6)
  assert losses.SpanLossConfig.from_dict({"gamma": 2.0}).gamma == 2.0


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(reduction="avg"), "reduction"),
    (dict(masking="random"), "masking"),
    (dict(loss_type="ce"), "loss_type"),
    (dict(label_smoothing=1.5), "label_smoothing"),
    (dict(negatives=-0.1), "negatives"),
    (dict(negatives=0.5), "key"),
    (dict(span_width_weight=True, logits_shape=(B, L * K, C)), "max_width"),
  ],
)
def test_bad_options_raise(batch, kwargs, match):
  logits, labels, span_mask, type_mask = batch
  shape = kwargs.pop("logits_shape", None)
  if shape is not None:
    logits, labels, span_mask = (a.reshape(B, L * K, *a.shape[3:]) for a in (logits, labels, span_mask))
  with pytest.raises(ValueError, match=match):
    losses.span_loss(logits, labels, span_mask, type_mask, **kwargs)


@pytest.mark.parametrize(
  "which, match",
  [
    ("labels", "labels shape"),
    ("span_mask", "span_mask shape"),
    ("type_mask", "type_mask shape"),
    ("logits", "logits must be"),
  ],
)
def test_bad_shapes_raise(batch, which, match):
  args = dict(zip(("logits", "labels", "span_mask", "type_mask"), batch))
  args[which] = args[which][..., :-1] if which != "logits" else args[which][0, 0]
  with pytest.raises(ValueError, match=match):
    losses.span_loss(**args)
  with pytest.raises(ValueError, match="unknown"):
    losses.SpanLossConfig.from_dict({"gama": 2.0})
