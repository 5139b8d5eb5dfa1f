"""The package is laid out by stage and its imports point one way: each stage uses only those before it.

model -> interop -> processing -> inference -> data -> evaluation -> training -> scaling -> notebooks.
Lazy imports inside functions count too (they are read from the source, not from what happens to be imported).
"""

from __future__ import annotations

import ast
import os

import gliner_jax

STAGES = ("model", "interop", "processing", "inference", "data", "evaluation", "training", "scaling", "notebooks")
PACKAGE = os.path.dirname(os.path.abspath(gliner_jax.__file__))


def _modules():
  for root, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(root, name)
        yield os.path.relpath(path, PACKAGE), path


def _imported_stages(path: str) -> set[tuple[str, int]]:
  out = set()
  for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
    names = []
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    elif isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    for name in names:
      parts = name.split(".")
      if parts[0] == "gliner_jax" and len(parts) > 1 and parts[1] in STAGES:
        out.add((parts[1], node.lineno))
  return out


def test_every_module_lives_in_a_stage():
  loose = sorted(rel for rel, _ in _modules() if os.sep not in rel and rel != "__init__.py")
  assert loose == [], f"modules outside the stage packages: {loose}"
  for stage in STAGES:
    assert os.path.isfile(os.path.join(PACKAGE, stage, "__init__.py")), stage


def test_imports_point_one_way():
  problems = []
  for rel, path in _modules():
    stage = rel.split(os.sep)[0]
    if stage not in STAGES:
      continue
    for used, line in _imported_stages(path):
      if STAGES.index(used) > STAGES.index(stage):
        problems.append(f"gliner_jax/{rel}:{line} ({stage}) imports gliner_jax.{used}")
  assert not problems, "imports against the stage order:\n  " + "\n  ".join(sorted(problems))


def test_top_level_names_stay():
  assert set(gliner_jax.__all__) == {
    "DEFAULT_MODEL",
    "GLiNER",
    "GLiNERConfig",
    "Entity",
    "SpanPrediction",
    "decode_spans",
  }
  for name in gliner_jax.__all__:
    assert getattr(gliner_jax, name) is not None


def _module_name(rel: str) -> str:
  parts = rel[: -len(".py")].split(os.sep)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(["gliner_jax", *parts])


def _import_graph() -> dict[str, set[str]]:
  """Module -> the gliner_jax modules it imports anywhere in its source (inside functions too).

  `from gliner_jax.a import b` counts as importing `gliner_jax.a.b` when that is a module, else `gliner_jax.a`.
  """
  modules = {_module_name(rel): path for rel, path in _modules()}
  graph = {}
  for name, path in modules.items():
    edges = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
      targets = []
      if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        targets = [
          f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names
        ]
      elif isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      edges |= {t for t in targets if t in modules and t != name}
    graph[name] = edges
  return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """One cycle per strongly connected component of more than one module (Tarjan's algorithm)."""
  index, low, stack, on_stack, out = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        out.append(sorted(component))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return out


def test_cycle_finder_finds_cycles():
  assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
  assert _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycles():
  cycles = _cycles(_import_graph())
  assert not cycles, "modules importing each other (imports inside functions count):\n  " + "\n  ".join(
    " <-> ".join(c) for c in cycles
  )


def _module_aliases(tree: ast.AST) -> dict[str, str]:
  """Local name -> gliner_jax module, for `import gliner_jax.x as y` and `from gliner_jax.x import module`."""
  aliases = {}
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      aliases.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("gliner_jax.")})
    elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gliner_jax"):
      for a in node.names:
        folder = os.path.join(PACKAGE, *node.module.split(".")[1:], a.name)
        if os.path.isfile(folder + ".py") or os.path.isdir(folder):
          aliases[a.asname or a.name] = f"{node.module}.{a.name}"
  return aliases


def _private_uses(source: str) -> list[tuple[int, str]]:
  """(line, what) for each private name imported from, or read off, another gliner_jax module."""
  tree = ast.parse(source)
  aliases = _module_aliases(tree)
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gliner_jax"):
      private = [a.name for a in node.names if a.name.startswith("_")]
      if private:
        found.append((node.lineno, f"imports {private} from {node.module}"))
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
      if node.attr.startswith("_") and not node.attr.startswith("__"):
        found.append((node.lineno, f"reads {aliases[node.value.id]}.{node.attr}"))
  return sorted(found)


def test_private_use_finder_finds_both_forms():
  source = (
    "from gliner_jax.data import readers\nimport gliner_jax.data.recipe as rc\nfrom gliner_jax.model.config import _X\n"
    "readers._load(1)\nrc._plan\nreaders.load(1)\nrc.__name__\n"
  )
  assert _private_uses(source) == [
    (3, "imports ['_X'] from gliner_jax.model.config"),
    (4, "reads gliner_jax.data.readers._load"),
    (5, "reads gliner_jax.data.recipe._plan"),
  ]


def test_no_private_names_imported_across_modules():
  problems = []
  for rel, path in _modules():
    for line, what in _private_uses(open(path, encoding="utf-8").read()):
      problems.append(f"gliner_jax/{rel}:{line} {what}")
  assert not problems, "private names used across modules:\n  " + "\n  ".join(sorted(problems))
