"""Output files: checked before any work, written all or nothing.

``check_writable`` is called while the options are validated, before anything is derived or trained: it
creates (and removes) a file in the target's folder, as the writer will, so a path that cannot be written
is refused in one line instead of after an hour of training.  ``replacing`` gives the writer a temporary
name in that folder and renames it over the target only when the writing succeeded: a failed or
interrupted write leaves no half-written file (and an existing file untouched).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from theory.errors import InputError


def _temporary(target: Path) -> Path:
    """A new empty file next to ``target`` with the same suffix (writers pick the format from it)."""
    folder = target.parent
    name = folder / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{target.suffix}"
    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # mode 0666 less the umask
    return name


def check_writable(option: str, path: object) -> str:
    """``path`` as a string if a file can be written there; else ``InputError`` naming ``option``."""
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else None
    if not isinstance(text, str):
        raise InputError(f"{option} {path!r}: expected a file name")
    if not text.strip():
        raise InputError(f"{option} needs a file name (got an empty one)")
    if "\x00" in text:
        raise InputError(f"{option} {_cut(repr(text))}: a file name cannot hold a NUL character")
    target = Path(text)
    folder = target.parent
    try:
        if target.is_dir():
            raise InputError(f"{option} {_cut(text)}: is a folder; give a file name in it")
        if not folder.is_dir():
            raise InputError(f"{option} {_cut(text)}: folder {_cut(str(folder))} does not exist")
        _temporary(target).unlink()
    except OSError as err:  # e.g. a name too long for the file system, or a folder without write permission
        raise InputError(f"{option} {_cut(text)}: cannot write in {_cut(str(folder))} ({err.strerror or err})"
                         ) from None
    return text


def _cut(text: str, most: int = 80) -> str:
    """``text`` for a message, cut to ``most`` characters (a 5000-character name stays one short line)."""
    return text if len(text) <= most else text[:most - 3] + "..."


@contextmanager
def replacing(path: str) -> Iterator[str]:
    """A temporary path next to ``path`` to write to; renamed over ``path`` when the block succeeds, removed
    when it fails."""
    target = Path(path)
    temporary = _temporary(target)
    try:
        yield str(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: str, text: str) -> None:
    """``text`` into ``path`` (UTF-8), all or nothing."""
    with replacing(path) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)


def save_figure(figure: Any, path: str, dpi: int) -> None:
    """A matplotlib figure into ``path`` (format from its suffix), all or nothing."""
    with replacing(path) as temporary:
        figure.savefig(temporary, dpi=dpi)
