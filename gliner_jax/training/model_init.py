"""Where a training run's model comes from: config, tokenizer and starting weights.

`config.model.init` picks one of
  "hf_encoder": a Hugging Face encoder directory (config.json + weights + tokenizer); heads are new;
                `config.model.encoder_layers` (k > 0) keeps only its first k layers (scaling ladders);
  "gliner_jax": a gliner_jax checkpoint directory (every weight, e.g. the shipped default model);
  "gliner":     a gliner 0.2.x checkpoint directory (converted on the fly);
  "random":     an encoder shaped by `config.model.encoder` (a dict of EncoderConfig fields), with the
                tokenizer of `config.model.tokenizer`; everything random (tests, scaling studies).
A hub id works wherever a directory does (downloaded with huggingface_hub when online).
A bi-encoder adds a labels encoder: `config.model.labels_encoder` (an encoder folder or hub id, init
"hf_encoder") or `config.model.labels_encoder_shape` (EncoderConfig fields, init "random", read with the
tokenizer of `config.model.labels_tokenizer`); see `gliner_jax.training.bi_encoder`.
A relex model (joint entities and relations) sets `config.model.relations_layer` (and optionally `triples_layer`,
`rel_token`, `embed_rel_token`); a new one ("hf_encoder", "random") gets gliner's relex tokens (<<ENT>>, <<SEP>>,
<<REL>>, no [FLERT]) and its `rel_token_index`, and a "gliner" / "gliner_jax" start from a relex model continues it.
The model records its backbone as `model_name`: `config.model.name` when set (the hub id of a local
copy), else a name derived from `config.model.path` (`backbone_name`), never a local path.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from gliner_jax.inference.api import predictor_class
from gliner_jax.interop import checkpoint as ckpt
from gliner_jax.interop.convert import add_gliner_tokens
from gliner_jax.interop.hub import backbone_name
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig


@dataclasses.dataclass
class StartingPoint:
  """The model config, its tokenizer, and the weights to load over a fresh init (None: all random)."""

  config: GLiNERConfig
  tokenizer: Any
  params: dict[str, Any] | None
  labels_tokenizer: Any = None  # a bi-encoder's (config.labels_encoder)


def resolve_path(path_or_hub_id: str) -> str:
  """A local folder for a model path or hub id (`gliner_jax.interop.hub.resolve_model_dir`)."""
  from gliner_jax.interop.hub import resolve_model_dir

  return resolve_model_dir(path_or_hub_id)


def extend_embeddings(table: np.ndarray, new_size: int) -> np.ndarray:
  """Appends rows for added tokens, initialised at the mean of the existing rows."""
  if new_size <= table.shape[0]:
    return table[:new_size]
  extra = np.repeat(table.mean(axis=0, keepdims=True), new_size - table.shape[0], axis=0)
  return np.concatenate([table, extra.astype(table.dtype)], axis=0)


def truncate_encoder(config: EncoderConfig, params: dict[str, Any], num_layers: int):
  """The first `num_layers` layers of a pretrained encoder: its config and weights (`layer_<i>` entries).

  Example:
    >>> cfg = EncoderConfig(model_type="bert", vocab_size=10, hidden_size=8, num_hidden_layers=6,
    ...                     num_attention_heads=2, intermediate_size=16)  # a MiniLM-L6-shaped stand-in
    >>> params = {"embeddings": {}, **{f"layer_{i}": {} for i in range(6)}}
    >>> cfg2, params2 = truncate_encoder(cfg, params, 2)
    >>> cfg2.num_hidden_layers, sorted(k for k in params2 if k.startswith("layer_"))
    (2, ['layer_0', 'layer_1'])
  """
  if not 1 <= num_layers <= config.num_hidden_layers:
    raise ValueError(f"encoder_layers={num_layers}: the encoder has {config.num_hidden_layers} layers (use 1 .. that)")
  changes: dict[str, Any] = {"num_hidden_layers": num_layers}
  if config.layer_types:
    changes["layer_types"] = tuple(config.layer_types[:num_layers])
  dropped = {f"layer_{i}" for i in range(num_layers, config.num_hidden_layers)}
  return dataclasses.replace(config, **changes), {k: v for k, v in params.items() if k not in dropped}


def head_fields(model_cfg) -> dict[str, Any]:
  """The GLiNERConfig head fields (max_width, span_mode, ...) the `config.model` section sets."""
  fields = {f.name for f in dataclasses.fields(GLiNERConfig)} - {
    "encoder",
    "class_token_index",
    "model_name",
    "labels_encoder",
    "labels_encoder_name",
    "rel_token_index",
  }
  return {k: v for k, v in dict(model_cfg).items() if k in fields}


def new_model_tokens(model_cfg, tokenizer):
  """(tokenizer with the prompt tokens a new model needs, the config fields their ids set): GLiNER's [FLERT],
  <<ENT>>, <<SEP>>; or, for a relex model (`relations_layer` set), gliner's relex tokens <<ENT>>, <<SEP>>, <<REL>>
  and `rel_token_index`.

  Example:
    >>> from transformers import AutoTokenizer
    >>> from gliner_jax import DEFAULT_MODEL
    >>> tok, fields = new_model_tokens({"relations_layer": "dot"}, AutoTokenizer.from_pretrained(DEFAULT_MODEL))
    >>> fields["rel_token_index"] == tok.convert_tokens_to_ids("<<REL>>") == len(tok) - 1
    True
  """
  if model_cfg.get("relations_layer") is None:
    tokenizer = add_gliner_tokens(tokenizer)
    return tokenizer, {"class_token_index": tokenizer.convert_tokens_to_ids("<<ENT>>")}
  ent, sep = model_cfg.get("ent_token", "<<ENT>>"), model_cfg.get("sep_token", "<<SEP>>")
  rel = model_cfg.get("rel_token", "<<REL>>")
  tokenizer = add_gliner_tokens(tokenizer, tokens=(ent, sep, rel))
  return tokenizer, {
    "class_token_index": tokenizer.convert_tokens_to_ids(ent),
    "rel_token_index": tokenizer.convert_tokens_to_ids(rel),
  }


def starting_point(model_cfg) -> StartingPoint:
  """Builds the StartingPoint described by the `config.model` section (see the module docstring)."""
  from transformers import AutoTokenizer

  kind = model_cfg.init
  if kind in ("hf_encoder", "random") and (model_cfg.get("labels_encoder") or model_cfg.get("labels_encoder_shape")):
    return bi_encoder_starting_point(model_cfg)
  if kind in ("gliner_jax", "gliner"):
    path = resolve_path(model_cfg.path)
    labels_tokenizer = None
    if kind == "gliner_jax":
      config, params = ckpt.load_checkpoint(path)
      tokenizer = AutoTokenizer.from_pretrained(path)
      given = {"labels_tokenizer": model_cfg.get("labels_tokenizer")} if model_cfg.get("labels_tokenizer") else {}
      labels_tokenizer = predictor_class(config).checkpoint_kwargs(path, given).get("labels_tokenizer")
    else:
      from gliner_jax.interop.convert import load_gliner_checkpoint

      read = load_gliner_checkpoint(
        path, tokenizer=model_cfg.get("tokenizer") or None, labels_tokenizer=model_cfg.get("labels_tokenizer") or None
      )
      config, params, tokenizer, labels_tokenizer = read.config, read.params, read.tokenizer, read.labels_tokenizer
    overrides = {
      k: v
      for k, v in head_fields(model_cfg).items()
      if k in ("max_len", "max_types", "dropout", "max_width", "remat_policy", "scan_layers")
    }
    if "max_width" in overrides and overrides["max_width"] != config.max_width:
      raise ValueError("max_width cannot change when starting from a trained GLiNER")
    if model_cfg.get("span_mode", config.span_mode) != config.span_mode:
      raise ValueError(
        f"span_mode={model_cfg.span_mode!r}, but the trained GLiNER at {model_cfg.path} is "
        f"{config.span_mode!r}; its head cannot change"
      )
    for name in ("relations_layer", "triples_layer"):
      if model_cfg.get(name) is not None and model_cfg.get(name) != getattr(config, name):
        raise ValueError(
          f"{name}={model_cfg.get(name)!r}, but the trained GLiNER at {model_cfg.path} has "
          f"{getattr(config, name)!r}; its head cannot change"
        )
    overrides["model_name"] = backbone_name(config.model_name, model_cfg.get("name", ""))
    return StartingPoint(config.replace(**overrides), tokenizer, params, labels_tokenizer)
  if kind == "hf_encoder":
    from gliner_jax.interop.hf_weights import load_hf_encoder, token_embedding_path

    path = resolve_path(model_cfg.path)
    enc_cfg, enc_params = load_hf_encoder(path)
    if model_cfg.get("encoder_layers"):
      enc_cfg, enc_params = truncate_encoder(enc_cfg, enc_params, int(model_cfg.encoder_layers))
    tokenizer, token_fields = new_model_tokens(model_cfg, AutoTokenizer.from_pretrained(path))
    enc_cfg = dataclasses.replace(enc_cfg, vocab_size=len(tokenizer))
    *parents, leaf = token_embedding_path(enc_cfg)
    emb = functools.reduce(lambda tree, key: tree[key], parents, enc_params)
    emb[leaf] = extend_embeddings(np.asarray(emb[leaf]), len(tokenizer))
    config = GLiNERConfig(
      encoder=enc_cfg,
      model_name=backbone_name(model_cfg.path, model_cfg.get("name", "")),
      **token_fields,
      **head_fields(model_cfg),
    )
    return StartingPoint(config, tokenizer, {"encoder": enc_params})
  if kind == "random":
    tokenizer, token_fields = new_model_tokens(
      model_cfg, AutoTokenizer.from_pretrained(resolve_path(model_cfg.tokenizer))
    )
    enc = dict(model_cfg.encoder)
    enc["vocab_size"] = len(tokenizer)
    enc.setdefault("pad_token_id", tokenizer.pad_token_id or 0)
    config = GLiNERConfig(
      encoder=EncoderConfig.from_dict(enc),
      model_name="random",
      **token_fields,
      **head_fields(model_cfg),
    )
    return StartingPoint(config, tokenizer, None)
  raise ValueError(f"config.model.init={kind!r}: use hf_encoder, gliner_jax, gliner or random")


def bi_encoder_starting_point(model_cfg) -> StartingPoint:
  """The StartingPoint of a bi-encoder (init "hf_encoder" or "random"; see the module docstring)."""
  from transformers import AutoTokenizer

  kind = model_cfg.init
  if kind == "hf_encoder":
    from gliner_jax.interop.hf_weights import load_hf_encoder

    if not model_cfg.get("labels_encoder"):
      raise ValueError("init='hf_encoder' bi-encoder: set config.model.labels_encoder (an encoder folder or hub id)")
    path, labels_path = resolve_path(model_cfg.path), resolve_path(model_cfg.labels_encoder)
    enc_cfg, enc_params = load_hf_encoder(path)
    labels_cfg, labels_params = load_hf_encoder(labels_path)
    tokenizer, labels_tokenizer = AutoTokenizer.from_pretrained(path), AutoTokenizer.from_pretrained(labels_path)
    params = {"encoder": enc_params, "labels_encoder": labels_params}
    model_name = backbone_name(model_cfg.path, model_cfg.get("name", ""))
    labels_name = backbone_name(model_cfg.labels_encoder, model_cfg.get("labels_encoder_name", ""))
  elif kind == "random":
    if not model_cfg.get("labels_encoder_shape"):
      raise ValueError("init='random' bi-encoder: set config.model.labels_encoder_shape (EncoderConfig fields)")
    tokenizer = AutoTokenizer.from_pretrained(resolve_path(model_cfg.tokenizer))
    labels_tokenizer = AutoTokenizer.from_pretrained(
      resolve_path(model_cfg.get("labels_tokenizer") or model_cfg.tokenizer)
    )
    enc_cfg = _random_encoder(model_cfg.encoder, tokenizer)
    labels_cfg = _random_encoder(model_cfg.labels_encoder_shape, labels_tokenizer)
    params, model_name, labels_name = None, "random", "random"
  else:
    raise ValueError(f"config.model.init={kind!r}: a new bi-encoder starts from 'hf_encoder' or 'random'")
  config = GLiNERConfig(
    encoder=enc_cfg,
    labels_encoder=labels_cfg,
    model_name=model_name,
    labels_encoder_name=labels_name,
    **head_fields(model_cfg),
  )
  return StartingPoint(config, tokenizer, params, labels_tokenizer)


def _random_encoder(fields, tokenizer) -> EncoderConfig:
  enc = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(fields).items()}
  enc["vocab_size"] = len(tokenizer)
  enc.setdefault("pad_token_id", tokenizer.pad_token_id or 0)
  return EncoderConfig.from_dict(enc)


def merge_params(fresh: Any, loaded: Any, path: str = "") -> Any:
  """`fresh` with every leaf that `loaded` provides replaced; shapes must agree."""
  if loaded is None:
    return fresh
  if not isinstance(fresh, dict):
    if tuple(np.shape(loaded)) != tuple(np.shape(fresh)):
      raise ValueError(f"starting weights: {path} has shape {np.shape(loaded)}, the model needs {np.shape(fresh)}")
    return np.asarray(loaded, dtype=np.float32)
  unknown = sorted(set(loaded) - set(fresh))
  if unknown:
    raise ValueError(f"starting weights have entries the model does not: {[f'{path}/{u}' for u in unknown]}")
  return {k: merge_params(v, loaded.get(k), f"{path}/{k}") for k, v in fresh.items()}


def abstract_starting_point(model_cfg) -> StartingPoint:
  """A StartingPoint from `config.model.encoder` shapes alone: no tokenizer, no weights, no download.

  For shape-only work (AOT compiles, FLOP counts). The vocabulary size is `encoder.vocab_size` as
  given (the published shapes in `gliner_jax.model.backbones` already count the three GLiNER tokens).
  A bi-encoder's labels encoder is shaped by `config.model.labels_encoder_shape`, else by the bundled
  config (`gliner_jax.model.backbones`, its own vocabulary) of `labels_encoder_name` or `labels_encoder`.

  Example:
    >>> from gliner_jax.configs import gliner_small
    >>> abstract_starting_point(gliner_small.get_config().model).config.encoder.num_hidden_layers
    6
  """
  enc = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(model_cfg.get("encoder") or {}).items()}
  if not enc:
    raise ValueError(
      "config.model.encoder is empty: abstract_starting_point needs the encoder shapes "
      "(e.g. gliner_jax.model.backbones.ENCODERS[name])"
    )
  config = GLiNERConfig(
    encoder=EncoderConfig.from_dict(enc),
    model_name=backbone_name(model_cfg.get("path", ""), model_cfg.get("name", "")),
    **head_fields(model_cfg),
    **_abstract_labels_encoder(model_cfg),
  )
  return StartingPoint(config, None, None)


def _abstract_labels_encoder(model_cfg) -> dict[str, Any]:
  """The `labels_encoder` fields of a bi-encoder's abstract config (none for a uni-encoder)."""
  shape = dict(model_cfg.get("labels_encoder_shape") or {})
  names = [model_cfg.get("labels_encoder_name", ""), model_cfg.get("labels_encoder", "")]
  if not shape and not any(names):
    return {}
  if shape:
    labels = EncoderConfig.from_dict({k: tuple(v) if isinstance(v, list) else v for k, v in shape.items()})
  else:
    from gliner_jax.model.backbones import backbone_config

    hf = next((c for c in map(backbone_config, filter(None, names)) if c is not None), None)
    if hf is None:
      raise ValueError(
        f"config.model.labels_encoder={names[1]!r} is not a bundled backbone: abstract_starting_point needs "
        "its shapes in config.model.labels_encoder_shape (EncoderConfig fields)"
      )
    labels = EncoderConfig.from_hf_dict(hf)
  return dict(
    labels_encoder=labels,
    labels_encoder_name=backbone_name(model_cfg.get("labels_encoder", ""), model_cfg.get("labels_encoder_name", "")),
  )
