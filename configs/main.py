"""The main job on the embedded default: fine-tune the shipped model on the bundled Pile-NER slice.

A few minutes on a 2-core CPU; the same `train_and_evaluate` a TPU run uses, then an evaluation on the
bundled CrossNER AI slice and a few predictions (scripts/main.py).
  python scripts/main.py --config configs/main.py --workdir workdirs/main
"""

import json
import os

from gliner_jax import DEFAULT_MODEL
from gliner_jax.model.config import CONFIG_FILE
from gliner_jax.training.config import ASSETS, BUNDLED_DEV, BUNDLED_TRAIN, base_config


def get_config(arg: str = ""):
  c = base_config()
  c.model.init = "gliner_jax"
  c.model.path = DEFAULT_MODEL
  # Fine-tune with the window, type count and dropout the default model was trained with (not base_config's).
  with open(os.path.join(DEFAULT_MODEL, CONFIG_FILE)) as f:
    trained = json.load(f)
  c.model.update({k: trained[k] for k in ("max_len", "max_types", "dropout")})
  c.data.train = [dict(path=BUNDLED_TRAIN)]
  c.data.eval = [dict(path=BUNDLED_DEV, max_examples=30)]
  c.recipe.update(
    token_buckets=(64, 128, 256, 384, 512), word_buckets=(32, c.model.max_len), type_buckets=(c.model.max_types,)
  )
  c.loss.update(alpha=0.75, gamma=2.0, reduction="sum")
  c.optimizer.update(encoder_lr=5e-6, head_lr=2e-5, warmup_ratio=0.1, scheduler="linear", max_grad_norm=10.0)
  c.train.update(
    batch_size=8,
    num_steps=int(arg) if arg else 40,
    log_every=5,
    eval_every=40,
    checkpoint_every=20,
    compilation_cache_dir="workdirs/jax_cache",
  )
  c.eval.update(threshold=0.4, batch_size=8)  # the default model's best CrossNER threshold (MODEL_CARD.md)
  c.crossner_slice = f"{ASSETS}/data/crossner_ai_test_slice.txt"
  return c
