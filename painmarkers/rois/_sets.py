"""Named ROI sets (built in and registered) and the one ROI-argument check."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from painmarkers.exceptions import RegistryError
from painmarkers.rois._regions import ROI, Sphere

__all__ = ["check_rois", "get_roi_set", "list_roi_sets", "register_roi_set"]

#: Table 3 of Masoumbeigi et al. (J Biomed Phys Eng): ALFF peaks (MNI mm) of the rTMS study.
_RTMS_ALFF_CLBP_PEAKS = {
    "INS_L": (-47, 11, -5), "INS_R": (46, 15, -5),
    "SMA_L": (0, 23, 65), "SMA_R": (3, 23, 65),
    "THA_L": (-12, -14, 20), "THA_R": (9, -6, 15),
    "PC_L": (-6, -55, 70), "PC_R": (5, -60, 70),
    "mPFC": (1, 55, -3),
}

_ROI_SETS: dict[str, tuple[ROI, ...]] = {
    "rtms_alff_clbp": tuple(Sphere(n, c, 3.0) for n, c in _RTMS_ALFF_CLBP_PEAKS.items()),
}
_BUILTIN_SETS = frozenset(_ROI_SETS)


def register_roi_set(name: str, rois: Iterable[ROI], *, overwrite: bool = False) -> None:
    """Register a named ROI set for :func:`get_roi_set`.

    Parameters
    ----------
    name : str
        Set name.
    rois : iterable of ROI
        Sphere, AtlasRegion, MaskROI (or other :class:`ROI`) objects with unique names.
    overwrite : bool, default=False
        Replace an existing (non built-in) set of that name.

    Raises
    ------
    RegistryError
        If the name is taken (and ``overwrite`` is False) or is a built-in set.
    ValueError
        If ``rois`` is empty or has duplicated names.
    TypeError
        If ``rois`` holds objects that are not ROIs.

    Examples
    --------
    >>> register_roi_set("my_set", [Sphere("a", (0, 0, 0), 4)], overwrite=True)
    >>> [r.name for r in get_roi_set("my_set")]
    ['a']
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"The 'name' parameter must be a non-empty string. Got {name!r}.")
    if name in _BUILTIN_SETS:
        raise RegistryError(f"ROI set {name!r} is built in and cannot be replaced.")
    if name in _ROI_SETS and not overwrite:
        raise RegistryError(f"ROI set {name!r} already exists; pass overwrite=True to replace it.")
    _ROI_SETS[name] = _unique_rois(rois, f"ROI set {name!r}")


def get_roi_set(name: str) -> tuple[ROI, ...]:
    """Return a registered ROI set.

    Parameters
    ----------
    name : str
        Set name; built in: ``"rtms_alff_clbp"`` (the nine ALFF peaks of Table 3
        of the rTMS chronic-low-back-pain study, as 6 mm-diameter spheres).

    Returns
    -------
    tuple of ROI
        The ROIs of the set, in their registered order.

    Raises
    ------
    RegistryError
        Unknown name (the message lists the registered sets).

    References
    ----------
    Masoumbeigi et al., ALFF changes after 20 Hz M1 rTMS in non-specific chronic
    low back pain, J Biomed Phys Eng, Table 3.

    Examples
    --------
    >>> rois = get_roi_set("rtms_alff_clbp")
    >>> rois[0].name, rois[0].center_mni, rois[0].radius_mm
    ('INS_L', (-47.0, 11.0, -5.0), 3.0)
    """
    if name not in _ROI_SETS:
        raise RegistryError(f"Unknown ROI set {name!r}; registered: {list_roi_sets()}.")
    return _ROI_SETS[name]


def list_roi_sets() -> list[str]:
    """Names of the registered ROI sets.

    Returns
    -------
    list of str
        Sorted names, built-in and registered.

    Examples
    --------
    >>> "rtms_alff_clbp" in list_roi_sets()
    True
    """
    return sorted(_ROI_SETS)


def check_rois(rois: Any, name: str = "rois") -> tuple[ROI, ...]:
    """Turn a set name, an ROI or a sequence of ROIs into a tuple with unique names.

    Parameters
    ----------
    rois : str, ROI or sequence of ROI
        A registered set name, one ROI or several.
    name : str, default="rois"
        Parameter name used in messages.

    Returns
    -------
    tuple of ROI
        The ROIs.

    Raises
    ------
    ValueError
        None, empty, or duplicated ROI names.
    TypeError
        An element is not an ROI.
    RegistryError
        Unknown set name.

    Examples
    --------
    >>> len(check_rois("rtms_alff_clbp"))
    9
    """
    if isinstance(rois, str):
        return get_roi_set(rois)
    if isinstance(rois, ROI):
        return (rois,)
    if rois is None:
        raise ValueError(
            f"The {name!r} parameter is required: an ROI, a list of them or a set name."
        )
    return _unique_rois(rois, f"The {name!r} parameter")


def _unique_rois(rois: Iterable[Any], what: str) -> tuple[ROI, ...]:
    """``rois`` as a non-empty tuple of ROIs with unique names; ``what`` starts messages."""
    rois = tuple(rois)
    if not rois:
        raise ValueError(f"{what} is empty.")
    bad = [r for r in rois if not isinstance(r, ROI)]
    if bad:
        raise TypeError(f"{what} must hold Sphere, AtlasRegion or MaskROI objects. "
                        f"Got {bad[0]!r}.")
    names = [r.name for r in rois]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what} has duplicated ROI names: {dup}.")
    return rois
