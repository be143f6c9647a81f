"""Synthetic resting-state BOLD: spectrum, spatial smoothness, planted effects, confounds.

The noise is built in the frequency domain, all voxels at once:

1. complex Gaussian coefficients ``Z(f, v)`` (real and imaginary parts independent
   standard normal fields, drawn wherever the kernel reaches a mask voxel) are
   smoothed in space with a Gaussian kernel (cut at 3 SD) whose width is matched to
   the requested FWHM (:func:`matched_sigma`) and renormalised to unit variance —
   smoothing and the temporal Fourier transform commute, so this equals smoothing
   white innovations volume by volume;
2. ``Z`` is shaped by ``H(f)``, ``H(f)**2 = 0.5 * pink(f) + 0.5 * ar1(f)`` (each part
   normalised to unit variance): ``pink(f) ~ 1 / max(f, f_min)`` and ``ar1(f)`` the
   spectrum of an AR(1) process with coefficient 0.3;
3. planted ALFF effects multiply the coefficients inside the ALFF band (0.01-0.08 Hz)
   by a voxel-wise gain; planted FC effects add a latent band-limited (0.01-0.1 Hz)
   series with voxel-wise loadings;
4. one inverse real FFT of length ``n_volumes + 32`` gives the series; the first
   ``n_volumes`` samples are kept (so the series is not periodic).

Slow drifts (linear and quadratic, spatially smooth amplitudes), a global signal and a
motion-related global dip proportional to framewise displacement are added, and the
result is scaled to percent signal change around a T2*-like mean image.

No step calls BLAS: a session's bytes must not depend on the process that computes it
(``n_jobs``), and BLAS results depend on its thread count and kernel (see
:func:`synthesize_bold`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.fft
from scipy import ndimage

from painmarkers.datasets._grid import Grid, fwhm_to_sigma

__all__ = [
    "BoldContext", "confounds_frame", "matched_sigma", "simulate_motion", "synthesize_bold",
]

PAD = 32
PINK_WEIGHT = 0.5
AR1_COEF = 0.3
PERCENT_PER_UNIT = 1.0   # percent signal change per unit of noise SD
DRIFT_SD = 0.5
DRIFT_FWHM_MM = 30.0
GLOBAL_SD = 0.3
FD_DIP_PER_MM = 2.0      # noise-SD units per mm of framewise displacement
LATENT_BAND_HZ = (0.01, 0.1)
HEAD_RADIUS_MM = 50.0    # Power et al. (2012)
TRANSLATION_STEP_MM = 0.03
ROTATION_STEP_RAD = 0.0003
SPIKE_PROB = 0.02
SPIKE_MM = 0.15
HIGH_PASS_S = 128.0      # fMRIPrep's discrete cosine basis cut-off
TRUNCATE = 3.0           # Gaussian kernels cut at 3 SD (tail weight < 1e-4 at 6 mm / 4 mm)


class BoldContext:
    """Everything a session needs that does not depend on the session (picklable)."""

    def __init__(self, grid: Grid, fwhm_mm: float, n_volumes: int, t_r: float,
                 band_hz: tuple[float, float]):
        self.shape = grid.shape
        self.n_voxels = grid.n_voxels
        self.fwhm_mm = float(fwhm_mm)
        self.sigma_vox = matched_sigma(fwhm_mm, grid.resolution_mm)
        self.radius = int(TRUNCATE * self.sigma_vox + 0.5)  # scipy's kernel radius
        margin = self.radius + 1
        drift_sigma = fwhm_to_sigma(DRIFT_FWHM_MM) / grid.resolution_mm
        self.bbox = grid.bbox(margin)
        self.bbox_mask = grid.mask[self.bbox]
        # innovations only matter within the kernel radius of the mask (Chebyshev distance)
        reach = self.bbox_mask
        if self.radius > 0:
            reach = ndimage.binary_dilation(reach, np.ones((3, 3, 3), bool),
                                            iterations=self.radius)
        self.reach_index = np.flatnonzero(reach)
        self.kernel_norm = _kernel_norm(self.sigma_vox)
        self.drift_sigma = drift_sigma
        self.n_volumes = int(n_volumes)
        self.t_r = float(t_r)
        self.n_fft = self.n_volumes + PAD
        self.freqs = scipy.fft.rfftfreq(self.n_fft, self.t_r)
        self.shape_h = _noise_spectrum(self.freqs, self.n_fft, self.t_r).astype(np.float32)
        self.band = (self.freqs >= band_hz[0]) & (self.freqs <= band_hz[1])
        self.latent_h = _latent_spectrum(self.freqs, self.n_fft).astype(np.float32)
        # T2*-like mean image: bright CSF, darker white matter (template is T1-weighted)
        self.mean_image = (1000.0 * (1.25 - 0.5 * grid.template)).astype(np.float32)
        inside = grid.template
        self.wm = inside >= np.percentile(inside, 85)
        self.csf = inside <= np.percentile(inside, 5)


def _lag1_correlation(sigma: float) -> float:
    """Lag-1 autocorrelation of white noise filtered by scipy's discrete Gaussian kernel."""
    radius = int(TRUNCATE * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=float)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return float((k[1:] * k[:-1]).sum() / (k**2).sum())


