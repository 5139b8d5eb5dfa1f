"""Exporting gliner_jax models as gliner 0.2.x checkpoints that `gliner.GLiNER.from_pretrained` loads offline.

Cases: the converted MiniLM reference (BERT family, hidden 512 with projection), the converted
DeBERTa-v3 reference, and the shipped default model (embed_ent_token=False, hidden 384, no
projection). Each is exported with `save_pretrained(format="gliner")` and loaded by gliner 0.2.29
with HF_HUB_OFFLINE=1 and an empty hub cache: the folder alone must suffice. Span modes marker and
token_level (and markerV0 without the BiLSTM) are checked on a tiny random BERT: gliner -> gliner_jax
-> export gives gliner back the same tensors and logits, bit for bit.
Tolerances: entities identical as (start, end, label, text); scores within 1e-4; logits within 1e-4.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import gliner_jax
from conftest import PARITY_LABELS, PARITY_TEXTS, reference_logits
from gliner_jax import GLiNER
from gliner_jax.interop.checkpoint import flatten_params
from gliner_jax.interop.convert import ENCODER_PREFIX, gliner_params_from_state_dict
from gliner_jax.interop.gliner_export import export_gliner, gliner_state_dict, push_to_hub
from gliner_jax.interop.state_dict import read_state_dict
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.processing.buckets import batch_shape, pad_batch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCORE_TOL = 1e-4
LOGIT_TOL = 1e-4
POOLER = {ENCODER_PREFIX + "pooler.dense.weight", ENCODER_PREFIX + "pooler.dense.bias"}
CASES = ["minilm", "deberta", "default"]


@dataclasses.dataclass
class Exported:
  """One case: our model, the folder it was exported to, gliner's model loaded from that folder."""

  name: str
  ours: GLiNER
  folder: str
  loaded: object
  reference: object | None  # the gliner model ours was converted from (None for the default model)
  reference_dir: str | None


def load_with_gliner(folder: str):
  """gliner 0.2.29's own loader, offline and with an empty hub cache: only the folder can serve it."""
  import tempfile

  import torch
  from gliner import GLiNER as RefGLiNER

  torch.set_num_threads(2)
  with warnings.catch_warnings(), tempfile.TemporaryDirectory() as empty_cache:
    warnings.simplefilter("ignore")
    model = RefGLiNER.from_pretrained(folder, local_files_only=True, cache_dir=empty_cache)
  model.eval()
  return model


# the fast tier keeps the MiniLM and DeBERTa cases; the default model's export (a MiniLM too) is slow
@pytest.fixture(
  scope="module", params=[pytest.param(c, marks=pytest.mark.slow) if c == "default" else c for c in CASES]
)
def case(request, tmp_path_factory) -> Exported:
  if request.param == "default":
    ours, reference, reference_dir = GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL), None, None
  else:
    reference, reference_dir = request.getfixturevalue(f"reference_{request.param}")
    ours = GLiNER.from_pretrained(request.getfixturevalue(f"converted_{request.param}"))
  folder = str(tmp_path_factory.mktemp(f"gliner_export_{request.param}"))
  ours.save_pretrained(folder, format="gliner")
  return Exported(request.param, ours, folder, load_with_gliner(folder), reference, reference_dir)


def load_tensors(folder: str) -> dict[str, np.ndarray]:
  from safetensors.numpy import load_file

  return load_file(os.path.join(folder, "model.safetensors"))


def read_config(folder: str) -> dict:
  with open(os.path.join(folder, "gliner_config.json")) as f:
    return json.load(f)


def our_logits(model: GLiNER, texts, labels) -> tuple[np.ndarray, np.ndarray]:
  words = [[w for w, _, _ in model.words_splitter(t)] for t in texts]
  enc = model.prompt_tokenizer.encode_batch(words, [labels] * len(texts))
  batch = pad_batch(enc, batch_shape(enc, len(texts)), model.prompt_tokenizer.pad_id)
  return model.logits(batch), batch["num_words"]


