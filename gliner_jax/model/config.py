"""The GLiNER model configuration: a typed dataclass saved beside the weights as JSON."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.relex.relations import RELATIONS_LAYERS
from gliner_jax.model.relex.triples import TRIPLES_LAYERS

CONFIG_FILE = "gliner_jax_config.json"
SPECIAL_TOKENS = ("[FLERT]", "<<ENT>>", "<<SEP>>")
RELEX_FIELDS = ("relations_layer", "triples_layer", "embed_rel_token", "rel_token", "rel_token_index")
REFUSED_TRIPLES = {
  "TuckER": "its reference mixes the scores of different pairs (a reshape of torch.matmul's batched output) "
  "in a way that depends on how the batch is padded",
  "ConvE": "gliner 0.2.29 cannot build it from a config (it needs emb_dim1)",
}


def check_relex_options(relations_layer: str, triples_layer: str | None, rel_token: str = "<<REL>>") -> None:
  """Raises ValueError naming a relex option gliner 0.2.29 does not define or gliner_jax does not compute.

  Example:
    >>> check_relex_options("dot", "DistMult")     # fine: returns None
    >>> check_relex_options("rgcn", None)
    Traceback (most recent call last):
    ...
    ValueError: relations_layer='rgcn': gliner 0.2.29 defines ['dot', ...]
  """
  if str(relations_layer).lower() not in RELATIONS_LAYERS:
    raise ValueError(f"relations_layer={relations_layer!r}: gliner 0.2.29 defines {list(RELATIONS_LAYERS)}")
  if triples_layer is not None:
    if triples_layer in REFUSED_TRIPLES:
      raise ValueError(f"triples_layer={triples_layer!r} is not implemented: {REFUSED_TRIPLES[triples_layer]}")
    if triples_layer not in TRIPLES_LAYERS:
      raise ValueError(f"triples_layer={triples_layer!r}: gliner 0.2.29 defines {sorted(TRIPLES_LAYERS)}")
  if not rel_token:
    raise ValueError("rel_token must be a non-empty string (gliner's default is '<<REL>>')")


@dataclasses.dataclass(frozen=True)
class GLiNERConfig:
  """Everything that fixes the function a GLiNER span model computes.

  A bi-encoder (gliner's `labels_encoder`; `gliner_jax.model.bi_encoder`) sets `labels_encoder` (the
  second encoder's config), `labels_encoder_name` (its backbone, as `model_name`) and `labels_pooling`.
  A relex model (gliner's joint entity and relation extraction; `gliner_jax.model.relex`) sets `relations_layer`
  (one of gliner 0.2.29's: "dot", "mlp", "bilinear", "gcn", "gat", "attention", "none"; None: not a relex model),
  optionally `triples_layer` (a knowledge-graph scorer instead of the pair projection), and its relation token:
  `rel_token`, `embed_rel_token`, `rel_token_index` (the token's id; -1 until a tokenizer holds it).
  `remat_policy` and `scan_layers` choose how the encoder layers run (rematerialised, scanned over stacked
  parameters; see `gliner_jax.model.encoders.stack`), not what they compute.

  Example:
    >>> import tempfile
    >>> hf_json = {"model_type": "bert", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
    ...            "num_attention_heads": 2, "intermediate_size": 64}  # a backbone's config.json
    >>> cfg = GLiNERConfig(encoder=EncoderConfig.from_hf_dict(hf_json), hidden_size=512)
    >>> directory = tempfile.mkdtemp()
    >>> _ = cfg.save(directory); GLiNERConfig.load(directory) == cfg
    True
  """

  encoder: EncoderConfig
  hidden_size: int = 512
  max_width: int = 12
  max_len: int = 384
  max_types: int = 25
  dropout: float = 0.4
  num_rnn_layers: int = 1
  span_mode: str = "markerV0"
  subtoken_pooling: str = "first"
  embed_ent_token: bool = True
  ent_token: str = "<<ENT>>"
  sep_token: str = "<<SEP>>"
  class_token_index: int = -1
  words_splitter_type: str = "whitespace"
  model_name: str = ""
  # Bi-encoder (gliner's labels_encoder): types are read by this second encoder, the text without a prompt.
  labels_encoder: EncoderConfig | None = None
  labels_encoder_name: str = ""
  labels_pooling: str = "mean"
  # How the encoders' layer stacks run (`gliner_jax.model.encoders.stack`); copied into `encoder` and
  # `labels_encoder`, whose own values these override. Same function either way.
  remat_policy: str = "none"
  scan_layers: bool = False
  # Relex (gliner's relations_layer, ...): None means an entity-only model.
  relations_layer: str | None = None
  triples_layer: str | None = None
  embed_rel_token: bool = True
  rel_token: str = "<<REL>>"
  rel_token_index: int = -1

  def __post_init__(self):
    if isinstance(self.labels_encoder, Mapping):
      object.__setattr__(self, "labels_encoder", EncoderConfig.from_dict(self.labels_encoder))
    stack = dict(remat_policy=self.remat_policy, scan_layers=bool(self.scan_layers))
    object.__setattr__(self, "encoder", dataclasses.replace(self.encoder, **stack))
    if self.labels_encoder is not None:
      object.__setattr__(self, "labels_encoder", dataclasses.replace(self.labels_encoder, **stack))
    if self.labels_encoder is not None:
      if self.span_mode not in ("markerV0", "marker", "token_level"):
        raise ValueError(
          f"span_mode={self.span_mode!r}: bi-encoders (labels_encoder) have 'markerV0', 'marker' and 'token_level'"
        )
      if self.num_rnn_layers:
        raise ValueError(
          "a bi-encoder (labels_encoder) needs num_rnn_layers=0: gliner's bi-encoder span model builds its "
          "BiLSTM but never applies it, so the words go straight from the encoder to the span head"
        )
      if self.labels_pooling != "mean":
        raise ValueError(f"labels_pooling={self.labels_pooling!r}: only 'mean' (gliner's) is implemented")
    if self.span_mode not in ("markerV0", "marker", "token_level"):
      raise ValueError(f"span_mode={self.span_mode!r}: 'markerV0', 'marker' and 'token_level' are implemented")
    if self.subtoken_pooling != "first":
      raise ValueError(f"subtoken_pooling={self.subtoken_pooling!r}: only 'first' is implemented")
    if self.num_rnn_layers not in (0, 1):
      raise ValueError(f"num_rnn_layers={self.num_rnn_layers}: 0 or 1 are implemented")
    if self.hidden_size % 2:
      raise ValueError(f"hidden_size={self.hidden_size} must be even (the BiLSTM halves it)")
    for name in ("max_width", "max_len", "max_types"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
    self._check_relex()

  def _check_relex(self):
    if self.relations_layer is None:
      if self.triples_layer is not None:
        raise ValueError(f"triples_layer={self.triples_layer!r} needs a relex model: set relations_layer too")
      return
    check_relex_options(self.relations_layer, self.triples_layer, self.rel_token)
    if self.labels_encoder is not None:
      raise ValueError("relations_layer is set with a labels_encoder: gliner 0.2.29's relex models are uni-encoders")

  @property
  def is_relex(self) -> bool:
    return self.relations_layer is not None

  @property
  def needs_projection(self) -> bool:
    return self.hidden_size != self.encoder.hidden_size

  @property
  def is_bi_encoder(self) -> bool:
    return self.labels_encoder is not None

  @property
  def needs_labels_projection(self) -> bool:
    return self.labels_encoder is not None and self.hidden_size != self.labels_encoder.hidden_size

  def replace(self, **changes) -> "GLiNERConfig":
    return dataclasses.replace(self, **changes)

  def to_dict(self) -> dict[str, Any]:
    out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    out["encoder"] = self.encoder.to_dict()
    out["labels_encoder"] = self.labels_encoder.to_dict() if self.labels_encoder is not None else None
    return out

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> "GLiNERConfig":
    d = dict(d)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
      raise ValueError(f"unknown GLiNERConfig fields: {unknown}")
    d["encoder"] = EncoderConfig.from_dict(d["encoder"])
    return cls(**d)

  def save(self, directory: str) -> str:
    path = os.path.join(directory, CONFIG_FILE)
    with open(path, "w") as f:
      json.dump(self.to_dict(), f, indent=2, sort_keys=True)
    return path

  @classmethod
  def load(cls, directory: str) -> "GLiNERConfig":
    with open(os.path.join(directory, CONFIG_FILE)) as f:
      return cls.from_dict(json.load(f))

  @classmethod
  def from_reference(
    cls,
    gliner_config: Mapping[str, Any],
    encoder: EncoderConfig | None = None,
    labels_encoder: EncoderConfig | None = None,
  ) -> "GLiNERConfig":
    """Builds the config from a gliner 0.2.x `gliner_config.json` dict.

    `encoder` is the backbone's config when the dict has no `encoder_config` (the urchade v2.1
    layout); `gliner_jax.interop.convert.load_gliner_checkpoint` finds it as gliner does. Likewise
    `labels_encoder` for a bi-encoder (`labels_encoder` set) without `labels_encoder_config`. A
    bi-encoder's `num_rnn_layers` becomes 0: gliner 0.2.29 builds that BiLSTM but never applies it.

    Raises ValueError for options of the reference this implementation does not compute
    (e.g. other span modes or post-fusion), so a converted model is never silently different.
    """
    g = dict(gliner_config)
    unsupported = []
    if g.get("post_fusion_schema"):
      unsupported.append(f"post_fusion_schema={g['post_fusion_schema']!r}")
    if g.get("fuse_layers"):
      unsupported.append("fuse_layers=True")
    if g.get("span_encoder_config"):
      unsupported.append("span_encoder_config")
    bi_encoder = bool(g.get("labels_encoder") or g.get("labels_encoder_config"))
    if g.get("labels_decoder"):
      unsupported.append("labels_decoder")
    if g.get("span_mode", "markerV0") not in ("markerV0", "marker", "token_level"):
      unsupported.append(f"span_mode={g.get('span_mode')!r}")
    if g.get("span_mode") == "token_level" and g.get("represent_spans"):
      unsupported.append("represent_spans=True (token_level with a span head)")
    if unsupported:
      raise ValueError("gliner checkpoint uses options gliner_jax does not implement: " + ", ".join(unsupported))
    if encoder is None:
      if not g.get("encoder_config"):
        raise ValueError(
          "gliner_config.json has no 'encoder_config': pass the backbone's config as `encoder` "
          "(gliner_jax.interop.convert.load_gliner_checkpoint reads it from `model_name`)"
        )
      encoder = EncoderConfig.from_hf_dict(g["encoder_config"])
    if bi_encoder and labels_encoder is None:
      if not g.get("labels_encoder_config"):
        raise ValueError(
          "gliner_config.json has no 'labels_encoder_config': pass the labels encoder's config as "
          "`labels_encoder` (gliner_jax.interop.convert.load_gliner_checkpoint reads it from `labels_encoder`)"
        )
      labels_encoder = EncoderConfig.from_hf_dict(g["labels_encoder_config"])
    return cls(
      encoder=encoder,
      hidden_size=int(g.get("hidden_size", 512)),
      max_width=int(g.get("max_width", 12)),
      max_len=int(g.get("max_len", 384)),
      max_types=int(g.get("max_types", 25)),
      dropout=float(g.get("dropout", 0.4)),
      num_rnn_layers=0 if bi_encoder else int(g.get("num_rnn_layers", 1)),
      span_mode=g.get("span_mode", "markerV0"),
      subtoken_pooling=g.get("subtoken_pooling", "first"),
      embed_ent_token=bool(g.get("embed_ent_token", True)),
      ent_token=g.get("ent_token", "<<ENT>>"),
      sep_token=g.get("sep_token", "<<SEP>>"),
      class_token_index=int(g.get("class_token_index", -1)),
      words_splitter_type=g.get("words_splitter_type", "whitespace"),
      model_name=str(g.get("model_name", "")),
      labels_encoder=labels_encoder if bi_encoder else None,
      labels_encoder_name=str(g.get("labels_encoder") or "") if bi_encoder else "",
    )
