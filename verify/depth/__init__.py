"""Depth verification: the L^3 law of deep MLPs, integrable parametrizations, residual networks."""
