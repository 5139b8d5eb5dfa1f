"""GLiNER-L: deberta-v3-large (~459M parameters with heads).

The published GLiNER recipe (`gliner_jax.training.config.published_recipe`; values recalled from the
public configs and the paper, check them before a paper run).

Run on a TPU VM with the full Pile-NER in GLiNER format (expected
cost 8 h on v5e-8 — an estimate from the FLOP count, not measured):
  python scripts/train.py --config configs/gliner_large.py --workdir gs://BUCKET/gliner_large \
    --config.data.train='[{"path": "/data/pilener_train.json"}]'
Compile check without a TPU:
  python scripts/aot_compile.py --config configs/gliner_large.py --topology v5e:2x4
"""

from gliner_jax.training.config import published_recipe


def get_config(arg: str = ""):
  return published_recipe("microsoft/deberta-v3-large")
