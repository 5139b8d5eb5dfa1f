"""The relex prompt: `<<ENT>> e1 <<ENT>> e2 ... <<SEP>> <<REL>> r1 <<REL>> r2 ... <<SEP>> words`, tokenized.

gliner 0.2.29's relex processors (`RelationExtractionSpanProcessor.prepare_inputs`) put the entity types, then the
relation types, each list closed by `<<SEP>>`, before the words, and tokenize the whole word by word
(`is_split_into_words=True`, the backbone's special tokens around it). Each text word is read at its first
subtoken, each entity type at its `<<ENT>>` token and each relation type at its `<<REL>>` token. Prediction
(`gliner_jax.inference.relex`) and training batches (`gliner_jax.data.relex_recipe`) both encode with
`encode_relex_prompts`, so a model trains on exactly the inputs it predicts from.

A training row carries its prompt as one flat tuple of strings, `relex_prompt(entity_types, relation_types, sep)`
= entity types, `<<SEP>>`, relation types (a label never contains a special token, so the split is unambiguous);
`RelexPromptTokenizer` encodes such rows for `gliner_jax.data.recipe.encode_rows`.

Example::

    encoded = encode_relex_prompts(tokenizer, [["Ann", "founded", "Acme"]], [["person", "company"]], [["founded"]])
    encoded[0].type_token_index, encoded[0].relation_token_index   # positions of <<ENT>> x2 and <<REL>>
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from gliner_jax.model.config import GLiNERConfig
from gliner_jax.processing.prompts import EncodedText, PromptTokenizer

ENT_TOKEN, SEP_TOKEN, REL_TOKEN = "<<ENT>>", "<<SEP>>", "<<REL>>"


@dataclasses.dataclass(frozen=True)
class RelexEncodedText(EncodedText):
  """A relex prompt + text, tokenized: `EncodedText` plus the position of each relation type's `<<REL>>`."""

  relation_token_index: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int32))


def relex_prompt_words(
  entity_labels: Sequence[str],
  relation_labels: Sequence[str],
  ent_token: str = ENT_TOKEN,
  sep_token: str = SEP_TOKEN,
  rel_token: str = REL_TOKEN,
) -> list[str]:
  """The prompt's words, as gliner 0.2.29 builds them.

  Example::

      relex_prompt_words(["person"], ["works at"])
      # ['<<ENT>>', 'person', '<<SEP>>', '<<REL>>', 'works at', '<<SEP>>']
  """
  prompt = [w for label in entity_labels for w in (ent_token, label)] + [sep_token]
  return prompt + [w for label in relation_labels for w in (rel_token, label)] + [sep_token]


def encode_relex_prompts(
  tokenizer,
  texts: Sequence[Sequence[str]],
  entity_labels: Sequence[Sequence[str]],
  relation_labels: Sequence[Sequence[str]],
  *,
  ent_token: str = ENT_TOKEN,
  sep_token: str = SEP_TOKEN,
  rel_token: str = REL_TOKEN,
) -> list[RelexEncodedText]:
  """Tokenizes each (words, entity labels, relation labels) triple as one relex prompt + text sequence.

  `word_token_index[i]` is the first subtoken of word i (-1 for a word that gives no token), `type_token_index`
  the `<<ENT>>` of each entity label, `relation_token_index` the `<<REL>>` of each relation label; all int32.

  Example::

      (enc,) = encode_relex_prompts(tok, [["Bob", "founded", "Globex"]], [["person", "company"]], [["founded"]])
      tok.convert_ids_to_tokens(enc.input_ids.tolist())
      # ['[CLS]', '<<ENT>>', 'person', '<<ENT>>', 'company', '<<SEP>>', '<<REL>>', 'founded', '<<SEP>>',
      #  'bob', 'founded', 'glob', '##ex', '[SEP]']
  """
  if not (len(texts) == len(entity_labels) == len(relation_labels)):
    raise ValueError(
      f"got {len(texts)} texts, {len(entity_labels)} entity label lists and {len(relation_labels)} relation label "
      "lists; give one of each per text"
    )
  if not texts:
    return []
  prompts = [relex_prompt_words(e, r, ent_token, sep_token, rel_token) for e, r in zip(entity_labels, relation_labels)]
  sequences = [p + list(words) for p, words in zip(prompts, texts)]
  enc = tokenizer(sequences, is_split_into_words=True, add_special_tokens=True, truncation=False)
  out = []
  for i, (prompt, words, ents, rels) in enumerate(zip(prompts, texts, entity_labels, relation_labels)):
    first_token: dict[int, int] = {}
    for pos, w in enumerate(enc.word_ids(i)):
      first_token.setdefault(-1 if w is None else w, pos)
    n, first_rel = len(prompt), 2 * len(ents) + 1
    out.append(
      RelexEncodedText(
        np.asarray(enc["input_ids"][i], np.int32),
        np.asarray([first_token.get(n + j, -1) for j in range(len(words))], np.int32),
        np.asarray([first_token[2 * j] for j in range(len(ents))], np.int32),
        np.asarray([first_token[first_rel + 2 * j] for j in range(len(rels))], np.int32),
      )
    )
  return out


