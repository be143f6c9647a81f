"""Atomic file writing: a temporary file in the destination's folder, then a rename.

Every file painmarkers writes goes through :func:`atomic_write`, so an interrupted run
never leaves a half-written table, map or report behind: :func:`os.replace` is atomic
within one file system, and the temporary file is removed when the writer fails.
JSON files (provenance, sidecars) go through :func:`write_json`, whose payload is made
serialisable by :func:`jsonable` the same way everywhere.

Files get the mode :func:`open` would give them, ``0o666 & ~umask`` (the temporary
file of :func:`tempfile.mkstemp` is private, 0600, until it is complete), and folders
``0o777 & ~umask``. A full disk, a missing permission or a read-only file system raise
:class:`~painmarkers.exceptions.OutputError` whose one-line message names the file.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from painmarkers.exceptions import OutputError

__all__ = ["atomic_write", "current_umask", "jsonable", "make_folder", "output_error",
           "write_bytes", "write_json", "write_text"]

#: errno values that mean "this location cannot be written", reported as OutputError.
DISK_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
               errno.EFBIG: "file too large for the file system",
               errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
               errno.EPERM: "operation not permitted", errno.EIO: "input/output error",
               errno.ENOTDIR: "a part of the path is a file, not a folder",
               errno.EEXIST: "a file of that name stands where a folder is needed",
               errno.EISDIR: "a folder of that name exists",
               errno.ENAMETOOLONG: "file name too long",
               errno.ELOOP: "too many symbolic links in the path"}

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it where possible).

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting and
    restoring it (under a lock, so threads of this module do not race).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def output_error(path: str | os.PathLike, exc: OSError, action: str = "write") -> OutputError:
    """An :class:`~painmarkers.exceptions.OutputError` naming ``path`` for a disk error.

    Parameters
    ----------
    path : path-like
        The file or folder that could not be written.
    exc : OSError
        The error raised by the operating system.
    action : str, default="write"
        What failed (``"write"``, ``"create the folder"``, ``"delete"``...).

    Returns
    -------
    OutputError
        With ``errno`` and ``filename`` of ``exc`` (``filename`` = ``path`` when the
        error names no file).
    """
    code = exc.errno
    name = errno.errorcode.get(code, str(code)) if code is not None else "OSError"
    reason = DISK_ERRNOS.get(code, exc.strerror or str(exc))
    # name the file the system named too, unless it is the destination or its temporary
    other = ""
    if exc.filename is not None:
        shown, target = os.fspath(exc.filename), os.fspath(path)
        if shown != target and not os.path.basename(shown).startswith(
                f".{os.path.basename(target)}."):
            other = f" ({shown})"
    hint = {errno.ENOSPC: "; free some space or choose another output folder",
            errno.EDQUOT: "; free some space or choose another output folder",
            errno.EROFS: "; choose an output folder on a writable file system",
            errno.EACCES: "; choose an output folder you may write to",
            errno.EPERM: "; choose an output folder you may write to"}.get(code, "")
    err = OutputError(f"Could not {action} {os.fspath(path)!r}: {reason} [{name}]{other}{hint}.")
    err.errno = code
    err.strerror = exc.strerror
    err.filename = os.fspath(exc.filename or path)
    return err


def make_folder(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` and its parents (mode ``0o777 & ~umask``) if needed.

    Parameters
    ----------
    path : path-like
        The folder.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    OutputError
        It cannot be created (a file stands in its place, permission denied, no space
        left, ...); the message names it.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise output_error(path, exc, "create the folder") from exc
        raise
    return path


def atomic_write(path: str | os.PathLike, writer: Callable[[str], object], *,
                 suffix: str = ".tmp") -> Path:
    """Call ``writer(tmp)`` on a temporary path next to ``path``, then rename it.

    Parameters
    ----------
    path : path-like
        Destination; its folder is created if needed (mode ``0o777 & ~umask``).
    writer : callable
        Writes the content to the path it is given (e.g. ``nibabel.save``).
    suffix : str, default=".tmp"
        Suffix of the temporary file (writers that choose a format from the
        extension, such as nibabel's, need the real one, e.g. ``".nii.gz"``).

    Returns
    -------
    Path
        The destination, with mode ``0o666 & ~umask``.

    Raises
    ------
    OutputError
        The folder or the file cannot be written (no space left, quota exceeded,
        permission denied, read-only file system); the message names the file.
    """
    path = Path(path)
    make_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise output_error(path, exc) from exc
        raise
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o666 & ~current_umask())
            else:  # pragma: no cover - Windows before Python 3.13
                os.chmod(tmp, 0o666 & ~current_umask())
        finally:
            os.close(fd)
        writer(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError) \
                and exc.errno in DISK_ERRNOS:
            raise output_error(path, exc) from exc
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
