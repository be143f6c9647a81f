"""The one image loader of inference: stacks of 3-D maps, masks and single statistic maps.

Every function of :mod:`painmarkers.inference` reads images through this module, so they all
follow one set of rules:

* **Inputs.** A list of 3-D maps (paths or nibabel images; a 4-D image with one volume counts
  as 3-D) or one 4-D image (or path), one volume per observation. A single 3-D image is not a
  stack. Each file is opened once, with nibabel (``.nii.gz`` through python-isal when it is
  installed); values are read as float64.
* **Grid.** Every map must have the first map's 3-D shape and affine (to 1e-3); the message
  names the offending map (``imgs[3] (path)``) and the first one.
* **Explicit mask.** ``mask_img`` must be on the maps' grid; its voxels ``> 0`` are analysed
  (an empty mask is an error); a NaN or inf inside it is an error naming the map and voxel.
* **Implicit mask** (``mask_img=None``). The voxels that are finite and non-zero in every map
  (as SPM's implicit mask). The number of voxels dropped because some but not all maps have
  data there is reported (``n_partial``), as is the number of grid voxels left out
  (``n_excluded``).

Images are streamed block by block (:class:`MaskedStream`) so memory does not grow with the
number of maps; :func:`load_masked` collects the blocks when the whole matrix is needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from painmarkers._validation import check_img, check_same_grid
from painmarkers.exceptions import DataError, ImageError
from painmarkers.io.images import image_label, load_img

__all__ = ["ImageStack", "MaskedImages", "MaskedStream", "flat_indices",
           "load_mask", "load_masked", "load_stat_map", "mask_from_array", "to_img"]

_AFFINE_ATOL = 1e-3


def flat_indices(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F-order and C-order flat indices of mask voxels, listed in the order of ``data[mask]``."""
    ijk = np.nonzero(mask)
    return (np.ravel_multi_index(ijk, mask.shape, order="F"),
            np.ravel_multi_index(ijk, mask.shape, order="C"))


def _grid(shape, affine) -> SimpleNamespace:
    return SimpleNamespace(shape=tuple(shape), affine=np.asarray(affine))


def load_mask(mask_img: Any, shape, affine, ref: str, name: str = "mask_img") -> np.ndarray:
    """Boolean mask (voxels > 0) of ``mask_img``, checked against the grid ``shape, affine``.

    Raises
    ------
    ImageError
        A mask on another grid (naming ``ref``), or an empty mask.
    """
    mimg = check_img(mask_img, ndim=3, name=name)
    check_same_grid(_grid(shape, affine), mimg, ref, name, atol=_AFFINE_ATOL)
    values = np.asarray(mimg.dataobj)
    mask = np.isfinite(values) & (values > 0)
    if not mask.any():
        raise ImageError(f"{name} is empty: it has no voxel > 0.")
    return mask


def mask_from_array(mask: Any, shape, ref: str, name: str = "mask_img") -> np.ndarray:
    """The same rule (voxels > 0) for a mask given as an array."""
    values = np.asarray(mask)
    if values.shape != tuple(shape):
        raise ImageError(f"{name} has shape {values.shape} but {ref} has shape {tuple(shape)}.")
    out = np.isfinite(values.astype(float)) & (values > 0)
    if not out.any():
        raise ImageError(f"{name} is empty: it has no voxel > 0.")
    return out


def to_img(values: np.ndarray, mask: np.ndarray, affine, dtype=np.float64, fill=0.0):
    """A 3-D image holding ``values`` at the mask voxels and ``fill`` elsewhere."""
    import nibabel as nib

    vol = np.full(mask.shape, fill, dtype=dtype)
    vol[mask] = values
    return nib.Nifti1Image(vol, affine)


