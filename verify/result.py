"""What ``check``, ``verify`` and ``lr_sweep`` return: the CLI's text and JSON, rows, a DataFrame and a figure.

The command line prints ``table()`` (or ``to_json()`` with ``--json``) of the very object a Python caller gets,
so a notebook shows what the terminal shows.  pandas is optional (``pip install 'abcscale[dataframe]'``) and
imported by ``to_dataframe`` only; figures are plain ``matplotlib.figure.Figure`` objects, made without pyplot,
so no backend is chosen for the caller and a notebook shows the returned figure once.
"""

from __future__ import annotations

import html
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from theory.outputs import check_writable, save_figure
from theory.terminal import strict_json
from verify.options import PLOT_SUFFIXES, check_suffix

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure


class Result(ABC):
    """Common behaviour of the result objects; subclasses say what a row is and how the CLI prints them."""

    rows: Sequence[Any]  # one per judged quantity (check, verify) or per width (lr-sweep)
    json_indent: int = 1  # as the command prints its --json output
    dpi: int = 110  # of the figure files written by ``plot(path)`` and the commands' --plot

    @abstractmethod
    def table(self, *, header: bool = True) -> str:
        """The text the command line prints, byte for byte (without the final newline).

        ``header=False`` leaves out the first line, which describes the run and which the command prints
        before the trainings start."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The object the command line prints with ``--json``."""

    @property
    @abstractmethod
    def passed(self) -> bool:
        """False when the command exits with 1 (a failed verdict)."""

    @abstractmethod
    def row_dicts(self) -> list[dict[str, Any]]:
        """One dict per row, as in the JSON output (the rows of ``to_dataframe``)."""

    @abstractmethod
    def figure(self) -> Figure:
        """A new figure of the result (what ``--plot`` writes)."""

    def to_json(self) -> str:
        """``to_dict()`` as the command line prints it with ``--json``."""
        return strict_json(self.to_dict(), indent=self.json_indent)

    def to_dataframe(self) -> pandas.DataFrame:
        """The rows as a pandas DataFrame, one column per field of the JSON rows (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise ModuleNotFoundError("to_dataframe needs pandas: pip install 'abcscale[dataframe]'",
                                      name="pandas") from None
        return pandas.DataFrame(self.row_dicts())

    def plot(self, path: str | None = None) -> Figure:
        """The figure; written to ``path`` (.png, .pdf or .svg) when given, all or nothing."""
        if path is not None:
            check_suffix("path", path, PLOT_SUFFIXES)
            check_writable("path", path)
        fig = self.figure()
        if path is not None:
            save_figure(fig, path, self.dpi)
        return fig

    def write_figure(self, path: str) -> None:
        """The figure into ``path``, checked beforehand (what ``--plot`` writes after the trainings)."""
        save_figure(self.figure(), path, self.dpi)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:  # notebooks show the table as the terminal does
        return f"<pre>{html.escape(self.table())}</pre>"
