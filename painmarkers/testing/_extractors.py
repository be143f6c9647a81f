"""The test suite a third-party extractor must pass (``register_extractor`` runs it)."""

from __future__ import annotations

from typing import Any

from painmarkers.extractors._checks import run_extractor_checks, synthetic_inputs

__all__ = ["check_extractor", "synthetic_images"]


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
    ``feature`` an identifier and ``input_kind`` in ``("bold", "map")`` (map
    extractors name their ``image_kind``); ``__init__`` stores ``mask_img`` (and
    ``t_r``) and sets no fitted attribute; ``clone``/``set_params`` round trip;
    ``transform`` before ``fit`` raises ``NotFittedError``; on two small
    synthetic images (:func:`synthetic_images`), ``fit`` returns ``self``,
    ``transform`` gives finite ``(n_images, n_voxels_in_mask)`` output,
    deterministically, ``compute_map`` agrees with ``transform`` on the mask
    grid, and the fitted extractor survives (cloud)pickling, as parallel
    workers need.

    Examples
    --------
    >>> from painmarkers.extractors import BaseExtractor
    >>> class TemporalSD(BaseExtractor):
    ...     feature = "tsd"
    ...     input_kind = "bold"
    ...     def _compute(self, data, t_r):
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
