"""Scaling studies: plan, run, fit and plot a ladder of model sizes under FLOP budgets (docs/scaling.md).

  python scripts/scaling.py plan --config configs/scaling/micro.py --workdir workdirs/micro
  python scripts/scaling.py run  --config configs/scaling/micro.py --workdir workdirs/micro
  python scripts/scaling.py fit  --workdir workdirs/micro            # or --results any/results.jsonl
  python scripts/scaling.py plot --workdir workdirs/micro

`run` resumes: finished runs (rows in <workdir>/results.jsonl) are skipped, a killed run continues from its
checkpoint. `--only RUN` runs one run. On a TPU pod, `--launcher pod` sends each run to every host:
  python scripts/scaling.py run --config configs/scaling/deberta_v3.py --workdir gs://bucket/deberta_v3 \
    --launcher pod --pod_kind gcloud --pod_name my-tpu --zone us-central2-b --project my-project --dry_run
Fit columns: `--column n=params_total` (repeatable) is passed on to `fitting.fit_file` as n="params_total".
"""

import json
import os

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
COMMANDS = ("plan", "run", "fit", "plot")
config_flags.DEFINE_config_file("config", None, "Scaling study config (configs/scaling/*.py).", lock_config=False)
flags.DEFINE_string("workdir", None, "Study folder: results.jsonl, fit.json, runs/, plots/ (local or gs://).")
flags.DEFINE_multi_string("only", [], "Run only these runs (names as `plan` prints them).")
flags.DEFINE_enum("launcher", "local", ["local", "pod"], "local: one run after another here; pod: on a TPU pod.")
flags.DEFINE_bool("dry_run", False, "With --launcher pod: print the commands, run nothing.")
flags.DEFINE_enum("pod_kind", None, ["gcloud", "xpk", "skypilot"], "How to reach the pod (default config.scaling.pod).")
flags.DEFINE_string("pod_name", None, "TPU VM (gcloud) or cluster (xpk, skypilot).")
flags.DEFINE_string("zone", None, "Cloud zone (gcloud, xpk).")
flags.DEFINE_string("project", None, "Cloud project (gcloud, xpk).")
flags.DEFINE_string("tpu_type", None, "xpk: the TPU type, e.g. v5litepod-16.")
flags.DEFINE_string("repo", None, "The gliner_jax checkout on the pod hosts (default gliner_jax, in the home).")
flags.DEFINE_string("results", None, "fit / plot: a results.jsonl (default <workdir>/results.jsonl).")
flags.DEFINE_string("fit_out", None, "fit: output (default <workdir>/fit.json); plot: the fit to draw.")
flags.DEFINE_string("plot_dir", None, "plot: output folder (default <workdir>/plots).")
flags.DEFINE_string("caption", None, "plot: the line under each figure (default: command, hardware, date).")
flags.DEFINE_multi_string("column", [], "fit: KEY=VALUE options of fitting.fit_file (e.g. n=params_total).")
flags.DEFINE_string("coordinator_address", None, "run on a multi-process cluster off a TPU pod (see scripts/train.py).")
flags.DEFINE_integer("num_processes", None, "Processes in the run (with --coordinator_address).")
flags.DEFINE_integer("process_id", None, "This process's index (with --coordinator_address).")


def _study():
  from gliner_jax.scaling.runner import Study

  if FLAGS.config is None:
    raise app.UsageError("--config is required for plan and run")
  return Study.from_config(FLAGS.config)


def _pod_spec(study):
  from gliner_jax.scaling.launcher import PodSpec

  values = dict(study.settings.get("pod", {}) or {})
  given = dict(
    kind=FLAGS.pod_kind,
    name=FLAGS.pod_name,
    zone=FLAGS.zone,
    project=FLAGS.project,
    tpu_type=FLAGS.tpu_type,
    repo=FLAGS.repo,
  )
  values.update({k: v for k, v in given.items() if v is not None})
  return PodSpec(**values)


def _path(flag_value, name):
  if flag_value:
    return flag_value
  if not FLAGS.workdir:
    raise app.UsageError(f"give --workdir (or the path itself) for {name}")
  return os.path.join(FLAGS.workdir, name)


def main(argv):
  if len(argv) != 2 or argv[1] not in COMMANDS:
    raise app.UsageError(f"usage: scaling.py {'|'.join(COMMANDS)} --config ... --workdir ...")
  command = argv[1]
  if command == "plan":
    from gliner_jax.scaling.launcher import format_plan, plan_study

    print(format_plan(plan_study(_study(), FLAGS.only)))
  elif command == "run":
    if not FLAGS.workdir:
      raise app.UsageError("run needs --workdir")
    study = _study()
    if FLAGS.launcher == "pod":
      from gliner_jax.scaling.launcher import launch_pod

      config_path = config_flags.get_config_filename(FLAGS["config"])
      launch_pod(study, config_path, FLAGS.workdir, _pod_spec(study), FLAGS.only, dry_run=FLAGS.dry_run)
      return
    if FLAGS.dry_run:
      raise app.UsageError("--dry_run is for --launcher pod; `plan` shows what a local run does")
    from gliner_jax.training import distributed

    distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    from gliner_jax.scaling.launcher import run_local

    run_local(study, FLAGS.workdir, FLAGS.only, log=print)
  elif command == "fit":
    from gliner_jax.scaling.fitting import fit_file

    options = {}
    for item in FLAGS.column:
      key, sep, value = item.partition("=")
      if not sep:
        raise app.UsageError(f"--column {item!r}: use KEY=VALUE")
      options[key] = value
    out = _path(FLAGS.fit_out, "fit.json")
    fit = fit_file(_path(FLAGS.results, "results.jsonl"), out, **options)
    print(json.dumps(fit, indent=2, default=str)[:4000])
    print(f"wrote {out}")
  else:
    from gliner_jax.scaling.plotting import plot_file

    results, fit = _path(FLAGS.results, "results.jsonl"), _path(FLAGS.fit_out, "fit.json")
    fit = fit if fit.startswith("gs://") or os.path.exists(fit) else None
    paths = plot_file(results, fit, _path(FLAGS.plot_dir, "plots"), caption=FLAGS.caption or _caption(results))
    print("\n".join(paths))


def _caption(results: str) -> str:
  """Names what made the figure: the plot command, the hardware of the runs and today's date."""
  import datetime

  from gliner_jax.scaling.results import read_results

  hardware = sorted({f"{r['device_count']} x {r['device_kind']}" for r in read_results(results)})
  today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
  return f"python scripts/scaling.py plot --results {results} | runs on {', '.join(hardware)} | {today}"


if __name__ == "__main__":
  logging.set_verbosity(logging.WARNING)
  app.run(main)
