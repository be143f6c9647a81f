"""ROI summaries (mean or median) of any 3-D map: QSM, ALFF, FC, T1-derived maps.

The ROIs are drawn on, or resampled by nearest neighbour to, each map's own
grid, so maps of different resolutions can be summarised with one ROI set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from painmarkers._validation import check_choice, check_img
from painmarkers.exceptions import ExtractorError, ImageError
from painmarkers.extractors.base import image_label
from painmarkers.rois import check_rois
from painmarkers.schema import measure_column

__all__ = ["STATISTICS", "MapMean", "roi_summary"]

#: Summary statistics of the voxel values in an ROI.
STATISTICS = ("mean", "median")


def roi_summary(map_img: Any, rois: Any, statistic: str = "mean", mask_img: Any = None,
                name: str = "map_img") -> np.ndarray:
    """Mean or median of a 3-D map inside each ROI.

    Parameters
    ----------
    map_img : str, path-like or nibabel image
        A 3-D map (a 4-D image with one volume is accepted).
    rois : ROI, sequence of ROI or str
        ROIs (:class:`~painmarkers.rois.Sphere`, :class:`~painmarkers.rois.AtlasRegion`,
        :class:`~painmarkers.rois.MaskROI`) or a registered ROI-set name.
    statistic : {"mean", "median"}, default="mean"
        Summary of the voxel values.
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
        The map is not 3-D, or has NaN/inf inside an ROI (the ROI and voxel
        count are named; nothing is silently dropped).

    Notes
    -----
    ROI voxels are the voxels of the map grid whose centres fall in the ROI
    (spheres) or whose nearest atlas/mask voxel is in the ROI; the summary is
    the unweighted mean (or median) over those voxels.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.rois import Sphere
    >>> data = np.arange(27, dtype=float).reshape(3, 3, 3)
    >>> img = nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0]))
    >>> roi_summary(img, [Sphere("c", (3, 3, 3), 3.0)])  # centre voxel 13 and 6 neighbours
    array([13.])
    """
    check_choice(statistic, STATISTICS, "statistic")
    rois = check_rois(rois)
    label = image_label(map_img, name)
    img = check_img(map_img, ndim=3, name=name)
    data = np.asanyarray(img.dataobj)
    out = np.empty(len(rois))
    for i, roi in enumerate(rois):
        values = data[roi.to_mask(img, mask_img)].astype(np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            raise ImageError(
                f"{label} has {int(bad.sum())} NaN/inf voxel(s) inside ROI {roi.name!r}; "
                "fix the map or restrict the ROI with mask_img."
            )
        out[i] = values.mean() if statistic == "mean" else np.median(values)
    return out


class MapMean(TransformerMixin, BaseEstimator):
    """Mean or median of 3-D maps (QSM, ALFF, ...) in ROIs.

    Parameters
    ----------
    rois : ROI, sequence of ROI or str
        The ROIs, or a registered ROI-set name such as ``"rtms_alff_clbp"``.
    statistic : {"mean", "median"}, default="mean"
        Summary of the voxel values in each ROI.
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
    masks resampled by nearest neighbour, so labels are never blended).

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.rois import Sphere
    >>> img = nib.Nifti1Image(np.ones((5, 5, 5)), np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> mm = MapMean([Sphere("a", (4, 4, 4), 2.0)], kind="qsm").fit()
    >>> mm.transform([img, img]).tolist(), list(mm.get_feature_names_out())
    ([[1.0], [1.0]], ['qsm__a'])
    """

    def __init__(self, rois=None, statistic="mean", kind="qsm", mask_img=None):
        self.rois = rois
        self.statistic = statistic
        self.kind = kind
        self.mask_img = mask_img

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags

    def fit(self, imgs=None, y=None):
        """Validate the parameters and the ROIs.

        Parameters
        ----------
        imgs : ignored
            Present for scikit-learn compatibility.
        y : None
            Ignored.

        Returns
        -------
        self : MapMean
        """
        check_choice(self.statistic, STATISTICS, "statistic")
        if not isinstance(self.kind, str) or not self.kind.isidentifier():
            raise ValueError(
                f"The 'kind' parameter must be an identifier such as 'qsm'. Got {self.kind!r}."
            )
        self.rois_ = check_rois(self.rois)
        self.feature_ = self.kind if self.statistic == "mean" else f"{self.kind}_{self.statistic}"
        return self

    def transform(self, imgs):
        """Summarise each map in each ROI.

        Parameters
        ----------
        imgs : image, path or list of them
            3-D maps.

        Returns
        -------
        ndarray of shape (n_images, n_rois)

        Raises
        ------
        DataError, ImageError
            See :func:`roi_summary`.
        """
        check_is_fitted(self)
        img_list = list(imgs) if isinstance(imgs, list | tuple) else [imgs]
        if not img_list:
            raise ExtractorError("transform needs at least one image; got none.")
        return np.vstack([
            roi_summary(img, self.rois_, self.statistic, self.mask_img, name=f"imgs[{i}]")
            for i, img in enumerate(img_list)
        ])

    def get_feature_names_out(self, input_features=None):
        """Output column names, ``"<feature>__<roi>"``.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        names = [measure_column(self.feature_, r.name) for r in self.rois_]
        return np.asarray(names, dtype=object)