def relex_prompt(entity_types: Sequence[str], relation_types: Sequence[str], sep_token: str = SEP_TOKEN) -> tuple:
  """A training row's prompt as one flat tuple: entity types, `sep_token`, relation types.

  Example::

      relex_prompt(["person"], ["works at"])   # ('person', '<<SEP>>', 'works at')
  """
  return (*entity_types, sep_token, *relation_types)


def split_relex_prompt(prompt: Sequence[str], sep_token: str = SEP_TOKEN) -> tuple[tuple[str, ...], tuple[str, ...]]:
  """(entity types, relation types) of a `relex_prompt` tuple; a tuple without `sep_token` is an error."""
  prompt = tuple(prompt)
  if sep_token not in prompt:
    raise ValueError(f"relex prompt {list(prompt)} has no {sep_token!r} between its entity and relation types")
  cut = prompt.index(sep_token)
  return prompt[:cut], prompt[cut + 1 :]


class RelexPromptTokenizer(PromptTokenizer):
  """A `PromptTokenizer` for relex rows: `encode_batch(texts, prompts)` reads each prompt as a `relex_prompt`
  tuple and encodes it with `encode_relex_prompts` (`RelexEncodedText`s), as relex prediction does.
  `rel_token` defaults to the config's `rel_token`, else `<<REL>>`.

  Example::

      rpt = RelexPromptTokenizer(tokenizer, config)        # config: the relex model's GLiNERConfig
      (enc,) = rpt.encode_batch([["Ann", "met", "Bo"]], [relex_prompt(["person"], ["met"])])
  """

  def __init__(self, tokenizer, config: GLiNERConfig, rel_token: str | None = None):
    super().__init__(tokenizer, config)
    rel_token = rel_token or getattr(config, "rel_token", None) or REL_TOKEN
    rel_id = tokenizer.convert_tokens_to_ids(rel_token)
    if rel_id is None or rel_id == tokenizer.unk_token_id:
      raise ValueError(f"tokenizer has no {rel_token!r} token; add it as gliner adds it to a relex model's tokenizer")
    self.rel_token = rel_token

  def count_types(self, prompt: Sequence[str]) -> int:
    """The entity types of a `relex_prompt` tuple (its `<<ENT>>` markers)."""
    return len(split_relex_prompt(prompt, self.config.sep_token)[0])

  def encode_batch(self, texts, labels, max_word_tokens=None) -> list[RelexEncodedText]:
    """Encodes (words, `relex_prompt` tuple) pairs; `max_word_tokens` must stay None (prediction keeps every
    subtoken of a word, and training encodes as prediction does)."""
    if max_word_tokens is not None:
      raise ValueError("relex prompts keep every subtoken of a word, as relex prediction does: max_word_tokens=None")
    split = [split_relex_prompt(p, self.config.sep_token) for p in labels]
    return encode_relex_prompts(
      self.tokenizer,
      texts,
      [e for e, _ in split],
      [r for _, r in split],
      ent_token=self.config.ent_token,
      sep_token=self.config.sep_token,
      rel_token=self.rel_token,
    )
