"""The gliner checkpoint converter and scripts/convert_checkpoint.py, on a small bert-tiny reference.

The reference is a gliner 0.2.29 model built offline on bert-tiny and saved as the reference saves it
(pytorch_model.bin); a model.safetensors copy of the same state dict covers the torch-free path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import PARITY_TEXTS, _build_reference, reference_logits
from gliner_jax import GLiNER
from gliner_jax.interop.checkpoint import flatten_params, load_checkpoint
from gliner_jax.interop.convert import (
  ConversionError,
  convert_gliner_checkpoint,
  convert_hf_encoder,
  gliner_params_from_state_dict,
  load_converted_encoder,
  load_gliner_state,
  read_state_dict,
)
from gliner_jax.interop.hf_weights import load_hf_encoder
from gliner_jax.model.config import GLiNERConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(hidden_size=64, max_width=4, max_len=24, max_types=3)
LABELS = ["person", "location", "organization"]


@pytest.fixture(scope="module")
def tiny_reference(bert_tiny_dir, tmp_path_factory):
  """(reference gliner model on bert-tiny, its saved checkpoint dir with pytorch_model.bin)."""
  import torch

  out = str(tmp_path_factory.mktemp("ref_tiny"))
  ref = _build_reference(bert_tiny_dir, out, **TINY)
  torch.set_num_threads(1)
  assert os.path.exists(os.path.join(out, "pytorch_model.bin"))
  return ref, out


@pytest.fixture(scope="module")
def torch_state(tiny_reference) -> dict[str, np.ndarray]:
  ref, _ = tiny_reference
  return {k: v.detach().numpy().copy() for k, v in ref.model.state_dict().items()}


def _copy_without_weights(src: str, dst: str) -> str:
  os.makedirs(dst, exist_ok=True)
  for name in os.listdir(src):
    if name not in ("pytorch_model.bin", "model.safetensors"):
      shutil.copy(os.path.join(src, name), dst)
  return dst


def _write_safetensors(directory: str, state: dict[str, np.ndarray]) -> None:
  import torch
  from safetensors.torch import save_file

  save_file(
    {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
    os.path.join(directory, "model.safetensors"),
  )


@pytest.fixture(scope="module")
def safetensors_reference(tiny_reference, torch_state, tmp_path_factory) -> str:
  directory = _copy_without_weights(tiny_reference[1], str(tmp_path_factory.mktemp("ref_tiny_st")))
  _write_safetensors(directory, torch_state)
  return directory


def _rewrite_config(directory: str, **changes) -> None:
  path = os.path.join(directory, "gliner_config.json")
  with open(path) as f:
    cfg = json.load(f)
  cfg.update(changes)
  with open(path, "w") as f:
    json.dump(cfg, f)


# ------------------------------------------------------------------------------------- params
def test_both_weight_formats_give_the_same_params(tiny_reference, safetensors_reference, torch_state):
  config_bin, params_bin = load_gliner_state(tiny_reference[1])
  config_st, params_st = load_gliner_state(safetensors_reference)
  assert config_bin == config_st
  flat_bin, flat_st = flatten_params(params_bin), flatten_params(params_st)
  assert sorted(flat_bin) == sorted(flat_st)
  for name in flat_bin:
    assert flat_bin[name].dtype == np.float32 and flat_st[name].dtype == np.float32, name
    assert np.array_equal(flat_bin[name], flat_st[name]), name
  # Spot checks against the torch tensors (Linear weights are transposed, LSTM directions stacked).
  np.testing.assert_array_equal(flat_bin["projection/kernel"], torch_state["token_rep_layer.projection.weight"].T)
  np.testing.assert_array_equal(flat_bin["prompt_head/dense_out/bias"], torch_state["prompt_rep_layer.3.bias"])
  np.testing.assert_array_equal(flat_bin["rnn/w_hh"][1], torch_state["rnn.lstm.weight_hh_l0_reverse"].T)
  emb = [v for k, v in flat_bin.items() if k.startswith("encoder/") and v.shape == (30525, 128)]
  assert len(emb) == 1
  np.testing.assert_array_equal(
    emb[0], torch_state["token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight"]
  )


def test_converted_model_matches_reference_logits(tiny_reference, tmp_path):
  ref, src = tiny_reference
  model = GLiNER.from_pretrained(convert_gliner_checkpoint(src, str(tmp_path / "jax")))
  texts = PARITY_TEXTS[:3]
  expected = reference_logits(ref, texts, LABELS)
  words = [[w for w, _, _ in model.words_splitter(t)] for t in texts]
  from gliner_jax.processing.buckets import batch_shape, pad_batch

  enc = model.prompt_tokenizer.encode_batch(words, [LABELS] * len(texts))
  batch = pad_batch(enc, batch_shape(enc, len(texts)), model.prompt_tokenizer.pad_id)
  got = model.logits(batch)
  b, w, k, c = expected.shape
  valid = (np.arange(w)[:, None] + np.arange(k)[None, :])[None] < batch["num_words"][:b, None, None]
  assert np.abs(expected[valid]).max() > 1.0
  assert np.abs(got[:b, :w, :k, :c] - expected)[valid].max() <= 1e-4


def test_convert_writes_checkpoint_with_tokenizer_and_class_token(tiny_reference, tmp_path):
  _, src = tiny_reference
  dst = convert_gliner_checkpoint(src, str(tmp_path / "jax"))
  config, params = load_checkpoint(dst)
  _, expected = load_gliner_state(src)
  from transformers import AutoTokenizer

  tokenizer = AutoTokenizer.from_pretrained(dst)
  assert config.class_token_index == tokenizer.convert_tokens_to_ids("<<ENT>>") >= 0
  assert tokenizer.convert_tokens_to_ids("<<SEP>>") not in (None, tokenizer.unk_token_id)
  flat, want = flatten_params(params), flatten_params(expected)
  assert sorted(flat) == sorted(want) and all(np.array_equal(flat[k], want[k]) for k in flat)


# ------------------------------------------------------------------------------------- errors
def test_errors_list_missing_unexpected_and_misshaped(tiny_reference, torch_state, tmp_path):
  config, _ = load_gliner_state(tiny_reference[1])
  state = dict(torch_state)
  del state["prompt_rep_layer.0.bias"]
  del state["token_rep_layer.bert_layer.model.encoder.layer.1.output.dense.bias"]
  state["extra_head.weight"] = np.zeros((3, 3), np.float32)
  state["span_rep_layer.span_rep_layer.project_end.3.weight"] = np.zeros((64, 255), np.float32)
  names = [
    "prompt_rep_layer.0.bias",
    "encoder.layer.1.output.dense.bias",
    "extra_head.weight",
    "span_rep_layer.span_rep_layer.project_end.3.weight",
  ]
  with pytest.raises(ConversionError) as err:
    gliner_params_from_state_dict(state, config)
  for name in names:
    assert name in str(err.value), name
  assert "missing" in str(err.value) and "unexpected" in str(err.value) and "mis-shaped" in str(err.value)

  # Same through a checkpoint directory; nothing is written on failure.
  src = _copy_without_weights(tiny_reference[1], str(tmp_path / "broken"))
  _write_safetensors(src, state)
  with pytest.raises(ConversionError) as err:
    convert_gliner_checkpoint(src, str(tmp_path / "out"))
  assert all(name in str(err.value) for name in names)
  assert not os.path.exists(tmp_path / "out")


def test_unsupported_reference_options_are_named(tiny_reference, tmp_path):
  src = _copy_without_weights(tiny_reference[1], str(tmp_path / "v1"))
  _rewrite_config(src, span_mode="markerV1", post_fusion_schema="l2l-l2t-t2t")
  with pytest.raises(ValueError, match="markerV1") as err:
    convert_gliner_checkpoint(src, str(tmp_path / "out"))
  assert "post_fusion_schema" in str(err.value)
  with open(os.path.join(src, "gliner_config.json")) as f:
    raw = json.load(f)
  with pytest.raises(ValueError, match="span_mode='markerV1'"):
    GLiNERConfig.from_reference(raw)


def test_class_token_index_mismatch(tiny_reference, safetensors_reference, tmp_path):
  src = str(tmp_path / "mismatch")
  shutil.copytree(safetensors_reference, src)
  _rewrite_config(src, class_token_index=5)
  with pytest.raises(ConversionError, match="class_token_index=5"):
    convert_gliner_checkpoint(src, str(tmp_path / "out"))


def test_bin_needs_torch_but_safetensors_does_not(tiny_reference, safetensors_reference, monkeypatch):
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match="needs torch"):
    read_state_dict(tiny_reference[1])
  config, params = load_gliner_state(safetensors_reference)  # numpy only
  assert flatten_params(params)["projection/kernel"].shape == (128, 64)


def test_missing_weights_are_named(tiny_reference, tmp_path):
  src = _copy_without_weights(tiny_reference[1], str(tmp_path / "empty"))
  with pytest.raises(FileNotFoundError, match="model.safetensors or pytorch_model.bin"):
    load_gliner_state(src)
  with pytest.raises(FileNotFoundError, match="gliner_config.json"):
    load_gliner_state(str(tmp_path))


# ------------------------------------------------------------------------------------- encoder
def test_convert_hf_encoder_bfloat16_round_trip(bert_tiny_dir, tmp_path):
  import ml_dtypes

  config, params = load_hf_encoder(bert_tiny_dir)
  dst = convert_hf_encoder(bert_tiny_dir, str(tmp_path / "enc"), dtype="bfloat16")
  got_config, got = load_converted_encoder(dst)
  _, raw = load_converted_encoder(dst, dtype=None)
  assert got_config == config
  want, got, raw = flatten_params(params), flatten_params(got), flatten_params(raw)
  assert sorted(want) == sorted(got)
  for name in want:
    assert raw[name].dtype == ml_dtypes.bfloat16 and got[name].dtype == np.float32, name
    np.testing.assert_array_equal(got[name], want[name].astype(ml_dtypes.bfloat16).astype(np.float32))
  with pytest.raises(FileNotFoundError, match="encoder_config.json"):
    load_converted_encoder(str(tmp_path))


# ------------------------------------------------------------------------------------- script
def _run_script(*args: str) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the script finds gliner_jax itself
  env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
  return subprocess.run(
    [sys.executable, os.path.join(REPO, "scripts", "convert_checkpoint.py"), *args],
    capture_output=True,
    text=True,
    env=env,
    timeout=300,
    cwd=os.path.dirname(REPO),
  )


@pytest.mark.subprocess
def test_script_gliner_mode(tiny_reference, tmp_path):
  _, src = tiny_reference
  dst = str(tmp_path / "jax")
  proc = _run_script(f"--src={src}", f"--dst={dst}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  config, params = load_checkpoint(dst)
  want_config, want = load_gliner_state(src)
  # the converted model names its backbone by name, never by a path of this machine
  assert config.model_name == os.path.basename(want_config.model_name) and not os.path.isabs(config.model_name)
  assert config == want_config.replace(class_token_index=config.class_token_index, model_name=config.model_name)
  flat, want = flatten_params(params), flatten_params(want)
  assert sorted(flat) == sorted(want) and all(np.array_equal(flat[k], want[k]) for k in flat)


@pytest.mark.subprocess
def test_script_encoder_mode(minilm_dir, tmp_path):
  dst = str(tmp_path / "minilm")
  proc = _run_script("--mode=encoder", f"--src={minilm_dir}", f"--dst={dst}", "--dtype=float32")
  assert proc.returncode == 0, proc.stderr[-3000:]
  config, params = load_converted_encoder(dst)
  want_config, want = load_hf_encoder(minilm_dir)
  assert config == want_config and config.hidden_size == 384
  flat, want = flatten_params(params), flatten_params(want)
  assert sorted(flat) == sorted(want) and all(np.array_equal(flat[k], want[k]) for k in flat)
  assert os.path.exists(os.path.join(dst, "tokenizer.json"))


@pytest.mark.subprocess
def test_script_rejects_missing_flags(tmp_path):
  proc = _run_script(f"--dst={tmp_path}")
  assert proc.returncode != 0 and "--src" in proc.stderr
