"""The exceptions users see as one line, exit code 2: bad input (``InputError``) and a training task that could
not be completed (``TaskFailed``).

Messages name an option as the command line spells it (``--base-width``).  The Python API speaks its caller's
terms instead: ``python_terms`` rewrites every flag of a keyword the called function takes to that keyword
(``base_width``), by the fixed rule flag = ``--`` + keyword with ``_`` written ``-``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# the characters str.splitlines() breaks at, each to its escape
LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def one_line(text: str) -> str:
    """``text`` with each character that would end its line written as an escape (``\\n``, ``\\r``, ...), so
    that an input echoed in a message cannot split it."""
    return text.translate(LINE_BREAKS)


class InputError(ValueError):
    """Bad user input: the message names the field or value and fits on one line (an echoed input's line breaks
    are escaped)."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class UnknownKeyword(InputError, TypeError):
    """A keyword argument the function does not take (also a TypeError, as Python's own would be)."""


FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def flag(keyword: str) -> str:
    """The command-line flag of a Python keyword: ``base_width`` -> ``--base-width``."""
    return "--" + keyword.replace("_", "-")


def python_terms(message: str, keywords: Iterable[str]) -> str:
    """``message`` with the flag of each of ``keywords`` written as the keyword (other flags stay)."""
    names = set(keywords)

    def rename(match: re.Match[str]) -> str:
        keyword = match.group(1).replace("-", "_")
        return keyword if keyword in names else match.group(0)

    return FLAG.sub(rename, message)


class TaskFailed(RuntimeError):
    """A training task that could not be completed (e.g. it killed every worker that ran it): the message names
    the task and fits on one line; the CLI prints it like bad input, exit code 2 (no verdict)."""

    def __str__(self) -> str:
        return one_line(super().__str__())
