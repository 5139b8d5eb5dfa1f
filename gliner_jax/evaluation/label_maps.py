"""Entity-type names given to the model, per evaluation dataset.

Corpora store their types as tags (`programlang`, `Restaurant_Name`, `PER`); a zero-shot model reads
natural-language types instead. This module fixes, per dataset, which name each tag becomes, so that
scores are comparable between runs and with published numbers.

Two naming schemes:

* ``"gliner"`` (default): the names of the evaluation data used in the GLiNER paper (the InstructUIE
  conversion, ../shared/data/instructuie/*/labels.json): `misc` -> ``else``, `programlang` ->
  ``program language``, `metrics` -> ``metrics``. The label order of those files is kept, because
  the label order is part of the prompt and changes the scores slightly.
* ``"gner"``: the names of the GNER label files (../shared/data/gner/*/label.txt):
  `programlang` -> ``programming language``, `metrics` -> ``metric``; the CrossNER `misc` spans
  are dropped, as the GNER data drops them. CoNLL-2003 `MISC` becomes ``miscellaneous``.

Every dataset table maps the raw CrossNER tags *and* the spellings of both schemes, so any of the
three sources (crossner/ BIO, instructuie/ JSON, gner/ BIO) can be read with either scheme. MIT
movie and restaurant tags (both the `engtest.bio` upper-case tags and the `trivia10k13` ones) get
their lower-cased words; their names are the same in both schemes.

Tags of an unknown dataset, and unknown tags of a known one, get the generic name
(:func:`generic_name`: lower case, ``_``/``-`` -> space) and are listed in one warning.

Example:
  >>> get_label_map("CrossNER_AI")("programlang")
  'program language'
  >>> get_label_map("ai", scheme="gner")("misc") is None  # dropped
  True
  >>> get_label_map("my_corpus")("Restaurant_Name")
  'restaurant name'
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Iterable, Mapping, Sequence

from gliner_jax.data.readers import NERExample

logger = logging.getLogger(__name__)

SCHEMES = ("gliner", "gner")

# (raw tag, gliner name, gner name); None drops the tag's spans. Rows follow the label order of
# the GLiNER evaluation files (instructuie/*/labels.json) where the dataset has one.
_CROSSNER: dict[str, list[tuple[str, str, str | None]]] = {
  "crossner_ai": [
    ("algorithm", "algorithm", "algorithm"),
    ("conference", "conference", "conference"),
    ("misc", "else", None),
    ("product", "product", "product"),
    ("task", "task", "task"),
    ("field", "field", "field"),
    ("metrics", "metrics", "metric"),
    ("organisation", "organization", "organization"),
    ("researcher", "researcher", "researcher"),
    ("programlang", "program language", "programming language"),
    ("country", "country", "country"),
    ("location", "location", "location"),
    ("person", "person", "person"),
    ("university", "university", "university"),
  ],
  "crossner_literature": [
    ("person", "person", "person"),
    ("country", "country", "country"),
    ("writer", "writer", "writer"),
    ("misc", "else", None),
    ("book", "book", "book"),
    ("award", "award", "award"),
    ("literarygenre", "literary genre", "literary genre"),
    ("poem", "poem", "poem"),
    ("location", "location", "location"),
    ("magazine", "magazine", "magazine"),
    ("event", "event", "event"),
    ("organisation", "organization", "organization"),
  ],
  "crossner_music": [
    ("location", "location", "location"),
    ("event", "event", "event"),
    ("country", "country", "country"),
    ("band", "band", "band"),
    ("person", "person", "person"),
    ("song", "song", "song"),
    ("musicalartist", "musical artist", "musical artist"),
    ("musicgenre", "music genre", "music genre"),
    ("misc", "else", None),
    ("album", "album", "album"),
    ("organisation", "organization", "organization"),
    ("award", "award", "award"),
    ("musicalinstrument", "musical instrument", "musical instrument"),
  ],
  "crossner_politics": [
    ("election", "election", "election"),
    ("misc", "else", None),
    ("politicalparty", "political party", "political party"),
    ("organisation", "organization", "organization"),
    ("politician", "politician", "politician"),
    ("person", "person", "person"),
    ("event", "event", "event"),
    ("country", "country", "country"),
    ("location", "location", "location"),
  ],
  "crossner_science": [
    ("chemicalcompound", "chemical compound", "chemical compound"),
    ("scientist", "scientist", "scientist"),
    ("location", "location", "location"),
    ("astronomicalobject", "astronomical object", "astronomical object"),
    ("misc", "else", None),
    ("protein", "protein", "protein"),
    ("person", "person", "person"),
    ("university", "university", "university"),
    ("theory", "theory", "theory"),
    ("enzyme", "enzyme", "enzyme"),
    ("organisation", "organization", "organization"),
    ("award", "award", "award"),
    ("country", "country", "country"),
    ("event", "event", "event"),
    ("discipline", "discipline", "discipline"),
    ("chemicalelement", "chemical element", "chemical element"),
    ("academicjournal", "academic journal", "academic journal"),
  ],
}

_OTHER: dict[str, list[tuple[str, str, str | None]]] = {
  # crossner/conll2003 spells the types out; gner/conll2003 keeps PER/ORG/LOC/MISC.
  "conll2003": [
    ("location", "location", "location"),
    ("misc", "else", "miscellaneous"),
    ("organisation", "organization", "organization"),
    ("person", "person", "person"),
    ("loc", "location", "location"),
    ("org", "organization", "organization"),
    ("per", "person", "person"),
  ],
  "mit_movie": [
    ("actor", "actor", "actor"),
    ("character", "character", "character"),
    ("director", "director", "director"),
    ("genre", "genre", "genre"),
    ("plot", "plot", "plot"),
    ("rating", "rating", "rating"),
    ("ratings_average", "ratings average", "ratings average"),
    ("review", "review", "review"),
    ("song", "song", "song"),
    ("title", "title", "title"),
    ("trailer", "trailer", "trailer"),
    ("year", "year", "year"),
    # trivia10k13 tags
    ("award", "award", "award"),
    ("character_name", "character name", "character name"),
    ("opinion", "opinion", "opinion"),
    ("origin", "origin", "origin"),
    ("quote", "quote", "quote"),
    ("relationship", "relationship", "relationship"),
    ("soundtrack", "soundtrack", "soundtrack"),
  ],
  "mit_restaurant": [
    ("amenity", "amenity", "amenity"),
    ("cuisine", "cuisine", "cuisine"),
    ("dish", "dish", "dish"),
    ("hours", "hours", "hours"),
    ("location", "location", "location"),
    ("price", "price", "price"),
    ("rating", "rating", "rating"),
    ("restaurant_name", "restaurant name", "restaurant name"),
  ],
}

_TABLES = {**_CROSSNER, **_OTHER}

_ALIASES = {
  "ai": "crossner_ai",
  "literature": "crossner_literature",
  "music": "crossner_music",
  "politics": "crossner_politics",
  "science": "crossner_science",
  "conll": "conll2003",
  "conll03": "conll2003",
  "conllpp": "conll2003",
  "conll2003": "conll2003",
  "movie": "mit_movie",
  "mitmovie": "mit_movie",
  "restaurant": "mit_restaurant",
  "mitrestaurant": "mit_restaurant",
}


def generic_name(tag: str) -> str:
  """The fallback type name of a tag: lower case, ``_`` and ``-`` as spaces, spaces collapsed.

  >>> generic_name("Restaurant_Name")
  'restaurant name'
  """
  return " ".join(re.sub(r"[_\-]", " ", tag).lower().split())


def dataset_key(name: str) -> str | None:
  """The table a dataset name refers to, or None if it has none.

  Case, separators and a ``crossner``/``mit`` prefix are ignored:
  >>> [dataset_key(n) for n in ("CrossNER_AI", "ai", "mit-movie", "CoNLL 2003", "wnut")]
  ['crossner_ai', 'crossner_ai', 'mit_movie', 'conll2003', None]
  """
  norm = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
  if norm in _TABLES:
    return norm
  squashed = norm.replace("_", "")
  for prefix in ("crossner", "mit"):
    if squashed.startswith(prefix) and squashed[len(prefix) :] in _ALIASES:
      squashed = squashed[len(prefix) :]
  return _ALIASES.get(squashed)


@dataclasses.dataclass(frozen=True)
class LabelMap:
  """Tag -> model type name for one dataset (``None`` = drop the tag's spans).

  Attributes:
    dataset: the table used (e.g. "crossner_ai"), or None for the generic fallback only.
    scheme: "gliner" or "gner".
    mapping: lower-cased tag -> type name or None.
    types: the dataset's type inventory in prompt order (empty for the generic fallback).
  """

  dataset: str | None
  scheme: str
  mapping: Mapping[str, str | None]
  types: tuple[str, ...]

  def __call__(self, tag: str) -> str | None:
    key = tag.lower()
    if key in self.mapping:
      return self.mapping[key]
    return generic_name(tag)

  def is_known(self, tag: str) -> bool:
    return tag.lower() in self.mapping

  def map_labels(self, tags: Iterable[str]) -> list[str]:
    """Maps tags in order, dropping None and duplicates."""
    return list(dict.fromkeys(t for t in map(self, tags) if t is not None))

  def apply(self, examples: Sequence[NERExample], *, warn: bool = True) -> list[NERExample]:
    """Examples with every span type mapped (spans mapped to None removed, duplicates merged).

    Logs one warning listing the tags that fell back to :func:`generic_name`.

    >>> ex = NERExample(["Python", "rocks"], [(0, 0, "programlang")])
    >>> get_label_map("ai").apply([ex])[0].spans
    ((0, 0, 'program language'),)
    """
    unmapped = sorted({t for ex in examples for _, _, t in ex.spans if not self.is_known(t)})
    if warn and unmapped:
      where = f"dataset {self.dataset!r}" if self.dataset else "a dataset without a label map"
      logger.warning(
        "%s: no mapping for tags %s; using generic names %s", where, unmapped, [generic_name(t) for t in unmapped]
      )
    out = []
    for ex in examples:
      spans = []
      for s, e, tag in ex.spans:
        name = self(tag)
        if name is not None and (s, e, name) not in spans:
          spans.append((s, e, name))
      negatives = tuple(dict.fromkeys(n for n in map(self, ex.negatives) if n is not None))
      out.append(NERExample(ex.tokens, spans, negatives, ex.id))
    return out


def get_label_map(
  dataset: str | None, scheme: str = "gliner", overrides: Mapping[str, str | None] | None = None
) -> LabelMap:
  """The label map of a dataset name (see :func:`dataset_key`), generic if it has no table.

  ``overrides`` (tag -> name or None) take precedence over the table.

  >>> get_label_map("conll2003")("PER"), get_label_map("conll2003", "gner")("MISC")
  ('person', 'miscellaneous')
  """
  if scheme not in SCHEMES:
    raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
  key = dataset_key(dataset) if dataset else None
  mapping: dict[str, str | None] = {}
  column = 1 if scheme == "gliner" else 2
  rows = _TABLES.get(key, ())
  for row in rows:
    for spelling in row:
      if spelling is not None:
        mapping.setdefault(spelling.lower(), row[column])
  for tag, name in (overrides or {}).items():
    if name is not None and (not isinstance(name, str) or not name.strip()):
      raise ValueError(f"label override for {tag!r} must be a non-empty string or None, got {name!r}")
    mapping[tag.lower()] = name
  inventory = [mapping[row[0]] for row in rows] + list((overrides or {}).values()) if key else []
  types = list(dict.fromkeys(t for t in inventory if t is not None))
  return LabelMap(key, scheme, mapping, tuple(types))


def known_datasets() -> list[str]:
  """The dataset keys that have a table."""
  return sorted(_TABLES)
