"""Public gliner checkpoint layouts load with the reference's entities; the hub resolver; vocabulary checks.

The urchade v2.1 layout (gliner_small/medium/large/multi-v2.1, gliner_multi_pii-v1, gliner_medium_news)
is made from gliner 0.2.29 models built on the local MiniLM and on a random DeBERTa-v3: the
gliner_config.json is cut down to the keys those checkpoints ship (no encoder_config, vocab_size or
class_token_index), the tokenizer files are removed and the weights are a pytorch_model.bin. gliner
0.2.29 itself loads each folder; its entities on PARITY_TEXTS are the expected ones.
Tolerances: identical (start, end, label, text); scores within 1e-4.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from conftest import PARITY_LABELS, PARITY_TEXTS
from gliner_jax import GLiNER
from gliner_jax.interop.convert import ConversionError, load_gliner_checkpoint, read_gliner_config
from gliner_jax.interop.hub import HubOptions, HubUnreachableError, looks_like_hub_id, needed_files, resolve_model_dir
from gliner_jax.interop.state_dict import read_state_dict

SCORE_TOL = 1e-4
# The keys of urchade/gliner_*-v2.1 gliner_config.json files (training options included, as shipped).
V21_KEYS = (
  "model_name",
  "name",
  "max_width",
  "hidden_size",
  "dropout",
  "fine_tune",
  "subtoken_pooling",
  "span_mode",
  "num_steps",
  "train_batch_size",
  "eval_every",
  "warmup_ratio",
  "scheduler_type",
  "loss_alpha",
  "loss_gamma",
  "label_smoothing",
  "loss_reduction",
  "lr_encoder",
  "lr_others",
  "weight_decay_encoder",
  "weight_decay_other",
  "root_dir",
  "train_data",
  "prev_path",
  "save_total_limit",
  "size_sup",
  "max_types",
  "shuffle_types",
  "random_drop",
  "max_neg_type_ratio",
  "max_len",
  "freeze_token_rep",
  "log_dir",
)
V21_EXTRA = dict(
  name="correct",
  fine_tune=True,
  num_steps=30000,
  train_batch_size=8,
  eval_every=5000,
  warmup_ratio=0.1,
  scheduler_type="cosine",
  loss_alpha=-1,
  loss_gamma=0,
  label_smoothing=0,
  loss_reduction="sum",
  lr_encoder="1e-5",
  lr_others="5e-5",
  weight_decay_encoder=0.01,
  weight_decay_other=0.01,
  root_dir="ablation_backbone",
  train_data="data.json",
  prev_path="none",
  save_total_limit=10,
  size_sup=-1,
  shuffle_types=True,
  random_drop=True,
  max_neg_type_ratio=1,
  freeze_token_rep=False,
  log_dir="logs",
)
TOKENIZER_FILES = (
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "spm.model",
  "vocab.txt",
  "chat_template.jinja",
)


def _torch_state(directory: str) -> dict:
  import torch

  return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in read_state_dict(directory).items()}


def make_v21_layout(saved_dir: str, dst: str, **config_changes) -> str:
  """A folder laid out like urchade v2.1 from a folder gliner 0.2.29 saved."""
  import torch

  os.makedirs(dst, exist_ok=True)
  with open(os.path.join(saved_dir, "gliner_config.json")) as f:
    full = json.load(f)
  reduced = {k: full[k] for k in V21_KEYS if k in full}
  reduced.update({k: v for k, v in V21_EXTRA.items() if k not in reduced})
  reduced.update(config_changes)
  assert not {"encoder_config", "vocab_size", "class_token_index"} & set(reduced)
  with open(os.path.join(dst, "gliner_config.json"), "w") as f:
    json.dump(reduced, f, indent=2)
  torch.save(_torch_state(saved_dir), os.path.join(dst, "pytorch_model.bin"))
  return dst


def reference_entities(directory: str, texts=PARITY_TEXTS, **load_kwargs):
  """gliner 0.2.29's entities on `texts` for a checkpoint folder, at 0.3/0.5, flat and nested."""
  import warnings

  import torch
  from gliner import GLiNER as RefGLiNER

  torch.set_num_threads(2)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = RefGLiNER.from_pretrained(directory, local_files_only=True, **load_kwargs)
  ref.eval()
  return {
    (t, flat): ref.inference(list(texts), PARITY_LABELS, threshold=t, flat_ner=flat, batch_size=8)
    for t in (0.3, 0.5)
    for flat in (True, False)
  }


