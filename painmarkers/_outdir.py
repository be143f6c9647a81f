"""Output folders: locked while a run writes them, recognised by a signed marker.

A run (``run_study``, ``run_demo``, ``simulate_cohort``) writes into one folder:

* it takes an operating-system lock on ``<folder>/.painmarkers.lock`` (``flock``;
  released by the system if the process dies), so a second run into the same folder
  fails at once with :class:`~painmarkers.exceptions.OutputError` naming the folder and
  the holder (process id, host, start time, command); the lock file is removed when
  the run ends;
* with ``overwrite`` it deletes the folder's content only if the folder carries a valid
  marker: ``<folder>/.painmarkers-run``, a JSON file whose ``signature`` is the SHA-256
  of its kind, id and creation time (:func:`read_marker`). A folder holding a
  ``provenance.json``, or anything else, written by something else is never deleted;
* the marker says ``"status": "running"`` from the start and ``"complete"`` only when
  it is rewritten as the very last file of a successful run (:meth:`RunFolder.complete`),
  so a run that failed or was killed never looks finished.

A symbolic link given as the folder is followed: the run writes into (and
``overwrite`` empties) the folder it points to, never the link itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from painmarkers._atomic import DISK_ERRNOS, make_folder, output_error, write_json
from painmarkers.exceptions import OutputError, SpecError

__all__ = ["LOCK_NAME", "MARKER_NAME", "RunFolder", "is_complete", "read_marker"]

MARKER_NAME = ".painmarkers-run"
LOCK_NAME = ".painmarkers.lock"
_FORMAT = "painmarkers-run-folder"
_VERSION = 1


def _signature(kind: str, folder_id: str, created: str) -> str:
    text = f"{_FORMAT}:{_VERSION}:{kind}:{folder_id}:{created}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_marker(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The marker of a folder written by painmarkers, or None if it has no valid one.

    Parameters
    ----------
    folder : path-like
        The folder.

    Returns
    -------
    dict or None
        ``format``, ``version``, ``kind`` ("study", "demo", "simulation"), ``folder_id``,
        ``created``, ``status`` ("running", "failed", "complete"), ``signature``...;
        None when the marker is missing, unreadable, of another format or its
        signature does not match.
    """
    path = Path(folder) / MARKER_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return None
    try:
        expected = _signature(str(data["kind"]), str(data["folder_id"]), str(data["created"]))
    except KeyError:
        return None
    return data if data.get("signature") == expected else None


def is_complete(folder: str | os.PathLike) -> bool:
    """True if ``folder`` holds the validly signed marker of a run that finished."""
    marker = read_marker(folder)
    return marker is not None and marker.get("status") == "complete"


# -- the lock -----------------------------------------------------------------------------------
def _try_lock(fd: int, folder: Path) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:  # a file system without locks: say so rather than run unlocked
        raise OutputError(f"Cannot lock the output folder {str(folder)!r}: {exc.strerror}; "
                          "choose a folder on a local file system.") from exc
    return True


def _acquire(path: Path) -> int:
    """Open and lock ``path/.painmarkers.lock``; return its descriptor.

    The lock file is removed when a run ends (:meth:`RunFolder.release` unlinks it while
    still holding the lock), so a lock taken on a file that has meanwhile been unlinked
    or replaced is dropped and taken again on the current file.
    """
    lock_path = path / LOCK_NAME
    for _ in range(20):
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            if exc.errno in DISK_ERRNOS:
                raise output_error(lock_path, exc, "create the lock file") from exc
            raise
        if not _try_lock(fd, path):
            os.close(fd)
            raise _in_use(path)
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (mine.st_ino,
                                                                         mine.st_dev):
            return fd
        os.close(fd)  # the file was removed by the run that just ended: take the new one
    raise _in_use(path)  # pragma: no cover - twenty runs ending in turn


def _refuse_if_locked(path: Path) -> None:
    """Raise the "in use" error if a run holds the lock of ``path`` (probe, then release)."""
    lock_path = path / LOCK_NAME
    if not lock_path.is_file():
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the lock is taken by open() only
        return
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _in_use(path) from None
    except OSError:
        return
    finally:
        os.close(fd)


def _in_use(path: Path) -> OutputError:
    err = OutputError(f"The output folder {str(path)!r} is in use by another painmarkers "
                      f"run: {_holder(path / LOCK_NAME)}. Wait for it to finish or choose "
                      "another folder.")
    err.filename = str(path)
    return err


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return (f"process {info.get('pid')} on {info.get('host')} since {info.get('started')} "
            f"({info.get('command')})")


