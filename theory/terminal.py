"""Plain-text output for terminal reports, shared by every layer (engine reports, depth sweeps, LR sweeps).

A leaf module (standard library only) like ``theory.errors``, so importing it costs nothing at CLI start-up.
"""

from __future__ import annotations


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