def max_logit_delta(expected: np.ndarray, got: np.ndarray, num_words: np.ndarray) -> tuple[float, float]:
  """(max |delta| over valid spans, max |expected|)."""
  b, w, k, c = expected.shape
  valid = (np.arange(w)[:, None] + np.arange(k)[None, :])[None] < num_words[:b, None, None]
  delta = np.abs(got[:b, :w, :k, :c] - expected)[valid]
  return float(delta.max()), float(np.abs(expected[valid]).max())


# ------------------------------------------------------------------------------------ loading
def test_gliner_loads_every_tensor_it_uses_from_the_export(case):
  """Nothing gliner computes with is left at its random init: every model tensor but the BERT pooler
  (never read) comes from model.safetensors, bit for bit."""
  exported = load_tensors(case.folder)
  loaded = {k: v.detach().numpy() for k, v in case.loaded.model.state_dict().items()}
  assert set(exported) <= set(loaded), sorted(set(exported) - set(loaded))
  not_exported = set(loaded) - set(exported)
  assert not_exported == (POOLER if case.ours.config.encoder.model_type == "bert" else set()), not_exported
  for name, value in exported.items():
    assert value.dtype == np.float32, name
    assert np.array_equal(loaded[name], value), name
  assert type(case.loaded.model).__name__ == "UniEncoderSpanModel"


def test_gliner_reads_the_same_architecture(case):
  ours, ref_cfg = case.ours.config, case.loaded.config
  for field in (
    "hidden_size",
    "max_width",
    "max_len",
    "max_types",
    "span_mode",
    "embed_ent_token",
    "num_rnn_layers",
    "subtoken_pooling",
    "words_splitter_type",
    "ent_token",
    "sep_token",
    "class_token_index",
  ):
    assert getattr(ref_cfg, field) == getattr(ours, field), field
  assert ref_cfg.vocab_size == ours.encoder.vocab_size == len(case.loaded.data_processor.transformer_tokenizer)
  hf_cls = {"bert": "BertConfig", "deberta-v2": "DebertaV2Config"}[ours.encoder.model_type]
  assert type(ref_cfg.encoder_config).__name__ == hf_cls
  assert EncoderConfig.from_hf_dict(ref_cfg.encoder_config.to_dict()) == ours.encoder


def test_config_has_gliner_keys_and_names_no_local_path(case):
  from gliner.config import BaseGLiNERConfig
  from gliner.config import GLiNERConfig as RefConfig

  raw = read_config(case.folder)
  accepted = (
    set(inspect.signature(BaseGLiNERConfig.__init__).parameters)
    | set(inspect.signature(RefConfig.__init__).parameters)
    | {"model_type"}
  )
  assert set(raw) <= accepted, sorted(set(raw) - accepted)
  assert {
    "encoder_config",
    "vocab_size",
    "class_token_index",
    "model_name",
    "hidden_size",
    "max_width",
    "max_len",
    "max_types",
    "span_mode",
    "embed_ent_token",
    "num_rnn_layers",
    "words_splitter_type",
  } <= set(raw)
  # a converted local backbone is named by its recorded hub id (MiniLM's config.json) or its folder's name
  expected_name = {
    "minilm": "nreimers/MiniLM-L6-H384-uncased",
    "default": "sentence-transformers/all-MiniLM-L6-v2",
    "deberta": "deberta_v3_tiny0",
  }[case.name]
  assert raw["model_name"] == case.ours.config.model_name == expected_name

  def strings(node):
    if isinstance(node, dict):
      for v in node.values():
        yield from strings(v)
    elif isinstance(node, list):
      for v in node:
        yield from strings(v)
    elif isinstance(node, str):
      yield node

  for s in strings(raw):
    assert not os.path.isabs(s) and not (os.sep in s and os.path.exists(s)), s


