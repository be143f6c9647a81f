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


def smooth_fields(rng, n, shape, fwhm_vox):
    """``n`` independent fields as :func:`smooth_field` makes them, filtered in one call.

    Shape ``(n, *shape)``; the batch axis is not smoothed (sigma 0 along it).
    """
    sigma = fwhm_vox / np.sqrt(8 * np.log(2))
    noise = rng.standard_normal((n, *tuple(shape)))
    out = ndimage.gaussian_filter(noise, (0,) + (sigma,) * 3, mode="wrap")
    return out / unit_kernel_sd(sigma) ** 3


def max_cluster_sizes(fields, threshold, connectivity, two_tailed=True):
    """Largest cluster (voxels above ``threshold``, or below ``-threshold``) of every field.

    One :func:`scipy.ndimage.label` call labels all fields of the batch: the 4-D structuring
    element joins neighbours within a field only. Labels are numbered in raster order, so
    those of field ``b`` are the range ending at the field's largest label.
    """
    rank = {6: 1, 18: 2, 26: 3}[connectivity]
    structure = np.zeros((3, 3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(3, rank)
    n = fields.shape[0]
    best = np.zeros(n, dtype=np.int64)
    for sign in ((1, -1) if two_tailed else (1,)):
        labels, n_labels = ndimage.label(sign * fields > threshold, structure)
        if not n_labels:
            continue
        sizes = np.bincount(labels.ravel())
        ends = labels.reshape(n, -1).max(axis=1)
        starts = np.r_[0, np.maximum.accumulate(ends)[:-1]]
        for b in np.flatnonzero(ends > starts):
            best[b] = max(best[b], sizes[starts[b] + 1: ends[b] + 1].max())
    return best
