"""Triple scorers of gliner 0.2.29's relex models (its `triples_layer`): (head, relation, tail) -> score.

Each module maps h, r, t of shape (..., D) (broadcasting against each other) to scores (...), the function of
the interaction of the same name in gliner/modeling/multitask/triples_layers.py:
  translational (negative distances, optionally through a learned scorer): UM, SE, TransE, TransH, TransF,
    PairRE, TripleRE
  semantic: DistMult, SimplE, DistMA, ComplEx, QuatE, HolE
  neural: TuckER, ERMLP, ConvKB, ConvE
Parameter names follow the reference's attribute names (`r_to_alpha`, `scorer`, `W`, `bn0`, `conv`, `fc`, ...)
so that a state dict maps one to one. The reference's relex model builds its layer as
`TriplesScoreLayer(name)`: dimension 768 and default options, whatever the hidden size; `make_triples_layer`
takes the dimension and options explicitly.

Example:
  >>> import jax.numpy as jnp
  >>> layer = make_triples_layer("TransE", dim=4)   # no parameters: -min(||h + r - t||_1, 10)
  >>> h, r, t = jnp.zeros((1, 2, 4)), jnp.ones((1, 3, 4)), jnp.zeros((1, 2, 4))   # [B, N, D], [B, C, D], [B, N, D]
  >>> scores = layer.apply({}, h[:, :, None], r[:, None], t[:, :, None])
  >>> scores.shape, scores[0, 0].tolist()   # [B, N, C]
  ((1, 2, 3), [-4.0, -4.0, -4.0])
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.layers import ProjectionFFN, SplitDense, dense

Dtype = Any


class NormScore(nn.Module):
  """The score of a residual x (..., D): -min(||x||_p ** power, clamp), or `scorer`(x) when `use_scorer`."""

  p: float = 2.0
  power: float = 1.0
  clamp_norm: float | None = 10.0
  use_scorer: bool = False
  dropout: float = 0.3

  @nn.compact
  def __call__(self, x: jax.Array, *, deterministic: bool = True) -> jax.Array:
    if self.use_scorer:
      return ProjectionFFN(1, self.dropout, name="scorer")(x, deterministic=deterministic)[..., 0]
    x = x.astype(jnp.float32)
    if self.p == 2:
      d = jnp.sqrt(jnp.sum(x * x, axis=-1))
    elif self.p == 1:
      d = jnp.sum(jnp.abs(x), axis=-1)
    else:
      d = jnp.sum(jnp.abs(x) ** self.p, axis=-1) ** (1.0 / self.p)
    d = d**self.power
    if self.clamp_norm is not None:
      d = jnp.minimum(d, self.clamp_norm)
    return -d


class NormInteraction(nn.Module):
  """The translational family. `kind` selects the residual; `dim` sizes the relation maps (Linear(D, D))."""

  kind: str
  dim: int
  p: float = 2.0
  power: float = 1.0
  clamp_norm: float | None = 10.0
  use_scorer: bool = False
  dropout: float = 0.3

  def _map(self, name: str, r: jax.Array, out: int | None = None, kernel_init=None, bias_init=None) -> jax.Array:
    out = out or self.dim
    kernel_init = kernel_init or nn.initializers.lecun_normal()
    bias_init = bias_init or nn.initializers.zeros_init()
    return nn.Dense(
      out,
      kernel_init=nn.with_logical_partitioning(kernel_init, ("embed", "mlp")),
      bias_init=nn.with_logical_partitioning(bias_init, ("mlp",)),
      name=name,
    )(r)

  @nn.compact
  def __call__(self, h: jax.Array, r: jax.Array, t: jax.Array, *, deterministic: bool = True) -> jax.Array:
    lead = jnp.broadcast_shapes(h.shape, r.shape, t.shape)[:-1]
    return jnp.broadcast_to(self._scores(h, r, t, deterministic), lead)

  def _scores(self, h, r, t, deterministic):
    k = self.kind
    if k == "UM":
      x = h - t
    elif k == "SE":
      x = r * h - r * t
    elif k == "TransE":
      x = h + r - t
    elif k == "TransH":
      r_tr = self._map("r_to_rtr", r)
      w = self._map("r_to_w", r)
      w = w / jnp.maximum(jnp.linalg.norm(w, axis=-1, keepdims=True), 1e-12)
      project = lambda v: v - jnp.sum(v * w, axis=-1, keepdims=True) * w  # noqa: E731
      x = project(h) + r_tr - project(t)
    elif k == "TransF":
      eye = lambda key, shape, dtype=jnp.float32: jnp.eye(*shape, dtype=dtype)  # noqa: E731
      r_vec = self._map("r_to_rvec", r, kernel_init=eye)
      alpha = self._map("r_to_alpha", r, kernel_init=nn.initializers.zeros_init(), bias_init=nn.initializers.ones)
      beta = self._map("r_to_beta", r, kernel_init=nn.initializers.zeros_init(), bias_init=nn.initializers.ones)
      x = alpha * h + r_vec - beta * t
    elif k == "PairRE":
      x = self._map("r_to_alpha", r) * h - self._map("r_to_beta", r) * t
    elif k == "TripleRE":
      alpha, beta, delta = (self._map(n, r) for n in ("r_to_alpha", "r_to_beta", "r_to_delta"))
      gamma = self._map("r_to_gamma", r, out=1)[..., 0]
      return gamma * self._score(alpha * h + delta - beta * t, deterministic)
    else:
      raise ValueError(f"unknown norm-based interaction {k!r}")
    return self._score(x, deterministic)

  def _score(self, x, deterministic):
    return NormScore(self.p, self.power, self.clamp_norm, self.use_scorer, self.dropout, name="score")(
      x, deterministic=deterministic
    )


def _halves(x: jax.Array, n: int) -> list[jax.Array]:
  return jnp.split(x, n, axis=-1)


class SemanticInteraction(nn.Module):
  """The parameter-free products: DistMult, SimplE, DistMA, ComplEx, QuatE, HolE."""

  kind: str

  @nn.compact
  def __call__(self, h: jax.Array, r: jax.Array, t: jax.Array, *, deterministic: bool = True) -> jax.Array:
    k = self.kind
    if k == "DistMult":
      return jnp.sum(h * r * t, axis=-1)
    if k == "DistMA":
      return jnp.sum(h * r, -1) + jnp.sum(h * t, -1) + jnp.sum(r * t, -1)
    if k == "SimplE":
      (hf, hb), (rf, rb), (tf, tb) = _halves(h, 2), _halves(r, 2), _halves(t, 2)
      return 0.5 * (jnp.sum(hf * rf * tb, -1) + jnp.sum(tf * rb * hb, -1))
    if k == "ComplEx":
      (hr, hi), (rr, ri), (tr, ti) = _halves(h, 2), _halves(r, 2), _halves(t, 2)
      return jnp.sum(hr * rr * tr + hr * ri * ti + hi * rr * ti - hi * ri * tr, -1)
    if k == "QuatE":
      (h0, h1, h2, h3), (r0, r1, r2, r3), t4 = _halves(h, 4), _halves(r, 4), _halves(t, 4)
      a = (
        h0 * r0 - h1 * r1 - h2 * r2 - h3 * r3,
        h0 * r1 + h1 * r0 + h2 * r3 - h3 * r2,
        h0 * r2 - h1 * r3 + h2 * r0 + h3 * r1,
        h0 * r3 + h1 * r2 - h2 * r1 + h3 * r0,
      )
      return jnp.sum(sum(ai * ti for ai, ti in zip(a, t4)), -1)
    if k == "HolE":
      h, r, t = (v.astype(jnp.float32) for v in (h, r, t))
      n = h.shape[-1]
      corr = jnp.fft.irfft(jnp.conj(jnp.fft.rfft(h, axis=-1)) * jnp.fft.rfft(t, axis=-1), n=n, axis=-1)
      return jnp.sum(corr * r, -1)
    raise ValueError(f"unknown semantic interaction {k!r}")


class TuckERInteraction(nn.Module):
  """TuckER: score = <BN0(h) M(r), BN1(t)>, W [d_r, d_e, d_e]; BatchNorm on running stats when deterministic
  (variables `batch_stats`), on the batch's otherwise. M(r) is the reference's: see the comment below; it needs
  d_r == d_e, as the reference's does."""

  d_e: int
  d_r: int
  dropout: float = 0.2

  @nn.compact
  def __call__(self, h: jax.Array, r: jax.Array, t: jax.Array, *, deterministic: bool = True) -> jax.Array:
    w = self.param(
      "W",
      nn.with_logical_partitioning(nn.initializers.xavier_uniform(), (None, None, None)),
      (self.d_r, self.d_e, self.d_e),
    )
    bn = lambda name: nn.BatchNorm(use_running_average=deterministic, momentum=0.9, epsilon=1e-5, name=name)  # noqa: E731
    h_bn = HashDropout(self.dropout)(bn("bn0")(h), deterministic=deterministic)
    t_bn = HashDropout(self.dropout)(bn("bn1")(t), deterministic=deterministic)
    # The reference multiplies r [N, d_r] (N: every triple, flattened) by W with torch.matmul, which broadcasts
    # W as d_r matrices and gives [d_r, N, d_e]; it then views that memory as [N, d_e, d_e]. Same here.
    shape = jnp.broadcast_shapes(h.shape, r.shape, t.shape)
    r_flat = jnp.broadcast_to(r, shape[:-1] + r.shape[-1:]).reshape(-1, self.d_r)
    core = jnp.einsum("ni,kij->knj", r_flat, w).reshape(*shape[:-1], self.d_e, self.d_e)
    core = HashDropout(self.dropout)(core, deterministic=deterministic)
    return jnp.einsum("...i,...ij,...j->...", h_bn, core, t_bn)


