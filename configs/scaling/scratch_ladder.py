"""From-scratch depth ladder: BERT encoders of MiniLM's width (384) with 1, 2, 4 and 6 layers, randomly initialised.

Needs no downloaded weights and nothing outside the package, so it runs on a bare accelerator runtime: the
tokenizer is the embedded default model's (bert-base-uncased WordPiece, MiniLM's vocabulary), training data the
bundled Pile-NER slice, held-out loss the bundled dev slice, zero-shot F1 the bundled CrossNER AI slice (99
sentences). Budgets are sized for a GPU (docs/gpu.md): about 5,500 steps of batch 8 in all.
  python scripts/scaling.py plan --config configs/scaling/scratch_ladder.py --workdir workdirs/scratch_ladder
  python scripts/scaling.py run --config configs/scaling/scratch_ladder.py --workdir workdirs/scratch_ladder
  python scripts/scaling.py fit --workdir workdirs/scratch_ladder
  python scripts/scaling.py plot --workdir workdirs/scratch_ladder
"""

import json
import os

import ml_collections

from gliner_jax import DEFAULT_MODEL
from gliner_jax.scaling.ladder import scratch_rung
from gliner_jax.scaling.presets import CROSSNER_AI_SLICE, minilm_ladder_base
from gliner_jax.training.config import BUNDLED_DEV, BUNDLED_TRAIN


def get_config(arg: str = ""):
  if arg:
    raise ValueError(f"scratch_ladder config takes no argument, got {arg!r}")
  c = minilm_ladder_base(batch_size=8, max_len=64, max_types=16)
  c.data.train = [dict(path=BUNDLED_TRAIN)]
  with open(os.path.join(DEFAULT_MODEL, "gliner_jax_config.json"), encoding="utf-8") as f:
    vocab_size = json.load(f)["encoder"]["vocab_size"]  # the tokenizer's, GLiNER's three tokens included
  rungs = [scratch_rung(384, depth, DEFAULT_MODEL, vocab_size=vocab_size) for depth in (1, 2, 4, 6)]
  budgets = [5e12, 1e13, 2e13]
  c.scaling = ml_collections.ConfigDict(
    dict(
      rungs=[r.to_dict() for r in rungs],
      budgets=budgets,
      seeds=[0],
      checkpoint_every=500,
      eval_loss_data=dict(path=BUNDLED_DEV),
      eval_loss_batches=16,
      zero_shot={"crossner_ai": CROSSNER_AI_SLICE},
      zero_shot_max_examples=None,
      threshold=0.3,
      eval_batch_size=16,
    )
  )
  return c
