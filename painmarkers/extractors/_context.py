"""The per-image context every extractor receives: what one image is and how to read it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from painmarkers.io.images import image_label

__all__ = ["ImageContext", "image_label"]


@dataclass(frozen=True, eq=False)
class ImageContext:
    """Everything an extractor needs to know about one image, passed instead of state on ``self``.

    An extractor's per-image methods (:meth:`BaseExtractor.transform_image
    <painmarkers.extractors.BaseExtractor.transform_image>` and the steps it calls:
    ``check_context``, ``load_data``, ``prepare``, ``compute``) receive one
    ``ImageContext`` and never store per-image values on the extractor, so one fitted
    extractor can process several images at once (threads, dask workers). Values an
    extractor derives from the whole image before computing (e.g. the seed series of
    :class:`~painmarkers.extractors.SeedFC`) travel in a new context returned by
    ``prepare`` (:meth:`with_derived`).

    Parameters
    ----------
    img : str, path-like or nibabel image
        The image: a 4-D BOLD run (``input_kind="bold"``) or a 3-D map.
    name : str, default="img"
        Role of the image in messages (``"imgs[0]"``, ``"bold"``).
    subject, session : str or None, default=None
        Subject and session labels when the image belongs to a cohort (the cohort
        driver sets them; plug-ins may use them, e.g. to find companion files).
    t_r : float or None, default=None
        Repetition time in seconds; when None, ``check_context`` takes the
        extractor's ``t_r`` or reads it from the sidecar/header.
    confounds : str, path-like, DataFrame, ndarray or None, default=None
        Nuisance confounds of this image (one row per volume), for extractors with
        ``accepts_confounds``.
    mask_img : nibabel image, path or None, default=None
        The brain mask the extractor uses for this image (``transform`` and the driver
        put the extractor's fitted ``mask_img_`` here).
    derived : mapping, default={}
        Per-image values computed by ``prepare`` (read-only).
    cache : mutable mapping or None, default=None
        A store owned by the caller in which ``load_data`` keeps the masked data it
        read, so that several extractors of one session read an image once. Not
        shared between threads.

    Attributes
    ----------
    label : str
        ``"<name> (<file>)"``, the image as messages name it.

    Raises
    ------
    TypeError
        An empty ``name`` or a ``derived`` that is not a mapping.

    Examples
    --------
    >>> ctx = ImageContext("sub-01_bold.nii.gz", name="bold", subject="01", session="pre")
    >>> ctx.label
    'bold (sub-01_bold.nii.gz)'
    >>> ctx.with_derived(n=3).derived["n"], ctx.derived
    (3, mappingproxy({}))
    """

    img: Any
    name: str = "img"
    subject: str | None = None
    session: str | None = None
    t_r: float | None = None
    confounds: Any = None
    mask_img: Any = None
    derived: Mapping[str, Any] = field(default_factory=dict)
    cache: MutableMapping | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"The 'name' of an ImageContext must be a non-empty string. "
                            f"Got {self.name!r}.")
        if not isinstance(self.derived, Mapping):
            raise TypeError(f"The 'derived' of an ImageContext must be a mapping. "
                            f"Got {type(self.derived).__name__}.")
        object.__setattr__(self, "derived", MappingProxyType(dict(self.derived)))

    def __reduce__(self):
        # picklable for workers: the read-only mapping travels as a dict; the cache, a
        # store of one process, is not sent
        return (type(self), (self.img, self.name, self.subject, self.session, self.t_r,
                             self.confounds, self.mask_img, dict(self.derived), None))

    @property
    def label(self) -> str:
        """The image as messages name it: ``"<name> (<file>)"`` or ``name``."""
        return image_label(self.img, self.name)

    def replace(self, **changes: Any) -> ImageContext:
        """A copy with some fields changed (the context itself is frozen).

        Parameters
        ----------
        **changes
            Field values, e.g. ``t_r=2.0``.

        Returns
        -------
        ImageContext
            The new context.
        """
        return dataclasses.replace(self, **changes)

    def with_derived(self, **values: Any) -> ImageContext:
        """A copy whose ``derived`` mapping also holds ``values``.

        Parameters
        ----------
        **values
            Per-image values computed from the image (``seed_series=...``).

        Returns
        -------
        ImageContext
            The new context; this one is unchanged.
        """
        return dataclasses.replace(self, derived={**self.derived, **values})
