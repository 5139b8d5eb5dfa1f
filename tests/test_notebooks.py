"""The Colab notebooks: stored clean (no outputs), and executed headless with nbclient in ci mode.

ci mode (GLINER_JAX_NOTEBOOK_MODE=ci) is offline and small: the inference demo loads the model named
by GLINER_JAX_MODEL (here a gliner 0.2.29 reference on bert-tiny, converted), the pretraining notebook
trains configs/tiny.py for 4 + 2 steps, resumes, evaluates on the bundled CrossNER slice and predicts.
The pretraining notebook's set-up cells also run with their defaults (as in plain Jupyter, not Colab).
A cell error fails the test.
"""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from conftest import _build_reference, require_module

nbformat = require_module("nbformat")
nbclient = require_module("nbclient")
require_module("ipykernel")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = ("inference_demo.ipynb", "tpu_pretraining.ipynb")
KERNEL = "gliner_jax_test"


def _read(name: str):
  return nbformat.read(os.path.join(REPO, "notebooks", name), as_version=4)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_clean_and_uses_the_library(name):
  nb = _read(name)
  nbformat.validate(nb)
  first = nb.cells[0]
  assert first.cell_type == "markdown"
  assert "What it needs" in first.source and "How long it takes" in first.source
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert code
  for cell in code:
    assert cell.outputs == [] and cell.execution_count is None, f"{name}: cell {cell.id} has outputs"
    if cell is code[0]:  # the install cell runs before gliner_jax exists (tests/test_notebook_install.py)
      continue
    # The notebooks call the library; functions, classes and private names live in gliner_jax.
    assert not re.search(r"^\s*(def|class|async def) ", cell.source, re.M), f"{name}: cell {cell.id} defines code"
    assert not re.search(r"\b(nbu|gliner_jax(\.\w+)*)\._\w", cell.source), f"{name}: private name in {cell.id}"
  sources = "\n".join(c.source for c in code)
  assert "GLINER_JAX_NOTEBOOK_MODE" in sources  # the install cell is skipped / refuses in ci mode
  assert "# @param" in sources  # Colab form fields


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
  """A kernel spec running this interpreter, and the environment of ci mode (inherited by the kernel)."""
  root = tmp_path_factory.mktemp("jupyter")
  spec_dir = root / "kernels" / KERNEL
  spec_dir.mkdir(parents=True)
  (spec_dir / "kernel.json").write_text(
    json.dumps(
      {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gliner_jax test",
        "language": "python",
      }
    )
  )
  pythonpath = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)
  return {
    "JUPYTER_PATH": str(root),
    "IPYTHONDIR": str(root / "ipython"),
    "PYTHONPATH": pythonpath,
    "GLINER_JAX_NOTEBOOK_MODE": "ci",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
  }


@pytest.fixture(scope="module")
def demo_model(bert_tiny_dir, tmp_path_factory) -> str:
  """A gliner_jax checkpoint converted from a gliner 0.2.29 reference on bert-tiny (random heads)."""
  import torch

  from gliner_jax.interop.convert import convert_gliner_checkpoint

  reference = str(tmp_path_factory.mktemp("ref_bert_tiny"))
  _build_reference(bert_tiny_dir, reference, hidden_size=64, max_width=4, max_len=64, max_types=8)
  torch.set_num_threads(1)
  return convert_gliner_checkpoint(reference, str(tmp_path_factory.mktemp("demo_model")))


def _execute(name: str, monkeypatch, env: dict[str, str], cwd, cells: int | None = None) -> tuple:
  """Executes the notebook (its first `cells` cells when given) in a kernel started with `env`."""
  for key, value in env.items():
    monkeypatch.setenv(key, value)
  nb = _read(name)
  if cells is not None:
    nb.cells = nb.cells[:cells]
  client = nbclient.NotebookClient(
    nb, timeout=300, kernel_name=KERNEL, allow_errors=False, resources={"metadata": {"path": str(cwd)}}
  )
  client.execute()
  return nb, _outputs(nb)


