"""gliner 0.2.29 relex tensors -> gliner_jax relex parameters (`gliner_jax.model.relex`).

A relex model's state dict adds, to its span or token model's tensors:
  relations_rep_layer.relation_rep_layer.*   the adjacency layer (`relations_layer`: dot, mlp, bilinear, gcn, gat,
                                             attention; "none" has none)
  pair_rep_layer.{0,3}.*                     the pair projection Linear(2D, 4D) -> ReLU -> Linear(4D, D)
                                             (when `triples_layer` is None)
  triples_score_layer.interaction.*          the triple scorer (when `triples_layer` is set)
Each map lists rows (torch name, our flat name, transform, our shape), as `gliner_jax.interop.convert` does
for the span heads; our names under "batch_stats/" belong to that collection (TuckER's BatchNorm statistics).

Example (a state dict of ones in gliner's shapes: torch's Linear weights are [out, in], our kernels [in, out]):
  >>> import numpy as np
  >>> rows = relations_tensor_map("gcn", hidden_size=4)
  >>> state = {name: np.ones(shape[::-1] if t == "T" else shape, np.float32) for name, _, t, shape in rows}
  >>> params = params_from_rows(state, rows)["params"]
  >>> {name: layer["kernel"].shape for name, layer in params["relations"].items()}
  {'gcn_linear': (4, 4), 'proj': (4, 4)}
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

import flax.linen as nn
import numpy as np

from gliner_jax.interop.checkpoint import flatten_params, unflatten_params
from gliner_jax.interop.convert import (
  REFERENCE_CONFIG_FILE,
  GLiNERCheckpoint,
  check_vocabulary,
  gliner_params_from_state_dict,
  load_gliner_tokenizer,
  read_gliner_config,
  register_folder_reader,
)
from gliner_jax.interop.gliner_export import export_gliner
from gliner_jax.interop.hub import HubOptions, backbone_name
from gliner_jax.interop.state_dict import read_state_dict
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.relex.span_relex import REFERENCE_TRIPLES_DIM, RelexConfig

Row = tuple[str, str, str, tuple[int, ...]]
RELATIONS_PREFIX = "relations_rep_layer.relation_rep_layer"
TRIPLES_PREFIX = "triples_score_layer.interaction"
PAIR_PREFIX = "pair_rep_layer"


def _linear(torch_name: str, ours: str, d_in: int, d_out: int, bias: bool = True) -> list[Row]:
  rows = [(f"{torch_name}.weight", f"{ours}/kernel", "T", (d_in, d_out))]
  return rows + ([(f"{torch_name}.bias", f"{ours}/bias", "", (d_out,))] if bias else [])


def _attention(torch_prefix: str, ours: str, d: int) -> list[Row]:
  return [
    (f"{torch_prefix}.in_proj_weight", f"{ours}/in_proj/kernel", "T", (d, 3 * d)),
    (f"{torch_prefix}.in_proj_bias", f"{ours}/in_proj/bias", "", (3 * d,)),
    *_linear(f"{torch_prefix}.out_proj", f"{ours}/out_proj", d, d),
  ]


def relations_tensor_map(
  mode: str, hidden_size: int, *, prefix: str = RELATIONS_PREFIX, ours: str = "relations"
) -> list[Row]:
  """Rows for gliner's `RelationsRepLayer(in_dim=hidden_size, relation_mode=mode)` with default options.

  Example:
    >>> [r[0] for r in relations_tensor_map("bilinear", 8)]
    ['relations_rep_layer.relation_rep_layer.proj.weight', 'relations_rep_layer.relation_rep_layer.proj.bias']
  """
  d = hidden_size
  m = mode.lower()
  if m in ("dot", "none"):
    return []
  if m == "mlp":
    return _linear(f"{prefix}.mlp.0", f"{ours}/mlp_in", 2 * d, d) + _linear(f"{prefix}.mlp.2", f"{ours}/mlp_out", d, 1)
  if m == "bilinear":
    return _linear(f"{prefix}.proj", f"{ours}/proj", d, d)
  if m == "gcn":
    return _linear(f"{prefix}.gcn.linear", f"{ours}/gcn_linear", d, d) + _linear(f"{prefix}.proj", f"{ours}/proj", d, d)
  if m == "gat":
    return _attention(f"{prefix}.attn", f"{ours}/attn", d) + _linear(f"{prefix}.linear", f"{ours}/linear", d, d)
  if m in ("attention", "attn"):
    return _attention(f"{prefix}.attn", f"{ours}/attn", d)
  raise ValueError(f"unknown relations_layer {mode!r}")


def pair_projection_tensor_map(
  hidden_size: int, *, prefix: str = PAIR_PREFIX, ours: str = "pair_projection"
) -> list[Row]:
  """Rows for `pair_rep_layer` = create_projection_layer(2D, dropout, D) -> our ProjectionFFN(D) on cat(h, t)."""
  d = hidden_size
  return _linear(f"{prefix}.0", f"{ours}/dense_in", 2 * d, 4 * d) + _linear(
    f"{prefix}.3", f"{ours}/dense_out", 4 * d, d
  )


def triples_tensor_map(
  mode: str, dim: int = 768, *, prefix: str = TRIPLES_PREFIX, ours: str = "triples", **options
) -> list[Row]:
  """Rows for gliner's `TriplesScoreLayer(mode, dim, **options)`.

  Example:
    >>> [r[1] for r in triples_tensor_map("PairRE", 4)][:2]
    ['triples/r_to_alpha/kernel', 'triples/r_to_alpha/bias']
  """
  d = dim
  norm_maps = {
    "UM": (),
    "SE": (),
    "TransE": (),
    "TransH": ("r_to_rtr", "r_to_w"),
    "TransF": ("r_to_rvec", "r_to_alpha", "r_to_beta"),
    "PairRE": ("r_to_alpha", "r_to_beta"),
    "TripleRE": ("r_to_alpha", "r_to_beta", "r_to_delta", "r_to_gamma"),
  }
  if mode in norm_maps:
    rows = [
      r for n in norm_maps[mode] for r in _linear(f"{prefix}.{n}", f"{ours}/{n}", d, 1 if n == "r_to_gamma" else d)
    ]
    if options.get("use_scorer"):
      rows += _linear(f"{prefix}.scorer.0", f"{ours}/score/scorer/dense_in", d, 4)
      rows += _linear(f"{prefix}.scorer.3", f"{ours}/score/scorer/dense_out", 4, 1)
    return rows
  if mode in ("DistMult", "SimplE", "DistMA", "ComplEx", "QuatE", "HolE"):
    return []
  if mode == "TuckER":
    d_e, d_r = options.get("d_e", d), options.get("d_r", d)
    rows = [(f"{prefix}.W", f"{ours}/W", "", (d_r, d_e, d_e))]
    for bn in ("bn0", "bn1"):
      rows += [
        (f"{prefix}.{bn}.weight", f"{ours}/{bn}/scale", "", (d_e,)),
        (f"{prefix}.{bn}.bias", f"{ours}/{bn}/bias", "", (d_e,)),
        (f"{prefix}.{bn}.running_mean", f"batch_stats/{ours}/{bn}/mean", "", (d_e,)),
        (f"{prefix}.{bn}.running_var", f"batch_stats/{ours}/{bn}/var", "", (d_e,)),
        (f"{prefix}.{bn}.num_batches_tracked", "", "drop", ()),
      ]
    return rows
  if mode == "ERMLP":
    hidden = options.get("hidden", 2048)
    return _linear(f"{prefix}.mlp.0", f"{ours}/mlp_in", 3 * d, hidden) + _linear(
      f"{prefix}.mlp.2", f"{ours}/mlp_out", hidden, 1
    )
  if mode == "ConvKB":
    f, bias = options.get("n_filters", 32), options.get("use_bias", True)
    rows = [(f"{prefix}.conv.weight", f"{ours}/conv/kernel", "conv1d", (3, f))]
    rows += [(f"{prefix}.conv.bias", f"{ours}/conv/bias", "", (f,))] if bias else []
    return rows + _linear(f"{prefix}.fc", f"{ours}/fc", f * d, 1)
  if mode == "ConvE":
    e1, f, k = options["emb_dim1"], options.get("n_filters", 9), options.get("kernel_size", 3)
    hidden = f * (2 * e1 - k + 1) * (d // e1 - k + 1)
    rows = [(f"{prefix}.conv1.weight", f"{ours}/conv_kernel", "", (f, 1, k, k))]
    rows += [(f"{prefix}.conv1.bias", f"{ours}/conv_bias", "", (f,))] if options.get("use_bias", True) else []
    return rows + _linear(f"{prefix}.fc", f"{ours}/fc", hidden, d)
  raise ValueError(f"unknown triples_layer {mode!r}")


def _transform(value: np.ndarray, transform: str) -> np.ndarray:
  if transform == "T":
    return value.T
  if transform == "conv1d":  # torch Conv1d weight [F, C, 1] -> DenseGeneral kernel [C, F]
    return value[:, :, 0].T
  return value


def params_from_rows(state: Mapping[str, Any], rows: list[Row], *, strict_prefixes: tuple[str, ...] = ()) -> dict:
  """{"params": ..., "batch_stats": ...} from the rows' tensors of `state`; a ValueError lists every missing or
  mis-shaped tensor, and every tensor under `strict_prefixes` that no row uses.

  Example:
    >>> params_from_rows({}, relations_tensor_map("bilinear", 4))
    Traceback (most recent call last):
    ...
    ValueError: cannot convert the relex tensors:
      missing: relations_rep_layer.relation_rep_layer.proj.weight
      missing: relations_rep_layer.relation_rep_layer.proj.bias
  """
  flat: dict[str, dict[str, np.ndarray]] = {"params": {}, "batch_stats": {}}
  problems, used = [], set()
  for torch_name, ours, transform, shape in rows:
    if torch_name not in state:
      if transform != "drop":
        problems.append(f"missing: {torch_name}")
      continue
    used.add(torch_name)
    if transform == "drop":
      continue
    value = _transform(np.asarray(state[torch_name], np.float32), transform)
    if value.shape != shape:
      problems.append(f"mis-shaped: {torch_name} gives {value.shape}, expected {shape}")
      continue
    collection, name = (
      ("batch_stats", ours[len("batch_stats/") :]) if ours.startswith("batch_stats/") else ("params", ours)
    )
    flat[collection][name] = value
  problems += [f"unexpected: {k}" for k in sorted(state) if k.startswith(strict_prefixes) and k not in used]
  if problems:
    raise ValueError("cannot convert the relex tensors:\n  " + "\n  ".join(problems))
  return {k: unflatten_params(v) for k, v in flat.items() if v}


RELEX_PREFIXES = ("relations_rep_layer.", "pair_rep_layer.", "triples_score_layer.")
# A token relex model also has the span model's prompt FFN and span layer (TokenMarker), which the plain token
# model lacks.
TOKEN_RELEX_PREFIXES = ("prompt_rep_layer.", "span_rep_layer.")


def _ffn(prefix: str, ours: str, d_in: int, hidden: int, d_out: int) -> list[Row]:
  return _linear(f"{prefix}.0", f"{ours}/dense_in", d_in, hidden) + _linear(
    f"{prefix}.3", f"{ours}/dense_out", hidden, d_out
  )


def token_relex_tensor_map(hidden_size: int) -> list[Row]:
  """Rows for the prompt FFN and the TokenMarker span layer of a token relex model (hidden size D).

  Example:
    >>> len(token_relex_tensor_map(8))
    16
  """
  d, span = hidden_size, "span_rep_layer.span_rep_layer"
  rows = _ffn("prompt_rep_layer", "prompt_head", d, 4 * d, d)
  rows += _ffn(f"{span}.project_start", "span_head/project_start", d, 4 * d, d)
  rows += _ffn(f"{span}.project_end", "span_head/project_end", d, 4 * d, d)
  rows += _linear(f"{span}.out_project.0", "span_head/out_dense_in", 2 * d, 4 * d)
  return rows + _linear(f"{span}.out_project.3", "span_head/out_dense_out", 4 * d, d)


def relex_config_from_reference(raw: Mapping[str, Any], base: GLiNERConfig) -> RelexConfig:
  """The RelexConfig of a gliner 0.2.29 relex `gliner_config.json` dict over its span model's GLiNERConfig `base`.

  Example:
    >>> from gliner_jax.model.config import GLiNERConfig
    >>> from gliner_jax.model.encoders.config import EncoderConfig
    >>> enc = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=8, num_hidden_layers=1,
    ...                     num_attention_heads=2, intermediate_size=16)
    >>> rc = relex_config_from_reference({"relations_layer": "dot", "rel_token_index": 99}, GLiNERConfig(encoder=enc))
    >>> rc.relations_layer, rc.triples_layer, rc.rel_token, rc.rel_token_index, rc.base.relations_layer
    ('dot', None, '<<REL>>', 99, 'dot')
  """
  if raw.get("relations_layer") is None:
    raise ValueError("gliner_config.json has no relations_layer: not a relex model")
  return RelexConfig(
    base=base,
    relations_layer=str(raw["relations_layer"]),
    triples_layer=raw.get("triples_layer"),
    embed_rel_token=bool(raw.get("embed_rel_token", True)),
    rel_token=str(raw.get("rel_token", "<<REL>>")),
    rel_token_index=int(raw.get("rel_token_index", -1)),
  )


def relex_params_from_state_dict(state: Mapping[str, Any], config: RelexConfig) -> dict[str, Any]:
  """Our parameters of a relex state dict (TuckER, the one scorer with batch statistics, is refused), for `config`:
  the span model's tensors through `gliner_params_from_state_dict`, the relex tensors through their maps."""
  token_level = config.base.span_mode == "token_level"
  own = RELEX_PREFIXES + (TOKEN_RELEX_PREFIXES if token_level else ())
  base_state = {k: v for k, v in state.items() if not k.startswith(own)}
  params = gliner_params_from_state_dict(base_state, config.base)
  relex = params_from_rows(state, relex_rows(config), strict_prefixes=own)
  return {**params, **relex.get("params", {})}


