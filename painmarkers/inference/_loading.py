"""Load a stack of 3-D maps once each, checking the grid, and mask them directly.

nilearn checks headers pairwise and re-loads images; here each file is opened
once with nibabel, compared with the first image's shape and affine, and only
the in-mask voxels are kept (float64), block by block so memory stays bounded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from painmarkers._validation import check_img
from painmarkers.exceptions import DataError, ImageError
from painmarkers.io.images import load_img

__all__ = ["ImageStack"]

_AFFINE_ATOL = 1e-3


def _name(src, i):
    if isinstance(src, str | os.PathLike):
        return str(Path(src))
    return f"image {i}"


class ImageStack:
    """A list of 3-D maps (paths or images) or one 4-D image, read lazily by block."""

    def __init__(self, imgs, name="imgs"):
        self.name = name
        if isinstance(imgs, str | os.PathLike) or hasattr(imgs, "affine"):
            img4 = check_img(imgs, name=name)
            if len(img4.shape) == 3:
                raise ImageError(
                    f"{name} is a single 3-D image; give a 4-D image or a list of 3-D maps."
                )
            if len(img4.shape) != 4:
                raise ImageError(f"{name} must be 4-D; got shape {img4.shape}.")
            self._data4 = np.asanyarray(img4.dataobj)
            self.shape = tuple(img4.shape[:3])
            self.affine = img4.affine
            self.labels = [f"{_name(imgs, 0)} volume {i}" for i in range(img4.shape[3])]
            self.sources = None
            self.n = img4.shape[3]
            return
        if hasattr(imgs, "tolist") and not hasattr(imgs, "affine"):
            imgs = imgs.tolist()  # pandas Series / numpy array of paths
        if not isinstance(imgs, Sequence) or isinstance(imgs, str | bytes):
            raise TypeError(
                f"The {name!r} parameter must be a list of 3-D maps (paths or images) or a "
                f"4-D image. Got {type(imgs).__name__}."
            )
        if len(imgs) == 0:
            raise DataError(f"{name} is empty.")
        self._data4 = None
        self.sources = list(imgs)
        self.labels = [_name(s, i) for i, s in enumerate(self.sources)]
        self.n = len(self.sources)
        first = self._open(0)
        self.shape = tuple(first.shape[:3])
        self.affine = first.affine
        self._first = first

    def _open(self, i):
        src = self.sources[i]
        name = f"{self.name}[{i}]"
        if isinstance(src, str | os.PathLike):
            # one read per file; .nii.gz inflated with python-isal when installed
            src = load_img(src, name=name)
        return check_img(src, ndim=3, name=name)

    def _check(self, img, i):
        if tuple(img.shape[:3]) != self.shape:
            raise ImageError(
                f"{self.labels[i]} has shape {tuple(img.shape[:3])} but {self.labels[0]} has "
                f"shape {self.shape}: all maps must share one grid (resample first)."
            )
        if not np.allclose(img.affine, self.affine, atol=_AFFINE_ATOL):
            raise ImageError(
                f"{self.labels[i]} has a different affine from {self.labels[0]}:\n"
                f"{np.round(img.affine, 4)}\nvs\n{np.round(self.affine, 4)}; "
                "all maps must share one grid (resample first)."
            )

    def read(self, i, flat_index):
        """In-mask values of image ``i`` (float64), given :func:`flat_indices` of the mask."""
        if self._data4 is not None:
            vol = np.asarray(self._data4[..., i])
        else:
            img = self._first if i == 0 else self._open(i)
            if i:
                self._check(img, i)
            vol = np.asarray(img.dataobj)
        if vol.ndim == 4:
            vol = vol[..., 0]
        # index the buffer in its own memory order (no copy): files load Fortran-ordered,
        # arrays built in Python are usually C-ordered
        if vol.flags.c_contiguous and not vol.flags.f_contiguous:
            flat, index = vol.ravel(order="C"), flat_index[1]
        else:
            flat, index = vol.ravel(order="F"), flat_index[0]
        return np.take(flat, index).astype(np.float64, copy=False)

    def read_block(self, indices, flat_index, n_jobs=None):
        """Stack of rows ``read(i)`` for ``i`` in ``indices``."""
        if n_jobs in (None, 1) or len(indices) < 2:
            rows = [self.read(i, flat_index) for i in indices]
        else:
            from joblib import Parallel, delayed

            rows = Parallel(n_jobs=n_jobs, prefer="threads")(
                delayed(self.read)(i, flat_index) for i in indices
            )
        return np.vstack(rows)


def flat_indices(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F-order and C-order flat indices of mask voxels, listed in the order of ``data[mask]``."""
    ijk = np.nonzero(mask)
    return (np.ravel_multi_index(ijk, mask.shape, order="F"),
            np.ravel_multi_index(ijk, mask.shape, order="C"))
