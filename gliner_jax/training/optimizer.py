"""AdamW with separate encoder / head learning rates, warmup + decay schedules and clipping.

Mirrors the GLiNER training recipe (gliner's trainer on top of Hugging Face's): two parameter
groups, the pretrained encoder (small lr) and everything else, the "heads" (larger lr); one shared
schedule shape (linear warmup from 0, then linear or cosine decay to 0 at `total_steps`); gradient
clipping by the global norm over *all* parameters before the update; decoupled weight decay.

Parameter groups. A leaf is identified by the tuple of dict keys on its path (a leading "params"
collection key and the `.value` of boxed `nn.LogicallyPartitioned` leaves are skipped):

* encoder vs head: `is_encoder(path)`, by default "the first key is `config.encoder_key`"
  ("encoder"); pass your own predicate to `make_optimizer` to change it.
* no weight decay: `no_decay(path, leaf)`, by default leaves named "bias" or "scale" (dense /
  norm biases, norm scales), the BiLSTM's stacked biases "b_ih" / "b_hh" (gliner's `bias_ih_l0`... have
  "bias" in their names) and any parameter with ndim <= 1. Embedding tables and kernels decay.

Schedules follow Hugging Face's `get_scheduler` (the reference's): warmup_steps =
ceil(total_steps * warmup_ratio) unless `warmup_steps` is set; lr(step) = peak * step / warmup
during warmup, then peak * (1 - progress) ("linear") or peak * (1 + cos(pi * progress)) / 2
("cosine"), progress = (step - warmup) / (total - warmup), clipped to [0, 1] (so the lr stays at
its floor after `total_steps`; HF's cosine would rise again). `min_lr_ratio` sets that floor as a
fraction of the peak (0 in the reference). As with HF/torch, update t (0-based) uses lr(t): with
warmup the very first update has lr 0.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax

SCHEDULERS = ("linear", "cosine", "constant")
GROUPS = ("encoder", "head")
NO_DECAY_NAMES = ("bias", "scale", "b_ih", "b_hh")

Path = tuple[str, ...]
Schedule = Callable[[Any], jax.Array]


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """Hyper-parameters of `make_optimizer` (defaults: the GLiNER paper / repository recipe).

  Example:
    >>> cfg = OptimizerConfig(total_steps=10_000, scheduler="linear")
    >>> tx, schedules = make_optimizer(cfg)
    >>> cfg.encoder_lr, cfg.head_lr
    (1e-05, 5e-05)
  """

  total_steps: int = 10_000
  encoder_lr: float = 1e-5
  head_lr: float = 5e-5
  encoder_weight_decay: float = 0.01
  head_weight_decay: float = 0.01
  warmup_ratio: float = 0.1
  warmup_steps: int | None = None
  scheduler: str = "cosine"
  min_lr_ratio: float = 0.0
  max_grad_norm: float | None = 1.0
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  encoder_key: str = "encoder"

  def __post_init__(self):
    if self.total_steps < 1:
      raise ValueError(f"total_steps={self.total_steps} must be >= 1")
    if self.scheduler not in SCHEDULERS:
      raise ValueError(f"scheduler={self.scheduler!r}: expected one of {SCHEDULERS}")
    if not 0.0 <= self.warmup_ratio <= 1.0:
      raise ValueError(f"warmup_ratio={self.warmup_ratio} must lie in [0, 1]")
    if self.warmup_steps is not None and not 0 <= self.warmup_steps <= self.total_steps:
      raise ValueError(f"warmup_steps={self.warmup_steps} must lie in [0, total_steps]")
    for name in ("encoder_lr", "head_lr", "encoder_weight_decay", "head_weight_decay"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
    if not 0.0 <= self.min_lr_ratio <= 1.0:
      raise ValueError(f"min_lr_ratio={self.min_lr_ratio} must lie in [0, 1]")
    if self.max_grad_norm is not None and self.max_grad_norm <= 0:
      raise ValueError(f"max_grad_norm={self.max_grad_norm} must be > 0 (None disables clipping)")
    if not (0.0 <= self.b1 < 1.0 and 0.0 <= self.b2 < 1.0):
      raise ValueError(f"b1={self.b1}, b2={self.b2} must lie in [0, 1)")
    if self.eps <= 0:
      raise ValueError(f"eps={self.eps} must be > 0")

  @property
  def num_warmup_steps(self) -> int:
    if self.warmup_steps is not None:
      return self.warmup_steps
    return math.ceil(self.total_steps * self.warmup_ratio)

  def replace(self, **changes) -> "OptimizerConfig":
    return dataclasses.replace(self, **changes)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> "OptimizerConfig":
    """Builds from a dict or an ml_collections ConfigDict; unknown keys raise ValueError."""
    d = dict(d.to_dict() if hasattr(d, "to_dict") else d)
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"unknown OptimizerConfig fields: {unknown}")
    return cls(**d)


def make_schedule(
  peak_lr: float, total_steps: int, warmup_steps: int, kind: str = "linear", min_lr_ratio: float = 0.0
) -> Schedule:
  """Linear warmup from 0 to `peak_lr`, then linear / cosine decay (or constant) to the floor.

  Example:
    >>> s = make_schedule(1e-3, total_steps=100, warmup_steps=10, kind="linear")
    >>> [round(float(s(step)), 6) for step in (5, 10, 55)]
    [0.0005, 0.001, 0.0005]
  """
  if kind not in SCHEDULERS:
    raise ValueError(f"scheduler kind={kind!r}: expected one of {SCHEDULERS}")
  decay_steps = max(1, total_steps - warmup_steps)

  def schedule(step):
    step = jnp.asarray(step, jnp.float32)
    warm = step / max(1, warmup_steps)
    progress = jnp.clip((step - warmup_steps) / decay_steps, 0.0, 1.0)
    if kind == "linear":
      decay = 1.0 - progress
    elif kind == "cosine":
      decay = 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
    else:
      decay = jnp.ones_like(progress)
    factor = jnp.where(step < warmup_steps, warm, min_lr_ratio + (1.0 - min_lr_ratio) * decay)
    return peak_lr * factor

  return schedule


@dataclasses.dataclass(frozen=True)
class LRSchedules:
  """The per-group learning-rate schedules of an optimizer built by `make_optimizer`.

  Example:
    >>> _, schedules = make_optimizer(OptimizerConfig(total_steps=1000, warmup_steps=100, scheduler="constant"))
    >>> {group: round(float(lr), 8) for group, lr in schedules.learning_rates(100).items()}
    {'encoder': 1e-05, 'head': 5e-05}
  """

  encoder: Schedule
  head: Schedule

  def learning_rates(self, step) -> dict[str, jax.Array]:
    """Learning rate of each group used by update number `step` (0-based); for logging."""
    return {"encoder": self.encoder(step), "head": self.head(step)}

  __call__ = learning_rates


def path_names(path) -> Path:
  """Dict keys (and sequence indices) of a jax key path, minus boxing attributes."""
  names = []
  for entry in path:
    if isinstance(entry, jax.tree_util.DictKey):
      names.append(str(entry.key))
    elif isinstance(entry, jax.tree_util.SequenceKey):
      names.append(str(entry.idx))
    elif isinstance(entry, jax.tree_util.GetAttrKey) and entry.name != "value":
      names.append(entry.name)
  if names and names[0] == "params":
    names = names[1:]
  return tuple(names)


def default_is_encoder(path: Path, encoder_key: str = "encoder") -> bool:
  """True for parameters under the top-level `encoder_key` collection entry."""
  return bool(path) and path[0] == encoder_key


def default_no_decay(path: Path, leaf: Any) -> bool:
  """True for biases, norm scales and any parameter of rank <= 1 (no weight decay)."""
  return (bool(path) and path[-1] in NO_DECAY_NAMES) or jnp.ndim(leaf) <= 1


def param_labels(
  params: Any,
  is_encoder: Callable[[Path], bool] = default_is_encoder,
  no_decay: Callable[[Path, Any], bool] = default_no_decay,
) -> Any:
  """Tree (structure of `params`) of group labels "{encoder|head}/{decay|no_decay}".

  Example:
    >>> k, b = jnp.ones((2, 2)), jnp.zeros(2)
    >>> param_labels({"encoder": {"dense": {"kernel": k, "bias": b}}, "proj": {"kernel": k}})
    {'encoder': {'dense': {'bias': 'encoder/no_decay', 'kernel': 'encoder/decay'}},
     'proj': {'kernel': 'head/decay'}}
  """

  def label(path, leaf):
    names = path_names(path)
    group = "encoder" if is_encoder(names) else "head"
    return f"{group}/{'no_decay' if no_decay(names, leaf) else 'decay'}"

  return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(
  config: OptimizerConfig | Mapping[str, Any],
  *,
  is_encoder: Callable[[Path], bool] | None = None,
  no_decay: Callable[[Path, Any], bool] = default_no_decay,
) -> tuple[optax.GradientTransformation, LRSchedules]:
  """Builds the clipped two-group AdamW and its learning-rate schedules.

  Args:
    config: `OptimizerConfig`, or a dict / ml_collections ConfigDict of its fields.
    is_encoder: `path -> bool` selecting the encoder group (default: first key ==
      `config.encoder_key`).
    no_decay: `(path, leaf) -> bool` selecting parameters without weight decay.

  Returns:
    (tx, schedules): an optax transformation for params trees (plain or boxed), and the
    `LRSchedules` (`schedules.learning_rates(step)` -> {"encoder": lr, "head": lr}).

  Example:
    >>> params = {"encoder": {"kernel": jnp.ones((2, 2))}, "head": {"bias": jnp.zeros(2)}}
    >>> grads = jax.tree.map(jnp.ones_like, params)
    >>> tx, schedules = make_optimizer(OptimizerConfig(total_steps=1000))
    >>> opt_state = tx.init(params)
    >>> updates, opt_state = tx.update(grads, opt_state, params)
    >>> params = optax.apply_updates(params, updates)
    >>> float(abs(updates["encoder"]["kernel"]).max())  # update 0 is the first of the warmup: learning rate 0
    0.0
  """
  if not isinstance(config, OptimizerConfig):
    if not (isinstance(config, Mapping) or hasattr(config, "to_dict")):
      raise ValueError(f"config must be an OptimizerConfig or a mapping, got {type(config)}")
    config = OptimizerConfig.from_dict(config)
  if is_encoder is None:
    encoder_key = config.encoder_key
    is_encoder = lambda path: default_is_encoder(path, encoder_key)

  warmup = config.num_warmup_steps
  schedules = LRSchedules(
    encoder=make_schedule(config.encoder_lr, config.total_steps, warmup, config.scheduler, config.min_lr_ratio),
    head=make_schedule(config.head_lr, config.total_steps, warmup, config.scheduler, config.min_lr_ratio),
  )

  def adamw(schedule, weight_decay):
    return optax.adamw(schedule, b1=config.b1, b2=config.b2, eps=config.eps, weight_decay=weight_decay)

  transforms = {
    "encoder/decay": adamw(schedules.encoder, config.encoder_weight_decay),
    "encoder/no_decay": adamw(schedules.encoder, 0.0),
    "head/decay": adamw(schedules.head, config.head_weight_decay),
    "head/no_decay": adamw(schedules.head, 0.0),
  }
  grouped = optax.multi_transform(transforms, lambda params: param_labels(params, is_encoder, no_decay))
  if config.max_grad_norm is None:
    return grouped, schedules
  return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), grouped), schedules
