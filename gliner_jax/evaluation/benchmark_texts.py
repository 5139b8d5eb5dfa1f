"""Benchmark texts: CoNLL sentences (CrossNER) joined into texts of about N words (scripts/benchmark_*.py).

Example:
  >>> sentences = read_sentences(["../shared/data/crossner/politics/test.txt"])
  >>> texts, next_sentence = build_texts(sentences, num_words=120, count=16, start=0)
"""

from __future__ import annotations

import re


def read_sentences(paths: list[str]) -> list[list[str]]:
  """The token lists of the sentences in CoNLL files (first column; blank lines end sentences), in file order."""
  sentences, current = [], []
  for path in paths:
    with open(path) as f:
      for line in f:
        token = line.split("\t")[0].strip()
        if token:
          current.append(token)
        elif current:
          sentences.append(current)
          current = []
    if current:
      sentences.append(current)
      current = []
  return sentences


def _detokenize(tokens: list[str]) -> str:
  text = " ".join(tokens)
  text = re.sub(r" ([,.;:!?)\]%])", r"\1", text)
  return re.sub(r"([(\[$]) ", r"\1", text)


def build_texts(sentences: list[list[str]], num_words: int, count: int, start: int) -> tuple[list[str], int]:
  """`count` texts of consecutive sentences cut at `num_words` tokens; returns them and the next sentence."""
  texts, i = [], start
  for _ in range(count):
    tokens: list[str] = []
    while len(tokens) < num_words:
      tokens += sentences[i % len(sentences)]
      i += 1
    texts.append(_detokenize(tokens[:num_words]))
  return texts, i


def sentence_texts(sentences: list[list[str]], count: int, start: int) -> tuple[list[str], int]:
  """`count` texts of one sentence each (their lengths vary, as short inputs do); returns them and the next."""
  texts = [_detokenize(sentences[(start + k) % len(sentences)]) for k in range(count)]
  return texts, start + count
