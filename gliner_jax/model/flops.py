"""Analytic forward FLOP counts of the GLiNER span model, and XLA's own count for comparison.

The encoder count is the plain transformer's plus each family's own terms (`EncoderFamily.flops`:
gated feed-forwards, DeBERTa's relative positions). A multiply-add counts as 2 FLOPs. Only the matrix
products are counted (dense layers, attention scores and context, the span x type scores): embedding look-ups,
layer norms, activations, softmax and other elementwise work are left out, as is usual for MFU. The counts follow
the computation as `gliner_jax` writes it, on the shapes given (pass padded sizes to count what the device runs):

- DeBERTa's c2p / p2c terms score each query (key) against all `2 * relative_span` relative
  embeddings and gather afterwards, and project the relative table once per layer per batch;
- the "reference" span head runs the out-projection FFN on every (start, width) span, the "factored"
  head runs its first layer once per word and folds its last layer into the type vectors.

Example (the bundled default model's shapes; nothing is run):
  >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
  >>> config = GLiNERConfig.load(DEFAULT_MODEL)
  >>> f = model_flops(config, num_tokens=64, num_words=40, num_types=5)
  >>> f.total, f.head.total
  (1775668992, 378965760)
  >>> train_step_flops(f.total)   # forward + backward, for MFU
  5327006976
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from gliner_jax.model.config import GLiNERConfig
from gliner_jax.model.encoders.config import EncoderConfig
from gliner_jax.model.encoders.families import get_family

SPAN_HEAD_IMPLS = ("reference", "factored")


def _total(obj) -> int:
  return int(sum(getattr(obj, f.name) for f in dataclasses.fields(obj)))


@dataclasses.dataclass(frozen=True)
class EncoderFlops:
  """Forward FLOPs of the transformer encoder, summed over layers and the batch."""

  qkv_projections: int
  attention_scores: int  # content-to-content q.k
  relative_position: int  # DeBERTa c2p + p2c scores and the relative table projections
  attention_context: int
  attention_output: int
  ffn: int
  other: int  # DeBERTa embed_proj and conv layer

  @property
  def total(self) -> int:
    return _total(self)


@dataclasses.dataclass(frozen=True)
class HeadFlops:
  """Forward FLOPs of everything after the encoder, summed over the batch."""

  projection: int  # encoder width -> hidden_size, on every token
  rnn: int  # BiLSTM input and recurrent products
  span_endpoints: int  # project_start + project_end FFNs
  span_out_projection: int  # out-projection FFN: per span (reference) or per word + folded (factored)
  prompt: int  # prompt (type) FFN
  scores: int  # span representation x type vector

  @property
  def total(self) -> int:
    return _total(self)


@dataclasses.dataclass(frozen=True)
class ModelFlops:
  """Forward FLOPs of the whole model for a batch of `batch_size` texts of `num_words` words."""

  encoder: EncoderFlops
  head: HeadFlops
  batch_size: int
  num_words: int

  @property
  def total(self) -> int:
    return self.encoder.total + self.head.total

  @property
  def per_word(self) -> float:
    return self.total / max(self.batch_size * self.num_words, 1)


def _check_positive(**values: int) -> None:
  for name, v in values.items():
    if int(v) < 1:
      raise ValueError(f"{name} must be a positive integer, got {v!r}")


def encoder_flops(config: EncoderConfig, num_tokens: int, batch_size: int = 1) -> EncoderFlops:
  """Forward FLOPs of the encoder on `batch_size` sequences of `num_tokens` tokens: the plain transformer's
  matrix products plus the family's terms (`gliner_jax.model.encoders.families.FlopTerms`).

  Example:
    >>> from gliner_jax.model.encoders.config import EncoderConfig
    >>> minilm = EncoderConfig(model_type="bert", vocab_size=30522, hidden_size=384, num_hidden_layers=6,
    ...                        num_attention_heads=12, intermediate_size=1536)
    >>> encoder_flops(minilm, num_tokens=128).total   # 6 layers of 384 wide
    2868903936
  """
  _check_positive(num_tokens=num_tokens, batch_size=batch_size)
  n, t, layers = batch_size, num_tokens, config.num_hidden_layers
  d, a, i = config.hidden_size, config.all_head_size, config.intermediate_size
  family = get_family(config.model_type).flops(config, batch_size, num_tokens)
  return EncoderFlops(
    qkv_projections=layers * 3 * 2 * n * t * d * a,
    attention_scores=layers * 2 * n * t * t * a,
    relative_position=family.relative_position,
    attention_context=layers * 2 * n * t * t * a,
    attention_output=layers * 2 * n * t * a * d,
    ffn=layers * family.ffn_matrices * 2 * n * t * d * i,
    other=family.other,
  )


def default_num_tokens(num_words: int, num_types: int) -> int:
  """Rough prompt length when no tokenization is at hand: one token per word and per type,
  an `<<ENT>>` per type, `<<SEP>>` and the two backbone special tokens."""
  return num_words + 2 * num_types + 3


def head_flops(
  config: GLiNERConfig,
  num_words: int,
  num_types: int,
  impl: str = "factored",
  *,
  num_tokens: int | None = None,
  batch_size: int = 1,
) -> HeadFlops:
  """Forward FLOPs of the GLiNER head (projection, BiLSTM, span head, prompt FFN, scores).

  `num_tokens` (default `default_num_tokens`) only matters for the projection layer, which runs on
  every token when the encoder width differs from `hidden_size`.

  Example:
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> config = GLiNERConfig.load(DEFAULT_MODEL)
    >>> ref = head_flops(config, num_words=100, num_types=5, impl="reference")
    >>> fac = head_flops(config, num_words=100, num_types=5, impl="factored")
    >>> round(fac.total / ref.total, 3)
    0.187
  """
  if impl not in SPAN_HEAD_IMPLS:
    raise ValueError(f"unknown span head impl {impl!r}; use one of {SPAN_HEAD_IMPLS}")
  _check_positive(num_words=num_words, num_types=num_types, batch_size=batch_size)
  if num_tokens is None:
    num_tokens = default_num_tokens(num_words, num_types)
  _check_positive(num_tokens=num_tokens)
  n, w, c, k, d = batch_size, num_words, num_types, config.max_width, config.hidden_size
  ffn = lambda rows, d_in, d_out: 2 * rows * (d_in * 4 * d_out + 4 * d_out * d_out)
  projection = 2 * n * num_tokens * config.encoder.hidden_size * d if config.needs_projection else 0
  rnn = 0
  if config.num_rnn_layers:
    h = d // 2
    rnn = 2 * (2 * n * w * d * 4 * h + 2 * n * w * h * 4 * h)  # both directions: input + recurrent
  if impl == "reference":
    out_projection = ffn(n * w * k, 2 * d, d)
    scores = 2 * n * w * k * c * d
  else:
    out_projection = 2 * 2 * n * w * d * 4 * d + 2 * n * c * 4 * d * d + 2 * n * c * d  # per word + fold
    scores = 2 * n * w * k * c * 4 * d
  return HeadFlops(
    projection=projection,
    rnn=rnn,
    span_endpoints=2 * ffn(n * w, d, d),
    span_out_projection=out_projection,
    prompt=ffn(n * c, d, d),
    scores=scores,
  )


def model_flops(
  config: GLiNERConfig, num_tokens: int, num_words: int, num_types: int, impl: str = "factored", batch_size: int = 1
) -> ModelFlops:
  """Forward FLOPs of the whole span model: encoder on `num_tokens` tokens, head on the words/types.

  Example:
    >>> from gliner_jax import DEFAULT_MODEL, GLiNERConfig
    >>> model_flops(GLiNERConfig.load(DEFAULT_MODEL), num_tokens=160, num_words=120, num_types=5).per_word
    39456800.0
  """
  return ModelFlops(
    encoder=encoder_flops(config.encoder, num_tokens, batch_size),
    head=head_flops(config, num_words, num_types, impl, num_tokens=num_tokens, batch_size=batch_size),
    batch_size=batch_size,
    num_words=num_words,
  )


def train_step_flops(forward_flops: float) -> float:
  """FLOPs of one training step (forward + backward ~ 3 x forward), the usual MFU numerator.

  Example:
    >>> train_step_flops(1e9)
    3000000000.0
    >>> mfu = train_step_flops(model_flops(cfg, 256, 200, 25, batch_size=8).total) / step_s / peak  # doctest: +SKIP
  """
  return 3 * forward_flops


def xla_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
  """FLOPs XLA's cost analysis reports for `jax.jit(fn)(*args, **kwargs)` (compiles, does not run).

  XLA also counts elementwise ops (about one FLOP per element per op), so on tiny models its count
  is above the analytic one, which counts matrix products only.

  Example:
    >>> import jax.numpy as jnp
    >>> xla_flops(lambda x: x @ x, jnp.ones((64, 64)))
    524288.0
  """
  import jax

  analysis = jax.jit(fn).lower(*args, **kwargs).compile().cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older jax returns one dict per device program
    analysis = analysis[0]
  if not analysis or "flops" not in analysis:
    raise ValueError("XLA's cost analysis reported no 'flops' for this backend")
  return float(analysis["flops"])
