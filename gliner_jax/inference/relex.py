"""Joint entity and relation extraction with a gliner 0.2.29 relex model (span or token).

`RelexGLiNER.predict_relations(text, entity_labels, relation_labels)` returns `(entities, relations)` as gliner's
`predict_relations` does; `batch_predict_relations` returns one such pair per text. Entities are
`gliner_jax.inference.predictor.Entity`; relations are `Relation`s, which also read like gliner's dicts
(`r["head"]["start"]`, `r["relation"]`, `r["score"]`).

Shapes are static (`gliner_jax.inference.relex_plan` plans the rows): tokens, words, entity types and relation
types are padded to buckets (`gliner_jax.processing.buckets`), and the selected entities to `ENTITY_SLOTS` (a text
with more is re-run with the next slot count), so a stream of texts compiles a bounded set of programs. Thresholds
are inputs, not constants: changing them compiles nothing.

`RelexGLiNER` is the predictor of the "span_relex" and "token_relex" model kinds (`gliner_jax.model.kinds`): a
`GLiNER` subclass, so `gliner_jax.GLiNER.from_pretrained(relex folder)` returns one, and it answers every `GLiNER`
method with the same signature. `predict_entities` / `batch_predict_entities` give the entities of the relex forward
with no relation labels (the prompt `<<ENT>> e1 ... <<SEP>> <<SEP>>`, as gliner's relex `predict_entities` with its
default `relations=[]`); `save_pretrained` writes a gliner_jax checkpoint (the default) or a gliner relex folder
(format="gliner").

A text longer than the model's `max_len` words is read in windows (`gliner_jax.processing.windows.word_windows`,
2 * max_width words shared), never cut: each entity comes from the window owning its first word, relations are
those each window finds between its entities (so none between entities that share no window), merged by
`merge_windows`.

Labels go into one prompt, as gliner reads them, while they fit (`label_groups`): at most the model's `max_types`
entity labels and `max_types` relation labels, in a prompt of at most half the encoder. Past that they are split
into groups and each (entity group, relation group) pair is one pass over the text (`merge_passes` unites them):
relation groups are exact in the sense that every relation type is scored between the entities of its pass, but a
relation between entities of two entity groups is never scored (a warning says so).

Example (a trained relex folder loads with `RelexGLiNER.from_pretrained(folder)`; here a test-size random model on
the bundled tokenizer, so its predictions mean nothing, saved as a gliner relex folder and loaded back):
  >>> import tempfile, jax
  >>> from transformers import AutoTokenizer
  >>> from gliner_jax import DEFAULT_MODEL, GLiNER
  >>> from gliner_jax.interop.convert import add_gliner_tokens
  >>> from gliner_jax.model.config import GLiNERConfig
  >>> from gliner_jax.model.encoders.config import EncoderConfig
  >>> from gliner_jax.model.kinds import relex_dummy_batch
  >>> tok = add_gliner_tokens(AutoTokenizer.from_pretrained(DEFAULT_MODEL), tokens=("<<ENT>>", "<<SEP>>", "<<REL>>"))
  >>> enc = EncoderConfig(model_type="bert", vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
  ...                     num_attention_heads=2, intermediate_size=64)
  >>> config = GLiNERConfig(encoder=enc, hidden_size=32, max_width=4, relations_layer="dot",
  ...                       class_token_index=tok.convert_tokens_to_ids("<<ENT>>"),
  ...                       rel_token_index=tok.convert_tokens_to_ids("<<REL>>"))
  >>> module = SpanRelexModel(RelexConfig.from_config(config))
  >>> params = module.init(jax.random.key(0), **relex_dummy_batch(1))["params"]   # boxed (logical axes): fine
  >>> model = RelexGLiNER(config, params, tok, compilation_cache=False)
  >>> text, labels, relation_labels = "Alice works at Acme.", ["person", "organization"], ["works at"]
  >>> model.predict_relations(text, labels, relation_labels, threshold=0.99)   # (entities, relations)
  ([], [])
  >>> found = model.predict_relations(text, labels, relation_labels, threshold=0.01, relation_threshold=0.01)
  >>> with tempfile.TemporaryDirectory() as folder:
  ...   model.save_pretrained(folder, format="gliner")
  ...   loaded = GLiNER.from_pretrained(folder)
  >>> type(loaded).__name__, loaded.predict_relations(text, labels, relation_labels, 0.01, 0.01) == found
  ('RelexGLiNER', True)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gliner_jax.inference.compile_cache import enable_compilation_cache
from gliner_jax.inference.decoding import check_threshold, decode_batch
from gliner_jax.inference.kinds import register_predictor
from gliner_jax.inference.precision import Precision
from gliner_jax.inference.predictor import DeviceScoring, Entity, GLiNER
from gliner_jax.inference.relex_decoding import Relation, decode_relations, merge_passes, merge_windows
from gliner_jax.inference.relex_plan import ENTITY_SLOTS, RelexPlanner, RelexShape
from gliner_jax.inference.token_decoding import decode_token_batch
from gliner_jax.interop import checkpoint as ckpt
from gliner_jax.interop.relex_convert import export_relex
from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.relex.span_relex import RelexConfig, SpanRelexModel
from gliner_jax.model.relex.token_relex import TokenRelexModel
from gliner_jax.processing.buckets import bucket, device_batch_size
from gliner_jax.processing.labels import Labels, LabelSet
from gliner_jax.processing.prompts import validate_labels
from gliner_jax.processing.relex_prompts import RelexEncodedText
from gliner_jax.processing.splitters import make_word_splitter
from gliner_jax.processing.windows import WordWindow


class RelexGLiNER(GLiNER):
  """A relex model ready to predict: its relex `GLiNERConfig` (relations_layer set; a `RelexConfig` is accepted too),
  parameters, tokenizer and word splitter; span_mode "token_level" runs `TokenRelexModel` and the token decoder, the
  span modes `SpanRelexModel`. `relex_config` is the `RelexConfig` the relex modules take.

  Example (not run as a doctest: it needs a trained relex folder; the module example builds and runs a random one):
    >>> model = RelexGLiNER.from_pretrained("gliner-relex-folder/")  # doctest: +SKIP
    >>> model.batch_predict_relations(["Bob founded Globex."], ["person", "company"], ["founded"])  # doctest: +SKIP
  """

  def __init__(
    self,
    config: GLiNERConfig | RelexConfig,
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
    del span_head_impl  # the relex heads have one implementation (gliner's)
    config = config.base if isinstance(config, RelexConfig) else config
    self.kind = self._served_kind(config)
    self.precision = Precision.of(dtype, quantize)
    if quantize is not None:
      raise ValueError(f"quantize={quantize!r}: a relex model predicts unquantized (dtype float32 or bfloat16)")
    if scoring is not None:
      raise ValueError("scoring: a relex model scores with its own jitted forward (entities and relations together)")
    if not getattr(tokenizer, "is_fast", False):
      raise ValueError(f"{type(tokenizer).__name__} is a slow tokenizer: GLiNER needs a fast one (word ids)")
    if compilation_cache is not False:
      enable_compilation_cache(compilation_cache)
    self.config = config
    self.relex_config = RelexConfig.from_config(config)
    self.params = jax.tree_util.tree_map(jnp.asarray, params)
    self.tokenizer = tokenizer
    self.words_splitter = make_word_splitter(words_splitter or config.words_splitter_type)
    self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    self.compiled_shapes: set[tuple[int, ...]] = set()
    self.model_class = TokenRelexModel if config.span_mode == "token_level" else SpanRelexModel
    limit = getattr(tokenizer, "model_max_length", None) or 10**9
    self.max_tokens = int(min(limit, config.encoder.max_sequence_length, 10**6))

  @property
  def planner(self) -> RelexPlanner:
    """How this model's predictions are cut into device rows (`gliner_jax.inference.relex_plan`)."""
    return RelexPlanner(self.tokenizer, self.config, self.max_tokens)

  def save_pretrained(
    self,
    directory: str,
    dtype: Any = None,
    format: str = "gliner_jax",
    model_name: str | None = None,
    trained_on: Sequence[str] | None = None,
  ) -> None:
    """Writes the model: format="gliner_jax" (this library's checkpoint, `GLiNER.from_pretrained` loads it) or
    "gliner" (a gliner 0.2.29 relex folder, `gliner_jax.interop.relex_convert.export_relex`, which both
    `gliner.GLiNER.from_pretrained` and `RelexGLiNER.from_pretrained` load; float32 unless `dtype`).

    Example (not run here: `model` is a relex predictor; the module example saves one and loads it back):
      >>> model.save_pretrained("relex_gliner/", format="gliner")  # doctest: +SKIP
      >>> RelexGLiNER.from_pretrained("relex_gliner/")  # doctest: +SKIP
    """
    if format == "gliner_jax":
      ckpt.save_checkpoint(directory, self.config, jax.device_get(self.params), self.tokenizer, dtype=dtype)
      return
    if format != "gliner":
      raise ValueError(f"format={format!r}: use 'gliner_jax' or 'gliner'")
    export_relex(
      directory,
      self.relex_config,
      jax.device_get(self.params),
      self.tokenizer,
      model_name=model_name,
      dtype=dtype if dtype is not None else "float32",
      trained_on=trained_on,
    )

  def push_to_hub(self, repo_id: str, **kwargs):
    """Not for relex models yet: the hub export writes an entity model's folder."""
    raise ValueError(
      "push_to_hub does not export relex models yet: save_pretrained(folder, format='gliner') and upload the folder "
      "(huggingface_hub.HfApi().upload_folder)"
    )

  def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
    """The entity logits of a padded relex batch (with `relation_token_index`): span x type [B, W, K, C], or
    [B, W, C, 3] for token_level models."""
    out = self.model_class(self.relex_config, dtype=jnp.dtype(self.precision.dtype)).apply(
      {"params": self.params}, **batch
    )
    return np.asarray(out.entity_logits.astype(jnp.float32))

  # ------------------------------------------------------------------------------ the GLiNER entity API
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
    """Entities in each text: `batch_predict_relations(texts, labels, [])`'s entities. `packing` is refused (a relex
    row holds one text: relations are scored between one text's entities), as are `label_embeddings`.

    Example (not run here: `model` is a relex predictor, as the module example builds):
      >>> model.batch_predict_entities(["Bob founded Globex."], ["person", "company"])  # doctest: +SKIP
    """
    self.prepare_labels(labels, label_embeddings)
    self._check_packing(packing)
    found = self._predict(texts, labels, [], threshold, None, None, flat_ner, multi_label, batch_size, words_splitter)
    return [entities for entities, _ in found]

  def warmup(
    self,
    texts: Sequence[str],
    labels: Labels,
    batch_size: int = 8,
    packing: bool | int = False,
    *,
    label_embeddings=None,
  ) -> list[RelexShape]:
    """`GLiNER.warmup`: compiles what `batch_predict_entities(texts, labels, batch_size)` runs (no relation labels);
    `warmup_relations` compiles for relation labels too."""
    return self.warmup_relations(texts, labels, (), batch_size, packing, label_embeddings=label_embeddings)

  def warmup_relations(
    self,
    texts: Sequence[str],
    labels: Labels,
    relation_labels: Sequence[str] = (),
    batch_size: int = 8,
    packing: bool | int = False,
    *,
    label_embeddings=None,
    threshold: float = 0.5,
    adjacency_threshold: float | None = None,
  ) -> list[RelexShape]:
    """Compiles every program that predicting texts like `texts` with these entity and relation labels at
    `batch_size` can run: each device batch of up to `device_batch_size(batch_size)` of their (window, label group)
    rows, rows repeated or left out, at every entity slot count (`ENTITY_SLOTS`) up to the most any of their rows
    selects at `threshold` (each row is run alone once to find it; a text selecting more compiles a larger slot
    count when it comes). Shapes already run cost nothing. Returns the shapes.

    Example (not run here: `model` is a relex predictor, as the module example builds):
      >>> model.warmup_relations(sample_texts, ["person", "city"], ["lives in"], batch_size=8)  # doctest: +SKIP
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
      raise ValueError("texts must be a list of strings")
    self.prepare_labels(labels, label_embeddings)
    self._check_packing(packing)
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _, entity_labels, relation_labels = self._checked_labels(labels, relation_labels)
    threshold = check_threshold(threshold)
    adjacency_threshold = check_threshold(threshold if adjacency_threshold is None else adjacency_threshold)
    items = self.planner.plan([[w for w, _, _ in self._words(t)] for t in texts], entity_labels, relation_labels).items
    encoded = [item.encoded for item in items]
    most = ENTITY_SLOTS[0]
    for e in encoded:  # a batch selects as many entities as its most selecting row: run each row alone
      most = max(most, bucket(int(self._run([e], 1, threshold, adjacency_threshold)["num_selected"][0]), ENTITY_SLOTS))
    batches = self.planner.warmup_batches(encoded, batch_size)
    wanted = {(*shape, slots) for shape in batches for slots in ENTITY_SLOTS if slots <= most}
    for shape, batch in batches.items():
      for slots in ENTITY_SLOTS:
        if slots <= most and (*shape, slots) not in self.compiled_shapes:
          self.compiled_shapes.add((*shape, slots))
          args = (np.float32(threshold), np.float32(adjacency_threshold))
          jax.block_until_ready(self._apply(self.params, batch, *args, slots=slots))
    return sorted(RelexShape(*s) for s in wanted)

  def _check_packing(self, packing: bool | int) -> None:
    if packing is not False and packing is not None and packing != 0:
      raise ValueError(
        f"packing={packing!r}: a relex model reads one text per row (relations pair one text's entities); "
        "use packing=False"
      )

  @functools.cached_property
  def _apply(self):
    def run(params, batch, threshold, adjacency_threshold, *, slots):
      model = self.model_class(self.relex_config, max_entities=slots, dtype=jnp.dtype(self.precision.dtype))
      out = model.apply({"params": params}, **batch, threshold=threshold, adjacency_threshold=adjacency_threshold)
      return dataclasses.replace(
        out,
        entity_logits=jax.nn.sigmoid(out.entity_logits.astype(jnp.float32)),
        relation_logits=jax.nn.sigmoid(out.relation_logits.astype(jnp.float32)),
      )

    return jax.jit(run, static_argnames=("slots",))

  # ----------------------------------------------------------------------------------- prediction
  def predict_relations(
    self,
    text: str,
    entity_labels: Labels,
    relation_labels: Sequence[str],
    threshold: float = 0.5,
    relation_threshold: float | None = None,
    adjacency_threshold: float | None = None,
    flat_ner: bool = True,
    multi_label: bool = False,
  ) -> tuple[list[Entity], list[Relation]]:
    """(entities, relations) of one text; thresholds as gliner's (the relation and adjacency ones default to
    `threshold`)."""
    return self.batch_predict_relations(
      [text],
      entity_labels,
      relation_labels,
      threshold=threshold,
      relation_threshold=relation_threshold,
      adjacency_threshold=adjacency_threshold,
      flat_ner=flat_ner,
      multi_label=multi_label,
    )[0]

  def batch_predict_relations(
    self,
    texts: Sequence[str],
    entity_labels: Labels,
    relation_labels: Sequence[str],
    threshold: float = 0.5,
    relation_threshold: float | None = None,
    adjacency_threshold: float | None = None,
    flat_ner: bool = True,
    multi_label: bool = False,
    batch_size: int = 8,
    *,
    words_splitter=None,
  ) -> list[tuple[list[Entity], list[Relation]]]:
    """One (entities, relations) pair per text (no relation labels: entities only, as gliner's). `words_splitter` (a
    callable text -> [(word, start, end)]) splits these texts instead of the model's own."""
    return self._predict(
      texts,
      entity_labels,
      relation_labels,
      threshold,
      relation_threshold,
      adjacency_threshold,
      flat_ner,
      multi_label,
      batch_size,
      words_splitter,
    )

  def _predict(
    self,
    texts: Sequence[str],
    entity_labels: Labels,
    relation_labels: Sequence[str],
    threshold: float,
    relation_threshold: float | None,
    adjacency_threshold: float | None,
    flat_ner: bool,
    multi_label: bool,
    batch_size: int,
    words_splitter=None,
  ) -> list[tuple[list[Entity], list[Relation]]]:
    if isinstance(texts, str):
      raise ValueError("texts must be a list of strings; use predict_relations for one text")
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    entity_set, entity_labels, relation_labels = self._checked_labels(entity_labels, relation_labels)
    threshold = check_threshold(threshold)
    relation_threshold = check_threshold(threshold if relation_threshold is None else relation_threshold)
    adjacency_threshold = check_threshold(threshold if adjacency_threshold is None else adjacency_threshold)
    words = [self._words(t, words_splitter) for t in texts]
    plan = self.planner.plan([[w for w, _, _ in ws] for ws in words], entity_labels, relation_labels)
    items = plan.items
    e_size, r_size = len(plan.entity_groups[0]), len(plan.relation_groups[0])
    rows = device_batch_size(min(batch_size, len(items))) if items else 1
    passes: dict[tuple[int, int], list] = {}  # (text, window number) -> [(spans, relations)] in pass order
    windows: dict[tuple[int, int], WordWindow] = {}
    for lo in range(0, len(items), rows):
      chunk = items[lo : lo + rows]
      out = self._run([item.encoded for item in chunk], rows, threshold, adjacency_threshold)
      num_words = [len(item.encoded.word_token_index) for item in chunk]
      num_types = [len(item.encoded.type_token_index) for item in chunk]
      if self.model_class is TokenRelexModel:
        probs = out["entity_logits"][: len(chunk), :, : max(num_types)]
        spans = decode_token_batch(
          probs, threshold, num_words, num_types=num_types, flat_ner=flat_ner, multi_label=multi_label
        )
      else:
        probs = np.where(out["type_mask"][:, None, None, :], out["entity_logits"], 0.0)[: len(chunk)]
        spans = decode_batch(probs, threshold, num_words, flat_ner=flat_ner, multi_label=multi_label)
      for b, text_spans in enumerate(spans):
        item = chunk[b]
        g, r = plan.passes[item.label_pass]
        found = decode_relations(
          text_spans,
          out["entity_spans"][b],
          out["entity_mask"][b],
          out["pair_mask"][b],
          out["relation_logits"][b],
          relation_threshold,
          num_relation_types=len(item.encoded.relation_token_index),
        )
        if len(plan.passes) > 1:  # group-local label numbers -> numbers in the caller's label lists
          text_spans = [dataclasses.replace(s, label=s.label + g * e_size) for s in text_spans]
          found = [x._replace(label=x.label + r * r_size) for x in found]
        passes.setdefault((item.text, item.window_index), []).append((text_spans, found))
        windows[(item.text, item.window_index)] = item.window
    per_text: dict[int, list[tuple[list[Entity], list[Relation]]]] = {}
    for (t, w), found_passes in sorted(passes.items()):
      window = windows[(t, w)]
      text, ws = texts[t], words[t][window.start : window.stop]
      text_spans, found = merge_passes(found_passes, len(ws), flat_ner=flat_ner, multi_label=multi_label)
      entities = [self._entity(text, ws, s.start, s.end, entity_set.names[s.label], s.score) for s in text_spans]
      relations = [
        Relation(entities[x.head], entities[x.tail], relation_labels[x.label], x.score, x.head, x.tail) for x in found
      ]
      owned = [window.own_start <= window.start + s.start < window.own_stop for s in text_spans]
      per_text.setdefault(t, []).append(([e for e, keep in zip(entities, owned) if keep], relations))
    return [merge_windows(per_text[t]) if t in per_text else ([], []) for t in range(len(texts))]

  def _checked_labels(self, entity_labels: Labels, relation_labels: Sequence[str]) -> tuple[LabelSet, list, list]:
    """The entity `LabelSet`, the entity prompts and the relation labels, checked for the prompt's markers."""
    entity_set = LabelSet.of(entity_labels)
    prompts = validate_labels(entity_set.prompts, (self.config.ent_token, self.config.sep_token))
    if isinstance(relation_labels, str):
      raise ValueError("relation_labels must be a list of strings, not one string")
    if relation_labels:
      relation_labels = validate_labels(relation_labels, (self.config.rel_token, self.config.sep_token))
    return entity_set, list(prompts), list(relation_labels)

  # ----------------------------------------------------------------------------------- helpers
  def _words(self, text: str, words_splitter=None) -> list[tuple[str, int, int]]:
    if not isinstance(text, str):
      raise ValueError(f"texts must be strings, got {type(text).__name__}")
    return list((words_splitter or self.words_splitter)(text))

  def label_groups(
    self, entity_labels: Sequence[str], relation_labels: Sequence[str]
  ) -> tuple[list[list[str]], list[list[str]]]:
    """The entity and relation label groups one prediction reads (`RelexPlanner.label_groups`).

    Example (not run here: `model` is a relex predictor with max_types=25, as the module example builds):
      >>> model.label_groups(["person", "company"], ["founded", "works at", "located in"])  # doctest: +SKIP
      ([['person', 'company']], [['founded', 'works at', 'located in']])
    """
    return self.planner.label_groups(list(entity_labels), list(relation_labels))

  def _run(self, chunk: list[RelexEncodedText], rows: int, threshold: float, adjacency_threshold: float) -> dict:
    shape, batch = self.planner.pad(chunk, rows)
    slots = ENTITY_SLOTS[0]
    while True:
      self.compiled_shapes.add((*shape, slots))
      out = self._apply(self.params, batch, np.float32(threshold), np.float32(adjacency_threshold), slots=slots)
      needed = int(np.max(out.num_selected))
      if needed <= slots:
        return {f.name: np.asarray(getattr(out, f.name)) for f in dataclasses.fields(out)}
      slots = bucket(needed, ENTITY_SLOTS)

  @staticmethod
  def _entity(text: str, words, start: int, end: int, label: str, score: float) -> Entity:
    s, e = words[start][1], words[end][2]
    return Entity(start=s, end=e, text=text[s:e], label=label, score=float(score))


register_predictor("span_relex", RelexGLiNER)
register_predictor("token_relex", RelexGLiNER)
