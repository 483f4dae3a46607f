"""Coordinate check of the user's own torch module (verify/width/custom.py), as shown in docs/custom_module.md.

A plain ``nn.Sequential`` built for any width, a role per weight, and muP under SGD + cross-entropy:
``verify_module`` re-initialises the role weights, trains one module per seed and width with
``torch.optim.SGD`` parameter groups, and judges the measured slopes against the engine's exponents.
docs/recorded/verify_custom_module.txt is this script's output (re-run by tests/test_docs_recorded.py).
"""

from torch import nn

from theory.config import resolve
from verify.width.custom import verify_module
from verify.width.verdict import format_table, summary


def mlp(width: int, d: int, k: int) -> nn.Module:  # the user's own module, built for any width
    return nn.Sequential(nn.Linear(d, width, bias=False), nn.ReLU(),
                         nn.Linear(width, width, bias=False), nn.ReLU(),
                         nn.Linear(width, width, bias=False), nn.ReLU(),
                         nn.Linear(width, k, bias=False))


roles = {"0.weight": "input", "2.weight": "hidden", "4.weight": "hidden", "6.weight": "output"}
rows = verify_module(mlp, roles, resolve("mup", loss="ce"), widths=[128, 256, 512, 1024], seeds=range(8))
print(format_table(rows))
print(summary(rows))
