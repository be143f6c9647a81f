"""Grid helpers of the ROIs and atlases: voxel coordinates and nearest-neighbour resampling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from painmarkers._validation import check_img

__all__: list[str] = []


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
