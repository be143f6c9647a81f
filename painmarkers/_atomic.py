"""Atomic file writing: a temporary file in the destination's folder, then a rename.

Every file painmarkers writes goes through :func:`atomic_write`, so an interrupted run
never leaves a half-written table, map or report behind: :func:`os.replace` is atomic
within one file system, and the temporary file is removed when the writer fails.
JSON files (provenance, sidecars) go through :func:`write_json`, whose payload is made
serialisable by :func:`jsonable` the same way everywhere.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "jsonable", "write_bytes", "write_json", "write_text"]


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


def jsonable(value: Any) -> Any:
    """``value`` as JSON-serialisable Python values.

    Mappings become dicts with string keys; lists, tuples, sets and arrays become
    lists; numpy scalars their Python value; non-finite floats ``None``; paths strings;
    anything else (estimators, images) its ``repr``.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``jsonable(payload)`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(jsonable(payload), indent=2, allow_nan=False) + "\n")
