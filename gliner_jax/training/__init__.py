"""Training: the loop and step, its config, data, checkpoints, model initialisation,
export, optimizer, losses, sharding, AOT compiles."""
