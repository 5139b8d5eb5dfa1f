"""The notebooks' shared install cell (gliner_jax/notebooks/install_cell.py).

Fast: its decision (`plan_install`) over the runtimes it meets, what it reads from a wheel's METADATA, where it
finds a source, its report, and that both notebooks hold its exact text. Slow: the file run as a script with the
python of a fresh venv that already holds a jax older than requirements.txt's lock; the venv's jax must stay.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gliner_jax.notebooks import install_cell as ic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CANONICAL = os.path.join(REPO, "gliner_jax", "notebooks", "install_cell.py")
RANGE = ["jax>=0.10.0", "jaxlib>=0.10.0"]


# ----------------------------------------------------------------------------------------------- the decision
def test_compatible_jax_is_kept_with_every_jax_distribution_pinned():
  present = {"jax": "0.10.1", "jaxlib": "0.10.1", "jax-cuda13-plugin": "0.10.1", "jax_cuda13_pjrt": "0.10.1"}
  present |= {"numpy": "2.1.0", "flax": "0.12.0"}
  plan = ic.plan_install(present, RANGE, tpu_runtime="")
  assert plan.action == "keep"
  assert plan.constraints == ["jax==0.10.1", "jax-cuda13-pjrt==0.10.1", "jax-cuda13-plugin==0.10.1", "jaxlib==0.10.1"]
  assert plan.extra_requirements == []
  assert "keeping the runtime's jax 0.10.1" in plan.message and "(jax >=0.10.0)" in plan.message


def test_tpu_runtime_keeps_its_compatible_jax_and_libtpu():
  present = {"jax": "0.10.2", "jaxlib": "0.10.2", "libtpu": "0.0.31"}
  tpu = ic.detect_tpu_runtime(present, environ={})
  assert tpu == "libtpu 0.0.31 is installed"
  plan = ic.plan_install(present, RANGE, tpu)
  assert (plan.action, plan.constraints) == ("keep", ["jax==0.10.2", "jaxlib==0.10.2", "libtpu==0.0.31"])


def test_tpu_runtime_with_incompatible_jax_is_refused():
  present = {"jax": "0.4.30", "jaxlib": "0.4.30", "libtpu-nightly": "0.1.dev20240617"}
  plan = ic.plan_install(present, RANGE, ic.detect_tpu_runtime(present, environ={}))
  assert plan.action == "refuse" and plan.constraints == [] and plan.extra_requirements == []
  assert "TPU runtime (libtpu-nightly 0.1.dev20240617 is installed)" in plan.message
  assert "jax 0.4.30 (needs >=0.10.0), jaxlib 0.4.30 (needs >=0.10.0)" in plan.message
  assert "nothing was installed" in plan.message
  # A TPU runtime without libtpu metadata is still recognised by its environment.
  assert (
    ic.detect_tpu_runtime({"jax": "0.4.30"}, environ={"COLAB_TPU_ADDR": "10.0.0.2:8470"}) == "COLAB_TPU_ADDR is set"
  )
  plan = ic.plan_install({"jax": "0.4.30", "jaxlib": "0.4.30"}, RANGE, "COLAB_TPU_ADDR is set")
  assert plan.action == "refuse"


def test_cpu_runtime_without_jax_installs_one_in_range():
  plan = ic.plan_install({"numpy": "2.1.0"}, RANGE, tpu_runtime="")
  assert (plan.action, plan.constraints, plan.extra_requirements) == ("install", [], [])
  assert plan.message == "no jax in this runtime: installing one in gliner_jax's range (>=0.10.0)"


def test_cpu_or_gpu_runtime_with_incompatible_jax_replaces_it_and_says_so():
  plan = ic.plan_install({"jax": "0.9.2", "jaxlib": "0.9.2", "jax-cuda12-plugin": "0.9.2"}, RANGE, "")
  assert (plan.action, plan.constraints) == ("install", [])
  assert plan.message.startswith("replacing the runtime's jax 0.9.2 (needs >=0.10.0), jaxlib 0.9.2 (needs >=0.10.0)")
  assert "jax-cuda12-plugin stay at their versions" in plan.message
  # Only jaxlib outside the range is enough to replace (or, on a TPU, refuse).
  assert ic.plan_install({"jax": "0.10.1", "jaxlib": "0.9.2"}, RANGE, "").action == "install"
  assert ic.plan_install({"jax": "0.10.1", "jaxlib": "0.9.2"}, RANGE, "TPU_NAME is set").action == "refuse"


def test_tpu_runtime_without_jax_installs_jax_tpu():
  plan = ic.plan_install({}, RANGE, "TPU devices at /dev/accel0")
  assert (plan.action, plan.constraints, plan.extra_requirements) == ("install", [], ["jax[tpu]>=0.10.0"])


def test_exact_pins_and_no_jax_requirement():
  assert ic.plan_install({"jax": "0.10.1", "jaxlib": "0.10.1"}, ["jax==0.10.2"], "").action == "install"
  plan = ic.plan_install({"jax": "0.10.1", "jaxlib": "0.10.1"}, [], "")
  assert plan.action == "keep" and "(jax any version)" in plan.message


# ------------------------------------------------------------------------------------ metadata, source, report
METADATA = """Metadata-Version: 2.4
Name: gliner_jax
Version: 0.1.0
Requires-Python: >=3.11
Requires-Dist: jax>=0.10.0
Requires-Dist: jaxlib>=0.10.0
Requires-Dist: flax>=0.12
Requires-Dist: jax[tpu]>=0.10.0; extra == "tpu"
Requires-Dist: optax>=0.2; extra == "train"
Provides-Extra: tpu
"""


def test_jax_requirements_follow_the_chosen_extras():
  assert ic.jax_requirements(METADATA, []) == ["jax>=0.10.0", "jaxlib>=0.10.0"]
  assert ic.jax_requirements(METADATA, ["train"]) == ["jax>=0.10.0", "jaxlib>=0.10.0"]
  assert ic.jax_requirements(METADATA, ["tpu"]) == ["jax>=0.10.0", "jaxlib>=0.10.0", "jax>=0.10.0"]


def test_python_outside_the_wheel_range_is_named():
  ic.check_python(METADATA)
  here = ".".join(map(str, sys.version_info[:3]))
  capped = METADATA.replace(">=3.11", f"<{sys.version_info[0]}.{sys.version_info[1]}")
  with pytest.raises(ic.InstallError, match=rf"requires Python <3\.\d+ and the runtime runs Python {here}"):
    ic.check_python(capped)


def test_read_metadata_from_a_wheel(tmp_path):
  wheel = tmp_path / "gliner_jax-0.1.0-py3-none-any.whl"
  with zipfile.ZipFile(wheel, "w") as archive:
    archive.writestr("gliner_jax/__init__.py", "")
    archive.writestr("gliner_jax-0.1.0.dist-info/METADATA", METADATA)
  assert ic.read_metadata(str(wheel)) == METADATA
  assert ic.build_wheel(str(wheel), str(tmp_path / "unused")) == str(wheel)


def test_source_order_and_the_message_without_one(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(ic.InstallError) as error:
    ic.find_source(environ={})
  assert "no public URL" in str(error.value) and "/content/gliner_jax" in str(error.value)
  assert "GLINER_JAX_SOURCE" in str(error.value) and "pip wheel --no-deps" in str(error.value)
  clone = tmp_path / "gliner_jax"
  clone.mkdir()
  (clone / "pyproject.toml").write_text('[project]\nname = "gliner_jax"\n')
  assert ic.find_source(environ={}) == str(clone)
  (tmp_path / "gliner_jax-0.1.0-py3-none-any.whl").write_bytes(b"")
  assert ic.find_source(environ={}) == "gliner_jax-0.1.0-py3-none-any.whl"
  assert (
    ic.find_source(environ={"GLINER_JAX_SOURCE": "git+https://example.org/x.git"}) == "git+https://example.org/x.git"
  )
  monkeypatch.chdir(clone)  # a notebook opened in a clone's notebooks/ folder finds the clone above it
  (clone / "notebooks").mkdir()
  monkeypatch.chdir(clone / "notebooks")
  assert os.path.realpath(ic.find_source(environ={})) == os.path.realpath(clone)


def test_report_names_kept_installed_changed_and_removed():
  before = {"jax": "0.10.1", "jaxlib": "0.10.1", "numpy": "2.0.0", "six": "1.0"}
  after = {"jax": "0.10.1", "jaxlib": "0.10.1", "numpy": "2.1.0", "flax": "0.12.8", "gliner-jax": "0.1.0"}
  assert ic.report(before, after, ic.jax_family(before)) == [
    "kept jax 0.10.1 (runtime's)",
    "kept jaxlib 0.10.1 (runtime's)",
    "changed numpy 2.0.0 -> 2.1.0",
    "removed six 1.0",
    "installed flax 0.12.8",
    "installed gliner-jax 0.1.0",
  ]
  # A kept distribution that pip changed after all is reported as changed, not kept.
  assert ic.report({"jax": "0.9"}, {"jax": "0.10"}, {"jax": "0.9"}) == ["changed jax 0.9 -> 0.10"]


def test_ci_mode_refuses_and_an_importable_package_is_left_alone(monkeypatch, capsys):
  assert ic.install(environ={}) == []  # gliner_jax is importable in the test environment
  assert "importable already: nothing installed" in capsys.readouterr().out
  monkeypatch.setattr(ic, "importable", lambda name: False)
  with pytest.raises(ic.InstallError, match="CI installs it"):
    ic.install(environ={"GLINER_JAX_NOTEBOOK_MODE": "ci"})


def test_a_clone_folder_in_the_working_directory_is_not_an_installed_package(tmp_path, monkeypatch):
  """In Colab the cwd is /content, so a clone at /content/gliner_jax imports as an empty namespace package."""
  (tmp_path / "clone_of_pkg_xyz").mkdir()
  (tmp_path / "real_pkg_xyz").mkdir()
  (tmp_path / "real_pkg_xyz" / "__init__.py").write_text("")
  monkeypatch.syspath_prepend(str(tmp_path))
  assert ic.importlib.util.find_spec("clone_of_pkg_xyz") is not None
  assert not ic.importable("clone_of_pkg_xyz") and ic.importable("real_pkg_xyz") and not ic.importable("no_pkg_xyz")


# ---------------------------------------------------------------------------------------------- the notebooks
@pytest.mark.parametrize("name, extras", [("inference_demo.ipynb", ""), ("tpu_pretraining.ipynb", "train")])
def test_both_notebooks_hold_the_canonical_cell(name, extras):
  canonical = open(CANONICAL, encoding="utf-8").read()
  nb = json.load(open(os.path.join(REPO, "notebooks", name), encoding="utf-8"))
  code = [c for c in nb["cells"] if c["cell_type"] == "code"]
  source = "".join(code[0]["source"])
  title, extras_line, body = source.split("\n", 2)
  assert title.startswith("# @title Install gliner_jax")
  assert re.fullmatch(rf'EXTRAS = "{extras}"  # .*', extras_line)
  assert body == canonical, f"copy {CANONICAL} into the first code cell of {name}, after its first two lines"
  for cell in nb["cells"]:  # no placeholder repository anywhere
    assert "YOUR_ORG" not in "".join(cell["source"]) and "github.com" not in "".join(cell["source"])


# ------------------------------------------------------------------------------------- the venv with older jax
def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
  """Runs cmd; a failure shows its output."""
  done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
  assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
  return done


def _lock_version(name: str) -> str:
  (version,) = re.findall(rf"^{name}==(\S+)", open(os.path.join(REPO, "requirements.txt")).read(), re.M)
  return version


def _jax_specifier(wheel: str) -> str:
  """The wheel's requirement on jax, as a specifier ("==0.10.2", ">=0.10.0", "")."""
  reqs = [Requirement(r) for r in ic.jax_requirements(ic.read_metadata(wheel), [])]
  return ",".join(str(r.specifier) for r in reqs if r.name == "jax" and r.specifier)


