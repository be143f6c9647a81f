"""Gaussian random field (GRF) cluster inference, as DPABI/FSL and as SPM12 do it.

Two documented methods:

``method="fsl"``
    FSL ``cluster``/``easythresh`` and DPABI's ``y_GRF_Threshold`` (Friston et al.
    1994, 3-D term only), driven by FSL's smoothness summary ``dLh``;
    26-connectivity by default.
``method="spm"``
    SPM12: resel counts R0..R3 of the search volume, EC densities of Z or T
    fields and ``spm_P_RF``; 18-connectivity by default.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special, stats

from painmarkers._validation import check_choice, check_img, check_interval, check_same_grid
from painmarkers.exceptions import DataError, InferenceWarning
from painmarkers.inference._conversions import t_to_z
from painmarkers.inference._spm_rf import spm_p_rf, spm_resels_vol
from painmarkers.inference.clusters import cluster_table, label_clusters
from painmarkers.inference.results import ClusterResult, Smoothness, VoxelwiseResult
from painmarkers.inference.smoothness import estimate_smoothness

__all__ = ["grf_cluster_correct", "grf_cluster_pvalue", "grf_min_cluster_size"]

_DEFAULT_CONNECTIVITY = {"fsl": 26, "spm": 18}
_EKLUND_P = 0.001


def _check_p(value, name):
    return check_interval(value, name, 0.0, 1.0, closed="neither")


def _fsl_terms(z, dlh, n_voxels):
    """E[m], E[N] and β of FSL's cluster-extent distribution at threshold z."""
    em = n_voxels * (2 * np.pi) ** -2 * dlh * (z * z - 1) * np.exp(-z * z / 2)
    en = n_voxels * stats.norm.sf(z)
    beta = (special.gamma(2.5) * em / en) ** (2.0 / 3.0)
    return float(em), float(en), float(beta)


def _height(voxel_p, two_tailed, stat, df):
    q = voxel_p / 2.0 if two_tailed else voxel_p
    z = float(stats.norm.isf(q))
    u = float(stats.t.isf(q, df)) if stat == "t" else z
    return z, u


def _pvalues(sizes, z, u, *, method, smoothness, n_voxels, stat, df, resels, two_tailed):
    sizes = np.asarray(sizes, dtype=float)
    if method == "fsl":
        em, _, beta = _fsl_terms(z, smoothness.dlh, n_voxels)
        p = -np.expm1(-em * np.exp(-beta * sizes ** (2.0 / 3.0)))
    else:
        field = "T" if stat == "t" else "Z"
        k_resels = sizes / smoothness.resel_size
        p = np.array([spm_p_rf(1, k, u, [1, df], field, resels)[0] for k in k_resels.ravel()])
        p = p.reshape(sizes.shape)
    if two_tailed:
        p = np.minimum(1.0, 2.0 * p)
    return p


def _check_common(voxel_p, cluster_p, method, stat, df):
    voxel_p = _check_p(voxel_p, "voxel_p")
    cluster_p = _check_p(cluster_p, "cluster_p")
    check_choice(method, ("fsl", "spm"), "method")
    check_choice(stat, ("z", "t"), "stat")
    if stat == "t" or df is not None:
        if df is None:
            raise ValueError("The 'df' parameter is required when stat='t'.")
        df = check_interval(df, "df", 0, None, closed="neither")
    return voxel_p, cluster_p, df


def _check_smoothness(smoothness, method, resels):
    if not isinstance(smoothness, Smoothness):
        raise TypeError(
            f"The 'smoothness' parameter must be a Smoothness (see estimate_smoothness). "
            f"Got {smoothness!r}."
        )
    if method == "spm" and resels is None:
        raise ValueError("method='spm' needs the resel counts 'resels' (see spm_resels_vol).")


