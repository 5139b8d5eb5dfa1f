"""Scaling fits of a results.jsonl, with bootstrap intervals and a hold-out check, written to fit.json.

Forms (docs/scaling.md, "Fits"):
- a power law per axis, y = E + A x^-alpha, for each x in `axes` (default: non-embedding parameters, training
  FLOPs, tokens and entity types seen). Its points are the frontier: among runs sharing an x (a rung for
  parameter counts, a budget for FLOPs, else equal values), the lowest y;
- Chinchilla's L(N, D) = E + A/N^alpha + B/D^beta on every setting (N = `n`, D = `d`);
- IsoFLOP minima: per budget with at least 3 rungs, a parabola in log N through y (Chinchilla approach 2), then
  N_opt = k C^a across budgets.
Each target y (default eval_loss and 1 - f1_avg) is fitted separately; "1-COLUMN" means one minus that column.

Runs sharing rung and budget are seeds of one setting: their values are averaged, and the bootstrap resamples
settings, then seeds within each drawn setting. Intervals are percentile intervals (default 90%) of the refits.
The hold-out check refits each form without the largest budget (or the largest rung), predicts the held-out
points and reports the error. Rows whose status is not "ok" are listed in fit.json and left out; an ok row with
a missing or non-positive value in a fitted column is an error, never dropped.

Example (not run as a doctest: it needs a study's results.jsonl; tests/test_scaling_fit.py fits synthetic ones):
  >>> fit = fit_file("study/results.jsonl", "study/fit.json", n_boot=100)  # doctest: +SKIP
  >>> law = fit["forms"][0]  # doctest: +SKIP
  >>> law["inputs"]  # doctest: +SKIP
  {'x': 'params_non_embedding', 'y': 'eval_loss'}
  >>> alpha, (low, high) = law["parameters"]["alpha"], law["intervals"]["alpha"]  # 90% interval  # doctest: +SKIP
  >>> law["holdout"]["error"]["mean_rel"]  # error predicting the largest budget from the others  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import json
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from gliner_jax.interop import storage
from gliner_jax.scaling.laws import ALPHA_BOUNDS, Law, fit_law, fit_line, parabola_minimum
from gliner_jax.scaling.results import read_results

DEFAULT_AXES = ("params_non_embedding", "train_flops", "train_tokens", "types_seen")
DEFAULT_TARGETS = ("eval_loss", "1-f1_avg")
PER_RUNG = ("params_total", "params_non_embedding", "params_encoder", "params_head")
PER_BUDGET = ("train_flops", "budget_flops", "xla_flops")
BUDGET_TOLERANCE = 0.05  # train_flops within 5% of each other are one budget when budget_flops is absent


@dataclasses.dataclass(eq=False)  # compared by identity
class Setting:
  """The runs (seeds) of one rung at one budget; `values[column]` holds one value per run."""

  rung: str
  budget: float
  runs: list[str]
  values: dict[str, np.ndarray]

  def mean(self, column: str) -> float:
    return float(np.mean(self.values[column]))


def column_value(row: dict[str, Any], column: str) -> float | None:
  """A row's value of `column`; "1-COLUMN" is one minus COLUMN. None when missing, null or not a number."""
  base, flip = (column[2:], True) if column.startswith("1-") else (column, False)
  value = row.get(base)
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
    return None
  return 1.0 - value if flip else float(value)


def budget_of(rows: Sequence[dict[str, Any]]) -> list[float]:
  """Each row's budget: budget_flops where written, else its train_flops; values within 5% are merged (their
  median), since steps are solved to hit a budget within 1%."""
  raw = [float(r.get("budget_flops") or r["train_flops"]) for r in rows]
  order = sorted(range(len(raw)), key=raw.__getitem__)
  out, group = [0.0] * len(raw), []
  for i in order + [None]:
    if group and (i is None or raw[i] > raw[group[0]] * (1 + BUDGET_TOLERANCE)):
      value = float(np.median([raw[j] for j in group]))
      for j in group:
        out[j] = value
      group = []
    if i is not None:
      group.append(i)
  return out


def settings_of(rows: Sequence[dict[str, Any]], columns: Sequence[str], where: str) -> list[Setting]:
  """Groups ok rows into settings; every value of `columns` must be a positive number (ValueError otherwise)."""
  problems = []
  for column in dict.fromkeys(columns):
    base = column[2:] if column.startswith("1-") else column
    if not any(base in r for r in rows):
      problems.append(f"no row has a column {base!r} (columns: {sorted(set().union(*rows))})")
      continue
    bad = [r["run"] for r in rows if (v := column_value(r, column)) is None or v <= 0]
    if bad:
      problems.append(f"{column} is missing, NaN or not positive in {len(bad)} ok row(s): {bad[:5]}")
  if problems:
    raise ValueError(f"{where}: cannot fit: " + "; ".join(problems))
  groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
  for row, budget in zip(rows, budget_of(rows)):
    groups.setdefault((row["rung"], budget), []).append(row)
  return [
    Setting(rung, budget, [r["run"] for r in rs], {c: np.array([column_value(r, c) for r in rs]) for c in columns})
    for (rung, budget), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))
  ]


