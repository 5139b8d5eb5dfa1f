"""mDeBERTa-v3 ladder for a TPU pod: multilingual GLiNER's backbone (gliner_multi: microsoft/mdeberta-v3-base, 12
layers, 250k-token vocabulary) cut to 3, 6, 9 and 12 layers, x 3 FLOP budgets, with the published recipe (bf16,
384-word windows, global batch 8). The bundled backbone table has one mDeBERTa size, so truncations are the rungs.

The vocabulary makes the embedding table (251k x 768 = 193M) larger than the whole 12-layer stack (85M): fit against
`params_non_embedding` (the default), not the total.

The argument is the training data: a Pile-NER file in GLiNER's format (gliner_multi was trained on the English
Pile-NER), local or gs:// (default: the Pile-NER subset of ../shared/data, for a dry run). Zero-shot F1 is on the
English CrossNER sets, as for the other ladders. Check the plan first, then launch:
  python scripts/scaling.py plan --config configs/scaling/mdeberta.py:data/pilener_train.json --workdir /tmp/p
  python scripts/scaling.py run --config configs/scaling/mdeberta.py:gs://bucket/pilener_train.json \
    --workdir gs://bucket/mdeberta --launcher pod --pod_kind gcloud --pod_name my-v5e-16 --zone us-west4-a \
    --project my-project --dry_run
Budgets: 1e17, 3e17 and 1e18 FLOPs (`plan` prints the steps each rung takes).
"""

from gliner_jax.scaling.ladder import truncation_ladder
from gliner_jax.scaling.presets import PILE_NER_SUBSET, pod_study
from gliner_jax.training.config import published_recipe

MDEBERTA = "microsoft/mdeberta-v3-base"


def get_config(arg: str = ""):
  c = published_recipe(MDEBERTA)
  c.data.train = [dict(path=arg or PILE_NER_SUBSET)]
  return pod_study(c, truncation_ladder(MDEBERTA, (3, 6, 9, 12)))