def _with_jax_range(wheel: str, spec: str, folder: str) -> str:
  """A copy of the wheel (in `folder`, beside it) whose jax and jaxlib requirements say `spec`."""
  patched = os.path.join(os.path.dirname(wheel), folder, os.path.basename(wheel))
  os.makedirs(os.path.dirname(patched))
  with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as dst:
    for item in src.infolist():
      data = src.read(item)
      if item.filename.endswith(".dist-info/METADATA"):
        data = re.sub(
          r"^Requires-Dist: (jax|jaxlib)\s*(?:[<>=!~][^;\n]*)?$", rf"Requires-Dist: \1{spec}", data.decode(), flags=re.M
        )
        data = data.encode()
      dst.writestr(item, data)
  assert _jax_specifier(patched) == spec
  return patched


def _admit_older(wheel: str, lock: str) -> str:
  """The wheel, if its jax range admits the lock's `major.minor.0`; else (exact pins) the wheel with its jax
  and jaxlib requirements rewritten to `>=major.minor.0`, as a range in pyproject.toml would say."""
  major, minor = lock.split(".")[:2]
  if SpecifierSet(_jax_specifier(wheel)).contains(f"{major}.{minor}.0"):
    return wheel
  return _with_jax_range(wheel, f">={major}.{minor}.0", "ranged")


