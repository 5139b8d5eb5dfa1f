"""Published GLiNER sizes and zero-shot F1, drawn beside a study's own points (context, not a like-for-like).

The published models were trained on the full Pile-NER (~45k passages; gliner-bi v2.0 on its authors' own
mixture) and averaged over their own benchmark sets, while a study here trains on the 2,217-passage Pile-NER
subset and averages CrossNER only; the plots say so.

GLiNER-S and GLiNER-M (deberta-v3-small / -base, ~50M / ~90M non-embedding parameters) are left out: their
averages in the paper's Table 1 were not found in any stored copy of the paper searched from here (docs/scaling.md
lists the searches), and only values read from a source are shipped. Add them here once checked against the paper.
The nearest published medium point is urchade/gliner_medium-v2.1 (a later retraining on another data set, same 7
benchmark sets), from its model card.

Example:
  >>> [p.name for p in REFERENCE_POINTS if p.family == "GLiNER (paper)"]
  ['GLiNER-L']
  >>> by_name("GLiNER-L").f1_avg
  0.609
  >>> families()
  ['GLiNER (paper)', 'GLiNER v2.1 (model card)', 'gliner-bi v2.0']
"""

from __future__ import annotations

import dataclasses

GLINER_PAPER = (
  "Zaratiana, Tomeh, Holat, Charnois. GLiNER: Generalist Model for Named Entity Recognition using "
  "Bidirectional Transformer. NAACL 2024, arXiv:2311.08526, Table 1 (zero-shot, out of domain); the GLiNER-L row "
  "as reproduced in the expertai/SLIMER model card's comparison table"
)
GLINER_BI_V2 = (
  "knowledgator, GLiNER-bi-Encoder v2.0 model cards (huggingface.co/knowledgator/gliner-bi-base-v2.0), "
  "table 'GLiNER-bi-V2 Models', column 'Avg. CrossNER'"
)
GLINER_MEDIUM_V21 = (
  "urchade/gliner_medium-v2.1 model card (huggingface.co/urchade/gliner_medium-v2.1, README at commit 306251f): "
  "per-set F1 and 'Average : 56.0%'; sizes from the v2.1 table of the urchade/gliner_small-v2.1 card"
)
PAPER_BENCHMARK = (
  "average of 7 out-of-domain sets: CrossNER AI, literature, music, politics, science; MIT movie, restaurant"
)


@dataclasses.dataclass(frozen=True)
class ReferencePoint:
  """One published model: its size, its average zero-shot F1 (0-1) and where the numbers come from."""

  name: str
  family: str
  params_total: int
  params_non_embedding: int | None  # None: not published
  f1_avg: float
  benchmark: str
  trained_on: str
  source: str
  note: str = ""
  per_set: tuple[tuple[str, float], ...] = ()  # the source's per-benchmark F1 (0-1), where it gives them


REFERENCE_POINTS: tuple[ReferencePoint, ...] = (
  ReferencePoint(
    "GLiNER-L",
    "GLiNER (paper)",
    459_000_000,
    300_000_000,
    0.609,
    PAPER_BENCHMARK,
    "Pile-NER (full, ~45k passages)",
    GLINER_PAPER,
    "deberta-v3-large backbone; ChatGPT scores 0.475 on the same average",
    (
      ("crossner_ai", 0.572),
      ("crossner_literature", 0.644),
      ("crossner_music", 0.696),
      ("crossner_politics", 0.726),
      ("crossner_science", 0.626),
      ("mit_movie", 0.572),
      ("mit_restaurant", 0.429),
    ),
  ),
  ReferencePoint(
    "gliner_medium-v2.1",
    "GLiNER v2.1 (model card)",
    209_000_000,
    None,
    0.560,
    PAPER_BENCHMARK,
    "urchade/pile-mistral-v0.1 (the card at that commit)",
    GLINER_MEDIUM_V21,
    "deberta-v3-base backbone, like the paper's GLiNER-M, but retrained: not the paper's model",
    (
      ("crossner_ai", 0.520),
      ("crossner_literature", 0.626),
      ("crossner_music", 0.689),
      ("crossner_politics", 0.657),
      ("crossner_science", 0.652),
      ("mit_movie", 0.465),
      ("mit_restaurant", 0.309),
    ),
  ),
  ReferencePoint(
    "gliner-bi-edge-v2.0",
    "gliner-bi v2.0",
    60_000_000,
    None,
    0.540,
    "average CrossNER F1 (the model card's benchmark)",
    "the authors' own training mixture",
    GLINER_BI_V2,
    "bi-encoder: ettin-encoder-32m text encoder + all-MiniLM-L6-v2 label encoder, both counted",
  ),
  ReferencePoint(
    "gliner-bi-small-v2.0",
    "gliner-bi v2.0",
    108_000_000,
    None,
    0.572,
    "average CrossNER F1 (the model card's benchmark)",
    "the authors' own training mixture",
    GLINER_BI_V2,
    "ettin-encoder-68m + all-MiniLM-L12-v2",
  ),
  ReferencePoint(
    "gliner-bi-base-v2.0",
    "gliner-bi v2.0",
    194_000_000,
    None,
    0.603,
    "average CrossNER F1 (the model card's benchmark)",
    "the authors' own training mixture",
    GLINER_BI_V2,
    "ettin-encoder-150m + bge-small-en-v1.5",
  ),
  ReferencePoint(
    "gliner-bi-large-v2.0",
    "gliner-bi v2.0",
    530_000_000,
    None,
    0.615,
    "average CrossNER F1 (the model card's benchmark)",
    "the authors' own training mixture",
    GLINER_BI_V2,
    "ettin-encoder-400m + bge-base-en-v1.5",
  ),
)


def families() -> list[str]:
  """The reference families, in table order (each is one marker style in `plotting.f1_vs_params`)."""
  return list(dict.fromkeys(p.family for p in REFERENCE_POINTS))


def by_name(name: str) -> ReferencePoint:
  """The reference point called `name` (KeyError listing the known names otherwise)."""
  for point in REFERENCE_POINTS:
    if point.name == name:
      return point
  raise KeyError(f"no reference point {name!r}; known: {[p.name for p in REFERENCE_POINTS]}")
