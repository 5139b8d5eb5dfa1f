"""Joint entity and relation extraction with a gliner 0.2.29 relex model (span or token).

`RelexGLiNER.predict_relations(text, entity_labels, relation_labels)` returns `(entities, relations)` as gliner's
`predict_relations` does; `batch_predict_relations` returns one such pair per text. Entities are
`gliner_jax.inference.predictor.Entity`; relations are `Relation`s, which also read like gliner's dicts
(`r["head"]["start"]`, `r["relation"]`, `r["score"]`).

Shapes are static: tokens, words, entity types and relation types are padded to buckets
(`gliner_jax.processing.buckets`), and the selected entities to `ENTITY_SLOTS` (a text with more is re-run with
the next slot count), so a stream of texts compiles a bounded set of programs. Thresholds are inputs, not
constants: changing them compiles nothing.

A text longer than the model's `max_len` words is read in windows (`gliner_jax.processing.windows.word_windows`,
2 * max_width words shared), never cut: each entity comes from the window owning its first word, relations are
those each window finds between its entities (so none between entities that share no window), merged by
`merge_windows`. Entity and relation labels all go into one prompt, as gliner reads them (no label groups: a
relation between entities of two groups could not be scored).

Example:
  >>> model = RelexGLiNER.from_pretrained("gliner-relex-folder/")
  >>> entities, relations = model.predict_relations(
  ...   "Alice works at Acme.", ["person", "organization"], ["works at"], threshold=0.5, relation_threshold=0.5)
  >>> relations[0]["head"]["text"], relations[0]["relation"]
  ('Alice', 'works at')
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gliner_jax.inference.decoding import check_threshold, decode_batch
from gliner_jax.inference.predictor import Entity
from gliner_jax.inference.relex_decoding import decode_relations
from gliner_jax.inference.token_decoding import decode_token_batch
from gliner_jax.interop.relex_convert import export_relex, load_relex_checkpoint
from gliner_jax.model.relex.span_relex import RelexConfig, SpanRelexModel
from gliner_jax.model.relex.token_relex import TokenRelexModel
from gliner_jax.processing.buckets import TOKEN_BUCKETS, TYPE_BUCKETS, WORD_BUCKETS, bucket, device_batch_size
from gliner_jax.processing.labels import Labels, LabelSet
from gliner_jax.processing.prompts import validate_labels
from gliner_jax.processing.relex_prompts import RelexEncodedText, encode_relex_prompts
from gliner_jax.processing.splitters import make_word_splitter
from gliner_jax.processing.windows import WordWindow, word_windows

ENTITY_SLOTS = (16, 32, 64, 128, 256, 512)


@dataclasses.dataclass(frozen=True)
class Relation:
  """A predicted relation: head and tail entities (character offsets into the text), its label and score.

  Reads like gliner's dicts too: `r["head"]` is {"start", "end", "text", "type", "entity_idx"}, as are
  `r["tail"]`; `r["relation"]` and `r["label"]` are the label, `r["score"]` the score.
  """

  head: Entity
  tail: Entity
  label: str
  score: float
  head_index: int  # indices into the text's entity list
  tail_index: int

  def __getitem__(self, key: str):
    if key in ("head", "tail"):
      e, i = (self.head, self.head_index) if key == "head" else (self.tail, self.tail_index)
      return {"start": e.start, "end": e.end, "text": e.text, "type": e.label, "entity_idx": i}
    if key == "relation":
      return self.label
    return getattr(self, key)

  def to_dict(self) -> dict[str, Any]:
    """gliner's dict: {"head": {...}, "tail": {...}, "relation": label, "score": score}."""
    return {"head": self["head"], "tail": self["tail"], "relation": self.label, "score": self.score}


def merge_windows(windows: Sequence[tuple[list[Entity], list[Relation]]]) -> tuple[list[Entity], list[Relation]]:
  """One text's (entities, relations) from its windows' (in text order; each window's entities are those it owns,
  its relations all it found): the entities concatenated; each relation kept when its head and tail are among
  them (matched by start, end and label), a relation found by several windows (same head, tail and label) once,
  with its highest score, at its first place. One window comes back as it is.

  Example:
    >>> merge_windows([(ents_a, rels_a), (ents_b, rels_b)])
  """
  if len(windows) == 1:
    return windows[0]
  entities = [e for ents, _ in windows for e in ents]
  index = {}
  for i, e in enumerate(entities):
    index.setdefault((e.start, e.end, e.label), i)
  kept: dict[tuple, Relation] = {}
  for _, rels in windows:
    for r in rels:
      h, t = index.get((r.head.start, r.head.end, r.head.label)), index.get((r.tail.start, r.tail.end, r.tail.label))
      if h is None or t is None:
        continue
      key = (h, t, r.label)
      if key not in kept or r.score > kept[key].score:
        kept[key] = Relation(entities[h], entities[t], r.label, r.score, h, t)
  return entities, list(kept.values())


