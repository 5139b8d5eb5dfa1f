"""The PyTorch-world bridge: the gliner_jax model file format, state-dict reading, the hub resolver,
gliner 0.2.x conversion in and export out."""
