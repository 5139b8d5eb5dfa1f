"""Joint entity and relation extraction with a gliner 0.2.29 relex model (span or token).

`RelexGLiNER.predict_relations(text, entity_labels, relation_labels)` returns `(entities, relations)` as gliner's
`predict_relations` does; `batch_predict_relations` returns one such pair per text. Entities are
`gliner_jax.inference.predictor.Entity`; relations are `Relation`s, which also read like gliner's dicts
(`r["head"]["start"]`, `r["relation"]`, `r["score"]`).

Shapes are static: tokens, words, entity types and relation types are padded to buckets
(`gliner_jax.processing.buckets`), and the selected entities to `ENTITY_SLOTS` (a text with more is re-run with
the next slot count), so a stream of texts compiles a bounded set of programs. Thresholds are inputs, not
constants: changing them compiles nothing. A text longer than the model's `max_len` words is cut there, as
gliner cuts it (with a warning).

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
import warnings
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gliner_jax.inference.decoding import check_threshold, decode_batch
from gliner_jax.inference.predictor import Entity
from gliner_jax.inference.relex_decoding import decode_relations
from gliner_jax.inference.token_decoding import decode_token_batch
from gliner_jax.interop.relex_convert import load_relex_checkpoint
from gliner_jax.model.relex.span_relex import RelexConfig, SpanRelexModel
from gliner_jax.model.relex.token_relex import TokenRelexModel
from gliner_jax.processing.buckets import TOKEN_BUCKETS, TYPE_BUCKETS, WORD_BUCKETS, bucket, device_batch_size
from gliner_jax.processing.prompts import validate_labels
from gliner_jax.processing.splitters import make_word_splitter

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


@dataclasses.dataclass(frozen=True)
class _Encoded:
  input_ids: np.ndarray
  word_token_index: np.ndarray
  type_token_index: np.ndarray
  relation_token_index: np.ndarray


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

  @classmethod
  def from_pretrained(cls, directory: str, *, tokenizer: Any = None, words_splitter=None) -> "RelexGLiNER":
    """Loads a gliner 0.2.29 relex folder (`gliner_jax.interop.relex_convert.load_relex_checkpoint`)."""
    config, params, tok = load_relex_checkpoint(directory, tokenizer=tokenizer)
    return cls(config, params, tok, words_splitter=words_splitter)

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
    entity_labels: Sequence[str],
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
    entity_labels: Sequence[str],
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
    entity_labels = validate_labels(entity_labels, (self.config.base.ent_token, self.config.base.sep_token))
    relation_labels = validate_labels(relation_labels, (self.config.rel_token, self.config.base.sep_token))
    threshold = check_threshold(threshold)
    relation_threshold = check_threshold(threshold if relation_threshold is None else relation_threshold)
    adjacency_threshold = check_threshold(threshold if adjacency_threshold is None else adjacency_threshold)
    words = [self._words(t) for t in texts]
    encoded = [self._encode([w for w, _, _ in ws], entity_labels, relation_labels) for ws in words]
    rows = device_batch_size(min(batch_size, len(texts)))
    results = []
    for lo in range(0, len(texts), rows):
      chunk = encoded[lo : lo + rows]
      out = self._run(chunk, rows, threshold, adjacency_threshold)
      num_words = [len(e.word_token_index) for e in chunk]
      if self.model_class is TokenRelexModel:
        probs = out["entity_logits"][: len(chunk), :, : len(entity_labels)]
        spans = decode_token_batch(probs, threshold, num_words, flat_ner=flat_ner, multi_label=multi_label)
      else:
        probs = np.where(out["type_mask"][:, None, None, :], out["entity_logits"], 0.0)[: len(chunk)]
        spans = decode_batch(probs, threshold, num_words, flat_ner=flat_ner, multi_label=multi_label)
      for b, text_spans in enumerate(spans):
        text, ws = texts[lo + b], words[lo + b]
        entities = [self._entity(text, ws, s.start, s.end, entity_labels[s.label], s.score) for s in text_spans]
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
        results.append((entities, relations))
    return results

  # ----------------------------------------------------------------------------------- helpers
  def _words(self, text: str) -> list[tuple[str, int, int]]:
    if not isinstance(text, str):
      raise ValueError(f"texts must be strings, got {type(text).__name__}")
    words = list(self.words_splitter(text))
    if len(words) > self.config.base.max_len:
      warnings.warn(f"a text of {len(words)} words is cut to max_len={self.config.base.max_len}", stacklevel=3)
      words = words[: self.config.base.max_len]
    return words

  def _encode(self, words: list[str], entity_labels: list[str], relation_labels: list[str]) -> _Encoded:
    """The prompt `<<ENT>> e1 ... <<SEP>> <<REL>> r1 ... <<SEP>>` and the words, tokenized word by word."""
    base = self.config.base
    prompt = [w for label in entity_labels for w in (base.ent_token, label)] + [base.sep_token]
    first_rel = len(prompt)
    prompt += [w for label in relation_labels for w in (self.config.rel_token, label)] + [base.sep_token]
    enc = self.tokenizer(prompt + words, is_split_into_words=True, add_special_tokens=True, truncation=False)
    word_ids = [-1 if w is None else w for w in enc.word_ids(0)]
    first_token: dict[int, int] = {}
    for pos, w in enumerate(word_ids):
      first_token.setdefault(w, pos)
    n = len(prompt)
    return _Encoded(
      np.asarray(enc["input_ids"], np.int32),
      np.asarray([first_token.get(n + i, -1) for i in range(len(words))], np.int32),
      np.asarray([first_token[2 * i] for i in range(len(entity_labels))], np.int32),
      np.asarray([first_token[first_rel + 2 * i] for i in range(len(relation_labels))], np.int32),
    )

  def _run(self, chunk: list[_Encoded], rows: int, threshold: float, adjacency_threshold: float) -> dict:
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
