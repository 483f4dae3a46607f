"""Plain-text output for terminal reports, shared by every layer (engine reports, depth sweeps, LR sweeps).

A leaf module (standard library only) like ``theory.errors``, so importing it costs nothing at CLI start-up.
"""

from __future__ import annotations

import json
import math
from typing import Any


def text_table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain aligned table: columns padded to their widest cell (those in ``right`` aligned right), a dashed
    rule under the header, trailing blanks stripped."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    right = right or set()

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *[line(r) for r in rows]])


def strict_json(data: Any, indent: int | None = 2) -> str:
    """``data`` as strict JSON: NaN and infinities become null (they are data, e.g. a diverged run, but not JSON),
    numpy scalars become numbers, tuples lists; anything else that JSON cannot hold fails loudly."""
    return json.dumps(_finite(data), indent=indent, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if hasattr(value, "__index__"):
        return int(value)  # numpy integers
    if hasattr(value, "__float__"):
        number = float(value)
        return number if math.isfinite(number) else None
    return value
