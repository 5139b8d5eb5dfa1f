"""Readers of the JSON NER formats: gliner's training records (with relex records), UniversalNER / Pile-NER
conversations, SLIMER question rows and InstructUIE sentences; `detect_json_format` names a file's format from its
records' keys and `read_json_records` reads records of a named format. `gliner_jax.data.readers.read_ner_file`
chooses among them (the module docstring there lists the formats).

Example (two gliner records, one with a type known to be absent):
  >>> import json, os, tempfile
  >>> path = os.path.join(tempfile.mkdtemp(), "train.json")
  >>> records = [{"tokenized_text": ["Ann", "met", "Bo"], "ner": [[0, 0, "person"], [2, 2, "person"]]},
  ...            {"tokenized_text": ["In", "Paris"], "ner": [[1, 1, "city"]], "negatives": ["date"]}]
  >>> with open(path, "w") as f:
  ...   json.dump(records, f)
  >>> [(ex.spans, ex.negatives) for ex in read_gliner_json(path)]
  [(((0, 0, 'person'), (2, 2, 'person')), ()), (((1, 1, 'city'),), ('date',))]
  >>> detect_json_format(load_json_records(path), path)
  'gliner'
"""

from __future__ import annotations

import collections
import json
import re
from typing import Any, Sequence

from gliner_jax.data.records import (
  DataFormatError,
  NERExample,
  ReadStats,
  dedupe,
  finish_reading,
  format_error,
  is_int,
  load_json_records,
  located_id,
  one_example_per_record,
  record_id,
  reject_record,
  relation_problem,
  require_keys,
  string_list,
  word_tokenize,
)

_QUESTION = re.compile(r"^What describes (.+) in the text\?$", re.DOTALL)
_TEXT_PREFIX = "Text: "


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
  return _gliner_records(load_json_records(path, on_error), path, stats, on_error, located_ids)


def _gliner_records(records, path, stats: ReadStats, on_error="raise", located_ids=False) -> list[NERExample]:
  parse = lambda rec, loc, i: _gliner_record(rec, loc, i, located_ids)
  return one_example_per_record(records, path, stats, on_error, parse, "empty tokenized_text")


def _gliner_record(rec: Any, loc: str, index: int, located_ids: bool) -> NERExample | None:
  rec = require_keys(rec, loc, ("tokenized_text", "ner"))
  tokens = string_list(rec["tokenized_text"], loc, "tokenized_text")
  if not isinstance(rec["ner"], list):
    raise format_error(loc, "ner must be a list of [start, end, type]")
  spans = []
  for j, span in enumerate(rec["ner"]):
    if not (isinstance(span, (list, tuple)) and len(span) == 3):
      raise format_error(loc, f"ner[{j}] = {span!r} is not [start, end, type]")
    start, end, label = span
    if not (is_int(start) and is_int(end)):
      raise format_error(loc, f"ner[{j}] = {span!r}: start/end must be integers")
    if not 0 <= start <= end < len(tokens):
      raise format_error(loc, f"ner[{j}] = {span!r}: need 0 <= start <= end < {len(tokens)} (number of tokens)")
    if not isinstance(label, str) or not label.strip():
      raise format_error(loc, f"ner[{j}] = {span!r}: type must be a non-empty string")
    spans.append((start, end, label))
  negatives: list[str] = []
  for key in ("negative", "negatives", "ner_negatives"):
    if key in rec:
      negatives += string_list(rec[key], loc, key)
  relations, relation_negatives = [], []
  if any(key in rec for key in RELEX_KEYS):
    relations, relation_negatives = _relex_fields(rec, loc, spans, negatives)
  if not tokens:
    return None
  rid = record_id(rec, index, loc if located_ids else None)
  return NERExample(tokens, spans, dedupe(negatives), rid, relations, dedupe(relation_negatives))


#: Keys of gliner's relex training records beside ``tokenized_text`` and ``ner`` (a record with any of them
#: is read as a relex record, in which any other key is an error).
RELEX_KEYS = ("relations", "ner_labels", "rel_labels", "ner_negatives", "rel_negatives")
_RELEX_RECORD_KEYS = {"tokenized_text", "ner", "negative", "negatives", "id", *RELEX_KEYS}


