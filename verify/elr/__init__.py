"""Effective learning rates of normalized networks: models, the critical-rate warm-up, trainings."""
