"""Atomic file writing: a temporary file in the destination's folder, then a rename.

Every file painmarkers writes goes through :func:`atomic_write`, so an interrupted run
never leaves a half-written table, map or report behind: :func:`os.replace` is atomic
within one file system, and the temporary file is removed when the writer fails.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "write_bytes", "write_text"]


def atomic_write(path: str | os.PathLike, writer: Callable[[str], object], *,
                 suffix: str = ".tmp") -> Path:
    """Call ``writer(tmp)`` on a temporary path next to ``path``, then rename it.

    Parameters
    ----------
    path : path-like
        Destination; its folder is created if needed.
    writer : callable
        Writes the content to the path it is given (e.g. ``nibabel.save``).
    suffix : str, default=".tmp"
        Suffix of the temporary file (writers that choose a format from the
        extension, such as nibabel's, need the real one, e.g. ``".nii.gz"``).

    Returns
    -------
    Path
        The destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the destination."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; return the destination."""
    return write_bytes(path, text.encode("utf-8"))
