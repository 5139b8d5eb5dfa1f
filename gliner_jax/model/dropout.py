"""Dropout whose mask comes from a counter hash instead of jax.random bits.

`flax.linen.Dropout` draws one threefry (or rbg) random number per element. On CPU that costs more
than the layer it regularises: the span head's hidden tensor [B, W, K, 4D] (25M elements for a batch of
8 x 128 words) takes about a second per step to mask, ~15% of a GLiNER train step. Here one key gives two
32-bit seeds, and each element's keep bit is a 32-bit integer hash (two rounds of the `lowbias32` mixer,
C. Wellons) of its flat position and the seeds: elementwise integer ops that XLA fuses into the
consumer, so the mask is never materialised from a random-number kernel.

The mask is a pure function of (key, shape, position), so it is identical however the tensor is sharded
over devices and on every re-run with the same key (resume after preemption sees the same masks).
Positions are counted modulo 2**32 (a tensor of more than 4G elements would repeat its mask pattern).

Example (inside a module: `HashDropout(rate=0.4)(h, deterministic=False)`, with rngs={"dropout": key} in apply):
  >>> import jax, jax.numpy as jnp
  >>> drop = HashDropout(rate=0.5)
  >>> h = drop.apply({}, jnp.ones((2, 4)), deterministic=False, rngs={"dropout": jax.random.key(0)})
  >>> sorted(set(h.ravel().tolist()))  # kept elements are scaled by 1 / (1 - rate)
  [0.0, 2.0]
  >>> bool((drop.apply({}, jnp.ones((2, 4)), deterministic=False, rngs={"dropout": jax.random.key(0)}) == h).all())
  True
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def _mix32(x: jax.Array) -> jax.Array:
  """The lowbias32 integer hash: a bijection on uint32 with good avalanche."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x7FEB352D)
  x = x ^ (x >> 15)
  x = x * jnp.uint32(0x846CA68B)
  return x ^ (x >> 16)


def flat_positions(shape: tuple[int, ...]) -> jax.Array:
  """uint32 row-major position of every element of `shape` (modulo 2**32)."""
  pos = jnp.zeros(shape, jnp.uint32)
  stride = 1
  for axis in range(len(shape) - 1, -1, -1):
    pos = pos + jax.lax.broadcasted_iota(jnp.uint32, shape, axis) * jnp.uint32(stride % 2**32)
    stride *= shape[axis]
  return pos


def keep_mask(key: jax.Array, shape: tuple[int, ...], keep_prob: float) -> jax.Array:
  """Boolean mask, True with probability `keep_prob` per element, from `key` and the positions."""
  seeds = jax.random.bits(key, (2,), jnp.uint32)
  h = _mix32(flat_positions(shape) * jnp.uint32(0x9E3779B1) + seeds[0])
  h = _mix32(h ^ seeds[1])
  threshold = min(int(round(keep_prob * 2.0**32)), 2**32 - 1)
  return h < jnp.uint32(threshold)


def hash_dropout(x: jax.Array, rate: float, key: jax.Array) -> jax.Array:
  """Inverted dropout of `x`: zero with probability `rate`, else scaled by 1 / (1 - rate)."""
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
  if rate == 0.0:
    return x
  keep = keep_mask(key, x.shape, 1.0 - rate)
  return jnp.where(keep, x / jnp.asarray(1.0 - rate, x.dtype), jnp.zeros((), x.dtype))


class HashDropout(nn.Module):
  """Drop-in for `nn.Dropout` (same `rate`, `deterministic` and "dropout" rng collection)."""

  rate: float
  rng_collection: str = "dropout"

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
    if deterministic or self.rate == 0.0:
      return x
    return hash_dropout(x, self.rate, self.make_rng(self.rng_collection))
