"""Micro scaling study: MiniLM-L6 cut to 1, 2 and 3 layers x 2 FLOP budgets, on the bundled data (CI runs it).

Six short runs on the bundled Pile-NER slice, held-out loss on the bundled dev slice, zero-shot F1 on 20
sentences of the bundled CrossNER AI slice; minutes on 2 CPU cores, end to end:
  python scripts/scaling.py plan --config configs/scaling/micro.py --workdir workdirs/scaling_micro
  python scripts/scaling.py run --config configs/scaling/micro.py --workdir workdirs/scaling_micro
  python scripts/scaling.py fit --workdir workdirs/scaling_micro
  python scripts/scaling.py plot --workdir workdirs/scaling_micro
"""

import ml_collections

from gliner_jax.scaling.ladder import MINILM, minilm_dir, truncation_ladder
from gliner_jax.scaling.presets import CROSSNER_AI_SLICE, minilm_ladder_base
from gliner_jax.training.config import BUNDLED_DEV


def get_config(arg: str = ""):
  del arg
  c = minilm_ladder_base(batch_size=2, max_len=32, max_types=12)
  rungs = truncation_ladder(MINILM, (1, 2, 3), path=minilm_dir() or "")
  c.scaling = ml_collections.ConfigDict(
    dict(
      rungs=[r.to_dict() for r in rungs],
      budgets=[3e11, 4.5e11],
      seeds=[0],
      checkpoint_every=25,
      eval_loss_data=dict(path=BUNDLED_DEV, max_examples=20),
      eval_loss_batches=16,
      zero_shot={"crossner_ai": CROSSNER_AI_SLICE},
      zero_shot_max_examples=20,
      threshold=0.3,
      eval_batch_size=8,
    )
  )
  return c
