"""Launching a study: its plan, a local sweep that resumes, and the commands that run it on a TPU pod.

`run_local` trains the runs one after another in `<workdir>/runs/<run>/` and appends each finished run's row
to `<workdir>/results.jsonl` (`gliner_jax.scaling.results`, so gs:// works): a run whose row is there is never
repeated, and a killed run continues from its checkpoint. Runs of the same tokenizer, data and seed share one
counted data stream (`gliner_jax.scaling.budgets`).

`pod_commands` builds, for each run, the one command that runs it on every host of an existing TPU VM or
cluster (`gcloud compute tpus tpu-vm ssh --worker=all`, `xpk workload create` or SkyPilot's `sky exec`); each
host runs the same `scripts/scaling.py run --only RUN`. `launch_pod` runs them one after another (or prints
them with dry_run): there is no scheduler here.

Example (not run as a doctest: planning tokenizes the study's data, ~30 s here, and `run_local` trains;
tests/test_scaling_launcher.py runs them):
  >>> from gliner_jax.configs.scaling import micro
  >>> study = Study.from_config(micro.get_config())  # doctest: +SKIP
  >>> print(format_plan(plan_study(study)))  # doctest: +SKIP
  >>> run_local(study, "workdirs/micro")  # doctest: +SKIP
  >>> pod = PodSpec("gcloud", "my-tpu", "us-central2-b", "my-project")
  >>> pod_commands(study, "configs/scaling/deberta_v3.py", "gs://bucket/study", pod)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import shlex
import subprocess
from typing import Any, Callable, Sequence

import jax
from etils import epath

from gliner_jax.scaling.budgets import TrainingStream
from gliner_jax.scaling.ladder import param_counts
from gliner_jax.scaling.results import append_result, read_results
from gliner_jax.scaling.runner import RunSpec, Study, execute_run, plan_run, stream_for, stream_key

POD_KINDS = ("gcloud", "xpk", "skypilot")
RESULTS_FILE = "results.jsonl"


def results_path(workdir: str) -> str:
  return str(epath.Path(workdir) / RESULTS_FILE)


def finished_runs(workdir: str) -> set[str]:
  """Names of the runs that already have a row in `<workdir>/results.jsonl` (any status)."""
  path = results_path(workdir)
  if not epath.Path(path).exists():
    return set()
  return {row["run"] for row in read_results(path)}


def select_runs(study: Study, only: Sequence[str] = ()) -> list[RunSpec]:
  """The study's runs, or those named in `only` (an error names any that the study does not have)."""
  runs = study.runs()
  if not only:
    return runs
  names = {r.name for r in runs}
  unknown = sorted(set(only) - names)
  if unknown:
    raise ValueError(f"--only names runs this study does not have: {unknown}; its runs: {sorted(names)}")
  return [r for r in runs if r.name in set(only)]


class _Streams:
  """One counted training stream per distinct (data, recipe, tokenizer, seed) of a sweep."""

  def __init__(self, study: Study):
    self.study = study
    self.streams: dict[str, TrainingStream] = {}

  def __call__(self, spec: RunSpec) -> TrainingStream:
    key = stream_key(self.study, spec)
    if key not in self.streams:
      self.streams[key] = stream_for(self.study, spec)
    return self.streams[key]


def plan_study(study: Study, only: Sequence[str] = ()) -> list[dict[str, Any]]:
  """Every run's rung size, budget and the steps / data that spend it (reads and counts the training data)."""
  streams = _Streams(study)
  rows = []
  for spec in select_runs(study, only):
    plan = plan_run(study, spec, streams(spec))
    counts = param_counts(spec.rung, **study.head())
    rows.append(
      dict(
        run=spec.name,
        rung=spec.rung.name,
        **counts.to_dict(),
        budget_flops=plan.budget,
        steps=plan.steps,
        train_flops=plan.flops,
        budget_error=plan.relative_error,
        train_examples=plan.examples,
        train_tokens=plan.tokens,
        train_spans=plan.spans,
        types_seen=plan.types_seen,
      )
    )
  return rows


