"""Training quality vs gliner 0.2.29: the same data, backbone and hyper-parameters trained by both, scored alike.

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
   itself), exported as a gliner_jax folder. Init "own" starts from the backbone with gliner_jax's
   own initialisation of the heads and new token rows; "reference" from gliner's step-0 weights
   (``workdir/reference/init``, converted), which takes initialisation out of the comparison.
4. Both models are loaded by ``gliner_jax.GLiNER.from_pretrained`` (the gliner folder is converted) and scored
   by `gliner_jax.evaluation.scoring.sweep_thresholds` on the CrossNER test sets (flat decoding, exact match).

Hyper-parameters live in one `Settings` (configs/compare_gliner.py holds the defaults); `reference_model_config`,
`reference_training_kwargs` and `our_config` map them to each library (tests/test_compare_training.py checks that
the same values arrive). `run_comparison` does all four steps; scripts/compare_training.py is its command line.

Example (minutes per 100 steps on a CPU):
  >>> result = run_comparison(Settings(steps=100), "workdirs/compare_training")  # doctest: +SKIP
  >>> print(result.text)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
import time
from typing import Any, Sequence

from gliner_jax.interop.installed_models import minilm_dir
from gliner_jax.training.comparison_report import REFERENCE

INITS = ("own", "reference")
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DOMAINS = ("ai", "literature", "music", "politics", "science")


@dataclasses.dataclass(frozen=True)
class Settings:
  """Everything that affects quality, shared by both trainers (docs/training.md gives the mapping)."""

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

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> Settings:
    """The inverse of `to_dict`; an unknown key is an error naming it."""
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"unknown comparison settings {unknown}; known: {[f.name for f in dataclasses.fields(cls)]}")
    return cls(**values)


# ------------------------------------------------------------------------------------------------ data
def default_data() -> str:
  from gliner_jax.data.paths import shared_data

  return shared_data("pile_ner_subset", "391xALL_BIO_dev.txt")


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
  c.model.name = MINILM_NAME if backbone == minilm_dir(required=False) else ""
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


def comparison_config(s: Settings | None = None):
  """configs/compare_gliner.py: `our_config` on the default backbone and data (the gliner_jax side, trainable alone
  with scripts/train.py), plus `config.compare`, the `Settings` both sides are built from (`settings_from_config`)."""
  import ml_collections

  s = s or Settings()
  c = our_config(s, minilm_dir(required=False) or MINILM_NAME, default_data())
  c.compare = ml_collections.ConfigDict(s.to_dict())
  return c


def settings_from_config(config, **overrides) -> Settings:
  """The `Settings` in `config.compare` (see `comparison_config`), with `overrides` that are not None applied."""
  if "compare" not in config:
    raise ValueError("the config has no `compare` block: use configs/compare_gliner.py or comparison_config()")
  values = dict(config.compare.to_dict())
  values.update({k: v for k, v in overrides.items() if v is not None})
  return Settings.from_dict(values)


def is_model_folder(path: str) -> bool:
  """A gliner or gliner_jax model folder (its config file is there)."""
  return any(os.path.isfile(os.path.join(path, f)) for f in ("gliner_config.json", "gliner_jax_config.json"))


# ----------------------------------------------------------------------------------------- gliner side
def build_reference(s: Settings, backbone: str):
  """A fresh gliner 0.2.29 model (seeded: the same weights on every call)."""
  from gliner_jax.interop.reference_models import build_reference_model

  return build_reference_model(reference_model_config(s, backbone), seed=s.seed)


def train_reference(s: Settings, backbone: str, train_file: str, run_dir: str) -> dict[str, Any]:
  """Trains with gliner's Trainer (resuming from run_dir/checkpoints); returns the run's record."""
  record_path = os.path.join(run_dir, "run.json")
  final = os.path.join(run_dir, "final")
  if os.path.isfile(record_path) and is_model_folder(final):
    with open(record_path) as f:
      return json.load(f)
  import transformers
  from gliner.training import Trainer
  from packaging import version

  model = build_reference(s, backbone)
  init = os.path.join(run_dir, "init")
  if not is_model_folder(init):
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
  resume = latest_hf_checkpoint(ckpt_dir)
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


def latest_hf_checkpoint(directory: str) -> str | None:
  """The Hugging Face Trainer's last `checkpoint-<step>` folder in `directory`, or None."""
  found = sorted(glob.glob(os.path.join(directory, "checkpoint-*")), key=lambda p: int(p.rsplit("-", 1)[1]))
  return found[-1] if found else None


# ------------------------------------------------------------------------------------- gliner_jax side
def train_ours(s: Settings, backbone: str, train_file: str, run_dir: str, init_dir: str | None = None) -> dict:
  """Trains with `train_and_evaluate` (it resumes from run_dir by itself), exports a gliner_jax folder."""
  record_path = os.path.join(run_dir, "run.json")
  final = os.path.join(run_dir, "final")
  if os.path.isfile(record_path) and is_model_folder(final):
    with open(record_path) as f:
      return json.load(f)
  from gliner_jax.training.export import export_model
  from gliner_jax.training.loop import train_and_evaluate
  from gliner_jax.training.metrics_file import read_metrics

  config = our_config(s, backbone, train_file, init_dir)
  checkpoints = os.path.join(run_dir, "checkpoints")
  steps_done = [int(d) for d in os.listdir(checkpoints) if d.isdigit()] if os.path.isdir(checkpoints) else []
  start = time.perf_counter()
  train_and_evaluate(config, run_dir)
  seconds = time.perf_counter() - start
  step = export_model(config, run_dir, final, dtype=None, format="gliner_jax")
  record = dict(
    name="gliner_jax" + (" (gliner's init)" if init_dir else ""),
    model_dir=final,
    init_dir=init_dir,
    train_seconds=seconds,
    resumed_from=max(steps_done, default=0),
    steps=step,
    losses=[[row["step"], row["loss"]] for row in read_metrics(run_dir, "train")],
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
