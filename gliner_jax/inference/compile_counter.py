"""Counting XLA compiles with JAX's public monitoring events.

JAX records the event `/jax/core/compile/backend_compile_duration` once for every program it hands to
the backend compiler, with the jitted function's name (`jit(name)`) as `fun_name`. `CompileCounter`
listens to it (`jax.monitoring`), so a test or a job can say how many programs a block of code compiled,
without reaching into a jitted function's private cache. A program read back from the persistent
compilation cache passes through the same step and counts too.

  >>> import jax, jax.numpy as jnp
  >>> def double(x):
  ...   return 2 * x
  >>> f = jax.jit(double)
  >>> with CompileCounter(f) as compiles:
  ...   _ = f(jnp.ones(3)); _ = f(jnp.ones(3)); _ = f(jnp.ones(4))
  >>> compiles.count  # one program per input shape; the second call with 3 elements reuses the first
  2
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from jax import monitoring

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"

# One listener for the process, registered on first use and never removed (jax < 0.9 has no way to unregister
# one); it hands each compile event to the counters counting at that moment.
_counting: set["CompileCounter"] = set()
_counting_lock = threading.Lock()
_listening = False


def _dispatch(event: str, duration_secs: float, **kwargs: Any) -> None:
  del duration_secs
  if event != COMPILE_EVENT:
    return
  with _counting_lock:
    counters = list(_counting)
  for counter in counters:
    counter._record(str(kwargs.get("fun_name", "")))  # noqa: SLF001 (this module's own class)


def _listen() -> None:
  global _listening
  with _counting_lock:
    if not _listening:
      monitoring.register_event_duration_secs_listener(_dispatch)
      _listening = True


class CompileCounter:
  """Counts the programs compiled inside a `with` block (or between `start()` and `stop()`).

  `function`: count only this jitted function's programs (the function, or its name as jax reports it:
  `f.__name__`, the wrapped function's name for a `functools.partial`); None counts every compile, the
  small programs of eager `jax.numpy` calls included. Compiles in every thread count.

  `count` is the number so far; `names` lists what was compiled, in order (`jit(double)`, ...).
  """

  def __init__(self, function: Callable | str | None = None):
    if function is None or isinstance(function, str):
      self.function = function
    elif callable(function) and isinstance(getattr(function, "__name__", None), str):
      self.function = function.__name__
    else:
      raise TypeError(f"function must be a jitted function, its name or None, not {function!r}")
    self.names: list[str] = []
    self._lock = threading.Lock()
    self._active = False

  @property
  def count(self) -> int:
    with self._lock:
      return len(self.names)

  def _record(self, name: str) -> None:
    if self.function is None or name in (self.function, f"jit({self.function})"):
      with self._lock:
        self.names.append(name)

  def start(self) -> CompileCounter:
    if self._active:
      raise RuntimeError("this CompileCounter is already counting")
    _listen()
    with _counting_lock:
      _counting.add(self)
    self._active = True
    return self

  def stop(self) -> None:
    if self._active:
      with _counting_lock:
        _counting.discard(self)
      self._active = False

  def __enter__(self) -> CompileCounter:
    return self.start()

  def __exit__(self, *exc) -> None:
    self.stop()
