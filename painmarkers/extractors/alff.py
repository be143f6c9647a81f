"""Amplitude of low-frequency fluctuations: ALFF, fALFF, mALFF and zALFF.

The default convention reproduces DPABI's ``y_alff_falff`` to float precision;
``convention=`` selects the other published definitions (REST, XCP-D, and the
SD of the band-passed signal used by C-PAC/AFNI). The formulas and how the
conventions relate are tabulated in the user guide (*ALFF conventions*).

All computations work on masked ``(T, V)`` arrays with one real FFT per block
of voxels; 4-D files are read volume by volume (:func:`painmarkers.io.read_masked`),
so the full 4-D array is never held in memory.
"""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_tr
from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, PainmarkersWarning
from painmarkers.extractors._context import ImageContext
from painmarkers.extractors._spectral import (
    CONVENTIONS,
    band_bins,
    check_band,
    minimum_volumes,
    spectral_alff,
)
from painmarkers.extractors.base import BaseExtractor

__all__ = [
    "ALFF",
    "ALFF_CONVENTIONS",
    "FractionalALFF",
    "alff_falff",
    "alff_frequency_bins",
    "alff_min_volumes",
]

#: Names accepted by ``convention=``.
ALFF_CONVENTIONS = CONVENTIONS

_STANDARDIZE = (None, "mean", "z")


# --------------------------------------------------------------------------------------------
# Parameter checks shared by the functions and the estimators
# --------------------------------------------------------------------------------------------
def _check_discard(discard: Any) -> int:
    if isinstance(discard, bool) or not isinstance(discard, numbers.Integral) or discard < 0:
        raise ValueError(f"The 'discard' parameter must be an integer >= 0. Got {discard!r}.")
    return int(discard)


def _check_detrend(detrend: Any) -> bool:
    if not isinstance(detrend, bool | np.bool_):
        raise TypeError(f"The 'detrend' parameter must be True or False. Got {detrend!r}.")
    return bool(detrend)


def _check_volumes(n_total: int, discard: int, t_r: float, band, convention: str,
                   label: str) -> None:
    if discard >= n_total:
        raise DataError(
            f"{label}: 'discard'={discard} removes every volume; the series has only "
            f"{n_total} volume(s)."
        )
    n = n_total - discard
    if band_bins(n, t_r, band, convention).n_informative < 1:
        needed = alff_min_volumes(t_r, band, convention)
        after = f" after discarding {discard}" if discard else ""
        raise DataError(
            f"{label}: {n} volume(s){after} are too few for the band {tuple(band)} Hz at "
            f"TR = {t_r:g} s with convention={convention!r}: no frequency bin falls inside "
            f"the band above 0 Hz. At least {needed} volumes are needed"
            + (f" ({needed + discard} before discarding {discard})." if discard else ".")
        )


def _standardize(values: np.ndarray, standardize: str | None, feature: str,
                 label: str) -> np.ndarray:
    if standardize is None:
        return values
    mean = values.mean()
    if standardize == "mean":
        if not mean > 0:
            raise DataError(
                f"{label}: standardize='mean' divides {feature} by its mean over the mask, "
                f"which is {mean:g}; every voxel is constant."
            )
        return values / mean
    if values.size < 2:
        raise DataError(
            f"{label}: standardize='z' needs at least 2 voxels in the mask; got {values.size}."
        )
    sd = values.std(ddof=1)
    if not sd > 0:
        raise DataError(
            f"{label}: standardize='z' divides by the SD of {feature} over the mask, which is 0."
        )
    return (values - mean) / sd


