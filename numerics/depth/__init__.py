"""Infinite-width depth recursions (the L^3 law of muP learning rates)."""
