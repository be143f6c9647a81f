"""Helpers to test painmarkers plug-ins: the extractor contract suite."""

from painmarkers.testing._extractors import check_extractor, synthetic_images, synthetic_rois

__all__ = ["check_extractor", "synthetic_images", "synthetic_rois"]
