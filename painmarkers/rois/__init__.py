"""Regions of interest: MNI spheres, atlas regions, binary masks and named ROI sets.

Every ROI turns into a boolean mask on any target grid with
:meth:`to_mask`; spheres are drawn on the target grid, atlas regions and mask
images are resampled to it by nearest neighbour (labels are never
interpolated). An ROI that ends up empty on the target grid, or after
intersection with a brain mask, raises :class:`~painmarkers.exceptions.DataError`
naming it.
"""

from __future__ import annotations

from painmarkers.rois._atlases import Atlas, atlas_labels, list_atlases, load_atlas
from painmarkers.rois._regions import ROI, AtlasRegion, MaskROI, Sphere
from painmarkers.rois._sets import check_rois, get_roi_set, list_roi_sets, register_roi_set

__all__ = [
    "ROI",
    "Atlas",
    "AtlasRegion",
    "MaskROI",
    "Sphere",
    "atlas_labels",
    "check_rois",
    "get_roi_set",
    "list_atlases",
    "list_roi_sets",
    "load_atlas",
    "register_roi_set",
]
