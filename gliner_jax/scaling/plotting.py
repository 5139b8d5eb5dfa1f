"""Plots of a scaling study (matplotlib, no pyplot: safe in scripts, threads and notebooks).

- `loss_vs_flops`: each rung's loss against training FLOPs, the compute frontier (lowest loss per budget) and the
  fitted power law in FLOPs with its band;
- `isoflop_curves`: loss against parameters, one curve per budget, with the fitted parabolas and their minima;
- `f1_vs_params`: zero-shot F1 against parameters, the fitted law (F1 = 1 - (E + A N^-alpha)) and its band,
  beside the published GLiNER and gliner-bi v2.0 points (`references`);
- `mfu_per_rung`: model FLOPs utilisation per rung.
`plot_file` draws them all from results.jsonl and fit.json and writes PNGs (local or gs://).

Example (not run as a doctest: it needs a study's results.jsonl and fit.json; tests/test_scaling_plot.py draws some):
  >>> paths = plot_file("study/results.jsonl", "study/fit.json", "study/plots")  # doctest: +SKIP
  >>> [p.rsplit("/", 1)[-1] for p in paths]  # doctest: +SKIP
  ['loss_vs_flops.png', 'isoflop.png', 'f1_vs_params.png', 'mfu.png']
"""

from __future__ import annotations

import datetime
import io
import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from etils import epath
from matplotlib.figure import Figure

from gliner_jax.interop import storage
from gliner_jax.scaling.fitting import budget_of, column_value, predict
from gliner_jax.scaling.references import REFERENCE_POINTS, families
from gliner_jax.scaling.results import read_results

# marker, colour and label offset (points) per reference family; labels go right of points with a positive offset
FAMILY_STYLES = {
  "GLiNER (paper)": ("s", "C3", (-4, 5)),
  "GLiNER v2.1 (model card)": ("D", "C1", (4, -9)),
  "gliner-bi v2.0": ("^", "C2", (4, -9)),
}
DEFAULT_STYLE = ("P", "C4", (4, 5))

PUBLISHED_CAVEAT = (
  "published points: full Pile-NER (or the authors' own mixture) and their own benchmark averages; "
  "context, not a like-for-like comparison"
)


