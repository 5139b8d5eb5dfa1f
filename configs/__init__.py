"""Training configs, one `get_config(arg)` per module; installed as `gliner_jax.configs` (pyproject package-dir).

>>> from gliner_jax.configs import tiny
>>> tiny.get_config().train.num_steps
20
"""