def format_plan(rows: Sequence[dict[str, Any]]) -> str:
  """A markdown table of `plan_study` rows."""
  lines = [
    "| run | params (total / non-emb. / encoder / head) | budget | steps | train FLOPs (error) | examples | tokens"
    " | spans | types |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ]
  for r in rows:
    params = " / ".join(
      f"{r[k] / 1e6:.1f}M" for k in ("params_total", "params_non_embedding", "params_encoder", "params_head")
    )
    lines.append(
      f"| {r['run']} | {params} | {r['budget_flops']:.3g} | {r['steps']} | {r['train_flops']:.4g} "
      f"({r['budget_error']:.2%}) | {r['train_examples']} | {r['train_tokens']} | {r['train_spans']} "
      f"| {r['types_seen']} |"
    )
  return "\n".join(lines)


def run_local(
  study: Study, workdir: str, only: Sequence[str] = (), log: Callable[[str], None] = logging.info
) -> list[dict[str, Any]]:
  """Runs the study's runs (or `only` those) one after another; returns the rows written by this call.

  Process 0 appends the rows; every process of a multi-host run trains (run the same command on each host).
  """
  done = finished_runs(workdir)
  streams = _Streams(study)
  primary = jax.process_index() == 0
  written = []
  for spec in select_runs(study, only):
    if spec.name in done:
      log(f"{spec.name}: already in {results_path(workdir)}, skipped")
      continue
    plan = plan_run(study, spec, streams(spec))
    log(f"{spec.name}: {plan.steps} steps for {plan.budget:.3g} FLOPs ({plan.relative_error:.2%} off)")
    run_dir = str(epath.Path(workdir) / "runs" / spec.name)
    row = execute_run(study, spec, plan, run_dir, cache_dir=str(epath.Path(workdir) / "compilation_cache"))
    if primary:
      append_result(results_path(workdir), row)
    log(f"{spec.name}: {row['status']}, eval_loss {row['eval_loss']}, f1_avg {row['f1_avg']}")
    written.append(row)
  return written


@dataclasses.dataclass(frozen=True)
class PodSpec:
  """Where `pod_commands` sends each run.

  kind "gcloud": `name` is the TPU VM, with `zone` and `project`; "xpk": `name` is the GKE cluster, with
  `tpu_type` (e.g. v5litepod-16), `zone` and `project`; "skypilot": `name` is the SkyPilot cluster.
  `repo`: the gliner_jax checkout on the hosts (relative to the remote home, or absolute).
  """

  kind: str
  name: str
  zone: str = ""
  project: str = ""
  repo: str = "gliner_jax"
  python: str = "python"
  tpu_type: str = ""

  def __post_init__(self):
    if self.kind not in POD_KINDS:
      raise ValueError(f"pod kind {self.kind!r}: use one of {POD_KINDS}")
    if not self.name:
      raise ValueError(f"a {self.kind} pod needs a name (the TPU VM or cluster)")
    need = {"gcloud": ("zone", "project"), "xpk": ("zone", "project", "tpu_type"), "skypilot": ()}[self.kind]
    missing = [f for f in need if not getattr(self, f)]
    if missing:
      raise ValueError(f"a {self.kind} pod needs {missing}")


def remote_command(pod: PodSpec, config_path: str, workdir: str, run: str) -> str:
  """What every host runs for one run.

  >>> remote_command(PodSpec("skypilot", "c"), "configs/scaling/x.py", "gs://b/s", "r-c1e18-s0")
  'cd gliner_jax && python scripts/scaling.py run --config configs/scaling/x.py --workdir gs://b/s --only r-c1e18-s0'
  """
  argv = [pod.python, "scripts/scaling.py", "run", "--config", config_path, "--workdir", workdir, "--only", run]
  return f"cd {shlex.quote(pod.repo)} && {shlex.join(argv)}"


def workload_name(run: str, limit: int = 40) -> str:
  """An xpk workload name for a run: lower case letters, digits and '-', at most `limit` characters (a hash of
  the full name keeps cut names apart).

  >>> workload_name("deberta-v3-small-c1e18-s0")
  'deberta-v3-small-c1e18-s0'
  """
  name = re.sub(r"[^a-z0-9-]+", "-", run.lower()).strip("-")
  if len(name) > limit:
    digest = hashlib.sha256(run.encode()).hexdigest()[:6]
    name = name[: limit - 7].rstrip("-") + "-" + digest
  return name


def pod_command(pod: PodSpec, config_path: str, workdir: str, run: str) -> list[str]:
  """The argv that runs `run` on every host of the pod."""
  inner = remote_command(pod, config_path, workdir, run)
  if pod.kind == "gcloud":
    return [
      "gcloud",
      "compute",
      "tpus",
      "tpu-vm",
      "ssh",
      pod.name,
      f"--zone={pod.zone}",
      f"--project={pod.project}",
      "--worker=all",
      f"--command={inner}",
    ]
  if pod.kind == "xpk":
    return [
      "xpk",
      "workload",
      "create",
      f"--cluster={pod.name}",
      f"--workload={workload_name(run)}",
      f"--tpu-type={pod.tpu_type}",
      "--num-slices=1",
      f"--zone={pod.zone}",
      f"--project={pod.project}",
      f"--command={inner}",
    ]
  return ["sky", "exec", pod.name, inner]


def pod_commands(
  study: Study, config_path: str, workdir: str, pod: PodSpec, only: Sequence[str] = (), skip: Sequence[str] = ()
) -> list[list[str]]:
  """One command per run of the study (or of `only`), leaving out the runs named in `skip` (finished ones)."""
  if not workdir.startswith("gs://"):
    logging.warning("pod workdir %s is not gs://: every host must see the same folder", workdir)
  return [
    pod_command(pod, config_path, workdir, spec.name) for spec in select_runs(study, only) if spec.name not in set(skip)
  ]


def launch_pod(
  study: Study,
  config_path: str,
  workdir: str,
  pod: PodSpec,
  only: Sequence[str] = (),
  dry_run: bool = False,
  log: Callable[[str], None] = print,
) -> list[list[str]]:
  """Runs (or with `dry_run` prints) each run's pod command in turn; finished runs (rows in the workdir's
  results.jsonl, when it can be read from here) are left out. A failing command stops the sweep."""
  skip = () if dry_run else sorted(finished_runs(workdir))
  commands = pod_commands(study, config_path, workdir, pod, only, skip)
  for argv in commands:
    log(shlex.join(argv))
    if not dry_run:
      subprocess.run(argv, check=True)
  return commands