def _ok(rows: Sequence[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
  return [r for r in rows if r["status"] == "ok" and all(column_value(r, c) is not None for c in columns)]


def _finish(fig: Figure, rows: Sequence[dict[str, Any]], caption: str | None, bottom: float = 0.07) -> Figure:
  """Adds the footer (what produced the figure: the runs, their devices and commits, the date, the caller's
  caption) and lays the figure out above it."""
  failed = [f"{r['run']} ({r['status']})" for r in rows if r["status"] != "ok"]
  devices = sorted({f"{r['device_kind']} x{r['device_count']}" for r in rows})
  commits = sorted({str(r["git_commit"])[:8] for r in rows})
  parts = [
    f"{len(rows)} runs on {', '.join(devices)}; commit {', '.join(commits)}; "
    f"plotted {datetime.date.today().isoformat()}"
  ]
  if failed:
    parts.append(f"not ok, not drawn: {', '.join(failed[:6])}" + (" ..." if len(failed) > 6 else ""))
  if caption:
    parts.append(caption)
  fig.text(0.01, 0.005, "\n".join(parts), fontsize=6, va="bottom", ha="left", color="0.35")
  fig.tight_layout(rect=(0, bottom, 1, 1))
  return fig


def _form(fit: dict[str, Any] | None, name: str, target: str, inputs: Sequence[str]) -> dict[str, Any] | None:
  for form in (fit or {}).get("forms", []):
    if form["name"] == name and form["target"] == target and list(form["inputs"].values())[:-1] == list(inputs):
      return form
  return None


def _band(ax, form: dict[str, Any], xs: np.ndarray, transform=lambda y: y, label: str = "fit") -> None:
  mid, lo, hi = predict(form, [xs])
  p, iv = form["parameters"], form["intervals"]["alpha"]
  text = f"{label}: alpha={p['alpha']:.3f}" + (f" [{iv[0]:.3f}, {iv[1]:.3f}]" if iv else "")
  ax.plot(xs, transform(mid), color="black", linestyle=":", linewidth=1.2, label=text)
  if np.all(np.isfinite(lo)):
    ax.fill_between(xs, transform(lo), transform(hi), color="0.6", alpha=0.3, label=f"{form['confidence']:.0%} band")


def _grid(values: Sequence[float], extend: float = 1.0) -> np.ndarray:
  low, high = min(values), max(values)
  return np.geomspace(low / extend, high * extend, 200)


def loss_vs_flops(
  rows: Sequence[dict[str, Any]], fit: dict[str, Any] | None = None, *, target: str = "eval_loss", caption=None
) -> Figure:
  """Loss against training FLOPs: one line per rung, the frontier (lowest loss per budget), the fitted law."""
  ok = _ok(rows, target, "train_flops")
  fig = Figure(figsize=(7, 4.8))
  ax = fig.subplots()
  for rung in sorted({r["rung"] for r in ok}, key=lambda g: min(r["params_total"] for r in ok if r["rung"] == g)):
    mine = sorted((r for r in ok if r["rung"] == rung), key=lambda r: r["train_flops"])
    ax.plot([r["train_flops"] for r in mine], [column_value(r, target) for r in mine], marker="o", label=rung)
  if ok:
    best: dict[float, dict[str, Any]] = {}
    for row, budget in zip(ok, budget_of(ok)):
      if budget not in best or column_value(row, target) < column_value(best[budget], target):
        best[budget] = row
    frontier = sorted(best.values(), key=lambda r: r["train_flops"])
    ax.plot(
      [r["train_flops"] for r in frontier],
      [column_value(r, target) for r in frontier],
      color="black",
      linestyle="--",
      linewidth=2,
      alpha=0.6,
      label="frontier (lowest per budget)",
    )
    form = _form(fit, "power_law", target, ["train_flops"])
    if form:
      _band(ax, form, _grid([r["train_flops"] for r in ok], 1.5), label="power law in FLOPs")
  ax.set(xscale="log", xlabel="training FLOPs (analytic)", ylabel=target, title=f"{target} against compute")
  ax.legend(fontsize=7)
  return _finish(fig, rows, caption)


def isoflop_curves(
  rows: Sequence[dict[str, Any]],
  fit: dict[str, Any] | None = None,
  *,
  target: str = "eval_loss",
  n: str = "params_non_embedding",
  caption=None,
) -> Figure:
  """Loss against parameters at each budget, with the fitted parabolas (in log N) and their minima."""
  ok = _ok(rows, target, n)
  fig = Figure(figsize=(7, 4.8))
  ax = fig.subplots()
  iso = next((i for i in (fit or {}).get("isoflop", []) if i["target"] == target and i["n"] == n), None)
  parabolas = (iso or {}).get("budgets", [])
  budgets = budget_of(ok) if ok else []
  for i, budget in enumerate(sorted(set(budgets))):
    mine = sorted((r for r, b in zip(ok, budgets) if b == budget), key=lambda r: column_value(r, n))
    color = f"C{i % 10}"
    xs = [column_value(r, n) for r in mine]
    ax.plot(xs, [column_value(r, target) for r in mine], marker="o", color=color, label=f"{budget:.3g} FLOPs")
    minimum = next((b for b in parabolas if abs(b["budget"] - budget) <= 1e-6 * budget), None)
    if minimum:
      t = np.log(_grid(xs))
      c2, c1, c0 = minimum["parabola"]
      ax.plot(np.exp(t), c2 * t * t + c1 * t + c0, color=color, linestyle=":", linewidth=1)
      ax.plot([minimum["n_opt"]], [minimum["y_opt"]], marker="*", markersize=12, color=color, linestyle="none")
  law = (iso or {}).get("n_opt_law")
  title = f"IsoFLOP curves ({target})"
  if law:
    interval = law["intervals"]["a"]
    title += f": N_opt ~ C^{law['a']:.2f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")
  ax.set(xscale="log", xlabel=n, ylabel=target, title=title)
  ax.legend(fontsize=7, title="budget (stars: parabola minima)", title_fontsize=7)
  return _finish(fig, rows, caption)


def f1_vs_params(
  rows: Sequence[dict[str, Any]],
  fit: dict[str, Any] | None = None,
  *,
  x: str = "params_non_embedding",
  references: bool = True,
  caption=None,
) -> Figure:
  """Zero-shot F1 (f1_avg) against parameters: the study's runs (the best per rung ringed), the fitted law and
  its band, and the published points. References without a count in `x` are drawn hollow at their total."""
  ok = _ok(rows, "f1_avg", x)
  fig = Figure(figsize=(7.5, 5))
  ax = fig.subplots()
  if ok:
    ax.plot(
      [column_value(r, x) for r in ok], [r["f1_avg"] for r in ok], "o", color="C0", alpha=0.5, label="runs (this study)"
    )
    best = {}
    for r in ok:
      if r["rung"] not in best or r["f1_avg"] > best[r["rung"]]["f1_avg"]:
        best[r["rung"]] = r
    ax.plot(
      [column_value(r, x) for r in best.values()],
      [r["f1_avg"] for r in best.values()],
      "o",
      markerfacecolor="none",
      markeredgecolor="C0",
      markersize=11,
      label="best per rung",
    )
  form = _form(fit, "power_law", "1-f1_avg", [x])
  shown = [r["f1_avg"] for r in ok] + ([p.f1_avg for p in REFERENCE_POINTS] if references else [])
  if form and ok:  # drawn from the smallest rung out to the largest published model
    reach = [column_value(r, x) for r in ok] + (
      [getattr(p, x, None) or p.params_total for p in REFERENCE_POINTS] if references else []
    )
    grid = np.geomspace(min(column_value(r, x) for r in ok), max(reach) * 1.2, 200)
    _band(ax, form, grid, transform=lambda e: 1 - e, label="F1 = 1 - law")
  if references:
    for family in families():  # one style per family (FAMILY_STYLES); every row of the table is drawn
      marker, color, offset = FAMILY_STYLES.get(family, DEFAULT_STYLE)
      points = [p for p in REFERENCE_POINTS if p.family == family]
      exact = [p for p in points if getattr(p, x, None)]
      approx = [p for p in points if not getattr(p, x, None)]
      if exact:
        ax.plot([getattr(p, x) for p in exact], [p.f1_avg for p in exact], marker, color=color, label=family)
      if approx:
        ax.plot(
          [p.params_total for p in approx],
          [p.f1_avg for p in approx],
          marker,
          markerfacecolor="none",
          color=color,
          label=f"{family} (total params: {x} not published)",
        )
      for p in points:
        where = (getattr(p, x, None) or p.params_total, p.f1_avg)
        ax.annotate(
          p.name, where, fontsize=6, xytext=offset, textcoords="offset points", ha="right" if offset[0] < 0 else "left"
        )
  ax.set(xscale="log", xlabel=x, ylabel="average zero-shot F1", title="F1 against model size")
  if shown:
    ax.set_ylim(max(0.0, min(shown) - 0.1), min(1.0, max(shown) + 0.1))
  ax.legend(fontsize=7, loc="lower right")
  return _finish(fig, rows, "\n".join(filter(None, [PUBLISHED_CAVEAT if references else "", caption])), 0.09)


def mfu_per_rung(rows: Sequence[dict[str, Any]], *, caption=None) -> Figure:
  """Mean MFU of each rung's ok runs (bars, smallest rung first), with their min-max range."""
  ok = _ok(rows, "mfu")
  rungs = sorted({r["rung"] for r in ok}, key=lambda g: min(r["params_total"] for r in ok if r["rung"] == g))
  values = [[r["mfu"] for r in ok if r["rung"] == g] for g in rungs]
  fig = Figure(figsize=(7, 4.2))
  ax = fig.subplots()
  means = [float(np.mean(v)) for v in values]
  spread = np.array([[m - min(v) for m, v in zip(means, values)], [max(v) - m for m, v in zip(means, values)]])
  ax.bar(range(len(rungs)), means, yerr=spread if rungs else None, color="C0", capsize=3)
  ax.set_xticks(range(len(rungs)), rungs, rotation=30, ha="right", fontsize=7)
  ax.set(ylabel="MFU (analytic FLOPs / peak)", title="model FLOPs utilisation per rung")
  return _finish(fig, rows, caption)


def _save(fig: Figure, path: epath.Path) -> str:
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=110)
  path.write_bytes(buffer.getvalue())
  return str(path)