# ------------------------------------------------------------------------------------ parity
@pytest.mark.parametrize(
  "flat_ner, threshold",
  [  # the fast tier keeps (False, 0.5); test_gliner_logits_match_ours_and_the_original_reference stays too
    pytest.param(*c, marks=() if c == (False, 0.5) else pytest.mark.slow)
    for c in itertools.product([True, False], [0.3, 0.5])
  ],
)
@pytest.mark.parametrize("case", ["minilm", pytest.param("deberta", marks=pytest.mark.slow)], indirect=True)
def test_gliner_predicts_our_entities(case, threshold, flat_ner):
  expected = case.ours.batch_predict_entities(
    PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4
  )
  got = case.loaded.inference(PARITY_TEXTS, PARITY_LABELS, threshold=threshold, flat_ner=flat_ner, batch_size=4)
  total, worst = 0, 0.0
  for i, (e, g) in enumerate(zip(expected, got)):
    assert [(x["start"], x["end"], x["label"], x["text"]) for x in g] == [
      (x.start, x.end, x.label, x.text) for x in e
    ], f"{case.name}: text {i} differs"
    if e:
      worst = max(worst, float(np.max(np.abs(np.array([x["score"] for x in g]) - [x.score for x in e]))))
    total += len(e)
  assert worst <= SCORE_TOL, f"{case.name}: max |delta score| = {worst:.2e}"
  assert total >= 20, f"{case.name}: only {total} entities, the comparison is vacuous"
  print(f"{case.name} threshold={threshold} flat={flat_ner}: {total} entities, max |delta score| {worst:.2e}")


def test_gliner_logits_match_ours_and_the_original_reference(case):
  """Logits of gliner on the export against ours (<= 1e-4) and, for converted models, against the
  gliner model they were converted from (the gliner -> gliner_jax -> gliner trip changes nothing)."""
  texts = PARITY_TEXTS[:6]
  got = reference_logits(case.loaded, texts, PARITY_LABELS)
  ours, num_words = our_logits(case.ours, texts, PARITY_LABELS)
  delta, scale = max_logit_delta(got, ours, num_words)
  assert scale > 1.0 and delta <= LOGIT_TOL, f"{case.name}: max |delta logits| = {delta:.2e}"
  print(f"{case.name}: max |delta logits| vs ours {delta:.2e}")
  if case.reference is not None:
    original = reference_logits(case.reference, texts, PARITY_LABELS)
    assert original.shape == got.shape
    assert np.array_equal(original, got), float(np.abs(original - got).max())


# ------------------------------------------------------------------------------------ round trips
def test_exported_state_dict_round_trips_bit_identically(case):
  state = read_state_dict(case.folder)
  params = gliner_params_from_state_dict(state, case.ours.config)
  ours = flatten_params(case.ours.params)
  back = flatten_params(params)
  assert set(back) == set(ours)
  for name, value in ours.items():
    assert back[name].dtype == value.dtype == np.float32, name
    assert np.array_equal(back[name], value), name
  if case.reference_dir is not None:  # the same names and bits as gliner's own save
    original = read_state_dict(case.reference_dir)
    assert set(original) - set(state) == (POOLER if case.name == "minilm" else set())
    assert set(state) <= set(original)
    for name, value in state.items():
      assert np.array_equal(original[name], value), name


def test_our_loader_reads_the_export_back(case):
  again = GLiNER.from_pretrained(case.folder)
  assert again.config == case.ours.config.replace(model_name=read_config(case.folder)["model_name"])


