"""Markdown tables of the gliner 0.2.29 vs gliner_jax training comparison (`gliner_jax.training.comparison_run`).

A run record is a dict: name, train_seconds, steps, resumed_from, losses ([[step, loss], ...]) and eval (one
`EvaluationReport.to_dict()` row per threshold). Pure functions of those records.

Example:
  >>> mean_loss([(1, 4.0), (2, 2.0)], last=1)
  2.0
"""

from __future__ import annotations

from typing import Any, Sequence

REFERENCE = "gliner 0.2.29"


def f1_by_domain(report: dict[str, Any]) -> dict[str, float]:
  """{dataset name: F1 in percent, ..., "average": mean F1 in percent} of one report row."""
  out = {d["name"]: 100 * d["f1"] for d in report["datasets"]}
  out["average"] = 100 * report["average"]["f1"]
  return out


def comparison_table(runs: Sequence[dict[str, Any]], reference_name: str = REFERENCE) -> str:
  """Markdown: per threshold, one F1 row per run and one difference row per non-reference run."""
  names = [d["name"] for d in runs[0]["eval"][0]["datasets"]]
  short = [n.removeprefix("crossner_") for n in names]
  lines = [
    "| threshold | model | " + " | ".join(short) + " | average F1 |",
    "|---|---|" + "---:|" * (len(names) + 1),
  ]
  ref = next((r for r in runs if r["name"] == reference_name), None)
  for i, report in enumerate(runs[0]["eval"]):
    t = report["threshold"]
    base = f1_by_domain(ref["eval"][i]) if ref else None
    for run in runs:
      f1 = f1_by_domain(run["eval"][i])
      lines.append(f"| {t:g} | {run['name']} | " + " | ".join(f"{f1[n]:.2f}" for n in names + ["average"]) + " |")
    for run in runs:
      if ref is None or run is ref:
        continue
      f1 = f1_by_domain(run["eval"][i])
      diff = " | ".join(f"{f1[n] - base[n]:+.2f}" for n in names + ["average"])
      lines.append(f"| {t:g} | {run['name']} - {reference_name} | {diff} |")
  return "\n".join(lines) + "\n"


def verdicts(runs: Sequence[dict[str, Any]], reference_name: str = REFERENCE, margin: float = 1.0) -> list[str]:
  """One line per (run, threshold): the average-F1 difference and whether it is >= -margin."""
  ref = next((r for r in runs if r["name"] == reference_name), None)
  out = []
  if ref is None:
    return out
  for run in runs:
    if run is ref:
      continue
    for mine, theirs in zip(run["eval"], ref["eval"]):
      d = f1_by_domain(mine)["average"] - f1_by_domain(theirs)["average"]
      ok = "met" if d >= -margin else "missed"
      out.append(
        f"threshold {mine['threshold']:g}: {run['name']} - {reference_name} = {d:+.2f} average F1 "
        f"(target >= -{margin:g}: {ok})"
      )
  return out


def timing_table(runs: Sequence[dict[str, Any]]) -> str:
  """Markdown: per run, the steps its recorded wall time covers (a resumed run times only its last leg),
  that time, and the mean logged training loss over the last 100 steps."""
  lines = [
    "| run | steps timed (resumed from step) | train wall time (s) | mean logged loss, last 100 steps |",
    "|---|---:|---:|---:|",
  ]
  for r in runs:
    resumed = r.get("resumed_from", 0)
    loss = mean_loss(r["losses"], 100)
    shown = "-" if loss is None else f"{loss:.2f}"
    lines.append(f"| {r['name']} | {r['steps'] - resumed} ({resumed}) | {r['train_seconds']:.0f} | {shown} |")
  return "\n".join(lines) + "\n"


def mean_loss(losses: Sequence[Sequence[float]], last: int) -> float | None:
  """Mean logged training loss over the logged steps > (final step - last)."""
  if not losses:
    return None
  end = max(step for step, _ in losses)
  tail = [loss for step, loss in losses if step > end - last]
  return sum(tail) / len(tail) if tail else None


def results_text(runs: Sequence[dict[str, Any]], steps: int, batch_size: int, max_eval_examples: int | None) -> str:
  """workdir/results.md: the setting line, `comparison_table`, the `verdicts` and `timing_table`."""
  n_eval = sum(d["num_examples"] for d in runs[0]["eval"][0]["datasets"])
  summary = [
    f"{steps} steps of batch {batch_size}; CrossNER test, {n_eval} sentences "
    f"({'first ' + str(max_eval_examples) + ' per domain' if max_eval_examples else 'all'}), "
    "flat decoding, exact match, gliner_jax's evaluator for both.",
    "",
    comparison_table(runs),
    *[f"- {line}" for line in verdicts(runs)],
    "",
    timing_table(runs),
  ]
  return "\n".join(summary) + "\n"
