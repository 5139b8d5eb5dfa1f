"""One path layer for every file a run reads or writes: local paths, and gs:// (or any fsspec URL) through etils.epath.

etils.epath is what orbax uses, so checkpoints, config.json, metrics.jsonl, the compile cache, exported models
and data all go through the same clients. Remote paths need their fsspec package: gcsfs for gs://, shipped
in the `gliner_jax[gcs]` extra; without it `as_path("gs://...")` raises an ImportError naming that extra.

A local GCS emulator is reached through `STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT` alone:
`configure_object_store()` (called by `as_path` for every remote path) copies it to the variable that
tensorstore (orbax's array writer) reads instead, `TENSORSTORE_GCS_HTTP_URL`, gives gcsfs an anonymous token,
and registers gcsfs's plain file system, whose first call would otherwise probe the bucket's type over gRPC
(an API the emulator lacks) and wait 60 s for it. For every gs:// file system it turns gcsfs's listings cache
off, because tensorstore writes objects that gcsfs does not see (a cached listing would miss new checkpoints).

Example (a local folder; a gs://bucket/run URL takes the same calls, with gcsfs and a bucket):
  >>> import tempfile
  >>> run = tempfile.mkdtemp()
  >>> (as_path(run) / "checkpoints" / "7").mkdir(parents=True)
  >>> write_text(join(run, "checkpoints", "7", "config.json"), "{}")
  >>> move(join(run, "checkpoints", "7"), join(run, "checkpoints_unreadable", "7-20261204"))
  >>> listdir(run), read_text(join(run, "checkpoints_unreadable", "7-20261204", "config.json"))
  (['checkpoints', 'checkpoints_unreadable'], '{}')
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import shutil
import tempfile
from typing import IO, Iterator

from etils import epath

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
TENSORSTORE_URL_ENV = "TENSORSTORE_GCS_HTTP_URL"
GCSFS_BUCKET_PROBE_ENV = "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"  # read when gcsfs is imported
GCS_EXTRA = "gliner_jax[gcs]"
GCS_SCHEMES = ("gs", "gcs")


@dataclasses.dataclass(frozen=True)
class ObjectStoreSettings:
  """What `configure_object_store` set: the emulator URL (None for the real service) and the client settings."""

  emulator: str | None
  tensorstore_url: str | None
  gcsfs_options: dict


def scheme(path: str | os.PathLike) -> str | None:
  """The URL scheme of `path` ("gs" for gs://bucket/x), or None for a local path.

  Example:
    >>> scheme("gs://bucket/run"), scheme("runs/tiny")
    ('gs', None)
  """
  text = os.fspath(path)
  if "://" not in text:
    return None
  head = text.split("://", 1)[0]
  return None if head == "file" else head


def is_remote(path: str | os.PathLike) -> bool:
  """Whether `path` is an object-store URL (gs://, s3://, ...) rather than a local path."""
  return scheme(path) is not None


def emulator_url() -> str | None:
  """STORAGE_EMULATOR_HOST as an http URL, or None when it is unset (or "default")."""
  host = os.environ.get(EMULATOR_ENV, "").strip()
  if host in ("", "default"):
    return None
  return host if host.startswith(("http://", "https://")) else f"http://{host}"


def configure_object_store() -> ObjectStoreSettings:
  """Points every GCS client at STORAGE_EMULATOR_HOST when it is set; safe to call any number of times.

  Sets TENSORSTORE_GCS_HTTP_URL (unless already set) and GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false (for child
  processes too), and fsspec's defaults for gs://: no listings cache, an anonymous token under the emulator.

  Example (not run as a doctest: it sets environment variables and fsspec defaults for the whole process):
    >>> os.environ["STORAGE_EMULATOR_HOST"] = "http://127.0.0.1:9023"  # doctest: +SKIP
    >>> configure_object_store().tensorstore_url  # doctest: +SKIP
    'http://127.0.0.1:9023'
  """
  import fsspec

  url = emulator_url()
  options: dict = {"use_listings_cache": False}
  if url is not None:
    os.environ.setdefault(TENSORSTORE_URL_ENV, url)
    os.environ.setdefault(GCSFS_BUCKET_PROBE_ENV, "false")
    options["token"] = "anon"
  for name in GCS_SCHEMES:
    fsspec.config.conf.setdefault(name, {}).update(
      {k: v for k, v in options.items() if k not in fsspec.config.conf.get(name, {})}
    )
  if url is not None:
    with contextlib.suppress(ImportError):
      import gcsfs.core  # the plain file system: no gRPC bucket-type probe

      for name in GCS_SCHEMES:
        fsspec.register_implementation(name, gcsfs.core.GCSFileSystem, clobber=True)
  return ObjectStoreSettings(url, os.environ.get(TENSORSTORE_URL_ENV) if url else None, dict(options))


def require_client(path: str | os.PathLike) -> None:
  """Raises an ImportError naming the extra to install when `path`'s scheme needs a package that is missing."""
  if scheme(path) in GCS_SCHEMES:
    try:
      import gcsfs  # noqa: F401
    except ImportError as err:
      raise ImportError(
        f"{os.fspath(path)}: gs:// paths need gcsfs, which is not installed; install it with "
        f"pip install '{GCS_EXTRA}' (or pip install gcsfs)"
      ) from err


def resolve(path: str | os.PathLike) -> str:
  """`path` as a string every client accepts: a URL unchanged, a local path absolute (orbax needs that).

  Example (the URL needs gcsfs and configures the object store for the whole process: not run as a doctest):
    >>> resolve("gs://bucket/run/"), resolve("runs/tiny")  # doctest: +SKIP
    ('gs://bucket/run', '/home/me/runs/tiny')
    >>> resolve("runs/tiny") == os.path.join(os.getcwd(), "runs", "tiny")
    True
  """
  text = os.fspath(path)
  if is_remote(text):
    require_client(text)
    configure_object_store()
    return text.rstrip("/")
  return os.path.abspath(os.path.expanduser(text))


def as_path(path: str | os.PathLike) -> epath.Path:
  """An `epath.Path` for a local path or a URL, with the object-store clients configured.

  Example (a gs:// URL needs gcsfs and a reachable bucket):
    >>> (as_path("gs://bucket/run") / "metrics.jsonl").exists()  # doctest: +SKIP
    False
    >>> (as_path("no/such/run") / "metrics.jsonl").exists()
    False
  """
  return epath.Path(resolve(path))


def join(base: str | os.PathLike, *parts: str) -> str:
  """`os.path.join` that keeps URLs whole ("gs://b/run", "checkpoints" -> "gs://b/run/checkpoints")."""
  if is_remote(base):
    return "/".join([os.fspath(base).rstrip("/"), *(p.strip("/") for p in parts)])
  return os.path.join(os.fspath(base), *parts)


def exists(path: str | os.PathLike) -> bool:
  return as_path(path).exists()


def isdir(path: str | os.PathLike) -> bool:
  """Whether `path` is a folder (on an object store: whether any object lies under it)."""
  return as_path(path).is_dir()


def isfile(path: str | os.PathLike) -> bool:
  return as_path(path).is_file()


def makedirs(path: str | os.PathLike) -> None:
  """Creates the folder and its parents (object stores have no folders: nothing to do there)."""
  as_path(path).mkdir(parents=True, exist_ok=True)


def listdir(path: str | os.PathLike) -> list[str]:
  """The names in a folder, sorted."""
  return sorted(p.name for p in as_path(path).iterdir())


def open_file(path: str | os.PathLike, mode: str = "r") -> IO:
  """`open(path, mode)` for a local path or a URL (text modes in UTF-8).

  Example (not run as a doctest: it needs a gs:// bucket):
    >>> with open_file("gs://bucket/data/train.json") as f:  # doctest: +SKIP
    ...   text = f.read()
  """
  encoding = None if "b" in mode else "utf-8"
  if not is_remote(path):
    return open(path, mode, encoding=encoding)
  return as_path(path).open(mode, encoding=encoding)


def read_text(path: str | os.PathLike) -> str:
  return as_path(path).read_text(encoding="utf-8")


def write_text(path: str | os.PathLike, text: str) -> None:
  """Writes (replaces) a text file, creating its folder."""
  target = as_path(path)
  target.parent.mkdir(parents=True, exist_ok=True)
  target.write_text(text, encoding="utf-8")


def _fs(path: str):
  import fsspec

  return fsspec.core.url_to_fs(path)[0]


def move(source: str | os.PathLike, target: str | os.PathLike) -> None:
  """Moves a file or folder (on an object store: copies every object, then deletes the originals).

  Example (not run as a doctest: it needs a gs:// bucket; the module's example moves a local folder):
    >>> move("gs://bucket/ckpt/7", "gs://bucket/ckpt_unreadable/7-20261204")  # doctest: +SKIP
  """
  source, target = resolve(source), resolve(target)
  if is_remote(source) != is_remote(target):
    raise ValueError(f"cannot move {source} to {target}: both must be local or both remote")
  if not is_remote(source):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.move(source, target)
    return
  # Object by object: gcsfs's own mv tries GCS's moveTo first, which not every server has (the emulator
  # answers 501, and gcsfs retries for half a minute before it copies).
  fs = _fs(source)
  src, dst = source.split("://", 1)[1], target.split("://", 1)[1]
  files = [src] if fs.isfile(src) else fs.find(src)
  if not files:
    raise FileNotFoundError(f"nothing to move at {source}")
  for path in files:
    fs.cp_file(path, dst + path[len(src) :])
  fs.rm(files)


def upload(local_dir: str, target: str | os.PathLike) -> None:
  """Copies every file under the local folder `local_dir` to the folder `target` (local or remote)."""
  root = as_path(target)
  for folder, _, files in os.walk(local_dir):
    rel = os.path.relpath(folder, local_dir)
    for name in files:
      dest = root / name if rel == "." else root / rel / name
      dest.parent.mkdir(parents=True, exist_ok=True)
      with open(os.path.join(folder, name), "rb") as f:
        dest.write_bytes(f.read())


def download(source: str | os.PathLike, local_dir: str) -> None:
  """Copies every object under the remote folder `source` into the local folder `local_dir`."""
  source = resolve(source)
  fs = _fs(source)
  prefix = source.split("://", 1)[1].rstrip("/") + "/"
  found = [p for p in fs.find(source) if p.startswith(prefix)]
  if not found:
    raise FileNotFoundError(f"no files under {source}")
  for remote in found:
    local = os.path.join(local_dir, *remote[len(prefix) :].split("/"))
    os.makedirs(os.path.dirname(local), exist_ok=True)
    fs.get_file(remote, local)


def _temporary_dir() -> str:
  folder = tempfile.mkdtemp(prefix="gliner_jax_objects_")
  atexit.register(shutil.rmtree, folder, True)
  return folder


def local_copy(path: str | os.PathLike) -> str:
  """A local folder with the contents of `path`: `path` itself when local, else a fresh download (removed at
  exit), for libraries that read only local files (tokenizers, safetensors).

  Example (the first call needs gcsfs and a gs:// bucket, so it is not run as a doctest):
    >>> local_copy("gs://bucket/models/tiny")  # doctest: +SKIP
    '/tmp/gliner_jax_objects_x1y2/tiny'
    >>> local_copy("models/tiny")
    'models/tiny'
  """
  if not is_remote(path):
    return os.fspath(path)
  folder = os.path.join(_temporary_dir(), os.fspath(path).rstrip("/").rsplit("/", 1)[-1])
  download(path, folder)
  return folder


@contextlib.contextmanager
def writable_dir(path: str | os.PathLike) -> Iterator[str]:
  """A local folder to write `path`'s files in: `path` itself when local (created), else a temporary folder
  uploaded to `path` when the block ends without an error.

  Example (a local folder; a gs:// URL needs gcsfs and a bucket):
    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "models", "tiny")
    >>> with writable_dir(target) as folder:
    ...   write_text(os.path.join(folder, "config.json"), "{}")
    >>> folder == target, listdir(target)
    (True, ['config.json'])
  """
  if not is_remote(path):
    os.makedirs(path, exist_ok=True)
    yield os.fspath(path)
    return
  resolve(path)
  with tempfile.TemporaryDirectory(prefix="gliner_jax_objects_") as folder:
    yield folder
    upload(folder, path)