def assert_same_entities(expected, model: GLiNER, texts=PARITY_TEXTS, min_total: int = 20):
  total = 0
  for (threshold, flat), want in expected.items():
    got = model.batch_predict_entities(list(texts), PARITY_LABELS, threshold=threshold, flat_ner=flat, batch_size=8)
    for i, (e, g) in enumerate(zip(want, got)):
      assert [(x["start"], x["end"], x["label"], x["text"]) for x in e] == [
        (x.start, x.end, x.label, x.text) for x in g
      ], f"text {i} at {threshold}, flat={flat}"
      np.testing.assert_allclose([x.score for x in g], [x["score"] for x in e], atol=SCORE_TOL)
      total += len(e)
  assert total >= min_total  # the comparison is not vacuous


@pytest.fixture(scope="module")
def minilm_v21(reference_minilm, minilm_dir, tmp_path_factory):
  """(v2.1-layout folder on MiniLM with model_name = the local backbone folder, gliner's entities)."""
  folder = make_v21_layout(reference_minilm[1], str(tmp_path_factory.mktemp("minilm_v21")), model_name=minilm_dir)
  return folder, reference_entities(folder)


@pytest.fixture(scope="module")
def deberta_v21(reference_deberta, deberta_backbone_dir, tmp_path_factory):
  folder = make_v21_layout(
    reference_deberta[1], str(tmp_path_factory.mktemp("deberta_v21")), model_name=deberta_backbone_dir
  )
  return folder, reference_entities(folder)


# ------------------------------------------------------------------------------------- layouts
@pytest.mark.slow
def test_v21_layout_is_what_the_public_checkpoints_ship(minilm_v21):
  folder, _ = minilm_v21
  assert sorted(os.listdir(folder)) == ["gliner_config.json", "pytorch_model.bin"]
  with open(os.path.join(folder, "gliner_config.json")) as f:
    raw = json.load(f)
  assert "encoder_config" not in raw and "vocab_size" not in raw and "class_token_index" not in raw


@pytest.mark.parametrize("layout", ["minilm_v21", pytest.param("deberta_v21", marks=pytest.mark.slow)])  # fast: minilm
def test_v21_layout_gives_the_reference_entities(layout, request):
  folder, expected = request.getfixturevalue(layout)
  model = GLiNER.from_pretrained(folder)
  rows = read_state_dict(folder)["token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight"].shape[0]
  assert model.config.encoder.vocab_size == rows == len(model.tokenizer)
  assert model.config.class_token_index == model.tokenizer.convert_tokens_to_ids("<<ENT>>")
  assert_same_entities(expected, model)


@pytest.mark.slow  # ~65 s (builds its own reference model)
def test_newer_layout_as_saved_gives_the_reference_entities(reference_minilm):
  _, saved = reference_minilm
  assert_same_entities(reference_entities(saved), GLiNER.from_pretrained(saved))


