"""Gaussian random field (GRF) cluster inference, as DPABI/FSL and as SPM12 do it.

Two documented methods:

``method="fsl"``
    FSL ``cluster``/``easythresh`` and DPABI's ``y_GRF_Threshold`` (Friston et al.
    1994, 3-D term only), driven by FSL's smoothness summary ``dLh``;
    26-connectivity by default. T and F maps are converted to Z first.
``method="spm"``
    SPM12: resel counts R0..R3 of the search volume, EC densities of Z, T or F
    fields (Worsley 1994; Worsley et al. 1996) and ``spm_P_RF``; 18-connectivity by
    default.

:func:`grf_cluster_correct` reads what kind of map it is given (t with its df, z, F) from the
map itself: its NIfTI intent code, its SPM/DPABI ``descrip`` (``{T_[23.0]}``) or its JSON
sidecar, and refuses a map whose kind it cannot tell unless ``stat`` is given.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from scipy import special, stats

from painmarkers._deprecation import CHANGED, deprecate_positional, resolve_changed_default
from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_interval
from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, InferenceWarning
from painmarkers.inference._conversions import f_to_z, t_to_z
from painmarkers.inference._glm_results import GLMContrastMaps, GLMResult
from painmarkers.inference._loading import load_stat_map
from painmarkers.inference._spm_rf import spm_p_rf, spm_resels_vol
from painmarkers.inference._statmaps import (
    STAT_KINDS,
    StatInfo,
    check_df,
    read_stat_info,
    tag_stat_img,
)
from painmarkers.inference.clusters import cluster_table, label_clusters
from painmarkers.inference.results import ClusterResult, Smoothness, VoxelwiseResult
from painmarkers.inference.smoothness import estimate_smoothness

__all__ = ["grf_cluster_correct", "grf_cluster_pvalue", "grf_min_cluster_size"]

_DEFAULT_CONNECTIVITY = {"fsl": 26, "spm": 18}
_EKLUND_P = 0.001
#: Below this FWHM (geometric mean over axes, in voxels) random-field theory is inaccurate:
#: the lattice is too coarse for the continuous-field approximation (Worsley 1996; Hayasaka &
#: Nichols 2003), and cluster p values are biased (usually conservative, not reliably so).
_MIN_FWHM_VOXELS = 2.0
_FOUR_LN2 = 4.0 * np.log(2.0)


def _check_p(value, name):
    return check_interval(value, name, 0.0, 1.0, closed="neither")


def _fsl_terms(z, dlh, n_voxels):
    """E[m], E[N] and β of FSL's cluster-extent distribution at threshold z."""
    em = n_voxels * (2 * np.pi) ** -2 * dlh * (z * z - 1) * np.exp(-z * z / 2)
    en = n_voxels * stats.norm.sf(z)
    beta = (special.gamma(2.5) * em / en) ** (2.0 / 3.0)
    return float(em), float(en), float(beta)


def _height(voxel_p, two_tailed, stat, df):
    """Cluster-forming threshold as a z score and in the units of the map."""
    q = voxel_p / 2.0 if two_tailed else voxel_p
    z = float(stats.norm.isf(q))
    if stat == "t":
        return z, float(stats.t.isf(q, df))
    if stat == "F":
        return z, float(stats.f.isf(q, df[0], df[1]))
    return z, z


def _pvalues(sizes, z, u, *, method, smoothness, n_voxels, stat, df, resels, two_tailed):
    sizes = np.asarray(sizes, dtype=float)
    if method == "fsl":
        em, _, beta = _fsl_terms(z, smoothness.dlh, n_voxels)
        p = -np.expm1(-em * np.exp(-beta * sizes ** (2.0 / 3.0)))
    else:
        field, dfs = _spm_field(stat, df)
        k_resels = sizes / smoothness.resel_size
        p = np.array([spm_p_rf(1, k, u, dfs, field, resels)[0] for k in k_resels.ravel()])
        p = p.reshape(sizes.shape)
    if two_tailed:
        p = np.minimum(1.0, 2.0 * p)
    if not np.all(np.isfinite(p)):  # cannot happen with a valid Smoothness; never return NaN
        raise DataError(f"GRF p values are not finite for this smoothness ({smoothness!r}).")
    return p


