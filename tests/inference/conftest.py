"""Helpers shared by the inference tests: smooth Gaussian random fields with known FWHM."""

import numpy as np
from scipy import ndimage


def unit_kernel_sd(sigma):
    """Standard deviation of white noise filtered with scipy's truncated Gaussian kernel."""
    impulse = np.zeros(81)
    impulse[40] = 1.0
    w = ndimage.gaussian_filter1d(impulse, sigma)
    return np.sqrt(np.sum(w ** 2))


def smooth_field(rng, shape, fwhm_vox, extra=()):
    """Unit-variance stationary field: white noise * Gaussian kernel (FWHM in voxels).

    ``sigma = FWHM / sqrt(8 ln 2)``; wrap-around filtering keeps it stationary. ``extra``
    adds trailing (unsmoothed) dimensions, e.g. ``(n_images,)`` for residual stacks.
    """
    sigma = fwhm_vox / np.sqrt(8 * np.log(2))
    noise = rng.standard_normal(tuple(shape) + tuple(extra))
    sig = (sigma,) * 3 + (0,) * len(extra)
    out = ndimage.gaussian_filter(noise, sig, mode="wrap")
    return out / unit_kernel_sd(sigma) ** 3
