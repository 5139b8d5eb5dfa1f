"""Model kinds (`gliner_jax.model.kinds` and the inference / training registries): every kind is recognised
from its config, has a predictor and training parts, and its predictor answers every `GLiNER` method with
the same signature. A tiny random model of each kind warms up (packed too), predicts the same entities
packed and unpacked, and saves and loads back as the same class with the same entities. Relex kinds read one
text per row: they refuse packing, and their entities are those of `predict_relations` with no relation labels.
"""

from __future__ import annotations

import inspect

import flax.linen as nn
import jax
import ml_collections
import numpy as np
import pytest

from gliner_jax import DEFAULT_MODEL
from gliner_jax.inference.api import (
  BiEncoderGLiNER,
  BiEncoderTokenGLiNER,
  GLiNER,
  RelexGLiNER,
  make_predictor,
  predictor_class,
)
from gliner_jax.inference.kinds import PREDICTORS, register_predictor
from gliner_jax.model.bi_encoder import GLiNERBiEncoderModel
from gliner_jax.model.bi_encoder_token import GLiNERBiEncoderTokenModel
from gliner_jax.model.kinds import KINDS, ModelKind, kind_of, make_model, register_kind
from gliner_jax.model.relex.span_relex import RelexConfig, SpanRelexModel
from gliner_jax.model.relex.token_relex import TokenRelexModel
from gliner_jax.model.span_model import GLiNERSpanModel
from gliner_jax.model.token_model import GLiNERTokenModel
from gliner_jax.training.kinds import TRAINING, training_kind
from gliner_jax.training.model_init import starting_point

TEXTS = [
  "Ada Lovelace was born in London and worked with Charles Babbage.",
  "Paris is the capital of France.",
  "Google hired Ada in 2020 to work on JAX at Google DeepMind in London.",
]
LABELS = ["person", "city", "organization", "date"]
ENCODER = dict(
  model_type="bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=1
)
KIND_SECTIONS = {
  "span": dict(span_mode="markerV0"),
  "token": dict(span_mode="token_level"),
  "bi_encoder": dict(span_mode="markerV0", num_rnn_layers=0, labels_encoder_shape=dict(ENCODER, hidden_size=24)),
  "bi_encoder_token": dict(
    span_mode="token_level", num_rnn_layers=0, labels_encoder_shape=dict(ENCODER, hidden_size=24)
  ),
  "span_relex": dict(span_mode="markerV0", relations_layer="dot"),
  "token_relex": dict(span_mode="token_level", relations_layer="mlp"),
}
MODULES = {
  "span": GLiNERSpanModel,
  "token": GLiNERTokenModel,
  "bi_encoder": GLiNERBiEncoderModel,
  "bi_encoder_token": GLiNERBiEncoderTokenModel,
  "span_relex": SpanRelexModel,
  "token_relex": TokenRelexModel,
}
CLASSES = {
  "span": GLiNER,
  "token": GLiNER,
  "bi_encoder": BiEncoderGLiNER,
  "bi_encoder_token": BiEncoderTokenGLiNER,
  "span_relex": RelexGLiNER,
  "token_relex": RelexGLiNER,
}
BI_ENCODERS = ("bi_encoder", "bi_encoder_token")
RELEX = ("span_relex", "token_relex")
REFERENCE_MODEL_TYPES = {  # gliner 0.2.29's model_type of each kind
  "span": "gliner_uni_encoder_span",
  "token": "gliner_uni_encoder_token",
  "bi_encoder": "gliner_bi_encoder_span",
  "bi_encoder_token": "gliner_bi_encoder_token",
  "span_relex": "gliner_uni_encoder_span_relex",
  "token_relex": "gliner_uni_encoder_token_relex",
}


def model_section(kind: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
    dict(
      init="random",
      tokenizer=DEFAULT_MODEL,
      encoder=ENCODER,
      hidden_size=32,
      max_width=4,
      max_len=24,
      max_types=3,  # 4 labels: two label groups for the uni-encoders
      dropout=0.0,
      **KIND_SECTIONS[kind],
    )
  )


