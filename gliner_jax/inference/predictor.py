"""The prediction API: `GLiNER.from_pretrained(...)`, `predict_entities`, `batch_predict_entities`.

Texts are split into words with character offsets, long texts are read in overlapping windows of at
most `max_len` words, label lists longer than `max_types` are split into groups, and every
(window, label group) item is scored on the device at a bucketed shape. Only the candidates above
the threshold come back to the host, where the priority-queue decoder picks the entities (token_level
models send back their per-word start / end / inside probabilities, which `gliner_jax.inference.token_decoding`
turns into candidate spans first).

Example (the bundled default model):
  >>> import gliner_jax
  >>> model = GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL)
  >>> model.predict_entities("Ada Lovelace was born in London.", ["person", "city"])
  [Entity(start=0, end=12, text='Ada Lovelace', label='person', score=0.77...),
   Entity(start=25, end=31, text='London', label='city', score=0.73...)]
  >>> texts = ["Ada Lovelace was born in London.", "Marie Curie worked in Paris."]
  >>> found = model.batch_predict_entities(texts, ["person", "city"], batch_size=8, packing=True)
  >>> [[(e.text, e.label, round(e.score, 2)) for e in row] for row in found]
  [[('Ada Lovelace', 'person', 0.78), ('London', 'city', 0.74)],
   [('Marie Curie', 'person', 0.75), ('Paris', 'city', 0.79)]]
  >>> model.warmup(texts, ["person", "city"], batch_size=2)   # every shape such texts can run, compiled
  [BatchShape(batch=1, tokens=32, words=8, types=4), BatchShape(batch=2, tokens=32, words=8, types=4)]
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gliner_jax.inference.batch_plan import device_batches, packing_capacity, plan_items
from gliner_jax.inference.candidates import (
  MAX_CANDIDATES_PER_ROW,
  PlanItem,
  add_owned,
  collect_candidates,
  fetch_candidates,
  row_candidates,
)
from gliner_jax.inference.compile_cache import enable_compilation_cache
from gliner_jax.inference.decoding import check_threshold, decode_spans
from gliner_jax.inference.device_scoring import DeviceScoring, jitted_scoring
from gliner_jax.inference.kinds import PREDICTORS, register_predictor
from gliner_jax.inference.precision import Precision
from gliner_jax.inference.token_decoding import token_candidates
from gliner_jax.interop import checkpoint as ckpt
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.kinds import kind_of, make_model
from gliner_jax.processing.buckets import (
  BatchShape,
  batch_shape,
  pad_batch,
  workload_shapes,
)
from gliner_jax.processing.labels import Labels, LabelSet
from gliner_jax.processing.prompts import EncodedText, PromptTokenizer, validate_labels
from gliner_jax.processing.splitters import make_word_splitter


@dataclasses.dataclass(frozen=True)
class Entity:
  """A predicted entity: character offsets into the text (`end` exclusive), its text, label and score.

  Also readable as a mapping (`entity["label"]`), like gliner's dicts.
  """

  start: int
  end: int
  text: str
  label: str
  score: float

  def __getitem__(self, key: str):
    return getattr(self, key)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


class GLiNER:
  """A GLiNER model ready to predict: config, parameters, tokenizer and word splitter.

  Example (not run here: it needs a checkpoint folder; the module example loads the bundled one):
    >>> model = GLiNER.from_pretrained("path/to/gliner_jax_checkpoint")  # doctest: +SKIP
    >>> model.batch_predict_entities(["Paris is in France."], ["city", "country"], batch_size=8)  # doctest: +SKIP

  `GLiNER` predicts with the uni-encoder kinds ("span", "token"); other kinds have their own subclass
  (`gliner_jax.inference.kinds`), with the same methods and signatures: `GLiNER.from_pretrained` returns
  the right one, and `gliner_jax.inference.kinds.make_predictor` builds one from a config. `scoring`
  replaces the jitted device functions (`DeviceScoring`), e.g. with ones compiled for sharded parameters.
  """

  def __init__(
    self,
    config: GLiNERConfig,
    params: Any,
    tokenizer,
    *,
    words_splitter=None,
    dtype=jnp.float32,
    quantize: str | None = None,
    compilation_cache: bool | str = True,
    span_head_impl: str = "factored",
    scoring: DeviceScoring | None = None,
  ):
    self.kind = self._served_kind(config)
    if compilation_cache is not False:
      enable_compilation_cache(compilation_cache)
    self.precision = Precision.of(dtype, quantize)
    self.config = config
    self.params = jax.tree_util.tree_map(jnp.asarray, params)
    self.tokenizer = tokenizer
    self.prompt_tokenizer = self._text_tokenizer(tokenizer, config)
    self.words_splitter = make_word_splitter(words_splitter or config.words_splitter_type)
    self.model = make_model(config, span_head_impl=span_head_impl)
    limit = getattr(tokenizer, "model_max_length", None) or 10**9
    self.max_tokens = int(min(limit, config.encoder.max_sequence_length, 10**6))
    self.window_overlap = 2 * config.max_width
    self.compiled_shapes: set[BatchShape] = set()
    self._variables = self.precision.prepare(self.model, self.params, self._example_batch())
    apply = functools.partial(self.precision.apply, self.model)
    self._apply = jax.jit(apply)
    scoring = scoring or jitted_scoring(apply)
    self._candidates, self._token_probs = scoring.candidates, scoring.token_probs

  def _served_kind(self, config: GLiNERConfig):
    """`config`'s model kind, if this class is the predictor registered for it (else ValueError)."""
    kind = kind_of(config)
    served = PREDICTORS.get(kind.name)
    registered = set(PREDICTORS.values())
    closest = next((c for c in type(self).__mro__ if c in registered), None)  # a subclass may customise a predictor
    if served is None or closest is not served:
      raise ValueError(
        f"{type(self).__name__} does not predict with a {kind.name!r} model; build it with "
        f"{served.__name__ if served else 'its predictor'}(...), gliner_jax.inference.kinds.make_predictor(...) "
        "or GLiNER.from_pretrained"
      )
    return kind

  # ----------------------------------------------------------------------------------- loading
  @classmethod
  def from_pretrained(
    cls,
    path_or_hub_id: str,
    *,
    tokenizer: Any = None,
    words_splitter=None,
    dtype=jnp.float32,
    quantize: str | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | None = None,
    local_files_only: bool = False,
    **kwargs,
  ) -> "GLiNER":
    """Loads a gliner_jax checkpoint, or converts a gliner 0.2.x checkpoint, from a folder or the hub.

    A hub id (e.g. "urchade/gliner_small-v2.1") is fetched with `huggingface_hub` (`revision`,
    `token`, `cache_dir`; only the files a model needs). gliner folders load in every public layout
    (see `gliner_jax.interop.convert`); `tokenizer` (a tokenizer, a folder or a hub id) serves folders that
    ship none, when their `model_name` cannot be reached.

    `dtype=jnp.bfloat16` multiplies in bfloat16 (dense layers: bfloat16 inputs and kernels, float32
    accumulation; the rest float32), `quantize="int8"` stores the encoder's dense kernels as int8
    (dequantized in the matmul): see `gliner_jax.inference.precision`. `compilation_cache` (default on:
    `gliner_jax.inference.compile_cache`) keeps compiled programs on disk across processes.

    Example (not run here: a gliner folder and a tokenizer folder; the module example loads the default model):
      >>> GLiNER.from_pretrained("gliner_small-v2.1/", tokenizer="deberta_v3_small_tokenizer/")  # doctest: +SKIP
      >>> GLiNER.from_pretrained(gliner_jax.DEFAULT_MODEL, dtype=jnp.bfloat16)  # 1.3-1.8x faster  # doctest: +SKIP
    """
    from gliner_jax.interop.hub import HubOptions, resolve_model_dir

    options = HubOptions(revision=revision, token=token, cache_dir=cache_dir, local_files_only=local_files_only)
    directory = resolve_model_dir(path_or_hub_id, options)
    if ckpt.is_checkpoint(directory):
      from transformers import AutoTokenizer

      config, params = ckpt.load_checkpoint(directory)
      if tokenizer is None or isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer or directory)
      kwargs = _loader_class(cls, config, directory).checkpoint_kwargs(directory, kwargs)
    elif os.path.exists(os.path.join(directory, "gliner_config.json")):
      from gliner_jax.interop.convert import load_gliner_checkpoint

      labels_tokenizer = kwargs.pop("labels_tokenizer", None)
      read = load_gliner_checkpoint(directory, tokenizer=tokenizer, options=options, labels_tokenizer=labels_tokenizer)
      config, params, tokenizer = read.config, read.params, read.tokenizer
      if read.labels_tokenizer is not None:
        kwargs["labels_tokenizer"] = read.labels_tokenizer
    else:
      raise FileNotFoundError(
        f"{directory} holds neither a gliner_jax checkpoint ({ckpt.CONFIG_FILE}) nor a gliner one (gliner_config.json)"
      )
    target = _loader_class(cls, config, directory)
    return target(config, params, tokenizer, words_splitter=words_splitter, dtype=dtype, quantize=quantize, **kwargs)

  @classmethod
  def checkpoint_kwargs(cls, directory: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The constructor keywords a gliner_jax checkpoint folder adds to `kwargs` (none for the uni-encoder)."""
    return kwargs

  def checkpoint_parts(self) -> dict[str, Any]:
    """What `save_pretrained` writes besides config, parameters and tokenizer (none for the uni-encoder)."""
    return {}

  def save_pretrained(
    self,
    directory: str,
    dtype: Any = None,
    format: str = "gliner_jax",
    model_name: str | None = None,
    trained_on: Sequence[str] | None = None,
  ) -> None:
    """Writes the model: format="gliner_jax" (this library's checkpoint; `dtype` None keeps float32) or
    "gliner" (a gliner 0.2.x folder for `gliner.GLiNER.from_pretrained`, float32 unless `dtype`;
    `model_name` overrides the recorded backbone name, see `gliner_jax.interop.gliner_export`; its model
    card, README.md, lists `trained_on`, one entry per data source, or says the data is unknown).

    Example (not run here: `model` is a loaded predictor, as in the module example):
      >>> model.save_pretrained("my_model_gliner/", format="gliner")  # doctest: +SKIP
    """
    extra = self.checkpoint_parts()
    if format == "gliner":
      from gliner_jax.interop.gliner_export import export_gliner

      export_gliner(
        directory,
        self.config,
        jax.device_get(self.params),
        self.tokenizer,
        model_name=model_name,
        dtype=dtype if dtype is not None else "float32",
        trained_on=trained_on,
        **extra,
      )
    elif format == "gliner_jax":
      ckpt.save_checkpoint(directory, self.config, jax.device_get(self.params), self.tokenizer, dtype=dtype, **extra)
    else:
      raise ValueError(f"format={format!r}: use 'gliner_jax' or 'gliner'")

  def push_to_hub(self, repo_id: str, **kwargs):
    """Uploads the model to the hub as a gliner 0.2.x folder (`gliner_jax.interop.gliner_export.push_to_hub`).

    Example (not run here: it uploads to the Hugging Face hub):
      >>> model.push_to_hub("me/my-gliner", private=True)  # doctest: +SKIP
    """
    from gliner_jax.interop.gliner_export import push_to_hub

    return push_to_hub(self, repo_id, **kwargs)

  def _text_tokenizer(self, tokenizer, config: GLiNERConfig):
    return PromptTokenizer(tokenizer, config)

  def _example_batch(self) -> dict[str, np.ndarray]:
    """A valid padded batch, traced (not run) to find the model's layers."""
    example = self.prompt_tokenizer.encode_batch([["a"]], [["b"]])
    return pad_batch(example, batch_shape(example, 1), self.prompt_tokenizer.pad_id)

  def encode_labels(self, labels: Labels) -> np.ndarray:
    """Reusable label vectors: bi-encoders only (`BiEncoderGLiNER.encode_labels`)."""
    raise ValueError(
      "encode_labels needs a bi-encoder (config.labels_encoder); a uni-encoder reads its labels in the "
      "prompt, together with each text"
    )

  def prepare_labels(self, labels: Sequence[str], label_embeddings=None):
    """What one prediction call scores every text against, passed on to `_score`: nothing for a uni-encoder (its
    labels are read in the prompt; `label_embeddings` is refused), prepared label chunks for a bi-encoder."""
    if label_embeddings is not None:
      raise ValueError("label_embeddings need a bi-encoder (config.labels_encoder); a uni-encoder has no label vectors")
    return None

  # ----------------------------------------------------------------------------------- device
  def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
    """Raw logits for a padded batch (for tests and analysis): span x type [B, W, K, C], or
    [B, W, C, 3] (start, end, inside) for token_level models."""
    return np.asarray(self._apply(self._variables, **batch).logits)

  # ----------------------------------------------------------------------------------- API
  def predict_entities(
    self,
    text: str,
    labels: Labels,
    threshold: float = 0.5,
    flat_ner: bool = True,
    multi_label: bool = False,
    *,
    label_embeddings=None,
  ) -> list[Entity]:
    """Entities in one text. An empty text gives []. `label_embeddings` as in `batch_predict_entities`."""
    return self.batch_predict_entities(
      [text], labels, threshold=threshold, flat_ner=flat_ner, multi_label=multi_label, label_embeddings=label_embeddings
    )[0]

  def batch_predict_entities(
    self,
    texts: Sequence[str],
    labels: Labels,
    batch_size: int = 8,
    threshold: float = 0.5,
    flat_ner: bool = True,
    multi_label: bool = False,
    packing: bool | int = False,
    *,
    label_embeddings=None,
    words_splitter=None,
  ) -> list[list[Entity]]:
    """Entities in each text; the labels are shared by all texts.

    `packing` (True, or the tokens per encoder row) packs several texts into each of the `batch_size`
    encoder rows (`gliner_jax.processing.packing`): the same entities, less padding for short texts of
    mixed lengths. `label_embeddings` (bi-encoders only: `encode_labels(labels)`) skips encoding the labels.
    `words_splitter` (a callable text -> [(word, start, end)]) splits these texts instead of the model's own.

    Example (not run here: `model` and `tweets`; the module example runs it):
      >>> model.batch_predict_entities(tweets, ["person", "city"], batch_size=8, packing=True)  # doctest: +SKIP
    """
    check_threshold(threshold)
    label_set = LabelSet.of(labels)
    labels = self._prompt_labels(label_set)
    if isinstance(texts, str):
      raise ValueError("texts must be a list of strings; use predict_entities for one text")
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    words, offsets = [], []
    for i, text in enumerate(texts):
      if not isinstance(text, str):
        raise ValueError(f"texts[{i}] is {type(text).__name__}, not a string")
      split = list((words_splitter or self.words_splitter)(text))
      bad = next((x for x in split if not 0 <= x[1] <= x[2] <= len(text)), None)
      if bad is not None:
        raise ValueError(
          f"words_splitter gave {bad!r} for texts[{i}] of length {len(text)}: each word must be "
          "(word, start, end) with 0 <= start <= end <= len(text)"
        )
      words.append([w for w, _, _ in split])
      offsets.append([(s, e) for _, s, e in split])
    prepared = self.prepare_labels(labels, label_embeddings)
    groups = [labels[i : i + self.config.max_types] for i in range(0, len(labels), self.config.max_types)]
    items, encoded = self._plan(words, groups)
    candidates = self._score(items, encoded, threshold, batch_size, packing, prepared)
    results = []
    for t, text in enumerate(texts):
      starts, widths, classes, scores = candidates[t]
      spans = (
        decode_spans(
          starts, widths, classes, scores, num_words=len(words[t]), flat_ner=flat_ner, multi_label=multi_label
        )
        if len(starts)
        else []
      )
      results.append(
        [
          Entity(
            start=offsets[t][s.start][0],
            end=offsets[t][s.end][1],
            text=text[offsets[t][s.start][0] : offsets[t][s.end][1]],
            label=label_set.names[s.label],
            score=float(s.score),
          )
          for s in spans
        ]
      )
    return results

  def warmup(
    self,
    texts: Sequence[str],
    labels: Labels,
    batch_size: int = 8,
    packing: bool | int = False,
    *,
    label_embeddings=None,
  ) -> list[BatchShape]:
    """Compiles every program that predicting texts like `texts` with `labels` at `batch_size` can run.

    The shapes are those any batch of these texts' (window, label group) rows can have, rows repeated
    or left out (`gliner_jax.processing.buckets.workload_shapes`), at each device batch size up to
    `device_batch_size(batch_size)`. With `packing`, the packed shapes these very texts give
    (`gliner_jax.processing.packing.PackedShape`; other mixes of texts can pack into others). A shape
    already run costs nothing, and with the persistent compilation cache one compiled by an earlier
    process is only read from disk. Returns the shapes.

    Example (not run here: `model` and `sample_texts`; the module example runs it):
      >>> model.warmup(sample_texts, ["person", "city"], batch_size=8)  # doctest: +SKIP
      [BatchShape(batch=1, tokens=192, words=128, types=4), ...]
    """
    labels = self._prompt_labels(LabelSet.of(labels))
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
      raise ValueError("texts must be a list of strings")
    self.prepare_labels(labels, label_embeddings)
    words = [[w for w, _, _ in self.words_splitter(text)] for text in texts]
    groups = [labels[i : i + self.config.max_types] for i in range(0, len(labels), self.config.max_types)]
    _, encoded = self._plan(words, groups)
    if self._packing_capacity(packing) is not None:
      batches = {shape: batch for _, shape, batch in self._device_batches(encoded, batch_size, packing)}
    else:
      pad_id = self.prompt_tokenizer.pad_id
      batches = {
        shape: pad_batch([encoded[i] for i in rows], shape, pad_id)
        for shape, rows in workload_shapes(encoded, batch_size).items()
      }
    for shape, batch in batches.items():
      if shape in self.compiled_shapes:
        continue
      if self.kind.output_layout == "token":
        jax.block_until_ready(self._token_probs(self._variables, batch))
      else:
        cap = min(MAX_CANDIDATES_PER_ROW, shape.words * self.config.max_width * shape.types)
        jax.block_until_ready(self._candidates(self._variables, batch, np.float32(0.5), cap=cap))
      self.compiled_shapes.add(shape)
    return sorted(batches, key=lambda s: (type(s).__name__, dataclasses.astuple(s)))

  # ----------------------------------------------------------------------------------- internals
  def _prompt_labels(self, label_set: LabelSet) -> list[str]:
    """What the model reads for each label (its description, or its name), checked for the prompt's markers."""
    return validate_labels(label_set.prompts, (self.config.ent_token, self.config.sep_token, "[FLERT]"))

  def _plan(self, words: list[list[str]], groups: list[list[str]]):
    """All (window, label group) items, tokenized (`gliner_jax.inference.batch_plan.plan_items`)."""
    return plan_items(
      self.prompt_tokenizer,
      words,
      groups,
      max_types=self.config.max_types,
      max_len=self.config.max_len,
      max_tokens=self.max_tokens,
      window_overlap=self.window_overlap,
    )

  def _packing_capacity(self, packing: bool | int) -> int | None:
    """Tokens per packed row for a `packing` argument (False / 0: no packing)."""
    return packing_capacity(packing, self.max_tokens)

  def _device_batches(self, encoded: list[EncodedText], batch_size: int, packing: bool | int = False):
    """(members, shape, arrays) of each device batch (`gliner_jax.inference.batch_plan.device_batches`)."""
    capacity, pad_id = self._packing_capacity(packing), self.prompt_tokenizer.pad_id
    return device_batches(encoded, batch_size, pad_id, capacity=capacity, hidden_size=self.config.encoder.hidden_size)

  def _score(
    self,
    items: list[PlanItem],
    encoded: list[EncodedText],
    threshold: float,
    batch_size: int,
    packing: bool | int = False,
    prepared: Any = None,
  ):
    """Runs all items on the device in batches; returns per-text candidate arrays. `prepared`:
    `prepare_labels`' result (None: the labels are in each item's prompt)."""
    per_text: dict[int, list[np.ndarray]] = {}
    k = self.config.max_width
    for members, shape, batch in self._device_batches(encoded, batch_size, packing):
      self.compiled_shapes.add(shape)
      if self.kind.output_layout == "token":
        probs = np.asarray(self._token_probs(self._variables, batch))
        for r, i in enumerate(members):
          e = encoded[i]
          start, width, c, sc = token_candidates(probs[r], threshold, e.num_words, len(e.type_token_index))
          add_owned(per_text, items[i], start, width, c, sc)
        continue
      cap = min(MAX_CANDIDATES_PER_ROW, shape.words * k * shape.types)
      found = fetch_candidates(self._candidates(self._variables, batch, np.float32(threshold), cap=cap))
      for r, i in enumerate(members):
        idx, sc = row_candidates(found, r, threshold)
        w, rest = np.divmod(idx, k * shape.types)
        width, c = np.divmod(rest, shape.types)
        add_owned(per_text, items[i], w, width, c, sc)
    return collect_candidates(per_text, items, token_level=self.kind.output_layout == "token")


def _loader_class(cls: type, config: GLiNERConfig, directory: str) -> type:
  """The registered predictor of `config`'s kind, which must be `cls` or a subclass of it."""
  target = PREDICTORS.get(kind_of(config).name)
  if target is None:
    raise ValueError(
      f"{directory} holds a {kind_of(config).name!r} model, whose predictor is not registered: load it with "
      "gliner_jax.GLiNER.from_pretrained (gliner_jax.inference.api registers every built-in kind)"
    )
  if not issubclass(target, cls):
    raise ValueError(
      f"{directory} holds a {kind_of(config).name!r} model: load it with {target.__name__}.from_pretrained"
    )
  return target


register_predictor("span", GLiNER)
register_predictor("token", GLiNER)
