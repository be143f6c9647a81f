"""Vectorised spectral core of the ALFF family (private).

Everything here works on float arrays of shape ``(T, V)`` (time by voxel) and
never loops over voxels in Python: voxels are processed in blocks of
``_BLOCK`` columns, each block detrended in float64 and transformed with one
real FFT along time. The public wrappers live in :mod:`painmarkers.extractors.alff`.

Frequency bins are 0-based: bin ``k`` of an FFT of length ``n_fft`` has the
frequency ``k / (n_fft * t_r)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from painmarkers.exceptions import DataError

__all__ = [
    "CONVENTIONS",
    "BandBins",
    "band_bins",
    "check_band",
    "minimum_volumes",
    "padded_length",
    "spectral_alff",
]

#: ALFF conventions, each a published definition (see ``docs/user_guide/alff_conventions.rst``).
CONVENTIONS = ("dpabi", "rest", "xcpd", "bandpass_std")

#: Voxels per block: small enough to keep temporaries in cache-sized, bounded memory.
_BLOCK = 2048

#: A voxel whose detrended RMS is below this fraction of its raw RMS is degenerate
#: (constant or perfectly linear): its ALFF and fALFF are set to 0.
_DEGENERATE_RTOL = 1e-9


def _next_pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def _is_pow2(m: int) -> bool:
    return m > 0 and (m & (m - 1)) == 0


def _rest_length(n: int) -> int:
    """FFT length of the REST toolbox: AFNI's next "nice" size (2^a, 3*2^a, 5*2^a, 15*2^a)."""
    if n < 16:
        return _next_pow2(n)
    m = n
    while True:
        if _is_pow2(m) or any(m % f == 0 and _is_pow2(m // f) for f in (15, 3, 5)):
            return m
        m += 1


def padded_length(n: int, convention: str) -> int:
    """Length of the FFT used by ``convention`` for a series of ``n`` volumes."""
    if convention == "dpabi":
        return _next_pow2(n)
    if convention == "rest":
        return _rest_length(n)
    return int(n)


def _matlab_round(x: float) -> int:
    """MATLAB's ``round`` (half away from zero) for x >= 0."""
    return math.floor(x + 0.5)


@dataclass(frozen=True)
class BandBins:
    """FFT length and the inclusive 0-based bins of the band and of the fALFF total."""

    n_volumes: int
    n_fft: int
    first: int
    last: int
    total_first: int
    total_last: int

    @property
    def n_band(self) -> int:
        """Number of bins averaged into ALFF (the DC bin included when in the band)."""
        return max(self.last - self.first + 1, 0)

    @property
    def n_informative(self) -> int:
        """Band bins above DC: the DC bin of a demeaned series carries nothing."""
        return max(self.last - max(self.first, 1) + 1, 0)


def check_band(band, t_r: float) -> tuple[float, float]:
    """Validate ``band = (f_lo, f_hi)`` in Hz for a repetition time ``t_r``.

    A malformed band raises ValueError; a band starting at or ending above the
    Nyquist frequency ``1 / (2 t_r)`` raises DataError (a ValueError) naming the
    band, the TR and the Nyquist frequency.
    """
    try:
        f_lo, f_hi = (float(b) for b in band)
    except (TypeError, ValueError):
        raise ValueError(
            f"The 'band' parameter must be a pair (low, high) of frequencies in Hz. Got {band!r}."
        ) from None
    if not (np.isfinite(f_lo) and np.isfinite(f_hi)) or f_lo < 0 or f_hi <= f_lo:
        raise ValueError(
            f"The 'band' parameter must satisfy 0 <= low < high (Hz). Got {band!r}."
        )
    nyquist = 0.5 / t_r
    if f_lo >= nyquist:
        raise DataError(
            f"The 'band' parameter {band!r} starts at or above the Nyquist frequency "
            f"{nyquist:g} Hz of TR = {t_r:g} s; no frequency can fall inside it."
        )
    if f_hi > nyquist * (1 + 1e-9):
        raise DataError(
            f"The 'band' parameter {band!r} ends at {f_hi:g} Hz, above the Nyquist frequency "
            f"{nyquist:g} Hz of TR = {t_r:g} s: the series holds no frequency above "
            f"{nyquist:g} Hz. Give a band ending at or below {nyquist:g} Hz (it is not "
            "clipped silently)."
        )
    return f_lo, f_hi


def band_bins(n: int, t_r: float, band: tuple[float, float], convention: str) -> BandBins:
    """Return the FFT length and bins of ``band`` for ``n`` volumes under ``convention``.

    ``last < first`` means that no bin falls inside the band.
    """
    f_lo, f_hi = band
    n_fft = padded_length(n, convention)
    half = n_fft // 2
    nyquist = 0.5 / t_r
    if convention == "dpabi":
        # DPABI (y_alff_falff): 1-based ceil(f_lo*Npad*TR + 1) .. fix(f_hi*Npad*TR + 1),
        # evaluated in the same order, in double precision.
        first = half if f_lo >= nyquist else math.ceil(f_lo * n_fft * t_r + 1) - 1
        last = half if (f_hi >= nyquist or f_hi == 0) else math.trunc(f_hi * n_fft * t_r + 1) - 1
        first, last = min(first, half), min(last, half)
        return BandBins(n, n_fft, first, last, 1, half)
    if convention == "rest":
        # REST (rest_alff): ideal masks with round(); amplitudes taken from bin 1 (DC dropped).
        first = 0 if _matlab_round(f_lo * n_fft * t_r) == 0 else _matlab_round(f_lo * n_fft * t_r)
        last = half if f_hi >= nyquist else _matlab_round(f_hi * n_fft * t_r)
        return BandBins(n, n_fft, max(first, 1), min(last, half), 1, half)
    if convention == "xcpd":
        # XCP-D (compute_alff): bins nearest to each cut-off, the upper one excluded.
        freqs = np.arange(half + 1) / (n_fft * t_r)
        first = int(np.argmin(np.abs(freqs - f_lo)))
        stop = int(np.argmin(np.abs(freqs - f_hi)))
        return BandBins(n, n_fft, first, stop - 1, 1, half)
    if convention == "bandpass_std":
        # Ideal FFT band-pass keeping f_lo <= f_k <= f_hi (edges included up to rounding).
        tol = 1e-9
        first = max(math.ceil(f_lo * n_fft * t_r - tol), 1)
        last = min(math.floor(f_hi * n_fft * t_r + tol), half)
        return BandBins(n, n_fft, first, last, 1, half)
    raise ValueError(
        f"The 'convention' parameter must be one of {', '.join(map(repr, CONVENTIONS))}. "
        f"Got {convention!r}."
    )


def minimum_volumes(t_r: float, band: tuple[float, float], convention: str) -> int:
    """Smallest N such that every series of N or more volumes has a bin in ``band``."""
    f_lo, f_hi = band
    width = (min(f_hi, 0.5 / t_r) - f_lo) * t_r  # band width in cycles per volume
    # With at least 2 bins of width inside the band, every convention finds a bin.
    upper = max(math.ceil(2.0 / width) + 2, 8)
    n_min = 3
    for n in range(upper, 2, -1):
        if band_bins(n, t_r, band, convention).n_informative < 1:
            n_min = n + 1
            break
    return n_min


def _sl(axis: int, lo: int | None, hi: int | None = None) -> tuple:
    """Index selecting bins ``lo:hi`` (or one bin when ``hi`` is None) along the time axis."""
    index = slice(lo, hi) if hi is not None else lo
    return (index,) if axis == 0 else (slice(None), index)


def _detrend(x: np.ndarray, linear: bool, axis: int) -> np.ndarray:
    """Remove the mean (and the least-squares line) along ``axis`` (time), in place.

    Returns the mean square of the removed part per voxel (mean^2 + slope^2 sum(tc^2) / n),
    so that the raw mean square is that plus the residual mean square. numpy's own loops
    (einsum), not BLAS: multithreaded BLAS on thin blocks is slower on a busy machine.
    """
    n = x.shape[axis]
    mean = x.mean(axis=axis, keepdims=True)
    x -= mean
    removed = (mean * mean).ravel()
    if linear:
        tc = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        ss = float(tc @ tc)
        if axis == 0:
            slope = np.einsum("tv,t->v", x, tc) / ss
            x -= tc[:, None] * slope
        else:
            slope = np.einsum("vt,t->v", x, tc) / ss
            x -= slope[:, None] * tc
        removed += slope * slope * (ss / n)
    return removed


def _block_values(x: np.ndarray, bins: BandBins, convention: str,
                  axis: int) -> tuple[np.ndarray, np.ndarray]:
    """ALFF and fALFF of one detrended float64 block, time along ``axis``."""
    n = x.shape[axis]
    spec = scipy.fft.rfft(x.astype(np.float32), n=bins.n_fft, axis=axis)
    band, total = _sl(axis, bins.first, bins.last + 1), _sl(axis, bins.total_first,
                                                             bins.total_last + 1)
    nyquist = _sl(axis, bins.n_fft // 2)
    if convention == "bandpass_std":
        power = spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2
        power[_sl(axis, 1, power.shape[axis])] *= 2.0
        if bins.n_fft % 2 == 0:
            power[nyquist] *= 0.5
        band_power = power[band].sum(axis=axis)
        total_power = power[total].sum(axis=axis)
        alff = np.sqrt(band_power / (n * (n - 1.0)))
        with np.errstate(divide="ignore", invalid="ignore"):
            falff = np.sqrt(band_power / total_power)
        return alff, falff
    amp = np.abs(spec)
    if convention == "rest":
        amp[nyquist] *= np.float32(math.sqrt(0.5))
    elif convention == "xcpd":  # square root of scipy's one-sided periodogram ("spectrum")
        amp[_sl(axis, 0)] *= np.float32(math.sqrt(0.5))
        if bins.n_fft % 2 == 0:
            amp[nyquist] *= np.float32(math.sqrt(0.5))
    band_sum = amp[band].sum(axis=axis, dtype=np.float64)
    total_sum = amp[total].sum(axis=axis, dtype=np.float64)
    scale = {"dpabi": 2.0 / n, "rest": math.sqrt(2.0 / n), "xcpd": math.sqrt(2.0) / n}
    alff = band_sum * (scale[convention] / bins.n_band)
    if convention == "xcpd":
        alff *= 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        falff = band_sum / total_sum
    return alff, falff


def spectral_alff(data: np.ndarray, t_r: float, band: tuple[float, float], convention: str,
                  detrend: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, BandBins]:
    """ALFF and fALFF of every column of ``data`` ``(T, V)``; no validation of arguments.

    Blocks of voxels are copied in whichever layout reads ``data`` contiguously (time-major
    for a C-ordered ``(T, V)`` array, voxel-major for the transpose of a ``(V, T)`` one), so
    no transposition is needed.

    Returns
    -------
    alff, falff : ndarray of shape (V,), float64
    degenerate : ndarray of shape (V,), bool
        Voxels whose series is constant (or exactly linear when detrending):
        their ALFF and fALFF are 0.
    bins : BandBins
    """
    n_t, n_v = data.shape
    bins = band_bins(n_t, t_r, band, convention)
    alff = np.empty(n_v)
    falff = np.empty(n_v)
    degenerate = np.empty(n_v, dtype=bool)
    voxel_major = data.strides[0] < data.strides[1]
    axis = 1 if voxel_major else 0
    for start in range(0, n_v, _BLOCK):
        stop = min(start + _BLOCK, n_v)
        block = data[:, start:stop]
        x = np.array(block.T if voxel_major else block, dtype=np.float64, order="C")
        removed_ms = _detrend(x, linear=detrend, axis=axis)
        res_ms = (np.einsum("vt,vt->v", x, x) if voxel_major
                  else np.einsum("tv,tv->v", x, x)) / n_t
        bad = res_ms <= _DEGENERATE_RTOL**2 * (removed_ms + res_ms)
        a, f = _block_values(x, bins, convention, axis)
        bad |= ~np.isfinite(f)
        a[bad] = 0.0
        f[bad] = 0.0
        alff[start:stop] = a
        falff[start:stop] = f
        degenerate[start:stop] = bad
    return alff, falff, degenerate, bins