def load_relex_checkpoint(directory: str, *, tokenizer: Any = None, options: HubOptions | None = None):
  """(RelexConfig, params, tokenizer) of a gliner 0.2.29 relex folder (span or token), in either layout: the newer one
  (`encoder_config`, class and relation token indices, tokenizer files) or the v2.1-style one (none of them: the
  backbone config and tokenizer come from `model_name`, with <<ENT>>, <<SEP>>, <<REL>> added as gliner adds them).

  Example:
    >>> config, params, tokenizer = load_relex_checkpoint("gliner-relex-folder/")  # doctest: +SKIP

  (not run as a doctest: it needs a gliner relex folder; `gliner_jax.inference.relex`'s module example writes one
  with `export_relex` and reads it back)
  """
  with open(os.path.join(directory, REFERENCE_CONFIG_FILE)) as f:
    raw = json.load(f)
  if raw.get("relations_layer") is None:
    raise ValueError(f"{directory}: gliner_config.json has no relations_layer, so it is not a relex model")
  state = read_state_dict(directory)
  base = read_gliner_config(directory, state, options)
  config = relex_config_from_reference(raw, base)
  params = relex_params_from_state_dict(state, config)  # errors name the layer before the tokenizer loads
  relex_tokens = (base.ent_token, base.sep_token, config.rel_token)  # gliner's relex models add no [FLERT]
  tok = load_gliner_tokenizer(directory, base, tokenizer, options, special_tokens=relex_tokens)
  rel_id = tok.convert_tokens_to_ids(config.rel_token)
  if config.rel_token_index >= 0 and rel_id != config.rel_token_index:
    raise ValueError(
      f"{directory}: the tokenizer maps {config.rel_token!r} to {rel_id}, the config says rel_token_index="
      f"{config.rel_token_index}"
    )
  base = check_vocabulary(base, tok, directory).replace(model_name=backbone_name(base.model_name))
  return dataclasses.replace(config, base=base, rel_token_index=rel_id), params, tok