def _spm_field(stat, df):
    """SPM's field letter and ``[df_interest, df_error]`` of a map."""
    if stat == "t":
        return "T", [1.0, float(df)]
    if stat == "F":
        return "F", [float(df[0]), float(df[1])]
    return "Z", None


def _check_common(voxel_p, cluster_p, method, stat, df, two_tailed):
    voxel_p = _check_p(voxel_p, "voxel_p")
    cluster_p = _check_p(cluster_p, "cluster_p")
    check_choice(method, ("fsl", "spm"), "method")
    check_choice(stat, STAT_KINDS, "stat")
    if not isinstance(two_tailed, bool | np.bool_):
        raise TypeError(f"The 'two_tailed' parameter must be True or False. Got {two_tailed!r}.")
    df = check_df(stat, df)
    if stat == "F" and two_tailed:
        raise ValueError("An F map is one-tailed: pass two_tailed=False.")
    return voxel_p, cluster_p, df


def _check_smoothness(smoothness, method, resels):
    if not isinstance(smoothness, Smoothness):
        raise TypeError(
            f"The 'smoothness' parameter must be a Smoothness (see estimate_smoothness). "
            f"Got {smoothness!r}."
        )
    if method == "spm" and resels is None:
        raise ValueError("method='spm' needs the resel counts 'resels' (see spm_resels_vol).")


@fill_doc
def grf_cluster_pvalue(cluster_size, voxel_p, smoothness, *, two_tailed=CHANGED, method="fsl",
                       stat="z", df=None, resels=None):
    """Corrected GRF p value of clusters of given sizes.

    Parameters
    ----------
    cluster_size : int or array-like of int
        Cluster sizes in voxels.
    %(grf_voxel_p)s
    %(grf_smoothness)s
    %(grf_two_tailed)s
    %(grf_method)s
    %(grf_stat)s
    %(grf_df)s
    %(grf_resels)s

    Returns
    -------
    numpy.ndarray or float
        ``P(at least one cluster ≥ k)`` under the null, per size.

    Raises
    ------
    ValueError
        If a p is outside (0, 1), ``df <= 0``, or SPM lacks resels.
    TypeError
        If ``smoothness`` is not a :class:`Smoothness`.

    Notes
    -----
    FSL (Friston et al. 1994, D = 3), with V = ``smoothness.n_voxels``,
    dLh = ``smoothness.dlh`` and z* = Φ⁻¹(1 − p):
    ``E[m] = V (2π)^{−2} dLh (z*² − 1) e^{−z*²/2}`` (expected clusters),
    ``E[N] = V (1 − Φ(z*))`` (expected supra-threshold voxels),
    ``β = (Γ(5/2) E[m] / E[N])^{2/3}``,
    ``P(cluster ≥ k) = 1 − exp(−E[m] e^{−β k^{2/3}})``.
    SPM: ``spm_p_rf(1, k / resel_size, u, df, stat, resels)`` with ``df = [1, ν]`` for a T
    field and ``[k, ν]`` for an F field (F-field EC densities, Worsley 1994).

    References
    ----------
    Friston KJ et al. (1994). Assessing the significance of focal activations
    using their spatial extent. Human Brain Mapping 1:210–220.

    Examples
    --------
    >>> from painmarkers.inference import grf_cluster_pvalue, smoothness_from_fwhm
    >>> s = smoothness_from_fwhm(8.0, 3.0, 60000)
    >>> p = grf_cluster_pvalue([10, 50, 200], 0.001, s, two_tailed=True)
    >>> bool(p[0] > p[1] > p[2])
    True
    """
    two_tailed = resolve_changed_default(two_tailed, name="two_tailed", old=False, new=True,
                                         func="grf_cluster_pvalue")
    voxel_p, _, df = _check_common(voxel_p, 0.5, method, stat, df, two_tailed)
    _check_smoothness(smoothness, method, resels)
    z, u = _height(voxel_p, two_tailed, stat, df)
    sizes = np.asarray(cluster_size, dtype=float)
    if np.any(sizes < 0):
        raise ValueError(f"Cluster sizes must be >= 0. Got {cluster_size!r}.")
    p = _pvalues(sizes, z, u, method=method, smoothness=smoothness,
                 n_voxels=smoothness.n_voxels, stat=stat, df=df, resels=resels,
                 two_tailed=two_tailed)
    return p if p.ndim else float(p)


