"""The launcher: run names, study configs, the resuming local sweep, the exact pod commands, row rules."""

import importlib.util
import os
import re
import subprocess
import sys

import ml_collections
import pytest

from gliner_jax.data.paths import REPO_ROOT
from gliner_jax.scaling import launcher, runner
from gliner_jax.scaling.budgets import BudgetPlan
from gliner_jax.scaling.ladder import MINILM, Rung, param_counts
from gliner_jax.scaling.results import example_row, read_results
from gliner_jax.training.config import base_config

MICRO = os.path.join("configs", "scaling", "micro.py")


def _study(budgets=(1e12, 2e12), seeds=(0,)) -> runner.Study:
  c = base_config()
  c.scaling = ml_collections.ConfigDict(
    dict(
      rungs=[dict(name="r1", backbone=MINILM, layers=1), dict(name="r2", backbone=MINILM, layers=2)],
      budgets=list(budgets),
      seeds=list(seeds),
    )
  )
  return runner.Study.from_config(c)


def test_runs_are_named_from_their_settings():
  study = _study(seeds=(0, 1))
  names = [r.name for r in study.runs()]
  assert names == [
    "r1-c1e12-s0",
    "r1-c1e12-s1",
    "r2-c1e12-s0",
    "r2-c1e12-s1",
    "r1-c2e12-s0",
    "r1-c2e12-s1",
    "r2-c2e12-s0",
    "r2-c2e12-s1",
  ]
  assert names == [r.name for r in _study(seeds=(0, 1)).runs()]  # deterministic
  assert runner.run_name(Rung("x", backbone="b"), 3.2e11, 7) == "x-c3.2e11-s7"


@pytest.mark.parametrize(
  "change, message",
  [
    (lambda c: c.scaling.update(budgets=[]), "budgets is empty"),
    (lambda c: c.scaling.update(budgets=[-1.0]), "positive FLOP counts"),
    (lambda c: c.scaling.update(rungs=[dict(name="a", backbone="b")] * 2), "duplicate rung names"),
    (lambda c: c.scaling.update(seeds=[]), "seeds is empty"),
  ],
)
def test_bad_study_configs_are_refused(change, message):
  c = base_config()
  c.scaling = ml_collections.ConfigDict(dict(rungs=[dict(name="a", backbone="b")], budgets=[1e12], seeds=[0]))
  change(c)
  with pytest.raises(ValueError, match=message):
    runner.Study.from_config(c)
  with pytest.raises(ValueError, match="needs a `scaling` section"):
    runner.Study.from_config(base_config())


def test_run_config_sets_steps_seed_and_turns_in_loop_eval_off():
  study = _study()
  spec = study.runs()[1]
  config = runner.run_config(study, spec, 37, cache_dir="/c")
  assert (config.train.num_steps, config.train.seed, config.model.encoder_layers) == (37, 0, 2)
  assert config.data.eval == [] and config.train.checkpoint_every == 37 and config.train.compilation_cache_dir == "/c"
  assert runner.config_hash(config) == runner.config_hash(runner.run_config(study, spec, 37, cache_dir="/c"))
  assert runner.config_hash(config) != runner.config_hash(runner.run_config(study, spec, 38, cache_dir="/c"))


def test_local_sweep_skips_finished_runs_and_writes_a_row_per_run(tmp_path, monkeypatch):
  study = _study()
  workdir = str(tmp_path / "study")
  launcher.append_result(launcher.results_path(workdir), example_row(run="r1-c1e12-s0", rung="r1"))
  executed = []

  def fake_execute(study_, spec, plan, run_dir, cache_dir=""):
    executed.append((spec.name, plan.steps, run_dir))
    return example_row(run=spec.name, rung=spec.rung.name, steps=plan.steps)

  monkeypatch.setattr(launcher, "stream_for", lambda study_, spec: object())
  monkeypatch.setattr(
    launcher, "plan_run", lambda study_, spec, stream: BudgetPlan(spec.budget, 5, spec.budget, 1, 1, 1, 1)
  )
  monkeypatch.setattr(launcher, "execute_run", fake_execute)
  launcher.run_local(study, workdir, log=lambda _: None)
  assert [e[0] for e in executed] == ["r2-c1e12-s0", "r1-c2e12-s0", "r2-c2e12-s0"]
  assert executed[0][2] == os.path.join(workdir, "runs", "r2-c1e12-s0")
  assert [r["run"] for r in read_results(launcher.results_path(workdir))] == [
    "r1-c1e12-s0",
    "r2-c1e12-s0",
    "r1-c2e12-s0",
    "r2-c2e12-s0",
  ]
  executed.clear()
  launcher.run_local(study, workdir, log=lambda _: None)  # everything is finished: nothing runs again
  assert executed == []
  with pytest.raises(ValueError, match=r"does not have: \['nope'\]"):
    launcher.run_local(study, workdir, only=["nope"])


