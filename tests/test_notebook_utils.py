"""gliner_jax.notebooks.utils / gliner_jax.notebooks.training: display helpers, environment, configs, metrics, runs.

No model is compiled here: prediction and training are replaced by small fakes where a helper only
orchestrates them (the notebooks' own test, tests/test_notebooks.py, runs the real thing).
"""

from __future__ import annotations

import html
import json
import os
import re
import sys

import numpy as np
import pytest

import gliner_jax
from gliner_jax import Entity
from gliner_jax.notebooks import utils as nbu
from gliner_jax.training.config import BUNDLED_TRAIN

TEXT = "The University of California, Berkeley is in California & <Berkeley>."


def _strip_tags(markup: str) -> str:
  """The text of highlighted HTML: label tags removed, then every other tag, then entities unescaped."""
  markup = re.sub(r'<span style="font-size:0\.7em[^"]*">.*?</span>', "", markup)
  return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _entity(text: str, part: str, label: str, score: float = 0.9, occurrence: int = 0) -> Entity:
  start = -1
  for _ in range(occurrence + 1):
    start = text.index(part, start + 1)
  return Entity(start, start + len(part), part, label, score)


# ----------------------------------------------------------------------------------- display
def test_highlight_keeps_the_text_and_nests_entities():
  outer = _entity(TEXT, "University of California, Berkeley", "university", 0.91)
  inner = _entity(TEXT, "California", "location", 0.62)
  inner2 = _entity(TEXT, "Berkeley", "location", 0.55)
  last = _entity(TEXT, "California", "location", 0.8, occurrence=1)
  markup = nbu.highlight_entities_html(TEXT, [last, inner2, inner, outer])  # any order
  assert _strip_tags(markup) == TEXT
  assert markup.count("<mark ") == 4 and "&lt;Berkeley&gt;" in markup and "&amp;" in markup
  # The two inner marks sit inside the outer one, whose label tag comes after them.
  outer_html = markup[markup.index("<mark ") : markup.index("university 0.91")]
  assert outer_html.count("<mark ") == 3 and "location 0.62" in outer_html and "location 0.55" in outer_html
  assert markup.index("university 0.91") < markup.index("location 0.80")
  colors = nbu.label_colors(["university", "location"])
  assert markup.count(f"background:{colors['location']}") == 3
  assert markup.count(f"background:{colors['university']}") == 1


def test_highlight_accepts_dicts_colors_and_hides_scores():
  entities = [{"start": 4, "end": 14, "label": "org", "score": 0.5}]
  markup = nbu.highlight_entities_html(TEXT, entities, {"org": "#123456"}, show_scores=False)
  assert "background:#123456" in markup and ">org</span>" in markup and "0.50" not in markup
  assert nbu.highlight_entities_html("", []) == (
    '<div style="line-height:2.4;white-space:pre-wrap;font-family:sans-serif"></div>'
  )
  assert _strip_tags(nbu.highlight_entities_html(TEXT, [])) == TEXT


@pytest.mark.parametrize(
  "entities, match",
  [
    ([Entity(0, 5, "x", "a", 0.9), Entity(3, 8, "x", "b", 0.9)], "overlap without nesting"),
    ([Entity(5, 3, "x", "a", 0.9)], r"entities\[0\]: offsets \(5, 3\)"),
    ([Entity(0, len(TEXT) + 1, "x", "a", 0.9)], "not inside a text"),
    ([{"start": 0, "end": 2}], r"entities\[0\] needs int start/end and a str label"),
  ],
)
def test_highlight_rejects_bad_entities(entities, match):
  with pytest.raises(ValueError, match=match):
    nbu.highlight_entities_html(TEXT, entities)


def test_label_colors_are_stable_and_cycle():
  colors = nbu.label_colors(["a", "b", "a"] + [f"l{i}" for i in range(12)])
  assert list(colors)[:2] == ["a", "b"] and colors["a"] == nbu.PALETTE[0] and colors["b"] == nbu.PALETTE[1]
  assert colors["l10"] == nbu.PALETTE[0]  # label 13 of 14 wraps around


