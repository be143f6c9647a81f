"""The one gzip opener of painmarkers (a core module below ``rois`` and ``io``).

``.gz`` files are inflated with ISA-L (``isal.igzip``, the ``fast`` extra) when it is
installed, else with the standard library's :mod:`gzip` (zlib). :func:`read_blocks`
streams a byte range of a file in blocks, reads a gzip member to its end so that its
CRC is always checked, and turns every read error into an
:class:`~painmarkers.exceptions.ImageError` naming the file. Used by
:mod:`painmarkers.io.images` (the NIfTI reader) and :mod:`painmarkers.rois` (the 4-D
probabilistic atlases).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from os import PathLike
from typing import BinaryIO

from painmarkers.exceptions import ImageError

__all__ = ["CORRUPT", "isal_available", "open_binary", "read_blocks"]

try:  # optional: python-isal inflates gzip 2-3x faster than zlib
    from isal import igzip as _igzip
except ImportError:  # pragma: no cover - exercised only without the 'fast' extra
    _igzip = None

#: The advice appended to every message about a damaged file.
CORRUPT = ("the file is truncated or corrupt (a damaged gzip stream or a failed CRC "
           "check); re-create or re-download it")

#: Bytes skipped per read while moving forward in a gzip stream.
_SKIP_CHUNK = 1 << 20


def isal_available() -> bool:
    """Whether ``.gz`` files are inflated by ISA-L (python-isal installed)."""
    return _igzip is not None


def open_binary(filename: str | PathLike) -> BinaryIO:
    """Binary read stream of a file; ``.gz`` inflated by ISA-L when installed, else zlib.

    Parameters
    ----------
    filename : str or path-like
        The file; a name ending in ``.gz`` is read as a gzip stream.

    Returns
    -------
    binary file object
        Open for reading; the caller closes it (use it as a context manager).
    """
    filename = str(filename)
    if filename.endswith(".gz"):
        if _igzip is not None:
            return _igzip.open(filename, "rb")
        return gzip.open(filename, "rb")
    return open(filename, "rb")


def _read_exact(stream: BinaryIO, view: memoryview, filename: str) -> None:
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            raise ImageError(f"{filename!r} ended after {got} of {len(view)} bytes of a block "
                             f"of data; {CORRUPT}.")
        got += n


def _skip(stream: BinaryIO, n_bytes: int, filename: str, gzipped: bool) -> None:
    if not gzipped:
        stream.seek(n_bytes)
        return
    remaining = n_bytes
    while remaining:
        chunk = stream.read(min(remaining, _SKIP_CHUNK))
        if not chunk:
            raise ImageError(f"{filename!r} ends before its data; {CORRUPT}.")
        remaining -= len(chunk)


def read_blocks(filename: str | PathLike, *, offset: int, total_bytes: int,
                block_bytes: int) -> Iterator[memoryview]:
    """Stream ``total_bytes`` bytes of a file from ``offset``, in blocks.

    Parameters
    ----------
    filename : str or path-like
        The file (``.gz``: a gzip stream, inflated by :func:`open_binary`).
    offset : int
        Bytes skipped first (of the inflated stream for ``.gz``).
    total_bytes : int
        Bytes read in all.
    block_bytes : int
        Bytes per block; the last block may be shorter.

    Yields
    ------
    memoryview
        The bytes of one block. The same buffer is reused: a block is valid until the
        next one is requested (copy it to keep it).

    Raises
    ------
    ImageError
        The file is missing, unreadable, shorter than ``offset + total_bytes``, or its
        gzip stream is damaged or fails its CRC check; the message names the file.

    Notes
    -----
    A gzip member is read to its end after the last block, so its CRC-32 is checked
    even when the requested range stops before the end of the stream.
    """
    filename = str(filename)
    gzipped = filename.endswith(".gz")
    block_bytes = max(1, min(int(block_bytes), int(total_bytes)))
    buffer = bytearray(block_bytes)
    try:
        with open_binary(filename) as stream:
            _skip(stream, int(offset), filename, gzipped)
            for start in range(0, int(total_bytes), block_bytes):
                view = memoryview(buffer)[: min(block_bytes, int(total_bytes) - start)]
                _read_exact(stream, view, filename)
                yield view
            if gzipped:
                while stream.read(_SKIP_CHUNK):  # to the end of the member: checks the CRC
                    pass
    except ImageError:
        raise
    except Exception as exc:  # gzip/zlib/isal raise EOFError, OSError, zlib.error, ...
        raise ImageError(f"Could not read the image {filename!r}: {exc}; {CORRUPT}.") from None