# -- the folder -------------------------------------------------------------------------------
class RunFolder:
    """An output folder locked for one run; use :meth:`open`.

    Attributes
    ----------
    path : Path
        The folder (symbolic links resolved).
    kind : str
        What writes it: ``"study"``, ``"demo"`` or ``"simulation"``.
    marker : dict
        The marker as last written.
    """

    def __init__(self, path: Path, kind: str, fd: int):
        self.path = path
        self.kind = kind
        self._fd: int | None = fd
        self.marker: dict[str, Any] = {}

    @classmethod
    def open(cls, folder: str | os.PathLike, *, kind: str, overwrite: bool = False,
             inputs: Mapping[str | os.PathLike, str] | None = None, marked: bool = True,
             recognise=None, what: str = "painmarkers output folder") -> RunFolder:
        """Lock ``folder`` for a run, emptying it first with ``overwrite``.

        Parameters
        ----------
        folder : path-like
            The output folder (created if missing; a symbolic link is followed).
        kind : str
            What writes it, recorded in the marker.
        overwrite : bool, default=False
            Empty a non-empty folder written by painmarkers before; without it a
            non-empty folder is refused.
        inputs : dict of path-like to str or None, default=None
            Input folders and how messages call them (``{root: "dataset"}``): the
            output folder may not lie inside one or contain one.
        marked : bool, default=True
            Write the ``.painmarkers-run`` marker (status "running").
        recognise : callable or None, default=None
            ``recognise(folder) -> bool`` for folders marked another way (the
            simulator's ground truth); default: :func:`read_marker`.
        what : str, default="painmarkers output folder"
            How messages call the folder.

        Raises
        ------
        SpecError
            The folder lies inside an input, contains one, is not empty (without
            ``overwrite``) or was not written by painmarkers (with it).
        OutputError
            Another run holds the lock (the message names it), or the folder cannot
            be created, locked or emptied.
        """
        recognise = recognise or (lambda p: read_marker(p) is not None)
        path = cls.validate(folder, overwrite=overwrite, inputs=inputs, recognise=recognise,
                            what=what)
        make_folder(path)
        fd = _acquire(path)
        run = cls(path, kind, fd)
        try:
            run._write_holder()
            # look again under the lock: another run may have written in the meantime
            cls._check_content(path, overwrite, recognise, inputs, what, probe=False)
            run._clear()
            if marked:
                folder_id, created = uuid.uuid4().hex, time.strftime("%Y-%m-%dT%H:%M:%S%z")
                run.marker = {"format": _FORMAT, "version": _VERSION, "kind": kind,
                               "folder_id": folder_id, "created": created,
                               "signature": _signature(kind, folder_id, created),
                               "status": "running",
                               "note": "written by painmarkers; the folder may be replaced "
                                       "with overwrite=True (--overwrite)"}
                write_json(path / MARKER_NAME, run.marker)
        except BaseException:
            run.release()
            raise
        return run

    @classmethod
    def validate(cls, folder: str | os.PathLike, *, overwrite: bool = False,
                 inputs: Mapping[str | os.PathLike, str] | None = None, recognise=None,
                 what: str = "painmarkers output folder") -> Path:
        """Check that ``folder`` may be used, without creating or changing anything.

        Parameters are those of :meth:`open`. Returns the folder with symbolic links
        resolved; raises :class:`SpecError` as :meth:`open` does.
        """
        recognise = recognise or (lambda p: read_marker(p) is not None)
        requested = Path(folder).expanduser()
        path = requested.resolve()
        if requested.is_symlink() and not path.exists():
            raise SpecError(f"The output folder {str(requested)!r} is a symbolic link to "
                            f"{str(path)!r}, which does not exist; create it or choose "
                            "another folder.")
        for source, label in (inputs or {}).items():
            source = Path(source).resolve()
            if path == source or source in path.parents:
                raise SpecError(f"The output folder {str(path)!r} is inside the input "
                                f"{label} {str(source)!r}; painmarkers never writes into "
                                "input folders. Choose an output folder outside it.")
        if path.exists() and not path.is_dir():
            raise SpecError(f"The output folder {str(path)!r} exists and is not a folder.")
        cls._check_content(path, overwrite, recognise, inputs, what)
        return path

    @staticmethod
    def _check_content(path: Path, overwrite: bool, recognise, inputs, what: str, *,
                       probe: bool = True) -> None:
        if not path.is_dir():
            return
        content = [p for p in path.iterdir() if p.name != LOCK_NAME]
        if not content:
            return
        if probe:  # (not under our own lock: a second descriptor would conflict with it)
            _refuse_if_locked(path)
        if not overwrite:
            raise SpecError(f"The output folder {str(path)!r} is not empty; pass "
                            "overwrite=True (--overwrite) or choose another folder.")
        if not recognise(path):
            raise SpecError(f"Refusing to overwrite {str(path)!r}: it does not look like a "
                            f"{what} (no valid {MARKER_NAME} marker; a folder written by "
                            "an older painmarkers version has to be deleted by hand).")
        for source, label in (inputs or {}).items():
            source = Path(source).resolve()
            if path in source.parents:
                raise SpecError(f"Refusing to overwrite {str(path)!r}: it contains the input "
                                f"{label} {str(source)!r}. Choose an output folder beside it.")

    def _write_holder(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join([os.path.basename(sys.argv[0] or "python"),
                                     *sys.argv[1:]])[:200]}
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, json.dumps(info).encode("utf-8"))

    def _clear(self) -> None:
        for child in self.path.iterdir():
            if child.name == LOCK_NAME:
                continue
            try:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            except OSError as exc:
                if exc.errno in DISK_ERRNOS:
                    raise output_error(child, exc, "delete") from exc
                raise

    def mark(self, status: str, **extra: Any) -> None:
        """Rewrite the marker with ``status`` (and ``extra`` entries)."""
        if not self.marker:
            return
        self.marker = {**self.marker, **extra, "status": status}
        write_json(self.path / MARKER_NAME, self.marker)

    def complete(self, **extra: Any) -> None:
        """Mark the run finished: call it after the last output file is written."""
        self.mark("complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra)

    def release(self) -> None:
        """Remove the lock file (while still holding it), then release the lock."""
        if self._fd is None:
            return
        try:
            (self.path / LOCK_NAME).unlink(missing_ok=True)
        except OSError:  # pragma: no cover - a stale lock file is harmless
            pass
        os.close(self._fd)  # releases the flock
        self._fd = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc is not None and self.marker.get("status") == "running":
                try:
                    self.mark("failed", error=f"{type(exc).__name__}: {exc}"[:500])
                except OSError:  # a full disk: the marker keeps "running"
                    pass
        finally:
            self.release()
