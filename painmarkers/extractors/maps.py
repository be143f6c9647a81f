"""ROI summaries (mean or median) of any 3-D map: QSM, ALFF, FC, T1-derived maps.

The ROIs are drawn on, or resampled by nearest neighbour to, each map's own
grid, so maps of different resolutions can be summarised with one ROI set. The
ROI voxels of a grid are found once per (ROI, grid, brain mask) and kept in a
small process-wide cache; each map is then reduced over all its ROIs at once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from os import PathLike
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from painmarkers._deprecation import deprecate_positional, rename_parameters
from painmarkers._validation import check_choice, check_img
from painmarkers.exceptions import ImageError
from painmarkers.extractors._context import ImageContext, image_label
from painmarkers.extractors.base import (
    ImageEstimatorTags,
    image_contexts,
    roi_feature_names_out,
)
from painmarkers.io.images import read_data
from painmarkers.rois import check_rois

__all__ = ["STATISTICS", "SUMMARIES", "MapMean", "roi_summary"]

#: How the voxel values of an ROI become one number.
SUMMARIES = ("mean", "median")
#: Former name of :data:`SUMMARIES` (painmarkers 0.1).
STATISTICS = SUMMARIES

#: ROI voxel indices kept per (ROI, grid, mask); at most this many entries.
_CACHE_SIZE = 4096


class _ROIIndexCache:
    """Flat voxel indices of ROIs on grids, computed once per (ROI, grid, mask); thread-safe."""

    def __init__(self, size: int = _CACHE_SIZE):
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._masks: OrderedDict[Any, tuple[Any, str]] = OrderedDict()
        self.builds = 0  # number of ROI masks built, for tests and benchmarks

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._masks.clear()
            self.builds = 0

    def _get(self, key):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def _put(self, key, value) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            self.builds += 1
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def brain_mask(self, mask_img: Any) -> tuple[Any, str] | tuple[None, None]:
        """The brain mask as an in-memory image and a key identifying its content."""
        if mask_img is None:
            return None, None
        if isinstance(mask_img, str | PathLike):
            path = Path(mask_img).resolve()
            try:
                stat = path.stat()
                source = (str(path), stat.st_mtime_ns, stat.st_size)
            except OSError:
                source = None
            with self._lock:
                hit = self._masks.get(source) if source is not None else None
            if hit is not None:
                return hit
        else:
            source = None
        img = check_img(mask_img, ndim=3, name="mask_img")
        data = read_data(img, name="mask_img")
        data = np.isfinite(data) & (data > 0)
        h = hashlib.blake2b(digest_size=16)
        h.update(str(data.shape).encode())
        h.update(np.packbits(data).tobytes())
        h.update(np.asarray(img.affine, dtype=np.float64).tobytes())
        import nibabel as nib

        loaded = (nib.Nifti1Image(data.astype(np.uint8), img.affine), h.hexdigest())
        if source is not None:
            with self._lock:
                self._masks[source] = loaded
                while len(self._masks) > 16:
                    self._masks.popitem(last=False)
        return loaded

    def indices(self, rois: tuple, shape: tuple[int, int, int], affine: np.ndarray,
                mask_img: Any) -> list[np.ndarray]:
        """Flat (C-order) voxel indices of each ROI on a grid, intersected with the mask."""
        brain, brain_key = self.brain_mask(mask_img)
        grid = (tuple(int(s) for s in shape), np.asarray(affine, dtype=np.float64).tobytes())
        target = SimpleNamespace(shape=grid[0], affine=np.asarray(affine, dtype=np.float64))
        out = []
        for roi in rois:
            try:
                key = (roi, grid, brain_key)
                hash(key)
            except TypeError:  # an unhashable ROI subclass: not cached
                key = None
            flat = self._get(key) if key is not None else None
            if flat is None:
                flat = np.flatnonzero(roi.to_mask(target, brain))
                flat.setflags(write=False)
                if key is not None:
                    self._put(key, flat)
            out.append(flat)
        return out


#: The process-wide cache used by :func:`roi_summary` and :class:`MapMean`.
ROI_INDEX_CACHE = _ROIIndexCache()


@rename_parameters(statistic="summary")
@deprecate_positional(summary=2, mask_img=3, name=4)
def roi_summary(map_img: Any, rois: Any, *, summary: str = "mean", mask_img: Any = None,
                name: str = "map_img") -> np.ndarray:
    """Mean or median of a 3-D map inside each ROI.

    Parameters
    ----------
    map_img : str, path-like or nibabel image
        A 3-D map (a 4-D image with one volume is accepted).
    rois : ROI, sequence of ROI or str
        ROIs (:class:`~painmarkers.rois.Sphere`, :class:`~painmarkers.rois.AtlasRegion`,
        :class:`~painmarkers.rois.MaskROI`) or a registered ROI-set name.
    summary : {"mean", "median"}, default="mean"
        How the voxel values of an ROI become one number (``statistic=`` before
        painmarkers 0.2).
    mask_img : image, path or None, default=None
        Brain mask intersected with each ROI (resampled to the map grid by
        nearest neighbour).
    name : str, default="map_img"
        Name used in messages.

    Returns
    -------
    ndarray of shape (n_rois,)
        One value per ROI, in the order of ``rois``.

    Raises
    ------
    DataError
        An ROI is empty on the map grid or outside the mask (named).
    ImageError
        The map is not 3-D, is truncated or corrupt, or has NaN/inf inside an ROI
        (the ROI and voxel count are named; nothing is silently dropped).

    Notes
    -----
    ROI voxels are the voxels of the map grid whose centres fall in the ROI
    (spheres) or whose nearest atlas/mask voxel is in the ROI; the summary is
    the unweighted mean (or median) over those voxels, accumulated in float64.
    The voxels of each ROI are found once per (ROI, grid, brain mask) and cached
    (``painmarkers.extractors.maps.ROI_INDEX_CACHE``), so summarising many maps on
    one grid costs one gather and one sum per map (``benchmarks/bench_roi_summary.py``).

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.rois import Sphere
    >>> data = np.arange(27, dtype=float).reshape(3, 3, 3)
    >>> img = nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0]))
    >>> roi_summary(img, [Sphere("c", (3, 3, 3), 3.0)])  # centre voxel 13 and 6 neighbours
    array([13.])
    """
    check_choice(summary, SUMMARIES, "summary")
    rois = check_rois(rois)
    label = image_label(map_img, name)
    img = check_img(map_img, ndim=3, name=name)
    data = read_data(img, name=name).reshape(-1)
    indices = ROI_INDEX_CACHE.indices(rois, img.shape[:3], img.affine, mask_img)
    counts = np.array([len(ix) for ix in indices])
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    values = data[np.concatenate(indices)].astype(np.float64)
    bad = np.add.reduceat(~np.isfinite(values), starts)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ImageError(
            f"{label} has {int(bad[i])} NaN/inf voxel(s) inside ROI {rois[i].name!r}; "
            "fix the map or restrict the ROI with mask_img."
        )
    if summary == "mean":
        return np.add.reduceat(values, starts) / counts
    return np.array([np.median(values[s:s + n]) for s, n in zip(starts, counts)])


class MapMean(ImageEstimatorTags, TransformerMixin, BaseEstimator):
    """Mean or median of 3-D maps (QSM, ALFF, ...) in ROIs.

    Parameters
    ----------
    rois : ROI, sequence of ROI or str
        The ROIs, or a registered ROI-set name such as ``"rtms_alff_clbp"``.
    summary : {"mean", "median"}, default="mean"
        How the voxel values of an ROI become one number (``statistic=`` before
        painmarkers 0.2; the old name still works with a FutureWarning).
    kind : str, default="qsm"
        The session image kind summarised by the cohort driver
        (``Session.images[kind]``) and the feature name of the results.
    mask_img : image, path or None, default=None
        Brain mask intersected with every ROI.

    Attributes
    ----------
    rois_ : tuple of ROI
        The ROIs used.
    feature_ : str
        Feature name of the values: ``kind`` for the mean, ``"<kind>_median"``
        for the median.

    Notes
    -----
    Each map gets the ROIs on its own grid (spheres drawn, atlas regions and
    masks resampled by nearest neighbour, so labels are never blended); the ROI
    voxels of a grid are found once and cached (see :func:`roi_summary`).
    ``MapMean`` follows the extractor protocol (``output = "rois"``,
    :meth:`transform_image`), so the cohort driver runs it like any extractor; it
    needs no brain mask and is not given the session's (a BOLD mask).

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.rois import Sphere
    >>> img = nib.Nifti1Image(np.ones((5, 5, 5)), np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> mm = MapMean([Sphere("a", (4, 4, 4), 2.0)], kind="qsm").fit()
    >>> mm.transform([img, img]).tolist(), list(mm.get_feature_names_out())
    ([[1.0], [1.0]], ['qsm__a'])
    """

    #: One value per ROI, from 3-D maps; no confounds; the session mask is not used.
    output: ClassVar[str] = "rois"
    input_kind: ClassVar[str] = "map"
    accepts_confounds: ClassVar[bool] = False
    requires_mask: ClassVar[bool] = False

    @rename_parameters(statistic="summary")
    def __init__(self, rois=None, summary="mean", kind="qsm", mask_img=None):
        self.rois = rois
        self.summary = summary
        self.kind = kind
        self.mask_img = mask_img

    @property
    def image_kind(self) -> str:
        """The session image read by the cohort driver: ``kind``."""
        return self.kind

    def fit(self, imgs=None, y=None):
        """Validate the parameters and the ROIs.

        Parameters
        ----------
        imgs : object, default=None
            Ignored; present for scikit-learn compatibility.
        y : None
            Ignored.

        Returns
        -------
        MapMean
            The fitted extractor (``self``).

        Raises
        ------
        ValueError
            An unknown ``summary`` or a ``kind`` that is not an identifier.
        DataError, TypeError
            A bad ROI (see :func:`~painmarkers.rois.check_rois`).
        """
        check_choice(self.summary, SUMMARIES, "summary")
        if not isinstance(self.kind, str) or not self.kind.isidentifier():
            raise ValueError(
                f"The 'kind' parameter must be an identifier such as 'qsm'. Got {self.kind!r}."
            )
        self.rois_ = check_rois(self.rois)
        self.feature_ = self.kind if self.summary == "mean" else f"{self.kind}_{self.summary}"
        return self

    def transform_image(self, context: ImageContext | Any) -> np.ndarray:
        """ROI summaries of one map: the public per-image entry point.

        Parameters
        ----------
        context : ImageContext or image
            The map (``context.img``) and its name.

        Returns
        -------
        ndarray of shape (n_rois,)
            The ROI summaries, in the order of ``rois_``.
        """
        check_is_fitted(self)
        if not isinstance(context, ImageContext):
            context = ImageContext(context)
        return roi_summary(context.img, self.rois_, summary=self.summary,
                           mask_img=self.mask_img, name=context.name)

    def transform(self, imgs):
        """Summarise each map in each ROI.

        Parameters
        ----------
        imgs : image, path or list of them
            3-D maps.

        Returns
        -------
        ndarray of shape (n_images, n_rois)
            One row per map, columns in the order of :meth:`get_feature_names_out`.

        Raises
        ------
        DataError, ImageError
            See :func:`roi_summary`.
        """
        check_is_fitted(self)
        return np.vstack([self.transform_image(c) for c in image_contexts(imgs)])

    def get_feature_name(self) -> str:
        """Feature name of the values (``feature_``).

        Returns
        -------
        str
            ``kind`` for ``summary="mean"`` (``"qsm"``), else ``"<kind>_<summary>"``.
        """
        check_is_fitted(self)
        return self.feature_

    get_feature_names_out = roi_feature_names_out