def test_entities_table_rows_and_escaping():
  entities = [
    Entity(0, 3, "<b>", "person", 0.98765),
    {"start": 4, "end": 9, "text": "Paris", "label": "city", "score": 0.5},
  ]
  assert nbu.entity_rows(entities) == [("<b>", "person", 0.988, 0, 3), ("Paris", "city", 0.5, 4, 9)]
  table = nbu.entities_table(entities)
  assert table.count("<tr>") == 3 and table.count("<th ") == 5
  assert '<td style="padding:0 0.8em">&lt;b&gt;</td>' in table and "<b>" not in table
  assert '<td style="padding:0 0.8em">0.988</td>' in table
  assert "no entities" in nbu.entities_table([])


def test_parse_labels():
  assert nbu.parse_labels(" person, city ,, programming language ") == ["person", "city", "programming language"]
  with pytest.raises(ValueError, match="no entity type"):
    nbu.parse_labels(" , ")


# ----------------------------------------------------------------------------------- environment
def test_modes(monkeypatch):
  monkeypatch.delenv(nbu.MODE_ENV, raising=False)
  monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
  assert nbu.notebook_mode() == "default" and not nbu.offline_mode()
  monkeypatch.setenv("HF_HUB_OFFLINE", "1")
  assert nbu.offline_mode()
  monkeypatch.delenv("HF_HUB_OFFLINE")
  monkeypatch.setenv(nbu.MODE_ENV, " CI ")
  assert nbu.notebook_mode() == "ci" and nbu.offline_mode()
  monkeypatch.setenv(nbu.MODE_ENV, "fast")
  with pytest.raises(ValueError, match="GLINER_JAX_NOTEBOOK_MODE='fast'"):
    nbu.notebook_mode()


def test_accelerator_and_mesh_shape():
  assert nbu.detect_accelerator() == "cpu"
  assert nbu.default_mesh_shape(8) == {"data": 1, "fsdp": 1, "tensor": 1}
  assert nbu.default_mesh_shape(8, 8) == {"data": 8, "fsdp": 1, "tensor": 1}
  assert nbu.default_mesh_shape(4, 8) == {"data": 4, "fsdp": 1, "tensor": 2}
  assert nbu.default_mesh_shape(6, 4) == {"data": 2, "fsdp": 1, "tensor": 2}
  with pytest.raises(ValueError, match="batch_size and num_devices"):
    nbu.default_mesh_shape(0, 8)


def test_workdirs(monkeypatch, tmp_path):
  monkeypatch.delenv(nbu.WORKDIR_ENV, raising=False)
  monkeypatch.delenv(nbu.MODE_ENV, raising=False)
  monkeypatch.setattr(nbu, "in_colab", lambda: True)
  assert nbu.notebook_workdir("/content/x") == "/content/x"
  monkeypatch.setattr(nbu, "in_colab", lambda: False)  # plain Jupyter: a local folder, no Drive
  assert nbu.notebook_workdir("/content/drive/MyDrive/x") == os.path.abspath(os.path.join("gliner_jax_runs", "x"))
  monkeypatch.setenv(nbu.MODE_ENV, "ci")
  first, second = nbu.notebook_workdir("/content/x"), nbu.notebook_workdir("/content/x")
  assert first != second and os.path.isdir(first) and not os.listdir(first)
  monkeypatch.setenv(nbu.WORKDIR_ENV, str(tmp_path / "w"))
  assert nbu.notebook_workdir("/content/x") == str(tmp_path / "w")
  assert nbu.prepare_workdir(str(tmp_path / "a" / "b")) == str(tmp_path / "a" / "b")
  assert os.path.isdir(tmp_path / "a" / "b")
  monkeypatch.setitem(sys.modules, "gcsfs", None)  # gs:// is written through gcsfs (tests/test_object_store.py)
  with pytest.raises(ImportError, match=r"pip install 'gliner_jax\[gcs\]'"):
    nbu.prepare_workdir("gs://bucket/run")