@pytest.mark.slow  # ~17 s; test_unknown_backbone_offline_is_named stays fast
def test_hub_id_backbone_offline_uses_the_bundled_table_and_a_given_tokenizer(minilm_v21, minilm_dir, tmp_path):
  src, expected = minilm_v21
  folder = str(tmp_path / "hub_named")
  shutil.copytree(src, folder)
  with open(os.path.join(folder, "gliner_config.json")) as f:
    raw = json.load(f)
  raw["model_name"] = "sentence-transformers/all-MiniLM-L6-v2"
  with open(os.path.join(folder, "gliner_config.json"), "w") as f:
    json.dump(raw, f)
  with pytest.raises(ConversionError, match="tokenizer="):  # offline, no tokenizer files
    GLiNER.from_pretrained(folder, local_files_only=True)
  model = GLiNER.from_pretrained(folder, tokenizer=minilm_dir)
  assert model.config.model_name == "sentence-transformers/all-MiniLM-L6-v2"
  assert_same_entities({k: v for k, v in expected.items() if k[0] == 0.5}, model, min_total=10)


def test_unknown_backbone_offline_is_named(minilm_v21, tmp_path):
  folder = str(tmp_path / "unknown")
  shutil.copytree(minilm_v21[0], folder)
  with open(os.path.join(folder, "gliner_config.json")) as f:
    raw = json.load(f)
  raw["model_name"] = "no-such-org/no-such-backbone"
  with open(os.path.join(folder, "gliner_config.json"), "w") as f:
    json.dump(raw, f)
  with pytest.raises(ConversionError, match="no-such-org/no-such-backbone"):
    GLiNER.from_pretrained(folder, local_files_only=True)


