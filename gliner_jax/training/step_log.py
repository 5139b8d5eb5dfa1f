"""The training loop's metrics rows: steps whose metrics are still on the devices, fetched and written together.

`StepLog.add` records a dispatched step; `StepLog.flush` fetches every pending step's metrics at once, writes
one row per step to the run's `MetricsWriter` (loss, learning rates, grad_norm, batch_shape, the seconds per
step averaged over the steps fetched together, input_seconds, tokens/s, MFU; the last row adds the recipe's
counters summed over processes and the number of compiled train-step programs), and calls `on_non_finite`
at the first step whose loss or updated parameters are not finite.

Example (not run as a doctest: the writer, progress bar, metrics and batch are a training run's,
`gliner_jax.training.loop`):
  >>> log = StepLog(writer, progress, step_flops, peak_flops, compiles, on_non_finite=stop)  # doctest: +SKIP
  >>> log.add(PendingStep(step, metrics, batch, input_seconds=waited))  # doctest: +SKIP
  >>> if step % log_every == 0: log.flush()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax

from gliner_jax.training.distributed import sum_over_processes
from gliner_jax.training.pipeline import HostBatch


@dataclasses.dataclass
class PendingStep:
  """A dispatched step whose metrics are still on the devices."""

  step: int  # its number, counting from 1
  metrics: dict[str, jax.Array]
  batch: HostBatch
  input_seconds: float  # spent getting its batch and handing it to the devices


def recipe_counters(stats: dict[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
  """Recipe counters: (the top-level numbers, to be summed over processes; the nested ones, this process's).

  Example:
    >>> recipe_counters({"rows": 4, "types": {"person": 2}})
    ({'rows': 4}, {'types/person': 2})
  """
  shared = {k: int(v) for k, v in stats.items() if not isinstance(v, dict)}
  nested = {f"{k}/{kk}": vv for k, v in stats.items() if isinstance(v, dict) for kk, vv in v.items()}
  return shared, nested


class StepLog:
  """Pending steps and the flush that turns them into metrics rows (see the module docstring)."""

  def __init__(
    self,
    writer,
    progress,
    step_flops: Callable[[tuple[int, ...]], float],
    peak_flops: float,
    compiles,
    on_non_finite: Callable[[int, float, float], None],
  ):
    self.writer, self.progress, self.compiles = writer, progress, compiles
    self.step_flops, self.peak_flops, self.on_non_finite = step_flops, peak_flops, on_non_finite
    self.pending: list[PendingStep] = []
    self.clock = time.perf_counter()
    self.last_row: dict[str, Any] | None = None  # the last row written

  def add(self, step: PendingStep) -> None:
    self.pending.append(step)

  def flush(self) -> None:
    """Fetches the pending steps' metrics, writes their rows; stops at the first non-finite step."""
    pending = self.pending
    if not pending:
      return
    fetched = jax.device_get([p.metrics for p in pending])
    now = time.perf_counter()
    seconds, self.clock = (now - self.clock) / len(pending), now
    shared, nested = recipe_counters(pending[-1].batch.stats)
    totals = sum_over_processes([p.batch.tokens for p in pending] + list(shared.values()))
    tokens, shared = totals[: len(pending)], dict(zip(shared, totals[len(pending) :].tolist()))
    for p, metrics, step_tokens in zip(pending, fetched, tokens):
      loss = float(metrics["loss"])
      if not metrics["finite"]:
        self.on_non_finite(p.step, loss, float(metrics["grad_norm"]))
      row = {
        "step": p.step,
        "loss": loss,
        "learning_rate": float(metrics["learning_rate"]),
        "encoder_learning_rate": float(metrics["encoder_learning_rate"]),
        "grad_norm": float(metrics["grad_norm"]),
        "batch_shape": list(p.batch.dims),
        "tokens_per_second": int(step_tokens) / seconds,
        "mfu": self.step_flops(p.batch.dims) / seconds / self.peak_flops,
        "step_seconds": seconds,
        "input_seconds": p.input_seconds,
      }
      if p is pending[-1]:
        row.update({f"recipe_{k}": v for k, v in {**shared, **nested}.items()})
        row["train_step_programs"] = self.compiles.count
      self.writer.write(row)
      self.last_row = row
    self.progress.update(len(pending))
    self.progress.set_postfix(loss=f"{self.last_row['loss']:.3f}")
    pending.clear()
