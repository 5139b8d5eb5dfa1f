"""Small building blocks of the GLiNER heads: annotated dense layers, the two-layer FFN, the BiLSTM."""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.dropout import HashDropout

Dtype = Any


def dense(
  features: int, axes: Sequence[str | None], *, name: str, dtype: Dtype = jnp.float32, use_bias: bool = True
) -> nn.Dense:
  """An `nn.Dense` whose kernel and bias carry logical axis names.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> layer = dense(8, ("embed", "mlp"), name="up")
    >>> variables = layer.init(jax.random.key(0), jnp.ones((2, 4)))
    >>> variables["params"]["kernel"].names, layer.apply(variables, jnp.ones((2, 4))).shape
    (('embed', 'mlp'), (2, 8))
  """
  return nn.Dense(
    features,
    use_bias=use_bias,
    dtype=dtype,
    param_dtype=jnp.float32,
    kernel_init=nn.with_logical_partitioning(nn.initializers.lecun_normal(), tuple(axes)),
    bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), (axes[-1],)),
    name=name,
  )


class ProjectionFFN(nn.Module):
  """Linear(d_in, e*d_out) -> ReLU -> Dropout -> Linear(e*d_out, d_out), as GLiNER's projection layers.

  The expansion e is 4 (`create_projection_layer`); gliner's "marker" endpoint FFNs use 2.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> ffn = ProjectionFFN(out_features=8, dropout=0.4)
    >>> p = ffn.init(jax.random.key(0), jnp.ones((2, 16)))["params"]
    >>> ffn.apply({"params": p}, jnp.ones((2, 16))).shape, p["dense_in"]["kernel"].value.shape  # 16 -> 4 * 8 -> 8
    ((2, 8), (16, 32))
  """

  out_features: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  in_axis: str = "embed"
  expansion: int = 4

  @nn.compact
  def __call__(self, x: jax.Array, *, deterministic: bool = True) -> jax.Array:
    hidden = self.expansion * self.out_features
    h = nn.relu(dense(hidden, (self.in_axis, "mlp"), name="dense_in", dtype=self.dtype)(x))
    h = HashDropout(self.dropout)(h, deterministic=deterministic)
    return dense(self.out_features, ("mlp", "embed"), name="dense_out", dtype=self.dtype)(h)


class SplitDense(nn.Module):
  """A dense layer over inputs that are the concatenation of parts, with the kernel split by rows.

  `layer(x)` is `nn.Dense(features)` on x of `sum(part_sizes)` features; `layer.terms(parts)` gives each part's
  product with its rows of the kernel (the bias added to the first), so that
  `sum(terms)` == `layer(concatenate(parts))` while the parts may broadcast against each other and the
  concatenation is never built. Parameters: kernel [sum(part_sizes), features] and bias, as nn.Dense.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> layer = SplitDense(8, (4, 4), ("embed", "mlp"))
    >>> x, y = jnp.ones((2, 3, 4)), jnp.full((2, 5, 4), 0.5)
    >>> p = layer.init(jax.random.key(0), jnp.ones((1, 8)))["params"]
    >>> a, b = layer.apply({"params": p}, (x[:, :, None], y[:, None]), method="terms")  # a + b broadcasts
    >>> (a + b).shape
    (2, 3, 5, 8)
    >>> whole = layer.apply({"params": p}, jnp.concatenate([x[:, 0], y[:, 0]], -1))  # the same as one Dense
    >>> bool(jnp.allclose((a + b)[:, 0, 0], whole, atol=1e-6))
    True
  """

  features: int
  part_sizes: tuple[int, ...]
  axes: tuple[str | None, str | None]
  dtype: Dtype = jnp.float32

  def setup(self):
    part = nn.with_logical_partitioning
    self.kernel = self.param(
      "kernel",
      part(nn.initializers.lecun_normal(), tuple(self.axes)),
      (sum(self.part_sizes), self.features),
      jnp.float32,
    )
    self.bias = self.param("bias", part(nn.initializers.zeros_init(), (self.axes[-1],)), (self.features,), jnp.float32)

  def __call__(self, x: jax.Array) -> jax.Array:
    return x.astype(self.dtype) @ self.kernel.astype(self.dtype) + self.bias.astype(self.dtype)

  def terms(self, parts: Sequence[jax.Array]) -> list[jax.Array]:
    if tuple(p.shape[-1] for p in parts) != tuple(self.part_sizes):
      raise ValueError(f"parts of widths {[p.shape[-1] for p in parts]}, expected {list(self.part_sizes)}")
    kernel, out, row = self.kernel.astype(self.dtype), [], 0
    for p in parts:
      out.append(p.astype(self.dtype) @ kernel[row : row + p.shape[-1]])
      row += p.shape[-1]
    out[0] = out[0] + self.bias.astype(self.dtype)
    return out


