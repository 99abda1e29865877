"""Training: run configs, the training loop, checkpoints and metric logging."""
