"""A user's own torch model: load it, infer its parametrization, match it to a preset, train and judge it."""