class RelexGLiNER:
  """A relex model ready to predict: RelexConfig, parameters, tokenizer and word splitter; span_mode
  "token_level" runs `TokenRelexModel` and the token decoder, the span modes `SpanRelexModel`.

  Example:
    >>> model = RelexGLiNER.from_pretrained("gliner-relex-folder/")
    >>> model.batch_predict_relations(["Bob founded Globex."], ["person", "company"], ["founded"])
  """

  def __init__(self, config: RelexConfig, params: Any, tokenizer, *, words_splitter=None):
    if not getattr(tokenizer, "is_fast", False):
      raise ValueError(f"{type(tokenizer).__name__} is a slow tokenizer: GLiNER needs a fast one (word ids)")
    self.config = config
    self.params = jax.tree_util.tree_map(jnp.asarray, params)
    self.tokenizer = tokenizer
    self.words_splitter = make_word_splitter(words_splitter or config.base.words_splitter_type)
    self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    self.compiled_shapes: set[tuple[int, ...]] = set()
    self.model_class = TokenRelexModel if config.base.span_mode == "token_level" else SpanRelexModel
    limit = getattr(tokenizer, "model_max_length", None) or 10**9
    self.max_tokens = int(min(limit, config.base.encoder.max_sequence_length, 10**6))

  @classmethod
  def from_pretrained(cls, directory: str, *, tokenizer: Any = None, words_splitter=None) -> "RelexGLiNER":
    """Loads a gliner 0.2.29 relex folder (`gliner_jax.interop.relex_convert.load_relex_checkpoint`)."""
    config, params, tok = load_relex_checkpoint(directory, tokenizer=tokenizer)
    return cls(config, params, tok, words_splitter=words_splitter)

  def save_pretrained(
    self,
    directory: str,
    dtype: Any = None,
    format: str = "gliner",
    model_name: str | None = None,
    trained_on: Sequence[str] | None = None,
  ) -> None:
    """Writes the model as a gliner 0.2.29 relex folder (`gliner_jax.interop.relex_convert.export_relex`), which
    both `gliner.GLiNER.from_pretrained` and `RelexGLiNER.from_pretrained` load; float32 unless `dtype`. A relex
    model has no gliner_jax-format checkpoint: format="gliner" is its one format.

    Example:
      >>> model.save_pretrained("relex_gliner/")
      >>> RelexGLiNER.from_pretrained("relex_gliner/")
    """
    if format != "gliner":
      raise ValueError(
        f"format={format!r}: a relex model is saved as a gliner folder (format='gliner'), which "
        "RelexGLiNER.from_pretrained loads back"
      )
    export_relex(
      directory,
      self.config,
      jax.device_get(self.params),
      self.tokenizer,
      model_name=model_name,
      dtype=dtype if dtype is not None else "float32",
      trained_on=trained_on,
    )

  @functools.cached_property
  def _apply(self):
    def run(params, batch, threshold, adjacency_threshold, *, slots):
      out = self.model_class(self.config, max_entities=slots).apply(
        {"params": params}, **batch, threshold=threshold, adjacency_threshold=adjacency_threshold
      )
      return dataclasses.replace(
        out, entity_logits=jax.nn.sigmoid(out.entity_logits), relation_logits=jax.nn.sigmoid(out.relation_logits)
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
  ) -> list[tuple[list[Entity], list[Relation]]]:
    """One (entities, relations) pair per text."""
    if isinstance(texts, str):
      raise ValueError("texts must be a list of strings; use predict_relations for one text")
    entity_set = LabelSet.of(entity_labels)
    entity_labels = validate_labels(entity_set.prompts, (self.config.base.ent_token, self.config.base.sep_token))
    relation_labels = validate_labels(relation_labels, (self.config.rel_token, self.config.base.sep_token))
    threshold = check_threshold(threshold)
    relation_threshold = check_threshold(threshold if relation_threshold is None else relation_threshold)
    adjacency_threshold = check_threshold(threshold if adjacency_threshold is None else adjacency_threshold)
    words = [self._words(t) for t in texts]
    items = [
      (t, window, enc)
      for t, ws in enumerate(words)
      for window, enc in self._plan(t, [w for w, _, _ in ws], entity_labels, relation_labels)
    ]
    rows = device_batch_size(min(batch_size, len(items)))
    per_window: list[tuple[int, WordWindow, list[Entity], list[Relation]]] = []
    for lo in range(0, len(items), rows):
      chunk = items[lo : lo + rows]
      out = self._run([enc for _, _, enc in chunk], rows, threshold, adjacency_threshold)
      num_words = [len(enc.word_token_index) for _, _, enc in chunk]
      if self.model_class is TokenRelexModel:
        probs = out["entity_logits"][: len(chunk), :, : len(entity_labels)]
        spans = decode_token_batch(probs, threshold, num_words, flat_ner=flat_ner, multi_label=multi_label)
      else:
        probs = np.where(out["type_mask"][:, None, None, :], out["entity_logits"], 0.0)[: len(chunk)]
        spans = decode_batch(probs, threshold, num_words, flat_ner=flat_ner, multi_label=multi_label)
      for b, text_spans in enumerate(spans):
        t, window, _ = chunk[b]
        text, ws = texts[t], words[t][window.start : window.stop]
        entities = [self._entity(text, ws, s.start, s.end, entity_set.names[s.label], s.score) for s in text_spans]
        found = decode_relations(
          text_spans,
          out["entity_spans"][b],
          out["entity_mask"][b],
          out["pair_mask"][b],
          out["relation_logits"][b],
          relation_threshold,
          num_relation_types=len(relation_labels),
        )
        relations = [
          Relation(entities[r.head], entities[r.tail], relation_labels[r.label], r.score, r.head, r.tail) for r in found
        ]
        owned = [window.own_start <= window.start + s.start < window.own_stop for s in text_spans]
        per_window.append((t, window, [e for e, keep in zip(entities, owned) if keep], relations))
    results = []
    for t in range(len(texts)):
      windows = [(ents, rels) for i, _, ents, rels in per_window if i == t]
      results.append(merge_windows(windows))
    return results

  # ----------------------------------------------------------------------------------- helpers
  def _words(self, text: str) -> list[tuple[str, int, int]]:
    if not isinstance(text, str):
      raise ValueError(f"texts must be strings, got {type(text).__name__}")
    return list(self.words_splitter(text))

  def _plan(
    self, t: int, words: list[str], entity_labels: list[str], relation_labels: list[str]
  ) -> list[tuple[WordWindow, RelexEncodedText]]:
    """The windows of text `t` (`word_windows`: at most max_len words, 2 * max_width shared), each encoded; windows
    shrink (down to 2 * overlap words, then to one word) until each fits in the encoder with the prompt."""
    base = self.config.base
    max_words, overlap = max(base.max_len, 1), 2 * base.max_width
    floor = 2 * overlap
    while True:
      windows = word_windows(len(words), max_words, min(overlap, max_words // 2))
      encoded = [self._encode(words[w.start : w.stop], entity_labels, relation_labels) for w in windows]
      longest = max(len(e.input_ids) for e in encoded)
      if longest <= self.max_tokens:
        return list(zip(windows, encoded))
      if max_words == 1:
        raise ValueError(
          f"text {t}: a one-word window with the prompt of {len(entity_labels)} entity and {len(relation_labels)} "
          f"relation labels takes {longest} tokens, over the encoder's {self.max_tokens}; use fewer or shorter labels"
        )
      shrunk = int(max_words * 0.75)
      max_words = max(floor, shrunk) if max_words > floor else max(1, min(max_words - 1, shrunk))

  def _encode(self, words: list[str], entity_labels: list[str], relation_labels: list[str]) -> RelexEncodedText:
    """The prompt `<<ENT>> e1 ... <<SEP>> <<REL>> r1 ... <<SEP>>` and the words (`encode_relex_prompts`)."""
    base = self.config.base
    return encode_relex_prompts(
      self.tokenizer,
      [words],
      [entity_labels],
      [relation_labels],
      ent_token=base.ent_token,
      sep_token=base.sep_token,
      rel_token=self.config.rel_token,
    )[0]

  def _run(self, chunk: list[RelexEncodedText], rows: int, threshold: float, adjacency_threshold: float) -> dict:
    tokens = bucket(max(len(e.input_ids) for e in chunk), TOKEN_BUCKETS)
    words = bucket(max(max(len(e.word_token_index) for e in chunk), 1), WORD_BUCKETS)
    types = bucket(max(len(e.type_token_index) for e in chunk), TYPE_BUCKETS)
    rels = bucket(max(len(e.relation_token_index) for e in chunk), TYPE_BUCKETS)
    batch = {
      "input_ids": np.full((rows, tokens), self.pad_id, np.int32),
      "attention_mask": np.zeros((rows, tokens), np.int32),
      "word_token_index": np.full((rows, words), -1, np.int32),
      "num_words": np.zeros((rows,), np.int32),
      "type_token_index": np.full((rows, types), -1, np.int32),
      "relation_token_index": np.full((rows, rels), -1, np.int32),
    }
    for i, e in enumerate(chunk):
      batch["input_ids"][i, : len(e.input_ids)] = e.input_ids
      batch["attention_mask"][i, : len(e.input_ids)] = 1
      batch["word_token_index"][i, : len(e.word_token_index)] = e.word_token_index
      batch["num_words"][i] = len(e.word_token_index)
      batch["type_token_index"][i, : len(e.type_token_index)] = e.type_token_index
      batch["relation_token_index"][i, : len(e.relation_token_index)] = e.relation_token_index
    slots = ENTITY_SLOTS[0]
    while True:
      self.compiled_shapes.add((rows, tokens, words, types, rels, slots))
      out = self._apply(self.params, batch, np.float32(threshold), np.float32(adjacency_threshold), slots=slots)
      needed = int(np.max(out.num_selected))
      if needed <= slots:
        return {f.name: np.asarray(getattr(out, f.name)) for f in dataclasses.fields(out)}
      slots = bucket(needed, ENTITY_SLOTS)

  @staticmethod
  def _entity(text: str, words, start: int, end: int, label: str, score: float) -> Entity:
    s, e = words[start][1], words[end][2]
    return Entity(start=s, end=e, text=text[s:e], label=label, score=float(score))
