"""Catapult dynamics on real networks: bias-free ReLU nets, their NTK eigenvalue, learning-rate sweeps."""