def matched_sigma(fwhm_mm: float, voxel_mm: float) -> float:
    """Kernel SD (voxels) giving noise of smoothness ``fwhm_mm`` as lag-1 estimators see it.

    A continuous Gaussian kernel of FWHM ``F`` gives white noise a lag-``d``
    autocorrelation ``exp(-2 ln2 d**2 / F**2)``; AFNI's 3dFWHMx and FSL's smoothest
    invert that relation. On a coarse grid the sampled kernel's correlation differs
    (at 4 mm voxels, FWHM 6 mm reads as 5.7 mm), so the discrete kernel's SD is
    solved for the target lag-1 correlation.
    """
    from scipy.optimize import brentq

    if fwhm_mm <= 0:
        return 0.0
    target = float(np.exp(-2.0 * np.log(2.0) * voxel_mm**2 / fwhm_mm**2))
    nominal = fwhm_to_sigma(fwhm_mm) / voxel_mm
    if target < 1e-6:  # kernel far narrower than a voxel: practically white
        return nominal
    return float(brentq(lambda s: _lag1_correlation(s) - target, 1e-3, 10.0 * nominal + 10.0,
                        xtol=1e-8))


def _kernel_norm(sigma: float) -> float:
    """Standard deviation of unit white noise after the discrete Gaussian filter."""
    if sigma <= 0:
        return 1.0
    size = 2 * int(np.ceil(TRUNCATE * sigma)) + 3
    delta = np.zeros((size, size, size))
    delta[(size // 2,) * 3] = 1.0
    kernel = ndimage.gaussian_filter(delta, sigma, mode="constant", truncate=TRUNCATE)
    return float(np.sqrt((kernel**2).sum()))


def _two_sided_mean(power: np.ndarray, n_fft: int) -> float:
    weights = np.full(power.shape, 2.0)
    weights[0] = 1.0
    if n_fft % 2 == 0:
        weights[-1] = 1.0
    return float((weights * power).sum() / n_fft)


def _noise_spectrum(freqs: np.ndarray, n_fft: int, t_r: float) -> np.ndarray:
    """Amplitude shaping ``H(f)`` (unit variance): half 1/f, half AR(1); no DC."""
    f_min = 1.0 / (n_fft * t_r)
    pink = 1.0 / np.maximum(freqs, f_min)
    ar1 = (1 - AR1_COEF**2) / (1 - 2 * AR1_COEF * np.cos(2 * np.pi * freqs * t_r) + AR1_COEF**2)
    pink[0] = ar1[0] = 0.0
    power = (PINK_WEIGHT * pink / _two_sided_mean(pink, n_fft)
             + (1 - PINK_WEIGHT) * ar1 / _two_sided_mean(ar1, n_fft))
    return np.sqrt(power)


def _latent_spectrum(freqs: np.ndarray, n_fft: int) -> np.ndarray:
    """Amplitude of a unit-variance 1/f series band-limited to LATENT_BAND_HZ."""
    inside = (freqs >= LATENT_BAND_HZ[0]) & (freqs <= LATENT_BAND_HZ[1])
    power = np.where(inside, 1.0 / np.maximum(freqs, 1e-6), 0.0)
    return np.sqrt(power / _two_sided_mean(power, n_fft))


def _complex_normal(rng: np.random.Generator, shape) -> np.ndarray:
    """Complex Gaussian coefficients with E|z|^2 = 1 (orthonormal FFT of white noise)."""
    out = np.empty(shape, dtype=np.complex64)
    out.real = rng.standard_normal(shape, dtype=np.float32)
    out.imag = rng.standard_normal(shape, dtype=np.float32)
    out *= np.float32(np.sqrt(0.5))
    return out


def _smooth_field(rng: np.random.Generator, n_fields: int, ctx: BoldContext,
                  sigma: float, norm: float) -> np.ndarray:
    """``n_fields`` unit-variance Gaussian random fields smoothed with ``sigma`` (voxels)."""
    box = tuple(s.stop - s.start for s in ctx.bbox)
    noise = rng.standard_normal((n_fields, *box), dtype=np.float32)
    if sigma > 0:
        ndimage.gaussian_filter(noise, (0, sigma, sigma, sigma), output=noise,
                                mode="constant", truncate=TRUNCATE)
        noise /= np.float32(norm)
    return noise[:, ctx.bbox_mask]


def simulate_motion(n_volumes: int, rng: np.random.Generator, level: float) -> np.ndarray:
    """Six rigid-body parameters (trans_x/y/z in mm, rot_x/y/z in radians).

    A random walk (steps of SD ``0.03 * level`` mm and ``0.0003 * level`` rad) plus
    isolated spikes (probability 0.02 per volume, SD ``0.15 * level`` mm, a fiftieth
    of that in radians), relative to the first volume.
    """
    scale = np.array([TRANSLATION_STEP_MM] * 3 + [ROTATION_STEP_RAD] * 3) * level
    walk = np.cumsum(rng.standard_normal((n_volumes, 6)) * scale, axis=0)
    spikes = rng.random(n_volumes) < SPIKE_PROB
    jolt = rng.standard_normal((n_volumes, 6)) * np.array([SPIKE_MM] * 3
                                                          + [SPIKE_MM / HEAD_RADIUS_MM] * 3)
    walk += spikes[:, None] * jolt * level
    return walk - walk[0]


def framewise_displacement(motion: np.ndarray) -> np.ndarray:
    """Power's FD: ``sum |d trans| + 50 mm * sum |d rot|``; NaN for the first volume."""
    diff = np.abs(np.diff(motion, axis=0))
    fd = diff[:, :3].sum(axis=1) + HEAD_RADIUS_MM * diff[:, 3:].sum(axis=1)
    return np.concatenate([[np.nan], fd])


def synthesize_bold(ctx: BoldContext, rng: np.random.Generator, fd: np.ndarray,
                    log_gain: np.ndarray | None = None,
                    networks: list[np.ndarray] | None = None) -> np.ndarray:
    """One session's in-mask BOLD series, shape (n_volumes, n_voxels), float32.

    Parameters
    ----------
    ctx : BoldContext
    rng : Generator
    fd : ndarray (n_volumes,)
        Framewise displacement (first value NaN) driving the motion-related dip.
    log_gain : ndarray (n_voxels,) or None
        Natural-log gain of the amplitude inside the ALFF band.
    networks : list of ndarray (n_voxels,) or None
        Voxel loadings of latent FC signals (one independent latent per entry).
    """
    n_freq = ctx.freqs.size
    box = tuple(s.stop - s.start for s in ctx.bbox)
    sigma = (0, ctx.sigma_vox, ctx.sigma_vox, ctx.sigma_vox)
    scale = np.float32(np.sqrt(0.5) / ctx.kernel_norm)
    parts = []
    field = np.empty((n_freq, *box), dtype=np.float32)
    flat = field.reshape(n_freq, -1)
    for _ in range(2):  # real and imaginary parts: independent smoothed white fields
        if ctx.sigma_vox > 0:
            field.fill(0.0)
            flat[:, ctx.reach_index] = rng.standard_normal(
                (n_freq, ctx.reach_index.size), dtype=np.float32)
            ndimage.gaussian_filter(field, sigma, output=field, mode="constant",
                                    truncate=TRUNCATE)
        else:
            rng.standard_normal(dtype=np.float32, out=field)
        parts.append(field[:, ctx.bbox_mask])
    del field
    coef = np.empty(parts[0].shape, dtype=np.complex64)
    coef.real = parts[0] * scale
    coef.imag = parts[1] * scale
    del parts
    coef *= ctx.shape_h[:, None]
    if log_gain is not None:
        coef[ctx.band] *= np.exp(log_gain).astype(np.float32)[None, :]
    for loading in networks or ():
        latent = _complex_normal(rng, n_freq) * ctx.latent_h
        coef += latent[:, None] * loading.astype(np.float32)[None, :]
    series = scipy.fft.irfft(coef, n=ctx.n_fft, axis=0, norm="ortho")[: ctx.n_volumes]
    del coef
    # slow drifts with smooth spatial amplitude, global signal, motion-related dip
    t = np.linspace(-1.0, 1.0, ctx.n_volumes, dtype=np.float32)
    basis = np.float32(DRIFT_SD) * np.stack([t, np.float32(1.5) * t**2 - np.float32(0.5)])
    amplitude = _smooth_field(rng, 2, ctx, ctx.drift_sigma, _kernel_norm(ctx.drift_sigma))
    # element-wise products and sums, not a matrix product: BLAS (basis.T @ amplitude)
    # picks its kernel and work split from the calling process's thread count and the
    # CPU, and FMA and non-FMA kernels round differently, so the bytes depended on
    # where the session was computed (n_jobs); these operations are exact IEEE ones
    drift = basis[0][:, None] * amplitude[0][None, :]
    drift += basis[1][:, None] * amplitude[1][None, :]
    series += drift
    del drift
    global_latent = _complex_normal(rng, n_freq) * ctx.shape_h
    global_series = scipy.fft.irfft(global_latent, n=ctx.n_fft, norm="ortho")[: ctx.n_volumes]
    fd0 = np.nan_to_num(fd, nan=0.0)
    global_series = GLOBAL_SD * global_series - FD_DIP_PER_MM * (fd0 - fd0.mean())
    series += global_series.astype(np.float32)[:, None]
    series *= np.float32(PERCENT_PER_UNIT / 100.0)
    series += np.float32(1.0)
    series *= ctx.mean_image[None, :]
    return series


def _cosine_basis(n_volumes: int, t_r: float) -> np.ndarray:
    """fMRIPrep/nilearn discrete cosine high-pass regressors (cut-off 128 s), no constant."""
    order = min(n_volumes - 1, int(np.floor(2 * n_volumes * t_r / HIGH_PASS_S)))
    times = np.arange(n_volumes)
    columns = [np.sqrt(2.0 / n_volumes) * np.cos(np.pi * (times + 0.5) * k / n_volumes)
               for k in range(1, order)]
    return np.array(columns).T.reshape(n_volumes, -1)


def _with_expansions(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Add fMRIPrep's ``_derivative1``, ``_power2`` and ``_derivative1_power2`` columns."""
    out = {}
    for name in names:
        x = frame[name].to_numpy(dtype=float)
        d = np.concatenate([[np.nan], np.diff(x)])
        out[name] = x
        out[f"{name}_derivative1"] = d
        out[f"{name}_power2"] = x**2
        out[f"{name}_derivative1_power2"] = d**2
    return pd.DataFrame(out)


def confounds_frame(series: np.ndarray, ctx: BoldContext, motion: np.ndarray) -> pd.DataFrame:
    """fMRIPrep-style confounds of one session.

    Columns: ``global_signal, csf, white_matter`` (means over the mask and over
    template-derived CSF/WM masks) with ``_derivative1``, ``_power2`` and
    ``_derivative1_power2`` expansions, ``dvars`` and ``std_dvars``,
    ``framewise_displacement`` (Power), ``trans_x..z`` (mm), ``rot_x..z`` (rad) with
    their expansions, and ``cosine00..`` (128 s DCT high-pass basis). Values of the
    first row that need a previous volume are NaN (``n/a`` in the TSV), as in fMRIPrep.
    """
    signals = pd.DataFrame({
        "global_signal": series.mean(axis=1, dtype=np.float64),
        "csf": series[:, ctx.csf].mean(axis=1, dtype=np.float64),
        "white_matter": series[:, ctx.wm].mean(axis=1, dtype=np.float64),
    })
    diff = np.diff(series, axis=0)
    np.square(diff, out=diff)
    dvars = np.sqrt(diff.mean(axis=1, dtype=np.float64))
    del diff
    centred = series - series.mean(axis=0, dtype=np.float64).astype(np.float32)
    var = np.square(centred).mean(axis=0, dtype=np.float64)
    lag1 = np.einsum("tv,tv->v", centred[1:], centred[:-1], dtype=np.float64) / len(centred)
    del centred
    ar1 = np.clip(lag1 / np.maximum(var, 1e-12), -1.0, 1.0)
    expected = np.sqrt(np.mean(2.0 * (1.0 - ar1) * var))
    motion_names = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    motion_frame = pd.DataFrame(motion, columns=motion_names)
    cosine = _cosine_basis(ctx.n_volumes, ctx.t_r)
    parts = [
        _with_expansions(signals, list(signals.columns)),
        pd.DataFrame({"dvars": np.concatenate([[np.nan], dvars]),
                      "std_dvars": np.concatenate([[np.nan], dvars / expected]),
                      "framewise_displacement": framewise_displacement(motion)}),
        _with_expansions(motion_frame, motion_names),
        pd.DataFrame(cosine, columns=[f"cosine{k:02d}" for k in range(cosine.shape[1])]),
    ]
    return pd.concat(parts, axis=1)