def test_pod_commands_are_exact():
  study = _study(budgets=(1e18,))
  gcloud = launcher.PodSpec("gcloud", "my-tpu", zone="us-central2-b", project="proj")
  assert launcher.pod_commands(study, "configs/scaling/deberta_v3.py", "gs://bkt/s", gcloud) == [
    [
      "gcloud",
      "compute",
      "tpus",
      "tpu-vm",
      "ssh",
      "my-tpu",
      "--zone=us-central2-b",
      "--project=proj",
      "--worker=all",
      "--command=cd gliner_jax && python scripts/scaling.py run --config configs/scaling/deberta_v3.py "
      f"--workdir gs://bkt/s --only {name}",
    ]
    for name in ("r1-c1e18-s0", "r2-c1e18-s0")
  ]
  xpk = launcher.PodSpec("xpk", "cluster-1", zone="us-east5-b", project="proj", tpu_type="v5litepod-16", repo="/app")
  (command,) = launcher.pod_commands(study, "configs/scaling/x.py:gpu", "gs://bkt/s", xpk, only=["r2-c1e18-s0"])
  assert command == [
    "xpk",
    "workload",
    "create",
    "--cluster=cluster-1",
    "--workload=r2-c1e18-s0",
    "--tpu-type=v5litepod-16",
    "--num-slices=1",
    "--zone=us-east5-b",
    "--project=proj",
    "--command=cd /app && python scripts/scaling.py run --config configs/scaling/x.py:gpu --workdir gs://bkt/s "
    "--only r2-c1e18-s0",
  ]
  sky = launcher.PodSpec("skypilot", "sky-tpu", repo="my repo")
  assert launcher.pod_commands(study, "c.py", "gs://b", sky, skip=["r1-c1e18-s0"]) == [
    [
      "sky",
      "exec",
      "sky-tpu",
      "cd 'my repo' && python scripts/scaling.py run --config c.py --workdir gs://b --only r2-c1e18-s0",
    ]
  ]


def test_workload_names_fit_xpk():
  long = "deberta-v3-large-L24_with.a.very.long.name-c1.125e19-s12"
  name = launcher.workload_name(long)
  assert (
    len(name) <= 40
    and name.startswith("deberta-v3-large-l24-with-a-very")
    and name != launcher.workload_name(long + "x")
  )
  assert all(ch.isalnum() or ch == "-" for ch in name)


@pytest.mark.parametrize(
  "kwargs, message",
  [
    (dict(kind="slurm", name="x"), "use one of"),
    (dict(kind="gcloud", name=""), "needs a name"),
    (dict(kind="gcloud", name="t", zone="z"), r"needs \['project'\]"),
    (dict(kind="xpk", name="c", zone="z", project="p"), r"needs \['tpu_type'\]"),
  ],
)
def test_bad_pod_specs_are_refused(kwargs, message):
  with pytest.raises(ValueError, match=message):
    launcher.PodSpec(**kwargs)


def test_row_rules():
  assert runner.loss_summary([]) == (None, None)
  assert runner.loss_summary([5.0, 3.0, 1.0]) == (5.0, 1.0)
  assert runner.loss_summary(list(range(20, 0, -1))) == (19.5, 1.5)  # two steps each of 20
  assert runner.run_status(5.0, 1.0, 2.0) == "ok"
  assert runner.run_status(1.0, 5.0, 2.0) == "diverged"
  assert runner.run_status(5.0, 1.0, float("inf")) == "diverged"
  assert runner.run_status(5.0, 1.0, None) == "ok"
  commit = runner.git_commit()
  assert commit == "unknown" or (len(commit) == 40 and int(commit, 16) >= 0)
  assert runner.git_commit(os.path.dirname(REPO_ROOT.rstrip(os.sep)) + "/not-a-repo") == "unknown"


@pytest.mark.subprocess
def test_cli_dry_run_prints_the_pod_commands():
  argv = [sys.executable, "scripts/scaling.py", "run", "--config", MICRO, "--workdir", "gs://bkt/micro"]
  argv += [
    "--launcher",
    "pod",
    "--pod_kind",
    "gcloud",
    "--pod_name",
    "tpu",
    "--zone",
    "z",
    "--project",
    "p",
    "--dry_run",
  ]
  out = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  lines = [line for line in out.stdout.splitlines() if line.startswith("gcloud")]
  expected = [
    f"gcloud compute tpus tpu-vm ssh tpu --zone=z --project=p --worker=all '--command=cd gliner_jax && python "
    f"scripts/scaling.py run --config {MICRO} --workdir gs://bkt/micro --only minilm-l6-v2-L{k}-c{b}-s0'"
    for b in ("3e11", "4.5e11")
    for k in (1, 2, 3)
  ]
  assert lines == expected