def resample(settings: Sequence[Setting], rng: np.random.Generator) -> list[Setting]:
  """A bootstrap draw: settings with replacement, then each drawn setting's seeds with replacement."""
  out = []
  for i in rng.integers(len(settings), size=len(settings)):
    s = settings[i]
    idx = rng.integers(len(s.runs), size=len(s.runs))
    out.append(Setting(s.rung, s.budget, [s.runs[j] for j in idx], {c: v[idx] for c, v in s.values.items()}))
  return out


@dataclasses.dataclass(frozen=True)
class Form:
  """One law to fit: y = E + sum_j A_j x_j^-alpha_j over `axes` (one: a power law; two: Chinchilla)."""

  name: str
  target: str
  axes: tuple[str, ...]
  select: str  # "frontier" (lowest y per group of equal x) or "all"

  def inputs(self) -> dict[str, str]:
    if len(self.axes) == 1:
      return {"x": self.axes[0], "y": self.target}
    return {"N": self.axes[0], "D": self.axes[1], "L": self.target}

  def parameter_names(self) -> list[str]:
    return ["E", "A", "alpha"] if len(self.axes) == 1 else ["E", "A", "alpha", "B", "beta"]

  def _group(self, s: Setting) -> Any:
    x = self.axes[0]
    return s.rung if x in PER_RUNG else s.budget if x in PER_BUDGET else round(s.mean(x), 6)

  def points(self, settings: Sequence[Setting]) -> list[Setting]:
    """The settings the law is fitted through (the frontier, or all of them), in increasing x."""
    chosen = list(settings)
    if self.select == "frontier" and len(self.axes) == 1:
      best: dict[Any, Setting] = {}
      for s in settings:
        key = self._group(s)
        if key not in best or s.mean(self.target) < best[key].mean(self.target):
          best[key] = s
      chosen = list(best.values())
    return sorted(chosen, key=lambda s: [s.mean(a) for a in self.axes])

  def problem(self, settings: Sequence[Setting]) -> str | None:
    """Why these settings cannot determine the law (None: they can)."""
    rungs, budgets = {s.rung for s in settings}, {s.budget for s in settings}
    if len(self.axes) > 1:
      if len(rungs) < 2 or len(budgets) < 2:
        return f"Chinchilla's form needs at least 2 rungs and 2 budgets; found {len(rungs)} and {len(budgets)}"
      if len(settings) < 6:
        return f"Chinchilla's form has 5 parameters and needs at least 6 settings; found {len(settings)}"
      return None
    groups = {self._group(s) for s in settings}
    if len(groups) < 3:
      what = "rungs" if self.axes[0] in PER_RUNG else "budgets" if self.axes[0] in PER_BUDGET else "distinct values"
      return f"a power law in {self.axes[0]} needs at least 3 {what}; found {len(groups)}"
    return None

  def arrays(self, settings: Sequence[Setting]) -> tuple[list[np.ndarray], np.ndarray]:
    pts = self.points(settings)
    return [np.array([s.mean(a) for s in pts]) for a in self.axes], np.array([s.mean(self.target) for s in pts])


def _interval(samples: np.ndarray, confidence: float) -> list[list[float]]:
  tail = 50 * (1 - confidence)
  lo, hi = np.percentile(samples, [tail, 100 - tail], axis=0)
  return np.stack([np.atleast_1d(lo), np.atleast_1d(hi)], axis=-1).tolist()


def _inside(value: float, bounds: tuple[float, float]) -> bool:
  return bounds[0] + 1e-6 < value < bounds[1] - 1e-6


def _law(vector: Sequence[float]) -> Law:
  return Law(E=vector[0], A=tuple(vector[1::2]), alpha=tuple(vector[2::2]), loss=float("nan"))


def _bootstrap(form: Form, settings: Sequence[Setting], law: Law, n_boot: int, rng) -> np.ndarray:
  out = []
  for _ in range(n_boot):
    draw = resample(settings, rng)
    if form.problem(draw) is None:
      xs, y = form.arrays(draw)
      out.append(fit_law(xs, y, starts=[law.vector()]).vector())
  return np.array(out).reshape(-1, 1 + 2 * len(form.axes))


