"""DeBERTa-v3 ladder for a TPU pod: GLiNER's published backbones (small, base, large) and deberta-v3-large cut
to 6, 12 and 18 layers, x 3 FLOP budgets, with the published recipe (bf16, 384-word windows, batch 8 per host).

The argument is the training data: a Pile-NER file in GLiNER's format (`pilener_train.json`, ~45k passages), local
or gs:// (default: the Pile-NER subset of ../shared/data, for a dry run). Check the plan first, then launch:
  python scripts/scaling.py plan --config configs/scaling/deberta_v3.py:data/pilener_train.json --workdir /tmp/p
  python scripts/scaling.py run --config configs/scaling/deberta_v3.py:gs://bucket/pilener_train.json \
    --workdir gs://bucket/deberta_v3 --launcher pod --pod_kind gcloud --pod_name my-v5e-16 --zone us-west4-a \
    --project my-project --dry_run
Budgets: 1e17, 3e17 and 1e18 FLOPs (`plan` prints the steps each rung takes).
"""

import ml_collections

from gliner_jax.scaling.ladder import pretrained_rung
from gliner_jax.scaling.presets import PILE_NER_SUBSET, crossner_folders
from gliner_jax.training.config import published_recipe

LARGE = "microsoft/deberta-v3-large"


def get_config(arg: str = ""):
  c = published_recipe("microsoft/deberta-v3-small")
  c.data.train = [dict(path=arg or PILE_NER_SUBSET)]
  c.data.eval = []
  c.recipe.fixed_shape = True  # one compiled program per rung, the same on every host
  rungs = [pretrained_rung(f"microsoft/deberta-v3-{size}") for size in ("small", "base")]
  rungs += [pretrained_rung(LARGE, k) for k in (6, 12, 18)] + [pretrained_rung(LARGE)]
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
