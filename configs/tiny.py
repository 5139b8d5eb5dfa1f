"""Tiny config for tests, CI and the notebooks' offline mode: a 2-layer random BERT, the bundled slice.

Run (about a minute on a 2-core CPU):
  python scripts/train.py --config configs/tiny.py --workdir /tmp/gliner_tiny
"""

from gliner_jax import DEFAULT_MODEL
from gliner_jax.training.config import BUNDLED_DEV, BUNDLED_TRAIN, base_config


def get_config(arg: str = ""):
  c = base_config()
  c.model.init = "random"
  c.model.tokenizer = DEFAULT_MODEL  # the shipped model's tokenizer (bert-base-uncased vocabulary)
  c.model.encoder = dict(
    model_type="bert",
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=512,
    vocab_size=1,
  )
  c.model.update(hidden_size=32, max_width=4, max_len=48, max_types=8, dropout=0.1)
  c.data.train = [dict(path=BUNDLED_TRAIN, max_examples=64)]
  c.data.eval = [dict(path=BUNDLED_DEV, max_examples=8)]
  # The shapes a run compiles: 2 x 3 x 1 (recipe.named_shapes); fixed_shape=True (and every multi-process
  # run) pads to the largest, (128, 48, 8).
  c.recipe.update(max_tokens=128, token_buckets=(64, 128), word_buckets=(16, 32, 48), type_buckets=(8,))
  c.optimizer.update(encoder_lr=1e-3, head_lr=1e-3, warmup_ratio=0.1)
  c.train.update(batch_size=8, num_steps=20, log_every=1, eval_every=20, checkpoint_every=5)
  c.eval.update(threshold=0.5, batch_size=8)
  return c