def grf_cluster_pvalue(cluster_size, voxel_p, smoothness, *, two_tailed=False, method="fsl",
                       stat="z", df=None, resels=None):
    """Corrected GRF p value of clusters of given sizes.

    Parameters
    ----------
    cluster_size : int or array-like of int
        Cluster sizes in voxels.
    voxel_p : float
        Cluster-forming voxelwise p threshold, in (0, 1).
    smoothness : Smoothness
        Smoothness of the field (:func:`estimate_smoothness` or
        :func:`smoothness_from_fwhm`); ``n_voxels`` is the search volume.
    two_tailed : bool, default=False
        Two-tailed: the height threshold uses ``voxel_p / 2`` and the cluster
        p value is doubled (equivalent to testing each tail at α/2, as DPABI does).
    method : {"fsl", "spm"}, default="fsl"
        See the module docstring.
    stat : {"z", "t"}, default="z"
        Field type (``"t"`` matters only for ``method="spm"``, which uses
        T-field EC densities with ``df``; FSL works on Z maps).
    df : float or None, default=None
        Degrees of freedom of a t field.
    resels : array-like of 4 floats or None, default=None
        Resel counts R0..R3 (required for ``method="spm"``).

    Returns
    -------
    numpy.ndarray or float
        ``P(at least one cluster ≥ k)`` under the null, per size.

    Raises
    ------
    ValueError
        If a p is outside (0, 1), ``df <= 0``, or SPM lacks resels.

    Notes
    -----
    FSL (Friston et al. 1994, D = 3), with V = ``smoothness.n_voxels``,
    dLh = ``smoothness.dlh`` and z* = Φ⁻¹(1 − p):
    ``E[m] = V (2π)^{−2} dLh (z*² − 1) e^{−z*²/2}`` (expected clusters),
    ``E[N] = V (1 − Φ(z*))`` (expected supra-threshold voxels),
    ``β = (Γ(5/2) E[m] / E[N])^{2/3}``,
    ``P(cluster ≥ k) = 1 − exp(−E[m] e^{−β k^{2/3}})``.
    SPM: ``spm_p_rf(1, k / resel_size, u, [1, df], stat, resels)``.

    References
    ----------
    Friston KJ et al. (1994). Assessing the significance of focal activations
    using their spatial extent. Human Brain Mapping 1:210–220.

    Examples
    --------
    >>> from painmarkers.inference import grf_cluster_pvalue, smoothness_from_fwhm
    >>> s = smoothness_from_fwhm(8.0, 3.0, 60000)
    >>> p = grf_cluster_pvalue([10, 50, 200], 0.001, s)
    >>> bool(p[0] > p[1] > p[2])
    True
    """
    voxel_p, _, df = _check_common(voxel_p, 0.5, method, stat, df)
    _check_smoothness(smoothness, method, resels)
    z, u = _height(voxel_p, two_tailed, stat, df)
    sizes = np.asarray(cluster_size, dtype=float)
    if np.any(sizes < 0):
        raise ValueError(f"Cluster sizes must be >= 0. Got {cluster_size!r}.")
    p = _pvalues(sizes, z, u, method=method, smoothness=smoothness,
                 n_voxels=smoothness.n_voxels, stat=stat, df=df, resels=resels,
                 two_tailed=two_tailed)
    return p if p.ndim else float(p)


def grf_min_cluster_size(voxel_p, cluster_p, smoothness, *, two_tailed=False, method="fsl",
                         stat="z", df=None, resels=None):
    """Smallest cluster size k* (voxels) whose GRF p value is below ``cluster_p``.

    Parameters
    ----------
    voxel_p, cluster_p : float
        Cluster-forming p threshold and cluster-level α, each in (0, 1).
    smoothness : Smoothness
        Smoothness and search volume, as in :func:`grf_cluster_pvalue`.
    two_tailed : bool, default=False
        As in :func:`grf_cluster_pvalue`.
    method : {"fsl", "spm"}, default="fsl"
        As in :func:`grf_cluster_pvalue`.
    stat : {"z", "t"}, default="z"
        As in :func:`grf_cluster_pvalue`.
    df : float or None, default=None
        Degrees of freedom of a t field.
    resels : array-like of 4 floats or None, default=None
        Resel counts R0..R3 (required for ``method="spm"``).

    Returns
    -------
    int
        The smallest integer k with ``grf_cluster_pvalue(k) < cluster_p``
        (two-tailed: the per-tail p below ``cluster_p / 2``).

    Notes
    -----
    The p value decreases monotonically in k; k* is bracketed by doubling and
    then found by bisection, exactly as a linear scan would find it.

    Examples
    --------
    >>> from painmarkers.inference import grf_min_cluster_size, smoothness_from_fwhm
    >>> s = smoothness_from_fwhm(8.0, 3.0, 60000)
    >>> grf_min_cluster_size(0.001, 0.05, s) > grf_min_cluster_size(0.0001, 0.05, s)
    True
    """
    voxel_p, cluster_p, df = _check_common(voxel_p, cluster_p, method, stat, df)
    _check_smoothness(smoothness, method, resels)
    z, u = _height(voxel_p, two_tailed, stat, df)

    def pk(k):
        return float(_pvalues(np.asarray(float(k)), z, u, method=method, smoothness=smoothness,
                              n_voxels=smoothness.n_voxels, stat=stat, df=df, resels=resels,
                              two_tailed=two_tailed))

    if pk(1) < cluster_p:
        return 1
    hi = 2
    while pk(hi) >= cluster_p:
        hi *= 2
        if hi > 10 ** 12:
            raise DataError("No finite cluster size reaches the requested cluster_p.")
    lo = hi // 2  # pk(lo) >= cluster_p > pk(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pk(mid) < cluster_p:
            hi = mid
        else:
            lo = mid
    return int(hi)