def test_encoder_config_to_hf_dict_inverts_from_hf_dict(minilm_dir):
  from transformers import AutoConfig

  from conftest import DEBERTA_V3_SWITCHES

  with open(os.path.join(minilm_dir, "config.json")) as f:
    minilm = json.load(f)
  small = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
  hf_dicts = {
    "bert": minilm,
    "roberta": {"model_type": "roberta", **small},
    "xlm-roberta": {"model_type": "xlm-roberta", "type_vocab_size": 1, "layer_norm_eps": 1e-5, **small},
    "deberta-v3": {"model_type": "deberta-v2", **DEBERTA_V3_SWITCHES, **small},
    "deberta-v2-xxl": {
      "model_type": "deberta-v2",
      **small,
      "relative_attention": True,
      "position_buckets": 256,
      "norm_rel_ebd": "layer_norm",
      "share_att_key": True,
      "pos_att_type": "p2c|c2p",
      "conv_kernel_size": 3,
      "conv_act": "gelu",
      "attention_head_size": 8,
    },
    "deberta-v2-embed-proj": {
      "model_type": "deberta-v2",
      **small,
      "embedding_size": 8,
      "pos_att_type": ["c2p"],
      "relative_attention": True,
      "max_relative_positions": 64,
    },
  }
  for name, hf in hf_dicts.items():
    config = EncoderConfig.from_hf_dict(hf)
    out = config.to_hf_dict()
    assert out["model_type"] == hf["model_type"], name
    assert EncoderConfig.from_hf_dict(out) == config, name
    assert EncoderConfig.from_dict(config.to_dict()) == config, name
    hf_config = AutoConfig.for_model(**out)  # transformers accepts it, and gives the same encoder back
    assert hf_config.model_type == hf["model_type"], name
    assert EncoderConfig.from_hf_dict(hf_config.to_dict()) == config, name
  with pytest.raises(ValueError, match="position_embedding_type"):
    dataclasses.replace(EncoderConfig.from_hf_dict(minilm), position_embedding_type="padding_offset").to_hf_dict()
  with pytest.raises(ValueError, match="hf_model_type"):
    EncoderConfig.from_dict({**EncoderConfig.from_hf_dict(minilm).to_dict(), "hf_model_type": "xlm-roberta"})


def test_hf_models_built_from_to_hf_dict_hold_exactly_the_exported_tensors():
  """For RoBERTa/XLM-R (no gliner parity case here): the encoder names we write are the HF model's own."""
  import torch
  from transformers import AutoConfig, AutoModel

  from gliner_jax.interop.hf_weights import encoder_params_from_hf_state_dict, encoder_params_to_hf_state_dict

  small = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
  for model_type in ("roberta", "xlm-roberta"):
    config = EncoderConfig.from_hf_dict({"model_type": model_type, **small})
    torch.manual_seed(0)
    hf = AutoModel.from_config(AutoConfig.for_model(**config.to_hf_dict()))
    state = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    written = encoder_params_to_hf_state_dict(encoder_params_from_hf_state_dict(state, config), config)
    assert set(state) - set(written) == {"pooler.dense.weight", "pooler.dense.bias"}, model_type
    for name, value in written.items():
      assert np.array_equal(state[name], value), name


