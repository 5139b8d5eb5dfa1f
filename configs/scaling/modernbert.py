"""ModernBERT ladder for a TPU pod: answerdotai/ModernBERT-base (22 layers) cut to 4, 7, 13 and 22 layers (keeping
its local/global attention pattern) x 3 FLOP budgets, with the published recipe (bf16, global batch 8).

The argument is the training data, as for configs/scaling/deberta_v3.py:
  python scripts/scaling.py plan --config configs/scaling/modernbert.py:data/pilener_train.json --workdir /tmp/p
  python scripts/scaling.py run --config configs/scaling/modernbert.py:gs://bucket/pilener_train.json \
    --workdir gs://bucket/modernbert --launcher pod --pod_kind xpk --pod_name my-cluster --tpu_type v5litepod-16 \
    --zone us-west4-a --project my-project --dry_run
"""

from gliner_jax.scaling.ladder import truncation_ladder
from gliner_jax.scaling.presets import PILE_NER_SUBSET, pod_study
from gliner_jax.training.config import published_recipe

BASE = "answerdotai/ModernBERT-base"


def get_config(arg: str = ""):
  c = published_recipe(BASE)
  c.data.train = [dict(path=arg or PILE_NER_SUBSET)]
  rungs = truncation_ladder(BASE, (4, 7, 13, 22))
  return pod_study(c, rungs)