def _reverse_within_length(x: jax.Array, lengths: jax.Array) -> jax.Array:
  """Reverses each row of x[B, T, ...] within its first `lengths[b]` steps; padding stays in place."""
  t = jnp.arange(x.shape[1])[None, :]
  idx = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
  return jnp.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), axis=1)


class BiLSTM(nn.Module):
  """One bidirectional LSTM layer over words that respects each sequence's length.

  Matches `torch.nn.LSTM(bidirectional=True)` on a packed sequence: gate order (i, f, g, o),
  both directions see only the first `lengths[b]` steps, outputs past the length are zero.
  Output features: 2 * `hidden_per_direction`.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> lstm, x, lengths = BiLSTM(4), jnp.ones((2, 3, 6)), jnp.array([3, 1])
    >>> p = lstm.init(jax.random.key(0), x, lengths)["params"]
    >>> y = lstm.apply({"params": p}, x, lengths)   # [B, T, 6] -> [B, T, 2 * 4]
    >>> y.shape, bool((y[1, 1:] == 0).all())  # past a sequence's length: zeros
    ((2, 3, 8), True)
  """

  hidden_per_direction: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, lengths: jax.Array) -> jax.Array:
    h_dim = self.hidden_per_direction
    in_dim = x.shape[-1]
    init = nn.initializers.uniform(scale=1.0 / h_dim**0.5)
    shifted = lambda key, shape, dtype=jnp.float32: init(key, shape, dtype) - 0.5 / h_dim**0.5
    part = nn.with_logical_partitioning
    w_ih = self.param("w_ih", part(shifted, (None, "embed", "lstm_gates")), (2, in_dim, 4 * h_dim))
    w_hh = self.param("w_hh", part(shifted, (None, "lstm_in", "lstm_gates")), (2, h_dim, 4 * h_dim))
    b_ih = self.param("b_ih", part(shifted, (None, "lstm_gates")), (2, 4 * h_dim))
    b_hh = self.param("b_hh", part(shifted, (None, "lstm_gates")), (2, 4 * h_dim))

    batch, steps = x.shape[:2]
    lengths = lengths.astype(jnp.int32)
    x = x.astype(self.dtype)
    both = jnp.stack([x, _reverse_within_length(x, lengths)], axis=0)  # [2, B, T, D]
    # The input projection for all steps at once; only the recurrent part is sequential.
    gates_in = jnp.einsum("zbtd,zdg->tzbg", both, w_ih.astype(self.dtype)) + (b_ih + b_hh)[None, :, None, :]

    def step(carry, g_in):
      h, c = carry
      g = g_in + jnp.einsum("zbh,zhg->zbg", h.astype(self.dtype), w_hh.astype(self.dtype))
      g = g.astype(jnp.float32)
      i, f, gg, o = jnp.split(g, 4, axis=-1)
      c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
      h = jax.nn.sigmoid(o) * jnp.tanh(c)
      return (h, c), h

    zeros = jnp.zeros((2, batch, h_dim), jnp.float32)
    _, hs = jax.lax.scan(step, (zeros, zeros), gates_in)  # [T, 2, B, H]
    hs = jnp.transpose(hs, (1, 2, 0, 3))  # [2, B, T, H]
    fwd, bwd = hs[0], _reverse_within_length(hs[1], lengths)
    valid = (jnp.arange(steps)[None, :] < lengths[:, None])[..., None]
    return jnp.where(valid, jnp.concatenate([fwd, bwd], axis=-1), 0.0).astype(self.dtype)
