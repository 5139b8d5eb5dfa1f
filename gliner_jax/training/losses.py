"""Training loss of the GLiNER span model (behavioural parity with gliner 0.2.29).

The span model scores every (span, entity type) pair with one logit and trains each pair as an
independent binary decision. Per element the reference computes a (focal) binary cross-entropy on
`sigmoid(logit)` — or a self-adjusting dice loss — then:

1. optionally drops part of the negative elements at random (`masking` + `negatives`),
2. optionally up-weights positives of wide spans (`span_width_weight`),
3. zeroes padded entity types (`type_mask`, the reference's prompts-embedding mask) and
   invalid / padded spans (`span_mask`),
4. reduces: "sum" over everything, or "mean" = sum / number of valid spans (not span x type pairs).

How this module follows the reference, and where it deliberately differs:

* The reference floors `p` and `1 - p` at `eps=1e-6` before taking logs, so the per-element loss
  saturates at `-log(1e-6) ~= 13.8` and saturated elements get no gradient. We reproduce that
  exactly, but in log space: `max(log_sigmoid(x), log(eps))`, which is accurate where the
  reference's `1 - sigmoid(x)` cancels. `eps=None` removes the floor (plain stable BCE).
* Labels equal to `ignore_index` (-100) contribute nothing, as in the reference element loss.
  The span pipeline itself only produces 0/1 labels; padded spans are excluded by `span_mask`.
* Negative sampling draws from an explicit `jax.random` key (the reference uses torch's global
  RNG), so it is reproducible but not bit-identical to the reference's draws. As in the reference,
  `negatives` has no effect when `masking="none"`.
* `reduction="none"` returns the masked per-element losses (shape of `logits`); the reference
  instead warns and sums. Unknown reductions raise ValueError.
* All arithmetic is float32 whatever the logits dtype (bf16-safe).

Every option is a static Python value; only arrays (and the key) may be traced, so
`jax.jit(functools.partial(span_loss, alpha=0.25, gamma=2.0))` works.

The token model (span_mode "token_level") trains its [B, W, C, 3] start / end / inside logits with
`token_loss`: the same focal BCE per element, masked by valid words x valid types, summed or divided by
the number of valid (word, type) pairs. Its options are the focal ones; the reference token model takes
no masking, dice or span-width options (`token_loss_options` refuses them where they would matter).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp

REDUCTIONS = ("sum", "mean", "none")
MASKINGS = ("none", "global", "label", "span")
LOSS_TYPES = ("focal", "bce", "dice")
IGNORE_INDEX = -100
_DICE_EPS = 1e-6


@dataclasses.dataclass(frozen=True)
class SpanLossConfig:
  """Options of `span_loss`, with the gliner trainer's defaults (note `masking="global"`).

  Example:
    >>> logits, labels = jnp.zeros((1, 2, 1, 1)), jnp.array([1.0, 0.0]).reshape(1, 2, 1, 1)  # p = 0.5 everywhere
    >>> span_mask, type_mask = jnp.ones((1, 2, 1), bool), jnp.ones((1, 1), bool)
    >>> cfg = SpanLossConfig(alpha=0.75, gamma=2.0)  # positive 0.75 * 0.25 * log 2, negative 0.25 * 0.25 * log 2
    >>> round(float(cfg.apply(logits, labels, span_mask, type_mask, key=jax.random.key(0))), 4)
    0.1733
  """

  alpha: float = -1.0
  gamma: float = 0.0
  prob_margin: float = 0.0
  label_smoothing: float = 0.0
  reduction: str = "sum"
  negatives: float = 1.0
  masking: str = "global"
  loss_type: str = "focal"
  span_width_weight: bool = False
  dice_gamma: float = 1.0
  eps: float | None = 1e-6

  def __post_init__(self):
    _validate_options(
      self.alpha,
      self.gamma,
      self.prob_margin,
      self.label_smoothing,
      self.reduction,
      self.negatives,
      self.masking,
      self.loss_type,
      self.dice_gamma,
      self.eps,
    )

  def apply(self, logits, labels, span_mask, type_mask, *, key=None, max_width=None):
    """Calls `span_loss` with these options."""
    return span_loss(logits, labels, span_mask, type_mask, key=key, max_width=max_width, **dataclasses.asdict(self))

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> "SpanLossConfig":
    d = dict(d)
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"unknown SpanLossConfig fields: {unknown}")
    return cls(**d)


def _validate_options(
  alpha, gamma, prob_margin, label_smoothing, reduction, negatives, masking, loss_type, dice_gamma, eps
):
  if reduction not in REDUCTIONS:
    raise ValueError(f"reduction={reduction!r}: expected one of {REDUCTIONS}")
  if masking not in MASKINGS:
    raise ValueError(f"masking={masking!r}: expected one of {MASKINGS}")
  if loss_type not in LOSS_TYPES:
    raise ValueError(f"loss_type={loss_type!r}: expected one of {LOSS_TYPES}")
  if alpha > 1:
    raise ValueError(f"alpha={alpha} must be <= 1 (negative disables alpha weighting)")
  if gamma < 0 or dice_gamma < 0:
    raise ValueError(f"gamma={gamma} and dice_gamma={dice_gamma} must be >= 0")
  if not 0.0 <= label_smoothing <= 1.0:
    raise ValueError(f"label_smoothing={label_smoothing} must lie in [0, 1]")
  if not 0.0 <= prob_margin <= 1.0:
    raise ValueError(f"prob_margin={prob_margin} must lie in [0, 1]")
  if negatives < 0:
    raise ValueError(f"negatives={negatives} must be >= 0 (fraction of negatives kept)")
  if eps is not None and not 0.0 < eps < 1.0:
    raise ValueError(f"eps={eps} must lie in (0, 1), or be None to disable the log floor")


def safe_pow(base: jax.Array, exponent: float) -> jax.Array:
  """`base ** exponent` for base >= 0 whose gradient is 0 (not NaN) where base == 0."""
  positive = base > 0
  safe = jnp.where(positive, base, 1.0)
  return jnp.where(positive, jnp.exp(exponent * jnp.log(safe)), 0.0)


def focal_loss_elements(
  logits: jax.Array,
  targets: jax.Array,
  *,
  alpha: float = -1.0,
  gamma: float = 0.0,
  prob_margin: float = 0.0,
  label_smoothing: float = 0.0,
  eps: float | None = 1e-6,
  ignore_index: int = IGNORE_INDEX,
) -> jax.Array:
  """Unreduced focal binary cross-entropy on sigmoid probabilities (float32, shape of `logits`).

  `alpha < 0` disables the class weighting, `gamma == 0` the focal modulation, so the defaults
  give plain BCE. `prob_margin` lowers the probability used for negatives (hard-negative margin).

  Example:
    >>> focal_loss_elements(jnp.array([0.0]), jnp.array([1.0]))  # -log(0.5)
    Array([0.6931472], dtype=float32)
  """
  x = jnp.asarray(logits, jnp.float32)
  raw = jnp.asarray(targets, jnp.float32)
  valid = (raw != ignore_index).astype(jnp.float32)
  t = raw * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else raw

  log_p = jax.nn.log_sigmoid(x)
  if prob_margin:
    # 1 - clip(p - m, 0, 1) == clip(sigmoid(-x) + m, 0, 1), which is >= m > 0.
    one_minus_pm = jnp.minimum(jax.nn.sigmoid(-x) + prob_margin, 1.0)
    log_one_minus_pm = jnp.log(one_minus_pm)
  else:
    log_one_minus_pm = jax.nn.log_sigmoid(-x)
  if eps is not None:
    floor = math.log(eps)
    log_p = jnp.maximum(log_p, floor)
    log_one_minus_pm = jnp.maximum(log_one_minus_pm, floor)

  loss = -(t * log_p + (1.0 - t) * log_one_minus_pm) * valid

  if gamma > 0:
    # 1 - p_t, written without the cancellation of `1 - (p t + (1 - pm)(1 - t))`.
    pm = jnp.clip(jax.nn.sigmoid(x) - prob_margin, 0.0, 1.0) if prob_margin else jax.nn.sigmoid(x)
    one_minus_pt = t * jax.nn.sigmoid(-x) + (1.0 - t) * pm
    loss = loss * safe_pow(jnp.maximum(one_minus_pt, 0.0), gamma)
  if alpha >= 0:
    loss = loss * (alpha * t + (1.0 - alpha) * (1.0 - t))
  return loss


def dice_loss_elements(
  logits: jax.Array, targets: jax.Array, *, gamma: float = 1.0, ignore_index: int = IGNORE_INDEX
) -> jax.Array:
  """Unreduced self-adjusting dice loss `1 - (2 q y + e) / (q + y + e)`, q = (1-p)^gamma * p.

  Example:
    >>> dice_loss_elements(jnp.array([30.0]), jnp.array([1.0]), gamma=0.0)  # p ~= 1, y = 1
    Array([0.], dtype=float32)
  """
  x = jnp.asarray(logits, jnp.float32)
  raw = jnp.asarray(targets, jnp.float32)
  valid = (raw != ignore_index).astype(jnp.float32)
  y = jnp.maximum(raw, 0.0)
  # (1 - p)^gamma * p evaluated in log space: exp(gamma * log_sigmoid(-x) + log_sigmoid(x)).
  q = jnp.exp(gamma * jax.nn.log_sigmoid(-x) + jax.nn.log_sigmoid(x))
  per = 1.0 - (2.0 * q * y + _DICE_EPS) / (q + y + _DICE_EPS)
  return per * valid


def negative_keep_mask(labels: jax.Array, *, negatives: float, masking: str, key: jax.Array | None) -> jax.Array:
  """0/1 float mask over labels[B, N, C] that keeps each negative candidate with prob `negatives`.

  Candidates: "global" every element with label 0; "label" all elements of entity types with no
  positive span in the example; "span" all elements of spans with no positive type. Positives and
  non-candidates are always kept (1). Each candidate is drawn independently. `negatives >= 1`
  or `masking="none"` keeps everything and needs no key.

  Example:
    >>> labels = jnp.zeros((1, 6, 1)).at[0, 0, 0].set(1.0)  # one positive, five negatives
    >>> m = negative_keep_mask(labels, negatives=0.3, masking="global", key=jax.random.key(0))
    >>> float(m[0, 0, 0]), set(m.ravel().tolist()) <= {0.0, 1.0}  # the positive is always kept
    (1.0, True)
  """
  if masking not in MASKINGS:
    raise ValueError(f"masking={masking!r}: expected one of {MASKINGS}")
  labels = jnp.asarray(labels, jnp.float32)
  if masking == "none" or negatives >= 1.0:
    return jnp.ones(labels.shape, jnp.float32)
  if labels.ndim != 3:
    raise ValueError(f"labels must be [batch, spans, types] for negative masking, got {labels.shape}")
  if key is None:
    raise ValueError(
      f"negative sampling (masking={masking!r}, negatives={negatives}) needs a jax.random key: pass key=..."
    )
  if masking == "global":
    candidate = labels == 0
  elif masking == "label":
    candidate = jnp.broadcast_to((labels.sum(axis=1) == 0)[:, None, :], labels.shape)
  else:
    candidate = jnp.broadcast_to((labels.sum(axis=2) == 0)[:, :, None], labels.shape)
  draw = jax.random.uniform(key, labels.shape) < negatives
  return jnp.where(candidate, draw, True).astype(jnp.float32)


def _check_shapes(logits, labels, span_mask, type_mask):
  if logits.ndim not in (3, 4):
    raise ValueError(
      f"logits must be [batch, spans, types] or [batch, words, max_width, types], got shape {logits.shape}"
    )
  if labels.shape != logits.shape:
    raise ValueError(f"labels shape {labels.shape} != logits shape {logits.shape}")
  if span_mask.shape != logits.shape[:-1]:
    raise ValueError(f"span_mask shape {span_mask.shape} must be logits.shape[:-1] = {logits.shape[:-1]}")
  if type_mask.shape != (logits.shape[0], logits.shape[-1]):
    raise ValueError(
      f"type_mask shape {type_mask.shape} must be (batch, types) = {(logits.shape[0], logits.shape[-1])}"
    )
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    raise ValueError(f"logits must be floating point, got {logits.dtype}")


def span_loss(
  logits: jax.Array,
  labels: jax.Array,
  span_mask: jax.Array,
  type_mask: jax.Array,
  *,
  alpha: float = -1.0,
  gamma: float = 0.0,
  prob_margin: float = 0.0,
  label_smoothing: float = 0.0,
  reduction: str = "sum",
  negatives: float = 1.0,
  masking: str = "global",
  loss_type: str = "focal",
  span_width_weight: bool = False,
  dice_gamma: float = 1.0,
  eps: float | None = 1e-6,
  key: jax.Array | None = None,
  max_width: int | None = None,
) -> jax.Array:
  """GLiNER span-model loss (see the module docstring for the exact semantics).

  Args:
    logits: span x type scores, [B, N, C] or [B, L, K, C] (N = L*K spans, K = max width); any
      float dtype, computed in float32.
    labels: multi-hot 0/1 targets, same shape (`IGNORE_INDEX` entries are ignored).
    span_mask: [B, N] / [B, L, K], nonzero for valid spans.
    type_mask: [B, C], nonzero for real (non-padded) entity types.
    alpha, gamma, prob_margin, label_smoothing: focal BCE options (`focal_loss_elements`).
      loss_type="bce" is focal with alpha/gamma ignored (alpha=-1, gamma=0).
    reduction: "sum", "mean" (divided by the number of valid spans; 0 if there are none) or
      "none" (masked per-element losses, shape of `logits`).
    negatives, masking, key: negative sampling (`negative_keep_mask`).
    loss_type: "focal", "bce" or "dice" (`dice_loss_elements` with `dice_gamma`).
    span_width_weight: scale positive elements of width-k spans (k = 1..K) by 1 + log(k). Needs
      the K axis: 4-D inputs, or 3-D inputs with `max_width` given (N must be L * max_width).
    eps: floor on p and 1-p inside the logs (reference: 1e-6); None for no floor.

  Returns:
    float32 scalar (or per-element array for reduction="none").

  Example:
    >>> logits, labels = jnp.zeros((1, 2, 1, 1)), jnp.array([1.0, 0.0]).reshape(1, 2, 1, 1)  # p = 0.5 everywhere
    >>> span_mask, type_mask = jnp.ones((1, 2, 1), bool), jnp.ones((1, 1), bool)
    >>> round(float(span_loss(logits, labels, span_mask, type_mask)), 4)  # plain BCE: 2 log 2
    1.3863
    >>> loss = span_loss(logits, labels, span_mask, type_mask, alpha=0.75, gamma=2.0,
    ...                  negatives=0.5, masking="global", key=jax.random.key(0))  # focal, half the negatives
  """
  _validate_options(
    alpha, gamma, prob_margin, label_smoothing, reduction, negatives, masking, loss_type, dice_gamma, eps
  )
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  span_mask, type_mask = jnp.asarray(span_mask), jnp.asarray(type_mask)
  _check_shapes(logits, labels, span_mask, type_mask)
  shape = logits.shape
  batch, num_types = shape[0], shape[-1]

  width_weight = None
  if span_width_weight:
    if logits.ndim == 4:
      k = shape[2]
    elif max_width is None:
      raise ValueError("span_width_weight=True with [B, N, C] inputs needs max_width=K")
    elif shape[1] % max_width:
      raise ValueError(f"spans axis {shape[1]} is not a multiple of max_width={max_width}")
    else:
      k = max_width
    width_weight = 1.0 + jnp.log(jnp.arange(1, k + 1, dtype=jnp.float32))

  x = logits.reshape(batch, -1, num_types).astype(jnp.float32)
  y = labels.reshape(batch, -1, num_types).astype(jnp.float32)

  if loss_type == "dice":
    per = dice_loss_elements(x, y, gamma=dice_gamma)
  else:
    if loss_type == "bce":
      alpha, gamma = -1.0, 0.0
    per = focal_loss_elements(
      x, y, alpha=alpha, gamma=gamma, prob_margin=prob_margin, label_smoothing=label_smoothing, eps=eps
    )
  per = per * negative_keep_mask(y, negatives=negatives, masking=masking, key=key)

  if width_weight is not None:
    w = jnp.tile(width_weight, y.shape[1] // width_weight.shape[0])[None, :, None]
    per = per * (1.0 + (w - 1.0) * jnp.maximum(y, 0.0))

  valid_spans = (span_mask.reshape(batch, -1) != 0).astype(jnp.float32)
  valid_types = (type_mask != 0).astype(jnp.float32)
  per = per * valid_types[:, None, :] * valid_spans[:, :, None]

  if reduction == "none":
    return per.reshape(shape)
  total = per.sum()
  if reduction == "sum":
    return total
  num_valid = valid_spans.sum()
  return jnp.where(num_valid > 0, total / jnp.maximum(num_valid, 1.0), 0.0)


TOKEN_LOSS_OPTIONS = ("alpha", "gamma", "prob_margin", "label_smoothing", "reduction", "eps")


def token_loss(
  logits: jax.Array,
  labels: jax.Array,
  word_mask: jax.Array,
  type_mask: jax.Array,
  *,
  alpha: float = -1.0,
  gamma: float = 0.0,
  prob_margin: float = 0.0,
  label_smoothing: float = 0.0,
  reduction: str = "sum",
  eps: float | None = 1e-6,
) -> jax.Array:
  """gliner 0.2.29's token-model loss on start / end / inside logits.

  Args:
    logits: [B, W, C, 3] scores (any float dtype, computed in float32).
    labels: 0/1 targets of the same shape (`IGNORE_INDEX` entries are ignored).
    word_mask: [B, W], nonzero for words inside the text.
    type_mask: [B, C], nonzero for real entity types.
    alpha, gamma, prob_margin, label_smoothing, eps: as `focal_loss_elements`.
    reduction: "sum"; "mean" = sum / number of valid (word, type) pairs (0 if none), as the reference;
      "none": the masked per-element losses [B, W, C, 3].

  Example:
    >>> logits = jnp.zeros((1, 2, 1, 3))  # two words, one type: p = 0.5 for start, end and inside
    >>> labels = jnp.zeros((1, 2, 1, 3)).at[0, 0, 0].set(1.0)  # word 0 starts an entity
    >>> word_mask, type_mask = jnp.array([[True, False]]), jnp.ones((1, 1), bool)  # word 1 is padding
    >>> round(float(token_loss(logits, labels, word_mask, type_mask)), 4)  # 3 elements of word 0: 3 log 2
    2.0794
  """
  _validate_options(alpha, gamma, prob_margin, label_smoothing, reduction, 1.0, "none", "focal", 1.0, eps)
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  word_mask, type_mask = jnp.asarray(word_mask), jnp.asarray(type_mask)
  if logits.ndim != 4 or logits.shape[-1] != 3:
    raise ValueError(f"logits must be [batch, words, types, 3], got shape {logits.shape}")
  if labels.shape != logits.shape:
    raise ValueError(f"labels shape {labels.shape} != logits shape {logits.shape}")
  if word_mask.shape != logits.shape[:2] or type_mask.shape != (logits.shape[0], logits.shape[2]):
    raise ValueError(
      f"word_mask {word_mask.shape} and type_mask {type_mask.shape} must be {logits.shape[:2]} "
      f"and {(logits.shape[0], logits.shape[2])}"
    )
  per = focal_loss_elements(
    logits, labels, alpha=alpha, gamma=gamma, prob_margin=prob_margin, label_smoothing=label_smoothing, eps=eps
  )
  pairs = (word_mask != 0)[:, :, None] & (type_mask != 0)[:, None, :]
  per = per * pairs[..., None].astype(jnp.float32)
  if reduction == "none":
    return per
  total = per.sum()
  if reduction == "sum":
    return total
  num_valid = pairs.sum().astype(jnp.float32)
  return jnp.where(num_valid > 0, total / jnp.maximum(num_valid, 1.0), 0.0)


def token_loss_options(options: Mapping[str, Any]) -> dict[str, Any]:
  """The `token_loss` keywords out of span-loss options (e.g. a training config's `loss` section).

  The reference token model ignores masking / negatives, loss_type and the span-width weight; they are
  dropped where they change nothing, and refused (ValueError) where a span model would use them.

  Example:
    >>> token_loss_options({"alpha": 0.75, "gamma": 2.0, "masking": "none", "negatives": 1.0})
    {'alpha': 0.75, 'gamma': 2.0}
  """
  options = dict(options)
  unknown = sorted(set(options) - set(TOKEN_LOSS_OPTIONS) - {f.name for f in dataclasses.fields(SpanLossConfig)})
  if unknown:
    raise ValueError(f"unknown loss options: {unknown}")
  refused = []
  if options.get("masking", "none") != "none" and options.get("negatives", 1.0) < 1.0:
    refused.append(f"negative sampling (masking={options['masking']!r}, negatives={options['negatives']})")
  if options.get("loss_type", "focal") != "focal":
    refused.append(f"loss_type={options['loss_type']!r}")
  if options.get("span_width_weight", False):
    refused.append("span_width_weight=True")
  if refused:
    raise ValueError("the token_level loss (gliner's token model) has no " + ", ".join(refused))
  return {k: v for k, v in options.items() if k in TOKEN_LOSS_OPTIONS}


def bi_encoder_loss_options(options: Mapping[str, Any]) -> dict[str, Any]:
  """The `span_loss` keywords of a bi-encoder out of span-loss options (a training config's `loss` section).

  gliner 0.2.29's bi-encoder loss is the span loss with alpha, gamma, reduction, negatives and masking only.
  It passes its `label_smoothing` where the element loss expects `prob_margin` (so there a label
  smoothing acts as a probability margin) and ignores `prob_margin`, `loss_type` and the span-width
  weight: those options are refused (ValueError) rather than given a meaning the reference lacks.

  Example:
    >>> bi_encoder_loss_options({"alpha": 0.75, "gamma": 2.0, "masking": "global", "negatives": 0.5})
    {'alpha': 0.75, 'gamma': 2.0, 'masking': 'global', 'negatives': 0.5}
  """
  options = dict(options)
  known = {f.name for f in dataclasses.fields(SpanLossConfig)}
  unknown = sorted(set(options) - known)
  if unknown:
    raise ValueError(f"unknown loss options: {unknown}")
  refused = []
  if options.get("label_smoothing", 0.0):
    refused.append(f"label_smoothing={options['label_smoothing']} (gliner's bi-encoder reads it as prob_margin)")
  if options.get("prob_margin", 0.0):
    refused.append(f"prob_margin={options['prob_margin']}")
  if options.get("loss_type", "focal") not in ("focal", "bce"):
    refused.append(f"loss_type={options['loss_type']!r}")
  if options.get("span_width_weight", False):
    refused.append("span_width_weight=True")
  if refused:
    raise ValueError("the bi-encoder loss (gliner's bi-encoder span model) has no " + ", ".join(refused))
  return {k: v for k, v in options.items() if k not in ("label_smoothing", "prob_margin", "span_width_weight")}
