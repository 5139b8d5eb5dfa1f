"""NER data: file readers, tfds builders and grain pipelines (see ``readers``)."""

from gliner_jax.data.readers import (
  DataFormatError,
  NERExample,
  ReadStats,
  read_bio,
  read_dataset_folder,
  read_gliner_json,
  read_instructuie_json,
  read_label_file,
  read_ner_file,
  read_pilener_conversations,
  read_slimer_jsonl,
  word_tokenize,
)

__all__ = [
  "DataFormatError",
  "NERExample",
  "ReadStats",
  "read_bio",
  "read_dataset_folder",
  "read_gliner_json",
  "read_instructuie_json",
  "read_label_file",
  "read_ner_file",
  "read_pilener_conversations",
  "read_slimer_jsonl",
  "word_tokenize",
]