@pytest.fixture(
  scope="module",
  # every kind is slow (each builds and compiles a tiny model, 15-30 s): the fast tier keeps this file's registry and
  # signature tests, and each kind's own predictions and save / load: test_inference.py and test_checkpoint.py
  # (span), test_bi_encoder.py (bi_encoder), test_span_modes.py (token), test_bi_encoder_token.py (its logits)
  params=[pytest.param(k, marks=pytest.mark.slow) for k in sorted(KIND_SECTIONS)],
)
def tiny(request):
  """(kind name, a predictor of a tiny random model of that kind)."""
  start = starting_point(model_section(request.param))
  kind = kind_of(start.config)
  params = nn.meta.unbox(make_model(start.config).init(jax.random.key(0), **kind.dummy_batch(1))["params"])
  model = make_predictor(
    start.config, params, start.tokenizer, labels_tokenizer=start.labels_tokenizer, compilation_cache=False
  )
  return request.param, model


def entity_tuples(rows):
  return [[(e.start, e.end, e.label, round(e.score, 4)) for e in row] for row in rows]


def assert_same_entities(got, want):
  """The same spans and labels, scores within 1e-5 (a relex row's padding follows the other rows of its batch)."""
  assert [[(e.start, e.end, e.label) for e in row] for row in got] == [
    [(e.start, e.end, e.label) for e in row] for row in want
  ]
  np.testing.assert_allclose([e.score for row in got for e in row], [e.score for row in want for e in row], atol=1e-5)


def test_every_kind_is_recognised_and_registered_in_every_stage():
  assert (
    sorted(KINDS) == sorted(KIND_SECTIONS) == sorted(PREDICTORS) == sorted(TRAINING) == sorted(REFERENCE_MODEL_TYPES)
  )
  for name in KIND_SECTIONS:
    config = starting_point(model_section(name)).config
    assert kind_of(config).name == name
    assert kind_of(config).reference_model_type == REFERENCE_MODEL_TYPES[name]
    assert type(make_model(config)) is MODULES[name]
    assert predictor_class(config) is CLASSES[name]
    assert training_kind(config) is TRAINING[name]
    assert set(kind_of(config).inputs) == set(kind_of(config).dummy_batch(2))


def test_relex_fields_live_in_the_config_and_select_the_relex_kinds():
  start = starting_point(model_section("span_relex"))
  config, tokenizer = start.config, start.tokenizer
  # a new relex model gets the relation token and its id (the default tokenizer holds <<ENT>>, <<SEP>> already)
  assert config.rel_token_index == tokenizer.convert_tokens_to_ids("<<REL>>") == len(tokenizer) - 1
  assert config.class_token_index == tokenizer.convert_tokens_to_ids("<<ENT>>") == len(tokenizer) - 3
  rc = RelexConfig.from_config(config)
  assert rc.base == config and (rc.relations_layer, rc.rel_token_index) == ("dot", config.rel_token_index)
  assert RelexConfig(base=config.replace(relations_layer=None), relations_layer="dot", rel_token_index=7).base == (
    config.replace(rel_token_index=7)
  )
  assert type(config).from_dict(config.to_dict()) == config
  assert kind_of(config.replace(relations_layer=None)).name == "span"
  assert kind_of(config.replace(span_mode="token_level", relations_layer="none")).name == "token_relex"
  with pytest.raises(ValueError, match="relations_layer='rgcn': gliner 0.2.29 defines"):
    config.replace(relations_layer="rgcn")
  with pytest.raises(ValueError, match="triples_layer='TuckER' is not implemented"):
    config.replace(triples_layer="TuckER")
  with pytest.raises(ValueError, match="triples_layer='DistMult' needs a relex model"):
    config.replace(relations_layer=None, triples_layer="DistMult")
  with pytest.raises(ValueError, match="relations_layer=None: it is not a relex model"):
    RelexConfig.from_config(config.replace(relations_layer=None))


def test_registries_refuse_duplicates_and_unknown_kinds():
  with pytest.raises(ValueError, match="already registered"):
    register_kind(ModelKind("span", GLiNERSpanModel, (), lambda b: {}, lambda c: False))
  with pytest.raises(ValueError, match="already has the predictor GLiNER"):
    register_predictor("span", BiEncoderGLiNER)
  with pytest.raises(ValueError, match="unknown model kind 'relex'"):
    register_predictor("relex", GLiNER)


def public_methods(cls) -> dict[str, inspect.Signature]:
  """Each public method's parameters (names, kinds, defaults, annotations); what it returns may be narrower."""
  return {
    name: inspect.signature(member).replace(return_annotation=inspect.Signature.empty)
    for name, member in inspect.getmembers(cls)
    if not name.startswith("_") and callable(member)
  }


