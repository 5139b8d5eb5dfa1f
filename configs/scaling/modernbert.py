"""ModernBERT ladder for a TPU pod: answerdotai/ModernBERT-base (22 layers) cut to 4, 7, 13 and 22 layers (keeping
its local/global attention pattern) x 3 FLOP budgets, with the published recipe (bf16, batch 8 per host).

The argument is the training data, as for configs/scaling/deberta_v3.py:
  python scripts/scaling.py run --config configs/scaling/modernbert.py:gs://bucket/pilener_train.json \
    --workdir gs://bucket/modernbert --launcher pod --pod_kind xpk --pod_name my-cluster --tpu_type v5litepod-16 \
    --zone us-west4-a --project my-project --dry_run
"""

import ml_collections

from gliner_jax.scaling.ladder import truncation_ladder
from gliner_jax.scaling.presets import PILE_NER_SUBSET, crossner_folders
from gliner_jax.training.config import published_recipe

BASE = "answerdotai/ModernBERT-base"


def get_config(arg: str = ""):
  c = published_recipe(BASE)
  c.data.train = [dict(path=arg or PILE_NER_SUBSET)]
  c.data.eval = []
  c.recipe.fixed_shape = True
  rungs = truncation_ladder(BASE, (4, 7, 13, 22))
  c.scaling = ml_collections.ConfigDict(
    dict(
      rungs=[r.to_dict() for r in rungs],
      budgets=[1e17, 3e17, 1e18],
      seeds=[0],
      checkpoint_every=1000,
      eval_loss_data={},
      zero_shot=crossner_folders(),
      zero_shot_max_examples=None,
      threshold=0.5,
      eval_batch_size=32,
      pod=dict(kind="gcloud", repo="gliner_jax"),
    )
  )
  return c
