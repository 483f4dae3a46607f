"""The MLP built from a Parametrization: abc to torch numbers, batched seeds, optimizers, measurements."""
