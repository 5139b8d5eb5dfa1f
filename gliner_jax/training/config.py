"""The base training config that every `configs/*.py` file starts from, and local path helpers.

Example:
  >>> config = base_config()
  >>> config.model.init = "hf_encoder"; config.model.path = "microsoft/deberta-v3-small"
  >>> config.model.path, config.train.num_steps > 0
  ('microsoft/deberta-v3-small', True)
"""

from __future__ import annotations

import os

import ml_collections

from gliner_jax.data import paths
from gliner_jax.interop.installed_models import site_model_dir  # noqa: F401 (re-exported: configs use it)
from gliner_jax.training.sharding import DEFAULT_RULES

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
BUNDLED_TRAIN = os.path.join(ASSETS, "data", "pile_ner_slice_train.txt")
BUNDLED_DEV = os.path.join(ASSETS, "data", "pile_ner_slice_dev.txt")
REPO_ROOT = paths.REPO_ROOT
SHARED_DATA = paths.shared_data()  # <repo>/../shared/data, or $GLINER_JAX_DATA (gliner_jax.data.paths)


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model = ml_collections.ConfigDict(
    dict(
      init="hf_encoder",
      path="",
      name="",
      tokenizer="",
      encoder={},
      hidden_size=512,
      max_width=12,
      max_len=384,
      max_types=25,
      dropout=0.4,
      num_rnn_layers=1,
      span_mode="markerV0",  # or "marker", "token_level"
      span_head_impl="factored",
      # Encoder layer stack (gliner_jax.model.encoders.stack): a jax.checkpoint_policies name or "none";
      # scan_layers compiles one layer body over stacked parameters. Same losses either way.
      remat_policy="none",
      scan_layers=False,
    )
  )
  c.data = ml_collections.ConfigDict(dict(train=[], eval=[]))
  # fixed_shape: pad every batch to the largest named shape (one compiled program; forced on multi-process runs)
  c.recipe = ml_collections.ConfigDict(
    dict(max_neg_type_ratio=1, negative_prob=0.5, prompt_drop=1.0, shuffle_types=True, fixed_shape=False)
  )
  c.loss = ml_collections.ConfigDict(
    dict(alpha=0.75, gamma=2.0, reduction="sum", negatives=1.0, masking="none", label_smoothing=0.0)
  )
  c.optimizer = ml_collections.ConfigDict(
    dict(
      encoder_lr=1e-5,
      head_lr=5e-5,
      encoder_weight_decay=0.01,
      head_weight_decay=0.01,
      warmup_ratio=0.1,
      scheduler="linear",
      max_grad_norm=10.0,
    )
  )
  # batch_size: the global batch (all processes). data_shards: independent data streams, each
  # batch_size / data_shards rows (0: one per process). prefetch: batches built ahead in a background
  # thread (0: the unpipelined loop). compilation_cache_dir: "" turns the persistent cache off.
  c.train = ml_collections.ConfigDict(
    dict(
      batch_size=8,
      num_steps=1000,
      log_every=10,
      eval_every=500,
      checkpoint_every=200,
      seed=0,
      compute_dtype="float32",
      data_shards=0,
      prefetch=2,
      compilation_cache_dir="{workdir}/compilation_cache",
    )
  )
  c.eval = ml_collections.ConfigDict(dict(threshold=0.5, flat_ner=True, batch_size=8))
  c.mesh = ml_collections.ConfigDict(
    dict(shape={"data": -1, "fsdp": 1, "tensor": 1}, rules=[list(r) for r in DEFAULT_RULES])
  )
  return c


def published_recipe(backbone: str) -> ml_collections.ConfigDict:
  """The published GLiNER training recipe on a Hugging Face backbone (see configs/gliner_*.py).

  hidden_size 768, max_width 12, max_len 384, max_types 25, dropout 0.4, focal loss (alpha 0.75,
  gamma 2), AdamW 1e-5 (encoder) / 5e-5 (heads), weight decay 0.01, 10% warmup, linear decay, clip 10,
  batch 8, 30k steps, bf16 compute. Data defaults to the bundled slice: point it at the full Pile-NER.
  Batch shapes: 16 named (tokens 128-512 x words 64-384 x 25 types); one (512, 384, 25) on a pod.
  """
  from gliner_jax.model.backbones import ENCODERS

  c = base_config()
  c.model.init = "hf_encoder"
  c.model.path = backbone
  c.model.encoder = ENCODERS[backbone]  # shapes for AOT compiles / FLOP counts without a download
  c.model.update(hidden_size=768, max_width=12, max_len=384, max_types=25, dropout=0.4)
  c.data.train = [dict(path=BUNDLED_TRAIN)]
  c.data.eval = [dict(path=BUNDLED_DEV)]
  # The shapes a run compiles: 4 x 4 x 1 on one host; a multi-host run pads every batch to the largest.
  c.recipe.update(token_buckets=(128, 256, 384, 512), word_buckets=(64, 128, 256, 384), type_buckets=(25,))
  c.loss.update(alpha=0.75, gamma=2.0, reduction="sum")
  c.optimizer.update(
    encoder_lr=1e-5,
    head_lr=5e-5,
    encoder_weight_decay=0.01,
    head_weight_decay=0.01,
    warmup_ratio=0.1,
    scheduler="linear",
    max_grad_norm=10.0,
  )
  c.train.update(
    batch_size=8, num_steps=30000, log_every=50, eval_every=5000, checkpoint_every=1000, compute_dtype="bfloat16"
  )
  return c
