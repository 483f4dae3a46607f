"""Catapult dynamics of solvable models: uv and quadratic models, trajectories, phases, tables."""
