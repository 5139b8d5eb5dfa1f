"""The suite's skip policy (tests/conftest.py): a local run skips a test whose requirement is missing and
names the command that installs it; with CI=true the test fails instead, and a run that skipped anything
(a plain `pytest.skip` too) exits with a failure. Checked on a throwaway suite run with this conftest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import pip_install

HERE = os.path.dirname(os.path.abspath(__file__))

SUITE = """
import pytest
from conftest import require_module, require_shared_data, skip_or_fail

def test_passes():
  assert True

def test_plain_skip():
  pytest.skip("nothing to see")

def test_missing_module():
  require_module("no_such_module_xyz")

def test_missing_tool():
  skip_or_fail("the frobnicator is missing", "pip install frobnicator==1.0")

@pytest.mark.needs_shared_data
def test_needs_data():
  assert True
"""


def _run(tmp_path, ci: bool, only: str | None = None) -> subprocess.CompletedProcess:
  suite = tmp_path / "suite"
  suite.mkdir(exist_ok=True)
  shutil.copy(os.path.join(HERE, "conftest.py"), suite / "conftest.py")
  (suite / "test_suite.py").write_text(SUITE)
  env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
  env["GLINER_JAX_DATA"] = str(tmp_path / "no_data_here")
  if ci:
    env["CI"] = "true"
  args = [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", "--rootdir", str(suite), str(suite)]
  if only:
    args += ["-k", only]
  return subprocess.run(args, capture_output=True, text=True, env=env, cwd=str(suite), timeout=300)


@pytest.mark.subprocess
def test_local_run_skips_and_names_the_install_command(tmp_path):
  proc = _run(tmp_path, ci=False)
  out = proc.stdout
  assert proc.returncode == 0, out + proc.stderr
  assert "1 passed, 4 skipped" in out
  assert "no_such_module_xyz is not importable" in out and ".venv/bin/python -m pip install no_such_module_xyz" in out
  assert "to run it: pip install frobnicator==1.0" in out
  assert "no_data_here is missing" in out and "GLINER_JAX_DATA" in out


@pytest.mark.subprocess
def test_ci_fails_on_a_missing_requirement(tmp_path):
  proc = _run(tmp_path, ci=True)
  out = proc.stdout
  assert proc.returncode == 1, out + proc.stderr
  assert "CI=true, so this fails instead of skipping: the frobnicator is missing" in out
  assert "2 failed, 1 passed, 1 skipped, 1 error" in out
  assert "FAILED test_suite.py::test_missing_module" in out
  assert "ERROR test_suite.py::test_needs_data" in out  # the marker fails in set-up


@pytest.mark.subprocess
@pytest.mark.parametrize("only,passes", [("test_plain_skip", False), ("test_passes", True)])
def test_ci_fails_a_run_that_skipped_anything(tmp_path, only, passes):
  proc = _run(tmp_path, ci=True, only=only)
  assert (proc.returncode == 0) == passes, proc.stdout + proc.stderr
  if not passes:
    assert "1 skipped" in proc.stdout
    assert "CI=true: 1 skipped, and CI runs every test, so the run fails" in proc.stdout


def test_pip_install_uses_the_pins():
  assert re.fullmatch(r"\.venv/bin/python -m pip install nbformat==[\d.]+", pip_install("nbformat"))
  assert re.fullmatch(r"\.venv/bin/python -m pip install torch==[\d.]+ gliner==[\d.]+", pip_install("torch", "gliner"))
  assert pip_install("not_pinned") == ".venv/bin/python -m pip install not_pinned"
