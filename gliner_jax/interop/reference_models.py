"""gliner 0.2.29 (PyTorch) models built on the spot, for parity tests, benchmarks and the training comparison.

`build_reference_model` is `gliner.GLiNER.from_config` seeded (the same weights on every call) and quiet;
`scale_reference_heads` (span heads) and `scale_token_scorer` (token scorers) re-scale its random heads so that
scores spread around a threshold;
`reference_logits` runs gliner's own tokenization, collation and forward. Needs torch and gliner (the
`[torch]` extra).

Example:
  >>> ref = build_reference_model({"model_name": minilm_dir(), **BENCHMARK_HEADS})  # doctest: +SKIP
  >>> ref.eval(); scale_reference_heads(ref, ["Marie Curie lived in Paris ."], ["person", "city"])  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np

# The heads of the speed benchmarks' model (gliner's markerV0 span head, hidden 512): benchmark_inference, _train.
BENCHMARK_HEADS = {"span_mode": "markerV0", "hidden_size": 512, "max_width": 12, "max_len": 384}


def build_reference_model(config: Mapping[str, Any], seed: int = 0):
  """`gliner.GLiNER.from_config(config)` after `transformers.set_seed(seed)`, its warnings silenced.

  `config` needs "model_name" (a backbone folder or hub id); the model is in training mode as built.
  """
  if "model_name" not in config:
    raise ValueError(f"the gliner config needs 'model_name' (the backbone), got keys {sorted(config)}")
  import transformers
  from gliner import GLiNER as ReferenceGLiNER

  transformers.set_seed(seed)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return ReferenceGLiNER.from_config(dict(config))


def reference_logits(ref, texts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
  """Span x type logits of a gliner 0.2.29 model on `texts` (its own tokenization and collation), as float32."""
  import torch

  prepared = ref.prepare_batch(list(texts), list(labels), None)
  batch = ref.collate_batch(prepared["input_x"], prepared["entity_types"], ref.create_collator())
  with torch.no_grad():
    return ref.run_batch(batch).logits.float().numpy()


def scale_reference_heads(ref, texts: Sequence[str], labels: Sequence[str], target_std: float = 2.0) -> None:
  """Centres the span representations and scales the type vectors so that logits on `texts` have std `target_std`.

  Random heads give logits that are tiny or all saturated, on one side of any threshold; this makes predictions
  non-trivial (and their order well defined in float32) without changing the architecture. In place.
  """
  import torch

  if target_std <= 0:
    raise ValueError(f"target_std must be > 0, got {target_std}")
  out_project = ref.model.span_rep_layer.span_rep_layer.out_project
  seen = []
  hook = out_project.register_forward_hook(lambda module, args, out: seen.append(out.detach()))
  reference_logits(ref, texts, labels)
  hook.remove()
  prompt_last = ref.model.prompt_rep_layer[3]
  with torch.no_grad():
    out_project[3].bias.sub_(seen[0].reshape(-1, seen[0].shape[-1]).mean(0))
    scale = target_std / float(np.std(reference_logits(ref, texts, labels)))
    prompt_last.weight.mul_(scale)
    prompt_last.bias.mul_(scale)


def scale_token_scorer(
  ref, texts: Sequence[str], labels: Sequence[str], means=(-1.0, -1.0, 1.0), target_std=2.0
) -> None:
  """Sets the mean and std of a token model's start, end and inside logits on `texts` (by its scorer's last layer).

  The default means put inside logits mostly above zero, so that spans longer than one word appear. In place.
  """
  import torch

  if target_std <= 0:
    raise ValueError(f"target_std must be > 0, got {target_std}")
  logits = reference_logits(ref, texts, labels).reshape(-1, 3)
  last = ref.model.scorer.out_mlp[3]
  scale = torch.tensor(target_std / logits.std(0), dtype=torch.float32)
  with torch.no_grad():
    last.bias.sub_(torch.tensor(logits.mean(0)))
    last.weight.mul_(scale[:, None])
    last.bias.mul_(scale)
    last.bias.add_(torch.tensor(means, dtype=torch.float32))
