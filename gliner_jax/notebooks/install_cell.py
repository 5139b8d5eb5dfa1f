# Installs gliner_jax into this runtime, keeping the runtime's own jax (canonical copy, and the same text in
# both notebooks: gliner_jax/notebooks/install_cell.py; docs/colab.md explains it).
"""Install gliner_jax into a Colab / TPU VM / Jupyter runtime without swapping the runtime's jax.

The notebooks' first code cell is this file's text (after an `EXTRAS = "..."` line); it also runs as a plain
script, before gliner_jax is installed, so it imports nothing from gliner_jax:

  GLINER_JAX_SOURCE=dist/gliner_jax-0.1.0-py3-none-any.whl GLINER_JAX_EXTRAS=train \\
    python gliner_jax/notebooks/install_cell.py

Where it installs from, first found: `GLINER_JAX_SOURCE` (any pip requirement: a path, a wheel URL,
`git+https://...`), an uploaded wheel (`/content/gliner_jax-*.whl` or `./gliner_jax-*.whl`, the newest),
a clone (`/content/gliner_jax`, `./gliner_jax`, or the folder above a clone's `notebooks/`). It reads the jax
range from the package's own metadata and then, with `plan_install`:
- a present jax inside the range is kept: pip runs with a constraints file pinning jax, jaxlib, libtpu and
  any jax plugin at their present versions;
- a present jax outside the range on a TPU runtime stops the cell (a new jax would not match libtpu);
  elsewhere pip replaces it and the cell says so;
- with no jax, pip installs one in range (on a TPU runtime as `jax[tpu]`, which brings its libtpu).
Every distribution that changed is printed ("installed X 1.2", "changed Y 1.0 -> 1.1", "kept jax 0.9").

Example (pure decision, no pip):
  >>> plan_install({"jax": "0.10.1", "jaxlib": "0.10.1"}, ["jax>=0.10.0", "jaxlib>=0.10.0"], tpu_runtime="").action
  'keep'
"""

import dataclasses
import glob
import importlib
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import zipfile

try:
  from packaging.requirements import Requirement
  from packaging.specifiers import SpecifierSet
except ImportError:  # a bare venv: pip vendors packaging
  from pip._vendor.packaging.requirements import Requirement
  from pip._vendor.packaging.specifiers import SpecifierSet

JAX_FAMILY = re.compile(r"^(jax|jaxlib|libtpu(-nightly)?|jax-(cuda|rocm)\d*-(plugin|pjrt))$")
TPU_ENV = ("COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_HOSTNAMES")
CLONES = ("/content/gliner_jax", "gliner_jax", ".", "..")
HOW_TO_PROVIDE = (
  "gliner_jax is not on PyPI and has no public URL, so give this runtime a copy, one of:\n"
  "  - a wheel: in a clone run `python -m pip wheel --no-deps . -w dist` and upload dist/gliner_jax-*.whl to\n"
  "    the Colab file pane (it lands in /content);\n"
  "  - a clone: upload or `git clone` your copy of the repository to /content/gliner_jax;\n"
  "  - anything pip installs: os.environ['GLINER_JAX_SOURCE'] = '<path, wheel URL or git+https://...>'\n"
  "then re-run this cell."
)


class InstallError(RuntimeError):
  """The cell cannot install gliner_jax here; the message says why and what to do."""


@dataclasses.dataclass
class InstallPlan:
  """What pip is asked to do about jax: `action` is "keep", "install" or "refuse"."""

  action: str
  constraints: list  # pip constraint lines ("jax==0.10.1"), pinning the runtime's jax family
  extra_requirements: list  # installed next to gliner_jax ("jax[tpu]>=0.10.0" on a TPU runtime without jax)
  message: str


def canonical(name: str) -> str:
  return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> dict:
  """{canonical name: version} of every distribution this interpreter sees."""
  out = {}
  for dist in importlib.metadata.distributions():
    name = dist.metadata["Name"]
    if name:
      out.setdefault(canonical(name), dist.version)
  return out


def jax_family(present: dict) -> dict:
  return {name: version for name, version in present.items() if JAX_FAMILY.match(name)}


