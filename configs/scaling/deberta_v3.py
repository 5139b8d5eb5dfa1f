"""DeBERTa-v3 ladder for a TPU pod: deberta-v3-xsmall, GLiNER's published backbones (small, base, large) and
deberta-v3-large cut to 6, 12 and 18 layers, x 3 FLOP budgets, with the published recipe (bf16, 384-word windows,
global batch 8).

The argument is the training data: a Pile-NER file in GLiNER's format (`pilener_train.json`, ~45k passages), local
or gs:// (default: the Pile-NER subset of ../shared/data, for a dry run). Check the plan first, then launch:
  python scripts/scaling.py plan --config configs/scaling/deberta_v3.py:data/pilener_train.json --workdir /tmp/p
  python scripts/scaling.py run --config configs/scaling/deberta_v3.py:gs://bucket/pilener_train.json \
    --workdir gs://bucket/deberta_v3 --launcher pod --pod_kind gcloud --pod_name my-v5e-16 --zone us-west4-a \
    --project my-project --dry_run
Budgets: 1e17, 3e17 and 1e18 FLOPs (`plan` prints the steps each rung takes). The xsmall rung (12 x 384) resolves
once `gliner_jax.model.backbones` bundles microsoft/deberta-v3-xsmall.
"""

from gliner_jax.scaling.ladder import pretrained_rung
from gliner_jax.scaling.presets import PILE_NER_SUBSET, pod_study
from gliner_jax.training.config import published_recipe

LARGE = "microsoft/deberta-v3-large"


def get_config(arg: str = ""):
  c = published_recipe("microsoft/deberta-v3-small")
  c.data.train = [dict(path=arg or PILE_NER_SUBSET)]
  rungs = [pretrained_rung(f"microsoft/deberta-v3-{size}") for size in ("xsmall", "small", "base")]
  rungs += [pretrained_rung(LARGE, k) for k in (6, 12, 18)] + [pretrained_rung(LARGE)]
  return pod_study(c, rungs)
