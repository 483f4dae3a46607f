"""theory.terminal.strict_json: what the commands print with --json is JSON (no NaN, no Infinity)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from theory.terminal import strict_json


def test_non_finite_numbers_become_null_and_numpy_scalars_numbers() -> None:
    data = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": (np.float32(2.5), np.int64(3)), "d": None}
    assert json.loads(strict_json(data)) == {"a": None, "b": [None, None, 1.5], "c": [2.5, 3], "d": None}


def test_what_json_cannot_hold_fails_loudly() -> None:
    with pytest.raises(TypeError):
        strict_json({"x": object()})
