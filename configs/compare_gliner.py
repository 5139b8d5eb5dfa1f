"""The gliner 0.2.29 vs gliner_jax training comparison: its settings (`config.compare`, one value per hyper-parameter,
mapped to both libraries by gliner_jax.training.reference_comparison) and the gliner_jax side's training config.

Run the comparison (both trainers, then CrossNER scores; docs/training.md):
  python scripts/compare_training.py --config configs/compare_gliner.py --workdir workdirs/compare_training
The gliner_jax side alone, on the Pile-NER subset as the loop windows it:
  python scripts/train.py --config configs/compare_gliner.py --workdir workdirs/compare_gliner_jax
"""

from gliner_jax.training.reference_comparison import Settings, comparison_config


def get_config(arg: str = ""):
  return comparison_config(Settings())
