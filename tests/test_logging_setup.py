"""Quiet by default: INFO lines go to <workdir>/log.txt, warnings and errors reach the terminal too, and
--verbosity brings INFO back to the terminal (gliner_jax.training.logging_setup, scripts/train.py)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest
from absl import logging as absl_logging

from gliner_jax.training.logging_setup import (
  LOG_FILE,
  log_file_name,
  log_to_workdir,
  quiet_terminal,
  stop_logging_to_workdir,
  terminal_level,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ABSL_INFO = re.compile(r"^I\d{4} ", re.M)  # absl's prefix of an INFO line: I<month><day> <time> ...


@pytest.fixture
def clean_root():
  """The root logger as a script would have it: one stderr handler (made under capsys), level WARNING."""
  root = logging.getLogger()
  saved = root.handlers[:], root.level
  root.handlers = [h for h in root.handlers if not isinstance(h, logging.StreamHandler)]
  root.setLevel(logging.WARNING)
  yield root
  stop_logging_to_workdir()
  root.handlers, root.level = saved[0], saved[1]


def _read(path: str) -> str:
  with open(path) as f:
    return f.read()


def test_info_goes_to_the_file_and_warnings_to_both(clean_root, capsys, tmp_path):
  terminal = logging.StreamHandler()  # sys.stderr is capsys's here
  clean_root.addHandler(terminal)
  path = log_to_workdir(str(tmp_path / "run"))
  assert path == os.path.join(str(tmp_path / "run"), LOG_FILE)
  logging.getLogger("orbax.checkpoint").info("saved step %d", 5)
  absl_logging.info("absl info line")
  logging.getLogger("jax").warning("a warning")
  logging.getLogger("gliner_jax").error("an error")
  text, shown = _read(path), capsys.readouterr().err
  assert "saved step 5" in text and "absl info line" in text and "a warning" in text and "an error" in text
  assert "saved step" not in shown and "absl info line" not in shown
  assert shown.splitlines() == ["a warning", "an error"]
  assert ABSL_INFO.search(text)  # absl's format: level, date, time, file:line
  # Stopping puts the terminal's and the root's levels back and closes the file.
  stop_logging_to_workdir()
  assert terminal.level == logging.NOTSET and clean_root.level == logging.WARNING
  assert terminal in clean_root.handlers and not any(isinstance(h, logging.FileHandler) for h in clean_root.handlers)
  logging.getLogger("gliner_jax").warning("after")
  assert "after" not in _read(path)


def test_verbosity_brings_info_to_the_terminal(clean_root, capsys, tmp_path):
  clean_root.addHandler(logging.StreamHandler())
  path = log_to_workdir(str(tmp_path), verbosity=0)
  logging.getLogger("orbax").info("info shown")
  logging.getLogger("orbax").debug("debug hidden")
  assert capsys.readouterr().err.splitlines() == ["info shown"]
  assert "info shown" in _read(path) and "debug hidden" not in _read(path)
  # -2 (ERROR): warnings leave the terminal, the file keeps INFO.
  path = log_to_workdir(str(tmp_path / "again"), verbosity=-2)
  logging.getLogger("orbax").info("info again")
  logging.getLogger("orbax").warning("warning again")
  assert capsys.readouterr().err == ""
  assert "info again" in _read(path) and "warning again" in _read(path)
  assert "info again" not in _read(os.path.join(str(tmp_path), LOG_FILE))  # the first file is closed


def test_records_held_before_the_file_is_named(clean_root, capsys, tmp_path):
  quiet_terminal()
  logging.getLogger("gliner_jax.training.distributed").info("process 0 of 1")
  logging.getLogger("jax").warning("early warning")
  assert capsys.readouterr().err == "early warning\n"  # no handler yet: log_to_workdir's own stderr handler
  path = log_to_workdir(str(tmp_path))
  logging.getLogger("gliner_jax").info("later")
  text = _read(path)
  assert text.index("process 0 of 1") < text.index("early warning") < text.index("later")
  stop_logging_to_workdir()
  assert clean_root.level == logging.WARNING
  assert not [h for h in clean_root.handlers if type(h) is logging.StreamHandler]  # the one it added is gone


def test_names_levels_and_bad_input(clean_root, tmp_path):
  assert [log_file_name(i) for i in (0, 1, 7)] == ["log.txt", "log.process1.txt", "log.process7.txt"]
  assert [terminal_level(v) for v in (None, -2, -1, 0, 1)] == [
    logging.WARNING,
    logging.ERROR,
    logging.WARNING,
    logging.INFO,
    logging.DEBUG,
  ]
  with pytest.raises(ValueError, match="process_index"):
    log_file_name(-1)
  with pytest.raises(ValueError, match="workdir is empty"):
    log_to_workdir("")
  path = log_to_workdir("gs://bucket/run")
  assert os.path.basename(path) == LOG_FILE and "gs:" not in path and os.path.isfile(path)
  assert "not a local folder" in _read(path)


@pytest.mark.slow
@pytest.mark.subprocess
def test_train_script_is_quiet_and_logs_to_the_workdir(tmp_path):
  """scripts/train.py on configs/tiny.py for 2 steps: no INFO line on the terminal, all of them (orbax's
  checkpoint lines, the loop's) in log.txt; with --verbosity=0 they reach the terminal as well."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
  env["XLA_FLAGS"] = "--xla_backend_optimization_level=0"

  def run(workdir, *flags):
    command = [
      sys.executable,
      os.path.join(REPO_ROOT, "scripts", "train.py"),
      f"--config={os.path.join(REPO_ROOT, 'configs', 'tiny.py')}",
      f"--workdir={workdir}",
      "--config.train.num_steps=2",
      "--config.train.checkpoint_every=1",
      "--config.train.eval_every=2",
      *flags,
    ]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return proc.stdout + proc.stderr, _read(os.path.join(workdir, LOG_FILE))

  orbax_line = re.compile(r"^I\d{4} .* checkpoint_manager\.py:\d+\] ", re.M)
  shown, log = run(str(tmp_path / "quiet"))
  assert not ABSL_INFO.search(shown), shown[-3000:]
  assert "train: 100%" in shown  # the progress bar is still there
  assert orbax_line.search(log) and "process 0 builds data shards [0]" in log, log[-3000:]
  shown, log = run(str(tmp_path / "verbose"), "--verbosity=0")
  assert orbax_line.search(shown) and "process 0 builds data shards [0]" in shown, shown[-3000:]
  assert orbax_line.search(log)


@pytest.mark.subprocess
def test_backend_start_up_lines_go_to_the_file(tmp_path):
  """In a fresh process log_to_workdir itself starts jax's backends (jax.process_index()); jax's INFO
  lines about backends it could not start go to log.txt, not to the terminal."""
  code = (
    "import logging, sys\n"
    "logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))\n"
    "from gliner_jax.training.logging_setup import log_to_workdir\n"
    f"print(log_to_workdir({str(tmp_path)!r}))\n"
  )
  env = dict(os.environ, JAX_PLATFORMS="")  # every backend is tried: 'tpu' and 'cuda' fail here, at INFO
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  log = _read(proc.stdout.strip())
  assert "xla_bridge.py" in log and "Unable to initialize backend" in log, log[-3000:]
  assert "Unable to initialize backend" not in proc.stderr, proc.stderr[-3000:]