def detect_tpu_runtime(present: dict, environ=os.environ) -> str:
  """Why this looks like a TPU runtime ("libtpu 0.0.30 is installed"), or "" when it does not."""
  for name in ("libtpu", "libtpu-nightly"):
    if name in present:
      return f"{name} {present[name]} is installed"
  for var in TPU_ENV:
    if environ.get(var):
      return f"{var} is set"
  devices = sorted(glob.glob("/dev/accel[0-9]*") + glob.glob("/dev/vfio/[0-9]*"))
  return f"TPU devices at {devices[0]}" if devices else ""


def plan_install(present: dict, requirements: list, tpu_runtime: str) -> InstallPlan:
  """Decides how to treat the runtime's jax, from its versions and the package's jax/jaxlib requirements.

  present: {distribution: version} (only the jax family is read); requirements: the package's requirement
  strings for jax and jaxlib ("jax>=0.10.0"); tpu_runtime: why this is a TPU runtime, "" when it is not.
  """
  family = jax_family({canonical(k): v for k, v in present.items()})
  specs = {}
  for line in requirements:
    req = Requirement(line)
    name = canonical(req.name)
    specs[name] = specs[name] & req.specifier if name in specs else req.specifier
  jax_spec = str(specs.get("jax", "")) or "any version"
  outside = [
    f"{name} {family[name]} (needs {spec})"
    for name, spec in sorted(specs.items())
    if name in family and not spec.contains(family[name], prereleases=True)
  ]
  if "jax" in family and not outside:
    pins = [f"{name}=={version}" for name, version in sorted(family.items())]
    kept = ", ".join(f"{name} {version}" for name, version in sorted(family.items()))
    return InstallPlan("keep", pins, [], f"keeping the runtime's {kept}: inside gliner_jax's range (jax {jax_spec})")
  if outside and tpu_runtime:
    return InstallPlan(
      "refuse",
      [],
      [],
      f"this is a TPU runtime ({tpu_runtime}) and its {', '.join(outside)} is outside gliner_jax's range; a "
      "different jax would not match the runtime's libtpu, so nothing was installed. Use a runtime whose jax is "
      "in range, or a gliner_jax build whose range admits this jax.",
    )
  if outside:
    plugins = sorted(n for n in family if n.startswith(("jax-cuda", "jax-rocm")))
    note = f"; {', '.join(plugins)} stay at their versions: match them to the new jax" if plugins else ""
    return InstallPlan("install", [], [], f"replacing the runtime's {', '.join(outside)} with a jax in range{note}")
  if tpu_runtime:
    extra = [f"jax[tpu]{specs.get('jax', '')}"]
    return InstallPlan("install", [], extra, f"no jax in this TPU runtime ({tpu_runtime}): installing {extra[0]}")
  return InstallPlan("install", [], [], f"no jax in this runtime: installing one in gliner_jax's range ({jax_spec})")


def read_metadata(wheel: str) -> str:
  with zipfile.ZipFile(wheel) as archive:
    (name,) = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
    return archive.read(name).decode("utf-8")


def jax_requirements(metadata: str, extras: list) -> list:
  """The package's `Requires-Dist` lines for jax and jaxlib that apply with these extras."""
  out = []
  for line in re.findall(r"^Requires-Dist: (.+)$", metadata, re.M):
    req = Requirement(line)
    if canonical(req.name) not in ("jax", "jaxlib"):
      continue
    if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ["", *extras]):
      out.append(f"{req.name}{req.specifier}")
  return out


def check_python(metadata: str) -> None:
  found = re.search(r"^Requires-Python: (.+)$", metadata, re.M)
  here = ".".join(map(str, sys.version_info[:3]))
  if found and not SpecifierSet(found.group(1)).contains(here, prereleases=True):
    raise InstallError(
      f"this gliner_jax build requires Python {found.group(1)} and the runtime runs Python {here}: build the "
      "wheel from a newer gliner_jax (its pyproject.toml sets requires-python) and give that one."
    )


def find_source(environ=os.environ) -> str:
  """The pip requirement to install gliner_jax from (see the module docstring), or InstallError."""
  if environ.get("GLINER_JAX_SOURCE"):
    return environ["GLINER_JAX_SOURCE"]
  wheels = glob.glob("/content/gliner_jax-*.whl") + glob.glob("gliner_jax-*.whl")
  if wheels:
    return max(wheels, key=os.path.getmtime)
  for folder in CLONES:
    pyproject = os.path.join(folder, "pyproject.toml")
    if os.path.isfile(pyproject) and re.search(r'^name = "gliner_jax"', open(pyproject).read(), re.M):
      return os.path.abspath(folder)
  raise InstallError(HOW_TO_PROVIDE)


