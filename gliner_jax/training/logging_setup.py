"""Quiet terminals: library log lines go to a file in the workdir, warnings and errors to the terminal.

A training job logs a lot at INFO (orbax reports every checkpoint step, jax every backend it probes,
absl every flag). `log_to_workdir` keeps the terminal for the progress bar, the metrics and the results:
records of INFO and above are written to `<workdir>/log.txt`, and the terminal shows WARNING and above
unless a verbosity (absl's `--verbosity`) asks for more or less.

  >>> import logging, os, tempfile
  >>> workdir = tempfile.mkdtemp()
  >>> path = log_to_workdir(workdir)
  >>> logging.getLogger("orbax").info("saved step 5")  # into log.txt only
  >>> "saved step 5" in open(path).read(), os.path.basename(path)
  (True, 'log.txt')
  >>> stop_logging_to_workdir()
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import tempfile

import jax
from absl import logging as absl_logging

LOG_FILE = "log.txt"


class WorkdirLogHandler(logging.FileHandler):
  """The file handler `log_to_workdir` adds to the root logger (at most one at a time)."""


class _HeldRecords(logging.handlers.MemoryHandler):
  """Records kept by `quiet_terminal` until `log_to_workdir` names the file."""

  def __init__(self):
    super().__init__(capacity=100_000, flushLevel=logging.CRITICAL + 1)

  def shouldFlush(self, record: logging.LogRecord) -> bool:
    return False  # held until log_to_workdir (past capacity, the oldest are dropped)

  def emit(self, record: logging.LogRecord) -> None:
    if len(self.buffer) >= self.capacity:
      del self.buffer[0]
    super().emit(record)


class _Restore:
  """What `quiet_terminal` changed, for `stop_logging_to_workdir` to put back."""

  def __init__(self, terminal_levels: dict[logging.Handler, int], added: list[logging.Handler]):
    self.terminal_levels, self.added = terminal_levels, added
    self.root_level, self.absl_level = logging.getLogger().level, absl_logging.get_absl_logger().level


_RESTORE: list[_Restore] = []  # at most one: the set-up in force


def log_file_name(process_index: int) -> str:
  """`log.txt` for process 0, `log.process<i>.txt` for the others of a multi-process run."""
  if process_index < 0:
    raise ValueError(f"process_index must be >= 0, got {process_index}")
  return LOG_FILE if process_index == 0 else f"log.process{process_index}.txt"


def terminal_level(verbosity: int | None) -> int:
  """The terminal's logging level for absl's --verbosity (None: not given, WARNING).

  absl counts up from -3 (FATAL): -2 ERROR, -1 WARNING, 0 INFO, 1 DEBUG.
  """
  if verbosity is None:
    return logging.WARNING
  return absl_logging.converter.absl_to_standard(int(verbosity))


def _is_terminal_handler(handler: logging.Handler) -> bool:
  if handler is absl_logging.get_absl_handler():
    return True
  if isinstance(handler, logging.FileHandler) or not isinstance(handler, logging.StreamHandler):
    return False
  return handler.stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)


def quiet_terminal(verbosity: int | None = None) -> None:
  """The first half of `log_to_workdir`, for a job that logs before its log file can be named (a
  multi-process run learns its process index only after `jax.distributed.initialize`): from now on the
  terminal shows WARNING and above (or what `verbosity` asks for), and records of INFO and above are held
  for `log_to_workdir`, which writes them to the file first."""
  stop_logging_to_workdir()
  level = terminal_level(verbosity)
  root = logging.getLogger()
  terminals = [h for h in root.handlers if _is_terminal_handler(h)]
  added = []
  if not terminals:  # e.g. a notebook: once a file handler is there, python's last-resort stderr output stops
    added = terminals = [logging.StreamHandler()]
    root.addHandler(terminals[0])
  _RESTORE.append(_Restore({h: h.level for h in terminals}, added))
  for handler in terminals:
    handler.setLevel(level)
  held = _HeldRecords()
  held.setLevel(min(level, logging.INFO))
  root.addHandler(held)
  root.setLevel(min(level, logging.INFO))
  absl_logging.get_absl_logger().setLevel(logging.NOTSET)  # absl's records follow the root's level


def log_to_workdir(workdir: str, verbosity: int | None = None) -> str:
  """Writes log records of INFO and above to the workdir's log file; the terminal keeps WARNING and above.

  `verbosity`: absl's --verbosity when the user gave it (0 shows INFO on the terminal too, 1 DEBUG in
  both); None keeps INFO off the terminal. Process i > 0 of a multi-process run writes
  `log.process<i>.txt`. A workdir that is not a local folder (gs://...) gets a local log file in the temp
  folder, named on the terminal. After `quiet_terminal` (same verbosity), the records held since go to the
  file first. Calling it again moves the log to the new workdir. Returns the file's path.
  """
  if not workdir:
    raise ValueError("workdir is empty: log_to_workdir needs the run's folder")
  root = logging.getLogger()
  if not any(isinstance(h, _HeldRecords) for h in root.handlers):
    quiet_terminal(verbosity)  # first: jax.process_index() starts the backends, which log at INFO
  name = log_file_name(jax.process_index())
  if "://" in workdir:
    path = os.path.join(tempfile.mkdtemp(prefix="gliner_jax_log_"), name)
  else:
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(os.path.abspath(workdir), name)
  held = [h for h in root.handlers if isinstance(h, _HeldRecords)]
  file_handler = WorkdirLogHandler(path)
  file_handler.setLevel(held[0].level)
  file_handler.setFormatter(absl_logging.PythonFormatter())
  for record in held[0].buffer:
    file_handler.handle(record)
  root.removeHandler(held[0])
  held[0].close()
  root.addHandler(file_handler)
  if "://" in workdir:
    logging.warning("the workdir %s is not a local folder; the log is in %s", workdir, path)
  return path


def stop_logging_to_workdir() -> None:
  """Closes the log file (or drops the held records) and puts back the levels `quiet_terminal` changed."""
  root = logging.getLogger()
  for handler in [h for h in root.handlers if isinstance(h, (WorkdirLogHandler, _HeldRecords))]:
    root.removeHandler(handler)
    handler.close()
  while _RESTORE:
    restore = _RESTORE.pop()
    for terminal, level in restore.terminal_levels.items():
      terminal.setLevel(level)
    for terminal in restore.added:
      root.removeHandler(terminal)
    root.setLevel(restore.root_level)
    absl_logging.get_absl_logger().setLevel(restore.absl_level)
