"""The bundled DeBERTa-v3 backbones (`gliner_jax.model.backbones` lists every family's).

All share DeBERTa-v3's switches (`V3`); their tokenizers with GLiNER's three tokens added have 128,003 entries
(mDeBERTa: 251,003), fewer than the embedding tables' 128,100 (251,000) rows.

Example:
    >>> BACKBONES["microsoft/deberta-v3-xsmall"].hf_config["hidden_size"]
    384
"""

from __future__ import annotations

from gliner_jax.model.encoders.families import Backbone

V3 = dict(
  model_type="deberta-v2",
  attention_probs_dropout_prob=0.1,
  hidden_act="gelu",
  hidden_dropout_prob=0.1,
  initializer_range=0.02,
  layer_norm_eps=1e-7,
  max_position_embeddings=512,
  max_relative_positions=-1,
  norm_rel_ebd="layer_norm",
  pad_token_id=0,
  pos_att_type="p2c|c2p",
  position_biased_input=False,
  position_buckets=256,
  relative_attention=True,
  share_att_key=True,
  type_vocab_size=0,
)


def _v3(layers: int, hidden: int, heads: int, intermediate: int, vocab: int = 128100) -> dict:
  return dict(
    V3,
    hidden_size=hidden,
    intermediate_size=intermediate,
    num_attention_heads=heads,
    num_hidden_layers=layers,
    vocab_size=vocab,
  )


# The microsoft/* config.json files (their model cards: xsmall 22M, small 44M, base 86M, large 304M backbone
# parameters, plus 48M / 98M / 98M / 131M in the embedding; tests/test_encoder_families.py checks the shapes here
# against those counts).
BACKBONES = {
  # microsoft/deberta-v3-xsmall: 12 layers x 384 (6 heads, intermediate 1536): the issue-19 ladder's bottom rung.
  "microsoft/deberta-v3-xsmall": Backbone(_v3(12, 384, 6, 1536), gliner_vocab_size=128003),
  "microsoft/deberta-v3-small": Backbone(_v3(6, 768, 12, 3072), gliner_vocab_size=128003),
  "microsoft/deberta-v3-base": Backbone(_v3(12, 768, 12, 3072), gliner_vocab_size=128003),
  "microsoft/deberta-v3-large": Backbone(_v3(24, 1024, 16, 4096), gliner_vocab_size=128003),
  "microsoft/mdeberta-v3-base": Backbone(_v3(12, 768, 12, 3072, vocab=251000), gliner_vocab_size=251003),
}