def _outputs(nb) -> str:
  """All text, HTML and markdown outputs of the executed notebook, joined."""
  parts = []
  for cell in nb.cells:
    for out in cell.get("outputs", []):
      if out.output_type == "stream":
        parts.append(out.text)
      elif out.output_type in ("display_data", "execute_result"):
        parts += [str(out.data.get(k, "")) for k in ("text/plain", "text/html", "text/markdown")]
        parts.append("<png>" if "image/png" in out.data else "")
  return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.subprocess
def test_inference_demo_runs_offline(demo_model, kernel_env, monkeypatch, tmp_path):
  nb, text = _execute("inference_demo.ipynb", monkeypatch, {**kernel_env, "GLINER_JAX_MODEL": demo_model}, tmp_path)
  assert f"Loaded {demo_model!r}." in text
  assert "bert 2x128, hidden 64, max_len 64 words" in text
  assert text.count("<table>") == 3  # one entity table per demo text
  assert "<mark " in text  # the random heads score plenty of spans above 0.5
  assert re.search(r"24 texts, \d+ words, \d+ entities in [\d.]+ s: [\d,]+ words/s", text)
  assert re.search(r"flat \(\d+ entities\)", text) and re.search(r"nested \(\d+ entities\)", text)


@pytest.mark.slow
@pytest.mark.subprocess
def test_tpu_pretraining_runs_offline_and_resumes(kernel_env, monkeypatch, tmp_path):
  workdir = tmp_path / "run"
  nb, text = _execute(
    "tpu_pretraining.ipynb", monkeypatch, {**kernel_env, "GLINER_JAX_WORKDIR": str(workdir)}, tmp_path
  )
  assert "accelerator: cpu" in text and "mesh: {'data': 1, 'fsdp': 1, 'tensor': 1}" in text
  assert "model: random bert 2x32" in text
  assert "started from scratch, trained to step 4" in text
  assert "resumed from the checkpoint at step 4, trained to step 6" in text
  rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5, 6]
  assert [r["step"] for r in rows if "eval_f1" in r] == [4, 6]
  assert sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())[-1] == 6
  assert "crossner_ai (bundled 100-sentence slice)" in text and "| 20 |" in text
  assert text.count("<png>") >= 2  # the live plots and the final one
  from gliner_jax.interop.checkpoint import is_checkpoint

  assert is_checkpoint(str(workdir / "model")) and "saved to" in text


@pytest.mark.slow
@pytest.mark.subprocess
def test_tpu_pretraining_defaults_work_outside_colab(kernel_env, monkeypatch, tmp_path):
  """Default mode in plain Jupyter: the install cell is skipped (gliner_jax importable) and the Colab Drive
  default workdir becomes a local folder, with no google.colab import. Runs the set-up cells only (up to the
  mesh): the default config downloads deberta-v3-small and trains for hours."""
  from gliner_jax.notebooks import utils as nbu

  assert not nbu.in_colab()
  with pytest.raises(ValueError, match="only Colab mounts"):
    nbu.prepare_workdir("/content/drive/MyDrive/gliner_jax/x")
  for key in ("GLINER_JAX_NOTEBOOK_MODE", "GLINER_JAX_WORKDIR"):
    monkeypatch.delenv(key, raising=False)
  env = {k: v for k, v in kernel_env.items() if k != "GLINER_JAX_NOTEBOOK_MODE"}
  nb = _read("tpu_pretraining.ipynb")
  config_cell = next(i for i, c in enumerate(nb.cells) if "WORKDIR = nbu.prepare_workdir" in c.source)
  assert '"/content/drive/MyDrive/' in nb.cells[config_cell].source  # the Colab default is what runs here
  _, text = _execute("tpu_pretraining.ipynb", monkeypatch, env, tmp_path, cells=config_cell + 1)
  assert "mode: default" in text
  (workdir,) = re.findall(r"^workdir: (.+)$", text, re.M)
  assert os.path.realpath(workdir) == os.path.realpath(tmp_path / "gliner_jax_runs" / "gliner_small")
  assert os.path.isdir(workdir)
