"""Additive power laws, y = E + sum_j A_j * x_j^-alpha_j, fitted in log space with a Huber loss.

One axis is the per-axis law y = E + A x^-alpha; two axes are Chinchilla's parametric form
L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, approach 3, as replicated by Besiroglu et al. 2024):
the parameters are log E, log A_j and alpha_j, the prediction is logsumexp(log E, log A_j - alpha_j log x_j),
the loss is the Huber loss (delta 1e-3) of log y minus that, summed over points, minimised by L-BFGS-B from
the best points of a grid of starts. Each log x_j is centred on its mean before fitting (the optimiser then sees
numbers of order one); A_j is reported in the original units.

Example:
  >>> x = np.array([1e6, 3e6, 1e7, 3e7, 1e8])
  >>> law = fit_law([x], 1.5 + 400.0 * x**-0.4)
  >>> [round(v, 2) for v in (law.E, law.A[0], law.alpha[0])]
  [1.5, 400.0, 0.4]
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits

HUBER_DELTA = 1e-3
ALPHA_BOUNDS = (0.0, 5.0)  # exponents are searched here; a fit at a bound is flagged
_LOG_BOUND = 60.0


@dataclasses.dataclass(frozen=True)
class Law:
  """y = E + sum_j A[j] * x_j ** -alpha[j]; `loss` is the Huber objective at the optimum."""

  E: float
  A: tuple[float, ...]
  alpha: tuple[float, ...]
  loss: float

  def predict(self, xs: Sequence[np.ndarray]) -> np.ndarray:
    """y at the points xs (one array per axis)."""
    xs = [np.asarray(x, dtype=float) for x in xs]
    out = np.full(np.broadcast(*xs).shape, self.E)
    for x, a, alpha in zip(xs, self.A, self.alpha):
      out = out + a * x ** (-alpha)
    return out

  def vector(self) -> list[float]:
    """[E, A_1, alpha_1, A_2, alpha_2, ...]"""
    return [self.E, *itertools.chain.from_iterable(zip(self.A, self.alpha))]


def huber(r: np.ndarray, delta: float = HUBER_DELTA) -> tuple[np.ndarray, np.ndarray]:
  """(the Huber loss of each residual, its derivative)."""
  small = np.abs(r) <= delta
  loss = np.where(small, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
  return loss, np.where(small, r, delta * np.sign(r))


def _objective(theta: np.ndarray, logx: np.ndarray, logy: np.ndarray, delta: float) -> tuple[float, np.ndarray]:
  """Huber loss of log y - logsumexp(e, a_j - alpha_j * logx_j) and its gradient; theta = [e, a_1, alpha_1, ...]."""
  a, alpha = theta[1::2], theta[2::2]
  terms = np.concatenate([np.full((1, logy.size), theta[0]), a[:, None] - alpha[:, None] * logx])
  top = terms.max(axis=0)
  pred = top + np.log(np.exp(terms - top).sum(axis=0))
  loss, dloss = huber(logy - pred, delta)
  weight = -dloss * np.exp(terms - pred)  # d loss / d term_k, per point
  grad = np.empty_like(theta)
  grad[0] = weight[0].sum()
  grad[1::2] = weight[1:].sum(axis=1)
  grad[2::2] = -(weight[1:] * logx).sum(axis=1)
  return float(loss.sum()), grad


def start_grid(logy: np.ndarray, axes: int) -> list[np.ndarray]:
  """Initial points [e, a_1, alpha_1, ...] (centred axes): E a share of the smallest y, each A_j a share of the
  typical y, each alpha_j from 0.05 to 2."""
  low, mid = float(np.min(logy)), float(np.median(logy))
  es = [low + np.log(f) for f in (0.1, 0.5, 0.9)]
  a_shares = (0.05, 0.3, 1.0) if axes == 1 else (0.05, 0.5)
  alphas = (0.05, 0.2, 0.5, 1.0, 2.0) if axes == 1 else (0.1, 0.4, 1.0)
  per_axis = [(mid + np.log(s / axes), al) for s in a_shares for al in alphas]
  return [
    np.array([e, *itertools.chain.from_iterable(p)]) for e in es for p in itertools.product(per_axis, repeat=axes)
  ]


def fit_law(
  xs: Sequence[np.ndarray],
  y: np.ndarray,
  *,
  starts: Sequence[Sequence[float]] | None = None,
  refine: int = 8,
  delta: float = HUBER_DELTA,
) -> Law:
  """The best of L-BFGS-B runs from `starts` (default `start_grid`) for y = E + sum_j A_j x_j^-alpha_j.

  `xs`: one array of positive values per axis; `y`: positive values, same length. `starts` are given in the
  reported units ([E, A_1, alpha_1, ...], e.g. `Law.vector()` of an earlier fit, to warm-start a bootstrap).
  The objective is evaluated at every start and L-BFGS-B runs from the `refine` best of them.
  """
  y = np.asarray(y, dtype=float)
  logx = np.log(np.stack([np.asarray(x, dtype=float) for x in xs]))
  if logx.shape[1] != y.size or not np.all(np.isfinite(logx)) or not np.all(y > 0):
    raise ValueError("fit_law needs positive, finite x and y of the same length")
  centre = logx.mean(axis=1)
  logx = logx - centre[:, None]
  logy = np.log(y)
  axes = len(centre)
  if starts is None:
    thetas = start_grid(logy, axes)
  else:  # reported units -> centred log parameters
    thetas = []
    for s in starts:
      s = np.asarray(s, dtype=float)
      a, alpha = np.maximum(s[1::2], 1e-300), s[2::2]
      thetas.append(np.array([np.log(max(s[0], 1e-300)), *np.ravel(np.c_[np.log(a) - alpha * centre, alpha])]))
  bounds = [(-_LOG_BOUND, float(logy.max()) + 1.0)] + [(-_LOG_BOUND, _LOG_BOUND), ALPHA_BOUNDS] * axes
  lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
  thetas = [np.clip(t, lo, hi) for t in thetas]
  if len(thetas) > refine:  # L-BFGS-B from the `refine` best points of the grid only
    thetas = sorted(thetas, key=lambda t: _objective(t, logx, logy, delta)[0])[:refine]
  best = None
  with threadpool_limits(1):  # threaded BLAS on these tiny problems only adds overhead (50x on 2 busy cores)
    for theta in thetas:
      res = optimize.minimize(_objective, theta, args=(logx, logy, delta), jac=True, method="L-BFGS-B", bounds=bounds)
      if best is None or res.fun < best.fun:
        best = res
  t = best.x
  alpha = t[2::2]
  A = np.exp(t[1::2] + alpha * centre)
  return Law(E=float(np.exp(t[0])), A=tuple(map(float, A)), alpha=tuple(map(float, alpha)), loss=float(best.fun))


def fit_line(logx: np.ndarray, logy: np.ndarray) -> tuple[float, float]:
  """(slope, intercept) of the least-squares line logy = slope * logx + intercept."""
  slope, intercept = np.polyfit(logx, logy, 1)
  return float(slope), float(intercept)


def parabola_minimum(logn: np.ndarray, y: np.ndarray) -> tuple[float, float, list[float]] | None:
  """(log N at the minimum, y there, [c2, c1, c0]) of the least-squares parabola y = c2 t^2 + c1 t + c0 in
  t = log N (Chinchilla approach 2); None when the parabola opens downwards (no minimum)."""
  c2, c1, c0 = np.polyfit(logn, y, 2)
  if c2 <= 0:
    return None
  t = -c1 / (2 * c2)
  return float(t), float(c0 - c1 * c1 / (4 * c2)), [float(c2), float(c1), float(c0)]
