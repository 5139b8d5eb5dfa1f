"""JAX's persistent compilation cache, on by default for prediction, so each program compiles once per machine.

`GLiNER(...)` calls `enable_compilation_cache()`: unless the process already configured a cache
directory (`jax_compilation_cache_dir`, or the `JAX_COMPILATION_CACHE_DIR` environment variable), it
points JAX at `$XDG_CACHE_HOME/gliner_jax/jax_cache` (`~/.cache/...` without XDG_CACHE_HOME) and caches
programs that took at least `MIN_COMPILE_SECONDS` to compile (unless that threshold was set too).
The cache is per process, so it serves every jitted function, not only gliner_jax's.

Opt out with `GLINER_JAX_COMPILATION_CACHE=0` (or off / false / no), or `GLiNER(..., compilation_cache=False)`;
`GLINER_JAX_COMPILATION_CACHE=/some/dir` or `compilation_cache="/some/dir"` picks the directory; an object-store
URL (`gs://bucket/jax_cache`) works too: JAX writes it through etils.epath, configured by
`gliner_jax.interop.storage`.

Example (not run as a doctest: it sets the JAX configuration of the whole process):
  >>> enable_compilation_cache()  # doctest: +SKIP
  '/home/me/.cache/gliner_jax/jax_cache'
"""

from __future__ import annotations

import os

from gliner_jax.interop import storage

ENV = "GLINER_JAX_COMPILATION_CACHE"
OFF = ("0", "off", "false", "no")
# Prediction programs take seconds to compile on CPU; a smaller program recompiles faster than it is worth
# writing to disk.
MIN_COMPILE_SECONDS = 0.5
_JAX_DEFAULT_MIN_COMPILE_SECONDS = 1.0


def default_cache_dir() -> str:
  """`$XDG_CACHE_HOME/gliner_jax/jax_cache`, or `~/.cache/gliner_jax/jax_cache`.

  Example:
    >>> default_cache_dir()  # '/home/me/.cache/gliner_jax/jax_cache' without XDG_CACHE_HOME
    '.../gliner_jax/jax_cache'
  """
  root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(root, "gliner_jax", "jax_cache")


def enable_compilation_cache(cache_dir: str | bool | None = None) -> str | None:
  """Turns JAX's persistent compilation cache on; returns the directory in use, or None when off.

  `cache_dir`: None or True for the default (the environment variable, else `default_cache_dir()`),
  a path, or False for off. A directory JAX was already given is kept, whatever is asked.

  Example (not run as a doctest: it sets the JAX configuration of the whole process):
    >>> enable_compilation_cache("/tmp/my_cache")  # doctest: +SKIP
    '/tmp/my_cache'
  """
  import jax

  current = jax.config.jax_compilation_cache_dir
  if current:
    return current
  env = os.environ.get(ENV, "").strip()
  if cache_dir is False or (cache_dir in (None, True) and env.lower() in OFF):
    return None
  path = cache_dir if isinstance(cache_dir, (str, os.PathLike)) else (env or default_cache_dir())
  path = storage.resolve(path)  # local: absolute; gs://: kept, with its client configured
  jax.config.update("jax_compilation_cache_dir", path)
  user_set_threshold = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" in os.environ
  if (
    not user_set_threshold and jax.config.jax_persistent_cache_min_compile_time_secs == _JAX_DEFAULT_MIN_COMPILE_SECONDS
  ):
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  return path