def _relex_fields(rec: dict, loc: str, spans: list, negatives: list[str]) -> tuple[list, list[str]]:
  """The relations and relation negatives of a relex record; ``ner_labels`` (the reference's fixed entity prompt)
  adds its types that no entity has to ``negatives``, ``rel_labels`` likewise to the relation negatives."""
  unknown = sorted(set(rec) - _RELEX_RECORD_KEYS)
  if unknown:
    raise format_error(loc, f"unknown key(s) {unknown} in a relex record (known: {sorted(_RELEX_RECORD_KEYS)})")
  raw = rec.get("relations", [])
  if not isinstance(raw, list):
    raise format_error(loc, "relations must be a list of [head, tail, type]")
  relations = []
  for j, rel in enumerate(raw):
    problem = relation_problem(rel, len(spans))
    if problem:
      raise format_error(loc, f"relations[{j}] = {rel!r}: {problem}")
    relations.append(tuple(rel))
  relation_negatives = string_list(rec["rel_negatives"], loc, "rel_negatives") if "rel_negatives" in rec else []
  if "ner_labels" in rec:
    present = {t for _, _, t in spans}
    negatives += [t for t in string_list(rec["ner_labels"], loc, "ner_labels") if t not in present]
  if "rel_labels" in rec:
    present = {t for _, _, t in relations}
    relation_negatives += [t for t in string_list(rec["rel_labels"], loc, "rel_labels") if t not in present]
  return relations, relation_negatives


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
  negatives = dedupe(t for t in empty_types if t not in positive_types)
  return sorted(spans), negatives


def _parse_answer(value: Any, loc: str) -> list[str]:
  try:
    answer = json.loads(value) if isinstance(value, str) else None
  except json.JSONDecodeError:
    answer = None
  if not isinstance(answer, list):
    raise format_error(loc, f"answer {str(value)[:80]!r} is not a JSON list of mentions")
  mentions = []
  for m in answer:
    if isinstance(m, str):
      mentions.append(m)
    elif isinstance(m, (int, float)) and not isinstance(m, bool):
      mentions.append(str(m))  # numbers such as years are mentions too
    else:
      raise format_error(loc, f"answer {str(value)[:80]!r} holds a non-string mention {m!r}")
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
  records = load_json_records(path, on_error)
  return _conversation_records(records, path, stats, case_sensitive, on_error, located_ids)


def _parse_conversation(rec: Any, loc: str) -> tuple[str, list[tuple[str, list[str]]]]:
  turns = require_keys(rec, loc, ("conversations",))["conversations"]
  if not isinstance(turns, list) or not turns:
    raise format_error(loc, "conversations must be a non-empty list")
  for k, turn in enumerate(turns):
    if not (isinstance(turn, dict) and isinstance(turn.get("from"), str) and isinstance(turn.get("value"), str)):
      raise format_error(loc, f"conversations[{k}] needs string 'from' and 'value'")
  first = turns[0]
  if first["from"] != "human" or not first["value"].startswith(_TEXT_PREFIX):
    raise format_error(loc, f"conversations[0] must be a human turn starting with {_TEXT_PREFIX!r}")
  text = first["value"][len(_TEXT_PREFIX) :]
  k = 2 if len(turns) > 1 and turns[1]["from"] == "gpt" else 1  # skip the acknowledgement
  answers = []
  while k < len(turns):
    question = turns[k]
    match = _QUESTION.match(question["value"].strip())
    if question["from"] != "human" or not match:
      raise format_error(loc, f"conversations[{k}] is not a human 'What describes <type> in the text?' turn")
    if k + 1 >= len(turns) or turns[k + 1]["from"] != "gpt":
      raise format_error(loc, f"conversations[{k}] (question) has no gpt answer")
    if not match.group(1).strip():
      raise format_error(loc, f"conversations[{k}] asks about an empty type")
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
      reject_record(loc, e, on_error, stats)
      continue
    if groups and groups[-1][2] == text:
      asked = {label for label, _ in groups[-1][3]}
      if not asked & {label for label, _ in answers}:
        groups[-1][3].extend(answers)
        continue
    groups.append((loc, record_id(rec, i, loc if located_ids else None), text, list(answers)))
  out = []
  for loc, rid, text, answers in groups:
    tokens = word_tokenize(text)
    if not tokens:
      stats.skipped_records += 1
      stats.note(f"{loc}: empty text")
      continue
    spans, negatives = _spans_from_answers(tokens, answers, loc, stats, case_sensitive)
    out.append(NERExample(tokens, spans, negatives, rid))
  return finish_reading(out, stats, path)


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
  records = load_json_records(path, on_error)
  return _slimer_records(records, path, stats, case_sensitive, on_error, located_ids)


