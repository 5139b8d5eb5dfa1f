"""The GLiNER span models (markerV0, marker): encoder -> words and type vectors -> span x type logits.

Inputs are static-shaped arrays built by `gliner_jax.processing`:
  input_ids, attention_mask  [B, T]   the prompt `<<ENT>> t1 <<ENT>> t2 ... <<SEP>> words` as subtokens
  word_token_index           [B, W]   position of each word's first subtoken (-1: padding/no subtoken)
  num_words                  [B]      words per text
  type_token_index           [B, C]   position of each `<<ENT>>` token (-1: padding)
Packed (inference on short texts, `gliner_jax.processing.packing`): input_ids, attention_mask and
segment_ids are [P, L], P rows each holding several prompt + text sequences (segment ids 1, 2, ...;
0 = padding) that attend only to themselves, and word_token_index / type_token_index index the
flattened P * L tokens; everything after the encoder is per text, as unpacked.

Two implementations of each span head compute the same function:
  "reference": the out-projection runs on every (start, width) span, as gliner 0.2.29 does;
  "factored":  markerV0: the first layer of the out-projection FFN is linear in cat(start, end), so it
               runs once per word and is summed per span, and its last layer is folded into the type
               vectors; marker: the out-projection is one linear layer, so a span's score is a start
               score plus an end score (each word x type) plus a bias score.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.dropout import HashDropout
from gliner_jax.model.encoders import build_encoder
from gliner_jax.model.layers import BiLSTM, ProjectionFFN, SplitDense, dense

Dtype = Any


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SpanModelOutput:
  """logits [B, W, K, C] (float32), span_mask [B, W, K] (span inside the text), type_mask [B, C]."""

  logits: jax.Array
  span_mask: jax.Array
  type_mask: jax.Array


def gather_rows(x: jax.Array, index: jax.Array, packed: bool = False) -> jax.Array:
  """x[B, T, D] gathered at index[B, N] (negative -> zero row); `packed`: index[B', N] into x's B * T rows."""
  if packed:
    flat = x.reshape(-1, x.shape[-1])
    rows = flat[jnp.clip(index, 0, flat.shape[0] - 1)]
  else:
    rows = jnp.take_along_axis(x, jnp.clip(index, 0, x.shape[1] - 1)[..., None], axis=1)
  return jnp.where((index >= 0)[..., None], rows, jnp.zeros((), x.dtype))


def span_end_windows(x: jax.Array, max_width: int) -> jax.Array:
  """x[B, W, F] -> [B, W, K, F] with out[:, i, k] = x[:, i + k] (zero past the end)."""
  padded = jnp.pad(x, ((0, 0), (0, max_width - 1), (0, 0)))
  w = x.shape[1]
  return jnp.stack([padded[:, k : k + w] for k in range(max_width)], axis=2)


class MarkerV0SpanHead(nn.Module):
  """Scores every span (start, width < max_width) against every type vector."""

  hidden_size: int
  max_width: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  impl: str = "factored"

  @nn.compact
  def __call__(self, words: jax.Array, types: jax.Array, *, deterministic: bool = True) -> jax.Array:
    d, k = self.hidden_size, self.max_width
    start = ProjectionFFN(d, self.dropout, self.dtype, name="project_start")(words, deterministic=deterministic)
    end = ProjectionFFN(d, self.dropout, self.dtype, name="project_end")(words, deterministic=deterministic)
    start, end = nn.relu(start), nn.relu(end)
    dense_in = dense(4 * d, ("embed", "mlp"), name="out_dense_in", dtype=self.dtype)
    dense_out = dense(d, ("mlp", "embed"), name="out_dense_out", dtype=self.dtype)
    if self.impl == "reference":
      ends = span_end_windows(end, k)
      starts = jnp.broadcast_to(start[:, :, None, :], ends.shape)
      h = nn.relu(dense_in(jnp.concatenate([starts, ends], axis=-1)))
      h = HashDropout(self.dropout)(h, deterministic=deterministic)
      span_rep = dense_out(h)  # [B, W, K, D]
      return jnp.einsum("bwkd,bcd->bwkc", span_rep, types)
    if self.impl != "factored":
      raise ValueError(f"unknown span head impl {self.impl!r}; use 'factored' or 'reference'")
    if self.is_initializing():  # create the params with their real shapes
      dense_out(dense_in(jnp.concatenate([start, end], axis=-1)))
    p_in = self.variables["params"]["out_dense_in"]
    p_out = self.variables["params"]["out_dense_out"]
    w_in = nn.meta.unbox(p_in["kernel"]).astype(self.dtype)
    w_out = nn.meta.unbox(p_out["kernel"]).astype(self.dtype)
    from_start = start @ w_in[:d] + nn.meta.unbox(p_in["bias"]).astype(self.dtype)
    from_end = end @ w_in[d:]
    h = nn.relu(from_start[:, :, None, :] + span_end_windows(from_end, k))  # [B, W, K, 4D]
    h = HashDropout(self.dropout)(h, deterministic=deterministic)
    folded = jnp.einsum("bcd,fd->bcf", types, w_out)  # the last layer folded into the type vectors
    bias = jnp.einsum("bcd,d->bc", types, nn.meta.unbox(p_out["bias"]).astype(self.dtype))
    return jnp.einsum("bwkf,bcf->bwkc", h, folded) + bias[:, None, None, :]


class MarkerSpanHead(nn.Module):
  """gliner's "marker" head: endpoint FFNs d -> 2d -> d, ReLU on cat(start, end), ONE Linear(2d, d).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> head, words, types = MarkerSpanHead(8, 3), jnp.ones((2, 5, 8)), jnp.ones((2, 4, 8))
    >>> p = head.init(jax.random.key(0), words, types)["params"]
    >>> head.apply({"params": p}, words, types).shape   # [B, W, K, C]
    (2, 5, 3, 4)
  """

  hidden_size: int
  max_width: int
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  impl: str = "factored"

  @nn.compact
  def __call__(self, words: jax.Array, types: jax.Array, *, deterministic: bool = True) -> jax.Array:
    d, k = self.hidden_size, self.max_width
    start, end = (
      nn.relu(ProjectionFFN(d, self.dropout, self.dtype, expansion=2, name=name)(words, deterministic=deterministic))
      for name in ("project_start", "project_end")
    )
    out_project = SplitDense(d, (d, d), ("mlp", "embed"), self.dtype, name="out_project")
    if self.impl == "reference":
      ends = span_end_windows(end, k)
      starts = jnp.broadcast_to(start[:, :, None, :], ends.shape)
      span_rep = out_project(jnp.concatenate([starts, ends], axis=-1))  # [B, W, K, D]
      return jnp.einsum("bwkd,bcd->bwkc", span_rep, types)
    if self.impl != "factored":
      raise ValueError(f"unknown span head impl {self.impl!r}; use 'factored' or 'reference'")
    from_start, from_end = out_project.terms((start, end))  # the bias rides on from_start
    start_scores = jnp.einsum("bwd,bcd->bwc", from_start, types)
    end_scores = jnp.einsum("bwd,bcd->bwc", from_end, types)
    return start_scores[:, :, None, :] + span_end_windows(end_scores, k)


SPAN_HEADS = {"markerV0": MarkerV0SpanHead, "marker": MarkerSpanHead}


def encode_words_and_types(
  cfg: GLiNERConfig,
  dtype: Dtype,
  input_ids,
  attention_mask,
  word_token_index,
  num_words,
  type_token_index,
  *,
  segment_ids=None,
  deterministic: bool,
) -> tuple[jax.Array, jax.Array]:
  """Encoder (+ projection) -> word vectors [B, W, D] (through the BiLSTM) and raw type vectors [B, C, D].

  Called inside a compact `__call__`: its submodules ("encoder", "projection", "rnn") belong to the caller.

  Example (not run here: only a module's compact __call__ can call it; GLiNERSpanModel's example runs it):
    >>> words, types = encode_words_and_types(self.config, self.dtype, **batch, deterministic=True)  # doctest: +SKIP
  """
  encoder = build_encoder(cfg.encoder, dtype=dtype, name="encoder")
  tokens = encoder(input_ids, attention_mask, segment_ids=segment_ids, deterministic=deterministic)
  if cfg.needs_projection:
    tokens = dense(cfg.hidden_size, ("embed", "mlp"), name="projection", dtype=dtype)(tokens)
  tokens = tokens.astype(dtype)
  packed = segment_ids is not None
  words = gather_rows(tokens, word_token_index, packed)
  type_index = type_token_index if cfg.embed_ent_token else jnp.where(type_token_index >= 0, type_token_index + 1, -1)
  types = gather_rows(tokens, type_index, packed)
  if cfg.num_rnn_layers:
    words = BiLSTM(cfg.hidden_size // 2, dtype=dtype, name="rnn")(words, num_words)
  return words, types


class GLiNERSpanModel(nn.Module):
  """The whole GLiNER span model.

  Example:
    >>> import jax
    >>> from gliner_jax.model.config import GLiNERConfig
    >>> from gliner_jax.model.encoders.config import EncoderConfig
    >>> enc = EncoderConfig(model_type="bert", vocab_size=100, hidden_size=32, num_hidden_layers=1,
    ...                     num_attention_heads=2, intermediate_size=64)   # a test-size backbone
    >>> config = GLiNERConfig(encoder=enc, hidden_size=32, max_width=4)
    >>> from gliner_jax.model.kinds import uni_encoder_dummy_batch
    >>> batch = uni_encoder_dummy_batch(2, tokens=8, words=5, types=3)
    >>> model = GLiNERSpanModel(config)
    >>> params = model.init(jax.random.key(0), **batch)["params"]
    >>> out = model.apply({"params": params}, **batch)   # SpanModelOutput
    >>> out.logits.shape, out.span_mask.shape   # [B, W, K, C], [B, W, K]
    ((2, 5, 4, 3), (2, 5, 4))
  """

  config: GLiNERConfig
  dtype: Dtype = jnp.float32
  span_head_impl: str = "factored"

  @nn.compact
  def __call__(
    self,
    input_ids,
    attention_mask,
    word_token_index,
    num_words,
    type_token_index,
    *,
    segment_ids=None,
    deterministic: bool = True,
  ) -> SpanModelOutput:
    cfg = self.config
    if cfg.span_mode not in SPAN_HEADS:
      raise ValueError(
        f"span_mode={cfg.span_mode!r} is not a span head ({sorted(SPAN_HEADS)}); "
        "token_level is gliner_jax.model.token_model.GLiNERTokenModel"
      )
    words, types = encode_words_and_types(
      cfg,
      self.dtype,
      input_ids,
      attention_mask,
      word_token_index,
      num_words,
      type_token_index,
      segment_ids=segment_ids,
      deterministic=deterministic,
    )
    types = ProjectionFFN(cfg.hidden_size, cfg.dropout, self.dtype, name="prompt_head")(
      types, deterministic=deterministic
    )
    head = SPAN_HEADS[cfg.span_mode]
    logits = head(cfg.hidden_size, cfg.max_width, cfg.dropout, self.dtype, self.span_head_impl, name="span_head")(
      words, types, deterministic=deterministic
    )
    w = word_token_index.shape[1]
    ends = jnp.arange(w)[:, None] + jnp.arange(cfg.max_width)[None, :]
    span_mask = ends[None] < num_words[:, None, None]
    return SpanModelOutput(logits=logits.astype(jnp.float32), span_mask=span_mask, type_mask=type_token_index >= 0)
