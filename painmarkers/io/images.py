"""The one NIfTI / gzip reader of painmarkers.

Every image read by the library goes through this module:

* :func:`read_masked` streams the voxels of a mask out of a 3-D or 4-D NIfTI file,
  block of volumes by block of volumes, without ever holding the whole 4-D array
  (the extractors' reader);
* :func:`iter_volume_blocks` streams whole volumes (to compute a mask from the data);
* :func:`read_data` reads a whole (small) image, such as a brain mask or a 3-D map;
* :func:`load_img` loads an image object (used by the voxelwise inference loaders);
* :func:`header_t_r` reads the repetition time from a header.

``.nii.gz`` files are inflated by the one gzip opener, :mod:`painmarkers._gzip` (ISA-L,
``isal.igzip`` of the ``fast`` extra, when it is installed, else :mod:`gzip`). A
truncated file, a damaged gzip stream or a failed CRC check raises
:class:`~painmarkers.exceptions.ImageError` naming the file (the streaming reader reads
gzip members to their end, so the CRC is always checked).
"""

from __future__ import annotations

from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from painmarkers._gzip import CORRUPT, isal_available, open_binary, read_blocks
from painmarkers._validation import check_img, image_read_error
from painmarkers.exceptions import ImageError

__all__ = ["header_t_r", "image_label", "iter_volume_blocks", "load_img", "read_data",
           "read_masked"]

#: Bytes read from a 4-D file per block of volumes.
_READ_BLOCK_BYTES = 16 * 2**20


def image_label(img: Any, name: str = "img", index: int | None = None) -> str:
    """Return a short label naming an image in messages: its file name or ``name``.

    Parameters
    ----------
    img : str, path-like or nibabel image
        The image.
    name : str, default="img"
        Role of the image (``"imgs"``, ``"mask_img"``).
    index : int or None, default=None
        Position of the image in a list: the label is then ``"<name>[<index>]"``.

    Returns
    -------
    str
        ``"<name> (<path>)"`` for a path or a file-backed image, else ``name``.

    Examples
    --------
    >>> image_label("/data/sub-01_bold.nii.gz", "imgs", 0)
    'imgs[0] (/data/sub-01_bold.nii.gz)'
    """
    base = name if index is None else f"{name}[{index}]"
    if isinstance(img, str | PathLike):
        return f"{base} ({img})"
    filename = getattr(img, "get_filename", lambda: None)()
    return f"{base} ({filename})" if filename else base


def _describe(img: Any, name: str) -> str:
    filename = img if isinstance(img, str | PathLike) else (
        getattr(img, "get_filename", lambda: None)())
    return f"the image {str(filename)!r} given as {name!r}" if filename else f"the image {name!r}"


def _read_error(img: Any, name: str, exc: BaseException) -> ImageError:
    return ImageError(f"Could not read {_describe(img, name)}: {exc}; {CORRUPT}.")


def _stream_layout(img: Any) -> dict | None:
    """How to stream a file-backed, unmodified NIfTI image; None when it cannot be streamed.

    Images held in memory, sliced or modified images, and other formats (``.nii.bz2``,
    file objects, ...) are read by nibabel instead.
    """
    proxy = getattr(img, "dataobj", None)
    if not isinstance(img, nib.Nifti1Image) or not nib.is_proxy(proxy):
        return None
    filename = getattr(proxy, "file_like", None)
    if (not isinstance(filename, str) or not filename.endswith((".nii", ".nii.gz"))
            or len(proxy.shape) not in (3, 4) or proxy.order != "F"):
        return None
    shape = tuple(int(s) for s in proxy.shape)
    dtype = np.dtype(proxy.dtype)
    slope = float(proxy.slope) if proxy.slope is not None else 1.0
    inter = float(proxy.inter) if proxy.inter is not None else 0.0
    return {"filename": filename, "shape3": shape[:3], "n_t": shape[3] if len(shape) == 4 else 1,
            "dtype": dtype, "offset": int(proxy.offset), "slope": slope, "inter": inter,
            "out_dtype": np.dtype(np.float64 if dtype == np.float64 else np.float32)}