def plot_file(results_path: str, fit_path: str | None, out_dir: str, *, caption: str | None = None) -> list[str]:
  """Draws every plot that the results (and fit.json, when given) support; writes PNGs to out_dir (local or
  gs://) and returns their paths. A plot with nothing to draw (no F1, no MFU) is left out with a warning."""
  rows = read_results(results_path)
  fit = json.loads(storage.as_path(fit_path).read_text()) if fit_path else None
  out = storage.as_path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  target = "eval_loss"
  n = fit["isoflop"][0]["n"] if fit and fit.get("isoflop") else "params_non_embedding"
  plots = [
    ("loss_vs_flops.png", _ok(rows, target, "train_flops"), lambda: loss_vs_flops(rows, fit, caption=caption)),
    ("isoflop.png", _ok(rows, target), lambda: isoflop_curves(rows, fit, n=n, caption=caption)),
    ("f1_vs_params.png", _ok(rows, "f1_avg"), lambda: f1_vs_params(rows, fit, caption=caption)),
    ("mfu.png", _ok(rows, "mfu"), lambda: mfu_per_rung(rows, caption=caption)),
  ]
  paths = []
  for name, usable, draw in plots:
    if not usable:
      logging.warning("%s: nothing to draw for %s (no ok run has its values)", results_path, name)
      continue
    paths.append(_save(draw(), out / name))
  return paths
