r"""Converts a relation-extraction dataset into gliner's relex training JSON (`gliner_jax.data.relation_formats`).

  # CoNLL04 / ADE / SciERC as SpERT distributes them (names from SpERT's types file)
  python scripts/convert_relations.py --format spert --input conll04_train.json \
      --types conll04_types.json --output data/conll04/train.json

  # DocRED (relation names from rel_info.json; one record per document, relations between the closest mentions)
  python scripts/convert_relations.py --format docred --input train_annotated.json \
      --rel_info rel_info.json --output data/docred/train.json

The output reads back with `gliner_jax.data.readers.read_ner_file` and trains with the relex recipe.
"""

from __future__ import annotations

from absl import app, flags

flags.DEFINE_enum("format", None, ["spert", "docred"], "Layout of --input.")
flags.DEFINE_string("input", None, "Dataset file: a JSON array or JSON lines.")
flags.DEFINE_string("output", None, "gliner relex JSON to write.")
flags.DEFINE_string("types", None, "SpERT only: its types.json (each type becomes its verbose name, lower case).")
flags.DEFINE_string("rel_info", None, "DocRED only: rel_info.json (relation id -> name).")
flags.DEFINE_enum(
  "mentions", "closest", ["closest", "first", "all"], "DocRED only: which mentions of two entities a relation joins."
)
flags.DEFINE_bool("raw_entity_types", False, "DocRED only: keep PER, ORG, ... instead of person, organization, ...")
flags.mark_flags_as_required(["format", "input", "output"])


def main(argv):
  del argv
  from gliner_jax.data.relation_formats import convert_relation_file, write_relex_json

  f = flags.FLAGS
  records, stats = convert_relation_file(
    f.input,
    f.format,
    types_path=f.types,
    rel_info_path=f.rel_info,
    entity_names={} if f.raw_entity_types else None,
    mentions=f.mentions,
  )
  write_relex_json(records, f.output)
  print(
    f"{f.input} -> {f.output}: {stats.records} records, {stats.entities} entities, "
    f"{stats.relations_in} relations read, {stats.relations_out} written"
  )


if __name__ == "__main__":
  app.run(main)
