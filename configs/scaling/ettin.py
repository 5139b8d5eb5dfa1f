"""Ettin ladder for a TPU pod: the six Ettin encoders (jhu-clsp/ettin-encoder-17m ... -1b, ModernBERT
architecture, one recipe and data mix across sizes; the text encoders of knowledgator's gliner-bi v2.0) as
uni-encoder GLiNERs, x 3 FLOP budgets, with the published recipe (bf16, 384-word windows, global batch 8).

The base recipe is ModernBERT-base's; each rung brings its own encoder, weights and tokenizer (`rung_config`).
The rungs resolve once `gliner_jax.model.backbones` bundles the Ettin shapes; until then `plan` names the missing
backbone (or give a local folder: `pretrained_rung(name, path=...)`).

The argument is the training data, as for configs/scaling/deberta_v3.py:
  python scripts/scaling.py plan --config configs/scaling/ettin.py:data/pilener_train.json --workdir /tmp/p
  python scripts/scaling.py run --config configs/scaling/ettin.py:gs://bucket/pilener_train.json \
    --workdir gs://bucket/ettin --launcher pod --pod_kind gcloud --pod_name my-v5e-16 --zone us-west4-a \
    --project my-project --dry_run
Budgets: 1e17, 3e17 and 1e18 FLOPs (`plan` prints the steps each rung takes).
"""

from gliner_jax.scaling.ladder import pretrained_rung
from gliner_jax.scaling.presets import PILE_NER_SUBSET, pod_study
from gliner_jax.training.config import published_recipe

SIZES = ("17m", "32m", "68m", "150m", "400m", "1b")
ETTIN = tuple(f"jhu-clsp/ettin-encoder-{size}" for size in SIZES)


def get_config(arg: str = ""):
  c = published_recipe("answerdotai/ModernBERT-base")
  c.data.train = [dict(path=arg or PILE_NER_SUBSET)]
  return pod_study(c, [pretrained_rung(name) for name in ETTIN])
