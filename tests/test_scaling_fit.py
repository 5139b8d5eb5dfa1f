"""Scaling fits: known exponents recovered from synthetic studies written as another tool would write them,
bootstrap intervals that cover the truth, the hold-out check, IsoFLOP minima, degenerate inputs refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gliner_jax.scaling import fitting
from gliner_jax.scaling.laws import fit_law, huber, parabola_minimum
from gliner_jax.scaling.results import REQUIRED_KEYS

CHINCHILLA = {"E": 1.7, "A": 400.0, "alpha": 0.34, "B": 410.0, "beta": 0.28}
RUNGS = np.geomspace(1e6, 1e9, 7)
BUDGETS = (1e16, 1e17, 1e18, 1e19)


def _row(run, rung, n, seed, **values):
  """A row as someone else's tool would write it: the documented keys only, plain JSON."""
  row = {
    "run": run,
    "rung": rung,
    "params_total": int(n) + 30_000_000,
    "params_non_embedding": int(n),
    "train_examples": 1000,
    "train_tokens": 10**9,
    "types_seen": 500,
    "train_flops": 1e17,
    "xla_flops": None,
    "wall_seconds": 10.0,
    "mfu": 0.3,
    "train_loss": 1.0,
    "eval_loss": 2.0,
    "f1": None,
    "f1_avg": None,
    "seed": seed,
    "git_commit": "abc",
    "config_hash": "def",
    "jax_version": "0.10.2",
    "flax_version": "0.12.8",
    "device_kind": "TPU v5 lite",
    "device_count": 8,
    "status": "ok",
  }
  row.update(values)
  assert set(row) == set(REQUIRED_KEYS)
  return row


def _write(path, rows):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return str(path)


def chinchilla_rows(noise=0.005, seeds=1, rungs=RUNGS, budgets=BUDGETS, data_seed=0):
  """Every rung at every budget, D = C / (6 N) tokens, L = E + A/N^alpha + B/D^beta times lognormal noise;
  train_flops hit the budget within 0.5% (no budget_flops key: budgets are recovered by clustering)."""
  rng = np.random.default_rng(data_seed)
  c = CHINCHILLA
  rows = []
  for budget in budgets:
    for n in rungs:
      for seed in range(seeds):
        d = budget / (6 * n)
        loss = (c["E"] + c["A"] * n ** -c["alpha"] + c["B"] * d ** -c["beta"]) * math.exp(rng.normal(0, noise))
        rows.append(
          _row(
            f"n{n:.2g}-c{budget:.0e}-s{seed}",
            f"n{n:.2g}",
            n,
            seed,
            train_tokens=int(d),
            train_flops=budget * (1 + rng.uniform(-0.005, 0.005)),
            types_seen=int(d**0.5),
            eval_loss=loss,
          )
        )
  return rows


def _form(fit, name, inputs):
  [form] = [f for f in fit["forms"] if f["name"] == name and tuple(f["inputs"].values())[:-1] == inputs]
  return form


# ------------------------------------------------------------------------------------------------ the laws
def test_fit_law_recovers_exact_power_laws():
  x = np.geomspace(1e5, 1e9, 9)
  law = fit_law([x], 0.8 + 50.0 * x**-0.25)
  assert law.E == pytest.approx(0.8, rel=1e-3) and law.A[0] == pytest.approx(50.0, rel=1e-2)
  assert law.alpha[0] == pytest.approx(0.25, abs=1e-3)
  n, d = np.meshgrid(np.geomspace(1e6, 1e9, 5), np.geomspace(1e8, 1e11, 5))
  c = CHINCHILLA
  law = fit_law([n.ravel(), d.ravel()], (c["E"] + c["A"] * n ** -c["alpha"] + c["B"] * d ** -c["beta"]).ravel())
  assert law.vector() == pytest.approx([c["E"], c["A"], c["alpha"], c["B"], c["beta"]], rel=1e-3)


def test_huber_matches_its_definition_and_derivative():
  r = np.array([-0.01, -1e-3, -1e-4, 0.0, 5e-4, 0.02])
  loss, grad = huber(r, 1e-3)
  expected = [1e-3 * (abs(v) - 5e-4) if abs(v) > 1e-3 else 0.5 * v * v for v in r]
  assert loss == pytest.approx(expected, abs=1e-15)
  step = 1e-9
  numeric = (huber(r + step, 1e-3)[0] - huber(r - step, 1e-3)[0]) / (2 * step)
  assert grad == pytest.approx(numeric, abs=1e-6)


def test_parabola_minimum():
  t = np.log([1e6, 1e7, 1e8, 1e9])
  logn_opt, y_opt, _ = parabola_minimum(t, 2.0 + 0.1 * (t - math.log(3e7)) ** 2)
  assert math.exp(logn_opt) == pytest.approx(3e7, rel=1e-6) and y_opt == pytest.approx(2.0)
  assert parabola_minimum(t, -((t - 17) ** 2)) is None