def _flat_blocks(layout: dict, block_bytes: int) -> Iterator[tuple[int, np.ndarray]]:
    """Blocks ``(start, raw (n_blk, n_voxels))`` of a file, voxels in Fortran (file) order.

    The raw values are the stored dtype (unscaled), read by the one gzip reader
    (:func:`painmarkers._gzip.read_blocks`: gzip members read to their end so that the
    CRC is checked, every read error an ImageError naming the file).
    """
    dtype = layout["dtype"]
    vol_items = int(np.prod(layout["shape3"]))
    vol_bytes = vol_items * dtype.itemsize
    n_t = layout["n_t"]
    per_block = max(1, block_bytes // max(vol_bytes, 1))
    blocks = read_blocks(layout["filename"], offset=layout["offset"],
                         total_bytes=n_t * vol_bytes, block_bytes=per_block * vol_bytes)
    for start, view in zip(range(0, n_t, per_block), blocks, strict=True):
        yield start, np.frombuffer(view, dtype=dtype).reshape(-1, vol_items)


def _scaled(raw: np.ndarray, layout: dict) -> np.ndarray:
    out_dtype = layout["out_dtype"].type
    block = raw if raw.dtype == out_dtype else raw.astype(out_dtype)
    if layout["slope"] != 1.0 or layout["inter"] != 0.0:
        block = block * out_dtype(layout["slope"]) + out_dtype(layout["inter"])
    return block


def _in_memory(img: Any, name: str) -> np.ndarray:
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel/gzip raise EOFError, OSError, zlib.error, ...
        raise _read_error(img, name, exc) from None
    if data.dtype != np.float64 and data.dtype != np.float32:
        data = data.astype(np.float32)
    return data


def read_data(img: Any, *, name: str = "img") -> np.ndarray:
    """Read the whole data array of an image, with read errors naming the file.

    Parameters
    ----------
    img : str, path-like or nibabel image
        The image (a mask, a 3-D map, or a 4-D series that fits in memory).
    name : str, default="img"
        Name of the image in messages.

    Returns
    -------
    ndarray
        The scaled values, float64 when the file stores float64, float32 otherwise, in
        the image's shape.

    Raises
    ------
    ImageError
        Missing, truncated or corrupt file (the message names it).

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> read_data(nib.Nifti1Image(np.ones((2, 2, 2), np.int16), np.eye(4))).dtype
    dtype('float32')
    """
    img = check_img(img, name=name)
    layout = _stream_layout(img)
    if layout is None:
        return _in_memory(img, name)
    out = np.empty((layout["n_t"], int(np.prod(layout["shape3"]))), dtype=layout["out_dtype"])
    for start, raw in _flat_blocks(layout, _READ_BLOCK_BYTES):
        out[start:start + raw.shape[0]] = _scaled(raw, layout)
    x, y, z = layout["shape3"]
    # Fortran order inside a volume (x fastest): (T, Z, Y, X) -> (X, Y, Z, T)
    out = out.reshape(layout["n_t"], z, y, x).transpose(3, 2, 1, 0)
    return out[..., 0] if len(img.shape) == 3 else out


def read_masked(img: Any, mask: np.ndarray, *, name: str = "img") -> np.ndarray:
    """The voxels of a mask, as a ``(T, V)`` array read volume block by volume block.

    Parameters
    ----------
    img : str, path-like or nibabel image
        A 3-D map (``T = 1``) or a 4-D series whose grid is the mask's (not checked
        here: compare the affines first).
    mask : ndarray of bool, shape img.shape[:3]
        The voxels to read; columns come in the C order of ``np.nonzero(mask)``.
    name : str, default="img"
        Name of the image in messages.

    Returns
    -------
    ndarray of shape (n_volumes, n_voxels_in_mask)
        Values scaled by the header's slope and intercept; float64 when the file
        stores float64, float32 otherwise.

    Raises
    ------
    ImageError
        Missing, truncated or corrupt file (the message names it), or a mask whose
        shape is not the image's.

    Notes
    -----
    A file-backed ``.nii``/``.nii.gz`` image is read in blocks of about 16 MiB of
    volumes, each reduced to the mask voxels at once, so the peak memory is the
    masked float32 output plus one block; the whole 4-D array is never formed. Any
    other image (held in memory, ``.nii.bz2``, ...) is read by nibabel and masked.
    float32 is exact for integer data up to 2**24 and keeps 7 significant digits of
    scaled or float data: extractors that accumulate (detrending, correlations) do so
    in float64.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> img = nib.Nifti1Image(np.arange(16, dtype=np.int16).reshape(2, 2, 2, 2), np.eye(4))
    >>> mask = np.zeros((2, 2, 2), bool); mask[1, 0, 1] = True
    >>> read_masked(img, mask)
    array([[10.],
           [11.]], dtype=float32)
    """
    img = check_img(img, name=name)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(img.shape[:3]):
        raise ImageError(f"{_describe(img, name)} has the grid {tuple(img.shape[:3])} but the "
                         f"mask has {mask.shape}.")
    layout = _stream_layout(img)
    if layout is None:
        data = _in_memory(img, name)
        if data.ndim == 3:
            data = data[..., None]
        return data[mask].T
    # flat positions of the mask voxels inside one Fortran-ordered volume, in C order of mask
    flat = np.ravel_multi_index(np.nonzero(mask), layout["shape3"], order="F")
    out = np.empty((layout["n_t"], flat.size), dtype=layout["out_dtype"])
    for start, raw in _flat_blocks(layout, _READ_BLOCK_BYTES):
        out[start:start + raw.shape[0]] = _scaled(raw[:, flat], layout)
    return out


def iter_volume_blocks(img: Any, *, name: str = "img",
                       block_bytes: int = _READ_BLOCK_BYTES) -> Iterator[np.ndarray]:
    """Volumes of an image in blocks, ``(n_block, X, Y, Z)``, without reading them all.

    Parameters
    ----------
    img : str, path-like or nibabel image
        A 3-D or 4-D image.
    name : str, default="img"
        Name of the image in messages.
    block_bytes : int, default=16 MiB
        Approximate size of the stored data of one block.

    Yields
    ------
    ndarray of shape (n_block, X, Y, Z)
        Scaled values (float32, or float64 for float64 files), a new array for
        each block; a 3-D image is one block of one volume.

    Raises
    ------
    ImageError
        Missing, truncated or corrupt file (the message names it).

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> img = nib.Nifti1Image(np.zeros((2, 3, 4, 5), np.float32), np.eye(4))
    >>> [b.shape for b in iter_volume_blocks(img)]
    [(5, 2, 3, 4)]
    """
    img = check_img(img, name=name)
    layout = _stream_layout(img)
    if layout is None:
        data = _in_memory(img, name)
        yield data[None] if data.ndim == 3 else np.moveaxis(data, -1, 0)
        return
    x, y, z = layout["shape3"]
    for _, raw in _flat_blocks(layout, block_bytes):
        block = _scaled(raw, layout)
        if block is raw:  # a view of the reused read buffer: hand out a copy
            block = raw.copy()
        # Fortran order inside a volume: x varies fastest
        yield block.reshape(raw.shape[0], z, y, x).transpose(0, 3, 2, 1)


def load_img(path: str | PathLike, *, name: str = "img"):
    """Load a NIfTI image, decompressing ``.nii.gz`` with python-isal when it is installed.

    Parameters
    ----------
    path : str or path-like
        A ``.nii`` or ``.nii.gz`` file.
    name : str, default="img"
        Name of the image in messages.

    Returns
    -------
    nibabel.nifti1.Nifti1Image or nibabel.nifti2.Nifti2Image
        For ``.nii.gz`` with isal available, an image whose data are already
        decompressed in memory; otherwise ``nibabel.load``'s lazy image.

    Raises
    ------
    ImageError
        Missing, unreadable, truncated or corrupt file; the message names it.

    Notes
    -----
    ``nibabel.load`` streams gzip through zlib. Reading the whole compressed
    file and inflating it with ``isal.igzip`` (the ``fast`` extra,
    ``pip install ".[fast]"`` in a clone) gives the same array in less time
    (1.3-1.5 times faster for a 61 x 73 x 61 x 190 float32 BOLD series of
    126 MB compressed); for 4-D series that are read in full anyway this is a
    free speed-up, at the cost of holding the compressed bytes in memory once.
    Without isal the function is ``nibabel.load``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, nibabel as nib
    >>> from painmarkers.io import load_img
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "map.nii.gz"
    >>> nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.float32), np.eye(4)), path)
    >>> load_img(path).get_fdata().sum()
    np.float64(8.0)
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"The image file {str(path)!r} given as {name!r} does not exist.")
    try:
        if isal_available() and path.name.endswith(".nii.gz"):
            with open_binary(path) as stream:
                raw = stream.read()
            klass = nib.Nifti2Image if _is_nifti2(raw) else nib.Nifti1Image
            return klass.from_bytes(raw)
        return nib.load(path)
    except Exception as exc:  # nibabel, gzip and isal raise several types on corrupt files
        raise image_read_error(path, name, exc) from None


def _is_nifti2(raw: bytes) -> bool:
    # sizeof_hdr is 348 for NIfTI-1 and 540 for NIfTI-2, in either byte order
    return raw[:4] in (b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c")


def header_t_r(path: str | PathLike) -> float | None:
    """Return the repetition time in seconds stored in a 4-D NIfTI header, or None.

    Only the header is read (a few hundred bytes), not the data.

    Parameters
    ----------
    path : str or path-like
        A ``.nii`` or ``.nii.gz`` file.

    Returns
    -------
    float or None
        ``zooms[3]`` converted to seconds with the header's time unit
        (``msec`` and ``usec`` are converted; an unknown unit is taken as
        seconds); None for a 3-D image or a zero/negative time zoom.

    Raises
    ------
    ImageError
        Missing or unreadable file.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, nibabel as nib
    >>> from painmarkers.io import header_t_r
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "bold.nii.gz"
    >>> img = nib.Nifti1Image(np.zeros((2, 2, 2, 5), np.float32), np.eye(4))
    >>> img.header.set_zooms((2, 2, 2, 3.0)); img.header.set_xyzt_units("mm", "sec")
    >>> nib.save(img, path)
    >>> header_t_r(path)
    3.0
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"The image file {str(path)!r} does not exist.")
    try:
        header = nib.load(path).header
    except Exception as exc:  # nibabel raises several types
        raise image_read_error(path, None, exc, part="the header of") from None
    zooms = header.get_zooms()
    if len(zooms) < 4 or not zooms[3] > 0:
        return None
    unit = header.get_xyzt_units()[1] if hasattr(header, "get_xyzt_units") else "sec"
    scale = {"msec": 1e-3, "usec": 1e-6}.get(unit, 1.0)
    return float(zooms[3]) * scale
