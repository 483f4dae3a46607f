"""Configuration keys: what fixes a training, in the one serial form, hashed.

Every results table keys its rows on ``config_key(description)``; ``describe`` builds the description from
the parametrization's ``training_dict`` (every field that changes what is trained: exponents, warm-up schedule,
optimizer settings; not its name) and the run's settings.  ``kind`` separates the width check ("width"),
learning-rate sweeps ("lr-sweep") and depth sweeps ("depth", ``describe_depth``: an experiment's settings,
with a parametrization only where it trains one), whose settings differ, so one database holds all three.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from theory.parametrization import Parametrization

KINDS = ("width", "lr-sweep", "depth")


def describe(kind: str, param: Parametrization, settings: dict[str, Any]) -> dict[str, Any]:
    """The canonical, JSON-able description of a configuration (what its key is the hash of)."""
    if kind not in KINDS:
        raise ValueError(f"unknown configuration kind {kind!r}")
    return {"kind": kind, "parametrization": param.training_dict(), "settings": settings}


def describe_depth(experiment: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The description of one depth-sweep measurement family (``verify.depth.sweep``): experiment and settings."""
    return {"kind": "depth", "experiment": experiment, "settings": settings}


def config_key(description: dict[str, Any]) -> str:
    """A short stable hash of a description (16 hex digits)."""
    text = json.dumps(description, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def task_key(prefix: str, config: str, *parts: object) -> str:
    """A deterministic task name (a Dask key): the same training always gets the same name."""
    text = json.dumps([config, *[repr(p) for p in parts]])
    return f"{prefix}-{config}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
