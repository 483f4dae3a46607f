"""One module per subcommand; each defines ``register(subparsers)`` and sets ``func`` on its parser.

Modules are imported only when the CLI starts, and heavy libraries (torch, matplotlib) only inside
the ``run`` functions, so ``abcscale derive`` starts fast.
"""

COMMAND_MODULES = (
    "derive",
    "solve",
    "equivalent",
    "check",
    "check_matrix",
    "verify",
    "lr_sweep",
    "table",
    "depth_sweep",
    "catapult",
    "elr",
)