def read_relex_folder(directory: str, *, tokenizer: Any = None, options: HubOptions | None = None) -> GLiNERCheckpoint:
  """`load_relex_checkpoint` as a `GLiNERCheckpoint` whose config is the relex `GLiNERConfig` (relations_layer set):
  the reader `gliner_jax.interop.convert.load_gliner_checkpoint` (and so `GLiNER.from_pretrained`) uses for relex
  folders.

  Example:
    >>> read_relex_folder("gliner-relex-folder/").config.relations_layer  # doctest: +SKIP
    'dot'

  (not run as a doctest: it needs a gliner relex folder, as `load_relex_checkpoint`)
  """
  config, params, tok = load_relex_checkpoint(directory, tokenizer=tokenizer, options=options)
  return GLiNERCheckpoint(config.base, params, tok)


register_folder_reader("relations_layer", read_relex_folder)


def _inverse_transform(value: np.ndarray, transform: str) -> np.ndarray:
  if transform == "T":
    return value.T
  if transform == "conv1d":  # DenseGeneral kernel [C, F] -> torch Conv1d weight [F, C, 1]
    return value.T[:, :, None]
  return value


def relex_rows(config: RelexConfig) -> list[Row]:
  """Every row of a relex model's own tensors (relations layer, token model's prompt FFN and span layer, pair
  projection or triple scorer), as `relex_params_from_state_dict` reads them."""
  d = config.base.hidden_size
  rows = relations_tensor_map(config.relations_layer, d)
  if config.base.span_mode == "token_level":
    rows += token_relex_tensor_map(d)
  if config.triples_layer is None:
    return rows + pair_projection_tensor_map(d)
  return rows + triples_tensor_map(config.triples_layer, REFERENCE_TRIPLES_DIM)