def _load_stat(stat_img, mask_img):
    img = check_img(stat_img, ndim=3, name="stat_img")
    data = np.asarray(img.get_fdata(dtype=np.float64))
    label = f"stat_img ({stat_img})" if isinstance(stat_img, str) else "stat_img"
    if mask_img is not None:
        mimg = check_img(mask_img, ndim=3, name="mask_img")
        check_same_grid(img, mimg, "stat_img", "mask_img")
        mask = np.asarray(mimg.dataobj) > 0
        bad = mask & ~np.isfinite(data)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(
                f"{label} has {int(bad.sum())} NaN/inf voxel(s) inside the mask "
                f"(first at voxel {first})."
            )
    else:
        bad = ~np.isfinite(data)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(
                f"{label} has {int(bad.sum())} NaN/inf voxel(s) (first at voxel {first}); "
                "give mask_img to restrict the search volume to valid voxels."
            )
        mask = data != 0
    if not mask.any():
        raise DataError("The search volume is empty (the mask has no voxel).")
    return img, data, mask


def grf_cluster_correct(stat_img, voxel_p=0.001, cluster_p=0.05, two_tailed=True, *, stat="z",
                        df=None, smoothness=None, mask_img=None, connectivity=None,
                        method="fsl", atlas=True):
    """Cluster-level family-wise correction of a Z or T map by Gaussian random field theory.

    Parameters
    ----------
    stat_img : path, nibabel image or VoxelwiseResult
        The statistic map. A :class:`VoxelwiseResult` supplies its t map, df,
        mask and residual smoothness (``stat`` becomes ``"t"``).
    voxel_p : float, default=0.001
        Cluster-forming voxelwise p, in (0, 1). A warning is emitted above 0.001.
    cluster_p : float, default=0.05
        Cluster-level family-wise α, in (0, 1).
    two_tailed : bool, default=True
        Test positive and negative clusters separately, each with the height
        threshold at ``voxel_p / 2`` and the cluster α halved (DPABI).
    stat : {"z", "t"}, default="z"
        Kind of map. T maps are converted to Z (tail-matched) for
        ``method="fsl"``; ``method="spm"`` thresholds the T map with T-field
        EC densities.
    df : float or None, default=None
        Degrees of freedom of a t map (required for ``stat="t"``).
    smoothness : Smoothness or None, default=None
        Smoothness of the field, ideally from the residuals
        (:func:`estimate_smoothness`). None estimates it from the map itself,
        with a warning (what DPABI does without residuals).
    mask_img : path, nibabel image or None, default=None
        Search volume; None uses the non-zero voxels of the map (which must
        then be finite everywhere).
    connectivity : {6, 18, 26} or None, default=None
        None: 26 for ``"fsl"``, 18 for ``"spm"``.
    method : {"fsl", "spm"}, default="fsl"
        See the module docstring.
    atlas : bool, default=True
        Add AAL and Harvard–Oxford labels at each peak.

    Returns
    -------
    ClusterResult
        Thresholded map, cluster labels, cluster p map, the cluster table and
        provenance (heights, k*, dLh, FWHM, resels, E[m], E[N], β).

    Raises
    ------
    DataError
        NaN in the map inside the search volume, or an empty mask.
    ImageError
        Map and mask on different grids.
    ValueError
        p outside (0, 1), ``df <= 0`` or missing for a t map.

    Warns
    -----
    InferenceWarning
        If ``voxel_p > 0.001``: Eklund et al. (2016) showed that GRF cluster
        inference then inflates the family-wise error rate (up to 70 %), because
        the Gaussian-autocorrelation and stationarity assumptions fail most at
        lenient thresholds. Also when smoothness is estimated from the map.

    Notes
    -----
    Clusters are the connected components of ``z > z*`` (and ``z < −z*``);
    each cluster's corrected p is :func:`grf_cluster_pvalue` of its size; a
    cluster is significant when its p is below ``cluster_p`` — equivalently,
    when its size is at least ``k* =`` :func:`grf_min_cluster_size`. The
    search volume V is the number of mask voxels.

    References
    ----------
    Eklund A, Nichols TE, Knutsson H (2016). Cluster failure: why fMRI
    inferences for spatial extent have inflated false-positive rates. PNAS
    113:7900–7905. Friston KJ et al. (1994), Worsley KJ et al. (1996); see
    :func:`grf_cluster_pvalue` and :func:`spm_p_rf`.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.inference import grf_cluster_correct, smoothness_from_fwhm
    >>> z = np.zeros((20, 20, 20)); z[5:10, 5:10, 5:10] = 5.0
    >>> img = nib.Nifti1Image(z, np.eye(4))
    >>> mask = nib.Nifti1Image(np.ones(z.shape, np.uint8), np.eye(4))
    >>> res = grf_cluster_correct(img, 0.001, 0.05, mask_img=mask, atlas=False,
    ...                           smoothness=smoothness_from_fwhm(3.0, 1.0, 8000))
    >>> res.n_significant, int(res.clusters.loc[0, "size_voxels"])
    (1, 125)
    """
    if isinstance(stat_img, VoxelwiseResult):
        vr = stat_img
        stat_img, stat, df = vr.t_img, "t", vr.df
        mask_img = vr.mask_img if mask_img is None else mask_img
        smoothness = vr.smoothness if smoothness is None else smoothness
    voxel_p, cluster_p, df = _check_common(voxel_p, cluster_p, method, stat, df)
    if voxel_p > _EKLUND_P:
        warnings.warn(
            f"Cluster-forming threshold voxel_p={voxel_p:g} is more lenient than 0.001: GRF "
            "cluster inference then has an inflated family-wise error rate (Eklund et al. "
            "2016). Use voxel_p <= 0.001 or permutation_cluster_correct.",
            InferenceWarning, stacklevel=2,
        )
    if connectivity is None:
        connectivity = _DEFAULT_CONNECTIVITY[method]
    check_choice(connectivity, (6, 18, 26), "connectivity")
    img, data, mask = _load_stat(stat_img, mask_img)
    zdata = t_to_z(data, df) if stat == "t" else data
    zdata = np.where(mask, zdata, 0.0)
    n_voxels = int(mask.sum())
    if smoothness is None:
        smoothness = estimate_smoothness(zdata, mask, voxel_size=_vsize(img))
    elif not isinstance(smoothness, Smoothness):
        raise TypeError(f"The 'smoothness' parameter must be a Smoothness. Got {smoothness!r}.")
    if smoothness.n_voxels != n_voxels:
        smoothness = _with_volume(smoothness, n_voxels)
    resels = spm_resels_vol(mask, smoothness.fwhm_voxels) if method == "spm" else None
    z_star, u = _height(voxel_p, two_tailed, stat, df)
    if method == "fsl":
        field, thr = zdata, z_star
    else:
        field, thr = (np.where(mask, data, 0.0), u) if stat == "t" else (zdata, z_star)
    labels, signs = label_clusters(field, thr, mask=mask, connectivity=connectivity,
                                   two_tailed=two_tailed)
    n_clusters = len(signs)
    sizes = np.bincount(labels.ravel(), minlength=n_clusters + 1)[1:]
    pvals = _pvalues(sizes, z_star, u, method=method, smoothness=smoothness, n_voxels=n_voxels,
                     stat=stat, df=df, resels=resels, two_tailed=two_tailed)
    k_star = grf_min_cluster_size(voxel_p, cluster_p, smoothness, two_tailed=two_tailed,
                                  method=method, stat=stat, df=df, resels=resels)
    sig = pvals < cluster_p
    table = cluster_table(img, labels, signs, p_values=pvals, significant=sig, stat=stat,
                          df=df, atlas=atlas)
    keep = np.r_[False, sig]
    thresholded = np.where(keep[labels], data, 0.0)
    pmap = np.ones(data.shape)
    pmap[labels > 0] = pvals[labels[labels > 0] - 1]
    import nibabel as nib

    def mk(arr, dtype):
        out = nib.Nifti1Image(arr.astype(dtype), img.affine)
        out.header.set_xyzt_units("mm")
        return out

    params = {"z_threshold_per_tail": z_star, "n_clusters": n_clusters}
    if method == "fsl":
        em, en, beta = _fsl_terms(z_star, smoothness.dlh, n_voxels)
        params.update(expected_clusters=em, expected_voxels=en, beta=beta, dlh=smoothness.dlh)
    else:
        P0, _, ec, ek, _ = spm_p_rf(1, 0, u, [1, df], "T" if stat == "t" else "Z", resels)
        params.update(resels=resels.tolist(), expected_clusters=ec,
                      expected_resels_per_cluster=ek, fwe_p_height=P0)
    return ClusterResult(
        stat_img=img, thresholded_img=mk(thresholded, np.float32),
        label_img=mk(labels, np.int32), clusters=table, method=method, stat=stat,
        voxel_p=voxel_p, cluster_p=cluster_p, two_tailed=bool(two_tailed),
        height_threshold=u if stat == "t" else z_star, z_threshold=z_star,
        min_cluster_size=k_star, connectivity=int(connectivity), df=df,
        smoothness=smoothness, n_mask_voxels=n_voxels, p_img=mk(pmap, np.float32),
        parameters=params,
    )


def _vsize(img):
    return tuple(float(v) for v in np.sqrt(np.sum(img.affine[:3, :3] ** 2, axis=0)))


def _with_volume(s: Smoothness, n_voxels: int) -> Smoothness:
    """The same smoothness over a search volume of a different size."""
    from dataclasses import replace

    return replace(s, n_voxels=int(n_voxels), n_resels=float(n_voxels) / s.resel_size)