def test_resolve_and_load_model(monkeypatch):
  monkeypatch.delenv(nbu.MODEL_ENV, raising=False)
  monkeypatch.delenv(nbu.MODE_ENV, raising=False)
  monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
  assert nbu.resolve_model("org/model") == "org/model"
  assert nbu.resolve_model("org/model", offline=True) == gliner_jax.DEFAULT_MODEL
  monkeypatch.setenv(nbu.MODE_ENV, "ci")
  assert nbu.resolve_model("org/model") == gliner_jax.DEFAULT_MODEL
  monkeypatch.setenv(nbu.MODEL_ENV, "/models/mine")
  assert nbu.resolve_model("org/model") == "/models/mine"
  monkeypatch.delenv(nbu.MODEL_ENV)

  loaded = []

  def fake_from_pretrained(path, **_):
    loaded.append(path)
    if path == "org/model":
      raise OSError("no internet")
    return f"model at {path}"

  monkeypatch.setattr(gliner_jax.GLiNER, "from_pretrained", staticmethod(fake_from_pretrained))
  with pytest.warns(UserWarning, match=r"could not load 'org/model' \(OSError: no internet\)"):
    fell = nbu.load_model("org/model", offline=False)
  assert tuple(fell) == (f"model at {gliner_jax.DEFAULT_MODEL}", gliner_jax.DEFAULT_MODEL) and fell.fell_back
  # the note says which model it is, why, and what to do
  assert "NOT 'org/model'" in fell.note and "OSError: no internet" in fell.note and "what to do" in fell.note
  with pytest.raises(OSError, match="no internet"):
    nbu.load_model("org/model", offline=False, fallback=False)
  offline = nbu.load_model("org/model")  # ci mode: the hub is not tried
  assert offline.source == gliner_jax.DEFAULT_MODEL and offline.fell_back and "offline mode" in offline.note
  ok = nbu.load_model("other/model", offline=False)
  assert ok.source == "other/model" and not ok.fell_back and ok.model == "model at other/model"
  assert loaded == ["org/model", gliner_jax.DEFAULT_MODEL, "org/model", gliner_jax.DEFAULT_MODEL, "other/model"]


# ----------------------------------------------------------------------------------- data
def test_crossner_datasets_offline_is_the_bundled_slice():
  [full] = nbu.crossner_datasets(offline=True)
  [few] = nbu.crossner_datasets(offline=True, max_examples=5)
  assert len(full.examples) == 100 and few.examples == full.examples[:5] and few.labels == full.labels
  assert "algorithm" in full.labels and "else" in full.labels
  with pytest.raises(ValueError, match="max_examples"):
    nbu.crossner_datasets(offline=True, max_examples=0)


def test_crossner_datasets_from_a_root_folder(tmp_path):
  (tmp_path / "ai").mkdir()
  (tmp_path / "ai" / "test.txt").write_text("Deep\tB-field\nlearning\tI-field\nrocks\tO\n\nBERT\tB-product\n")
  [ds] = nbu.crossner_datasets(str(tmp_path))
  assert ds.name == "crossner_ai" and [ex.spans for ex in ds.examples] == [((0, 1, "field"),), ((0, 0, "product"),)]
  with pytest.raises(FileNotFoundError, match="none of the CrossNER domain folders"):
    nbu.crossner_datasets(str(tmp_path / "ai"))


def test_measure_throughput_times_a_warm_call():
  class FakeModel:
    calls = 0

    def words_splitter(self, text):
      return [(w, 0, 0) for w in text.split()]

    def batch_predict_entities(self, texts, labels, batch_size, threshold):
      FakeModel.calls += 1
      return [[Entity(0, 1, "a", labels[0], 0.9)] * 2 for _ in texts]

  speed = nbu.measure_throughput(FakeModel(), ["a b c", "d e"], ["x"], batch_size=2)
  assert FakeModel.calls == 2 and (speed.texts, speed.words, speed.entities) == (2, 5, 4)
  assert speed.words_per_second == pytest.approx(5 / speed.seconds)
  assert re.fullmatch(r"2 texts, 5 words, 4 entities in [\d.]+ s: [\d,]+ words/s", str(speed))


