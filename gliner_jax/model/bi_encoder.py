"""The GLiNER bi-encoder span model (gliner 0.2.29's `BiEncoderSpanModel`): types are read by a second encoder.

The text encoder reads the words alone, with no `<<ENT>> type ... <<SEP>>` prompt; each entity type is
read on its own by the labels encoder, whose token vectors (projected to `hidden_size` when the widths
differ) are mean-pooled over the label's tokens. The pooled label vector goes through the prompt FFN and
is scored against every span by the span head of `gliner_jax.model.span_model` (markerV0 or marker). As
in gliner, the words are not passed through a BiLSTM (gliner builds one but never applies it), and one
label set is shared by every text of a batch.

Inputs:
  input_ids, attention_mask            [B, T]       the text's subtokens (the backbone's own specials around)
  word_token_index, num_words          [B, W], [B]  as for the uni-encoder
  labels_input_ids, labels_attention_mask  [C, L] or [B, C / B, L]  one tokenized label per row; the
                                       second layout is the training batch's, so the batch sharding also
                                       splits the labels over devices. A row with no token is padding.

Because a label's vector does not depend on the text, labels can be encoded once (`encode_labels`) and
reused; `word_features` / `type_features` / `span_chunk_logits` split the model into a text-only part
(encoder and the span head's word side, once per text), a label-only part (the prompt FFN and the span
head's type side, once per label) and their product (once per text and label chunk), in the cheaper of two
`FORMS` for the number of labels: that is how `gliner_jax.inference.bi_encoder` scores thousands of labels.

Example:
  >>> import jax
  >>> from gliner_jax.model.config import GLiNERConfig
  >>> from gliner_jax.model.encoders.config import EncoderConfig
  >>> enc = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32, num_hidden_layers=1,
  ...                     num_attention_heads=2, intermediate_size=64)   # a test-size backbone
  >>> config = GLiNERConfig(encoder=enc, hidden_size=32, max_width=4, labels_encoder=enc, num_rnn_layers=0)
  >>> from gliner_jax.model.kinds import bi_encoder_dummy_batch
  >>> batch = bi_encoder_dummy_batch(2, tokens=8, words=5, label_tokens=4)   # one label per row: C = 2
  >>> model = GLiNERBiEncoderModel(config)                         # config.labels_encoder is set
  >>> params = model.init(jax.random.key(0), **batch)["params"]
  >>> out = model.apply({"params": params}, **batch)              # SpanModelOutput
  >>> out.logits.shape                                            # [B, W, K, C]
  (2, 5, 4, 2)
  >>> ids, mask = batch["labels_input_ids"][0], batch["labels_attention_mask"][0]   # [C, L] of one label
  >>> model.apply({"params": params}, ids, mask, method="encode_labels").shape   # [C, hidden_size]
  (1, 32)
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders import build_encoder
from gliner_jax.model.layers import ProjectionFFN, SplitDense, dense
from gliner_jax.model.span_model import SPAN_HEADS, SpanModelOutput, gather_rows, span_end_windows

Dtype = Any
BI_ENCODER_INPUTS = (
  "input_ids",
  "attention_mask",
  "word_token_index",
  "num_words",
  "labels_input_ids",
  "labels_attention_mask",
)


def mean_pool(tokens: jax.Array, mask: jax.Array) -> jax.Array:
  """Average of tokens[N, L, D] over the positions where mask[N, L] is set (a row with none gives 0).

  Example:
    >>> mean_pool(jnp.ones((2, 3, 4)), jnp.array([[1, 1, 0], [0, 0, 0]]))[:, 0]
    Array([1., 0.], dtype=float32)
  """
  weights = mask.astype(tokens.dtype)[..., None]
  return (tokens * weights).sum(axis=1) / jnp.maximum(weights.sum(axis=1), 1e-9)


def flat_labels(labels_input_ids: jax.Array, labels_attention_mask: jax.Array) -> tuple[jax.Array, jax.Array]:
  """[C, L] or [B, C / B, L] label inputs as [C, L] (see the module docstring)."""
  if labels_input_ids.shape != labels_attention_mask.shape or labels_input_ids.ndim not in (2, 3):
    raise ValueError(
      f"labels_input_ids {labels_input_ids.shape} and labels_attention_mask {labels_attention_mask.shape} "
      "must both be [labels, tokens] or [batch, labels per row, tokens]"
    )
  length = labels_input_ids.shape[-1]
  return labels_input_ids.reshape(-1, length), labels_attention_mask.reshape(-1, length)


class BiEncoderRepresentations(nn.Module):
  """The two encoders of a bi-encoder and what they give: word vectors (`encode_text`) and label vectors
  (`encode_labels`); parameters "encoder", "projection" (when the text encoder's width is not
  `hidden_size`), "labels_encoder", "labels_projection" (likewise). The span bi-encoder
  (`GLiNERBiEncoderModel`) and the token bi-encoder (`gliner_jax.model.bi_encoder_token`) add their scorer.

  Example (not run here: it needs an initialised bi-encoder's params, as the module example builds):
    >>> model = GLiNERBiEncoderModel(config)  # doctest: +SKIP
    >>> words = model.apply({"params": params}, ids, mask, index, method="encode_text")  # doctest: +SKIP
  """

  config: GLiNERConfig
  dtype: Dtype = jnp.float32

  def setup(self):
    cfg = self.config
    if not cfg.is_bi_encoder:
      raise ValueError(f"{type(self).__name__} needs config.labels_encoder; uni-encoders have one encoder")
    self.encoder = build_encoder(cfg.encoder, dtype=self.dtype)
    if cfg.needs_projection:
      self.projection = dense(cfg.hidden_size, ("embed", "mlp"), name="projection", dtype=self.dtype)
    self.labels_encoder = build_encoder(cfg.labels_encoder, dtype=self.dtype)
    if cfg.needs_labels_projection:
      self.labels_projection = dense(cfg.hidden_size, ("embed", "mlp"), name="labels_projection", dtype=self.dtype)

  def encode_text(
    self, input_ids, attention_mask, word_token_index, *, segment_ids=None, deterministic: bool = True
  ) -> jax.Array:
    """Word vectors [B, W, hidden_size]: each word's first subtoken, from the text read without a prompt.
    With `segment_ids`, the texts are packed (`gliner_jax.model.span_model`'s packed inputs)."""
    tokens = self.encoder(input_ids, attention_mask, segment_ids=segment_ids, deterministic=deterministic)
    if self.config.needs_projection:
      tokens = self.projection(tokens)
    return gather_rows(tokens.astype(self.dtype), word_token_index, segment_ids is not None)

  def encode_labels(self, labels_input_ids, labels_attention_mask, *, deterministic: bool = True) -> jax.Array:
    """Label vectors [C, hidden_size] (before any scorer), as gliner's `encode_labels`: the labels
    encoder's token vectors, projected, then averaged over each label's tokens."""
    ids, mask = flat_labels(jnp.asarray(labels_input_ids), jnp.asarray(labels_attention_mask))
    tokens = self.labels_encoder(ids, mask, deterministic=deterministic)
    if self.config.needs_labels_projection:
      tokens = self.labels_projection(tokens)
    return mean_pool(tokens.astype(jnp.float32), mask).astype(self.dtype)

  def present_label_vectors(
    self, labels_input_ids, labels_attention_mask, *, deterministic: bool = True
  ) -> tuple[jax.Array, jax.Array]:
    """(label vectors [C, hidden_size] with padding rows zeroed, present [C]): rows without tokens are padding."""
    _, label_mask = flat_labels(jnp.asarray(labels_input_ids), jnp.asarray(labels_attention_mask))
    present = label_mask.astype(bool).any(axis=-1)
    vectors = self.encode_labels(labels_input_ids, labels_attention_mask, deterministic=deterministic)
    return jnp.where(present[:, None], vectors, jnp.zeros((), vectors.dtype)), present


class GLiNERBiEncoderModel(BiEncoderRepresentations):
  """The whole bi-encoder span model: `BiEncoderRepresentations`' parameters, "prompt_head" and "span_head".

  Example (not run here: the module example initialises and runs one):
    >>> out = GLiNERBiEncoderModel(config).apply({"params": params}, **batch)  # doctest: +SKIP
  """

  span_head_impl: str = "factored"

  def setup(self):
    cfg = self.config
    if cfg.span_mode not in SPAN_HEADS:
      raise ValueError(f"span_mode={cfg.span_mode!r}: bi-encoders have the span heads {sorted(SPAN_HEADS)}")
    super().setup()
    self.prompt_head = ProjectionFFN(cfg.hidden_size, cfg.dropout, self.dtype)
    head = SPAN_HEADS[cfg.span_mode]
    self.span_head = head(cfg.hidden_size, cfg.max_width, cfg.dropout, self.dtype, self.span_head_impl)

  def type_vectors(self, label_vectors, *, deterministic: bool = True) -> jax.Array:
    """The prompt FFN on label vectors [..., hidden_size]: what the span head scores spans against."""
    return self.prompt_head(label_vectors, deterministic=deterministic)

  def word_features(
    self, input_ids, attention_mask, word_token_index, form: str = "factored", segment_ids=None
  ) -> tuple[jax.Array, ...]:
    """The text's share of the span logits (inference): `span_word_features` of its word vectors."""
    words = self.encode_text(input_ids, attention_mask, word_token_index, segment_ids=segment_ids)
    return span_word_features(self.config, self.variables["params"]["span_head"], words, self.dtype, form)

  def type_features(self, label_vectors, form: str = "factored") -> tuple[jax.Array, ...]:
    """The labels' share of the span logits (inference): `span_type_features` of their type vectors."""
    types = self.type_vectors(label_vectors)
    return span_type_features(self.config, self.variables["params"]["span_head"], types, self.dtype, form)

  def __call__(
    self,
    input_ids,
    attention_mask,
    word_token_index,
    num_words,
    labels_input_ids,
    labels_attention_mask,
    *,
    deterministic: bool = True,
  ) -> SpanModelOutput:
    cfg = self.config
    words = self.encode_text(input_ids, attention_mask, word_token_index, deterministic=deterministic)
    vectors, present = self.present_label_vectors(labels_input_ids, labels_attention_mask, deterministic=deterministic)
    types = self.type_vectors(vectors, deterministic=deterministic)
    batch = words.shape[0]
    types = jnp.broadcast_to(types[None], (batch,) + types.shape)
    logits = self.span_head(words, types, deterministic=deterministic)
    ends = jnp.arange(word_token_index.shape[1])[:, None] + jnp.arange(cfg.max_width)[None, :]
    span_mask = ends[None] < num_words[:, None, None]
    type_mask = jnp.broadcast_to(present[None], (batch, present.shape[0]))
    return SpanModelOutput(logits=logits.astype(jnp.float32), span_mask=span_mask, type_mask=type_mask)


# --------------------------------------------------------------------- the span head in three parts
# How a chunk of labels meets the text. "factored": markerV0's last layer folded into the types (cost per span
# and label 4 * hidden_size: best for few labels); "spans": the span vectors built once per text (a fixed
# cost of 4 * hidden_size^2 per span), then one dot product per span and label. marker has one form.
FORMS = ("factored", "spans")


def scoring_form(config: GLiNERConfig, num_labels: int) -> str:
  """The cheaper form for `num_labels` labels: "spans" once 4 x hidden + labels <= 4 x labels (markerV0 only).

  Example:
    >>> from gliner_jax import DEFAULT_MODEL
    >>> config = GLiNERConfig.load(DEFAULT_MODEL)
    >>> config.hidden_size, scoring_form(config, 10), scoring_form(config, 5000)
    (384, 'factored', 'spans')
  """
  if config.span_mode != "markerV0":
    return "factored"
  return "spans" if 3 * num_labels >= 4 * config.hidden_size else "factored"


def _ffn(params: Mapping[str, Any], x: jax.Array, d: int, expansion: int, dtype: Dtype) -> jax.Array:
  module = ProjectionFFN(d, 0.0, dtype, expansion=expansion, parent=None)
  return module.apply({"params": params}, x)


def _check_form(config: GLiNERConfig, form: str) -> None:
  if form not in FORMS or (form == "spans" and config.span_mode != "markerV0"):
    raise ValueError(f"form={form!r}: markerV0 scores in {FORMS}, marker in 'factored'")


def span_word_features(
  config: GLiNERConfig,
  head_params: Mapping[str, Any],
  words: jax.Array,
  dtype: Dtype = jnp.float32,
  form: str = "factored",
) -> tuple[jax.Array, ...]:
  """The word-only part of the span head (`params["span_head"]`), deterministic (inference).

  markerV0 "factored": (from_start, from_end) [B, W, 4 * hidden], the endpoint FFNs times the first
  out-projection layer's rows (its bias on from_start), as the head's factored implementation; "spans":
  (span vectors [B, W, K, hidden],), the whole out-projection. marker: (from_start, from_end) [B, W, hidden].

  Example (not run here: a bi-encoder's params and word vectors; gliner_jax.inference.bi_encoder calls it):
    >>> feats = span_word_features(config, params["span_head"], words, form="spans")  # doctest: +SKIP
  """
  _check_form(config, form)
  d = config.hidden_size
  p = nn.meta.unbox(head_params)
  expansion = 2 if config.span_mode == "marker" else 4
  start = nn.relu(_ffn(p["project_start"], words, d, expansion, dtype))
  end = nn.relu(_ffn(p["project_end"], words, d, expansion, dtype))
  if config.span_mode == "marker":
    out = SplitDense(d, (d, d), ("mlp", "embed"), dtype, parent=None)
    from_start, from_end = out.apply({"params": p["out_project"]}, (start, end), method="terms")
    return from_start, from_end
  w_in = p["out_dense_in"]["kernel"].astype(dtype)
  from_start = start @ w_in[:d] + p["out_dense_in"]["bias"].astype(dtype)
  from_end = end @ w_in[d:]
  if form == "factored":
    return from_start, from_end
  h = nn.relu(from_start[:, :, None, :] + span_end_windows(from_end, config.max_width))
  out = p["out_dense_out"]
  return (h @ out["kernel"].astype(dtype) + out["bias"].astype(dtype),)


def span_type_features(
  config: GLiNERConfig,
  head_params: Mapping[str, Any],
  types: jax.Array,
  dtype: Dtype = jnp.float32,
  form: str = "factored",
) -> tuple[jax.Array, ...]:
  """The type-only part of the span head for type vectors [C, hidden_size] (after the prompt FFN).

  markerV0 "factored": (the last out-projection layer folded into the types [C, 4 * hidden], its bias
  [C]); "spans" and marker: (the types themselves,).

  Example (not run here: a bi-encoder's params and label vectors; gliner_jax.inference.bi_encoder calls it):
    >>> feats = span_type_features(config, params["span_head"], types)  # doctest: +SKIP
  """
  _check_form(config, form)
  types = types.astype(dtype)
  if config.span_mode == "marker" or form == "spans":
    return (types,)
  p = nn.meta.unbox(head_params)["out_dense_out"]
  folded = jnp.einsum("cd,fd->cf", types, p["kernel"].astype(dtype))
  return folded, types @ p["bias"].astype(dtype)


def span_chunk_logits(
  config: GLiNERConfig, word_features: tuple[jax.Array, ...], type_features: tuple[jax.Array, ...]
) -> jax.Array:
  """Span x type logits [B, W, K, C] (float32) from `span_word_features` and `span_type_features` of one form.

  Example (not run here: the two features above; gliner_jax.inference.bi_encoder calls it):
    >>> logits = span_chunk_logits(config, word_feats, type_feats)  # doctest: +SKIP
  """
  k = config.max_width
  if config.span_mode == "marker":
    (from_start, from_end), (types,) = word_features, type_features
    start_scores = jnp.einsum("bwd,cd->bwc", from_start, types)
    end_scores = jnp.einsum("bwd,cd->bwc", from_end, types)
    return (start_scores[:, :, None, :] + span_end_windows(end_scores, k)).astype(jnp.float32)
  if len(word_features) == 1:  # "spans"
    (spans,), (types,) = word_features, type_features
    return jnp.einsum("bwkd,cd->bwkc", spans, types).astype(jnp.float32)
  (from_start, from_end), (folded, bias) = word_features, type_features
  h = nn.relu(from_start[:, :, None, :] + span_end_windows(from_end, k))
  return (jnp.einsum("bwkf,cf->bwkc", h, folded) + bias).astype(jnp.float32)
