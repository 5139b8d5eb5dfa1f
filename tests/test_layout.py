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
