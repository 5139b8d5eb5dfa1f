"""Micro scaling study: MiniLM-L6 cut to 1, 2 and 3 layers x 2 FLOP budgets, on the bundled data (CI runs it).

Six short runs on the bundled Pile-NER slice, held-out loss on the bundled dev slice, zero-shot F1 on 30
sentences of the bundled CrossNER AI slice; a few minutes on 2 CPU cores, end to end:
  python scripts/scaling.py plan --config configs/scaling/micro.py --workdir workdirs/scaling_micro
  python scripts/scaling.py run --config configs/scaling/micro.py --workdir workdirs/scaling_micro
  python scripts/scaling.py fit --workdir workdirs/scaling_micro
  python scripts/scaling.py plot --workdir workdirs/scaling_micro
"""

import ml_collections

from gliner_jax.model.backbones import ENCODERS
from gliner_jax.scaling.ladder import MINILM, minilm_dir, truncation_ladder
from gliner_jax.training.config import ASSETS, BUNDLED_DEV, BUNDLED_TRAIN, base_config

CROSSNER_AI_SLICE = f"{ASSETS}/data/crossner_ai_test_slice.txt"


def minilm_base(batch_size: int = 8) -> ml_collections.ConfigDict:
  """The training recipe every MiniLM ladder rung shares: short rows, one compiled shape, high learning rates
  for short runs (heads start from scratch)."""
  c = base_config()
  c.model.init = "hf_encoder"
  c.model.path = minilm_dir() or MINILM
  c.model.name = MINILM
  c.model.encoder = ENCODERS[MINILM]
  c.model.update(hidden_size=384, max_width=8, max_len=64, max_types=16, dropout=0.1, embed_ent_token=False)
  c.data.train = [dict(path=BUNDLED_TRAIN)]
  c.data.eval = []
  c.recipe.update(max_tokens=160, token_buckets=(160,), word_buckets=(64,), type_buckets=(16,), fixed_shape=True)
  c.loss.update(alpha=0.75, gamma=2.0, reduction="sum")
  c.optimizer.update(encoder_lr=1e-4, head_lr=1e-3, warmup_ratio=0.1, scheduler="linear", max_grad_norm=10.0)
  c.train.update(batch_size=batch_size, log_every=10, checkpoint_every=50, prefetch=2)
  c.eval.update(threshold=0.3, batch_size=8)
  return c


def get_config(arg: str = ""):
  del arg
  c = minilm_base()
  rungs = truncation_ladder(MINILM, (1, 2, 3), path=minilm_dir() or "")
  c.scaling = ml_collections.ConfigDict(
    dict(
      rungs=[r.to_dict() for r in rungs],
      budgets=[4e12, 8e12],
      seeds=[0],
      checkpoint_every=25,
      eval_loss_data=dict(path=BUNDLED_DEV, max_examples=32),
      zero_shot={"crossner_ai": CROSSNER_AI_SLICE},
      zero_shot_max_examples=30,
      threshold=0.3,
      eval_batch_size=8,
    )
  )
  return c