@fill_doc
def grf_min_cluster_size(voxel_p, cluster_p, smoothness, *, two_tailed=CHANGED, method="fsl",
                         stat="z", df=None, resels=None):
    """Smallest cluster size k* (voxels) whose GRF p value is below ``cluster_p``.

    Parameters
    ----------
    %(grf_voxel_p)s
    %(grf_cluster_p)s
    %(grf_smoothness)s
    %(grf_two_tailed)s
    %(grf_method)s
    %(grf_stat)s
    %(grf_df)s
    %(grf_resels)s

    Returns
    -------
    int
        The smallest integer k with ``grf_cluster_pvalue(k) < cluster_p``
        (two-tailed: the per-tail p below ``cluster_p / 2``).

    Raises
    ------
    ValueError, TypeError
        As :func:`grf_cluster_pvalue`.
    DataError
        If no finite cluster size reaches ``cluster_p``.

    Notes
    -----
    The p value decreases monotonically in k; k* is bracketed by doubling and
    then found by bisection, exactly as a linear scan would find it.

    Examples
    --------
    >>> from painmarkers.inference import grf_min_cluster_size, smoothness_from_fwhm
    >>> s = smoothness_from_fwhm(8.0, 3.0, 60000)
    >>> (grf_min_cluster_size(0.001, 0.05, s, two_tailed=True)
    ...  > grf_min_cluster_size(0.0001, 0.05, s, two_tailed=True))
    True
    """
    two_tailed = resolve_changed_default(two_tailed, name="two_tailed", old=False, new=True,
                                         func="grf_min_cluster_size")
    voxel_p, cluster_p, df = _check_common(voxel_p, cluster_p, method, stat, df, two_tailed)
    _check_smoothness(smoothness, method, resels)
    return _min_cluster_size(voxel_p, cluster_p, smoothness, two_tailed, method, stat, df,
                             resels)


def _min_cluster_size(voxel_p, cluster_p, smoothness, two_tailed, method, stat, df, resels):
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


# --- grf_cluster_correct, stage by stage ----------------------------------------------------
def _read_input(stat_img):
    """The map, what its header/sidecar say, and what a VoxelwiseResult supplies."""
    from painmarkers._validation import check_img
    from painmarkers.io.images import image_label

    if isinstance(stat_img, GLMResult):
        if len(stat_img.contrasts) != 1:
            raise ValueError(
                f"stat_img is a GLMResult with {len(stat_img.contrasts)} contrasts "
                f"{stat_img.contrast_names}: pass one of them, e.g. result[name].")
        stat_img = next(iter(stat_img.contrasts.values()))
    if isinstance(stat_img, GLMContrastMaps):
        cm = stat_img
        df = float(cm.df) if cm.stat == "t" else tuple(float(d) for d in cm.df)
        info = StatInfo(stat=cm.stat, df=df,
                        source=f"the GLM contrast {cm.name!r}",
                        n_zero_variance=cm.n_zero_variance)
        return cm.stat_img, f"stat_img (contrast {cm.name!r})", info, cm
    if isinstance(stat_img, VoxelwiseResult):
        vr = stat_img
        info = StatInfo(stat="t", df=float(vr.df), source="the VoxelwiseResult",
                        n_zero_variance=vr.n_zero_variance)
        return vr.t_img, "stat_img (VoxelwiseResult.t_img)", info, vr
    label = image_label(stat_img, "stat_img")
    img = check_img(stat_img, ndim=3, name="stat_img")
    path = stat_img if isinstance(stat_img, str | os.PathLike) else img.get_filename()
    return img, label, read_stat_info(img, path, label), None  # loaded once


