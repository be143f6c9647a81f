"""ROI values of a voxelwise extractor: mean of the map, or the feature of the mean series."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from painmarkers._validation import check_choice
from painmarkers.exceptions import ExtractorError
from painmarkers.extractors._context import ImageContext
from painmarkers.extractors.base import (
    BaseExtractor,
    ImageEstimatorTags,
    image_contexts,
    roi_columns,
    roi_feature_names_out,
)
from painmarkers.rois import check_rois

__all__ = ["SUMMARIES", "ROIExtractor"]

#: How ROI values are formed from a voxelwise extractor.
SUMMARIES = ("mean_map", "mean_timeseries")


def _resolve_feature(feature: Any) -> BaseExtractor:
    if isinstance(feature, str):
        from painmarkers.extractors._registry import get_extractor

        return get_extractor(feature)()
    if isinstance(feature, BaseExtractor):
        return clone(feature)
    raise TypeError(
        "The 'feature' parameter must be an extractor (e.g. ALFF()) or a registered name "
        f"such as 'alff'. Got {feature!r}."
    )


class ROIExtractor(ImageEstimatorTags, TransformerMixin, BaseEstimator):
    """Values of a voxelwise feature in ROIs, shape ``(n_images, n_rois)``.

    Parameters
    ----------
    feature : BaseExtractor or str
        The voxelwise extractor (e.g. ``ALFF(band=(0.01, 0.08))``) or a
        registered name (``"alff"``), used with its default parameters.
    rois : ROI, sequence of ROI or str
        The ROIs, or a registered ROI-set name (``"rtms_alff_clbp"``).
    summary : {"mean_map", "mean_timeseries"}, default="mean_map"
        ``"mean_map"``: compute the voxelwise map, then average it over each
        ROI. ``"mean_timeseries"``: average the voxel time series of each ROI,
        then compute the feature of that mean series (the seed study's
        Figure 2 computes ALFF this way in 6 mm spheres).
    mask_img : image, path or None, default=None
        Brain mask; overrides the extractor's own ``mask_img``. ROIs are
        intersected with it.

    Attributes
    ----------
    extractor_ : BaseExtractor
        The fitted voxelwise extractor.
    rois_ : tuple of ROI
        The ROIs.
    roi_n_voxels_ : ndarray of int
        Number of voxels of each ROI inside the mask.

    Raises
    ------
    DataError
        An ROI empty on the image grid or outside the mask (named).
    ExtractorError
        ``"mean_timeseries"`` with a map extractor, or with an extractor that
        standardises over voxels (``standardize`` set), which would be
        meaningless on ROI means.

    Notes
    -----
    The two summaries differ for non-linear features: the mean of voxel ALFF
    values is not the ALFF of the mean series (averaging cancels incoherent
    fluctuations, so the latter is smaller). For a linear feature they agree.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.rois import Sphere
    >>> from painmarkers.extractors import SeedFC
    >>> rng = np.random.default_rng(0)
    >>> bold = nib.Nifti1Image(rng.standard_normal((5, 5, 5, 40)), np.diag([3.0, 3, 3, 1]))
    >>> seed = Sphere("seed", (3, 3, 3), 3.0)
    >>> ext = ROIExtractor(SeedFC(seed, t_r=2.0), [Sphere("a", (9, 9, 9), 3.0)]).fit(bold)
    >>> ext.transform(bold).shape, list(ext.get_feature_names_out())
    ((1, 1), ['seed_fc_seed__a'])
    """

    #: One value per ROI (the cohort driver attaches them as ROI measures).
    output = "rois"
    #: The driver gives the session's brain mask when neither this nor the extractor has one.
    requires_mask = True

    def __init__(self, feature=None, rois=None, summary="mean_map", mask_img=None):
        self.feature = feature
        self.rois = rois
        self.summary = summary
        self.mask_img = mask_img

    # -- the extractor protocol, from the wrapped extractor -------------------------------------
    def _inner(self) -> BaseExtractor:
        return getattr(self, "extractor_", None) or _resolve_feature(self.feature)

    @property
    def input_kind(self) -> str:
        """``input_kind`` of the wrapped extractor."""
        return self._inner().input_kind

    @property
    def image_kind(self) -> str | None:
        """``image_kind`` of the wrapped extractor (the session image it reads)."""
        return self._inner().image_kind

    @property
    def accepts_confounds(self) -> bool:
        """Whether the wrapped extractor uses nuisance confounds."""
        return self._inner().accepts_confounds

    def fit(self, imgs=None, y=None):
        """Fit the voxelwise extractor (mask) and place the ROIs on its grid.

        Parameters
        ----------
        imgs : image, path, list of them or None, default=None
            Images used to compute the mask when no mask is given.
        y : None
            Ignored.

        Returns
        -------
        ROIExtractor
            The fitted transformer (``self``).

        Raises
        ------
        ExtractorError
            The wrapped extractor already gives ROI values, or ``"mean_timeseries"`` is
            asked of an extractor that does not take time series or that standardises.
        ValueError
            An unknown ``summary``.
        """
        check_choice(self.summary, SUMMARIES, "summary")
        ext = _resolve_feature(self.feature)
        if self.mask_img is not None:
            ext.set_params(mask_img=self.mask_img)
        if ext.output != "voxels":
            raise ExtractorError(f"ROIExtractor needs a voxelwise extractor; "
                                 f"{type(ext).__name__} already gives ROI values.")
        if self.summary == "mean_timeseries":
            if ext.input_kind != "bold":
                raise ExtractorError(
                    f"summary='mean_timeseries' needs a time-series extractor; "
                    f"{type(ext).__name__} takes {ext.input_kind!r} input."
                )
            if getattr(ext, "standardize", None) not in (None, False):
                raise ExtractorError(
                    f"summary='mean_timeseries' cannot standardise over voxels; set "
                    f"standardize=None on {type(ext).__name__} (got {ext.standardize!r})."
                )
        ext.fit(imgs)
        rois = check_rois(self.rois)
        columns = roi_columns(np.asarray(ext.mask_img_.dataobj) > 0, ext.mask_img_, rois)
        self.extractor_ = ext
        self.rois_ = rois
        self._columns = columns
        self.roi_n_voxels_ = np.array([len(c) for c in columns])
        return self

    def transform_image(self, context: ImageContext | Any) -> np.ndarray:
        """ROI values of one image: the public per-image entry point.

        Uses the wrapped extractor's public per-image steps (``check_context``,
        ``load_data``, ``prepare``, ``compute``, or ``transform_image`` for
        ``"mean_map"``); nothing is written to ``self`` or to the extractor.

        Parameters
        ----------
        context : ImageContext or image
            The image and what is known about it.

        Returns
        -------
        ndarray of shape (n_rois,)
            The ROI values, in the order of :meth:`get_feature_names_out`.

        Raises
        ------
        ExtractorError
            The wrapped extractor's ``compute`` returns another shape than one value
            per ROI mean series.
        """
        check_is_fitted(self)
        ext = self.extractor_
        if self.summary == "mean_map":
            values = ext.transform_image(context)
            return np.array([values[c].mean(dtype=np.float64) for c in self._columns])
        context = ext.check_context(context)
        data = ext.load_data(context)
        context = ext.prepare(data, context)
        series = np.column_stack([data[:, c].mean(axis=1, dtype=np.float64)
                                  for c in self._columns])
        values = np.asarray(ext.compute(series, context), dtype=float)
        if values.shape != (len(self._columns),):
            raise ExtractorError(
                f"{type(ext).__name__}.compute returned shape {values.shape} on "
                f"{len(self._columns)} ROI mean series of {context.label}."
            )
        return values

    def transform(self, imgs, confounds=None):
        """ROI values of each image.

        Parameters
        ----------
        imgs : image, path or list of them
            Inputs of the voxelwise extractor.
        confounds : confounds, list of them or None, default=None
            Per-image nuisance confounds (for extractors that use them).

        Returns
        -------
        ndarray of shape (n_images, n_rois)
            Columns in the order of :meth:`get_feature_names_out`.
        """
        check_is_fitted(self)
        contexts = image_contexts(imgs, confounds, mask_img=self.extractor_.mask_img_)
        return np.vstack([self.transform_image(c) for c in contexts])

    def get_feature_name(self) -> str:
        """Feature name of the ROI values.

        Returns
        -------
        str
            The extractor's feature name (``"alff"``), with ``"_meants"``
            appended for ``summary="mean_timeseries"`` so that both summaries
            can live side by side in a cohort.
        """
        check_is_fitted(self)
        name = self.extractor_.get_feature_name()
        return name + ("_meants" if self.summary == "mean_timeseries" else "")

    get_feature_names_out = roi_feature_names_out