def test_sharded_safetensors_equal_the_pickle(minilm_v21, tmp_path):
  from safetensors.numpy import save_file

  src = minilm_v21[0]
  state = read_state_dict(src)
  names = sorted(state)
  folder = str(tmp_path / "sharded")
  os.makedirs(folder)
  shutil.copy(os.path.join(src, "gliner_config.json"), folder)
  weight_map = {}
  for i, part in enumerate((names[: len(names) // 2], names[len(names) // 2 :])):
    shard = f"model-{i + 1:05d}-of-00002.safetensors"
    save_file({k: np.ascontiguousarray(state[k]) for k in part}, os.path.join(folder, shard))
    weight_map.update({k: shard for k in part})
  with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {}, "weight_map": weight_map}, f)
  got = read_state_dict(folder)
  assert sorted(got) == names and all(np.array_equal(got[k], state[k]) for k in names)
  a, b = load_gliner_checkpoint(src), load_gliner_checkpoint(folder)
  assert a.config == b.config
  os.remove(os.path.join(folder, "model-00002-of-00002.safetensors"))
  with pytest.raises(FileNotFoundError, match="model-00002-of-00002"):
    read_state_dict(folder)


# ------------------------------------------------------------------------------------- vocabulary
def test_tokenizer_larger_than_the_embedding_table_is_refused(minilm_v21, minilm_dir):
  from transformers import AutoTokenizer

  tok = AutoTokenizer.from_pretrained(minilm_dir)
  tok.add_tokens(["[EXTRA1]", "[EXTRA2]"])
  rows = read_state_dict(minilm_v21[0])["token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight"].shape[0]
  with pytest.raises(ConversionError, match=f"{rows + 2} tokens but the embedding table has {rows} rows"):
    GLiNER.from_pretrained(minilm_v21[0], tokenizer=tok)
  # and at the predictor itself, whatever built the config
  good = load_gliner_checkpoint(minilm_v21[0])
  with pytest.raises(ValueError, match=f"{rows + 2} tokens"):
    GLiNER(good.config, good.params, tok)


def test_class_token_index_and_vocab_size_are_checked(minilm_v21, tmp_path):
  rows = read_state_dict(minilm_v21[0])["token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight"].shape[0]
  for change, message in (
    (dict(class_token_index=7), "class_token_index=7 but the tokenizer maps '<<ENT>>' to"),
    (dict(vocab_size=rows + 5), f"vocab_size={rows + 5} but the checkpoint's embedding"),
  ):
    folder = str(tmp_path / next(iter(change)))
    shutil.copytree(minilm_v21[0], folder)
    with open(os.path.join(folder, "gliner_config.json")) as f:
      raw = json.load(f)
    raw.update(change)
    with open(os.path.join(folder, "gliner_config.json"), "w") as f:
      json.dump(raw, f)
    with pytest.raises(ConversionError, match=message):
      GLiNER.from_pretrained(folder)


def test_slow_tokenizer_is_refused(minilm_v21, minilm_dir):
  good = load_gliner_checkpoint(minilm_v21[0])

  class SlowTokenizer(type(good.tokenizer)):  # transformers v5 ships few Python-only tokenizers
    is_fast = False

  slow = SlowTokenizer.from_pretrained(minilm_dir)
  with pytest.raises(ValueError, match="slow tokenizer"):
    GLiNER(good.config, good.params, slow)


def test_vocab_size_comes_from_the_embedding_table(minilm_v21):
  config = read_gliner_config(minilm_v21[0], read_state_dict(minilm_v21[0]))
  assert config.encoder.vocab_size == 30522 + 3  # MiniLM's vocabulary and GLiNER's three tokens


# ------------------------------------------------------------------------------------- hub
def test_needed_files_pick_one_set_of_weights():
  repo = [
    "README.md",
    ".gitattributes",
    "gliner_config.json",
    "pytorch_model.bin",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "spm.model",
    "onnx/model.onnx",
    "training_args.bin",
  ]
  assert needed_files(repo) == [
    "gliner_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "spm.model",
    "model.safetensors",
  ]
  assert needed_files(["gliner_config.json", "pytorch_model.bin"]) == ["gliner_config.json", "pytorch_model.bin"]
  sharded = [
    "config.json",
    "model.safetensors.index.json",
    "model-00002-of-00002.safetensors",
    "model-00001-of-00002.safetensors",
    "pytorch_model.bin",
  ]
  assert needed_files(sharded) == [
    "config.json",
    "model.safetensors.index.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
  ]


def test_hub_ids_and_paths():
  assert looks_like_hub_id("urchade/gliner_small-v2.1") and looks_like_hub_id("gliner")
  for path in ("/abs/model", "./model", "~/model", "a/b/c", ""):
    assert not looks_like_hub_id(path)


def test_resolver_passes_revision_token_cache_and_only_needed_files(monkeypatch, minilm_v21, tmp_path):
  import huggingface_hub

  calls = {}

  class FakeApi:
    def list_repo_files(self, repo_id, revision=None, token=None):
      calls["list"] = (repo_id, revision, token)
      return ["gliner_config.json", "pytorch_model.bin", "README.md", "onnx/model.onnx"]

  def fake_snapshot(repo_id, allow_patterns=None, **kwargs):
    calls["snapshot"] = (repo_id, allow_patterns, kwargs)
    return minilm_v21[0]

  monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
  monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
  options = HubOptions(revision="v2", token="hf_x", cache_dir=str(tmp_path))
  assert resolve_model_dir("org/model", options) == minilm_v21[0]
  assert calls["list"] == ("org/model", "v2", "hf_x")
  assert calls["snapshot"] == (
    "org/model",
    ["gliner_config.json", "pytorch_model.bin"],
    dict(revision="v2", token="hf_x", cache_dir=str(tmp_path)),
  )
  model = GLiNER.from_pretrained("org/model", revision="v2", token="hf_x", cache_dir=str(tmp_path))
  assert model.config.encoder.model_type == "bert"
  with pytest.raises(FileNotFoundError, match="no model directory"):
    resolve_model_dir(str(tmp_path / "missing" / "model"))


def test_an_unreachable_hub_is_named_for_the_model_asked_for(monkeypatch, tmp_path):
  """The real huggingface_hub client against an endpoint nobody listens on (this machine has no hub either)."""
  import huggingface_hub.constants

  monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
  monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
  with pytest.raises(HubUnreachableError, match="'org/missing-model' is not a local folder, and the Hugging Face hub"):
    resolve_model_dir("org/missing-model", HubOptions(cache_dir=str(tmp_path)))