def test_budgets_cluster_within_five_percent():
  rows = [{"train_flops": f} for f in (1.0e15, 1.004e15, 0.996e15, 1e16, 1.01e16)] + [
    {"train_flops": 3e15, "budget_flops": 1e15}
  ]
  assert fitting.budget_of(rows) == [1e15, 1e15, 1e15, 1.005e16, 1.005e16, 1e15]


def test_frontier_is_the_lowest_loss_per_rung_and_per_budget():
  rng = np.random.default_rng(3)
  rows = [
    _row(f"r{i}-b{j}", f"r{i}", 10 ** (6 + i), 0, train_flops=10.0 ** (15 + j), eval_loss=float(rng.uniform(1, 3)))
    for i in range(4)
    for j in range(3)
  ]
  settings = fitting.settings_of(rows, ["eval_loss", "params_non_embedding", "train_flops"], "test")
  by_rung = fitting.Form("power_law", "eval_loss", ("params_non_embedding",), "frontier").points(settings)
  assert sorted(s.runs[0] for s in by_rung) == sorted(
    min((r for r in rows if r["rung"] == rung), key=lambda r: r["eval_loss"])["run"]
    for rung in {r["rung"] for r in rows}
  )
  by_budget = fitting.Form("power_law", "eval_loss", ("train_flops",), "frontier").points(settings)
  budgets = {r["train_flops"] for r in rows}
  assert sorted(s.runs[0] for s in by_budget) == sorted(
    min((r for r in rows if r["train_flops"] == b), key=lambda r: r["eval_loss"])["run"] for b in budgets
  )


# ---------------------------------------------------------------------------------------- whole studies
def test_power_law_exponent_recovered_with_intervals_and_holdout(tmp_path):
  rng = np.random.default_rng(7)
  rows = [
    _row(f"n{n:.2g}-s{s}", f"n{n:.2g}", n, s, eval_loss=(1.5 + 300.0 * n**-0.35) * math.exp(rng.normal(0, 0.01)))
    for n in RUNGS
    for s in range(2)
  ]
  fit = fitting.fit_file(
    _write(tmp_path / "results.jsonl", rows),
    str(tmp_path / "out" / "fit.json"),
    targets="eval_loss",
    axes=["params_non_embedding"],
    holdout="rung",
    n_boot=60,
  )
  assert json.loads((tmp_path / "out" / "fit.json").read_text()) == fit
  law = _form(fit, "power_law", ("params_non_embedding",))
  assert law["inputs"] == {"x": "params_non_embedding", "y": "eval_loss"}
  assert law["n_rows"] == 14 and law["n_points"] == 7 and law["dof"] == 4 and law["at_bound"] == []
  assert 55 <= law["n_boot_used"] <= 60  # a draw with fewer than 3 distinct rungs cannot be refitted
  assert law["parameters"]["alpha"] == pytest.approx(0.35, abs=0.05)
  assert law["parameters"]["E"] == pytest.approx(1.5, abs=0.1)
  for name, truth in (("E", 1.5), ("alpha", 0.35), ("A", 300.0)):
    low, high = law["intervals"][name]
    assert low <= truth <= high, (name, low, high)
  assert law["holdout"]["held_out"].startswith("largest rung (n1e+09")
  assert law["holdout"]["error"]["mean_rel"] < 0.03
  for point in law["points"]:
    assert point["interval"][0] <= point["predicted"] <= point["interval"][1]
  # the bootstrap band of `predict` is the one stored at the fitted points
  xs = [p["x"]["params_non_embedding"] for p in law["points"]]
  mid, lo, hi = fitting.predict(law, [xs])
  assert mid == pytest.approx([p["predicted"] for p in law["points"]])
  assert lo == pytest.approx([p["interval"][0] for p in law["points"]])
  # one budget: the two-axis form cannot be fitted, and fit.json says why
  assert fit["skipped"] == [
    {
      "name": "chinchilla",
      "inputs": {"N": "params_non_embedding", "D": "train_tokens", "L": "eval_loss"},
      "reason": "Chinchilla's form needs at least 2 rungs and 2 budgets; found 7 and 1",
    }
  ]