def test_every_predictor_answers_every_gliner_method_with_the_same_signature():
  base = public_methods(GLiNER)
  assert {"batch_predict_entities", "predict_entities", "warmup", "save_pretrained", "from_pretrained"} <= set(base)
  for cls in set(PREDICTORS.values()):
    assert issubclass(cls, GLiNER)
    ours = public_methods(cls)
    assert set(base) <= set(ours), cls.__name__  # a kind may add methods (the bi-encoder's label_chunks)
    differ = {name: (base[name], ours[name]) for name in base if ours[name] != base[name]}
    assert not differ, f"{cls.__name__}: {differ}"


def test_a_predictor_refuses_another_kinds_config(tiny):
  name, model = tiny
  other = GLiNER if name in BI_ENCODERS + RELEX else BiEncoderGLiNER
  extra = {} if other is GLiNER else {"labels_tokenizer": model.tokenizer}
  with pytest.raises(ValueError, match=f"does not predict with a '{name}' model"):
    other(model.config, model.params, model.tokenizer, compilation_cache=False, **extra)


def test_warmup_predict_save_and_load_on_every_kind(tiny, tmp_path):
  name, model = tiny
  if name in RELEX:
    with pytest.raises(ValueError, match="packing=True: a relex model reads one text per row"):
      model.warmup(TEXTS, LABELS, batch_size=2, packing=True)
    shapes = model.warmup(TEXTS, LABELS, batch_size=2)
    assert shapes and {type(s).__name__ for s in shapes} == {"RelexShape"}
  else:
    shapes = model.warmup(TEXTS, LABELS, batch_size=2, packing=True)
    assert shapes and all(type(s).__name__ == "PackedShape" for s in shapes)
    assert {type(s).__name__ for s in model.warmup(TEXTS, LABELS, batch_size=2)} == {"BatchShape"}
  # random heads: the highest of these thresholds that some span passes
  threshold, plain = next(
    (t, found)
    for t in (0.5, 0.3, 0.1, 0.03, 0.01)
    if sum(map(len, found := model.batch_predict_entities(TEXTS, LABELS, batch_size=2, threshold=t)))
  )
  if name in RELEX:  # the entities of the relex forward with no relation labels
    with_relations = model.batch_predict_relations(TEXTS, LABELS, [], batch_size=2, threshold=threshold)
    assert entity_tuples(plain) == entity_tuples([entities for entities, _ in with_relations])
    assert all(relations == [] for _, relations in with_relations)
  else:
    packed = model.batch_predict_entities(TEXTS, LABELS, batch_size=2, threshold=threshold, packing=True)
    assert entity_tuples(packed) == entity_tuples(plain)
  assert {e.label for row in plain for e in row} <= set(LABELS)
  one = model.predict_entities(TEXTS[2], LABELS, threshold=threshold)
  if name in RELEX:
    assert_same_entities([one], plain[2:])
  else:
    assert entity_tuples([one]) == entity_tuples(plain[2:])
  folder = str(tmp_path / name)
  model.save_pretrained(folder)
  loaded = GLiNER.from_pretrained(folder, compilation_cache=False)
  assert type(loaded) is CLASSES[name] and kind_of(loaded.config).name == name
  assert entity_tuples(
    loaded.batch_predict_entities(TEXTS, LABELS, batch_size=2, threshold=threshold)
  ) == entity_tuples(plain)
  if name in BI_ENCODERS:
    vectors = model.encode_labels(LABELS)
    assert vectors.shape == (len(LABELS), model.config.hidden_size)
    given = model.batch_predict_entities(TEXTS, LABELS, batch_size=2, threshold=threshold, label_embeddings=vectors)
    assert entity_tuples(given) == entity_tuples(plain)
  else:
    with pytest.raises(ValueError, match="label_embeddings need a bi-encoder"):
      model.batch_predict_entities(TEXTS, LABELS, label_embeddings=np.zeros((len(LABELS), 32), np.float32))
    with pytest.raises(ValueError, match="BiEncoderGLiNER.from_pretrained|load it with (Relex)?GLiNER"):
      BiEncoderGLiNER.from_pretrained(folder, compilation_cache=False)
  if name in RELEX:  # gliner's relex folder too: GLiNER.from_pretrained reads it as a relex model
    gliner_folder = str(tmp_path / f"{name}_gliner")
    model.save_pretrained(gliner_folder, format="gliner")
    again = GLiNER.from_pretrained(gliner_folder, compilation_cache=False)
    assert type(again) is RelexGLiNER and again.config == model.config
    assert_same_entities(again.batch_predict_entities(TEXTS, LABELS, threshold=threshold), plain)
