"""CompileCounter counts XLA compiles from JAX's public monitoring events: new shapes, not cached ones."""

from __future__ import annotations

import functools
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gliner_jax.inference.compile_counter import CompileCounter


def _affine(x, scale):
  return x * scale + 1.0


def _other(x):
  return x - 1.0


def test_new_shapes_compile_and_cached_shapes_do_not():
  f = jax.jit(_affine)
  with CompileCounter(f) as compiles:
    f(np.ones(3, np.float32), 2.0)
    assert compiles.count == 1
    f(np.ones(3, np.float32), 5.0)  # same shapes and dtypes: the cached program
    f(np.zeros(3, np.float32), 2.0)
    assert compiles.count == 1
    f(np.ones(4, np.float32), 2.0)  # a new shape
    f(np.ones(3, np.int32), 2.0)  # a new dtype
    f(np.ones(4, np.float32), 2.0)
  assert compiles.count == 3 and compiles.names == ["jit(_affine)"] * 3
  # Nothing is counted after the block, and a fresh counter sees only the new program.
  f(np.ones(5, np.float32), 2.0)
  assert compiles.count == 3
  with CompileCounter(f) as again:
    f(np.ones(5, np.float32), 2.0)
    f(np.ones(6, np.float32), 2.0)
  assert again.count == 1


def test_a_function_filter_ignores_other_programs_and_none_counts_all():
  f, g = jax.jit(_affine), jax.jit(_other)
  with CompileCounter() as every, CompileCounter(f) as only_f, CompileCounter("_other") as only_g:
    f(np.ones(7, np.float32), 2.0)
    g(np.ones(7, np.float32))
    g(np.ones(8, np.float32))
    jnp.arange(11.0).sum()  # eager jax.numpy compiles small programs of its own
  assert only_f.names == ["jit(_affine)"]
  assert only_g.names == ["jit(_other)"] * 2
  assert every.count >= 4 and {"jit(_affine)", "jit(_other)"} <= set(every.names)
  assert every.names.count("jit(_other)") == 2


def test_a_partial_counts_under_the_wrapped_name_and_threads_count():
  f = jax.jit(functools.partial(_affine, scale=3.0))
  with CompileCounter(f) as compiles:
    worker = threading.Thread(target=lambda: f(np.ones(9, np.float32)))
    worker.start()
    worker.join()
    f(np.ones(9, np.float32))
  assert compiles.names == ["jit(_affine)"]


def test_bad_input_and_double_start():
  with pytest.raises(TypeError, match="function must be"):
    CompileCounter(3)
  counter = CompileCounter().start()
  try:
    with pytest.raises(RuntimeError, match="already counting"):
      counter.start()
  finally:
    counter.stop()
  counter.stop()  # stopping twice is harmless