@pytest.mark.slow  # ~5 s; the fast tier keeps the exact power-law and interval recoveries
def test_chinchilla_form_recovered_from_someone_elses_results(tmp_path):
  rows = chinchilla_rows(seeds=2)
  rows.append(_row("n1e+09-c1e+19-broken", "n1e+09", 1e9, 9, eval_loss=None, train_loss=None, status="nan"))
  fit = fitting.fit_file(_write(tmp_path / "results.jsonl", rows), str(tmp_path / "fit.json"), n_boot=50)
  assert fit["excluded"] == [{"run": "n1e+09-c1e+19-broken", "status": "nan", "error": None}]
  assert fit["n_rows"] == 57 and fit["n_ok"] == 56
  form = _form(fit, "chinchilla", ("params_non_embedding", "train_tokens"))
  assert form["inputs"] == {"N": "params_non_embedding", "D": "train_tokens", "L": "eval_loss"}
  assert form["n_points"] == 28 and form["n_rows"] == 56
  assert form["parameters"]["alpha"] == pytest.approx(CHINCHILLA["alpha"], abs=0.02)
  assert form["parameters"]["beta"] == pytest.approx(CHINCHILLA["beta"], abs=0.02)
  assert form["parameters"]["E"] == pytest.approx(CHINCHILLA["E"], abs=0.1)
  for name, truth in CHINCHILLA.items():
    low, high = form["intervals"][name]
    assert low <= truth <= high, (name, low, high)
  held = form["holdout"]
  assert held["held_out"] == "largest budget (1e+19 FLOPs)" and len(held["points"]) == 7
  assert held["error"]["mean_rel"] < 0.01
  text = fitting.describe(fit)
  assert text.startswith("56 ok of 57 rows; 90% intervals from 50 resamples\n")
  alpha = form["parameters"]["alpha"]
  assert "chinchilla (N=params_non_embedding, D=train_tokens, L=eval_loss; 28 points): E=" in text
  assert f"alpha={alpha:.4g} [{form['intervals']['alpha'][0]:.4g}, " in text
  assert f"hold-out (largest budget (1e+19 FLOPs)): mean rel. error {held['error']['mean_rel']:.2%}" in text
  # without the F1 column (null everywhere) only eval_loss is fitted; every default axis has 3+ groups
  assert {f["target"] for f in fit["forms"]} == {"eval_loss"} and fit["skipped"] == []
  assert [f["inputs"]["x"] for f in fit["forms"][:4]] == list(fitting.DEFAULT_AXES)


def test_isoflop_minima_and_n_opt_exponent(tmp_path):
  """N_opt of the Chinchilla form under D = C/(6N) grows as C^(beta/(alpha+beta)) = C^0.452."""
  rungs = np.geomspace(1e6, 1e9, 10)
  rows = chinchilla_rows(noise=0.002, rungs=rungs, budgets=(1e17, 1e18, 1e19))
  fit = fitting.fit_results(rows, targets="eval_loss", axes=[], n_boot=40)
  [iso] = fit["isoflop"]
  assert [b["budget"] for b in iso["budgets"]] == pytest.approx([1e17, 1e18, 1e19], rel=0.01)
  c = CHINCHILLA
  for b in iso["budgets"]:
    grid = np.geomspace(1e6, 1e9, 20001)
    loss = c["A"] * grid ** -c["alpha"] + c["B"] * (b["budget"] / (6 * grid)) ** -c["beta"]
    assert b["inside_range"] and b["rungs"] == 10
    assert math.log(b["n_opt"]) == pytest.approx(math.log(grid[np.argmin(loss)]), abs=0.35)
  law = iso["n_opt_law"]
  exponent = c["beta"] / (c["alpha"] + c["beta"])
  assert law["a"] == pytest.approx(exponent, abs=0.05)
  assert law["intervals"]["a"][0] <= law["a"] <= law["intervals"]["a"][1]
  assert iso["skipped"] == []


def test_one_minus_f1_target(tmp_path):
  rng = np.random.default_rng(11)
  rows = []
  for n in RUNGS[:5]:
    for budget in (1e16, 1e17):
      error = (0.3 + 20.0 * n**-0.3 + (0.05 if budget < 1e17 else 0.0)) * math.exp(rng.normal(0, 0.005))
      rows.append(_row(f"{n}-{budget}", f"n{n:.2g}", n, 0, train_flops=budget, f1_avg=1 - error, f1={"ai": 1 - error}))
  fit = fitting.fit_results(rows, targets="1-f1_avg", axes=["params_total", "params_non_embedding"], n_boot=30)
  law = _form(fit, "power_law", ("params_non_embedding",))
  assert law["target"] == "1-f1_avg" and law["n_points"] == 5
  assert law["parameters"]["alpha"] == pytest.approx(0.3, abs=0.05)
  assert [p["y"] for p in law["points"]] == pytest.approx(  # the frontier: the larger budget of each rung
    sorted([1 - r["f1_avg"] for r in rows if r["train_flops"] == 1e17], reverse=True)
  )


# -------------------------------------------------------------------------------------------- refusals
def _refused(tmp_path, rows, match, **flags):
  with pytest.raises(ValueError, match=match):
    fitting.fit_file(_write(tmp_path / "results.jsonl", rows), str(tmp_path / "fit.json"), n_boot=5, **flags)
  assert not (tmp_path / "fit.json").exists()


