"""Load ``FILE.py:FACTORY`` and build the user's model (and optimizer) at a width.

FACTORY(width) returns an ``nn.Module`` or ``(nn.Module, torch.optim.Optimizer)``; with a module only, the
optimizer is the command's ``--optimizer`` with ``--lr`` in one parameter group (the same LR at every width).
The file is imported by path with its folder on ``sys.path`` during the import, so sibling imports work.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from theory.errors import InputError

Factory = Callable[[int], Any]
DEFAULT_LR = 1e-3
TORCH_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@dataclass(frozen=True)
class Built:
    """The user's model at one width and the optimizer that trains it."""

    width: int
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer


def load_factory(spec: str) -> Factory:
    """The callable FACTORY of ``FILE.py:FACTORY`` (InputError naming what is wrong)."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise InputError(f"--module {spec!r}: expected FILE.py:FACTORY, e.g. docs/examples/nanogpt_mup.py:build")
    file, name = spec.split(":")
    path = Path(file)
    if path.suffix != ".py":
        raise InputError(f"--module {spec!r}: {file!r} is not a .py file")
    if not path.is_file():
        raise InputError(f"--module: no file {file!r}")
    if not name.isidentifier():
        raise InputError(f"--module {spec!r}: {name!r} is not a Python name")
    module_name = f"abcscale_user_{abs(hash(str(path.resolve())))}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None or loader.loader is None:
        raise InputError(f"--module: cannot import {file!r}")
    module = importlib.util.module_from_spec(loader)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up there
    try:
        loader.loader.exec_module(module)
    except Exception as err:  # the user's code: any exception is bad input, shown in one line
        del sys.modules[module_name]
        raise InputError(f"--module: importing {file!r} raised {type(err).__name__}: {err}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    factory = getattr(module, name, None)
    if factory is None:
        raise InputError(f"--module: {file!r} has no {name!r}")
    if not callable(factory):
        raise InputError(f"--module: {file}:{name} is not callable")
    return factory


def build(factory: Factory, width: int, *, optimizer: str | None = None, lr: float | None = None,
          seed: int = 0) -> Built:
    """FACTORY(width) under ``torch.manual_seed(seed)``, with its optimizer (or the default one)."""
    torch.manual_seed(seed)
    try:
        made = factory(width)
    except Exception as err:  # the user's code
        raise InputError(f"--module: FACTORY({width}) raised {type(err).__name__}: {err}") from None
    model, opt = (made if isinstance(made, tuple) and len(made) == 2 else (made, None))
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"--module: FACTORY({width}) returned {type(made).__name__}, not an nn.Module or "
                         "(nn.Module, torch.optim.Optimizer)")
    if opt is None:
        name = optimizer or "adam"
        if name not in TORCH_OPTIMIZERS:
            raise InputError(f"--optimizer {name!r}: a user's module trains with torch.optim "
                             f"({', '.join(TORCH_OPTIMIZERS)})")
        opt = TORCH_OPTIMIZERS[name](model.parameters(), lr=lr if lr is not None else DEFAULT_LR)
    elif not isinstance(opt, torch.optim.Optimizer):
        raise InputError(f"--module: FACTORY({width}) returned {type(opt).__name__} as its optimizer, not a "
                         "torch.optim.Optimizer")
    elif optimizer is not None or lr is not None:
        raise InputError("--optimizer/--lr: FACTORY returns its own optimizer; leave them out")
    _check_groups(model, opt)
    return Built(width, model, opt)


def _check_groups(model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    """Every trainable parameter of the model in exactly one parameter group, and nothing else there."""
    grouped = {id(p) for group in opt.param_groups for p in group["params"]}
    for name, p in model.named_parameters():
        if p.requires_grad and id(p) not in grouped:
            raise InputError(f"--module: the optimizer's parameter groups do not cover {name!r}")
    own = {id(p) for p in model.parameters()}
    if grouped - own:
        raise InputError("--module: the optimizer holds a tensor that is not a parameter of the model")
