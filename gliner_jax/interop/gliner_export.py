"""Writes gliner_jax models as gliner 0.2.x checkpoints, which `gliner.GLiNER.from_pretrained` loads offline.

  my_model_gliner/
    gliner_config.json   the head options, `encoder_config` (the backbone's HF config), `vocab_size`,
                         `class_token_index` and `model_name` (a hub id or a plain name, never a path)
    model.safetensors    PyTorch tensor names (the inverse of `convert.head_tensor_map` plus the
                         encoder under `token_rep_layer.bert_layer.model.`), float32 unless asked
    tokenizer.json, tokenizer_config.json, ...   with GLiNER's three special tokens
    README.md            the model card: backbone, what it was trained on (or "unknown"), licence terms

A bi-encoder adds `labels_encoder` / `labels_encoder_config` to the config, its labels encoder under
`token_rep_layer.labels_encoder.model.` and its labels tokenizer in `labels_tokenizer/` (where gliner
0.2.29 looks for it), and is written with num_rnn_layers=0 (gliner's bi-encoder never applies a BiLSTM).

BERT-family encoders are written without the HF pooler (gliner never reads it; gliner's default
non-strict load leaves it at its initial values).

Example (the last line is not run: reading the folder with gliner needs PyTorch; tests/test_export_gliner.py
does it):
  >>> import tempfile
  >>> from transformers import AutoTokenizer
  >>> from gliner_jax import DEFAULT_MODEL
  >>> from gliner_jax.interop.checkpoint import load_checkpoint
  >>> config, params = load_checkpoint(DEFAULT_MODEL)   # the bundled default model's config and weights
  >>> tokenizer = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
  >>> tmp = tempfile.TemporaryDirectory()
  >>> export_gliner(tmp.name, config, params, tokenizer).files
  ('README.md', 'gliner_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json')
  >>> tmp.cleanup()
  >>> import gliner; gliner.GLiNER.from_pretrained("my_model_gliner/")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any, Mapping, Sequence

import numpy as np

from gliner_jax.interop import storage
from gliner_jax.interop.checkpoint import flatten_params
from gliner_jax.interop.convert import ENCODER_PREFIX, LABELS_ENCODER_PREFIX, check_vocabulary, head_tensor_map
from gliner_jax.interop.hf_weights import encoder_params_to_hf_state_dict
from gliner_jax.model.config import RELEX_FIELDS, GLiNERConfig
from gliner_jax.model.encoders.stack import unstack_layers
from gliner_jax.model.kinds import kind_of

GLINER_CONFIG_FILE = "gliner_config.json"
MODEL_CARD_FILE = "README.md"
UNKNOWN_TRAINING_DATA = "unknown (exported without the training config that names its data)"
WEIGHTS_FILE = "model.safetensors"
DTYPES = ("float32", "bfloat16", "float16")
# gliner 0.2.29 options gliner_jax neither computes nor trains with; written with gliner's defaults.
REFERENCE_DEFAULTS: dict[str, Any] = {
  "name": "gliner",
  "fine_tune": True,
  "post_fusion_schema": "",
  "num_post_fusion_layers": 1,
  "max_neg_type_ratio": 1,
  "fuse_layers": False,
  "span_encoder_config": None,
  "token_loss_coef": 1.0,
  "span_loss_coef": 1.0,
  "represent_spans": False,
  "neg_spans_ratio": 1.0,
  "id_to_classes": None,
  "_attn_implementation": None,
}


@dataclasses.dataclass(frozen=True)
class GlinerExport:
  """What `export_gliner` wrote: the folder, its files, the tensor count and the recorded `model_name`."""

  directory: str
  files: tuple[str, ...]
  num_tensors: int
  model_name: str


def gliner_state_dict(config: GLiNERConfig, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Our parameter tree as gliner 0.2.x's state dict (float32 numpy, PyTorch names and layouts).

  Driven by `convert.head_tensor_map`, so every span mode it maps is exported. Raises ValueError
  listing parameters that are missing, mis-shaped or that no torch tensor receives.

  Example:
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL
    >>> from gliner_jax.interop.checkpoint import load_checkpoint
    >>> config, params = load_checkpoint(DEFAULT_MODEL)   # the bundled default model's config and weights
    >>> tokenizer = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
    >>> state = gliner_state_dict(config, params)
    >>> state["prompt_rep_layer.0.weight"].shape   # torch Linear: (out, in); hidden_size 384
    (1536, 384)
  """
  params = unstack_layers(params)  # a scan_layers model's stacked layers -> layer_0, layer_1, ...
  flat = flatten_params({k: v for k, v in params.items() if k not in ("encoder", "labels_encoder")})
  state = encoder_params_to_hf_state_dict(params["encoder"], config.encoder, ENCODER_PREFIX)
  if config.labels_encoder is not None:
    state.update(
      encoder_params_to_hf_state_dict(params["labels_encoder"], config.labels_encoder, LABELS_ENCODER_PREFIX)
    )
  problems, used = [], set()
  for torch_name, ours, transform, shape in head_tensor_map(config):
    # Stacked parameters (the BiLSTM's two directions) are named "<ours>/<index>" in the table.
    parent, _, index = ours.rpartition("/")
    if ours in flat:
      value, used_name = flat[ours], ours
    elif parent in flat and index.isdigit():
      value, used_name = flat[parent][int(index)], parent
    else:
      problems.append(f"missing: {ours} (for {torch_name})")
      continue
    used.add(used_name)
    value = np.asarray(value, np.float32)
    if value.shape != tuple(shape):
      problems.append(f"mis-shaped: {ours} is {value.shape}, expected {tuple(shape)}")
      continue
    if transform not in ("", "T"):
      problems.append(f"unknown transform {transform!r} for {torch_name}")
      continue
    state[torch_name] = np.ascontiguousarray(value.T if transform == "T" else value)
  problems += [f"not exported: {name}" for name in sorted(set(flat) - used)]
  if problems:
    raise ValueError("cannot export the parameters as a gliner state dict:\n  " + "\n  ".join(problems))
  return state