class ImageStack:
    """A list of 3-D maps (paths or images) or one 4-D image, read lazily by block.

    ``labels`` names the maps of a list in messages (default ``imgs[i] (path)``), e.g. by
    their position in a longer list of which only some are read.
    """

    def __init__(self, imgs: Any, name: str = "imgs", labels: Sequence[str] | None = None):
        self.name = name
        if isinstance(imgs, str | os.PathLike) or hasattr(imgs, "affine"):
            img4 = check_img(imgs, name=name)
            if len(img4.shape) == 3:
                raise ImageError(
                    f"{name} is a single 3-D image; give a 4-D image or a list of 3-D maps.")
            if len(img4.shape) != 4:
                raise ImageError(f"{name} must be 4-D; got shape {img4.shape}.")
            self._data4 = np.asanyarray(img4.dataobj)
            self.shape = tuple(img4.shape[:3])
            self.affine = img4.affine
            where = image_label(imgs, name)
            self.labels = [f"{name} volume {i}{where[len(name):]}" for i in range(img4.shape[3])]
            self.sources = None
            self.n = img4.shape[3]
            return
        if hasattr(imgs, "tolist") and not hasattr(imgs, "affine"):
            imgs = imgs.tolist()  # pandas Series / numpy array of paths
        if not isinstance(imgs, Sequence) or isinstance(imgs, str | bytes):
            raise TypeError(
                f"The {name!r} parameter must be a list of 3-D maps (paths or images) or a "
                f"4-D image. Got {type(imgs).__name__}.")
        if len(imgs) == 0:
            raise DataError(f"The {name!r} parameter is empty: give at least one image.")
        self._data4 = None
        self.sources = list(imgs)
        self.labels = ([image_label(s, name, i) for i, s in enumerate(self.sources)]
                       if labels is None else list(labels))
        self.n = len(self.sources)
        first = self._open(0)
        self.shape = tuple(first.shape[:3])
        self.affine = first.affine
        self._first = first
        self._first_vol = None

    def _open(self, i: int):
        src = self.sources[i]
        if isinstance(src, str | os.PathLike):
            # one read per file; .nii.gz inflated with python-isal when installed
            src = load_img(src, name=self.labels[i])
        return check_img(src, ndim=3, name=self.labels[i])

    def _volume(self, i: int) -> np.ndarray:
        if self._data4 is not None:
            return np.asarray(self._data4[..., i])
        if i == 0:
            if self._first_vol is None:  # read once even when the mask needs it first
                vol = np.asarray(self._first.dataobj)
                self._first_vol = vol[..., 0] if vol.ndim == 4 else vol
            return self._first_vol
        img = self._open(i)
        check_same_grid(img, self._first, self.labels[i], self.labels[0], atol=_AFFINE_ATOL)
        vol = np.asarray(img.dataobj)
        return vol[..., 0] if vol.ndim == 4 else vol

    def read(self, i: int, flat_index, support: bool = False):
        """In-mask values of image ``i`` (float64), given :func:`flat_indices` of the mask.

        With ``support``, also the boolean volume of its finite non-zero voxels.
        """
        vol = self._volume(i)
        # index the buffer in its own memory order (no copy): files load Fortran-ordered,
        # arrays built in Python are usually C-ordered
        if vol.flags.c_contiguous and not vol.flags.f_contiguous:
            flat, index = vol.ravel(order="C"), flat_index[1]
        else:
            flat, index = vol.ravel(order="F"), flat_index[0]
        values = np.take(flat, index).astype(np.float64, copy=False)
        if not support:
            return values
        return values, np.isfinite(vol) & (vol != 0)

    def read_block(self, indices, flat_index, n_jobs=None, support: bool = False):
        """Stack of rows ``read(i)`` for ``i`` in ``indices`` (and the union of supports)."""
        if n_jobs in (None, 1) or len(indices) < 2:
            rows = [self.read(i, flat_index, support) for i in indices]
        else:
            from joblib import Parallel, delayed

            rows = Parallel(n_jobs=n_jobs, prefer="threads")(
                delayed(self.read)(i, flat_index, support) for i in indices)
        if not support:
            return np.vstack(rows)
        return np.vstack([r[0] for r in rows]), np.logical_or.reduce([r[1] for r in rows])