# ----------------------------------------------------------------------------------- configs
def test_load_config_by_name_and_path(tmp_path):
  tiny = nbu.load_config("tiny")
  assert tiny.train.num_steps == 20 and tiny.model.init == "random"
  assert nbu.load_config("minilm_pilener", "quick").data.train == [{"path": BUNDLED_TRAIN}]
  assert {"tiny", "minilm_pilener", "gliner_small"} <= set(nbu.available_configs())
  mine = tmp_path / "mine.py"
  mine.write_text(
    "from gliner_jax.training.config import base_config\n"
    "def get_config(arg=''):\n  c = base_config(); c.train.num_steps = int(arg or 3); return c\n"
  )
  assert nbu.load_config(str(mine), "7").train.num_steps == 7
  assert nbu.load_config("mine", config_dir=str(tmp_path)).train.num_steps == 3
  with pytest.raises(FileNotFoundError, match=r"no config 'nope' .*available: \[.*'tiny'"):
    nbu.load_config("nope")
  with pytest.raises(ValueError, match="give a name like 'tiny'"):
    nbu.load_config("../tiny")
  (tmp_path / "empty.py").write_text("x = 1\n")
  with pytest.raises(ValueError, match="has no get_config"):
    nbu.load_config("empty", config_dir=str(tmp_path))


def test_configure_run(tmp_path):
  base = nbu.load_config("tiny")
  config = nbu.configure_run(
    base, num_steps=6, mesh_shape={"data": 1, "fsdp": 1, "tensor": 1}, compilation_cache_dir=str(tmp_path / "cache")
  )
  assert config.train.num_steps == 6 and base.train.num_steps == 20  # a copy
  assert config.data.train == base.data.train and config.train.compilation_cache_dir == str(tmp_path / "cache")
  mine = tmp_path / "pilener.txt"
  mine.write_text("Paris\tB-city\n")
  assert nbu.configure_run(base, train_path=str(mine)).data.train == [{"path": str(mine)}]
  with pytest.raises(FileNotFoundError, match="missing.json"):
    nbu.configure_run(base, train_path=str(tmp_path / "missing.json"))
  with pytest.raises(ValueError, match="num_steps must be >= 1"):
    nbu.configure_run(base, num_steps=0)
  static = nbu.configure_run(base, static_shape_tokens=96).recipe
  assert (static.max_tokens, static.token_buckets, static.word_buckets, static.type_buckets) == (96, (96,), (48,), (8,))
  with pytest.raises(ValueError, match="static_shape_tokens must be >= 2"):
    nbu.configure_run(base, static_shape_tokens=1)
  away = base.copy_and_resolve_references()
  away.data.train = [dict(path="/nowhere/pile.json", max_examples=3)]
  with pytest.warns(UserWarning, match=r"training data not found here \(\['/nowhere/pile.json'\]\)"):
    assert nbu.configure_run(away).data.train == [{"path": BUNDLED_TRAIN}]
  described = nbu.describe_config(config)
  assert "model: random bert 2x32; hidden 32, max_len 48" in described
  assert "pile_ner_slice_train.txt (first 64)" in described and "6 steps, batch 8" in described


# ----------------------------------------------------------------------------------- metrics and runs
def _write_metrics(workdir, rows, tail: str = "") -> None:
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in rows) + tail)


def _row(step: int, seconds: float = 0.1) -> dict:
  return {
    "step": step,
    "loss": 10.0 / step,
    "learning_rate": 1e-3 * step,
    "encoder_learning_rate": 5e-4 * step,
    "step_seconds": seconds,
  }


def test_read_metrics(tmp_path):
  assert nbu.read_metrics(str(tmp_path)) == []
  rows = [_row(1), _row(2), {"step": 2, "eval_f1": 0.25}]
  _write_metrics(tmp_path, rows, tail='{"step": 3, "lo')  # a run is writing line 4
  assert nbu.read_metrics(str(tmp_path)) == rows[:2]
  assert nbu.read_metrics(str(tmp_path), "eval") == rows[2:]
  assert nbu.read_metrics(str(tmp_path), "all") == rows
  _write_metrics(tmp_path, [], tail='{"step": 1\n' + json.dumps(_row(2)) + "\n")
  with pytest.raises(ValueError, match="line 1: not JSON"):
    nbu.read_metrics(str(tmp_path))
  with pytest.raises(ValueError, match="kind="):
    nbu.read_metrics(str(tmp_path), "loss")