def _resolve_stat(stat, df, info: StatInfo, label: str):
    """Statistic kind and df: the header's, the arguments', refusing a contradiction."""
    if stat is not None:
        check_choice(stat, STAT_KINDS, "stat")
    if stat is None and info.stat is None:
        raise DataError(
            f"Cannot tell what statistic {label} holds: its header has no NIfTI intent code "
            "(t test, z score, F test), no SPM/DPABI descrip such as '{T_[23.0]}', and it has "
            "no sidecar with 'stat'. Thresholding a t map as a z map gives wrong clusters: "
            "pass stat='t' with df=..., stat='z', or stat='F' with df=(df1, df2).")
    if stat is not None and info.stat is not None and stat != info.stat:
        raise DataError(
            f"stat={stat!r} contradicts {label}: its {info.source} says it is a "
            f"{info.stat} map" + ("" if info.df is None else f" with df = {info.df}")
            + ". Leave stat=None to use what the map says.")
    kind = stat or info.stat
    if info.df_voxelwise and kind in ("t", "F"):
        raise DataError(
            f"{label} is a {kind} map whose (denominator) degrees of freedom vary over voxels "
            f"(Satterthwaite or Kenward-Roger df of a mixed model; its {info.source or 'header'}"
            " says so). GRF needs one df for the whole field, and thresholding this map with "
            "any single df gives wrong clusters. Use the z map of the same test instead (each "
            "voxel's statistic converted to z through its own p value: "
            "VoxelwiseLMMResult.z_img(name), saved as *_z.nii.gz, which carries the residual "
            "smoothness), or permutation inference.")
    if df is not None and info.df is not None and kind != "z":
        given = check_df(kind, df)
        if not np.allclose(np.atleast_1d(given), np.atleast_1d(info.df), rtol=1e-6,
                           atol=0.051):
            raise DataError(
                f"df={df!r} contradicts {label}: its {info.source} says df = {info.df}. Leave "
                "df=None to use the map's degrees of freedom.")
    df = df if df is not None else info.df
    source = info.source if (stat is None or info.stat is not None) else "the arguments"
    return kind, df, source


def _to_z(data, mask, stat, df):
    if stat == "t":
        z = t_to_z(data, df)
    elif stat == "F":
        z = np.zeros_like(data)
        z[mask] = f_to_z(data[mask], df)
    else:
        z = data
    return np.where(mask, z, 0.0)


def _vsize(img):
    return tuple(float(v) for v in np.sqrt(np.sum(img.affine[:3, :3] ** 2, axis=0)))


def _header_smoothness(info: StatInfo, img, n_voxels: int) -> Smoothness:
    """DPABI's ``{dLh_}{FWHMx_..mm}``: dLh used as given (it already holds the dof correction)."""
    vox = np.array(_vsize(img))
    if info.fwhm_mm is not None:
        fwhm_vox = np.asarray(info.fwhm_mm, dtype=float) / vox
    else:  # only dLh: the isotropic FWHM with that dLh
        fwhm_vox = np.full(3, (_FOUR_LN2 ** 1.5 / info.dlh) ** (1.0 / 3.0))
    resel = float(np.prod(fwhm_vox))
    return Smoothness(
        fwhm_mm=tuple(float(v) for v in fwhm_vox * vox),
        fwhm_voxels=tuple(float(v) for v in fwhm_vox), dlh=float(info.dlh),
        n_voxels=int(n_voxels), resel_size=resel, n_resels=n_voxels / resel,
        voxel_size=tuple(float(v) for v in vox),
        sigma_sq=tuple(float(v) for v in fwhm_vox ** 2 / (8 * np.log(2))), source="header",
        parameters={"source": "header", "dlh": info.dlh, "fwhm_mm": info.fwhm_mm})


def _resolve_smoothness(smoothness, vr, info: StatInfo, img, zdata, mask, label):
    """The smoothness GRF uses, and where it came from."""
    if smoothness is not None:
        if not isinstance(smoothness, Smoothness):
            raise TypeError(
                f"The 'smoothness' parameter must be a Smoothness. Got {smoothness!r}.")
        return smoothness, "the 'smoothness' argument"
    if vr is not None and vr.smoothness is not None:
        kind = "GLM" if isinstance(vr, GLMContrastMaps) else "VoxelwiseResult"
        return vr.smoothness, f"the {kind} (residuals)"
    if info.smoothness:
        try:
            return Smoothness.from_dict(info.smoothness), f"the sidecar of {label}"
        except (TypeError, ValueError) as exc:
            raise DataError(f"The smoothness in the sidecar of {label} is not valid: {exc}") \
                from exc
    if info.dlh is not None:
        return (_header_smoothness(info, img, int(mask.sum())),
                f"the descrip of {label} (DPABI convention)")
    return (estimate_smoothness(zdata, mask, voxel_size=_vsize(img)),
            f"{label} itself (no residuals)")


