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

The record type and the checks readers share are in ``gliner_jax.data.records``, the JSON formats' readers in
``gliner_jax.data.json_formats``; this module reads BIO files, label files and dataset folders, chooses the reader
of a file, and is where the whole reading API is imported from (``__all__``).

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

Example (a two-sentence BIO file):
  >>> import os, tempfile
  >>> path = os.path.join(tempfile.mkdtemp(), "test.txt")
  >>> with open(path, "w") as f:
  ...   _ = f.write("Ann\\tB-person\\nmet\\tO\\nBo\\tB-person\\n\\nParis\\tB-city\\n")
  >>> [ex.spans for ex in read_ner_file(path)]
  [((0, 0, 'person'), (2, 2, 'person')), ((0, 0, 'city'),)]
"""

from __future__ import annotations

import collections
import json
import os
import re
from typing import Iterable

from gliner_jax.data.json_formats import (
  RELEX_KEYS,
  detect_json_format,
  match_mention,
  read_gliner_json,
  read_instructuie_json,
  read_json_records,
  read_pilener_conversations,
  read_slimer_jsonl,
)
from gliner_jax.data.records import (
  WORD_PATTERN,
  DataFormatError,
  NERExample,
  ReadStats,
  check_on_error,
  finish_reading,
  format_error,
  load_json_records,
  reject_record,
  relation_problem,
  word_tokenize,
)
from gliner_jax.interop import storage

__all__ = [
  "RELEX_KEYS",
  "WORD_PATTERN",
  "DataFormatError",
  "NERExample",
  "ReadStats",
  "count_types",
  "detect_json_format",
  "find_split_file",
  "load_json_records",
  "match_mention",
  "read_bio",
  "read_dataset_folder",
  "read_gliner_json",
  "read_instructuie_json",
  "read_label_file",
  "read_ner_file",
  "read_pilener_conversations",
  "read_slimer_jsonl",
  "relation_problem",
  "split_names",
  "word_tokenize",
]

_BIO_TAG = re.compile(r"^(?:O|([BIESLU])-(.+))$")


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
  check_on_error(on_error)
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
      reject_record(f"{path}:{lineno}", format_error(f"{path}:{lineno}", what), on_error, stats)
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
  return finish_reading(out, stats, path)


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
        raise format_error(f"{path}:{e.lineno}", f"invalid JSON ({e.msg})") from None
    if not isinstance(labels, list):
      raise DataFormatError(f"{path}: expected a JSON list of type strings")
    located = [(f"{path}: record {i}", label) for i, label in enumerate(labels)]
  else:
    with storage.open_file(path) as f:
      located = [(f"{path}:{n}", line.strip()) for n, line in enumerate(f, 1) if line.strip()]
  seen: dict[str, str] = {}
  for loc, label in located:
    if not isinstance(label, str) or not label.strip():
      raise format_error(loc, f"type {label!r} is not a non-empty string")
    if label in seen:
      raise format_error(loc, f"duplicate type {label!r} (first at {seen[label]})")
    seen[label] = loc
  return list(seen)


_SPLIT_ALIASES = {
  "dev": ("dev", "validation", "val"),
  "validation": ("validation", "dev", "val"),
  "val": ("val", "validation", "dev"),
}


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
  records = load_json_records(path, on_error)
  fmt = detect_json_format(records, path, first_known=on_error == "skip")
  return read_json_records(
    records, path, fmt, stats=stats, case_sensitive=case_sensitive, on_error=on_error, located_ids=located_ids
  )


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