def _compute_pair(data: np.ndarray, t_r: float, band, convention: str, detrend: bool,
                  discard: int, standardize: str | None,
                  label: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated ALFF and fALFF of ``data`` ``(T, V)``, with warnings and standardization."""
    try:
        band = check_band(band, t_r)
    except DataError as exc:  # above Nyquist for this image's TR
        raise DataError(f"{label}: {exc}") from None
    _check_volumes(data.shape[0], discard, t_r, band, convention, label)
    alff, falff, degenerate, _ = spectral_alff(data[discard:], t_r, band, convention, detrend)
    n_bad = int(degenerate.sum())
    if n_bad:
        kind = "constant or exactly linear" if detrend else "constant"
        warn(f"{label}: {n_bad} of {degenerate.size} voxel(s) have a {kind} time series; "
             "their ALFF and fALFF are set to 0.", PainmarkersWarning)
    alff = _standardize(alff, standardize, "ALFF", label)
    falff = _standardize(falff, standardize, "fALFF", label)
    return alff, falff


# --------------------------------------------------------------------------------------------
# Public functions on arrays
# --------------------------------------------------------------------------------------------
@fill_doc
def alff_falff(timeseries, t_r, band=(0.01, 0.08), convention="dpabi", detrend=True,
               discard=0, standardize=None):
    """ALFF and fALFF of time series, in one vectorised FFT.

    Parameters
    ----------
    timeseries : array-like of shape (n_volumes,) or (n_volumes, n_voxels)
        Time runs along the first axis. Must be finite.
    %(t_r)s
    %(band)s
    %(alff_convention)s
    %(alff_detrend)s
    %(discard)s
    %(alff_standardize)s
        The voxels are the columns of ``timeseries``.

    Returns
    -------
    alff : ndarray of shape (n_voxels,)
        ALFF (1 column for 1-D input).
    falff : ndarray of shape (n_voxels,)
        The fALFF: the fraction of the amplitude (or, for "bandpass_std", of the
        root power) inside the band.

    Raises
    ------
    painmarkers.exceptions.DataError
        If ``t_r`` is missing, zero or negative, ``timeseries`` holds NaN or
        infinite values, ``discard`` leaves no volume, or the series is too short
        to put a frequency bin inside the band (the message gives the minimum
        number of volumes), or the band reaches above the Nyquist frequency of
        ``t_r`` (the message gives the band, the TR and the Nyquist frequency).
    ValueError
        If ``band``, ``convention``, ``standardize`` or ``discard`` is invalid.

    Warns
    -----
    painmarkers.exceptions.PainmarkersWarning
        When some series are constant (or exactly linear with ``detrend``); their
        ALFF and fALFF are set to 0 and the warning gives their count.

    Notes
    -----
    With ``x`` the detrended series of length N and ``X = FFT(x)`` of length
    ``n_fft`` (zero-padded), bin ``k`` has frequency ``k / (n_fft t_r)``:

    * ``"dpabi"`` (DPABI ``y_alff_falff``): ``n_fft`` = next power of two >= N;
      ``a_k = 2 |X_k| / N``; band bins ``ceil(f_lo n_fft t_r) .. floor(f_hi n_fft t_r)``
      clipped to ``n_fft / 2``; ALFF = mean of ``a_k`` over the band, fALFF = band
      sum / sum over bins 1..n_fft/2.
    * ``"rest"`` (REST ``rest_alff``): ``n_fft`` = next of 2^a, 3·2^a, 5·2^a, 15·2^a;
      ``a_k = sqrt(2 |X_k|^2 / N)`` with the Nyquist power halved; band bins
      ``round(f n_fft t_r)``; ALFF = band mean, fALFF = band sum / sum over 1..n_fft/2.
    * ``"xcpd"`` (XCP-D ``compute_alff``): no padding; ``sqrt(P_k)`` of SciPy's
      one-sided periodogram (``scaling="spectrum"``), ``= sqrt(2) |X_k| / N``
      inside; bins from the one nearest ``f_lo`` up to, excluding, the one
      nearest ``f_hi``; ALFF = 2 · band mean. XCP-D has no fALFF: the same ratio
      as DPABI is given on its spectrum.
    * ``"bandpass_std"`` (C-PAC/AFNI): ALFF = SD (N - 1) of the ideal FFT
      band-passed series ``f_lo <= f_k <= f_hi``; fALFF = that SD / SD of the
      whole (detrended) series. Computed by Parseval without an inverse FFT.

    The detrending runs in float64 and the FFT in float32 (agreement with a
    float64 reference better than 1e-6 relative).

    References
    ----------
    .. [1] Zang Y-F et al. (2007). Altered baseline brain activity in children
       with ADHD revealed by resting-state functional MRI. Brain Dev 29:83-91.
    .. [2] Zou Q-H et al. (2008). An improved approach to detection of amplitude
       of low-frequency fluctuation (ALFF) for resting-state fMRI: fractional
       ALFF. J Neurosci Methods 172:137-141.
    .. [3] Yan C-G et al. (2016). DPABI: Data Processing & Analysis for (Resting-State)
       Brain Imaging. Neuroinformatics 14:339-351.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(256)
    >>> x = 3.0 * np.cos(2 * np.pi * 20 * t / 256)  # bin 20: 0.039 Hz at TR = 2 s
    >>> alff, falff = alff_falff(x, t_r=2.0, detrend=False)
    >>> n_band = 35  # padded to 256 bins: bins 6..40 lie in 0.01-0.08 Hz
    >>> round(float(alff[0] * n_band), 6), round(float(falff[0]), 6)
    (3.0, 1.0)
    """
    t_r = check_tr(t_r, "t_r")
    convention = check_choice(convention, CONVENTIONS, "convention")
    standardize = check_choice(standardize, _STANDARDIZE, "standardize")
    detrend = _check_detrend(detrend)
    discard = _check_discard(discard)
    arr = np.asarray(timeseries)
    if arr.ndim not in (1, 2):
        raise ValueError(
            "The 'timeseries' parameter must be 1-D (n_volumes,) or 2-D (n_volumes, n_voxels). "
            f"Got shape {arr.shape}."
        )
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    bad = ~np.isfinite(arr)
    if bad.any():
        cols = np.flatnonzero(bad.any(axis=0))
        raise DataError(
            f"timeseries has NaN or infinite values in {cols.size} column(s) (first: column "
            f"{int(cols[0])}); remove those voxels first."
        )
    return _compute_pair(arr, t_r, band, convention, detrend, discard, standardize,
                         "timeseries")


@fill_doc
def alff_min_volumes(t_r, band=(0.01, 0.08), convention="dpabi"):
    """Minimum number of volumes for which the ALFF band holds a frequency bin.

    Parameters
    ----------
    %(t_r)s
    %(band)s
    %(alff_convention)s

    Returns
    -------
    int
        The smallest N such that every series of N or more volumes (after
        discarding) has at least one bin inside the band.

    Raises
    ------
    painmarkers.exceptions.DataError
        If ``t_r`` is invalid.
    ValueError
        If ``band`` or ``convention`` is invalid.

    Notes
    -----
    For "dpabi" the padded length is a power of two, so the count is monotone in
    N; for the unpadded conventions a few N above a working length can still
    miss the band, which is why the bound covers every longer series.

    Examples
    --------
    >>> alff_min_volumes(2.0)  # padded to 8 bins: bin 1 is 0.0625 Hz
    5
    >>> alff_min_volumes(2.0, convention="bandpass_std")
    7
    """
    t_r = check_tr(t_r, "t_r")
    convention = check_choice(convention, CONVENTIONS, "convention")
    return minimum_volumes(t_r, check_band(band, t_r), convention)


@fill_doc
def alff_frequency_bins(n_volumes, t_r, band=(0.01, 0.08), convention="dpabi"):
    """Table of the FFT bins a convention uses for a series of ``n_volumes``.

    Parameters
    ----------
    n_volumes : int
        Number of volumes after discarding.
    %(t_r)s
    %(band)s
    %(alff_convention)s

    Returns
    -------
    pandas.DataFrame
        One row per bin 0..n_fft/2 with columns ``bin`` (0-based), ``frequency_hz``
        (``bin / (n_fft t_r)``), ``n_fft``, ``in_band`` (bin averaged into ALFF)
        and ``in_total`` (bin in the fALFF denominator).

    Raises
    ------
    painmarkers.exceptions.DataError
        If ``t_r`` is invalid.
    ValueError
        If ``n_volumes``, ``band`` or ``convention`` is invalid.

    Examples
    --------
    >>> bins = alff_frequency_bins(190, t_r=2.0)
    >>> int(bins["n_fft"].iloc[0]), int(bins["in_band"].sum())
    (256, 35)
    """
    t_r = check_tr(t_r, "t_r")
    convention = check_choice(convention, CONVENTIONS, "convention")
    if isinstance(n_volumes, bool) or not isinstance(n_volumes, numbers.Integral) \
            or n_volumes < 2:
        raise ValueError(f"The 'n_volumes' parameter must be an integer >= 2. Got {n_volumes!r}.")
    bins = band_bins(int(n_volumes), t_r, check_band(band, t_r), convention)
    k = np.arange(bins.n_fft // 2 + 1)
    return pd.DataFrame({
        "bin": k,
        "frequency_hz": k / (bins.n_fft * t_r),
        "n_fft": bins.n_fft,
        "in_band": (k >= bins.first) & (k <= bins.last),
        "in_total": (k >= bins.total_first) & (k <= bins.total_last),
    })


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------
@fill_doc
class ALFF(BaseExtractor):
    """Voxelwise amplitude of low-frequency fluctuations (ALFF, mALFF, zALFF).

    A scikit-learn transformer in the style of nilearn's maskers: ``fit`` sets
    the mask, ``transform`` gives ``(n_images, n_voxels_in_mask)``,
    ``compute_map`` a 3-D image, ``compute_maps`` the ALFF and fALFF images from
    one FFT.

    Parameters
    ----------
    %(mask_img_extractor)s
        ``standardize`` statistics are taken over this mask.
    %(t_r_extractor)s
    %(band)s
    %(alff_convention)s
    %(discard)s
    %(alff_detrend)s
    %(alff_standardize)s

    Attributes
    ----------
    mask_img_ : nibabel.Nifti1Image
        The binary mask used.
    n_voxels_ : int
        Number of voxels in the mask.

    See Also
    --------
    FractionalALFF : The same computation, returning fALFF.
    alff_falff : The array-level function.

    Notes
    -----
    Formulas of each convention are in :func:`alff_falff` and in the user
    guide. Constant voxels get 0 with a :class:`~painmarkers.exceptions.PainmarkersWarning`
    giving their count; they stay in the mask (and in the mean/SD of
    ``standardize``), as in DPABI. Files are read volume by volume (gzip through
    ISA-L when the ``isal`` package is installed), so memory stays near the
    size of the masked float32 data.

    References
    ----------
    .. [1] Zang Y-F et al. (2007). Brain Dev 29:83-91.
    .. [2] Yan C-G et al. (2016). DPABI. Neuroinformatics 14:339-351.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> rng = np.random.default_rng(0)
    >>> bold = nib.Nifti1Image(rng.normal(size=(3, 3, 3, 120)).astype("float32"), np.eye(4))
    >>> alff = ALFF(t_r=2.0, discard=10).fit(bold)
    >>> alff.transform(bold).shape
    (1, 27)
    >>> alff.compute_map(bold).shape
    (3, 3, 3)
    """

    feature: ClassVar[str] = "alff"
    input_kind: ClassVar[str] = "bold"

    def __init__(self, mask_img=None, t_r=None, band=(0.01, 0.08), convention="dpabi",
                 discard=0, detrend=True, standardize=None):
        self.mask_img = mask_img
        self.t_r = t_r
        self.band = band
        self.convention = convention
        self.discard = discard
        self.detrend = detrend
        self.standardize = standardize

    # -- hooks ------------------------------------------------------------------------------
    def _check_params(self) -> None:
        check_choice(self.convention, CONVENTIONS, "convention")
        check_choice(self.standardize, _STANDARDIZE, "standardize")
        _check_discard(self.discard)
        _check_detrend(self.detrend)
        # Nyquist is checked per image, once its TR is known.
        check_band(self.band, 1e-12)

    def _pair(self, data: np.ndarray, context: ImageContext) -> tuple[np.ndarray, np.ndarray]:
        return _compute_pair(np.asarray(data), check_tr(context.t_r, "t_r"), self.band,
                             self.convention, bool(self.detrend), int(self.discard),
                             self.standardize, context.label)

    def compute(self, data: np.ndarray, context: ImageContext) -> np.ndarray:
        """ALFF (fALFF for :class:`FractionalALFF`) of each column of ``data``.

        Parameters
        ----------
        data : ndarray of shape (T, n)
            Time series (mask voxels or ROI mean series).
        context : ImageContext
            The image's context; ``t_r`` must be set (see ``check_context``).

        Returns
        -------
        ndarray of shape (n,)
            ALFF (or fALFF) of each column, standardised as ``standardize`` asks.
        """
        alff, falff = self._pair(data, context)
        return falff if self.feature == "falff" else alff

    # -- public API -------------------------------------------------------------------------
    def compute_maps(self, img, t_r=None):
        """ALFF and fALFF maps of one image from a single FFT.

        Parameters
        ----------
        img : str, path-like, nibabel image or ImageContext
            One 4-D time series on the mask grid.
        t_r : float or None, default=None
            Repetition time in seconds; when None, ``self.t_r`` then the
            sidecar and header are used.

        Returns
        -------
        alff_img : nibabel.Nifti1Image
            3-D float32 ALFF map, zero outside the mask (standardized when
            ``standardize`` is set).
        falff_img : nibabel.Nifti1Image
            The fALFF map, likewise.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        painmarkers.exceptions.ImageError
            If the image is not 4-D, not on the mask grid or has NaN in the mask.
        painmarkers.exceptions.DataError
            If the repetition time is missing, zero or inconsistent, or the
            series is too short for the band.
        """
        check_is_fitted(self)
        context = img if isinstance(img, ImageContext) else ImageContext(
            img, t_r=t_r, mask_img=self.mask_img_)
        context = self.check_context(context)
        alff, falff = self._pair(self.load_data(context), context)
        return self.inverse_transform(alff), self.inverse_transform(falff)


@fill_doc
class FractionalALFF(ALFF):
    """Voxelwise fractional ALFF (fALFF, mfALFF, zfALFF).

    Same parameters, attributes and conventions as :class:`ALFF`; ``transform``
    and ``compute_map`` return fALFF, the share of the amplitude spectrum
    (root power for ``convention="bandpass_std"``) that lies inside ``band``.

    Parameters
    ----------
    %(mask_img_extractor)s
        ``standardize`` statistics are taken over this mask.
    %(t_r_extractor)s
    %(band)s
    %(alff_convention)s
    %(discard)s
    %(alff_detrend)s
    %(alff_standardize)s

    Attributes
    ----------
    mask_img_ : nibabel.Nifti1Image
        The binary mask used.
    n_voxels_ : int
        Number of voxels in the mask.

    Notes
    -----
    fALFF = sum of the band amplitudes / sum of the amplitudes of every bin
    from the first above DC to Nyquist (Zou et al., 2008). It is invariant to
    rescaling the series.

    References
    ----------
    .. [1] Zou Q-H et al. (2008). J Neurosci Methods 172:137-141.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> rng = np.random.default_rng(0)
    >>> bold = nib.Nifti1Image(rng.normal(size=(2, 2, 2, 200)).astype("float32"), np.eye(4))
    >>> falff = FractionalALFF(t_r=2.0).fit(bold).transform(bold)
    >>> bool(np.all((falff > 0) & (falff < 1)))
    True
    """

    feature: ClassVar[str] = "falff"
