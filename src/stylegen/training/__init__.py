"""Training: losses, augmentation, EMA, statistics and the training loop."""