def hub_model_name(config: GLiNERConfig) -> str:
  """A `model_name` that names no local path: the config's own when it is a hub id or a plain name;
  for a local folder, the bundled backbone of identical architecture, else the folder's name.

  Example:
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> hub_model_name(GLiNERConfig.load(DEFAULT_MODEL))
    'sentence-transformers/all-MiniLM-L6-v2'
  """
  from gliner_jax.interop.hub import backbone_name, looks_like_hub_id

  name = config.model_name
  if name and looks_like_hub_id(name):
    return name
  from gliner_jax.model.backbones import BACKBONE_CONFIGS
  from gliner_jax.model.encoders.config import EncoderConfig

  for hub_id, hf in BACKBONE_CONFIGS.items():
    if EncoderConfig.from_hf_dict(dict(hf, vocab_size=config.encoder.vocab_size)) == config.encoder:
      return hub_id
  return backbone_name(name) if name else "gliner_jax"


def hub_labels_encoder_name(config: GLiNERConfig) -> str:
  """`labels_encoder` for a bi-encoder's gliner_config.json, chosen as `hub_model_name` chooses `model_name`."""
  return hub_model_name(
    dataclasses.replace(config, encoder=config.labels_encoder, model_name=config.labels_encoder_name)
  )


# The word splitters gliner 0.2.29's WordsSplitter builds.
REFERENCE_SPLITTERS = (
  "whitespace",
  "universal",
  "spacy",
  "mecab",
  "jieba",
  "hanlp",
  "janome",
  "camel",
  "hindi",
  "stanza",
)


