"""The test suite a third-party extractor must pass (``register_extractor`` runs it)."""

from __future__ import annotations

from typing import Any

from painmarkers.extractors._checks import run_extractor_checks, synthetic_inputs
from painmarkers.extractors._checks import synthetic_rois as _synthetic_rois

__all__ = ["check_extractor", "synthetic_images", "synthetic_rois"]


def check_extractor(extractor: Any):
    """Check that an extractor follows the painmarkers/scikit-learn contract.

    Parameters
    ----------
    extractor : type or BaseExtractor
        An extractor class (constructed with its default parameters, as
        :func:`~painmarkers.extractors.get_extractor` users will) or a configured
        instance (for extractors that need parameters, e.g. ``SeedFC(seed)``).

    Returns
    -------
    BaseExtractor
        The instance that was checked (unfitted).

    Raises
    ------
    ExtractorError
        At the first failed check, saying which one.

    Notes
    -----
    The checks: subclass of :class:`~painmarkers.extractors.BaseExtractor`;
    ``feature`` an identifier, ``input_kind`` in ``("bold", "map")`` (map
    extractors name their ``image_kind``) and ``output`` in ``("voxels", "rois")``;
    ``compute(data, context)`` implemented (or the deprecated ``_compute``);
    ``__init__`` stores ``mask_img`` (and ``t_r`` for time series, ``rois`` for ROI
    values) and sets no fitted attribute; ``clone``/``set_params`` round trip;
    ``transform`` before ``fit`` raises ``NotFittedError``. On two small synthetic
    images (:func:`synthetic_images`; ROI-value extractors get
    :func:`synthetic_rois` when their ``rois`` is None): ``fit`` returns ``self``;
    ``transform`` gives finite ``(n_images, n_voxels_in_mask)`` (or ``(n_images,
    n_rois)``) output, deterministically, equal to ``transform_image`` on one
    :class:`~painmarkers.extractors.ImageContext`; ``transform`` stores nothing on
    ``self``, and ``transform_image`` run concurrently in two threads on different
    images equals the serial results (skipped for classes still using the deprecated
    ``_prepare_image`` hook, which stores state by design); ``compute`` does not
    write into its (read-only) data; ``compute_map`` agrees with ``transform`` on the
    mask grid; and the fitted extractor survives (cloud)pickling, as parallel
    workers need.

    Examples
    --------
    >>> from painmarkers.extractors import BaseExtractor
    >>> class TemporalSD(BaseExtractor):
    ...     feature = "tsd"
    ...     input_kind = "bold"
    ...     def compute(self, data, context):
    ...         return data.std(axis=0)
    >>> type(check_extractor(TemporalSD)).__name__
    'TemporalSD'
    """
    return run_extractor_checks(extractor)


def synthetic_images(input_kind: str = "bold", random_state: int = 0):
    """Two small random images and their mask, as used by :func:`check_extractor`.

    Parameters
    ----------
    input_kind : {"bold", "map"}, default="bold"
        4-D time series (6x5x4 voxels, 64 volumes, TR 2 s in the header) or 3-D maps.
    random_state : int, default=0
        Seed of the generator.

    Returns
    -------
    imgs : list of nibabel.Nifti1Image
        Two random images.
    mask_img : nibabel.Nifti1Image
        All voxels but one corner.

    Examples
    --------
    >>> imgs, mask = synthetic_images("bold")
    >>> imgs[0].shape, mask.shape
    ((6, 5, 4, 64), (6, 5, 4))
    """
    return synthetic_inputs(input_kind, random_state=random_state)


def synthetic_rois():
    """Two 3 mm spheres inside the grid of :func:`synthetic_images`.

    :func:`check_extractor` gives them to ROI-value extractors (``output = "rois"``)
    whose ``rois`` parameter is None.

    Returns
    -------
    tuple of Sphere
        ``synthetic_a`` and ``synthetic_b``.

    Examples
    --------
    >>> [roi.name for roi in synthetic_rois()]
    ['synthetic_a', 'synthetic_b']
    """
    return _synthetic_rois()