def _slimer_row(rec: Any, loc: str, docs: dict) -> tuple[str, str, str, list[str]]:
  """(doc, type, input, mentions) of one row, checked against the rows of its document read so far."""
  rec = require_keys(rec, loc, ("doc_question_pairID", "tagName", "input", "output"))
  pair_id, label, text = rec["doc_question_pairID"], rec["tagName"], rec["input"]
  if not isinstance(pair_id, str) or ":" not in pair_id:
    raise format_error(loc, f"doc_question_pairID {pair_id!r} is not '<doc>:<question>'")
  if not isinstance(label, str) or not label.strip():
    raise format_error(loc, "tagName must be a non-empty string")
  if not isinstance(text, str):
    raise format_error(loc, "input must be a string")
  doc = pair_id.rsplit(":", 1)[0]
  if doc in docs and docs[doc][1] != text:
    raise format_error(loc, f"document {doc!r} has a different input than at {docs[doc][0]}")
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
      reject_record(loc, e, on_error, stats)
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
    out.append(NERExample(tokens, spans, negatives, located_id(loc, doc) if located_ids else doc))
  return finish_reading(out, stats, path)


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
  return _instructuie_records(load_json_records(path, on_error), path, stats, on_error, located_ids)


def _instructuie_records(records, path, stats: ReadStats, on_error="raise", located_ids=False) -> list[NERExample]:
  parse = lambda rec, loc, i: _instructuie_record(rec, loc, i, located_ids, stats)
  return one_example_per_record(records, path, stats, on_error, parse, "empty sentence")


def _instructuie_record(rec: Any, loc: str, index: int, located_ids: bool, stats: ReadStats) -> NERExample | None:
  rec = require_keys(rec, loc, ("sentence", "entities"))
  sentence, entities = rec["sentence"], rec["entities"]
  if not isinstance(sentence, str) or not isinstance(entities, list):
    raise format_error(loc, "sentence must be a string and entities a list")
  pieces = list(re.finditer(r"\S+", sentence))
  words = [m.group() for m in pieces]
  by_start = {m.start(): w for w, m in enumerate(pieces)}
  by_end = {m.end(): w for w, m in enumerate(pieces)}
  spans: set[tuple[int, int, str]] = set()
  misaligned = []
  for j, ent in enumerate(entities):
    ent = require_keys(ent, f"{loc}: entities[{j}]", ("name", "type", "pos"))
    pos, label, name = ent["pos"], ent["type"], ent["name"]
    if not (
      isinstance(pos, list) and len(pos) == 2 and all(map(is_int, pos)) and 0 <= pos[0] < pos[1] <= len(sentence)
    ):
      raise format_error(
        loc, f"entities[{j}].pos = {pos!r} is not [start, end) inside the {len(sentence)}-character sentence"
      )
    if not isinstance(label, str) or not label.strip() or not isinstance(name, str):
      raise format_error(loc, f"entities[{j}] needs a non-empty string type and a name")
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
  return NERExample(words, sorted(spans), (), record_id(rec, index, loc if located_ids else None))


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
  raise format_error(
    loc, f"unrecognised NER record {keys}; expected one of { {n: list(k) for n, k in _JSON_FORMATS.items()} }"
  )


def read_json_records(
  records: Sequence[tuple[str, Any]],
  path: str,
  fmt: str,
  *,
  stats: ReadStats,
  case_sensitive: bool = True,
  on_error: str = "raise",
  located_ids: bool = False,
) -> list[NERExample]:
  """The examples of ``(location, record)`` pairs (`load_json_records`) in JSON format ``fmt`` (a name
  `detect_json_format` gives); ``case_sensitive`` applies to mention matching (conversations, SLIMER)."""
  if fmt == "gliner":
    return _gliner_records(records, path, stats, on_error, located_ids)
  if fmt == "instructuie":
    return _instructuie_records(records, path, stats, on_error, located_ids)
  if fmt == "conversations":
    return _conversation_records(records, path, stats, case_sensitive, on_error, located_ids)
  if fmt == "slimer":
    return _slimer_records(records, path, stats, case_sensitive, on_error, located_ids)
  raise ValueError(f"unknown JSON format {fmt!r}; known: {sorted(_JSON_FORMATS)}")
