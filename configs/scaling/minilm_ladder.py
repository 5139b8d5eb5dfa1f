"""The MiniLM layer ladder study: all-MiniLM-L6-v2 cut to 1, 2, 3, 4 and 6 layers x 3 FLOP budgets.

Trained on the Pile-NER subset (../shared/data, its first 2,000 passages), held-out loss on passages
2,000-2,216, zero-shot F1 on CrossNER (ai, literature, music, politics, science; the first 20 test sentences
of each here, all of them with ":gpu"). The study of docs/scaling.md: 1,858 steps in all; on 2 shared CPU cores
(load 25-57) a run took 5-15 min, so split it over processes with --only and separate workdirs if in a hurry:
  python scripts/scaling.py run --config configs/scaling/minilm_ladder.py --workdir workdirs/minilm_ladder
  python scripts/scaling.py fit --workdir workdirs/minilm_ladder
  python scripts/scaling.py plot --workdir workdirs/minilm_ladder
Argument "gpu" (`--config configs/scaling/minilm_ladder.py:gpu`): batch 8, 96-word windows, budgets x 1000
(1e15 .. 4e15 FLOPs, 3 seeds) and full CrossNER test sets, for an accelerator.
"""

import ml_collections

from gliner_jax.scaling.ladder import MINILM, minilm_dir, truncation_ladder
from gliner_jax.scaling.presets import PILE_NER_SUBSET, crossner_folders, minilm_ladder_base

TRAIN_PASSAGES = 2000


def get_config(arg: str = ""):
  if arg not in ("", "cpu", "gpu"):
    raise ValueError(f"minilm_ladder config argument {arg!r}: use cpu (default) or gpu")
  gpu = arg == "gpu"
  c = minilm_ladder_base(batch_size=8, max_len=96, max_types=25) if gpu else minilm_ladder_base(2, 32, 12)
  c.data.train = [dict(path=PILE_NER_SUBSET, max_examples=TRAIN_PASSAGES)]
  rungs = truncation_ladder(MINILM, (1, 2, 3, 4, 6), path=minilm_dir() or "")
  budgets = [1e15, 2e15, 4e15] if gpu else [3.2e11, 4.8e11, 7.2e11]
  c.scaling = ml_collections.ConfigDict(
    dict(
      rungs=[r.to_dict() for r in rungs],
      budgets=budgets,
      seeds=[0, 1, 2] if gpu else [0],
      checkpoint_every=500 if gpu else 50,
      eval_loss_data=dict(path=PILE_NER_SUBSET, start=TRAIN_PASSAGES),
      eval_loss_batches=0 if gpu else 64,
      zero_shot=crossner_folders(),
      zero_shot_max_examples=None if gpu else 20,
      threshold=0.3,
      eval_batch_size=8,
    )
  )
  return c
