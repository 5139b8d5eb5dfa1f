"""Readers turning the NER file formats found in the wild into one record type.

Every reader returns ``list[NERExample]`` (word tokens + inclusive word spans + known-absent
types) and raises :class:`DataFormatError` naming the file and the line number (line based
formats, JSON lines) or the line and record index (JSON arrays: ``path:line (record i)``) of the
first malformed entry. With ``on_error="skip"`` (training data) a malformed record is left out
instead: each one is counted, its location and fault kept in ``ReadStats.errors`` and the first
few logged; only a file that cannot be read at all (not JSON, no records, an unknown format)
still raises. ``located_ids=True`` makes each example's id that location (then the record's own
id in brackets, if it has one), so that later warnings about the example can name its line.

Readers of formats whose answers are strings or character offsets (conversation JSON, SLIMER
rows, InstructUIE JSON) cannot always map every annotation back to words; what they lose is
counted in a :class:`ReadStats` (pass one in to inspect it) and logged as a warning.

Supported formats (``read_ner_file`` / ``read_dataset_folder`` choose automatically):

=====================  ==========================================================================
``gliner``             ``[{"tokenized_text": [...], "ner": [[start, end_incl, type], ...]}]``; relex records
                       add ``"relations": [[head_ner_index, tail_ner_index, type], ...]`` (and optionally
                       ``ner_labels``, ``rel_labels``, ``ner_negatives``, ``rel_negatives``)
``conversations``      UniversalNER / Pile-NER chat records ("Text: ...", "What describes X ...")
``slimer``             JSON lines ``{doc_question_pairID, tagName, input, output}``
``instructuie``        ``[{"sentence": str, "entities": [{"name", "type", "pos": [a, b)}]}]``
``bio``                CoNLL columns, ``token<TAB>tag`` or ``tag<TAB>token``, BIO/IOB1/BIOES
=====================  ==========================================================================
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import re
from typing import Any, Callable, Iterable, Sequence

from gliner_jax.interop import storage

logger = logging.getLogger(__name__)

#: Word pattern of GLiNER's data preparation: runs of word characters joined by ``-``/``_``,
#: or any other single non-space character. Used for texts that come as plain strings.
WORD_PATTERN = re.compile(r"\w+(?:[-_]\w+)*|\S")

_QUESTION = re.compile(r"^What describes (.+) in the text\?$", re.DOTALL)
_TEXT_PREFIX = "Text: "
_BIO_TAG = re.compile(r"^(?:O|([BIESLU])-(.+))$")
_MAX_PROBLEMS = 20


class DataFormatError(ValueError):
  """A data file does not have the expected format; the message says where and what."""


def word_tokenize(text: str) -> list[str]:
  """Splits ``text`` into words with :data:`WORD_PATTERN`.

  >>> word_tokenize("World Clean-Up Day, 2017!")
  ['World', 'Clean-Up', 'Day', ',', '2017', '!']
  """
  return WORD_PATTERN.findall(text)


@dataclasses.dataclass(frozen=True)
class NERExample:
  """One annotated text.

  ``spans`` are ``(start_word, end_word_inclusive, type)``; ``negatives`` are types that were
  asked for and known to be absent. ``relations`` are ``(head, tail, type)`` with ``head`` and
  ``tail`` indices into ``spans`` (two different spans), ``relation_negatives`` relation types
  known to be absent. Lists are accepted and stored as tuples.

  >>> NERExample(["Paris", "is", "nice"], [(0, 0, "city")]).spans
  ((0, 0, 'city'),)
  >>> NERExample(["Ann", "met", "Bo"], [(0, 0, "person"), (2, 2, "person")], relations=[(0, 1, "met")]).relations
  ((0, 1, 'met'),)
  """

  tokens: tuple[str, ...]
  spans: tuple[tuple[int, int, str], ...]
  negatives: tuple[str, ...] = ()
  id: str = ""
  relations: tuple[tuple[int, int, str], ...] = ()
  relation_negatives: tuple[str, ...] = ()

  def __post_init__(self):
    tokens = tuple(self.tokens)
    spans = tuple(tuple(s) for s in self.spans)
    negatives = tuple(self.negatives)
    if not all(isinstance(t, str) for t in tokens):
      raise ValueError("NERExample.tokens must all be strings")
    for span in spans:
      if len(span) != 3:
        raise ValueError(f"NERExample span {span!r} is not (start, end, type)")
      start, end, label = span
      if not (_is_int(start) and _is_int(end) and 0 <= start <= end < len(tokens)):
        raise ValueError(f"NERExample span {span!r} is out of range for {len(tokens)} tokens")
      if not isinstance(label, str) or not label:
        raise ValueError(f"NERExample span {span!r} needs a non-empty type string")
    if not all(isinstance(n, str) and n for n in negatives):
      raise ValueError("NERExample.negatives must be non-empty strings")
    if not isinstance(self.id, str):
      raise ValueError(f"NERExample.id must be a string, got {type(self.id).__name__}")
    relations = tuple(tuple(r) for r in self.relations)
    for j, rel in enumerate(relations):
      problem = relation_problem(rel, len(spans))
      if problem:
        raise ValueError(f"NERExample relation {j} {rel!r}: {problem}")
    relation_negatives = tuple(self.relation_negatives)
    if not all(isinstance(n, str) and n for n in relation_negatives):
      raise ValueError("NERExample.relation_negatives must be non-empty strings")
    object.__setattr__(self, "tokens", tokens)
    object.__setattr__(self, "spans", tuple((int(s), int(e), t) for s, e, t in spans))
    object.__setattr__(self, "negatives", negatives)
    object.__setattr__(self, "relations", tuple((int(h), int(t), r) for h, t, r in relations))
    object.__setattr__(self, "relation_negatives", relation_negatives)

  def to_json(self) -> dict[str, Any]:
    """Plain dict of lists/str/int (``json.dumps``-able); inverse of :meth:`from_json`."""
    out = {
      "tokens": list(self.tokens),
      "spans": [list(s) for s in self.spans],
      "negatives": list(self.negatives),
      "id": self.id,
    }
    if self.relations or self.relation_negatives:
      out["relations"] = [list(r) for r in self.relations]
      out["relation_negatives"] = list(self.relation_negatives)
    return out

  @classmethod
  def from_json(cls, data: dict[str, Any]) -> "NERExample":
    """Builds an example from :meth:`to_json` output (``negatives``/``id``/``relations`` optional)."""
    missing = {"tokens", "spans"} - set(data)
    if missing:
      raise ValueError(f"NERExample.from_json: missing keys {sorted(missing)}")
    return cls(
      data["tokens"],
      data["spans"],
      data.get("negatives", ()),
      data.get("id", ""),
      data.get("relations", ()),
      data.get("relation_negatives", ()),
    )

  def relabel(self, mapping: Callable[[str], str | None]) -> "NERExample":
    """The example with every entity type ``t`` renamed ``mapping(t)``; a span mapped to ``""`` or None is removed
    with its relations (the others re-indexed); negatives are mapped the same way. Relation types stay.

    >>> ex = NERExample(["Ann", "at", "Acme"], [(0, 0, "PER"), (2, 2, "ORG")], relations=[(0, 1, "works at")])
    >>> ex.relabel({"PER": "person", "ORG": ""}.get).spans, ex.relabel({"PER": "person", "ORG": "org"}.get).relations
    (((0, 0, 'person'),), ((0, 1, 'works at'),))
    """
    names = [mapping(t) for _, _, t in self.spans]
    index = {}
    for j, name in enumerate(names):
      if name:
        index[j] = len(index)
    return NERExample(
      self.tokens,
      [(s, e, name) for (s, e, _), name in zip(self.spans, names) if name],
      tuple(n for n in map(mapping, self.negatives) if n),
      self.id,
      [(index[h], index[t], r) for h, t, r in self.relations if h in index and t in index],
      self.relation_negatives,
    )

  def to_gliner(self) -> dict[str, Any]:
    """The GLiNER training-record view: ``{"tokenized_text", "ner", "negatives"}`` (and, with relations,
    gliner's relex keys ``"relations"`` and ``"rel_negatives"``)."""
    out = {
      "tokenized_text": list(self.tokens),
      "ner": [list(s) for s in self.spans],
      "negatives": list(self.negatives),
    }
    if self.relations or self.relation_negatives:
      out["relations"] = [list(r) for r in self.relations]
      out["rel_negatives"] = list(self.relation_negatives)
    return out


def relation_problem(relation: Any, num_spans: int) -> str | None:
  """What is wrong with ``relation`` as ``(head, tail, type)`` over ``num_spans`` entities, or None.

  >>> relation_problem((0, 2, "works for"), 2)
  'head and tail must be indices of the 2 entities (0..1)'
  """
  if not (isinstance(relation, (list, tuple)) and len(relation) == 3):
    return "is not [head, tail, type]"
  head, tail, label = relation
  if not (_is_int(head) and _is_int(tail)):
    return "head and tail must be integers (indices into the entities)"
  if not (0 <= head < num_spans and 0 <= tail < num_spans):
    return f"head and tail must be indices of the {num_spans} entities (0..{num_spans - 1})"
  if head == tail:
    return "head and tail are the same entity"
  if not isinstance(label, str) or not label.strip():
    return "type must be a non-empty string"
  return None


@dataclasses.dataclass
class ReadStats:
  """Counts of what a reader saw and what it could not keep (``problems``: first few).

  ``errors``: every record left out as malformed under ``on_error="skip"``, as "location: fault".
  """

  records: int = 0
  examples: int = 0
  spans: int = 0
  mentions: int = 0
  unmatched_mentions: int = 0
  snapped_entities: int = 0
  skipped_entities: int = 0
  skipped_records: int = 0
  duplicate_spans: int = 0
  problems: list[str] = dataclasses.field(default_factory=list)
  errors: list[str] = dataclasses.field(default_factory=list)

  def note(self, message: str) -> None:
    if len(self.problems) < _MAX_PROBLEMS:
      self.problems.append(message)

  @property
  def lost(self) -> int:
    return self.unmatched_mentions + self.skipped_entities + self.skipped_records + len(self.errors)

  def log(self, path: str) -> None:
    if self.errors:
      logger.warning(
        "%s: %d malformed records skipped%s:\n  %s",
        path,
        len(self.errors),
        f" (the first {_MAX_PROBLEMS})" if len(self.errors) > _MAX_PROBLEMS else "",
        "\n  ".join(self.errors[:_MAX_PROBLEMS]),
      )
    if self.lost > len(self.errors):
      logger.warning(
        "%s: %d unmatched mentions, %d skipped entities, %d skipped records (%d snapped); first: %s",
        path,
        self.unmatched_mentions,
        self.skipped_entities,
        self.skipped_records,
        self.snapped_entities,
        self.problems[:3],
      )


def _is_int(x: Any) -> bool:
  return isinstance(x, int) and not isinstance(x, bool)


def _fail(loc: str, what: str) -> DataFormatError:
  return DataFormatError(f"{loc}: {what}")


def _check_on_error(on_error: str) -> None:
  if on_error not in ("raise", "skip"):
    raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def _reject(loc: str, error: ValueError, on_error: str, stats: ReadStats) -> None:
  """Raises `error` naming `loc` (on_error="raise"), or records the malformed record in `stats.errors`."""
  message = str(error) if isinstance(error, DataFormatError) else f"{loc}: {error}"
  if on_error == "raise":
    if isinstance(error, DataFormatError):
      raise error
    raise DataFormatError(message) from error
  stats.errors.append(message)


# ----------------------------------------------------------------------------- JSON loading


def _load_json_records(path: str, on_error: str = "raise") -> list[tuple[str, Any]]:
  """Returns ``(location, record)`` for a JSON array file or a JSON-lines file.

  Locations are ``"path:line (record i)"`` (array; the line where record i starts) or
  ``"path:line"`` (JSON lines); with ``on_error="skip"`` an invalid JSON line comes as its
  DataFormatError in place of the record, which the reader's ``_require`` raises in turn (so that
  ``stats.errors`` keeps the file's order).
  """
  _check_on_error(on_error)
  path = os.fspath(path)
  with storage.open_file(path) as f:
    text = f.read()
  if text.lstrip().startswith("["):
    try:
      return _json_array_records(path, text)
    except json.JSONDecodeError as e:
      raise _fail(f"{path}:{e.lineno}", f"invalid JSON ({e.msg})") from None
  records = []
  for lineno, line in enumerate(text.splitlines(), start=1):
    if not line.strip():
      continue
    try:
      records.append((f"{path}:{lineno}", json.loads(line)))
    except json.JSONDecodeError as e:
      error = _fail(f"{path}:{lineno}", f"invalid JSON line ({e.msg})")
      if on_error == "raise":
        raise error from None
      records.append((f"{path}:{lineno}", error))
  if not records:
    raise DataFormatError(f"{path}: no JSON records found")
  if all(isinstance(rec, DataFormatError) for _, rec in records):
    raise records[0][1]
  return records


def load_json_records(path: str, on_error: str = "raise") -> list[tuple[str, Any]]:
  """``(location, record)`` of each record of a JSON array or JSON-lines file; a location is
  ``path:line (record i)`` (array) or ``path:line`` (JSON lines), for errors that name where a record is.
  Example::

      load_json_records("train.json")[0]   # ('train.json:2 (record 0)', {...})
  """
  return _load_json_records(path, on_error)


def _json_array_records(path: str, text: str) -> list[tuple[str, Any]]:
  """The elements of a top-level JSON array, each located by the line it starts on (one parse, like json.loads)."""
  decoder, skip = json.JSONDecoder(), re.compile(r"[ \t\n\r]*")
  pos = skip.match(text, skip.match(text).end() + 1).end()  # past "[" and the blanks after it
  records, line, counted = [], 1, 0
  while not text.startswith("]", pos):
    if records:
      if not text.startswith(",", pos):
        raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
      pos = skip.match(text, pos + 1).end()
    record, end = decoder.raw_decode(text, pos)
    line, counted = line + text.count("\n", counted, pos), pos
    records.append((f"{path}:{line} (record {len(records)})", record))
    pos = skip.match(text, end).end()
  if skip.match(text, pos + 1).end() != len(text):
    raise json.JSONDecodeError("Extra data", text, skip.match(text, pos + 1).end())
  return records


def _require(rec: Any, loc: str, keys: Sequence[str]) -> dict:
  if isinstance(rec, DataFormatError):  # an invalid JSON line (on_error="skip")
    raise rec
  if not isinstance(rec, dict):
    raise _fail(loc, f"expected a JSON object, got {type(rec).__name__}")
  missing = [k for k in keys if k not in rec]
  if missing:
    raise _fail(loc, f"missing key(s) {missing}")
  return rec


def _string_list(value: Any, loc: str, what: str) -> list[str]:
  if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
    raise _fail(loc, f"{what} must be a list of strings")
  return value


def _record_id(rec: dict, default: int, loc: str | None = None) -> str:
  """The record's own id, else `default`; given `loc` (located ids): `loc`, then the own id in brackets."""
  rid = rec.get("id")
  own = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None
  return _located_id(loc, own) if loc is not None else (own if own is not None else str(default))


def _located_id(loc: str, own: str | None) -> str:
  return loc if own is None else f"{loc} [{own}]"


def _finish(examples: list[NERExample], stats: ReadStats, path: str) -> list[NERExample]:
  stats.examples += len(examples)
  stats.spans += sum(len(e.spans) for e in examples)
  stats.log(os.fspath(path))
  return examples


# ----------------------------------------------------------------------------- GLiNER JSON


def read_gliner_json(
  path: str, *, stats: ReadStats | None = None, on_error: str = "raise", located_ids: bool = False
) -> list[NERExample]:
  """Reads GLiNER training JSON (an array, or JSON lines, of ``tokenized_text``/``ner``).

  Optional ``negative``/``negatives`` lists become :attr:`NERExample.negatives`; records
  with no tokens are skipped and counted. ``on_error``/``located_ids``: see the module docstring.
  Example::

      examples = read_gliner_json("../shared/data/gliner_sample/sample_data.json")
  """
  stats = stats or ReadStats()
  return _gliner_records(_load_json_records(path, on_error), path, stats, on_error, located_ids)


def _gliner_records(records, path, stats: ReadStats, on_error="raise", located_ids=False) -> list[NERExample]:
  parse = lambda rec, loc, i: _gliner_record(rec, loc, i, located_ids)
  return _one_example_per_record(records, path, stats, on_error, parse, "empty tokenized_text")


def _one_example_per_record(records, path, stats: ReadStats, on_error: str, parse, empty: str) -> list[NERExample]:
  """`parse(rec, loc, index)` on each record: an example, None (nothing to read: skipped as `empty`),
  or a ValueError (rejected per `on_error`)."""
  out = []
  for i, (loc, rec) in enumerate(records):
    stats.records += 1
    try:
      example = parse(rec, loc, i)
    except ValueError as e:
      _reject(loc, e, on_error, stats)
      continue
    if example is None:
      stats.skipped_records += 1
      stats.note(f"{loc}: {empty}")
      continue
    out.append(example)
  return _finish(out, stats, path)


def _gliner_record(rec: Any, loc: str, index: int, located_ids: bool) -> NERExample | None:
  rec = _require(rec, loc, ("tokenized_text", "ner"))
  tokens = _string_list(rec["tokenized_text"], loc, "tokenized_text")
  if not isinstance(rec["ner"], list):
    raise _fail(loc, "ner must be a list of [start, end, type]")
  spans = []
  for j, span in enumerate(rec["ner"]):
    if not (isinstance(span, (list, tuple)) and len(span) == 3):
      raise _fail(loc, f"ner[{j}] = {span!r} is not [start, end, type]")
    start, end, label = span
    if not (_is_int(start) and _is_int(end)):
      raise _fail(loc, f"ner[{j}] = {span!r}: start/end must be integers")
    if not 0 <= start <= end < len(tokens):
      raise _fail(loc, f"ner[{j}] = {span!r}: need 0 <= start <= end < {len(tokens)} (number of tokens)")
    if not isinstance(label, str) or not label.strip():
      raise _fail(loc, f"ner[{j}] = {span!r}: type must be a non-empty string")
    spans.append((start, end, label))
  negatives: list[str] = []
  for key in ("negative", "negatives", "ner_negatives"):
    if key in rec:
      negatives += _string_list(rec[key], loc, key)
  relations, relation_negatives = [], []
  if any(key in rec for key in RELEX_KEYS):
    relations, relation_negatives = _relex_fields(rec, loc, spans, negatives)
  if not tokens:
    return None
  rid = _record_id(rec, index, loc if located_ids else None)
  return NERExample(tokens, spans, _dedupe(negatives), rid, relations, _dedupe(relation_negatives))


#: Keys of gliner's relex training records beside ``tokenized_text`` and ``ner`` (a record with any of them
#: is read as a relex record, in which any other key is an error).
RELEX_KEYS = ("relations", "ner_labels", "rel_labels", "ner_negatives", "rel_negatives")
_RELEX_RECORD_KEYS = {"tokenized_text", "ner", "negative", "negatives", "id", *RELEX_KEYS}


def _relex_fields(rec: dict, loc: str, spans: list, negatives: list[str]) -> tuple[list, list[str]]:
  """The relations and relation negatives of a relex record; ``ner_labels`` (the reference's fixed entity prompt)
  adds its types that no entity has to ``negatives``, ``rel_labels`` likewise to the relation negatives."""
  unknown = sorted(set(rec) - _RELEX_RECORD_KEYS)
  if unknown:
    raise _fail(loc, f"unknown key(s) {unknown} in a relex record (known: {sorted(_RELEX_RECORD_KEYS)})")
  raw = rec.get("relations", [])
  if not isinstance(raw, list):
    raise _fail(loc, "relations must be a list of [head, tail, type]")
  relations = []
  for j, rel in enumerate(raw):
    problem = relation_problem(rel, len(spans))
    if problem:
      raise _fail(loc, f"relations[{j}] = {rel!r}: {problem}")
    relations.append(tuple(rel))
  relation_negatives = _string_list(rec["rel_negatives"], loc, "rel_negatives") if "rel_negatives" in rec else []
  if "ner_labels" in rec:
    present = {t for _, _, t in spans}
    negatives += [t for t in _string_list(rec["ner_labels"], loc, "ner_labels") if t not in present]
  if "rel_labels" in rec:
    present = {t for _, _, t in relations}
    relation_negatives += [t for t in _string_list(rec["rel_labels"], loc, "rel_labels") if t not in present]
  return relations, relation_negatives


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
  return tuple(dict.fromkeys(i for i in items if i.strip()))


# ----------------------------------------------------------------------------- mention matching


class _MentionIndex:
  """Word positions by word, so each mention costs its occurrences, not the text length."""

  def __init__(self, tokens: Sequence[str], case_sensitive: bool):
    self.case_sensitive = case_sensitive
    self.tokens = list(tokens) if case_sensitive else [t.lower() for t in tokens]
    self.where: dict[str, list[int]] = collections.defaultdict(list)
    for i, token in enumerate(self.tokens):
      self.where[token].append(i)

  def find(self, mention: str) -> list[tuple[int, int]]:
    words = word_tokenize(mention if self.case_sensitive else mention.lower())
    if not words:
      return []
    n = len(words)
    return [(i, i + n - 1) for i in self.where.get(words[0], ()) if self.tokens[i : i + n] == words]


def match_mention(tokens: Sequence[str], mention: str, *, case_sensitive: bool = True) -> list[tuple[int, int]]:
  """All inclusive word spans of ``tokens`` equal to ``word_tokenize(mention)``.

  >>> match_mention(["a", "New", "York", "and", "New", "York"], "New York")
  [(1, 2), (4, 5)]
  """
  return _MentionIndex(tokens, case_sensitive).find(mention)


def _spans_from_answers(tokens, answers, loc, stats: ReadStats, case_sensitive: bool):
  """(type, mentions) pairs -> sorted unique spans and negatives (types only ever empty)."""
  spans: set[tuple[int, int, str]] = set()
  empty_types, positive_types = [], set()
  index = _MentionIndex(tokens, case_sensitive)
  for label, mentions in answers:
    if not mentions:
      empty_types.append(label)
      continue
    positive_types.add(label)
    for mention in mentions:
      stats.mentions += 1
      found = index.find(mention)
      if not found:
        stats.unmatched_mentions += 1
        stats.note(f"{loc}: {label!r} mention {mention!r} not found in text")
      spans.update((s, e, label) for s, e in found)
  negatives = _dedupe(t for t in empty_types if t not in positive_types)
  return sorted(spans), negatives


def _parse_answer(value: Any, loc: str) -> list[str]:
  try:
    answer = json.loads(value) if isinstance(value, str) else None
  except json.JSONDecodeError:
    answer = None
  if not isinstance(answer, list):
    raise _fail(loc, f"answer {str(value)[:80]!r} is not a JSON list of mentions")
  mentions = []
  for m in answer:
    if isinstance(m, str):
      mentions.append(m)
    elif isinstance(m, (int, float)) and not isinstance(m, bool):
      mentions.append(str(m))  # numbers such as years are mentions too
    else:
      raise _fail(loc, f"answer {str(value)[:80]!r} holds a non-string mention {m!r}")
  return mentions


# ----------------------------------------------------------------------------- conversations


def read_pilener_conversations(
  path: str,
  *,
  case_sensitive: bool = True,
  stats: ReadStats | None = None,
  on_error: str = "raise",
  located_ids: bool = False,
) -> list[NERExample]:
  """Reads UniversalNER / Pile-NER conversation JSON.

  Each record: human ``"Text: <passage>"``, a gpt acknowledgement, then pairs of human
  ``"What describes <type> in the text?"`` / gpt ``"<JSON list of mentions>"``. The passage
  is split with :func:`word_tokenize`, and each mention (split the same way) is matched to
  every word span where its tokens occur exactly (``case_sensitive=False`` compares
  lower-cased words, as GLiNER's own Pile-NER preparation did). Types answered ``[]`` become
  negatives. Consecutive records with the same passage are merged into one example unless
  the later record asks a type already asked (then it is a repeated passage, kept apart).
  Unmatched mentions are counted in ``stats`` and logged. ``on_error``/``located_ids``: see the
  module docstring. Example::

      examples = read_pilener_conversations("../shared/data/uniner/CrossNER_AI.json")
  """
  stats = stats or ReadStats()
  records = _load_json_records(path, on_error)
  return _conversation_records(records, path, stats, case_sensitive, on_error, located_ids)


def _parse_conversation(rec: Any, loc: str) -> tuple[str, list[tuple[str, list[str]]]]:
  turns = _require(rec, loc, ("conversations",))["conversations"]
  if not isinstance(turns, list) or not turns:
    raise _fail(loc, "conversations must be a non-empty list")
  for k, turn in enumerate(turns):
    if not (isinstance(turn, dict) and isinstance(turn.get("from"), str) and isinstance(turn.get("value"), str)):
      raise _fail(loc, f"conversations[{k}] needs string 'from' and 'value'")
  first = turns[0]
  if first["from"] != "human" or not first["value"].startswith(_TEXT_PREFIX):
    raise _fail(loc, f"conversations[0] must be a human turn starting with {_TEXT_PREFIX!r}")
  text = first["value"][len(_TEXT_PREFIX) :]
  k = 2 if len(turns) > 1 and turns[1]["from"] == "gpt" else 1  # skip the acknowledgement
  answers = []
  while k < len(turns):
    question = turns[k]
    match = _QUESTION.match(question["value"].strip())
    if question["from"] != "human" or not match:
      raise _fail(loc, f"conversations[{k}] is not a human 'What describes <type> in the text?' turn")
    if k + 1 >= len(turns) or turns[k + 1]["from"] != "gpt":
      raise _fail(loc, f"conversations[{k}] (question) has no gpt answer")
    if not match.group(1).strip():
      raise _fail(loc, f"conversations[{k}] asks about an empty type")
    answers.append((match.group(1).strip(), _parse_answer(turns[k + 1]["value"], f"{loc}: conversations[{k + 1}]")))
    k += 2
  return text, answers


def _conversation_records(
  records, path, stats: ReadStats, case_sensitive: bool, on_error: str = "raise", located_ids: bool = False
):
  groups: list[tuple[str, str, str, list]] = []  # (loc, id, text, answers)
  for i, (loc, rec) in enumerate(records):
    stats.records += 1
    try:
      text, answers = _parse_conversation(rec, loc)
    except ValueError as e:
      _reject(loc, e, on_error, stats)
      continue
    if groups and groups[-1][2] == text:
      asked = {label for label, _ in groups[-1][3]}
      if not asked & {label for label, _ in answers}:
        groups[-1][3].extend(answers)
        continue
    groups.append((loc, _record_id(rec, i, loc if located_ids else None), text, list(answers)))
  out = []
  for loc, rid, text, answers in groups:
    tokens = word_tokenize(text)
    if not tokens:
      stats.skipped_records += 1
      stats.note(f"{loc}: empty text")
      continue
    spans, negatives = _spans_from_answers(tokens, answers, loc, stats, case_sensitive)
    out.append(NERExample(tokens, spans, negatives, rid))
  return _finish(out, stats, path)


# ----------------------------------------------------------------------------- SLIMER rows


def read_slimer_jsonl(
  path: str,
  *,
  case_sensitive: bool = True,
  stats: ReadStats | None = None,
  on_error: str = "raise",
  located_ids: bool = False,
) -> list[NERExample]:
  """Reads SLIMER's Pile-NER question rows (JSON lines), one example per document.

  Rows ``{"doc_question_pairID": "<doc>:<q>", "tagName", "input", "output"}`` of the same
  document (in any order) are merged; the example id is ``<doc>`` and examples come in order
  of first appearance. Mentions are matched as in :func:`read_pilener_conversations`.
  ``on_error`` (a malformed row is left out, not its document) / ``located_ids``: see the module
  docstring. Example::

      read_slimer_jsonl(".../5pos_5neg_perNE_top391NEs_FalseDef_validation.jsonl")
  """
  stats = stats or ReadStats()
  records = _load_json_records(path, on_error)
  return _slimer_records(records, path, stats, case_sensitive, on_error, located_ids)


def _slimer_row(rec: Any, loc: str, docs: dict) -> tuple[str, str, str, list[str]]:
  """(doc, type, input, mentions) of one row, checked against the rows of its document read so far."""
  rec = _require(rec, loc, ("doc_question_pairID", "tagName", "input", "output"))
  pair_id, label, text = rec["doc_question_pairID"], rec["tagName"], rec["input"]
  if not isinstance(pair_id, str) or ":" not in pair_id:
    raise _fail(loc, f"doc_question_pairID {pair_id!r} is not '<doc>:<question>'")
  if not isinstance(label, str) or not label.strip():
    raise _fail(loc, "tagName must be a non-empty string")
  if not isinstance(text, str):
    raise _fail(loc, "input must be a string")
  doc = pair_id.rsplit(":", 1)[0]
  if doc in docs and docs[doc][1] != text:
    raise _fail(loc, f"document {doc!r} has a different input than at {docs[doc][0]}")
  return doc, label.strip(), text, _parse_answer(rec["output"], loc)


def _slimer_records(
  records, path, stats: ReadStats, case_sensitive: bool, on_error: str = "raise", located_ids: bool = False
):
  docs: dict[str, tuple[str, str, list]] = {}  # doc -> (loc, text, answers)
  for loc, rec in records:
    stats.records += 1
    try:
      doc, label, text, mentions = _slimer_row(rec, loc, docs)
    except ValueError as e:
      _reject(loc, e, on_error, stats)
      continue
    docs.setdefault(doc, (loc, text, []))[2].append((label, mentions))
  out = []
  for doc, (loc, text, answers) in docs.items():
    tokens = word_tokenize(text)
    if not tokens:
      stats.skipped_records += 1
      stats.note(f"{loc}: empty input")
      continue
    spans, negatives = _spans_from_answers(tokens, answers, loc, stats, case_sensitive)
    out.append(NERExample(tokens, spans, negatives, _located_id(loc, doc) if located_ids else doc))
  return _finish(out, stats, path)


# ----------------------------------------------------------------------------- InstructUIE


def read_instructuie_json(
  path: str, *, stats: ReadStats | None = None, on_error: str = "raise", located_ids: bool = False
) -> list[NERExample]:
  """Reads InstructUIE-style JSON (``sentence`` + entities with ``[char_start, char_end)``).

  Words are the whitespace-separated pieces of ``sentence`` (the files are pre-tokenised).
  An entity whose offsets start and end on word boundaries maps directly. Otherwise (the
  offsets were found by substring search and may point inside another word) it is snapped
  to the word-aligned occurrence of its ``name`` if there is exactly one, and skipped
  otherwise (occurrences already annotated with that type do not count); both are counted in
  ``stats``. Spans are sorted and identical ones kept once. ``on_error``/``located_ids``: see the
  module docstring. Example::

      read_instructuie_json("../shared/data/instructuie/CrossNER_AI/test.json")
  """
  stats = stats or ReadStats()
  return _instructuie_records(_load_json_records(path, on_error), path, stats, on_error, located_ids)


def _instructuie_records(records, path, stats: ReadStats, on_error="raise", located_ids=False) -> list[NERExample]:
  parse = lambda rec, loc, i: _instructuie_record(rec, loc, i, located_ids, stats)
  return _one_example_per_record(records, path, stats, on_error, parse, "empty sentence")


def _instructuie_record(rec: Any, loc: str, index: int, located_ids: bool, stats: ReadStats) -> NERExample | None:
  rec = _require(rec, loc, ("sentence", "entities"))
  sentence, entities = rec["sentence"], rec["entities"]
  if not isinstance(sentence, str) or not isinstance(entities, list):
    raise _fail(loc, "sentence must be a string and entities a list")
  pieces = list(re.finditer(r"\S+", sentence))
  words = [m.group() for m in pieces]
  by_start = {m.start(): w for w, m in enumerate(pieces)}
  by_end = {m.end(): w for w, m in enumerate(pieces)}
  spans: set[tuple[int, int, str]] = set()
  misaligned = []
  for j, ent in enumerate(entities):
    ent = _require(ent, f"{loc}: entities[{j}]", ("name", "type", "pos"))
    pos, label, name = ent["pos"], ent["type"], ent["name"]
    if not (
      isinstance(pos, list) and len(pos) == 2 and all(map(_is_int, pos)) and 0 <= pos[0] < pos[1] <= len(sentence)
    ):
      raise _fail(loc, f"entities[{j}].pos = {pos!r} is not [start, end) inside the {len(sentence)}-character sentence")
    if not isinstance(label, str) or not label.strip() or not isinstance(name, str):
      raise _fail(loc, f"entities[{j}] needs a non-empty string type and a name")
    start, end = by_start.get(pos[0]), by_end.get(pos[1])
    if start is None or end is None or start > end:
      misaligned.append((name, label, pos))
      continue
    stats.duplicate_spans += (start, end, label) in spans
    spans.add((start, end, label))
  for name, label, pos in misaligned:
    # Occurrences of the name that no aligned entity of this type already claims.
    target = name.split()
    n = len(target)
    hits = [
      w for w in range(len(words) - n + 1) if n and words[w : w + n] == target and (w, w + n - 1, label) not in spans
    ]
    if len(hits) != 1:
      stats.skipped_entities += 1
      stats.note(
        f"{loc}: entity {name!r} at {pos} is not on word boundaries and has "
        f"{len(hits)} unclaimed word-aligned occurrences"
      )
      continue
    stats.snapped_entities += 1
    spans.add((hits[0], hits[0] + n - 1, label))
  if not words:
    return None
  return NERExample(words, sorted(spans), (), _record_id(rec, index, loc if located_ids else None))


# ----------------------------------------------------------------------------- BIO / CoNLL


def _split_columns(line: str, sep: str | None) -> list[str]:
  if sep is not None:
    return line.split(sep)
  return line.split("\t") if "\t" in line else line.split()


def _sniff_columns(path: str, lines: list[str], sep: str | None) -> tuple[str | None, int]:
  """(column order or None if no column looks like tags, usual column count), first 200 lines."""
  token_first = tag_first = 0
  widths: collections.Counter = collections.Counter()
  for line in lines:
    if not line.strip() or line.startswith("-DOCSTART-"):
      continue
    cols = _split_columns(line, sep)
    widths[len(cols)] += 1
    if len(cols) >= 2:
      token_first += bool(_BIO_TAG.match(cols[-1]))
      tag_first += bool(_BIO_TAG.match(cols[0]))
    if sum(widths.values()) == 200:
      break
  if not widths:
    raise DataFormatError(f"{path}: no tokens found")
  order = "tag_first" if tag_first > token_first else "token_first"
  return (order if token_first or tag_first else None), max(2, widths.most_common(1)[0][0])


def read_bio(
  path: str,
  column_order: str = "auto",
  sep: str | None = None,
  *,
  stats: ReadStats | None = None,
  on_error: str = "raise",
  located_ids: bool = False,
) -> list[NERExample]:
  """Reads CoNLL/BIO column files: one token per line, a blank line between sentences.

  ``column_order``: ``"token_first"`` (``token<TAB>tag``; with more columns the tag is the
  last one, as in CoNLL-2003), ``"tag_first"`` (``tag<TAB>token``, MIT movie/restaurant), or
  ``"auto"``: the column that looks like a BIO tag in more of the first 200 lines (ties go to
  token-first). ``sep=None`` splits on tabs when a line has one, else on whitespace; only the
  line break is stripped, so a token may be a space. ``-DOCSTART-`` lines end the sentence
  and are dropped. Tags: ``O``, ``B-``, ``I-`` (an ``I-`` that does not continue an entity of
  its type opens one, IOB1 style), ``E-``/``L-`` (end), ``S-``/``U-`` (single). Types are the
  tags without their prefix. ``on_error="skip"`` leaves out a sentence with a malformed line
  (its first one is recorded); ``located_ids``: ids are ``path:line`` of each sentence's first
  token. Example::

      read_bio("../shared/data/crossner/ai/test.txt")  # 431 sentences
  """
  path = os.fspath(path)
  if column_order not in ("auto", "token_first", "tag_first"):
    raise ValueError(f"column_order must be 'auto', 'token_first' or 'tag_first', got {column_order!r}")
  _check_on_error(on_error)
  stats = stats or ReadStats()
  with storage.open_file(path) as f:
    lines = [line.rstrip("\r\n") for line in f]
  detected, ncols = _sniff_columns(path, lines, sep)
  if column_order == "auto":
    if detected is None:
      raise DataFormatError(
        f"{path}: cannot detect the column order: no column of the first 200 token lines looks like a BIO tag"
      )
    column_order = detected
  if column_order == "tag_first":
    ncols = 2
  out: list[NERExample] = []
  tokens: list[str] = []
  spans: list[tuple[int, int, str]] = []
  open_span: list | None = None  # [start, label] of the entity that may still grow
  first_line = 0  # of the sentence being read
  broken = False  # the sentence being read has a malformed line (on_error="skip")

  def flush():
    nonlocal tokens, spans, open_span, broken
    if open_span is not None:
      spans.append((open_span[0], len(tokens) - 1, open_span[1]))
    if tokens or broken:
      stats.records += 1
    if tokens and not broken:
      out.append(NERExample(tokens, spans, (), f"{path}:{first_line}" if located_ids else str(len(out))))
    tokens, spans, open_span, broken = [], [], None, False

  for lineno, line in enumerate(lines, start=1):
    if not line.strip():
      flush()
      continue
    if line.startswith("-DOCSTART-"):
      flush()
      continue
    if broken:
      continue
    if not tokens:
      first_line = lineno
    cols = _split_columns(line, sep)
    token, tag = (cols[0], cols[-1]) if column_order == "token_first" else (cols[-1], cols[0])
    match = _BIO_TAG.match(tag)
    if len(cols) != ncols or not match:
      what = (
        f"expected {ncols} columns, got {len(cols)}: {line[:80]!r}"
        if len(cols) != ncols
        else f"bad tag {tag!r} (expected O or B-/I-/E-/S-<type>, column order {column_order})"
      )
      _reject(f"{path}:{lineno}", _fail(f"{path}:{lineno}", what), on_error, stats)
      broken = True
      continue
    prefix, label = match.groups()
    position = len(tokens)
    tokens.append(token)
    continues = open_span is not None and open_span[1] == label
    if prefix is None or prefix in "BSU" or not continues:
      if open_span is not None:
        spans.append((open_span[0], position - 1, open_span[1]))
      open_span = None if prefix is None else [position, label]
    if prefix in ("E", "L", "S", "U"):
      spans.append((open_span[0], position, label))
      open_span = None
  flush()
  return _finish(out, stats, path)


# ----------------------------------------------------------------------------- labels & folders


def read_label_file(path: str) -> list[str]:
  """Reads entity types: a JSON list (``labels.json``) or one type per line (``label.txt``).

  Blank lines are ignored; a duplicate type is an error. Example::

      read_label_file("../shared/data/gner/crossner_ai/label.txt")[:2]
      # ['organization', 'university']
  """
  path = os.fspath(path)
  if path.endswith(".json"):
    with storage.open_file(path) as f:
      try:
        labels = json.load(f)
      except json.JSONDecodeError as e:
        raise _fail(f"{path}:{e.lineno}", f"invalid JSON ({e.msg})") from None
    if not isinstance(labels, list):
      raise DataFormatError(f"{path}: expected a JSON list of type strings")
    located = [(f"{path}: record {i}", label) for i, label in enumerate(labels)]
  else:
    with storage.open_file(path) as f:
      located = [(f"{path}:{n}", line.strip()) for n, line in enumerate(f, 1) if line.strip()]
  seen: dict[str, str] = {}
  for loc, label in located:
    if not isinstance(label, str) or not label.strip():
      raise _fail(loc, f"type {label!r} is not a non-empty string")
    if label in seen:
      raise _fail(loc, f"duplicate type {label!r} (first at {seen[label]})")
    seen[label] = loc
  return list(seen)


_SPLIT_ALIASES = {
  "dev": ("dev", "validation", "val"),
  "validation": ("validation", "dev", "val"),
  "val": ("val", "validation", "dev"),
}
_JSON_FORMATS = {  # sniffed from the keys of the first record, in this order
  "gliner": ("tokenized_text", "ner"),
  "conversations": ("conversations",),
  "slimer": ("doc_question_pairID", "tagName", "input", "output"),
  "instructuie": ("sentence", "entities"),
}


def detect_json_format(records: Sequence[tuple[str, Any]], path: str = "", *, first_known: bool = False) -> str:
  """Names the JSON format of ``(location, record)`` pairs from the first record's keys.

  ``first_known``: from the first record of a known format (malformed ones before it are left to the reader).
  """
  if not records:
    raise DataFormatError(f"{path}: no records")
  for loc, first in records if first_known else records[:1]:
    if isinstance(first, dict):
      for name, keys in _JSON_FORMATS.items():
        if all(k in first for k in keys):
          return name
  loc, first = records[0]
  keys = sorted(first) if isinstance(first, dict) else type(first).__name__
  raise _fail(
    loc, f"unrecognised NER record {keys}; expected one of { {n: list(k) for n, k in _JSON_FORMATS.items()} }"
  )


def read_ner_file(
  path: str,
  *,
  column_order: str = "auto",
  sep: str | None = None,
  case_sensitive: bool = True,
  stats: ReadStats | None = None,
  on_error: str = "raise",
  located_ids: bool = False,
) -> list[NERExample]:
  """Reads any supported file: ``.txt``/``.bio``/``.conll``/``.tsv`` as BIO, JSON by content.

  ``column_order``/``sep`` apply to BIO files, ``case_sensitive`` to mention matching;
  ``on_error``/``located_ids``: see the module docstring. Example, for training data::

      stats = ReadStats()
      examples = read_ner_file("pilener_train.json", on_error="skip", located_ids=True, stats=stats)
      stats.errors  # ["pilener_train.json: record 7: ner[0] = [5, 3, 'person']: need 0 <= start <= end < 12 ..."]
  """
  path = os.fspath(path)
  stats = stats or ReadStats()
  if path.endswith((".txt", ".bio", ".conll", ".tsv")):
    return read_bio(path, column_order, sep, stats=stats, on_error=on_error, located_ids=located_ids)
  records = _load_json_records(path, on_error)
  fmt = detect_json_format(records, path, first_known=on_error == "skip")
  if fmt == "gliner":
    return _gliner_records(records, path, stats, on_error, located_ids)
  if fmt == "instructuie":
    return _instructuie_records(records, path, stats, on_error, located_ids)
  read = _conversation_records if fmt == "conversations" else _slimer_records
  return read(records, path, stats, case_sensitive, on_error, located_ids)


def find_split_file(folder: str, split: str) -> str:
  """Path of ``<split>.txt`` / ``.jsonl`` / ``.json`` in ``folder`` (first found, that order).

  ``dev``, ``validation`` and ``val`` stand for one another.
  """
  folder = os.fspath(folder)
  names = _SPLIT_ALIASES.get(split, (split,))
  for name in names:
    for ext in (".txt", ".jsonl", ".json"):
      candidate = storage.join(folder, name + ext)
      if storage.isfile(candidate):
        return candidate
  raise FileNotFoundError(
    f"{folder}: no file for split {split!r} (looked for {[n + e for n in names for e in ('.txt', '.jsonl', '.json')]})"
  )


def read_dataset_folder(folder: str, split: str, **options) -> list[NERExample]:
  """Reads split ``split`` of a dataset folder.

  The file is ``<split>.txt`` (BIO), else ``<split>.jsonl``, else ``<split>.json`` (the
  first that exists; ``dev``/``validation``/``val`` are aliases); a JSON format is chosen
  from the keys of its first record (see :func:`detect_json_format`). Example::

      read_dataset_folder("../shared/data/gner/crossner_ai", "test")
  """
  return read_ner_file(find_split_file(folder, split), **options)


def split_names(folder: str) -> list[str]:
  """The standard splits (``train``, ``dev``, ``test``) that ``folder`` has a file for."""
  out = []
  for split in ("train", "dev", "test"):
    try:
      find_split_file(folder, split)
    except FileNotFoundError:
      continue
    out.append(split)
  return out


def count_types(examples: Iterable[NERExample]) -> collections.Counter:
  """Counts spans per type (handy to check label spellings before mapping them)."""
  return collections.Counter(label for ex in examples for _, _, label in ex.spans)
