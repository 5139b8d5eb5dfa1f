"""Times the encoders' attention function on CPU: the implementations of
`gliner_jax.model.encoders.attention.dot_product_attention` and the pre-refactor BERT formula.

MiniLM-shaped (12 heads of 32), batch 8, padded key mask; forward only, and forward + backward.

Example:
  .venv/bin/python scripts/benchmark_attention.py --threads 2 --lengths 128 192
"""

from __future__ import annotations

import argparse
import time

from gliner_jax.inference.cpu_threads import limit_cpu_threads


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--lengths", type=int, nargs="+", default=[128, 192])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--heads", type=int, default=12)
  parser.add_argument("--head-dim", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=30)
  args = parser.parse_args()

  limit_cpu_threads(args.threads)
  import jax
  import jax.numpy as jnp
  import numpy as np

  from gliner_jax.model.encoders.attention import dot_product_attention

  def before(q, k, v, mask):  # BertSelfAttention before the shared function
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * (q.shape[-1] ** -0.5)
    scores = jnp.where(mask, scores.astype(jnp.float32), jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(q.dtype)
    return jnp.einsum("bhqk,bkhd->bqhd", probs, v)

  fns = {
    "before (inline einsum)": before,
    "shared, einsum": lambda q, k, v, m: dot_product_attention(q, k, v, mask=m, implementation="einsum"),
    "shared, xla (jax.nn)": lambda q, k, v, m: dot_product_attention(q, k, v, mask=m, implementation="xla"),
  }

  def best_of(calls: dict) -> dict:
    """Minimum wall time (ms) of each call, the calls interleaved so that load from other processes hits all."""
    for call in calls.values():
      jax.block_until_ready(call())
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(args.repeats):
      for name, call in calls.items():
        t0 = time.perf_counter()
        jax.block_until_ready(call())
        best[name] = min(best[name], time.perf_counter() - t0)
    return {name: t * 1e3 for name, t in best.items()}

  rng = np.random.default_rng(0)
  print(f"backend {jax.default_backend()}, {args.threads} threads, batch {args.batch}, {args.heads}x{args.head_dim}")
  for length in args.lengths:
    shape = (args.batch, length, args.heads, args.head_dim)
    q, k, v = (jnp.asarray(rng.standard_normal(shape), jnp.float32) for _ in range(3))
    lengths = rng.integers(length // 2, length + 1, args.batch)
    mask = jnp.asarray(np.arange(length)[None, :] < lengths[:, None])[:, None, None, :]
    calls = {}
    for name, fn in fns.items():
      fwd = jax.jit(fn)
      grad = jax.jit(jax.grad(lambda q, k, v, m, fn=fn: jnp.sum(fn(q, k, v, m) ** 2), argnums=(0, 1, 2)))
      calls[(name, "forward")] = lambda fwd=fwd: fwd(q, k, v, mask)
      calls[(name, "forward+backward")] = lambda grad=grad: grad(q, k, v, mask)
    times = best_of(calls)
    for name in fns:
      print(
        f"T={length:4d}  {name:24s} forward {times[(name, 'forward')]:7.2f} ms   "
        f"forward+backward {times[(name, 'forward+backward')]:7.2f} ms"
      )


if __name__ == "__main__":
  main()