def _with_volume(s: Smoothness, n_voxels: int) -> Smoothness:
    """The same smoothness over a search volume of a different size."""
    from dataclasses import replace

    return replace(s, n_voxels=int(n_voxels), n_resels=float(n_voxels) / s.resel_size)


@fill_doc
@deprecate_positional(two_tailed=3)
def grf_cluster_correct(stat_img, voxel_p=0.001, cluster_p=0.05, *, two_tailed=True, stat=None,
                        df=None, smoothness=None, mask_img=None, connectivity=None,
                        method="fsl", atlas=True):
    """Cluster-level family-wise correction of a t, z or F map by Gaussian random field theory.

    Parameters
    ----------
    stat_img : path, nibabel image, VoxelwiseResult or GLMContrastMaps
        The statistic map. Its kind and df are read from the map: NIfTI intent code
        (``t test`` with ``p1 = df``, ``z score``, ``f test`` with ``p1, p2``), SPM/DPABI
        descrip (``{T_[23.0]}``), or the JSON sidecar painmarkers writes next to it
        (``tmap.json``). A :class:`VoxelwiseResult` or the maps of one contrast of a
        :func:`voxelwise_glm` (``result[name]``, a :class:`GLMContrastMaps`; a
        :class:`GLMResult` with one contrast) supplies its t or F map, df, mask and
        residual smoothness.
    %(voxel_p)s
        A warning is emitted above 0.001 (see Warns).
    %(cluster_p)s
    %(two_tailed)s
        Each tail is tested at half ``cluster_p`` (DPABI). Keyword-only (positional use
        is deprecated). An F map needs ``two_tailed=False``.
    stat : {"t", "z", "F"} or None, default=None
        Kind of map, needed only when the map does not say (no intent code, descrip or
        sidecar); if the map says something else, the call is refused. T and F maps are
        converted to Z (tail-matched) for ``method="fsl"`` (as FSL and DPABI do);
        ``method="spm"`` thresholds a T or F map in its own units with T- or F-field EC
        densities (as SPM does).
    df : float, pair of floats, or None, default=None
        Degrees of freedom of a t map (``(df1, df2)`` of an F map), needed only when the
        map does not carry them; a value contradicting the map is refused.
    smoothness : Smoothness or None, default=None
        Smoothness of the field, ideally from the residuals (:func:`estimate_smoothness`).
        None takes, in this order: the residual smoothness of a VoxelwiseResult or GLM
        contrast, the map's sidecar, DPABI's ``{dLh_...}{FWHMx_...mm}`` in its descrip
        (used as DPABI uses it), or else an estimate from the map itself, with a warning
        (what DPABI does without residuals).
    mask_img : path, nibabel image or None, default=None
        Search volume (voxels > 0); None uses the voxels of the map that are finite and
        non-zero (the NaN voxels left out are counted in
        ``parameters["n_nonfinite_excluded"]``).
    connectivity : {6, 18, 26} or None, default=None
        None: 26 for ``"fsl"``, 18 for ``"spm"``.
    %(grf_method)s
    atlas : bool, default=True
        Add AAL and Harvard–Oxford labels at each peak.

    Returns
    -------
    ClusterResult
        Thresholded map, cluster labels, cluster p map, the cluster table and
        provenance (where stat, df and smoothness were read from, heights, k*, dLh,
        FWHM, resels, E[m], E[N], β, the zero-variance count when known).

    Raises
    ------
    DataError
        A map whose kind cannot be told (and no ``stat``), a ``stat`` or ``df``
        contradicting the map's header, a header contradicting itself, NaN in the map
        inside an explicit mask; a t or F map whose df vary over voxels (the maps of
        :func:`voxelwise_lmm`: GRF needs one df; correct their z maps instead).
    ImageError
        Map and mask on different grids; an empty mask or search volume.
    ValueError
        p outside (0, 1), ``df <= 0`` or missing for a t map, an F map with
        ``two_tailed=True``, a smoothness with NaN FWHM, a GLMResult with several
        contrasts.

    Warns
    -----
    InferenceWarning
        If ``voxel_p > 0.001``: Eklund et al. (2016) showed that GRF cluster
        inference then inflates the family-wise error rate (up to 70 %), because
        the Gaussian-autocorrelation and stationarity assumptions fail most at
        lenient thresholds. Also when smoothness is estimated from the map, and
        when the smoothness (FWHM, geometric mean over axes) is below 2 voxels:
        random-field theory assumes a field sampled finely relative to its
        smoothness and is inaccurate below that (Hayasaka & Nichols 2003); use
        :func:`permutation_cluster_correct` then.

    Notes
    -----
    Clusters are the connected components of ``z > z*`` (and ``z < −z*``);
    each cluster's corrected p is :func:`grf_cluster_pvalue` of its size; a
    cluster is significant when its p is below ``cluster_p`` — equivalently,
    when its size is at least ``k* =`` :func:`grf_min_cluster_size`. The
    search volume V is the number of mask voxels. A DPABI T map (descrip
    ``DPABI{T_[df]}{dLh_...}{FWHMx_...mm}``) is thus corrected as DPABI's
    ``y_GRF_Threshold`` does: its df, and its dLh when it is not 0.

    References
    ----------
    Eklund A, Nichols TE, Knutsson H (2016). Cluster failure: why fMRI
    inferences for spatial extent have inflated false-positive rates. PNAS
    113:7900–7905. Hayasaka S, Nichols TE (2003). Validating cluster size
    inference: random field and permutation methods. NeuroImage 20:2343–2356.
    Friston KJ et al. (1994), Worsley KJ et al. (1996); see
    :func:`grf_cluster_pvalue` and :func:`spm_p_rf`.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.inference import grf_cluster_correct, smoothness_from_fwhm
    >>> z = np.zeros((20, 20, 20)); z[5:10, 5:10, 5:10] = 5.0
    >>> img = nib.Nifti1Image(z, np.eye(4))
    >>> mask = nib.Nifti1Image(np.ones(z.shape, np.uint8), np.eye(4))
    >>> res = grf_cluster_correct(img, 0.001, 0.05, stat="z", mask_img=mask, atlas=False,
    ...                           smoothness=smoothness_from_fwhm(3.0, 1.0, 8000))
    >>> res.n_significant, int(res.clusters.loc[0, "size_voxels"])
    (1, 125)
    """
    _check_common(voxel_p, cluster_p, method, "z", None, two_tailed)  # before reading the map
    if connectivity is None:
        connectivity = _DEFAULT_CONNECTIVITY[method]
    check_choice(connectivity, (6, 18, 26), "connectivity")
    source, label, info, vr = _read_input(stat_img)
    stat, df, stat_from = _resolve_stat(stat, df, info, label)
    voxel_p, cluster_p, df = _check_common(voxel_p, cluster_p, method, stat, df, two_tailed)
    if voxel_p > _EKLUND_P:
        warn(f"Cluster-forming threshold voxel_p={voxel_p:g} is more lenient than 0.001: GRF "
             "cluster inference then has an inflated family-wise error rate (Eklund et al. "
             "2016). Use voxel_p <= 0.001 or permutation_cluster_correct.", InferenceWarning)
    if vr is not None and mask_img is None:
        mask_img = vr.mask_img
    img, data, mask, _, n_nonfinite = load_stat_map(source, mask_img)
    zdata = _to_z(data, mask, stat, df)
    n_voxels = int(mask.sum())
    smoothness, smooth_from = _resolve_smoothness(smoothness, vr, info, img, zdata, mask, label)
    if smoothness.n_voxels != n_voxels:
        smoothness = _with_volume(smoothness, n_voxels)
    _check_fwhm(smoothness)

    resels = spm_resels_vol(mask, smoothness.fwhm_voxels) if method == "spm" else None
    z_star, u = _height(voxel_p, two_tailed, stat, df)
    if method == "spm" and stat in ("t", "F"):
        field, thr = data, u  # SPM thresholds T and F fields in their own units
    else:
        field, thr = zdata, z_star
    labels, signs = label_clusters(field, thr, mask=mask, connectivity=connectivity,
                                   two_tailed=two_tailed)
    n_clusters = len(signs)
    sizes = np.bincount(labels.ravel(), minlength=n_clusters + 1)[1:]
    pvals = _pvalues(sizes, z_star, u, method=method, smoothness=smoothness, n_voxels=n_voxels,
                     stat=stat, df=df, resels=resels, two_tailed=two_tailed)
    k_star = _min_cluster_size(voxel_p, cluster_p, smoothness, two_tailed, method, stat, df,
                               resels)
    return _cluster_result(
        img, data, labels, signs, pvals, k_star, stat=stat, df=df, method=method,
        voxel_p=voxel_p, cluster_p=cluster_p, two_tailed=bool(two_tailed), z_star=z_star, u=u,
        connectivity=int(connectivity), smoothness=smoothness, n_voxels=n_voxels,
        resels=resels, atlas=atlas, n_zero_variance=info.n_zero_variance,
        provenance={"stat_from": stat_from, "smoothness_from": smooth_from,
                    "n_nonfinite_excluded": n_nonfinite})


