"""Public relation-extraction datasets -> gliner's relex training JSON.

The output is what gliner 0.2.29's relex training reads and `gliner_jax.data.readers` reads back:
``[{"tokenized_text": [...], "ner": [[start, end_inclusive, type], ...], "relations": [[head, tail, type], ...]}]``
(``head`` and ``tail`` index ``ner``).

Two source layouts:

* ``spert``: the JSON of SpERT (Eberts & Ulges, 2020), in which CoNLL04, ADE and SciERC are distributed:
  ``[{"tokens": [...], "entities": [{"type", "start", "end"}], "relations": [{"type", "head", "tail"}]}]``,
  ``end`` exclusive, ``head``/``tail`` indices into ``entities``. Type names come from SpERT's ``types.json``
  (``{"entities": {name: {"short", "verbose"}}, "relations": {...}}``: each name becomes its ``verbose`` name, lower
  case, e.g. ``Work_For`` -> ``work for``) or stay as they are.
* ``docred``: DocRED (Yao et al., 2019): ``{"title", "sents": [[words]], "vertexSet": [[mention, ...]], "labels":
  [{"h", "t", "r", "evidence"}]}``, each mention ``{"name", "pos": [start, end_exclusive], "sent_id", "type"}``.
  A document becomes one record: its sentences joined in order (word offsets shift by the sentences before), every
  mention of every entity one ``ner`` span (typed by the mention; the same span and type once). An entity has
  several mentions but a gliner relation joins two spans, so a relation (h, t, r) is placed, by ``mentions``:
  ``"closest"`` (default) between the head and tail mentions nearest each other in words (ties: the earliest),
  so that a window of the recipe most likely holds both; ``"first"`` between the first mentions; ``"all"`` between
  every head mention and every tail mention. ``r`` (a Wikidata id such as ``P17``) becomes its name from
  ``rel_info.json`` (``{"P17": "country", ...}``) when one is given; DocRED's entity types become
  `DOCRED_ENTITY_TYPES` unless other names are given. Documents without ``labels`` (the test split) get none.

Errors name the file, line and record (`gliner_jax.data.readers.DataFormatError`).

Example::

    records, stats = convert_relation_file("conll04_train.json", "spert", types_path="conll04_types.json")
    write_relex_json(records, "conll04_train_gliner.json")
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

from gliner_jax.data.readers import DataFormatError, load_json_records
from gliner_jax.interop import storage

FORMATS = ("spert", "docred")
MENTION_CHOICES = ("closest", "first", "all")
#: Natural-language names of DocRED's six entity types (GLiNER prompts are words).
DOCRED_ENTITY_TYPES = {
  "PER": "person",
  "ORG": "organization",
  "LOC": "location",
  "TIME": "time",
  "NUM": "number",
  "MISC": "miscellaneous",
}


@dataclasses.dataclass
class ConversionStats:
  """What a conversion read and wrote (`relations_out` > `relations_in` with DocRED's ``mentions="all"``)."""

  records: int = 0
  entities: int = 0
  relations_in: int = 0
  relations_out: int = 0


def _fail(loc: str, what: str) -> DataFormatError:
  return DataFormatError(f"{loc}: {what}")


def _is_int(x: Any) -> bool:
  return isinstance(x, int) and not isinstance(x, bool)


def _name(names: Mapping[str, str] | None, raw: str) -> str:
  return names.get(raw, raw) if names else raw


def spert_record(
  rec: Any,
  loc: str,
  entity_names: Mapping[str, str] | None = None,
  relation_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
  """One SpERT document as a gliner relex record.

  Example::

      spert_record({"tokens": ["Ann", "met", "Bo"], "entities": [{"type": "Peop", "start": 0, "end": 1},
                    {"type": "Peop", "start": 2, "end": 3}], "relations": [{"type": "Meet", "head": 0, "tail": 1}]},
                   "x.json:1")
      # {'tokenized_text': ['Ann', 'met', 'Bo'], 'ner': [[0, 0, 'Peop'], [2, 2, 'Peop']], 'relations': [[0, 1, 'Meet']]}
  """
  if not isinstance(rec, dict) or "tokens" not in rec or "entities" not in rec:
    raise _fail(loc, "a SpERT record needs 'tokens' and 'entities' (and 'relations')")
  tokens, entities, relations = rec["tokens"], rec["entities"], rec.get("relations", [])
  if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
    raise _fail(loc, "tokens must be a list of strings")
  if not isinstance(entities, list) or not isinstance(relations, list):
    raise _fail(loc, "entities and relations must be lists")
  ner = []
  for j, ent in enumerate(entities):
    if not (isinstance(ent, dict) and {"type", "start", "end"} <= set(ent)):
      raise _fail(loc, f"entities[{j}] = {ent!r} is not {{type, start, end}}")
    start, end, label = ent["start"], ent["end"], ent["type"]
    if not (_is_int(start) and _is_int(end) and 0 <= start < end <= len(tokens)):
      raise _fail(loc, f"entities[{j}] = {ent!r}: need 0 <= start < end <= {len(tokens)} (end exclusive)")
    if not isinstance(label, str) or not label.strip():
      raise _fail(loc, f"entities[{j}] = {ent!r}: type must be a non-empty string")
    ner.append([start, end - 1, _name(entity_names, label)])
  out_relations = []
  for j, rel in enumerate(relations):
    if not (isinstance(rel, dict) and {"type", "head", "tail"} <= set(rel)):
      raise _fail(loc, f"relations[{j}] = {rel!r} is not {{type, head, tail}}")
    head, tail, label = rel["head"], rel["tail"], rel["type"]
    if not (_is_int(head) and _is_int(tail) and 0 <= head < len(ner) and 0 <= tail < len(ner) and head != tail):
      raise _fail(loc, f"relations[{j}] = {rel!r}: head and tail must be two different entity indices < {len(ner)}")
    if not isinstance(label, str) or not label.strip():
      raise _fail(loc, f"relations[{j}] = {rel!r}: type must be a non-empty string")
    out_relations.append([head, tail, _name(relation_names, label)])
  return {"tokenized_text": list(tokens), "ner": ner, "relations": out_relations}


def docred_record(
  rec: Any,
  loc: str,
  relation_names: Mapping[str, str] | None = None,
  entity_names: Mapping[str, str] | None = DOCRED_ENTITY_TYPES,
  mentions: str = "closest",
) -> dict[str, Any]:
  """One DocRED document as a gliner relex record (the module docstring says how mentions map to spans).

  Example::

      doc = {"sents": [["Ann", "lives", "in", "Rome", "."], ["She", "likes", "Rome", "."]],
             "vertexSet": [[{"name": "Ann", "pos": [0, 1], "sent_id": 0, "type": "PER"}],
                           [{"name": "Rome", "pos": [3, 4], "sent_id": 0, "type": "LOC"},
                            {"name": "Rome", "pos": [2, 3], "sent_id": 1, "type": "LOC"}]],
             "labels": [{"h": 0, "t": 1, "r": "P551", "evidence": [0]}]}
      docred_record(doc, "dev.json:1", {"P551": "residence"})["relations"]   # [[0, 1, 'residence']]
  """
  if mentions not in MENTION_CHOICES:
    raise ValueError(f"mentions={mentions!r}: one of {list(MENTION_CHOICES)}")
  if not isinstance(rec, dict) or "sents" not in rec or "vertexSet" not in rec:
    raise _fail(loc, "a DocRED record needs 'sents' and 'vertexSet' (and 'labels')")
  sents, vertex_set, labels = rec["sents"], rec["vertexSet"], rec.get("labels", [])
  if not isinstance(sents, list) or not all(isinstance(s, list) and all(isinstance(w, str) for w in s) for s in sents):
    raise _fail(loc, "sents must be a list of sentences, each a list of strings")
  offsets = [sum(len(s) for s in sents[:k]) for k in range(len(sents))]
  tokens = [w for s in sents for w in s]
  if not isinstance(vertex_set, list) or not isinstance(labels, list):
    raise _fail(loc, "vertexSet and labels must be lists")
  ner: list[list] = []
  index: dict[tuple[int, int, str], int] = {}
  entity_spans: list[list[int]] = []  # per entity: its mentions' indices into ner
  for i, entity in enumerate(vertex_set):
    if not isinstance(entity, list) or not entity:
      raise _fail(loc, f"vertexSet[{i}] must be a non-empty list of mentions")
    spans = []
    for m, mention in enumerate(entity):
      where = f"vertexSet[{i}][{m}]"
      if not (isinstance(mention, dict) and {"pos", "sent_id", "type"} <= set(mention)):
        raise _fail(loc, f"{where} = {mention!r} needs pos, sent_id and type")
      pos, sent, label = mention["pos"], mention["sent_id"], mention["type"]
      if not (_is_int(sent) and 0 <= sent < len(sents)):
        raise _fail(loc, f"{where}: sent_id {sent!r} is not one of the {len(sents)} sentences")
      if not (
        isinstance(pos, list) and len(pos) == 2 and all(map(_is_int, pos)) and 0 <= pos[0] < pos[1] <= len(sents[sent])
      ):
        raise _fail(loc, f"{where}: pos {pos!r} is not [start, end) in sentence {sent} ({len(sents[sent])} words)")
      if not isinstance(label, str) or not label.strip():
        raise _fail(loc, f"{where}: type must be a non-empty string")
      key = (offsets[sent] + pos[0], offsets[sent] + pos[1] - 1, _name(entity_names, label))
      if key not in index:
        index[key] = len(ner)
        ner.append(list(key))
      spans.append(index[key])
    entity_spans.append(spans)
  relations: list[list] = []
  seen = set()
  for j, label in enumerate(labels):
    if not (isinstance(label, dict) and {"h", "t", "r"} <= set(label)):
      raise _fail(loc, f"labels[{j}] = {label!r} needs h, t and r")
    h, t, r = label["h"], label["t"], label["r"]
    if not (_is_int(h) and _is_int(t) and 0 <= h < len(vertex_set) and 0 <= t < len(vertex_set) and h != t):
      raise _fail(loc, f"labels[{j}]: h and t must be two different entity indices < {len(vertex_set)}")
    if not isinstance(r, str) or not r:
      raise _fail(loc, f"labels[{j}]: r must be a relation id string")
    if relation_names is not None and r not in relation_names:
      raise _fail(loc, f"labels[{j}]: relation {r!r} is not in rel_info")
    name = _name(relation_names, r)
    for a, b in _mention_pairs(entity_spans[h], entity_spans[t], ner, mentions):
      if a != b and (a, b, name) not in seen:
        seen.add((a, b, name))
        relations.append([a, b, name])
  return {"tokenized_text": tokens, "ner": ner, "relations": relations}


def _mention_pairs(heads: list[int], tails: list[int], ner: list[list], mentions: str) -> list[tuple[int, int]]:
  if mentions == "first":
    return [(heads[0], tails[0])]
  pairs = [(a, b) for a in heads for b in tails if a != b]
  if mentions == "all" or not pairs:
    return pairs

  def gap(pair):
    (s1, e1, _), (s2, e2, _) = ner[pair[0]], ner[pair[1]]
    return max(0, s2 - e1 - 1, s1 - e2 - 1), ner[pair[0]][0], ner[pair[1]][0]

  return [min(pairs, key=gap)]


def read_spert_types(path: str) -> tuple[dict[str, str], dict[str, str]]:
  """(entity names, relation names) of a SpERT ``types.json``: each type -> its ``verbose`` name in lower case.

  Example::

      read_spert_types("conll04_types.json")[1]["Work_For"]   # 'work for'
  """
  with storage.open_file(os.fspath(path)) as f:
    try:
      raw = json.load(f)
    except json.JSONDecodeError as e:
      raise _fail(f"{path}:{e.lineno}", f"invalid JSON ({e.msg})") from None
  out = []
  for part in ("entities", "relations"):
    table = raw.get(part) if isinstance(raw, dict) else None
    if not isinstance(table, dict):
      raise DataFormatError(f"{path}: a SpERT types file needs an '{part}' object")
    names = {}
    for key, value in table.items():
      verbose = value.get("verbose") if isinstance(value, dict) else None
      if not isinstance(verbose, str) or not verbose.strip():
        raise DataFormatError(f"{path}: {part}.{key} has no 'verbose' name")
      names[key] = verbose.strip().lower()
    out.append(names)
  return out[0], out[1]


def read_rel_info(path: str) -> dict[str, str]:
  """DocRED's ``rel_info.json``: relation id -> name (``{"P17": "country", ...}``)."""
  with storage.open_file(os.fspath(path)) as f:
    try:
      raw = json.load(f)
    except json.JSONDecodeError as e:
      raise _fail(f"{path}:{e.lineno}", f"invalid JSON ({e.msg})") from None
  if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in raw.items()):
    raise DataFormatError(f"{path}: rel_info must be a JSON object of relation id -> name")
  return raw


def convert_relation_file(
  path: str,
  fmt: str,
  *,
  types_path: str | None = None,
  rel_info_path: str | None = None,
  entity_names: Mapping[str, str] | None = None,
  mentions: str = "closest",
) -> tuple[list[dict[str, Any]], ConversionStats]:
  """Converts a ``spert`` or ``docred`` file (JSON array or JSON lines) into gliner relex records.

  ``types_path``: SpERT's types.json (names); ``rel_info_path``: DocRED's rel_info.json; ``entity_names``: DocRED's
  entity type names (default `DOCRED_ENTITY_TYPES`; ``{}`` keeps PER, ORG, ...); ``mentions``: see the module
  docstring. Example::

      records, stats = convert_relation_file("docred/dev.json", "docred", rel_info_path="docred/rel_info.json")
  """
  if fmt not in FORMATS:
    raise ValueError(f"format {fmt!r}: one of {list(FORMATS)}")
  if fmt == "spert":
    if rel_info_path is not None:
      raise ValueError("rel_info is DocRED's; a SpERT file takes its names from types.json")
    ents, rels = read_spert_types(types_path) if types_path else (None, None)
    convert = lambda rec, loc: spert_record(rec, loc, ents, rels)  # noqa: E731
  else:
    if types_path is not None:
      raise ValueError("types.json is SpERT's; DocRED takes its relation names from rel_info.json")
    rels = read_rel_info(rel_info_path) if rel_info_path else None
    names = DOCRED_ENTITY_TYPES if entity_names is None else entity_names
    convert = lambda rec, loc: docred_record(rec, loc, rels, names, mentions)  # noqa: E731
  stats = ConversionStats()
  records = []
  for loc, rec in load_json_records(path):
    out = convert(rec, loc)
    stats.records += 1
    stats.entities += len(out["ner"])
    stats.relations_in += len(rec.get("labels" if fmt == "docred" else "relations", []))
    stats.relations_out += len(out["relations"])
    records.append(out)
  return records, stats


def write_relex_json(records: list[dict[str, Any]], path: str) -> None:
  """Writes gliner relex records as a JSON array, one record per line (readable by gliner and by
  `gliner_jax.data.readers.read_ner_file`, which then names each record's line)."""
  with storage.open_file(os.fspath(path), "w") as f:
    f.write("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n")