def relex_state_dict(config: RelexConfig, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """(the span or token model's parameters, the relex tensors under gliner's names): the inverse of
  `relex_params_from_state_dict` for the relex part. A ValueError lists missing or mis-shaped parameters.

  Example:
    >>> import numpy as np
    >>> from gliner_jax.model.config import GLiNERConfig
    >>> from gliner_jax.model.encoders.config import EncoderConfig
    >>> enc = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=8, num_hidden_layers=1,
    ...                     num_attention_heads=2, intermediate_size=16)
    >>> rc = RelexConfig(base=GLiNERConfig(encoder=enc, hidden_size=8), relations_layer="dot")
    >>> rows = relex_rows(rc)   # "dot" has no parameters: the pair projection's
    >>> state = {name: np.ones(shape[::-1] if t == "T" else shape, np.float32) for name, _, t, shape in rows}
    >>> params = {"encoder": {}, **params_from_rows(state, rows)["params"]}
    >>> base_params, tensors = relex_state_dict(rc, params)
    >>> sorted(base_params), sorted(tensors)[:2], tensors["pair_rep_layer.0.weight"].shape   # torch's [out, in]
    (['encoder'], ['pair_rep_layer.0.bias', 'pair_rep_layer.0.weight'], (32, 16))
  """
  rows = [r for r in relex_rows(config) if r[2] != "drop"]
  if any(r[1].startswith("batch_stats/") for r in rows):
    raise ValueError(f"triples_layer={config.triples_layer!r} keeps batch statistics, which export does not write")
  own = {r[1].split("/")[0] for r in rows}
  params = nn.meta.unbox(params)  # as `module.init` returns them (logical axis boxes) or plain
  flat = flatten_params({k: v for k, v in params.items() if k in own})
  tensors, problems = {}, []
  for torch_name, ours, transform, shape in rows:
    if ours not in flat:
      problems.append(f"missing: {ours} (for {torch_name})")
      continue
    value = np.asarray(flat[ours], np.float32)
    if value.shape != tuple(shape):
      problems.append(f"mis-shaped: {ours} is {value.shape}, expected {tuple(shape)}")
      continue
    tensors[torch_name] = np.ascontiguousarray(_inverse_transform(value, transform))
  problems += [f"not exported: {name}" for name in sorted(set(flat) - {r[1] for r in rows})]
  if problems:
    raise ValueError("cannot export the relex parameters:\n  " + "\n  ".join(problems))
  return {k: v for k, v in params.items() if k not in own}, tensors


def relex_reference_config(config: RelexConfig) -> dict[str, Any]:
  """The relex keys of a gliner 0.2.29 relex `gliner_config.json` (model_type, relations and triples layers, the
  relation token), the inverse of `relex_config_from_reference`."""
  token_level = config.base.span_mode == "token_level"
  return {
    "model_type": "gliner_uni_encoder_token_relex" if token_level else "gliner_uni_encoder_span_relex",
    "relations_layer": config.relations_layer,
    "triples_layer": config.triples_layer,
    "embed_rel_token": config.embed_rel_token,
    "rel_token": config.rel_token,
    "rel_token_index": int(config.rel_token_index),
  }


def export_relex(
  directory: str,
  config: RelexConfig,
  params: Mapping[str, Any],
  tokenizer,
  *,
  model_name: str | None = None,
  dtype: Any = "float32",
  trained_on: Sequence[str] | None = None,
):
  """Writes a relex model (span or token) as a gliner 0.2.29 folder that `gliner.GLiNER.from_pretrained` loads;
  returns `gliner_export.GlinerExport`. The tokenizer must hold <<ENT>>, <<SEP>> and the relation token.

  Example:
    >>> export_relex("relex_gliner/", model.config, model.params, model.tokenizer)  # doctest: +SKIP
    >>> import gliner  # doctest: +SKIP
    >>> gliner.GLiNER.from_pretrained("relex_gliner/").inference(texts, labels, relations=rels)  # doctest: +SKIP

  (not run as a doctest: `model` is a relex predictor and the second line needs gliner and torch;
  `gliner_jax.inference.relex`'s module example exports a test-size model through `save_pretrained(format="gliner")`)
  """
  rel_id = tokenizer.convert_tokens_to_ids(config.rel_token)
  if config.rel_token not in tokenizer.get_vocab():
    raise ValueError(f"the tokenizer lacks the relation token {config.rel_token!r}")
  config = dataclasses.replace(config, rel_token_index=int(rel_id))
  base_params, tensors = relex_state_dict(config, params)
  return export_gliner(
    directory,
    config.base,
    base_params,
    tokenizer,
    model_name=model_name,
    dtype=dtype,
    trained_on=trained_on,
    extra_config=relex_reference_config(config),
    extra_tensors=tensors,
    prompt_tokens=(config.base.ent_token, config.base.sep_token, config.rel_token),
  )
