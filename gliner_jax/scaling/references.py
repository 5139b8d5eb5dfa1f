"""Published GLiNER sizes and zero-shot F1, drawn beside a study's own points (context, not a like-for-like).

The published models were trained on the full Pile-NER (~45k passages; gliner-bi v2.0 on its authors' own
mixture) and averaged over their own benchmark sets, while a study here trains on the 2,217-passage Pile-NER
subset and averages CrossNER only; the plots say so.

Example:
  >>> [p.name for p in REFERENCE_POINTS if p.family == "GLiNER (paper)"]
  ['GLiNER-S', 'GLiNER-M', 'GLiNER-L']
  >>> by_name("GLiNER-L").f1_avg
  0.609
"""

from __future__ import annotations

import dataclasses

GLINER_PAPER = (
  "Zaratiana, Tomeh, Holat, Charnois. GLiNER: Generalist Model for Named Entity Recognition using "
  "Bidirectional Transformer. NAACL 2024, arXiv:2311.08526, Table 1 (zero-shot, out of domain)"
)
GLINER_BI_V2 = (
  "knowledgator, GLiNER-bi-Encoder v2.0 model cards (huggingface.co/knowledgator/gliner-bi-base-v2.0), "
  "table 'GLiNER-bi-V2 Models', column 'Avg. CrossNER'"
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


REFERENCE_POINTS: tuple[ReferencePoint, ...] = (
  ReferencePoint(
    "GLiNER-S",
    "GLiNER (paper)",
    166_000_000,
    50_000_000,
    0.527,
    PAPER_BENCHMARK,
    "Pile-NER (full, ~45k passages)",
    GLINER_PAPER,
    "deberta-v3-small backbone; the paper's size is the model without its 128k-token embedding table",
  ),
  ReferencePoint(
    "GLiNER-M",
    "GLiNER (paper)",
    209_000_000,
    90_000_000,
    0.554,
    PAPER_BENCHMARK,
    "Pile-NER (full, ~45k passages)",
    GLINER_PAPER,
    "deberta-v3-base backbone",
  ),
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


def by_name(name: str) -> ReferencePoint:
  """The reference point called `name` (KeyError listing the known names otherwise)."""
  for point in REFERENCE_POINTS:
    if point.name == name:
      return point
  raise KeyError(f"no reference point {name!r}; known: {[p.name for p in REFERENCE_POINTS]}")