# The pod configs, one per published family, and their rungs (smallest first). configs/scaling/ettin.py names
# backbones that gliner_jax.model.backbones gains in another branch; its test comes with them.
POD_CONFIGS = {
  "deberta_v3": ["deberta-v3-xsmall", "deberta-v3-small", "deberta-v3-base"]
  + [f"deberta-v3-large-L{k}" for k in (6, 12, 18)]
  + ["deberta-v3-large"],
  "ettin": [f"ettin-encoder-{size}" for size in ("17m", "32m", "68m", "150m", "400m", "1b")],
  "mdeberta": [f"mdeberta-v3-base-L{k}" for k in (3, 6, 9, 12)],
  "modernbert": [f"modernbert-base-L{k}" for k in (4, 7, 13, 22)],
}


def _scaling_config(name: str):
  path = os.path.join(REPO_ROOT, "configs", "scaling", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"scaling_config_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("name", sorted(POD_CONFIGS))
def test_pod_configs_name_their_runs_and_say_how_to_plan_and_launch(name):
  module = _scaling_config(name)
  study = runner.Study.from_config(module.get_config("gs://bkt/pilener_train.json"))
  assert [r.name for r in study.rungs] == POD_CONFIGS[name]
  assert study.budgets == [1e17, 3e17, 1e18] and study.seeds == [0]
  assert study.base.data.train[0]["path"] == "gs://bkt/pilener_train.json"
  assert study.base.recipe.fixed_shape and study.base.train.compute_dtype == "bfloat16"
  doc = module.__doc__
  assert re.search(
    rf"^  python scripts/scaling\.py plan --config configs/scaling/{name}\.py:\S+ --workdir \S+$", doc, re.M
  )
  run = re.search(
    rf"^  (python scripts/scaling\.py run --config configs/scaling/{name}\.py:\S+ .*?--dry_run)$", doc, re.M | re.S
  )
  assert run and "--launcher pod" in run.group(1), f"configs/scaling/{name}.py: its docstring needs the pod dry run"
  pod = launcher.PodSpec(study.settings.pod.kind, "tpu", zone="z", project="p", repo=study.settings.pod.repo)
  commands = launcher.pod_commands(study, f"configs/scaling/{name}.py:gs://d", "gs://bkt/s", pod)
  expected = [f"{rung}-c{b}-s0" for b in ("1e17", "3e17", "1e18") for rung in POD_CONFIGS[name]]
  assert [c[-1] for c in commands] == [
    f"--command=cd gliner_jax && python scripts/scaling.py run --config configs/scaling/{name}.py:gs://d "
    f"--workdir gs://bkt/s --only {run_name}"
    for run_name in expected
  ]


def test_mdeberta_rungs_match_a_hand_count():
  """mDeBERTa-v3-base cut to 3..12 layers: the 251k-row vocabulary (+ the relative table) is the embedding at every
  rung, and each layer adds the same hand-counted weights."""
  study = runner.Study.from_config(_scaling_config("mdeberta").get_config())
  d, ffn = 768, 3072
  layer = 4 * (d * d + d) + 2 * d + (d * ffn + ffn) + (ffn * d + d) + 2 * d  # q, k, v, out; LN; FFN; LN
  embedding = 251003 * d + 2 * 256 * d  # tokens (+ GLiNER's 3), relative positions (2 x 256 buckets)
  for rung, layers in zip(study.rungs, (3, 6, 9, 12)):
    counts = param_counts(rung, **study.head())
    assert counts.embedding == embedding
    assert counts.encoder == embedding + layers * layer + 2 * 2 * d  # + the embedding and relative LayerNorms
    assert counts.head == 24_794_112  # the same head on every rung
  assert embedding > 12 * layer  # the docstring's point: count non-embedding parameters


def test_ettin_and_xsmall_rungs_resolve_to_the_bundled_backbones():
  """The Ettin ladder and DeBERTa-v3-xsmall rungs read the bundled table: encoder sizes near the published names."""
  ettin = runner.Study.from_config(_scaling_config("ettin").get_config())
  published = {"17m": 17e6, "32m": 32e6, "68m": 68e6, "150m": 150e6, "400m": 400e6, "1b": 1e9}
  for rung in ettin.rungs:
    counts = param_counts(rung, **ettin.head())
    assert abs(counts.encoder / published[rung.name.rsplit("-", 1)[1]] - 1) < 0.05, (rung.name, counts)
  deberta = runner.Study.from_config(_scaling_config("deberta_v3").get_config())
  xsmall = next(r for r in deberta.rungs if r.name == "deberta-v3-xsmall")
  counts = param_counts(xsmall, **deberta.head())
  assert counts.embedding == 128003 * 384 + 2 * 256 * 384  # GLiNER's vocabulary and the relative table, hidden 384
  assert abs((counts.encoder - counts.embedding) / 22e6 - 1) < 0.05  # 22M backbone parameters (model card)