class ERMLPInteraction(nn.Module):
  """ER-MLP: Linear(3D, hidden) -> ReLU -> Linear(hidden, 1) on cat(h, r, t), the first layer split by part."""

  dim: int
  hidden: int = 2048

  @nn.compact
  def __call__(self, h: jax.Array, r: jax.Array, t: jax.Array, *, deterministic: bool = True) -> jax.Array:
    d = self.dim
    a, b, c = SplitDense(self.hidden, (d, d, d), ("embed", "mlp"), name="mlp_in").terms((h, r, t))
    return dense(1, ("mlp", None), name="mlp_out")(nn.relu(a + b + c))[..., 0]


class ConvKBInteraction(nn.Module):
  """ConvKB: width-1 convolution over the rows [h; r; t] (`conv` kernel [3, F], bias [F]), ReLU, flattened
  filter-major, dropout, `fc` Linear(F * D, 1)."""

  dim: int
  n_filters: int = 32
  dropout: float = 0.3
  use_bias: bool = True

  @nn.compact
  def __call__(self, h: jax.Array, r: jax.Array, t: jax.Array, *, deterministic: bool = True) -> jax.Array:
    shape = jnp.broadcast_shapes(h.shape, r.shape, t.shape)
    stacked = jnp.stack([jnp.broadcast_to(v, shape) for v in (h, r, t)], axis=-2)  # (..., 3, D)
    conv = nn.DenseGeneral(self.n_filters, axis=-2, use_bias=self.use_bias, name="conv")
    x = nn.relu(jnp.swapaxes(conv(stacked), -1, -2))  # (..., D, F) -> (..., F, D)
    x = x.reshape(*shape[:-1], self.n_filters * self.dim)
    x = HashDropout(self.dropout)(x, deterministic=deterministic)
    return nn.Dense(1, name="fc")(x)[..., 0]


