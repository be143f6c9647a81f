"""Atomic, deterministic writers used by the simulator (TSV, JSON, gzipped NIfTI).

Every file is written to a temporary name in its destination folder and moved
into place with :func:`os.replace`, so a reader never sees half a file. Gzip
streams carry ``mtime=0`` and no file name, so the same data give the same bytes.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from painmarkers._atomic import atomic_write, write_bytes, write_text

__all__ = ["write_bytes", "write_json", "write_nifti", "write_text", "write_tsv"]

_NIFTI_MNI = 4  # NIfTI xform code "mni_152"


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (keys in insertion order), atomically."""
    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def write_tsv(path: Path, frame: pd.DataFrame, float_format: str | None = None) -> None:
    """Write a BIDS TSV (tab separated, ``n/a`` for missing values), atomically."""
    text = frame.to_csv(sep="\t", na_rep="n/a", index=False, lineterminator="\n",
                        float_format=float_format)
    write_text(path, text)


def _write_gzip(path: Path, chunks: list) -> None:
    """Gzip ``chunks`` (bytes-like) into ``path`` atomically, deterministically (mtime 0).

    Always zlib: ISA-L does not promise the same compressed bytes for the same input
    (intel/isa-l#140), and a QSM map of the same data once compressed to different bytes
    in a serial and a parallel run.
    """

    def writer(tmp: str) -> None:
        with open(tmp, "wb") as raw:
            stream = gzip.GzipFile(filename="", mode="wb", compresslevel=1, fileobj=raw,
                                   mtime=0)
            with stream:
                for chunk in chunks:
                    stream.write(chunk)

    atomic_write(path, writer)


def fortran_index(mask: np.ndarray) -> np.ndarray:
    """Flat indices of the True voxels of a 3-D mask in NIfTI (Fortran) order.

    The order of the returned indices is the C order of ``mask[mask]``, so
    ``values`` indexed like ``mask[mask]`` land at ``index`` in the flat
    Fortran-ordered volume.
    """
    i, j, k = np.nonzero(mask)
    nx, ny, _ = mask.shape
    return i + nx * (j + ny * k)


def write_nifti(path: Path, values: np.ndarray, index: np.ndarray, shape: tuple[int, ...],
                affine: np.ndarray, *, t_r: float | None = None, dtype=np.float32,
                intent: str | None = None, descrip: str = "painmarkers simulation") -> None:
    """Write masked voxel values as a gzipped NIfTI-1 image, atomically and deterministically.

    Parameters
    ----------
    path : Path
        Destination (``.nii.gz``).
    values : ndarray, shape (n_voxels,) or (n_volumes, n_voxels)
        Values of the in-mask voxels (order of ``index``); zero elsewhere.
    index : ndarray of int, shape (n_voxels,)
        Fortran-order flat index of each voxel (see :func:`fortran_index`).
    shape : tuple of 3 ints
        Spatial shape of the grid.
    affine : ndarray, shape (4, 4)
        Voxel-to-MNI affine (written as sform and qform, code ``mni_152``).
    t_r : float or None, default=None
        Repetition time in seconds for 4-D images (``pixdim[4]``, units ``sec``).
    dtype : numpy dtype, default=float32
        On-disk data type.
    intent : str or None, default=None
        Optional NIfTI intent name (e.g. ``"label"``).
    descrip : str, default="painmarkers simulation"
        Header description.
    """
    values = np.asarray(values)
    n_vox = int(np.prod(shape))
    if values.ndim == 1:
        buffer = np.zeros(n_vox, dtype=dtype)
        buffer[index] = values
        full_shape = tuple(shape)
    else:
        buffer = np.zeros((values.shape[0], n_vox), dtype=dtype)
        buffer[:, index] = values
        full_shape = (*shape, values.shape[0])
    header = nib.Nifti1Header()
    header.set_data_dtype(dtype)
    header.set_data_shape(full_shape)
    zooms = tuple(float(z) for z in np.sqrt((affine[:3, :3] ** 2).sum(axis=0)))
    header.set_zooms(zooms + ((float(t_r),) if len(full_shape) == 4 else ()))
    if len(full_shape) == 4:
        header.set_xyzt_units("mm", "sec")
    else:
        header.set_xyzt_units("mm")
    header.set_sform(affine, code=_NIFTI_MNI)
    header.set_qform(affine, code=_NIFTI_MNI)
    header["descrip"] = descrip.encode("ascii")[:79]
    if intent is not None:
        header.set_intent(intent)
    header["vox_offset"] = 352
    _write_gzip(path, [header.binaryblock + b"\x00" * 4, memoryview(buffer).cast("B")])
