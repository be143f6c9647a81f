"""Amplitude of low-frequency fluctuations: ALFF, fALFF, mALFF and zALFF.

The default convention reproduces DPABI's ``y_alff_falff`` to float precision;
``convention=`` selects the other published definitions (REST, XCP-D, and the
SD of the band-passed signal used by C-PAC/AFNI). The formulas and how the
conventions relate are tabulated in the user guide (*ALFF conventions*).

All computations work on masked ``(T, V)`` arrays with one real FFT per block
of voxels; 4-D files are read volume by volume, so the full 4-D array is never
held in memory.
"""

from __future__ import annotations

import gzip
import numbers
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from painmarkers._validation import check_choice, check_same_grid, check_tr
from painmarkers.exceptions import DataError, ImageError, PainmarkersWarning
from painmarkers.extractors._spectral import (
    CONVENTIONS,
    band_bins,
    check_band,
    minimum_volumes,
    spectral_alff,
)
from painmarkers.extractors.base import BaseExtractor, image_label, resolve_t_r

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

#: Bytes read from a 4-D file per block of volumes.
_READ_BLOCK_BYTES = 16 * 2**20


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


def _user_stacklevel() -> int:
    """Stack level of the first caller outside painmarkers, scikit-learn and joblib."""
    import os
    import sys

    internal = tuple(
        os.path.dirname(os.path.abspath(mod.__file__))
        for mod in (sys.modules.get("painmarkers"), sys.modules.get("sklearn"),
                    sys.modules.get("joblib"))
        if mod is not None and getattr(mod, "__file__", None)
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(internal):
        frame, level = frame.f_back, level + 1
    return level


def _compute_pair(data: np.ndarray, t_r: float, band, convention: str, detrend: bool,
                  discard: int, standardize: str | None,
                  label: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated ALFF and fALFF of ``data`` ``(T, V)``, with warnings and standardization."""
    band = check_band(band, t_r)
    _check_volumes(data.shape[0], discard, t_r, band, convention, label)
    alff, falff, degenerate, _ = spectral_alff(data[discard:], t_r, band, convention, detrend)
    n_bad = int(degenerate.sum())
    if n_bad:
        kind = "constant or exactly linear" if detrend else "constant"
        warnings.warn(
            f"{label}: {n_bad} of {degenerate.size} voxel(s) have a {kind} time series; "
            "their ALFF and fALFF are set to 0.",
            PainmarkersWarning,
            stacklevel=_user_stacklevel(),
        )
    alff = _standardize(alff, standardize, "ALFF", label)
    falff = _standardize(falff, standardize, "fALFF", label)
    return alff, falff


# --------------------------------------------------------------------------------------------
# Public functions on arrays
# --------------------------------------------------------------------------------------------
def alff_falff(timeseries, t_r, band=(0.01, 0.08), convention="dpabi", detrend=True,
               discard=0, standardize=None):
    """ALFF and fALFF of time series, in one vectorised FFT.

    Parameters
    ----------
    timeseries : array-like of shape (n_volumes,) or (n_volumes, n_voxels)
        Time runs along the first axis. Must be finite.
    t_r : float
        Repetition time in seconds (> 0).
    band : tuple of float, default=(0.01, 0.08)
        Low and high frequency (Hz) of the band, ``0 <= low < high``; ``low``
        must be below the Nyquist frequency ``1 / (2 t_r)``.
    convention : {"dpabi", "rest", "xcpd", "bandpass_std"}, default="dpabi"
        Which published definition to compute; see Notes.
    detrend : bool, default=True
        Remove the least-squares line of each series (DPABI always does). With
        False only the mean is removed.
    discard : int, default=0
        Number of initial volumes dropped before anything else.
    standardize : {None, "mean", "z"}, default=None
        None keeps raw values; "mean" divides by the mean over all columns
        (mALFF); "z" subtracts the mean and divides by the SD with N - 1 (zALFF).

    Returns
    -------
    alff : ndarray of shape (n_voxels,)
        ALFF (1 column for 1-D input).
    falff : ndarray of shape (n_voxels,)
        fALFF, the fraction of the amplitude (or, for "bandpass_std", of the
        root power) inside the band.

    Raises
    ------
    painmarkers.exceptions.DataError
        If ``t_r`` is missing, zero or negative, ``timeseries`` holds NaN or
        infinite values, ``discard`` leaves no volume, or the series is too short
        to put a frequency bin inside the band (the message gives the minimum
        number of volumes).
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


def alff_min_volumes(t_r, band=(0.01, 0.08), convention="dpabi"):
    """Minimum number of volumes for which the ALFF band holds a frequency bin.

    Parameters
    ----------
    t_r : float
        Repetition time in seconds.
    band : tuple of float, default=(0.01, 0.08)
        Band in Hz.
    convention : {"dpabi", "rest", "xcpd", "bandpass_std"}, default="dpabi"
        Convention, which fixes the FFT length and binning.

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


def alff_frequency_bins(n_volumes, t_r, band=(0.01, 0.08), convention="dpabi"):
    """Table of the FFT bins a convention uses for a series of ``n_volumes``.

    Parameters
    ----------
    n_volumes : int
        Number of volumes after discarding.
    t_r : float
        Repetition time in seconds.
    band : tuple of float, default=(0.01, 0.08)
        Band in Hz.
    convention : {"dpabi", "rest", "xcpd", "bandpass_std"}, default="dpabi"
        Convention.

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
# Streaming reader: 4-D NIfTI -> masked (T, V) volume by volume
# --------------------------------------------------------------------------------------------
def _open_stream(filename: str):
    if filename.endswith(".gz"):
        try:  # ISA-L inflates gzip 2-3x faster than zlib (optional extra "fast")
            from isal import igzip
        except ImportError:
            return gzip.open(filename, "rb")
        return igzip.open(filename, "rb")
    return open(filename, "rb")


def _read_exact(stream, view: memoryview, filename: str) -> None:
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            raise ImageError(
                f"{filename!r} ended after {got} of {len(view)} bytes of a block of volumes; "
                "the file is truncated."
            )
        got += n


def _read_masked_timeseries(img, mask: np.ndarray) -> np.ndarray | None:
    """Masked ``(T, V)`` data of a file-backed 4-D NIfTI, read volume by volume.

    Returns None when ``img`` is not an unmodified image backed by a NIfTI file
    (the caller then falls back to in-memory masking). Values are scaled by the
    header's slope/intercept; float64 files stay float64, anything else is float32.
    """
    import nibabel as nib

    proxy = getattr(img, "dataobj", None)
    if not isinstance(img, nib.Nifti1Image) or not nib.is_proxy(proxy):
        return None
    filename = getattr(proxy, "file_like", None)
    if (not isinstance(filename, str) or not filename.endswith((".nii", ".nii.gz"))
            or len(proxy.shape) != 4 or proxy.order != "F"):
        return None  # e.g. .nii.bz2/.nii.zst, file objects: nibabel reads those
    shape3, n_t = tuple(proxy.shape[:3]), int(proxy.shape[3])
    dtype = np.dtype(proxy.dtype)
    vol_items = int(np.prod(shape3))
    vol_bytes = vol_items * dtype.itemsize
    # Flat positions of the mask voxels inside one Fortran-ordered volume, in C order of mask.
    flat = np.ravel_multi_index(np.nonzero(mask), shape3, order="F")
    slope = float(proxy.slope) if proxy.slope is not None else 1.0
    inter = float(proxy.inter) if proxy.inter is not None else 0.0
    out_dtype = np.float64 if dtype == np.float64 else np.float32
    out = np.empty((n_t, flat.size), dtype=out_dtype)
    per_block = max(1, _READ_BLOCK_BYTES // max(vol_bytes, 1))
    buffer = np.empty(per_block * vol_bytes, dtype=np.uint8)
    with _open_stream(filename) as stream:
        if filename.endswith(".gz"):
            remaining = int(proxy.offset)
            while remaining:
                chunk = stream.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ImageError(f"{filename!r} is truncated before its data.")
                remaining -= len(chunk)
        else:
            stream.seek(int(proxy.offset))
        for start in range(0, n_t, per_block):
            n_blk = min(per_block, n_t - start)
            view = memoryview(buffer)[: n_blk * vol_bytes]
            _read_exact(stream, view, filename)
            vols = buffer[: n_blk * vol_bytes].view(dtype).reshape(n_blk, vol_items)
            block = vols[:, flat]
            if block.dtype != out_dtype:
                block = block.astype(out_dtype)
            if slope != 1.0 or inter != 0.0:
                block = block * out_dtype(slope) + out_dtype(inter)
            out[start:start + n_blk] = block
    return out


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------
class ALFF(BaseExtractor):
    """Voxelwise amplitude of low-frequency fluctuations (ALFF, mALFF, zALFF).

    A scikit-learn transformer in the style of nilearn's maskers: ``fit`` sets
    the mask, ``transform`` gives ``(n_images, n_voxels_in_mask)``,
    ``compute_map`` a 3-D image, ``compute_maps`` the ALFF and fALFF images from
    one FFT.

    Parameters
    ----------
    mask_img : str, path-like, nibabel image or None, default=None
        Brain mask; when None it is computed from the images at ``fit``.
        ``standardize`` statistics are taken over this mask.
    t_r : float or None, default=None
        Repetition time in seconds; when None it is read per image from the BIDS
        sidecar (``RepetitionTime``) and the header (they must agree).
    band : tuple of float, default=(0.01, 0.08)
        Frequency band in Hz (the seed study's band).
    convention : {"dpabi", "rest", "xcpd", "bandpass_std"}, default="dpabi"
        Published definition; "dpabi" reproduces DPABI's ``y_alff_falff``.
        See :func:`alff_falff` for the formulas.
    discard : int, default=0
        Initial volumes dropped (the seed study discarded 10).
    detrend : bool, default=True
        Remove each voxel's least-squares line (else only its mean).
    standardize : {None, "mean", "z"}, default=None
        None: raw values; "mean": divided by the mean over the mask (mALFF);
        "z": minus the mean, divided by the SD (N - 1) over the mask (zALFF).
        Outside the mask maps are 0.

    Attributes
    ----------
    mask_img_ : nibabel.Nifti1Image
        The binary mask used.
    n_voxels_ : int
        Number of voxels in the mask.

    See Also
    --------
    FractionalALFF : the same computation, returning fALFF.
    alff_falff : the array-level function.

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

    def _prepare_image(self, img: Any, t_r: float | None, label: str,
                       confounds: Any = None) -> None:
        self._label = label

    def _masked(self, img: Any, label: str) -> np.ndarray:
        check_same_grid(img, self.mask_img_, label, "mask_img")
        data = _read_masked_timeseries(img, self._mask)
        if data is None:
            return super()._masked(img, label)
        finite = np.isfinite(data).all(axis=0)
        if not finite.all():
            raise ImageError(
                f"{label} has NaN or infinite values in {int((~finite).sum())} voxel(s) inside "
                "the mask; fix the image or exclude those voxels from mask_img."
            )
        return data

    def _pair(self, data: np.ndarray, t_r: float) -> tuple[np.ndarray, np.ndarray]:
        label = getattr(self, "_label", "timeseries")
        return _compute_pair(np.asarray(data), check_tr(t_r, "t_r"), self.band,
                             self.convention, bool(self.detrend), int(self.discard),
                             self.standardize, label)

    def _compute(self, data: np.ndarray, t_r: float | None) -> np.ndarray:
        alff, falff = self._pair(data, t_r)
        return falff if self.feature == "falff" else alff

    # -- public API -------------------------------------------------------------------------
    def compute_maps(self, img, t_r=None):
        """ALFF and fALFF maps of one image from a single FFT.

        Parameters
        ----------
        img : str, path-like or nibabel image
            One 4-D time series on the mask grid.
        t_r : float or None, default=None
            Repetition time in seconds; when None, ``self.t_r`` then the
            sidecar and header are used.

        Returns
        -------
        alff_img, falff_img : nibabel.Nifti1Image
            3-D float32 maps, zero outside the mask (standardized when
            ``standardize`` is set).

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
        label = image_label(img, "img")
        loaded = self._load(img, "img")
        t_r = resolve_t_r(img, t_r if t_r is not None else self.t_r, name="img")
        self._prepare_image(loaded, t_r, label)
        alff, falff = self._pair(self._masked(loaded, label), t_r)
        return self.inverse_transform(alff), self.inverse_transform(falff)


class FractionalALFF(ALFF):
    """Voxelwise fractional ALFF (fALFF, mfALFF, zfALFF).

    Same parameters, attributes and conventions as :class:`ALFF`; ``transform``
    and ``compute_map`` return fALFF, the share of the amplitude spectrum
    (root power for ``convention="bandpass_std"``) that lies inside ``band``.

    Parameters
    ----------
    mask_img : str, path-like, nibabel image or None, default=None
        Brain mask; computed from the images at ``fit`` when None.
    t_r : float or None, default=None
        Repetition time in seconds; read from the sidecar/header when None.
    band : tuple of float, default=(0.01, 0.08)
        Frequency band in Hz.
    convention : {"dpabi", "rest", "xcpd", "bandpass_std"}, default="dpabi"
        Published definition (see :func:`alff_falff`).
    discard : int, default=0
        Initial volumes dropped.
    detrend : bool, default=True
        Remove each voxel's least-squares line (else only its mean).
    standardize : {None, "mean", "z"}, default=None
        None, mean-scaled (mfALFF) or z-scored (zfALFF) over the mask.

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
