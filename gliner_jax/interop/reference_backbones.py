"""Backbones built on the spot for speed benchmarks, where no pretrained encoder of the wanted size exists.

`random_bert_backbone` writes a Hugging Face BERT folder (config, seeded random weights, tokenizer) that
gliner 0.2.29 (`GLiNER.from_config({"model_name": folder, ...})`) and gliner_jax both load. Weights are random,
so it serves timing only. Needs torch (the `[torch]` extra).

Example (not run: writes ~440 MB):
  >>> folder = random_bert_backbone("/tmp/bert_base_random", tokenizer_source=DEFAULT_MODEL)  # doctest: +SKIP
"""

from __future__ import annotations


def random_bert_backbone(
  directory: str,
  tokenizer_source: str,
  *,
  hidden_size: int = 768,
  num_layers: int = 12,
  num_heads: int = 12,
  intermediate_size: int = 3072,
  seed: int = 0,
) -> str:
  """Writes a BERT encoder (BERT-base shape by default) with seeded random weights and `tokenizer_source`'s tokenizer.

  `tokenizer_source` is any folder or name `AutoTokenizer.from_pretrained` reads; its vocabulary sets the
  embedding rows. Returns `directory`.
  """
  import torch
  from transformers import AutoTokenizer, BertConfig, BertModel

  torch.manual_seed(seed)
  tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
  config = BertConfig(
    vocab_size=len(tokenizer),
    hidden_size=hidden_size,
    num_hidden_layers=num_layers,
    num_attention_heads=num_heads,
    intermediate_size=intermediate_size,
  )
  BertModel(config).save_pretrained(directory)
  tokenizer.save_pretrained(directory)
  return directory
