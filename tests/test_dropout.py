"""HashDropout: keep rate, scaling, independence between positions and keys, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gliner_jax.model.dropout import HashDropout, flat_positions, hash_dropout, keep_mask

SHAPE = (4, 64, 12, 512)  # 1.5M elements, a span-head-like tensor


@pytest.mark.parametrize("rate", [0.1, 0.4, 0.9])
def test_keep_fraction_and_scaling(rate):
  x = jnp.ones(SHAPE)
  y = np.asarray(hash_dropout(x, rate, jax.random.key(3)))
  n = y.size
  kept = (y != 0).mean()
  assert abs(kept - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
  np.testing.assert_allclose(np.unique(y), [0.0, 1.0 / (1 - rate)], rtol=1e-6)
  assert abs(y.mean() - 1.0) < 5 * np.sqrt(rate / (1 - rate) / n)


@pytest.mark.parametrize("lag", [1, 2, 512, 512 * 12, 512 * 12 * 64])
def test_neighbouring_positions_are_uncorrelated(lag):
  m = np.asarray(keep_mask(jax.random.key(0), SHAPE, 0.5), np.float64).ravel()
  corr = np.corrcoef(m[:-lag], m[lag:])[0, 1]
  assert abs(corr) < 5 / np.sqrt(m.size - lag)


def test_keys_give_independent_masks_and_a_key_gives_the_same_mask():
  p = 0.6
  a = np.asarray(keep_mask(jax.random.key(0), SHAPE, p))
  b = np.asarray(keep_mask(jax.random.key(1), SHAPE, p))
  c = np.asarray(keep_mask(jax.random.fold_in(jax.random.key(0), 1), SHAPE, p))
  expected = p * p + (1 - p) * (1 - p)  # agreement rate of two independent masks
  for other in (b, c):
    assert abs((a == other).mean() - expected) < 5 * np.sqrt(expected * (1 - expected) / a.size)
  np.testing.assert_array_equal(a, np.asarray(keep_mask(jax.random.key(0), SHAPE, p)))


def test_flat_positions_are_row_major():
  np.testing.assert_array_equal(np.asarray(flat_positions((3, 4, 5))), np.arange(60).reshape(3, 4, 5))


def test_gradient_is_the_scaled_mask():
  x = jax.random.normal(jax.random.key(5), (8, 33))
  key = jax.random.key(9)
  g = jax.grad(lambda v: jnp.sum(hash_dropout(v, 0.25, key)))(x)
  expected = np.asarray(keep_mask(key, x.shape, 0.75), np.float32) / 0.75
  np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-6)


def test_module_is_identity_when_deterministic_or_rate_zero_and_uses_the_dropout_rng():
  x = jnp.arange(12.0).reshape(3, 4) + 1
  np.testing.assert_array_equal(HashDropout(0.5).apply({}, x, deterministic=True), x)
  np.testing.assert_array_equal(HashDropout(0.0).apply({}, x, deterministic=False), x)
  key = jax.random.key(2)
  y1 = HashDropout(0.5).apply({}, x, deterministic=False, rngs={"dropout": key})
  y2 = HashDropout(0.5).apply({}, x, deterministic=False, rngs={"dropout": key})
  np.testing.assert_array_equal(y1, y2)
  assert set(np.unique(np.asarray(y1))) <= set(np.unique(np.concatenate([[0.0], 2 * np.asarray(x).ravel()])))
  with pytest.raises(Exception, match="dropout"):
    HashDropout(0.5).apply({}, x, deterministic=False)  # no rng given


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_bad_rate_is_refused(rate):
  with pytest.raises(ValueError, match="dropout rate must be in"):
    hash_dropout(jnp.ones(3), rate, jax.random.key(0))


def test_bfloat16_input_keeps_its_dtype():
  y = hash_dropout(jnp.ones((64, 64), jnp.bfloat16), 0.5, jax.random.key(0))
  assert y.dtype == jnp.bfloat16
  assert set(np.unique(np.asarray(y, np.float32))) == {0.0, 2.0}
