"""Weight-norm and effective-learning-rate dynamics of scale-invariant layers."""