@pytest.mark.slow
@pytest.mark.subprocess
def test_install_cell_keeps_an_older_compatible_jax_in_a_venv(tmp_path):
  env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GLINER_JAX_NOTEBOOK_MODE", "VIRTUAL_ENV")}
  env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
  run = lambda *cmd, **kw: _run(cmd, **{"env": env, **kw})
  run(
    sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), REPO
  )
  (wheel,) = glob.glob(str(tmp_path / "dist" / "gliner_jax-*.whl"))
  lock = _lock_version("jax")
  wheel = _admit_older(wheel, lock)
  older_spec = ",".join(filter(None, [_jax_specifier(wheel), f"<{lock}"]))

  venv = tmp_path / "venv"
  run(sys.executable, "-m", "venv", str(venv))
  python = str(venv / "bin" / "python")
  run(python, "-m", "pip", "install", "-q", f"jax{older_spec}", f"jaxlib{older_spec}")
  versions = lambda: json.loads(
    run(
      python,
      "-c",
      "import json, importlib.metadata as m; print(json.dumps({d: m.version(d) for d in ('jax', 'jaxlib')}))",
    ).stdout
  )
  older = versions()
  assert Version(older["jax"]) < Version(lock) and older["jaxlib"] == older["jax"]

  cell = tmp_path / "cell" / "install_cell.py"  # outside the repository, as in a fresh runtime
  cell.parent.mkdir()
  shutil.copy(CANONICAL, cell)
  # A TPU runtime whose jax is below the package's range: refused before pip runs, nothing changes.
  newer_only = _with_jax_range(wheel, f">={lock}", "newer_only")
  refused = subprocess.run(
    [python, str(cell)],
    cwd=str(cell.parent),
    env={**env, "GLINER_JAX_SOURCE": newer_only, "TPU_NAME": "v5e-test"},
    capture_output=True,
    text=True,
  )
  assert refused.returncode == 1, refused.stdout + refused.stderr
  assert f"TPU runtime (TPU_NAME is set) and its jax {older['jax']} (needs >={lock})" in refused.stderr
  assert "nothing was installed" in refused.stderr and not re.search(r"^installed ", refused.stdout, re.M)
  assert versions() == older

  out = run(python, str(cell), cwd=str(cell.parent), env={**env, "GLINER_JAX_SOURCE": wheel}).stdout
  assert f"keeping the runtime's jax {older['jax']}, jaxlib {older['jaxlib']}" in out
  assert f"kept jax {older['jax']} (runtime's)" in out and f"kept jaxlib {older['jaxlib']} (runtime's)" in out
  assert re.search(r"^installed gliner-jax 0\.1\.0$", out, re.M) and re.search(r"^installed flax \S+$", out, re.M)
  assert not re.search(r"^(changed|removed) jax", out, re.M)
  assert versions() == older

  text, labels = "Marie Curie worked at the University of Paris in 1903.", ["person", "organization", "date"]
  predict = (
    "import json, gliner_jax\n"
    "m = gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)\n"
    f"print(json.dumps([[e.start, e.end, e.label, e.score] for e in m.predict_entities({text!r}, {labels!r})]))\n"
  )
  theirs = json.loads(run(python, "-c", predict, cwd=str(tmp_path)).stdout.strip().splitlines()[-1])
  import gliner_jax

  ours = gliner_jax.GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL).predict_entities(text, labels)
  assert [t[:3] for t in theirs] == [[e.start, e.end, e.label] for e in ours] and ours
  assert [t[3] for t in theirs] == pytest.approx([e.score for e in ours], abs=1e-4)
