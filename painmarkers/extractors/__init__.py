"""Imaging feature extractors: scikit-learn transformers over NIfTI images.

Voxelwise extractors subclass :class:`BaseExtractor` (``transform`` gives
``(n_images, n_voxels_in_mask)``); :class:`ROIExtractor` and :class:`MapMean`
give ``(n_images, n_rois)``; :func:`extract` runs extractors over a cohort.
Plug-ins register with :func:`register_extractor` or the
``painmarkers.extractors`` entry-point group.
"""

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