def _predictions(form: Form, pts: Sequence[Setting], law: Law, boots: np.ndarray, confidence: float) -> list[dict]:
  xs = [np.array([s.mean(a) for s in pts]) for a in form.axes]
  mid = law.predict(xs)
  band = np.stack([_law(b).predict(xs) for b in boots]) if len(boots) else np.full((1, len(pts)), np.nan)
  bounds = _interval(band, confidence)
  return [
    {
      "x": {a: float(x[i]) for a, x in zip(form.axes, xs)},
      "y": s.mean(form.target),
      "predicted": float(mid[i]),
      "interval": bounds[i],
      "runs": s.runs,
    }
    for i, s in enumerate(pts)
  ]


def fit_form(
  form: Form,
  settings: Sequence[Setting],
  held: Sequence[Setting],
  held_label: str,
  *,
  n_boot: int,
  confidence: float,
  rng: np.random.Generator,
) -> dict[str, Any]:
  """One form's fit.json entry: parameters, bootstrap intervals, predictions and the hold-out check."""
  problem = form.problem(settings)
  if problem:
    raise ValueError(problem)
  law = fit_law(*form.arrays(settings))
  boots = _bootstrap(form, settings, law, n_boot, rng)
  names = form.parameter_names()
  out = {
    "name": form.name,
    "target": form.target,
    "inputs": form.inputs(),
    "selection": form.select if len(form.axes) == 1 else "all",
    "parameters": dict(zip(names, law.vector())),
    "intervals": dict(zip(names, _interval(boots, confidence))) if len(boots) else {k: None for k in names},
    "confidence": confidence,
    "n_rows": sum(len(s.runs) for s in settings),
    "n_points": len(form.points(settings)),
    "dof": len(form.points(settings)) - len(names),  # 0: the curve passes through every point
    # exponents stuck at a search bound: at 0, y does not fall with that axis over the range tried
    "at_bound": [k for k, v in zip(names, law.vector()) if k in ("alpha", "beta") and not _inside(v, ALPHA_BOUNDS)],
    "n_boot": n_boot,
    "n_boot_used": len(boots),
    "points": _predictions(form, form.points(settings), law, boots, confidence),
    "bootstrap": boots.tolist(),
  }
  keep = [s for s in settings if all(s is not h for h in held)]
  problem = form.problem(keep)
  if problem or not held:
    out["holdout"] = {"held_out": held_label, "skipped": problem or "nothing to hold out"}
    return out
  fitted = fit_law(*form.arrays(keep))
  points = _predictions(form, form.points(held), fitted, _bootstrap(form, keep, fitted, n_boot, rng), confidence)
  errors = np.array([p["predicted"] - p["y"] for p in points])
  relative = np.abs(errors) / np.array([p["y"] for p in points])
  covered = [p["interval"][0] <= p["y"] <= p["interval"][1] for p in points if math.isfinite(p["interval"][0])]
  out["holdout"] = {
    "held_out": held_label,
    "parameters": dict(zip(names, fitted.vector())),
    "points": points,
    "error": {
      "mean_abs": float(np.mean(np.abs(errors))),
      "mean_rel": float(np.mean(relative)),
      "max_rel": float(np.max(relative)),
      "covered": float(np.mean(covered)) if covered else None,
    },
  }
  return out


def isoflop(
  settings: Sequence[Setting], target: str, n: str, *, n_boot: int, confidence: float, rng: np.random.Generator
) -> dict[str, Any]:
  """IsoFLOP minima per budget with >= 3 rungs (parabola in log N) and N_opt = k C^a across them."""

  def minima(sets):
    found = {}
    for budget in sorted({s.budget for s in sets}):
      group = [s for s in sets if s.budget == budget]
      if len({s.rung for s in group}) >= 3:
        found[budget] = parabola_minimum(np.log([s.mean(n) for s in group]), np.array([s.mean(target) for s in group]))
    return found

  main = minima(settings)
  draws = [minima(resample(settings, rng)) for _ in range(n_boot)]
  budgets, skipped = [], []
  for budget in sorted({s.budget for s in settings}):
    group = [s for s in settings if s.budget == budget]
    if budget not in main or main[budget] is None:
      why = "fewer than 3 rungs" if budget not in main else "the parabola has no minimum (opens downwards)"
      skipped.append({"budget": budget, "rungs": len({s.rung for s in group}), "reason": why})
      continue
    t, y, coefficients = main[budget]
    samples = np.array([d[budget][0] for d in draws if d.get(budget) is not None])
    logs = np.log([s.mean(n) for s in group])
    budgets.append(
      {
        "budget": budget,
        "rungs": len({s.rung for s in group}),
        "n_opt": math.exp(t),
        "n_opt_interval": np.exp(_interval(samples, confidence)[0]).tolist() if len(samples) else None,
        "y_opt": y,
        "inside_range": bool(logs.min() <= t <= logs.max()),
        "parabola": coefficients,
      }
    )
  out = {"target": target, "n": n, "budgets": budgets, "skipped": skipped}
  if len(budgets) >= 2:
    cs = np.log([b["budget"] for b in budgets])
    slope, intercept = fit_line(cs, np.log([b["n_opt"] for b in budgets]))
    slopes = []
    for d in draws:
      pairs = [(math.log(b["budget"]), d[b["budget"]][0]) for b in budgets if d.get(b["budget"]) is not None]
      if len(pairs) == len(budgets):
        slopes.append(fit_line(*np.array(pairs).T))
    out["n_opt_law"] = {
      "form": "N_opt = k * C^a",
      "a": slope,
      "k": math.exp(intercept),
      "intervals": {"a": _interval(np.array([s[0] for s in slopes]), confidence)[0] if slopes else None},
      "n_boot_used": len(slopes),
    }
  return out