def importable(name: str) -> bool:
  """`import name` would find a real package (a clone's folder in the working directory is only a namespace)."""
  spec = importlib.util.find_spec(name)
  return spec is not None and spec.origin not in (None, "namespace")


def pip(*args: str) -> None:
  """Runs pip, echoing its output through print (a notebook shows it; a subprocess's own stdout it may not)."""
  command = [sys.executable, "-m", "pip", *args]
  with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
    for line in process.stdout:
      print(line, end="")
  if process.returncode:
    raise InstallError(f"`{' '.join(command)}` failed: pip's message is above")


def build_wheel(source: str, folder: str) -> str:
  """A wheel of `source`: the file itself, or what `pip wheel --no-deps` makes of a folder, URL or name."""
  if source.endswith(".whl") and os.path.isfile(source):
    return source
  print(f"building a wheel of {source}")
  pip("wheel", "-q", "--no-deps", "-w", folder, source)
  (wheel,) = glob.glob(os.path.join(folder, "gliner_jax-*.whl"))
  return wheel


def report(before: dict, after: dict, kept: dict) -> list:
  """Lines naming the runtime's jax family that was kept, then every distribution changed, removed, installed."""
  names = sorted(set(before) | set(after))
  return (
    [f"kept {name} {version} (runtime's)" for name, version in sorted(kept.items()) if after.get(name) == version]
    + [f"changed {n} {before[n]} -> {after[n]}" for n in names if n in before and n in after and before[n] != after[n]]
    + [f"removed {n} {before[n]}" for n in names if n in before and n not in after]
    + [f"installed {n} {after[n]}" for n in names if n in after and n not in before]
  )


def install(extras: str = "", environ=os.environ) -> list:
  """Installs gliner_jax[extras] as the module docstring says; returns the printed report lines."""
  if importable("gliner_jax") and not environ.get("GLINER_JAX_SOURCE"):
    print("gliner_jax is importable already: nothing installed (set GLINER_JAX_SOURCE to install another copy)")
    return []
  if environ.get("GLINER_JAX_NOTEBOOK_MODE") == "ci":
    raise InstallError("gliner_jax is not importable: CI installs it (scripts/setup.sh) before the notebooks run")
  extras_list = [e.strip() for e in extras.split(",") if e.strip()]
  source = find_source(environ)
  before = installed_distributions()
  with tempfile.TemporaryDirectory() as folder:
    wheel = build_wheel(source, folder)
    metadata = read_metadata(wheel)
    check_python(metadata)
    tpu = detect_tpu_runtime(before, environ)
    plan = plan_install(before, jax_requirements(metadata, extras_list), tpu)
    print(f"gliner_jax from {source}: {plan.message}")
    if plan.action == "refuse":
      raise InstallError(plan.message)
    constraints = os.path.join(folder, "constraints.txt")
    with open(constraints, "w") as f:
      f.write("".join(line + "\n" for line in plan.constraints))
    target = wheel + (f"[{','.join(extras_list)}]" if extras_list else "")
    try:
      pip("install", "-q", "--progress-bar", "off", "-c", constraints, target, *plan.extra_requirements)
    except InstallError as e:
      if plan.action == "keep":
        raise InstallError(
          f"{e}; the runtime's jax was pinned ({', '.join(plan.constraints)}): a dependency that "
          "needs another jax is in pip's message"
        ) from None
      raise
  importlib.invalidate_caches()
  after = installed_distributions()
  lines = report(before, after, jax_family(before) if plan.action == "keep" else {})
  stale = [n for n in before if n in after and before[n] != after[n] and n.replace("-", "_") in sys.modules]
  if stale:
    lines.append(f"{', '.join(stale)} changed after being imported: restart the session, then skip this cell")
  print("\n".join(lines))
  return lines


if __name__ == "__main__":
  try:
    install(globals().get("EXTRAS") or os.environ.get("GLINER_JAX_EXTRAS", ""))
  except InstallError as error:
    if "ipykernel" in sys.modules:
      raise
    sys.exit(f"install_cell: {error}")
