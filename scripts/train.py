"""Trains GLiNER: `python scripts/train.py --config configs/tiny.py --workdir /tmp/run`.

Config fields can be overridden on the command line, e.g. `--config.train.num_steps=100`.
Re-running with the same workdir resumes from its last checkpoint. The terminal shows the progress bar,
warnings and errors; the library's INFO lines go to <workdir>/log.txt (`--verbosity=0` shows them too).

Multi-process: on a TPU pod run the same command on every host (`jax.distributed.initialize()` finds the
others); on a CPU or GPU cluster give each process the coordinator (process 0's host:port), the number
of processes and its id:
  python scripts/train.py --config configs/tiny.py --workdir /shared/run \
    --coordinator_address=10.0.0.1:1234 --num_processes=2 --process_id=0   # and --process_id=1 on the other
"""

from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, config.json and metrics.jsonl.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0, for a multi-process run off a TPU pod.")
flags.DEFINE_integer("num_processes", None, "Processes in the run (with --coordinator_address).")
flags.DEFINE_integer("process_id", None, "This process's index, 0 .. num_processes - 1 (with --coordinator_address).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  from gliner_jax.training import distributed
  from gliner_jax.training.logging_setup import log_to_workdir, quiet_terminal

  verbosity = FLAGS.verbosity if FLAGS["verbosity"].present else None
  quiet_terminal(verbosity)
  distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  log_to_workdir(FLAGS.workdir, verbosity)
  from gliner_jax.training.loop import train_and_evaluate

  train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  app.run(main)
