"""Seed-based functional connectivity: Pearson r (or Fisher z) map of a seed's mean series."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from painmarkers._docs import fill_doc
from painmarkers._threads import single_blas_thread
from painmarkers._validation import check_choice, check_interval
from painmarkers._warnings import warn
from painmarkers.exceptions import ExtractorError, PainmarkersWarning
from painmarkers.extractors._confounds import (
    CONFOUND_STRATEGIES,
    LEVELS,
    check_strategy,
    confound_matrix,
    select_confounds,
)
from painmarkers.extractors._context import ImageContext
from painmarkers.extractors.base import BaseExtractor
from painmarkers.rois import ROI

__all__ = ["CONFOUND_STRATEGIES", "SeedFC", "select_confounds"]

#: Largest |r| before the Fisher transform, so that z stays finite.
_R_MAX = 1.0 - 1e-7
#: Voxels cleaned and correlated per block (keeps temporaries to a few MB).
_BLOCK = 4096


@fill_doc
class SeedFC(BaseExtractor):
    """Seed-based connectivity map: correlation of every voxel with a seed's mean series.

    Parameters
    ----------
    seed : Sphere, AtlasRegion or MaskROI
        The seed region; its voxels inside the brain mask are averaged.
    %(mask_img_extractor)s
    %(t_r_extractor)s
    confounds_strategy : tuple of str or None, default=None
        The fMRIPrep noise components to regress out (see :func:`select_confounds`).
        The columns are selected from the confounds given to
        ``transform``/``compute_map`` or, without them, from the fMRIPrep table
        next to the BOLD file (``*_desc-confounds_timeseries.tsv``): one reader and
        one n/a rule either way. None uses all columns of the given confounds (or
        none).
    motion : {"basic", "power2", "derivatives", "full"}, default="basic"
        Expansion of the motion parameters (``"full"`` = 24 parameters).
    low_pass, high_pass : float or None, default=None
        Butterworth band-pass cut-offs in Hz (e.g. 0.08 and 0.01).
    detrend : bool, default=True
        Remove linear trends (with the confounds, as in :func:`nilearn.signal.clean`).
    fisher_z : bool, default=True
        Return Fisher z = artanh(r) (else Pearson r).

    Attributes
    ----------
    mask_img_ : nibabel.Nifti1Image
        The brain mask used.
    seed_mask_ : ndarray of bool
        The seed voxels (inside the brain mask) on the mask grid.
    n_seed_voxels_ : int
        Number of seed voxels averaged.

    Raises
    ------
    DataError
        Seed outside the mask or the image (named), confounds whose row count
        differs from the number of volumes (file and both counts named), n/a
        confound values beyond the first row.
    ExtractorError
        A seed series with zero variance after cleaning (seed and image named).

    Notes
    -----
    All voxel series and the seed's mean series are cleaned together:
    without band-pass, by projection onto the orthogonal complement of the
    intercept, the linear trend (``detrend``) and the confounds, which is what
    :func:`nilearn.signal.clean` computes; with band-pass, by
    :func:`nilearn.signal.clean` itself (Butterworth filter). Cleaning is
    linear, so cleaning the seed mean equals the mean of the cleaned seed
    voxels. Then

    .. math:: r_v = \\frac{\\sum_t (x_{vt}-\\bar x_v)(s_t-\\bar s)}
              {\\sqrt{\\sum_t (x_{vt}-\\bar x_v)^2 \\sum_t (s_t-\\bar s)^2}},
              \\qquad z_v = \\operatorname{artanh}(r_v)

    with :math:`|r|` clipped to :math:`1-10^{-7}` so that z is finite. Voxels with a
    constant series get r = 0, with a warning giving their count.

    References
    ----------
    Biswal B. et al. (1995). Functional connectivity in the motor cortex of
    resting human brain using echo-planar MRI. Magn Reson Med 34:537-541.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.rois import Sphere
    >>> rng = np.random.default_rng(0)
    >>> bold = nib.Nifti1Image(rng.standard_normal((4, 4, 4, 50)), np.diag([3.0, 3, 3, 1]))
    >>> fc = SeedFC(Sphere("s", (3, 3, 3), 3.0), t_r=2.0, fisher_z=False).fit(bold)
    >>> fc.compute_map(bold).shape
    (4, 4, 4)
    """

    feature: ClassVar[str] = "seed_fc"
    input_kind: ClassVar[str] = "bold"
    accepts_confounds: ClassVar[bool] = True

    def __init__(self, seed=None, mask_img=None, t_r=None, confounds_strategy=None,
                 motion="basic", low_pass=None, high_pass=None, detrend=True, fisher_z=True):
        self.seed = seed
        self.mask_img = mask_img
        self.t_r = t_r
        self.confounds_strategy = confounds_strategy
        self.motion = motion
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.detrend = detrend
        self.fisher_z = fisher_z

    def get_feature_name(self) -> str:
        """Name of the feature: ``"seed_fc_<seed name>"`` (``"_r"`` added when not Fisher z).

        Returns
        -------
        str
            E.g. ``"seed_fc_PCC"``; ``"seed_fc_PCC_r"`` when ``fisher_z=False``.
        """
        seed = getattr(self.seed, "name", "seed")
        return f"seed_fc_{seed}" + ("" if self.fisher_z else "_r")

    def _check_params(self) -> None:
        if not isinstance(self.seed, ROI):
            raise ExtractorError(
                "The 'seed' parameter must be a Sphere, AtlasRegion or MaskROI. "
                f"Got {self.seed!r}."
            )
        check_strategy(self.confounds_strategy, "confounds_strategy")
        check_choice(self.motion, LEVELS, "motion")
        for name in ("low_pass", "high_pass"):
            value = getattr(self, name)
            if value is not None:
                check_interval(value, name, 0, None, closed="neither")
        if (self.low_pass is not None and self.high_pass is not None
                and self.high_pass >= self.low_pass):
            raise ValueError(f"'high_pass' ({self.high_pass}) must be below 'low_pass' "
                             f"({self.low_pass}).")

    def _fit(self, imgs, y=None) -> None:
        seed_mask = self.seed.to_mask(self.mask_img_, self.mask_img_)
        self.seed_mask_ = seed_mask
        self.n_seed_voxels_ = int(seed_mask.sum())
        # columns of the seed voxels in the masked (T, V) data
        order = np.full(self._mask.shape, -1, dtype=np.int64)
        order[self._mask] = np.arange(self.n_voxels_)
        self._seed_columns = order[seed_mask]

    def prepare(self, data: np.ndarray, context: ImageContext) -> ImageContext:
        """The seed's mean series and the confound matrix of one image.

        Parameters
        ----------
        data : ndarray of shape (T, V)
            The masked data of the whole image.
        context : ImageContext
            Its checked context (``confounds``: a file, table, array or None; with
            ``confounds_strategy`` and no confounds, the fMRIPrep table next to the
            BOLD file is used).

        Returns
        -------
        ImageContext
            With ``derived["seed_series"]`` (float64, ``(T,)``) and
            ``derived["confounds"]`` (``(T, k)`` or None).

        Raises
        ------
        DataError
            Confounds missing, unreadable, with a missing column, n/a beyond the first
            row, or a row count different from the number of volumes (named).
        """
        seed_series = data[:, self._seed_columns].mean(axis=1, dtype=np.float64)
        matrix = confound_matrix(context.confounds, check_strategy(self.confounds_strategy),
                                 self.motion, data.shape[0], context.img, context.label)
        return context.with_derived(seed_series=seed_series, confounds=matrix)

    def _basis(self, n: int, confounds: np.ndarray | None) -> np.ndarray:
        """Orthonormal basis of span{1, t (if detrend), confounds}, shape (T, k)."""
        columns = [np.ones(n)]
        if self.detrend:
            columns.append(np.arange(n) - (n - 1) / 2)
        if confounds is not None:
            columns.append(confounds)
        design = np.column_stack(columns)
        u, s, _ = np.linalg.svd(design, full_matrices=False)
        return u[:, s > s[0] * max(design.shape) * np.finfo(float).eps]

    def compute(self, data: np.ndarray, context: ImageContext) -> np.ndarray:
        """Correlation (Fisher z) of each column of ``data`` with the seed series.

        Parameters
        ----------
        data : ndarray of shape (T, n)
            Voxel series, or ROI mean series (``ROIExtractor``).
        context : ImageContext
            The context returned by :meth:`prepare` (seed series and confounds).

        Returns
        -------
        ndarray of shape (n,)
            Pearson r of each column with the seed series, both cleaned alike
            (detrended, filtered and with the confounds regressed out, as set); Fisher z
            (``arctanh``) when ``fisher_z`` is set.

        Raises
        ------
        ExtractorError
            A context not prepared by :meth:`prepare`, or a seed series with zero
            variance after cleaning (the message names the image).
        """
        if "seed_series" not in context.derived:
            raise ExtractorError("SeedFC.compute needs the context returned by "
                                 "SeedFC.prepare (it holds the seed's series).")
        # Every product of the map on one BLAS thread: they are skinny ((k, T) x (T, n)),
        # where multi-threaded BLAS only adds synchronisation cost (measured 5-10x slower
        # on a busy 2-core machine), and a map must not depend on how many images other
        # threads are processing (see painmarkers._threads).
        with single_blas_thread():
            return self._compute(data, context)

    def _compute(self, data: np.ndarray, context: ImageContext) -> np.ndarray:
        seed_series = context.derived["seed_series"]
        confounds = context.derived["confounds"]
        n_vox = data.shape[1]
        if self.low_pass is not None or self.high_pass is not None:
            from nilearn import signal

            series = np.column_stack([np.asarray(data, dtype=np.float64), seed_series])
            cleaned = signal.clean(series, detrend=self.detrend, standardize=None,
                                   confounds=confounds, standardize_confounds=True,
                                   filter="butterworth", low_pass=self.low_pass,
                                   high_pass=self.high_pass, t_r=context.t_r)
            seed = cleaned[:, -1] - cleaned[:, -1].mean()
            self._check_seed(seed, seed_series, context)
            voxels = cleaned[:, :-1]
            voxels -= voxels.mean(axis=0)
            return self._finish(self._correlate(seed, voxels, data), context)
        # Without filtering, nilearn's clean (detrend, then regress the detrended and
        # standardised confounds) is the projection onto the orthogonal complement of
        # span{1, t, confounds} (Frisch-Waugh-Lovell). It is applied here by blocks of
        # voxels (float64, two small matrix products each), which avoids whole-brain
        # temporary copies.
        basis = self._basis(data.shape[0], confounds)
        seed = seed_series - basis @ (basis.T @ seed_series)
        seed -= seed.mean()
        self._check_seed(seed, seed_series, context)
        r = np.empty(n_vox)
        for start in range(0, n_vox, _BLOCK):
            block = np.array(data[:, start:start + _BLOCK], dtype=np.float64)
            block -= basis @ (basis.T @ block)
            r[start:start + _BLOCK] = self._correlate(seed, block,
                                                      data[:, start:start + _BLOCK])
        return self._finish(r, context)

    def _check_seed(self, seed: np.ndarray, raw: np.ndarray, context: ImageContext) -> None:
        scale = max(1.0, float(np.abs(raw).max()))
        if not np.isfinite(seed @ seed) or np.sqrt(seed @ seed) <= 1e-12 * scale:
            raise ExtractorError(
                f"The mean series of seed {self.seed.name!r} has zero variance in "
                f"{context.label} (after cleaning); the seed cannot be correlated."
            )

    def _correlate(self, seed: np.ndarray, voxels: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Pearson r of centred ``voxels`` (T, n) with the centred ``seed``; NaN if constant."""
        norms = np.sqrt(np.einsum("tv,tv->v", voxels, voxels))
        constant = norms <= 1e-12 * np.maximum(1.0, np.abs(raw).max(axis=0))
        r = np.zeros(voxels.shape[1])
        ok = ~constant
        r[ok] = (seed @ voxels[:, ok]) / (np.sqrt(seed @ seed) * norms[ok])
        r[constant] = np.nan
        return r

    def _finish(self, r: np.ndarray, context: ImageContext) -> np.ndarray:
        constant = np.isnan(r)
        if constant.any():
            warn(f"{int(constant.sum())} voxel(s) of {context.label} have a constant series; "
                 "their correlation is set to 0.", PainmarkersWarning)
            r[constant] = 0.0
        r = np.clip(r, -_R_MAX, _R_MAX)
        return np.arctanh(r) if self.fisher_z else r
