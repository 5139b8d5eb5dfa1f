"""Train steps of a tiny config on several meshes of host CPU devices; prints one JSON object.

Run by tests/test_sharding.py in a subprocess, because the device count is fixed when jax starts:
  XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/sharded_step_check.py 8,1,1 2,4,1

The reference is the same steps on a (1, 1, 1) mesh of one device. For every mesh given on the
command line (data,fsdp,tensor) the output holds the per-step losses and gradient norms, the
largest absolute difference of the updated parameters from the reference, and which parameters
were actually sharded. Same batch, same rng, dropout on.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gliner_jax.data.recipe import RecipeConfig  # noqa: E402
from gliner_jax.processing.prompts import PromptTokenizer  # noqa: E402
from gliner_jax.training import loop as train  # noqa: E402
from gliner_jax.training import sharding as shd  # noqa: E402
from gliner_jax.training.config_files import load_config  # noqa: E402
from gliner_jax.training.data import load_examples, make_train_iterator  # noqa: E402

NUM_STEPS = 2
SHOWN = (
  "['encoder']['layer_0']['ffn']['intermediate']['kernel']",  # (embed, mlp)
  "['encoder']['embeddings']['word_embeddings']['embedding']",
)  # (vocab, embed)


def check_config():
  """The tiny config with every sharded dimension divisible by 4 and no warmup (step 1 moves the weights)."""
  c = load_config("tiny")
  c.model.encoder = dict(
    c.model.encoder, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64
  )
  c.model.hidden_size = 32
  c.data.train = [dict(c.data.train[0], max_examples=16)]
  c.data.eval = []
  c.recipe.update(token_buckets=(128,), word_buckets=(48,), type_buckets=(8,), max_tokens=128)
  c.optimizer.update(warmup_ratio=0.0, encoder_lr=1e-3, head_lr=1e-3)
  c.train.update(batch_size=8, num_steps=10)
  return c


def first_batch(config, parts) -> dict[str, np.ndarray]:
  ptok = PromptTokenizer(parts.start.tokenizer, parts.config)
  recipe = RecipeConfig.from_model_config(parts.config, batch_size=config.train.batch_size, **dict(config.recipe))
  return next(make_train_iterator(load_examples(config.data.train), ptok, recipe, seed=config.train.seed))


def run(config, start, batch, shape: tuple[int, int, int]) -> dict:
  began = time.perf_counter()
  devices = jax.devices()[: int(np.prod(shape))]
  mesh = shd.make_mesh(dict(zip(shd.MESH_AXES, shape)), devices=devices)
  parts = train.build(config, mesh=mesh, start=start)
  state = train.initial_state(parts, seed=0)
  leaves = {jax.tree_util.keystr(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(state["params"])}
  sharded = sorted(name for name, leaf in leaves.items() if not leaf.sharding.is_fully_replicated)
  shard_shapes = {name: list(leaves[name].sharding.shard_shape(leaves[name].shape)) for name in SHOWN}
  initial = jax.tree.map(np.asarray, jax.device_get(state["params"]))
  init_seconds = time.perf_counter() - began
  rng = jax.random.key(42)
  losses, grad_norms = [], []
  for _ in range(NUM_STEPS):
    state, metrics = parts.train_step(state, shd.shard_batch(batch, parts.batch_sharding), rng)
    losses.append(float(metrics["loss"]))
    grad_norms.append(float(metrics["grad_norm"]))
  params = jax.tree.map(np.asarray, jax.device_get(state["params"]))
  moved = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(initial)))
  return dict(
    losses=losses,
    grad_norms=grad_norms,
    sharded=sharded,
    shard_shapes=shard_shapes,
    params=params,
    max_update=moved,
    batch_spec=str(parts.batch_sharding.spec),
    num_devices=len(devices),
    init_seconds=init_seconds,
    seconds=time.perf_counter() - began,
  )


def main(argv: list[str]) -> None:
  shapes = [tuple(int(x) for x in arg.split(",")) for arg in argv]
  config = check_config()
  start = train.starting_point(config.model)
  probe = train.build(config, mesh=shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, jax.devices()[:1]), start=start)
  batch = first_batch(config, probe)
  reference = run(config, start, batch, (1, 1, 1))
  out = {
    "devices": jax.device_count(),
    "reference": {k: v for k, v in reference.items() if k != "params"},
    "meshes": {},
    "auto_mesh": dict(shd.make_mesh({"data": 2, "fsdp": -1, "tensor": 2}).shape),
  }
  for shape in shapes:
    result = run(config, start, batch, shape)
    diffs = jax.tree.map(
      lambda a, b: float(np.max(np.abs(a - b))) if a.size else 0.0, result.pop("params"), reference["params"]
    )
    worst = max(jax.tree_util.tree_leaves_with_path(diffs), key=lambda kv: kv[1])
    result.update(max_param_diff=worst[1], worst_param=jax.tree_util.keystr(worst[0]))
    out["meshes"][",".join(map(str, shape))] = result
  print("RESULT " + json.dumps(out))


if __name__ == "__main__":
  main(sys.argv[1:])
