"""Scaling plots: the series each figure holds (checked on the matplotlib objects), the PNGs plot_file writes,
and the reference table of published points."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_scaling_fit import chinchilla_rows

from gliner_jax.scaling import plotting, references
from gliner_jax.scaling.fitting import fit_results

RUNGS = np.geomspace(1e6, 1e9, 5)
BUDGETS = (1e16, 1e17, 1e18)


@pytest.fixture(scope="module")
def study():
  """5 rungs x 3 budgets, F1 falling with the loss, MFU per run, one diverged run; and its fit."""
  rows = chinchilla_rows(rungs=RUNGS, budgets=BUDGETS)
  rng = np.random.default_rng(0)
  for r in rows:
    f1 = 0.7 - 0.1 * r["eval_loss"] / 3
    r.update(f1_avg=f1, f1={"ai": f1}, mfu=float(rng.uniform(0.1, 0.4)))
  rows.append(dict(rows[0], run="diverged-run", status="diverged", eval_loss=None, f1_avg=None, f1=None, mfu=None))
  return rows, fit_results(rows, n_boot=20)


def _labels(ax):
  return [line.get_label() for line in ax.get_lines()]


def test_loss_vs_flops_has_a_line_per_rung_the_frontier_and_the_fit(study):
  rows, fit = study
  ax = plotting.loss_vs_flops(rows, fit).axes[0]
  labels = _labels(ax)
  rungs = [f"n{n:.2g}" for n in RUNGS]
  assert labels[:5] == rungs  # smallest first
  assert labels[5] == "frontier (lowest per budget)"
  assert labels[6].startswith("power law in FLOPs: alpha=")
  assert len(labels) == 7 and len(ax.collections) == 1  # the band
  ok = [r for r in rows if r["status"] == "ok"]
  frontier = ax.get_lines()[5]
  expected = [min(r["eval_loss"] for r in ok if abs(r["train_flops"] / b - 1) < 0.01) for b in BUDGETS]
  assert list(frontier.get_ydata()) == pytest.approx(expected)
  line = ax.get_lines()[0]  # the smallest rung, in increasing FLOPs
  mine = sorted((r for r in ok if r["rung"] == rungs[0]), key=lambda r: r["train_flops"])
  assert list(line.get_ydata()) == pytest.approx([r["eval_loss"] for r in mine])
  # without a fit: the data and the frontier only
  assert len(plotting.loss_vs_flops(rows).axes[0].get_lines()) == 6


def test_isoflop_curves_one_per_budget_with_parabolas_and_minima(study):
  rows, fit = study
  ax = plotting.isoflop_curves(rows, fit).axes[0]
  [iso] = [i for i in fit["isoflop"] if i["target"] == "eval_loss"]
  minima = len(iso["budgets"])
  assert minima >= 2
  assert len(ax.get_lines()) == len(BUDGETS) + 2 * minima  # data, and parabola + star per minimum
  data = [line for line in ax.get_lines() if line.get_label().endswith("FLOPs")]
  assert len(data) == len(BUDGETS)
  stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
  assert [s.get_xdata()[0] for s in stars] == pytest.approx([b["n_opt"] for b in iso["budgets"]])
  assert "N_opt ~ C^" in ax.get_title()


def test_f1_against_params_with_band_and_published_points(study):
  rows, fit = study
  fig = plotting.f1_vs_params(rows, fit)
  ax = fig.axes[0]
  labels = _labels(ax)
  assert labels[:2] == ["runs (this study)", "best per rung"]
  assert labels[2].startswith("F1 = 1 - law: alpha=")
  hollow = " (total params: params_non_embedding not published)"
  assert labels[3:] == ["GLiNER (paper)", "GLiNER v2.1 (model card)" + hollow, "gliner-bi v2.0" + hollow]
  assert len(ax.collections) == 1
  paper = ax.get_lines()[3]
  assert list(paper.get_xdata()) == [300e6] and list(paper.get_ydata()) == [0.609]
  card = ax.get_lines()[4]
  assert list(card.get_xdata()) == [209e6] and list(card.get_ydata()) == [0.56]
  bi = ax.get_lines()[5]
  assert list(bi.get_xdata()) == [60e6, 108e6, 194e6, 530e6] and bi.get_markerfacecolor() == "none"
  # every row of the reference table is drawn once, and named
  drawn = sorted((x, y) for line in ax.get_lines()[3:] for x, y in zip(line.get_xdata(), line.get_ydata()))
  table = references.REFERENCE_POINTS
  assert drawn == sorted((p.params_non_embedding or p.params_total, p.f1_avg) for p in table)
  assert sorted(t.get_text() for t in ax.texts) == sorted(p.name for p in table)
  text = " ".join(t.get_text() for t in fig.texts)
  assert "context, not a like-for-like comparison" in text
  assert "not ok, not drawn: diverged-run (diverged)" in text
  # against total parameters every published point is exact
  ax = plotting.f1_vs_params(rows, fit, x="params_total").axes[0]  # no F1 fit in params_total: no band
  assert _labels(ax)[2:] == references.families() == ["GLiNER (paper)", "GLiNER v2.1 (model card)", "gliner-bi v2.0"]
  assert list(ax.get_lines()[2].get_xdata()) == [459e6]
  assert all(line.get_markerfacecolor() != "none" for line in ax.get_lines()[2:])
  assert len(plotting.f1_vs_params(rows, None, references=False).axes[0].get_lines()) == 2
  assert not plotting.f1_vs_params(rows, None, references=False).axes[0].texts


def test_mfu_bars_are_the_mean_per_rung(study):
  rows, _ = study
  ax = plotting.mfu_per_rung(rows).axes[0]
  heights = [p.get_height() for p in ax.patches]
  ok = [r for r in rows if r["status"] == "ok"]
  assert heights == pytest.approx([np.mean([r["mfu"] for r in ok if r["rung"] == f"n{n:.2g}"]) for n in RUNGS])
  assert [t.get_text() for t in ax.get_xticklabels()] == [f"n{n:.2g}" for n in RUNGS]


def test_plot_file_writes_pngs_and_leaves_out_what_it_cannot_draw(study, tmp_path):
  rows, fit = study
  results = tmp_path / "results.jsonl"
  results.write_text("".join(json.dumps(r) + "\n" for r in rows))
  (tmp_path / "fit.json").write_text(json.dumps(fit))
  paths = plotting.plot_file(str(results), str(tmp_path / "fit.json"), str(tmp_path / "plots"), caption="cmd")
  names = ["loss_vs_flops.png", "isoflop.png", "f1_vs_params.png", "mfu.png"]
  assert paths == [str(tmp_path / "plots" / n) for n in names]
  for path in paths:
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
  bare = [dict(r, f1_avg=None, f1=None, mfu=None) for r in rows]
  results.write_text("".join(json.dumps(r) + "\n" for r in bare))
  paths = plotting.plot_file(str(results), None, str(tmp_path / "bare"))
  assert [p.rsplit("/", 1)[-1] for p in paths] == names[:2]


def test_reference_table():
  names = [p.name for p in references.REFERENCE_POINTS]
  assert len(set(names)) == len(names) == 6
  for point in references.REFERENCE_POINTS:
    assert 0 < point.f1_avg < 1 and point.params_total > (point.params_non_embedding or 0)
    assert point.source in (references.GLINER_PAPER, references.GLINER_MEDIUM_V21, references.GLINER_BI_V2)
    if point.per_set:  # the published average is the mean of the published sets, to the published rounding
      sets = dict(point.per_set)
      assert len(sets) == 7 and point.benchmark == references.PAPER_BENCHMARK
      assert abs(sum(sets.values()) / 7 - point.f1_avg) < 0.0005
  assert [p.name for p in references.REFERENCE_POINTS if p.per_set] == ["GLiNER-L", "gliner_medium-v2.1"]
  assert all(p.family in plotting.FAMILY_STYLES for p in references.REFERENCE_POINTS)
  assert references.by_name("gliner-bi-base-v2.0").f1_avg == 0.603
  assert "2311.08526" in references.by_name("GLiNER-L").source
  with pytest.raises(KeyError, match="no reference point 'GLiNER-XL'"):
    references.by_name("GLiNER-XL")