@pytest.fixture(scope="module")
def tiny_backbone(minilm_dir, tmp_path_factory) -> str:
  """A random 2-layer BERT with MiniLM's tokenizer: gliner models of every span mode in a second."""
  import torch
  from transformers import AutoTokenizer, BertConfig, BertModel

  directory = str(tmp_path_factory.mktemp("tiny_bert"))
  tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
  tokenizer.save_pretrained(directory)
  torch.manual_seed(0)
  BertModel(
    BertConfig(
      vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
  ).save_pretrained(directory)
  return directory


@pytest.mark.parametrize(
  "options",
  [dict(span_mode="markerV0", num_rnn_layers=0), dict(span_mode="marker"), dict(span_mode="token_level")],
  ids=lambda o: "-".join(map(str, o.values())),
)
def test_every_span_mode_round_trips_gliner_to_gliner(tiny_backbone, tmp_path, options):
  """gliner model -> gliner_jax -> export: gliner loads the same tensors (bit for bit) and the same logits."""
  import torch
  from gliner import GLiNER as RefGLiNER

  torch.manual_seed(0)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    original = RefGLiNER.from_config({"model_name": tiny_backbone, "hidden_size": 48, "max_len": 48, **options})
  original.eval()
  src, dst = str(tmp_path / "gliner"), str(tmp_path / "exported")
  original.save_pretrained(src, safe_serialization=True)
  ours = GLiNER.from_pretrained(src)
  ours.save_pretrained(dst, format="gliner")
  assert read_config(dst)["span_mode"] == options["span_mode"]
  before, after = read_state_dict(src), read_state_dict(dst)
  assert set(before) - set(after) == POOLER and set(after) <= set(before)
  assert all(np.array_equal(before[k], v) for k, v in after.items())
  loaded = load_with_gliner(dst)
  assert type(loaded.model) is type(original.model)
  texts = PARITY_TEXTS[:4]
  assert np.array_equal(
    reference_logits(loaded, texts, PARITY_LABELS), reference_logits(original, texts, PARITY_LABELS)
  )


# ------------------------------------------------------------------------------------ API details
def test_save_pretrained_formats_and_dtypes(tmp_path, converted_minilm):
  model = GLiNER.from_pretrained(converted_minilm)
  model.save_pretrained(str(tmp_path / "default"))
  assert os.path.exists(tmp_path / "default" / "gliner_jax_config.json")  # the default format is unchanged
  assert not os.path.exists(tmp_path / "default" / "gliner_config.json")
  with pytest.raises(ValueError, match="format"):
    model.save_pretrained(str(tmp_path / "bad"), format="onnx")
  model.save_pretrained(str(tmp_path / "bf16"), format="gliner", dtype="bfloat16", model_name="me/backbone")
  from safetensors import safe_open

  with safe_open(str(tmp_path / "bf16" / "model.safetensors"), "pt") as f:
    dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
  assert dtypes == {"BF16"}
  assert read_config(str(tmp_path / "bf16"))["model_name"] == "me/backbone"


def test_gliner_state_dict_names_every_problem(converted_minilm):
  model = GLiNER.from_pretrained(converted_minilm)
  params = {k: dict(v) if isinstance(v, dict) else v for k, v in model.params.items()}
  del params["prompt_head"]["dense_in"]
  params["span_head"] = dict(
    params["span_head"],
    out_dense_in={"kernel": np.zeros((3, 3), np.float32), "bias": params["span_head"]["out_dense_in"]["bias"]},
  )
  params["extra_head"] = {"kernel": np.zeros((2, 2), np.float32)}
  with pytest.raises(ValueError) as err:
    gliner_state_dict(model.config, params)
  assert "missing: prompt_head/dense_in/kernel" in str(err.value)
  assert "mis-shaped: span_head/out_dense_in/kernel is (3, 3)" in str(err.value)
  assert "not exported: extra_head/kernel" in str(err.value)


def test_push_to_hub_uploads_the_export(monkeypatch, tmp_path, converted_minilm):
  import huggingface_hub
  from safetensors.numpy import load_file

  model = GLiNER.from_pretrained(converted_minilm)
  calls = []

  def create_repo(self, repo_id, **kw):
    calls.append(("create_repo", self.token, repo_id, kw))

  def create_branch(self, repo_id, **kw):
    calls.append(("create_branch", self.token, repo_id, kw))

  def upload_folder(self, **kw):
    folder = kw["folder_path"]
    calls.append(("upload_folder", self.token, kw["repo_id"], dict(kw, folder_path=None)))
    calls.append(
      ("files", sorted(os.listdir(folder)), read_config(folder), load_file(os.path.join(folder, "model.safetensors")))
    )
    return "commit-info"

  monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
  monkeypatch.setattr(huggingface_hub.HfApi, "create_branch", create_branch)
  monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
  out = push_to_hub(
    model, "me/my-gliner", token="hf_test", private=True, revision="v1", commit_message="step 20", create_pr=True
  )
  assert out == "commit-info"
  (_, token, repo, kw), (_, token_b, _, kw_b), (_, token_u, repo_u, kw_u), files = calls
  assert (token, token_b, token_u, repo, repo_u) == ("hf_test",) * 3 + ("me/my-gliner",) * 2
  assert kw["private"] is True and kw["exist_ok"] is True
  assert kw_b["branch"] == "v1"
  assert (kw_u["revision"], kw_u["commit_message"], kw_u["create_pr"]) == ("v1", "step 20", True)
  direct = export_gliner(str(tmp_path / "direct"), model.config, model.params, model.tokenizer)
  assert files[1] == list(direct.files)
  assert files[2] == read_config(direct.directory)
  expected = load_file(os.path.join(direct.directory, "model.safetensors"))
  assert set(files[3]) == set(expected) and all(np.array_equal(files[3][k], v) for k, v in expected.items())
  calls.clear()
  model.push_to_hub("me/my-gliner")  # the method; main branch: no branch created, no token forced
  assert [c[0] for c in calls] == ["create_repo", "upload_folder", "files"]


# ------------------------------------------------------------------------------------ from a workdir
TRAIN_CONFIG = """\
from gliner_jax.configs import tiny as _tiny


def get_config(arg=""):
  c = _tiny.get_config()
  c.data.train = [dict(path={data!r})]
  c.data.eval = [dict(path={data!r})]
  c.recipe.update(token_buckets=(128,), word_buckets=(40,), type_buckets=(8,), max_tokens=128,
                  prompt_drop=0.0, negative_prob=0.0, shuffle_types=False)
  c.train.update(batch_size=4, num_steps=2, checkpoint_every=2, log_every=1, eval_every=2)
  return c
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_export_script_from_a_training_workdir(tmp_path):
  """scripts/train.py (configs/tiny.py, 2 steps) then scripts/export_model.py --format gliner: gliner loads
  the folder, and computes the logits our model computes from the same checkpoint."""
  from gliner_jax.data.readers import read_ner_file
  from gliner_jax.training.config import BUNDLED_TRAIN

  data = tmp_path / "train.json"
  data.write_text(
    json.dumps(
      [
        {"tokenized_text": list(ex.tokens[:40]), "ner": [[s, e, t] for s, e, t in ex.spans if e < 40]}
        for ex in read_ner_file(BUNDLED_TRAIN)[:8]
      ]
    )
  )
  config_file = tmp_path / "tiny_export.py"
  config_file.write_text(TRAIN_CONFIG.format(data=str(data)))
  workdir, dst = str(tmp_path / "workdir"), str(tmp_path / "exported")
  env = dict(
    os.environ,
    PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    JAX_PLATFORMS="cpu",
    XLA_FLAGS="--xla_backend_optimization_level=0",
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
  )
  for script, args in (
    ("train.py", [f"--workdir={workdir}"]),
    ("export_model.py", [f"--workdir={workdir}", f"--dst={dst}", "--format=gliner"]),
  ):
    proc = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "scripts", script), f"--config={config_file}", *args],
      env=env,
      capture_output=True,
      text=True,
      timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
  raw = read_config(dst)
  assert raw["model_name"] == "random" and raw["hidden_size"] == 32 and raw["max_width"] == 4
  loaded = load_with_gliner(dst)
  exported = load_tensors(dst)
  assert {v.dtype for v in exported.values()} == {np.dtype(np.float32)}
  in_model = {k: v.detach().numpy() for k, v in loaded.model.state_dict().items()}
  assert set(in_model) - set(exported) == POOLER
  assert all(np.array_equal(in_model[k], v) for k, v in exported.items())

  # The same step exported in gliner_jax format (float32) computes what gliner computes on the export.
  from gliner_jax.training.config_files import load_config
  from gliner_jax.training.export import export_model

  jax_dir = str(tmp_path / "exported_jax")
  assert export_model(load_config(str(config_file)), workdir, jax_dir, dtype=None) == 2
  ours = GLiNER.from_pretrained(jax_dir)
  texts = PARITY_TEXTS[:4]
  got = reference_logits(loaded, texts, PARITY_LABELS)
  mine, num_words = our_logits(ours, texts, PARITY_LABELS)
  delta, _ = max_logit_delta(got, mine, num_words)
  assert delta <= LOGIT_TOL, f"max |delta logits| = {delta:.2e}"
  print(f"workdir export: max |delta logits| {delta:.2e}")


def test_a_splitter_gliner_lacks_is_refused(converted_minilm, tmp_path):
  model = GLiNER.from_pretrained(converted_minilm)
  model.config = model.config.replace(words_splitter_type="unicode")
  with pytest.raises(ValueError, match="words_splitter_type='unicode' is gliner_jax's own"):
    model.save_pretrained(str(tmp_path / "out"), format="gliner")