def gliner_config_dict(
  config: GLiNERConfig, tokenizer, model_name: str | None = None, prompt_tokens: Sequence[str] | None = None
) -> dict[str, Any]:
  """The `gliner_config.json` of `config` for gliner 0.2.29 (its keys; checks the tokenizer's ids). `prompt_tokens`
  are the special tokens the tokenizer must hold (default [FLERT], <<ENT>>, <<SEP>>; a relex model adds no [FLERT]).

  Example:
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL
    >>> from gliner_jax.interop.checkpoint import load_checkpoint
    >>> config, params = load_checkpoint(DEFAULT_MODEL)   # the bundled default model's config and weights
    >>> tokenizer = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
    >>> gliner_config_dict(config, tokenizer)["encoder_config"]["model_type"]
    'bert'
  """
  if prompt_tokens is None:
    prompt_tokens = ("[FLERT]", config.ent_token, config.sep_token)
  missing = [t for t in prompt_tokens if t not in tokenizer.get_vocab()]
  if missing and config.labels_encoder is None:  # a bi-encoder's text has no prompt markers
    raise ValueError(f"the tokenizer lacks GLiNER's tokens {missing}: gliner would not find the prompt markers")
  config = check_vocabulary(config, tokenizer, "the exported model")
  if config.words_splitter_type not in REFERENCE_SPLITTERS:
    raise ValueError(
      f"words_splitter_type={config.words_splitter_type!r} is gliner_jax's own; gliner 0.2.29 knows "
      f"{', '.join(REFERENCE_SPLITTERS)}: export with config.replace(words_splitter_type=...) "
      "set to one of those"
    )
  out = dict(REFERENCE_DEFAULTS)
  ours_only = ("encoder", "labels_encoder", "labels_encoder_name", "labels_pooling", "remat_policy", "scan_layers")
  ours_only += RELEX_FIELDS  # a relex model's come in extra_config (gliner_jax.interop.relex_convert)
  out.update({f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in ours_only})
  out.update(
    model_type=kind_of(config).reference_model_type,
    model_name=model_name or hub_model_name(config),
    vocab_size=int(config.encoder.vocab_size),
    class_token_index=int(config.class_token_index),
    encoder_config=config.encoder.to_hf_dict(),
  )
  if config.labels_encoder is not None:
    out.update(labels_encoder=hub_labels_encoder_name(config), labels_encoder_config=config.labels_encoder.to_hf_dict())
  return out


def _cast(state: dict[str, np.ndarray], dtype: Any) -> dict[str, np.ndarray]:
  dtype = dtype if isinstance(dtype, str) else np.dtype(dtype).name
  if dtype not in DTYPES:
    raise ValueError(f"dtype={dtype!r}: use one of {DTYPES}")
  if dtype == "bfloat16":
    import ml_dtypes  # shipped with jax

    target = np.dtype(ml_dtypes.bfloat16)
  else:
    target = np.dtype(dtype)
  return {k: np.ascontiguousarray(v.astype(target)) for k, v in state.items()}


def model_card(base: str, trained_on: Sequence[str] | None, format: str) -> str:
  """The model card of an exported model: its backbone, its training data (or "unknown") and the terms.

  Example:
    >>> card = model_card("sentence-transformers/all-MiniLM-L6-v2", ["pile_ner.txt"], "gliner_jax")
    >>> card.splitlines()[:4]
    ['# GLiNER model exported by gliner_jax', '', '- format: gliner_jax',
     '- backbone: sentence-transformers/all-MiniLM-L6-v2']
    >>> "research use only" in card   # Pile-NER's licence follows the weights
    True
  """
  if trained_on is not None and (isinstance(trained_on, str) or not all(isinstance(t, str) for t in trained_on)):
    raise TypeError(f"trained_on must be a sequence of strings (one per data source), got {trained_on!r}")
  data = [f"- {entry}" for entry in trained_on] if trained_on else [f"- {UNKNOWN_TRAINING_DATA}"]
  research = trained_on and any("pile" in entry.lower() for entry in trained_on)
  terms = (
    "Trained on Pile-NER (CC BY-NC 4.0): these weights are for **research use only**."
    if research
    else "The weights carry the terms of the backbone and of the training data above; check them before use."
  )
  return "\n".join(
    [
      "# GLiNER model exported by gliner_jax",
      "",
      f"- format: {format}",
      f"- backbone: {base}",
      "",
      "## Trained on",
      "",
      *data,
      "",
      "## Terms",
      "",
      terms,
      "The gliner_jax code that trained and exported it is Apache-2.0 (see gliner_jax/assets/LICENSES.md).",
      "",
    ]
  )


def write_model_card(directory: str, base: str, trained_on: Sequence[str] | None, format: str) -> str:
  """Writes `model_card(...)` as `directory`/README.md (the hub's model card) and returns its path."""
  path = storage.join(directory, MODEL_CARD_FILE)  # local or gs://
  storage.write_text(path, model_card(base, trained_on, format))
  return path