def fit_results(
  rows: Sequence[dict[str, Any]],
  *,
  targets: Sequence[str] | str = DEFAULT_TARGETS,
  axes: Sequence[str] = DEFAULT_AXES,
  n: str = "params_non_embedding",
  d: str = "train_tokens",
  select: str = "frontier",
  holdout: str = "budget",
  n_boot: int = 200,
  confidence: float = 0.9,
  seed: int = 0,
  source: str = "results",
) -> dict[str, Any]:
  """fit.json's content for these rows (see the module docstring); ValueError when nothing can be fitted."""
  if holdout not in ("budget", "rung"):
    raise ValueError(f"holdout={holdout!r}: use 'budget' or 'rung'")
  if select not in ("frontier", "all"):
    raise ValueError(f"select={select!r}: use 'frontier' or 'all'")
  if not 0 < confidence < 1:
    raise ValueError(f"confidence={confidence} must lie in (0, 1)")
  targets = targets.split(",") if isinstance(targets, str) else list(targets)
  axes = [a for a in axes.split(",") if a] if isinstance(axes, str) else list(axes)
  latest = {r["run"]: r for r in rows}  # a run written twice (re-run after a failure): its last row counts
  duplicates = sorted(run for run, count in collections.Counter(r["run"] for r in rows).items() if count > 1)
  ok = [r for r in latest.values() if r["status"] == "ok"]
  excluded = [
    {"run": r["run"], "status": r["status"], "error": r.get("error")} for r in latest.values() if r["status"] != "ok"
  ]
  if excluded:
    logging.warning("%s: %d run(s) not ok, left out of the fits: %s", source, len(excluded), excluded)
  if not ok:
    raise ValueError(f"{source}: no row has status 'ok' ({len(excluded)} not ok), nothing to fit")
  if targets == list(DEFAULT_TARGETS):  # the F1 target only where F1 was evaluated at all
    targets = [t for t in targets if any(column_value(r, t) is not None for r in ok)]
  out = {
    "results": source,
    "n_rows": len(rows),
    "n_ok": len(ok),
    "excluded": excluded,
    "duplicates": duplicates,
    "confidence": confidence,
    "n_boot": n_boot,
    "seed": seed,
    "holdout": holdout,
    "forms": [],
    "skipped": [],
    "isoflop": [],
  }
  rng = np.random.default_rng(seed)
  with threadpool_limits(1):  # tiny problems: threaded BLAS only adds overhead (see laws.fit_law)
    for target in targets:
      forms = [Form("power_law", target, (x,), select) for x in axes] + [Form("chinchilla", target, (n, d), "all")]
      columns = [target, n, d, *axes]
      settings = settings_of(ok, columns, f"{source} ({target})")
      if holdout == "budget":
        top = max(s.budget for s in settings)
        held, label = [s for s in settings if s.budget == top], f"largest budget ({top:.3g} FLOPs)"
      else:
        size = {s.rung: s.mean(n) for s in settings}
        top = max(size, key=size.get)
        held, label = [s for s in settings if s.rung == top], f"largest rung ({top}, {n}={size[top]:.3g})"
      for form in forms:
        try:
          out["forms"].append(fit_form(form, settings, held, label, n_boot=n_boot, confidence=confidence, rng=rng))
        except ValueError as err:
          out["skipped"].append({"name": form.name, "inputs": form.inputs(), "reason": str(err)})
      out["isoflop"].append(isoflop(settings, target, n, n_boot=n_boot, confidence=confidence, rng=rng))
  if not out["forms"]:
    reasons = sorted({s["reason"] for s in out["skipped"]})
    raise ValueError(f"{source}: no form can be fitted: " + "; ".join(reasons))
  for skip in out["skipped"]:
    logging.warning("%s: %s %s not fitted: %s", source, skip["name"], skip["inputs"], skip["reason"])
  return out


