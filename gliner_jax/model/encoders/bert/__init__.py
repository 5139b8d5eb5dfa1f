"""The BERT family: BERT ("bert") and RoBERTa / XLM-R ("roberta"), one module with two position numberings.

`BERT` and `ROBERTA` are their registry entries (`gliner_jax.model.encoders.families`).

Example:
    >>> BERT.module is ROBERTA.module is BertEncoder, ROBERTA.hf_model_types
    (True, ('roberta', 'xlm-roberta'))
"""

from __future__ import annotations

from gliner_jax.model.encoders.bert import hf
from gliner_jax.model.encoders.bert.backbones import BACKBONES
from gliner_jax.model.encoders.bert.module import BertEmbeddings, BertEncoder, BertLayer, BertSelfAttention
from gliner_jax.model.encoders.families import EncoderFamily

_SHARED = dict(
  module=BertEncoder,
  from_hf=hf.from_hf,
  to_hf=hf.to_hf,
  weights=hf.weights,
  hf_roots=hf.HF_ROOTS,
  token_embedding=hf.TOKEN_EMBEDDING,
  unused_weights=hf.unused_weights,
)
BERT = EncoderFamily(model_type="bert", hf_model_types=("bert",), backbones=BACKBONES, **_SHARED)
ROBERTA = EncoderFamily(model_type="roberta", hf_model_types=("roberta", "xlm-roberta"), **_SHARED)

__all__ = ["BERT", "ROBERTA", "BertEmbeddings", "BertEncoder", "BertLayer", "BertSelfAttention"]