class MaskedStream:
    """In-mask values of a stack of maps, block by block, under the module's mask rules.

    Iterate :meth:`blocks`; then :meth:`finish` gives the final mask. With an explicit mask
    the blocks hold every mask voxel; with the implicit mask they hold the voxels finite and
    non-zero in the first map (non-finite values of later maps replaced by 0), and
    :meth:`finish` keeps those finite and non-zero in every map.
    """

    def __init__(self, imgs: Any, mask_img: Any = None, name: str = "imgs",
                 labels: Sequence[str] | None = None):
        self.stack = ImageStack(imgs, name=name, labels=labels)
        st = self.stack
        self.explicit = mask_img is not None
        if self.explicit:
            self.mask = load_mask(mask_img, st.shape, st.affine, st.labels[0])
        else:
            vol = st._volume(0)
            self.mask = np.isfinite(vol) & (vol != 0)
            if not self.mask.any():
                raise ImageError(f"{st.labels[0]} has no finite non-zero voxel; give a "
                                 "mask_img.")
        self.fidx = flat_indices(self.mask)
        self.valid = np.ones(self.fidx[0].size, bool)
        self.support = np.zeros(st.shape, bool)

    @property
    def n(self) -> int:
        return self.stack.n

    def blocks(self, block_size: int = 64, n_jobs=None) -> Iterator[tuple[list, np.ndarray]]:
        """Yield ``(indices, values)``: values of shape (len(indices), n_candidate_voxels)."""
        st = self.stack
        for start in range(0, st.n, block_size):
            idx = list(range(start, min(st.n, start + block_size)))
            if self.explicit:
                yb = st.read_block(idx, self.fidx, n_jobs)
            else:
                yb, sup = st.read_block(idx, self.fidx, n_jobs, support=True)
                self.support |= sup
            finite = np.isfinite(yb)
            if not finite.all():
                if self.explicit:
                    row = int(np.argmax(~finite.all(axis=1)))
                    col = int(np.argmax(~finite[row]))
                    ijk = tuple(int(c) for c in np.argwhere(self.mask)[col])
                    raise DataError(
                        f"{st.labels[idx[row]]} has {int((~finite[row]).sum())} NaN/inf "
                        f"voxel(s) inside mask_img (first at voxel {ijk}); fix the image or "
                        "exclude them from the mask.")
                self.valid &= finite.all(axis=0)
                yb = np.where(finite, yb, 0.0)
            if not self.explicit:
                self.valid &= np.all(yb != 0, axis=0)
            yield idx, yb

    def finish(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """``(mask, keep, n_excluded, n_partial)`` once every block was read.

        ``keep`` selects the final mask's voxels among the blocks' columns; ``n_excluded``
        counts grid voxels outside the final mask (0 with an explicit mask); ``n_partial``
        voxels with data in some maps but not all (0 with an explicit mask).
        """
        if self.explicit:
            return self.mask, np.ones(self.fidx[0].size, bool), 0, 0
        if not self.valid.any():
            raise ImageError("The implicit mask (voxels finite and non-zero in every image) is "
                             "empty; give a mask_img.")
        mask = np.zeros(self.stack.shape, bool)
        mask[self.mask] = self.valid
        n_grid = int(np.prod(self.stack.shape))
        return (mask, self.valid, n_grid - int(mask.sum()),
                int(self.support.sum() - mask.sum()))


@dataclass
class MaskedImages:
    """Every map's in-mask values, with the mask and what the mask rules left out."""

    data: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    labels: list[str]
    explicit: bool
    n_excluded: int
    n_partial: int


def load_masked(imgs: Any, mask_img: Any = None, n_jobs=None) -> MaskedImages:
    """Read every map once and return its in-mask values (float64, one row per map)."""
    stream = MaskedStream(imgs, mask_img)
    blocks = [yb for _, yb in stream.blocks(64, n_jobs)]
    mask, keep, n_excluded, n_partial = stream.finish()
    data = np.vstack(blocks)
    if not keep.all():
        data = data[:, keep]
    return MaskedImages(data=data, mask=mask, affine=stream.stack.affine,
                        labels=stream.stack.labels, explicit=stream.explicit,
                        n_excluded=n_excluded, n_partial=n_partial)


def load_stat_map(stat_img: Any, mask_img: Any = None, name: str = "stat_img"):
    """One 3-D statistic map and its search volume, under the same rules as a stack of one.

    Returns ``(img, data, mask, label, n_nonfinite)``: the image, its values (float64, 0
    outside the mask), the boolean search volume, the map's name in messages, and the number
    of NaN/inf voxels the implicit mask left out.
    """
    label = image_label(stat_img, name)
    img = check_img(stat_img, ndim=3, name=name)
    data = np.asarray(img.get_fdata(dtype=np.float64))
    finite = np.isfinite(data)
    n_nonfinite = 0
    if mask_img is not None:
        mask = load_mask(mask_img, img.shape[:3], img.affine, name)
        bad = mask & ~finite
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(f"{label} has {int(bad.sum())} NaN/inf voxel(s) inside the mask "
                            f"(mask_img; first at voxel {first}); fix the map or exclude them "
                            "from the mask.")
    else:
        mask = finite & (data != 0)
        n_nonfinite = int((~finite).sum())
        if not mask.any():
            raise ImageError(f"The search volume is empty: {label} has no finite non-zero "
                             "voxel; give mask_img.")
    return img, np.where(mask, data, 0.0), mask, label, n_nonfinite
