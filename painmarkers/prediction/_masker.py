"""Images to voxel features: the masker of voxel-pattern models, and the image stack reader.

:class:`VoxelMasker` is the first step of every voxel-pattern pipeline
(:func:`~painmarkers.prediction.evaluate_pattern`): a scikit-learn transformer that turns
3-D maps (paths or nibabel images, or one 4-D image) into a ``(n_images, n_voxels)``
array of the mask's voxels, and back (:meth:`VoxelMasker.inverse_transform`). It never
looks at the target, so the cross-validation engine fits it once per training set
(:func:`painmarkers.prediction._linear.register_label_free`).

:func:`read_images` reads a stack of maps once, image by image, through
:mod:`painmarkers.io.images` (the one NIfTI reader), under the mask rules of
:mod:`painmarkers.inference`: an explicit mask keeps its voxels ``> 0`` and refuses NaN
inside it (naming the image); the implicit mask keeps the voxels finite and non-zero in
every image. Every image must be on the first image's grid (the message names it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from painmarkers._validation import check_img, check_same_grid
from painmarkers.exceptions import DataError, ImageError
from painmarkers.io.images import image_label, load_img, read_data

__all__ = ["ImageData", "VoxelMasker", "read_images"]

_AFFINE_ATOL = 1e-3


def is_image_list(X: Any) -> bool:
    """``X`` holds images (a path, an image, or a list of them), not a numeric array."""
    if isinstance(X, str | os.PathLike) or hasattr(X, "affine"):
        return True
    if hasattr(X, "dtype") and hasattr(X, "shape"):   # numpy arrays, pandas objects
        return getattr(X, "ndim", 2) == 1 and X.dtype == object
    if isinstance(X, Sequence) and not isinstance(X, str | bytes):
        if not len(X):
            return True
        first = X[0]
        return isinstance(first, str | os.PathLike) or hasattr(first, "affine")
    return False


def _as_sources(imgs: Any, name: str) -> tuple[list, list[str], Any]:
    """(list of 3-D sources, their labels, a 4-D image or None)."""
    if isinstance(imgs, str | os.PathLike) or hasattr(imgs, "affine"):
        img = load_img(imgs, name=name) if isinstance(imgs, str | os.PathLike) else imgs
        img = check_img(img, name=image_label(imgs, name))
        if len(img.shape) == 3:
            return [img], [image_label(imgs, name)], None
        if len(img.shape) != 4:
            raise ImageError(f"{image_label(imgs, name)} must be 3-D or 4-D; got shape "
                             f"{img.shape}.")
        where = image_label(imgs, name)[len(name):]
        return ([None] * img.shape[3],
                [f"{name} volume {i}{where}" for i in range(img.shape[3])], img)
    if hasattr(imgs, "tolist") and not hasattr(imgs, "affine"):
        imgs = imgs.tolist()
    if not isinstance(imgs, Sequence) or isinstance(imgs, str | bytes):
        raise TypeError(f"The {name!r} parameter must be a list of 3-D maps (paths or images) "
                        f"or a 4-D image. Got {type(imgs).__name__}.")
    if len(imgs) == 0:
        raise DataError(f"The {name!r} parameter is empty: give at least one image.")
    return list(imgs), [image_label(s, name, i) for i, s in enumerate(imgs)], None


@dataclass(frozen=True, eq=False)
class ImageData:
    """Every image's in-mask values, with the mask and what the mask rules left out.

    Attributes
    ----------
    X : numpy.ndarray of shape (n_images, n_voxels)
        float64 values, columns in the C order of ``np.nonzero(mask)``.
    mask : numpy.ndarray of bool, shape grid_shape
    affine : numpy.ndarray of shape (4, 4)
    labels : list of str
        Name of each image in messages.
    explicit : bool
        The mask was given.
    n_partial : int
        Voxels with data in some images but not all (implicit mask only; dropped).
    worst : str or None
        The image lacking data at most voxels that other images have (implicit mask).
    """

    X: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    affine: np.ndarray = field(repr=False)
    labels: list = field(repr=False)
    explicit: bool = True
    n_partial: int = 0
    worst: str | None = None

    @property
    def mask_img(self):
        """The mask as a uint8 NIfTI image."""
        import nibabel as nib

        return nib.Nifti1Image(self.mask.astype(np.uint8), self.affine)


def _mask_of(mask_img: Any, name: str = "mask_img") -> tuple[np.ndarray, np.ndarray]:
    img = check_img(mask_img, ndim=3, name=name)
    values = read_data(img, name=name)
    mask = np.isfinite(values) & (values > 0)
    if not mask.any():
        raise ImageError(f"{name} is empty: it has no voxel > 0.")
    return mask, np.asarray(img.affine, dtype=float)


def read_images(imgs: Any, mask_img: Any = None, *, name: str = "imgs",
                labels: Sequence[str] | None = None, progress: bool = False) -> ImageData:
    """Read a stack of 3-D maps once and return their in-mask values.

    Parameters
    ----------
    imgs : list of paths or 3-D images, or a 4-D image or path
    mask_img : path, image or None, default=None
        Explicit mask (its voxels > 0, on the images' grid); None: the voxels finite and
        non-zero in every image.
    name : str, default="imgs"
        Name of ``imgs`` in messages.
    labels : list of str or None, default=None
        Names of the images in messages (None: ``imgs[i] (path)``).
    progress : bool, default=False
        A progress bar over the images.

    Returns
    -------
    ImageData

    Raises
    ------
    ImageError
        An image on another grid than the first (or than ``mask_img``), not 3-D, or
        unreadable; an empty mask.
    DataError
        NaN or inf inside an explicit mask (naming the image and the first voxel).
    """
    from painmarkers.prediction._progress import progress_bar

    sources, default_labels, img4 = _as_sources(imgs, name)
    labels = default_labels if labels is None else list(labels)
    explicit = mask_img is not None
    mask = affine = None
    if explicit:
        mask, affine = _mask_of(mask_img)
    ref = ref_label = None
    rows: list[np.ndarray] = []
    support = valid = None
    bar = progress_bar(len(sources), "reading images", progress, unit="img")
    try:
        if img4 is not None:
            if explicit:
                check_same_grid(img4, _Grid(mask.shape, affine), labels[0], "mask_img",
                                atol=_AFFINE_ATOL)
            data = read_data(img4, name=labels[0])
            vols = [np.asarray(data[..., i]) for i in range(data.shape[3])]
        else:
            vols = None
        for i in range(len(sources)):
            if vols is not None:
                vol = vols[i]
                img = None
            else:
                src = sources[i]
                img = (load_img(src, name=labels[i]) if isinstance(src, str | os.PathLike)
                       else src)
                img = check_img(img, ndim=3, name=labels[i])
                if ref is None:
                    ref, ref_label = img, labels[i]
                    if explicit:
                        check_same_grid(img, _Grid(mask.shape, affine), labels[i], "mask_img",
                                        atol=_AFFINE_ATOL)
                else:
                    check_same_grid(img, ref, labels[i], ref_label, atol=_AFFINE_ATOL)
                vol = read_data(img, name=labels[i])
            if explicit:
                values = np.asarray(vol[mask], dtype=np.float64)
                bad = ~np.isfinite(values)
                if bad.any():
                    ijk = tuple(int(c) for c in np.argwhere(mask)[int(np.argmax(bad))])
                    raise DataError(
                        f"{labels[i]} has {int(bad.sum())} NaN/inf voxel(s) inside mask_img "
                        f"(first at voxel {ijk}); fix the image or exclude them from the mask.")
            else:
                has = np.isfinite(vol) & (vol != 0)
                if mask is None:   # candidates: the first image's voxels with data
                    mask = has
                    affine = np.asarray((img4 if img is None else img).affine, dtype=float)
                    support = has.copy()
                    valid = np.ones(int(has.sum()), bool)
                    if not has.any():
                        raise ImageError(f"{labels[i]} has no finite non-zero voxel; give a "
                                         "mask_img.")
                else:
                    support |= has
                values = np.asarray(vol[mask], dtype=np.float64)
                ok = has[mask]
                valid &= ok
                values[~ok] = 0.0
            rows.append(values)
            bar.update()
    finally:
        bar.close()
    X = np.vstack(rows)
    n_partial, worst = 0, None
    if not explicit:
        if not valid.any():
            raise ImageError("The implicit mask (voxels finite and non-zero in every image) is "
                             "empty; give a mask_img.")
        final = np.zeros(mask.shape, bool)
        final[mask] = valid
        n_partial = int(support.sum() - final.sum())
        if n_partial:
            lacking = (X[:, ~valid] == 0).sum(axis=1)
            worst = labels[int(np.argmax(lacking))]
        X = X[:, valid]
        mask = final
    return ImageData(X=X, mask=mask, affine=affine, labels=labels, explicit=explicit,
                     n_partial=n_partial, worst=worst)


class _Grid:
    def __init__(self, shape, affine):
        self.shape = tuple(shape)
        self.affine = np.asarray(affine)


class VoxelMasker(TransformerMixin, BaseEstimator):
    """Turn 3-D maps into the values of their mask voxels (and back).

    The first step of a voxel-pattern pipeline: ``transform`` reads each image (paths
    are read with :mod:`painmarkers.io.images`) and returns one row per image, one
    column per mask voxel. It never uses the target.

    Parameters
    ----------
    mask_img : path, nibabel image or None, default=None
        The voxels (> 0) to keep. None: ``fit`` computes the implicit mask of the images
        it is given, the voxels finite and non-zero in every one of them.

    Attributes
    ----------
    mask_img_ : nibabel.Nifti1Image
        The mask used (uint8, 1 inside).
    grid_affine_ : numpy.ndarray of shape (4, 4)
        Affine of the images' grid.
    grid_shape_ : tuple of int
        Shape of the images' grid.
    n_voxels_ : int
        Number of mask voxels (columns of ``transform``'s output).

    Notes
    -----
    ``fit`` and ``transform`` take images (a list of 3-D maps given as paths or nibabel
    images, or one 4-D image) or a 2-D array whose columns are already the mask voxels
    (in the C order of ``np.nonzero(mask)``), which is what the cross-validation of
    :func:`~painmarkers.prediction.evaluate_pattern` passes after reading every image
    once; an array needs ``mask_img``. Images must lie on the mask's grid (shape and
    affine to 1e-3): resample them first. A NaN or inf inside the mask is an error that
    names the image.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.prediction import VoxelMasker
    >>> mask = nib.Nifti1Image(np.pad(np.ones((2, 2, 2), np.uint8), 1), np.eye(4))
    >>> imgs = [nib.Nifti1Image(np.full((4, 4, 4), float(i), np.float32), np.eye(4))
    ...         for i in range(3)]
    >>> masker = VoxelMasker(mask_img=mask).fit()
    >>> masker.transform(imgs).shape
    (3, 8)
    >>> masker.inverse_transform(np.arange(8.0)).shape
    (4, 4, 4)
    """

    def __init__(self, mask_img=None):
        self.mask_img = mask_img

    def fit(self, X=None, y=None):
        """Set the mask: ``mask_img``, or the implicit mask of the images ``X``.

        Parameters
        ----------
        X : images, 2-D array or None, default=None
            Images (needed when ``mask_img`` is None), or an array whose columns are the
            voxels of ``mask_img``; not read when ``mask_img`` is given.
        y : None
            Ignored.

        Returns
        -------
        VoxelMasker
            The fitted masker (``self``).

        Raises
        ------
        ImageError
            An empty mask, images on different grids, or no mask and no images.
        ValueError
            An array whose width is not the number of mask voxels.
        """
        if self.mask_img is not None:
            mask, affine = _mask_of(self.mask_img)
            if X is not None and not is_image_list(X):
                arr = np.asarray(X)
                if arr.ndim != 2 or arr.shape[1] != int(mask.sum()):
                    raise ValueError(
                        f"VoxelMasker got an array of shape {arr.shape}; an array must have "
                        f"one column per voxel of mask_img ({int(mask.sum())}).")
        else:
            if X is None or not is_image_list(X):
                raise ImageError("VoxelMasker without mask_img needs images to compute the "
                                 "implicit mask from (fit(imgs)); an array cannot say which "
                                 "voxels its columns are.")
            data = read_images(X)
            mask, affine = data.mask, data.affine
        self._set_mask(mask, affine)
        return self

    def _set_mask(self, mask: np.ndarray, affine: np.ndarray) -> None:
        import nibabel as nib

        self.mask_img_ = nib.Nifti1Image(mask.astype(np.uint8), np.asarray(affine, float))
        self.grid_affine_ = np.asarray(affine, dtype=float).copy()
        self.grid_shape_ = tuple(int(s) for s in mask.shape)
        self.n_voxels_ = int(mask.sum())

    def transform(self, X):
        """The mask voxels of each image.

        Parameters
        ----------
        X : images or 2-D array
            A list of 3-D maps (paths or images) or a 4-D image; or an array with one
            column per mask voxel (``n_voxels_`` columns; returned as float64).

        Returns
        -------
        numpy.ndarray of shape (n_images, n_voxels)
            ``n_voxels`` is ``n_voxels_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ImageError
            An image on another grid (the message names it), unreadable, not 3-D.
        DataError
            NaN or inf inside the mask (naming the image).
        ValueError
            An array of the wrong width.
        """
        check_is_fitted(self, "mask_img_")
        if is_image_list(X):
            return read_images(X, self.mask_img_).X
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.n_voxels_:
            raise ValueError(f"VoxelMasker got an array of shape {arr.shape}; it needs one "
                             f"column per mask voxel ({self.n_voxels_}).")
        return arr

    def inverse_transform(self, X):
        """Voxel values back into images (0 outside the mask).

        Parameters
        ----------
        X : array-like of shape (n_voxels,) or (n, n_voxels)
            One value per mask voxel (``n_voxels_``), per row.

        Returns
        -------
        nibabel.Nifti1Image
            3-D for one row, 4-D (one volume per row) otherwise; float64.

        Raises
        ------
        ValueError
            Rows whose length is not ``n_voxels_``, or an array of more than 2
            dimensions.
        """
        import nibabel as nib

        check_is_fitted(self, "mask_img_")
        values = np.asarray(X, dtype=np.float64)
        mask = np.asarray(self.mask_img_.dataobj) > 0
        if values.shape[-1] != self.n_voxels_ or values.ndim > 2:
            raise ValueError(f"inverse_transform needs {self.n_voxels_} values per row; got an "
                             f"array of shape {values.shape}.")
        if values.ndim == 1:
            vol = np.zeros(mask.shape)
            vol[mask] = values
        else:
            vol = np.zeros((*mask.shape, values.shape[0]))
            vol[mask] = values.T
        return nib.Nifti1Image(vol, self.grid_affine_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.two_d_array = False
        return tags
