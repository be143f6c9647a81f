"""Imaging feature extractors: scikit-learn transformers over NIfTI images.

Voxelwise extractors subclass :class:`BaseExtractor` (``transform`` gives
``(n_images, n_voxels_in_mask)``); :class:`ROIExtractor`, :class:`MapMean` and
ROI-value plug-ins (``output = "rois"``) give ``(n_images, n_rois)``. Every
extractor processes one image through the public ``transform_image(context)``
with an :class:`ImageContext`, never storing per-image state on itself;
:func:`extract` runs extractors over a cohort. Plug-ins register with
:func:`register_extractor` or the ``painmarkers.extractors`` entry-point group.
"""

from painmarkers.extractors._context import ImageContext
from painmarkers.extractors._driver import extract, map_filename
from painmarkers.extractors._registry import get_extractor, list_extractors, register_extractor
from painmarkers.extractors.alff import (
    ALFF,
    ALFF_CONVENTIONS,
    FractionalALFF,
    alff_falff,
    alff_frequency_bins,
    alff_min_volumes,
)
from painmarkers.extractors.base import BaseExtractor, resolve_t_r
from painmarkers.extractors.connectivity import SeedFC, select_confounds
from painmarkers.extractors.maps import MapMean, roi_summary
from painmarkers.extractors.motion import (
    MotionQC,
    MotionReport,
    framewise_displacement,
    read_motion_parameters,
)
from painmarkers.extractors.roi import ROIExtractor

__all__ = [
    "ALFF",
    "ALFF_CONVENTIONS",
    "BaseExtractor",
    "FractionalALFF",
    "ImageContext",
    "MapMean",
    "MotionQC",
    "MotionReport",
    "ROIExtractor",
    "SeedFC",
    "alff_falff",
    "alff_frequency_bins",
    "alff_min_volumes",
    "extract",
    "framewise_displacement",
    "get_extractor",
    "list_extractors",
    "map_filename",
    "read_motion_parameters",
    "register_extractor",
    "resolve_t_r",
    "roi_summary",
    "select_confounds",
]