def test_plot_metrics_draws_loss_and_learning_rates(tmp_path):
  _write_metrics(tmp_path, [_row(1), _row(2), {"step": 2, "eval_f1": 0.5}, _row(3)])
  fig = nbu.plot_metrics(str(tmp_path))
  loss_ax, lr_ax = fig.axes
  np.testing.assert_allclose(loss_ax.lines[0].get_xydata(), [[1, 10], [2, 5], [3, 10 / 3]])
  assert [line.get_label() for line in lr_ax.lines] == ["heads", "encoder"]
  np.testing.assert_allclose(lr_ax.lines[1].get_ydata(), [5e-4, 1e-3, 1.5e-3])
  assert nbu.figure_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
  empty = nbu.plot_metrics(str(tmp_path / "none"))
  assert empty.axes[0].texts[0].get_text() == "no metrics yet"


def test_checkpoint_steps(tmp_path):
  assert nbu.checkpoint_steps(str(tmp_path)) == []
  for name in ("10", "5", "15.orbax-checkpoint-tmp-1", "20"):
    (tmp_path / "checkpoints" / name).mkdir(parents=True)
  (tmp_path / "checkpoints" / "30").write_text("")  # not a directory
  assert nbu.checkpoint_steps(str(tmp_path)) == [5, 10, 20]


class FakeTrainer:
  """Stands in for train_and_evaluate: writes metrics and checkpoints like it, resuming or not."""

  def __init__(self, resume: bool):
    self.resume = resume

  def __call__(self, config, workdir):
    steps = nbu.checkpoint_steps(workdir)
    start = steps[-1] if steps and self.resume else 0
    kept = [r for r in nbu.read_metrics(workdir, "all") if r["step"] <= start]
    _write_metrics(
      workdir,
      kept
      + [_row(s, seconds=0.1 + 0.01 * s + 0.001 * len(steps)) for s in range(start + 1, config.train.num_steps + 1)],
    )
    os.makedirs(os.path.join(workdir, "checkpoints", str(config.train.num_steps)), exist_ok=True)
    return {"step": config.train.num_steps}


def test_train_reports_whether_it_resumed(tmp_path):
  config = nbu.load_config("tiny")
  config.train.num_steps = 3
  first = nbu.train(config, str(tmp_path / "a"), train_fn=FakeTrainer(resume=True))
  assert (first.start_checkpoint, first.final_step, first.resumed, first.state) == (0, 3, None, {"step": 3})
  assert first.summary().startswith("started from scratch, trained to step 3 in")
  config.train.num_steps = 5
  second = nbu.train(config, str(tmp_path / "a"), train_fn=FakeTrainer(resume=True), require_resume=True)
  assert (second.start_checkpoint, second.resumed) == (3, True)
  assert second.summary().startswith("resumed from the checkpoint at step 3, trained to step 5")
  assert [r["step"] for r in nbu.read_metrics(str(tmp_path / "a"))] == [1, 2, 3, 4, 5]

  config.train.num_steps = 3
  nbu.train(config, str(tmp_path / "b"), train_fn=FakeTrainer(resume=False))
  config.train.num_steps = 5
  restarted = nbu.train(config, str(tmp_path / "b"), train_fn=FakeTrainer(resume=False))
  assert (restarted.start_checkpoint, restarted.resumed) == (3, False)
  assert "did NOT resume from the checkpoint at step 3" in restarted.summary()
  config.train.num_steps = 7
  with pytest.raises(RuntimeError, match="had a checkpoint at step 5 but training did not resume"):
    nbu.train(config, str(tmp_path / "b"), train_fn=FakeTrainer(resume=False), require_resume=True)


def test_train_errors_propagate_and_stop_the_live_plot(tmp_path, monkeypatch):
  shown, updates = [], []

  class Handle:
    def update(self, obj):
      updates.append(obj)

  import IPython.display

  monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=None: shown.append(obj) or Handle())

  def failing(config, workdir):
    _write_metrics(workdir, [_row(1)])
    raise FloatingPointError("loss is nan")

  config = nbu.load_config("tiny")
  with pytest.raises(FloatingPointError, match="loss is nan"):
    nbu.train(config, str(tmp_path), live_plot=True, refresh_seconds=0.01, train_fn=failing)
  assert len(shown) == 1 and len(updates) >= 1  # the final redraw happens after the failure too
  assert updates[-1].data[:4] == b"\x89PNG"