def _json_ready(value: Any) -> Any:
  if isinstance(value, dict):
    return {k: _json_ready(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_ready(v) for v in value]
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


FLAG_TYPES = {"n_boot": int, "confidence": float, "seed": int}


def fit_file(results_path: str, out_path: str, **flags: Any) -> dict[str, Any]:
  """Reads results.jsonl (local or gs://), fits it (`fit_results` flags: targets, axes, n, d, select, holdout,
  n_boot, confidence, seed) and writes fit.json to `out_path`; returns its content.

  Flags may be strings, as from a command line: n_boot="200", axes="params_total,train_flops" (comma-separated).
  """
  known = set(inspect.signature(fit_results).parameters) - {"rows", "source"}
  unknown = sorted(set(flags) - known)
  if unknown:
    raise ValueError(f"unknown fit flags {unknown}; known: {sorted(known)}")
  flags = {k: FLAG_TYPES[k](v) if k in FLAG_TYPES and isinstance(v, str) else v for k, v in flags.items()}
  fit = _json_ready(fit_results(read_results(results_path), source=str(results_path), **flags))
  out = storage.as_path(out_path)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(fit, indent=1, allow_nan=False) + "\n")
  return fit


def predict(form: dict[str, Any], xs: Sequence[Sequence[float]], confidence: float | None = None):
  """(prediction, lower, upper) of a fit.json form at points xs (one sequence per input axis); the band is the
  bootstrap percentile interval at the form's confidence (or `confidence`)."""
  p = form["parameters"]
  vector = [p["E"], p["A"], p["alpha"]] + ([p["B"], p["beta"]] if "B" in p else [])
  xs = [np.asarray(x, dtype=float) for x in xs]
  mid = _law(vector).predict(xs)
  boots = np.array(form["bootstrap"], dtype=float)
  if not len(boots):
    return mid, np.full_like(mid, np.nan), np.full_like(mid, np.nan)
  band = np.stack([_law(b).predict(xs) for b in boots])
  tail = 50 * (1 - (confidence or form["confidence"]))
  lo, hi = np.percentile(band, [tail, 100 - tail], axis=0)
  return mid, lo, hi


def describe(fit: dict[str, Any]) -> str:
  """A short text summary of a fit.json: each form's parameters with their intervals and its hold-out error."""

  def value(name, v, iv):
    text = f"{name}={v:.4g}"
    return text + (f" [{iv[0]:.4g}, {iv[1]:.4g}]" if iv and None not in iv else "")

  lines = [
    f"{fit['n_ok']} ok of {fit['n_rows']} rows; {fit['confidence']:.0%} intervals from {fit['n_boot']} resamples"
  ]
  for form in fit["forms"]:
    inputs = ", ".join(f"{k}={v}" for k, v in form["inputs"].items())
    params = " ".join(value(k, v, form["intervals"].get(k)) for k, v in form["parameters"].items())
    held = form["holdout"]
    error = held.get("error")
    check = (
      f"hold-out ({held['held_out']}): mean rel. error {error['mean_rel']:.2%}, max {error['max_rel']:.2%}"
      if error
      else f"hold-out ({held['held_out']}) skipped: {held['skipped']}"
    )
    exact = ", exactly determined" if form["dof"] <= 0 else ""
    exact += "".join(f", {k} at its bound" for k in form["at_bound"])
    lines += [f"{form['name']} ({inputs}; {form['n_points']} points{exact}): {params}", f"  {check}"]
  for skip in fit["skipped"]:
    lines.append(f"not fitted: {skip['name']} ({', '.join(skip['inputs'].values())}): {skip['reason']}")
  for iso in fit["isoflop"]:
    for b in iso["budgets"]:
      where = "" if b["inside_range"] else " (outside the rungs: extrapolated)"
      lines.append(f"IsoFLOP {iso['target']} at {b['budget']:.3g} FLOPs: N_opt={b['n_opt']:.3g}{where}")
    if "n_opt_law" in iso:
      law = iso["n_opt_law"]
      lines.append(f"IsoFLOP {iso['target']}: " + value("N_opt ~ C^a, a", law["a"], law["intervals"]["a"]))
  return "\n".join(lines)
