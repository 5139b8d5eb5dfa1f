"""GLiNER on ModernBERT-base (answerdotai/ModernBERT-base, 22 layers x 768; 174M parameters with the heads).

The published GLiNER recipe (`gliner_jax.training.config.published_recipe`, as configs/gliner_small.py)
on a ModernBERT backbone: rotary positions, every third layer global attention and the others a
128-token sliding window, GeGLU MLPs, no dropout inside the encoder (its config's). Its shapes come
from the bundled backbone table (`gliner_jax.model.backbones`), so the model builds and compiles
without a download; training reads the weights from the hub id (or a local copy named in
--config.model.path). Rows are cut at 512 tokens (`recipe.max_tokens`; the encoder itself reads
8,192), so the batch shapes are those of the DeBERTa configs: 16 named, one (512, 384, 25) on a pod.
The learning rates are the DeBERTa recipe's, not tuned for ModernBERT.

Run on a TPU VM with the full Pile-NER in GLiNER format:
  python scripts/train.py --config configs/gliner_modernbert.py --workdir gs://BUCKET/gliner_modernbert \
    --config.data.train='[{"path": "/data/pilener_train.json"}]'
Compile check without a TPU:
  python scripts/aot_compile.py --config configs/gliner_modernbert.py --topology v5e:2x4
"""

from gliner_jax.training.config import published_recipe

MODERNBERT = "answerdotai/ModernBERT-base"


def get_config(arg: str = ""):
  c = published_recipe(MODERNBERT)
  c.recipe.max_tokens = 512
  return c