class ConvEInteraction(nn.Module):
  """ConvE: [h; r] reshaped to a (2 * emb_dim1, D / emb_dim1) image, `conv` (kernel x kernel, valid, F filters,
  kernel stored as torch's OIHW), ReLU, `fc` to D, ReLU, dot with t. Dropouts as the reference's."""

  dim: int
  emb_dim1: int
  n_filters: int = 9
  kernel_size: int = 3
  input_drop: float = 0.2
  hidden_drop: float = 0.3
  feat_drop: float = 0.2
  use_bias: bool = True

  @nn.compact
  def __call__(self, h: jax.Array, r: jax.Array, t: jax.Array, *, deterministic: bool = True) -> jax.Array:
    if self.dim % self.emb_dim1:
      raise ValueError(f"ConvE: dimension {self.dim} is not divisible by emb_dim1={self.emb_dim1}")
    e1, e2, k, f = self.emb_dim1, self.dim // self.emb_dim1, self.kernel_size, self.n_filters
    shape = jnp.broadcast_shapes(h.shape, r.shape, t.shape)
    lead = shape[:-1]
    img = jnp.concatenate(
      [jnp.broadcast_to(v, shape).reshape(-1, 1, e1, e2) for v in (h, r)], axis=2
    )  # (N, 1, 2 e1, e2)
    img = HashDropout(self.input_drop)(img, deterministic=deterministic)
    kernel = self.param("conv_kernel", nn.initializers.lecun_normal(), (f, 1, k, k))
    x = jax.lax.conv_general_dilated(img, kernel, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
    if self.use_bias:
      x = x + self.param("conv_bias", nn.initializers.zeros_init(), (f,))[None, :, None, None]
    x = nn.relu(x)
    if not deterministic and self.feat_drop > 0:  # Dropout2d: whole feature maps
      x = x * HashDropout(self.feat_drop)(jnp.ones(x.shape[:2] + (1, 1), x.dtype), deterministic=False)
    x = nn.Dense(self.dim, name="fc")(x.reshape(x.shape[0], -1))
    x = nn.relu(HashDropout(self.hidden_drop)(x, deterministic=deterministic))
    return jnp.sum(x * jnp.broadcast_to(t, shape).reshape(-1, self.dim), axis=-1).reshape(lead)


def _norm(kind: str, p: float = 2.0) -> Callable[..., nn.Module]:
  def make(dim: int, name: str | None = None, **kw) -> nn.Module:
    return NormInteraction(kind, dim, p=kw.pop("p", p), **kw, name=name)

  return make


def _semantic(kind: str, multiple: int = 1) -> Callable[..., nn.Module]:
  def make(dim: int, name: str | None = None, **kw) -> nn.Module:
    if kw:
      raise ValueError(f"{kind} takes no options, got {sorted(kw)}")
    if dim % multiple:
      raise ValueError(f"{kind} needs a dimension divisible by {multiple}, got {dim}")
    return SemanticInteraction(kind, name=name)

  return make


TRIPLES_LAYERS: dict[str, Callable[..., nn.Module]] = {
  "UM": _norm("UM"),
  "SE": _norm("SE"),
  "TransE": _norm("TransE", p=1.0),
  "TransH": _norm("TransH"),
  "TransF": _norm("TransF"),
  "PairRE": _norm("PairRE"),
  "TripleRE": _norm("TripleRE"),
  "DistMult": _semantic("DistMult"),
  "SimplE": _semantic("SimplE", 2),
  "DistMA": _semantic("DistMA"),
  "ComplEx": _semantic("ComplEx", 2),
  "QuatE": _semantic("QuatE", 4),
  "HolE": _semantic("HolE"),
  "TuckER": lambda dim, name=None, **kw: TuckERInteraction(kw.pop("d_e", dim), kw.pop("d_r", dim), **kw, name=name),
  "ERMLP": lambda dim, name=None, **kw: ERMLPInteraction(dim, **kw, name=name),
  "ConvKB": lambda dim, name=None, **kw: ConvKBInteraction(dim, **kw, name=name),
  "ConvE": lambda dim, name=None, **kw: ConvEInteraction(dim, **kw, name=name),
}


def make_triples_layer(mode: str, dim: int = 768, name: str | None = "triples", **options) -> nn.Module:
  """The triple scorer `mode` (a key of TRIPLES_LAYERS, as gliner spells it) of dimension `dim`.

  Example:
    >>> layer = make_triples_layer("ERMLP", dim=768, hidden=256)
    >>> type(layer).__name__, layer.dim, layer.hidden
    ('ERMLPInteraction', 768, 256)
  """
  if mode not in TRIPLES_LAYERS:
    raise ValueError(f"unknown triples_layer {mode!r}; gliner 0.2.29 defines {sorted(TRIPLES_LAYERS)}")
  return TRIPLES_LAYERS[mode](dim, name=name, **options)