def test_one_rung_is_refused(tmp_path):
  rows = chinchilla_rows(rungs=[1e7], budgets=(1e16, 1e17))
  _refused(
    tmp_path,
    rows,
    r"no form can be fitted: .*Chinchilla's form needs at least 2 rungs and 2 budgets; found 1 and 2.*"
    r"a power law in params_non_embedding needs at least 3 rungs; found 1",
  )


def test_one_budget_is_refused_for_compute_and_two_axes(tmp_path):
  rows = chinchilla_rows(rungs=RUNGS[:2], budgets=(1e17,))
  _refused(tmp_path, rows, r"found 2 and 1.*a power law in train_flops needs at least 3 budgets; found 1")


def test_nan_and_non_positive_values_are_refused_with_their_rows(tmp_path):
  rows = chinchilla_rows()
  rows[3]["eval_loss"] = float("nan")  # json.dumps writes NaN: a foreign writer's row
  rows[5]["eval_loss"] = None
  _refused(tmp_path, rows, r"\(eval_loss\): cannot fit: eval_loss is missing, NaN or not positive in 2 ok row\(s\)")
  rows = chinchilla_rows()
  rows[0]["types_seen"] = 0
  _refused(tmp_path, rows, r"types_seen is missing, NaN or not positive in 1 ok row\(s\): \['n1e\+06-c1e\+16-s0'\]")


def test_partial_f1_is_refused_and_unknown_columns_named(tmp_path):
  rows = chinchilla_rows()
  rows[0].update(f1_avg=0.4, f1={"ai": 0.4})
  _refused(tmp_path, rows, r"1-f1_avg is missing, NaN or not positive in 27 ok row\(s\)")
  _refused(tmp_path, chinchilla_rows(), r"no row has a column 'params_embedding'", axes=["params_embedding"])


def test_no_ok_rows_and_bad_flags_are_refused(tmp_path):
  rows = [dict(r, status="diverged", eval_loss=None) for r in chinchilla_rows(budgets=(1e16,))]
  _refused(tmp_path, rows, r"no row has status 'ok' \(7 not ok\)")
  _refused(tmp_path, chinchilla_rows(), r"holdout='size': use 'budget' or 'rung'", holdout="size")
  _refused(tmp_path, chinchilla_rows(), r"select='best'", select="best")


def test_fit_file_takes_command_line_strings(tmp_path):
  path = _write(tmp_path / "results.jsonl", chinchilla_rows())
  fit = fitting.fit_file(
    path, str(tmp_path / "fit.json"), n_boot="7", axes="params_total,train_flops", targets="eval_loss", seed="3"
  )
  assert fit["n_boot"] == 7 and fit["seed"] == 3
  assert [f["inputs"].get("x") for f in fit["forms"]] == ["params_total", "train_flops", None]
  with pytest.raises(ValueError, match=r"unknown fit flags \['nboot'\]; known: \['axes', 'confidence', 'd'"):
    fitting.fit_file(path, str(tmp_path / "fit.json"), nboot="7")


def test_an_exponent_at_its_bound_is_flagged():
  """Loss that rises with size over the rungs tried: the best power law is flat (alpha = 0) and says so."""
  rows = [_row(f"n{n:.2g}", f"n{n:.2g}", n, 0, eval_loss=2.0 + 0.1 * math.log10(n)) for n in RUNGS[:5]]
  fit = fitting.fit_results(rows, targets="eval_loss", axes=["params_non_embedding"], holdout="rung", n_boot=10)
  law = _form(fit, "power_law", ("params_non_embedding",))
  assert law["parameters"]["alpha"] == pytest.approx(0.0, abs=1e-6) and law["at_bound"] == ["alpha"]
  assert "(x=params_non_embedding, y=eval_loss; 5 points, alpha at its bound)" in fitting.describe(fit)


@pytest.mark.slow
def test_interval_coverage_over_repeated_studies():
  """20 synthetic studies (7 rungs x 4 budgets, 0.5% noise), each fitted with 60 draws: every Chinchilla
  parameter's 90% interval covers its true value in at least 15 of them (expected 18; percentile intervals
  from 28 settings run a little narrow)."""
  form = fitting.Form("chinchilla", "eval_loss", ("params_non_embedding", "train_tokens"), "all")
  covered = dict.fromkeys(CHINCHILLA, 0)
  for study in range(20):
    settings = fitting.settings_of(chinchilla_rows(data_seed=100 + study), ["eval_loss", *form.axes], "test")
    fit = fitting.fit_form(form, settings, [], "none", n_boot=60, confidence=0.9, rng=np.random.default_rng(study))
    for name, truth in CHINCHILLA.items():
      covered[name] += fit["intervals"][name][0] <= truth <= fit["intervals"][name][1]
  assert min(covered.values()) >= 15, covered
