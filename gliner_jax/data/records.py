"""The record every NER reader returns, and what the format readers share.

`NERExample` (word tokens, inclusive word spans, known-absent types, relations), `ReadStats` (what a reader saw
and could not keep), `DataFormatError` (a message naming the file and line), and the checks each format reader
(`gliner_jax.data.json_formats`, `gliner_jax.data.readers`) builds on: JSON loading with record locations,
required keys, `on_error="raise" | "skip"` handling, located ids. The readers themselves, and the formats they
read, are in `gliner_jax.data.readers`.

Example:
  >>> ex = NERExample(word_tokenize("Ann met Bo in Paris."), [(0, 0, "person"), (4, 4, "city")])
  >>> ex.tokens, ex.spans[1]
  (('Ann', 'met', 'Bo', 'in', 'Paris', '.'), (4, 4, 'city'))
  >>> str(format_error("train.json:3", "ner[0] is not [start, end, type]"))
  'train.json:3: ner[0] is not [start, end, type]'
"""

from __future__ import annotations

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
      if not (is_int(start) and is_int(end) and 0 <= start <= end < len(tokens)):
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
  if not (is_int(head) and is_int(tail)):
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


def is_int(x: Any) -> bool:
  """An int that is not a bool (JSON `true` is not an index)."""
  return isinstance(x, int) and not isinstance(x, bool)


def format_error(loc: str, what: str) -> DataFormatError:
  """The error for fault `what` at location `loc` ("path:line", "path:line (record i)")."""
  return DataFormatError(f"{loc}: {what}")


def check_on_error(on_error: str) -> None:
  """Refuses an `on_error` other than "raise" and "skip"."""
  if on_error not in ("raise", "skip"):
    raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def reject_record(loc: str, error: ValueError, on_error: str, stats: ReadStats) -> None:
  """Raises `error` naming `loc` (on_error="raise"), or records the malformed record in `stats.errors`."""
  message = str(error) if isinstance(error, DataFormatError) else f"{loc}: {error}"
  if on_error == "raise":
    if isinstance(error, DataFormatError):
      raise error
    raise DataFormatError(message) from error
  stats.errors.append(message)


# ----------------------------------------------------------------------------- JSON loading


def load_json_records(path: str, on_error: str = "raise") -> list[tuple[str, Any]]:
  """``(location, record)`` of each record of a JSON array file or a JSON-lines file.

  Locations are ``"path:line (record i)"`` (array; the line where record i starts) or
  ``"path:line"`` (JSON lines), for errors that name where a record is; with ``on_error="skip"`` an
  invalid JSON line comes as its DataFormatError in place of the record, which the reader's
  ``require_keys`` raises in turn (so that ``stats.errors`` keeps the file's order). Example::

      load_json_records("train.json")[0]   # ('train.json:2 (record 0)', {...})
  """
  check_on_error(on_error)
  path = os.fspath(path)
  with storage.open_file(path) as f:
    text = f.read()
  if text.lstrip().startswith("["):
    try:
      return _json_array_records(path, text)
    except json.JSONDecodeError as e:
      raise format_error(f"{path}:{e.lineno}", f"invalid JSON ({e.msg})") from None
  records = []
  for lineno, line in enumerate(text.splitlines(), start=1):
    if not line.strip():
      continue
    try:
      records.append((f"{path}:{lineno}", json.loads(line)))
    except json.JSONDecodeError as e:
      error = format_error(f"{path}:{lineno}", f"invalid JSON line ({e.msg})")
      if on_error == "raise":
        raise error from None
      records.append((f"{path}:{lineno}", error))
  if not records:
    raise DataFormatError(f"{path}: no JSON records found")
  if all(isinstance(rec, DataFormatError) for _, rec in records):
    raise records[0][1]
  return records


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


def require_keys(rec: Any, loc: str, keys: Sequence[str]) -> dict:
  """`rec` if it is a JSON object holding `keys`; raises the DataFormatError of an invalid JSON line in its place."""
  if isinstance(rec, DataFormatError):  # an invalid JSON line (on_error="skip")
    raise rec
  if not isinstance(rec, dict):
    raise format_error(loc, f"expected a JSON object, got {type(rec).__name__}")
  missing = [k for k in keys if k not in rec]
  if missing:
    raise format_error(loc, f"missing key(s) {missing}")
  return rec


def string_list(value: Any, loc: str, what: str) -> list[str]:
  """`value` if it is a list of strings, else an error naming `what` at `loc`."""
  if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
    raise format_error(loc, f"{what} must be a list of strings")
  return value


def record_id(rec: dict, default: int, loc: str | None = None) -> str:
  """The record's own id, else `default`; given `loc` (located ids): `loc`, then the own id in brackets."""
  rid = rec.get("id")
  own = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None
  return located_id(loc, own) if loc is not None else (own if own is not None else str(default))


def located_id(loc: str, own: str | None) -> str:
  """An example id that names where it was read: `loc`, then the record's own id in brackets."""
  return loc if own is None else f"{loc} [{own}]"


def finish_reading(examples: list[NERExample], stats: ReadStats, path: str) -> list[NERExample]:
  """Counts `examples` in `stats`, logs what `path` lost, and returns them."""
  stats.examples += len(examples)
  stats.spans += sum(len(e.spans) for e in examples)
  stats.log(os.fspath(path))
  return examples


def one_example_per_record(records, path, stats: ReadStats, on_error: str, parse, empty: str) -> list[NERExample]:
  """`parse(rec, loc, index)` on each record: an example, None (nothing to read: skipped as `empty`),
  or a ValueError (rejected per `on_error`)."""
  out = []
  for i, (loc, rec) in enumerate(records):
    stats.records += 1
    try:
      example = parse(rec, loc, i)
    except ValueError as e:
      reject_record(loc, e, on_error, stats)
      continue
    if example is None:
      stats.skipped_records += 1
      stats.note(f"{loc}: {empty}")
      continue
    out.append(example)
  return finish_reading(out, stats, path)


def dedupe(items: Iterable[str]) -> tuple[str, ...]:
  """The non-blank `items` once each, in first-seen order."""
  return tuple(dict.fromkeys(i for i in items if i.strip()))