def export_gliner(
  directory: str,
  config: GLiNERConfig,
  params: Mapping[str, Any],
  tokenizer,
  *,
  model_name: str | None = None,
  dtype: Any = "float32",
  labels_tokenizer=None,
  trained_on: Sequence[str] | None = None,
  extra_config: Mapping[str, Any] | None = None,
  extra_tensors: Mapping[str, np.ndarray] | None = None,
  prompt_tokens: Sequence[str] | None = None,
) -> GlinerExport:
  """Writes (config, params, tokenizer) as a gliner 0.2.x folder; `dtype` is the on-disk precision. A
  bi-encoder's `labels_tokenizer` is required; it goes to `labels_tokenizer/`, where gliner 0.2.29 reads it.
  `trained_on` (the training data, one entry per source) goes into the model card, README.md; None: unknown.
  A model with more heads than `config` describes (relex) passes their keys in `extra_config`, their torch
  tensors in `extra_tensors` and its special tokens in `prompt_tokens` (see `gliner_config_dict`).

  Example (not run here: the module example exports the default model):
    >>> export_gliner("my_model_gliner/", model.config, model.params, model.tokenizer).files  # doctest: +SKIP
    ('README.md', 'gliner_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json')
  """
  from safetensors.numpy import save_file

  if (config.labels_encoder is not None) != (labels_tokenizer is not None):
    raise ValueError(
      "a bi-encoder (config.labels_encoder) is exported with its labels_tokenizer, a uni-encoder without"
    )
  reference_config = gliner_config_dict(config, tokenizer, model_name, prompt_tokens)
  reference_config.update(extra_config or {})
  state = gliner_state_dict(config, params)
  clashes = sorted(set(state) & set(extra_tensors or {}))
  if clashes:
    raise ValueError(f"extra_tensors repeat tensors of the base model: {clashes[:5]}")
  state = _cast({**state, **{k: np.asarray(v, np.float32) for k, v in (extra_tensors or {}).items()}}, dtype)
  with storage.writable_dir(directory) as folder:  # gs://...: written here, then uploaded
    save_file(state, os.path.join(folder, WEIGHTS_FILE), metadata={"format": "pt"})
    with open(os.path.join(folder, GLINER_CONFIG_FILE), "w") as f:
      json.dump(reference_config, f, indent=2, sort_keys=True)
    tokenizer.save_pretrained(folder)
    if labels_tokenizer is not None:
      from gliner_jax.interop.checkpoint import LABELS_TOKENIZER_DIR

      labels_tokenizer.save_pretrained(os.path.join(folder, LABELS_TOKENIZER_DIR))
    write_model_card(
      folder, reference_config["model_name"], trained_on, "gliner 0.2.x (`gliner.GLiNER.from_pretrained`)"
    )
    files = tuple(sorted(os.listdir(folder)))
  return GlinerExport(
    directory=directory,
    files=files,
    num_tensors=len(state),
    model_name=reference_config["model_name"],
  )


def push_to_hub(
  model,
  repo_id: str,
  *,
  token: str | bool | None = None,
  private: bool | None = None,
  revision: str | None = None,
  commit_message: str = "Upload GLiNER model (exported by gliner_jax)",
  commit_description: str | None = None,
  create_pr: bool = False,
  model_name: str | None = None,
  dtype: str = "float32",
):
  """Exports `model` (a `gliner_jax.GLiNER`) as a gliner 0.2.x folder and uploads it to `repo_id`.

  Creates the repository (and the branch `revision`, when not "main") if needed; returns
  huggingface_hub's CommitInfo.

  Example (not run here: it uploads to the Hugging Face hub):
    >>> push_to_hub(model, "me/my-gliner", private=True, commit_message="step 20000")  # doctest: +SKIP
  """
  import jax
  from huggingface_hub import HfApi

  api = HfApi(token=token)
  api.create_repo(repo_id, private=private, repo_type="model", exist_ok=True)
  if revision not in (None, "main"):
    api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
  with tempfile.TemporaryDirectory(prefix="gliner_export_") as folder:
    export_gliner(
      folder,
      model.config,
      jax.device_get(model.params),
      model.tokenizer,
      model_name=model_name,
      dtype=dtype,
      labels_tokenizer=getattr(model, "labels_tokenizer", None),
    )
    return api.upload_folder(
      repo_id=repo_id,
      folder_path=folder,
      repo_type="model",
      revision=revision,
      commit_message=commit_message,
      commit_description=commit_description,
      create_pr=create_pr,
    )