def _check_fwhm(smoothness: Smoothness) -> None:
    """Warn when the field is too rough for random-field theory (FWHM < 2 voxels)."""
    fwhm = np.asarray(smoothness.fwhm_voxels, dtype=float)
    mean = float(np.prod(fwhm) ** (1.0 / 3.0))
    if mean < _MIN_FWHM_VOXELS:
        mm = ", ".join(f"{v:.1f}" for v in smoothness.fwhm_mm)
        warn(f"The estimated smoothness is FWHM {mean:.2f} voxels (geometric mean; {mm} mm "
             f"along x, y, z), below {_MIN_FWHM_VOXELS:g} voxels: Gaussian random field "
             "theory is inaccurate on so rough a field (Hayasaka & Nichols 2003), so the "
             "GRF cluster p values are not reliable. Use permutation_cluster_correct "
             "(permutation inference), or smooth the maps more / analyse them on a finer "
             "grid.", InferenceWarning)


def _cluster_result(img, data, labels, signs, pvals, k_star, *, stat, df, method, voxel_p,
                    cluster_p, two_tailed, z_star, u, connectivity, smoothness, n_voxels,
                    resels, atlas, n_zero_variance, provenance) -> ClusterResult:
    """Cluster table, maps (with their intent) and provenance of a GRF correction."""
    import nibabel as nib

    sig = pvals < cluster_p
    table = cluster_table(img, labels, signs, p_values=pvals, significant=sig, stat=stat,
                          df=df, atlas=atlas)
    keep = np.r_[False, sig]

    def mk(arr, dtype, kind=None):
        out = nib.Nifti1Image(arr.astype(dtype), img.affine)
        out.header.set_xyzt_units("mm")
        if kind == "p":
            out.header.set_intent("p value", (), name="cluster p")
        elif kind is not None:
            tag_stat_img(out, kind, df)
        return out

    pmap = np.ones(data.shape)
    pmap[labels > 0] = pvals[labels[labels > 0] - 1]
    params: dict[str, Any] = {**provenance, "z_threshold_per_tail": z_star,
                              "n_clusters": len(signs)}
    if method == "fsl":
        em, en, beta = _fsl_terms(z_star, smoothness.dlh, n_voxels)
        params.update(expected_clusters=em, expected_voxels=en, beta=beta, dlh=smoothness.dlh)
    else:
        field, dfs = _spm_field(stat, df)
        P0, _, ec, ek, _ = spm_p_rf(1, 0, u, dfs, field, resels)
        params.update(resels=resels.tolist(), expected_clusters=ec,
                      expected_resels_per_cluster=ek, fwe_p_height=P0)
    # the map as given (values outside the search volume kept), with its kind in its header
    header = img.header if isinstance(img.header, nib.Nifti1Header) else None
    stat_img = tag_stat_img(nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, header),
                            stat, df)
    return ClusterResult(
        stat_img=stat_img,
        thresholded_img=mk(np.where(keep[labels], data, 0.0), np.float32, stat),
        label_img=mk(labels, np.int32), clusters=table, method=method, stat=stat,
        voxel_p=voxel_p, cluster_p=cluster_p, two_tailed=two_tailed,
        height_threshold=u if stat in ("t", "F") else z_star, z_threshold=z_star,
        min_cluster_size=k_star, connectivity=connectivity, df=df,
        smoothness=smoothness, n_mask_voxels=n_voxels, p_img=mk(pmap, np.float32, "p"),
        parameters=params, n_zero_variance=n_zero_variance,
    )
