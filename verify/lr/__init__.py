"""Learning-rate sweeps: per-width searches for the maximal stable and optimal LR, fits, figures."""
