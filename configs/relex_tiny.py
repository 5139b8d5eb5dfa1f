"""Tiny relex config: a 2-layer random BERT that learns entities and the relations between them, trained on the
bundled relex file (`gliner_jax/assets/data/relex_tiny_train.json`, gliner's relex JSON format: tokenized_text,
ner, relations). Tests and CI use it; multi-host like configs/tiny.py (every process runs the same command).

Run (about a minute on a 2-core CPU):
  python scripts/train.py --config configs/relex_tiny.py --workdir /tmp/gliner_relex_tiny
The token-level relex model: `--config configs/relex_tiny.py:token`. The trained model loads with
`gliner_jax.GLiNER.from_pretrained` after `export_model(...)` or `result.predictor.save_pretrained(folder)`.
"""

import os

from gliner_jax.configs import tiny
from gliner_jax.training.config import ASSETS

RELEX_TRAIN = os.path.join(ASSETS, "data", "relex_tiny_train.json")
RELEX_DEV = os.path.join(ASSETS, "data", "relex_tiny_dev.json")


def get_config(arg: str = ""):
  if arg not in ("", "span", "token"):
    raise ValueError(f"configs/relex_tiny.py:{arg}: use 'span' (the default) or 'token'")
  c = tiny.get_config()  # its 2-layer random BERT (the shipped tokenizer, <<REL>> added), recipe and schedule
  c.model.span_mode = "token_level" if arg == "token" else "markerV0"
  c.model.relations_layer = "dot"  # gliner 0.2.29's adjacency layers: dot, mlp, bilinear, gcn, gat, attention, none
  c.model.triples_layer = None  # or a knowledge-graph scorer (DistMult, ComplEx, ...) instead of the pair projection
  c.data.train = [dict(path=RELEX_TRAIN)]
  c.data.eval = [dict(path=RELEX_DEV)]
  return c
