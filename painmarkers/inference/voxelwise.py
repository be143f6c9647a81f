"""Voxelwise group t maps: one-sample, two-sample, paired (DPABI) and correlation.

Every design is an ordinary least-squares GLM with optional covariates, built by the one
design builder (:mod:`painmarkers.inference._design`) and solved for all in-mask voxels at
once. Images are streamed in blocks by the one image loader
(:mod:`painmarkers.inference._loading`) and only sufficient statistics are kept (``X'Y``,
``Σy²`` and the lag-1 neighbour products needed for the residual smoothness), so memory does
not grow with the number of images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from painmarkers._deprecation import rename_parameters
from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_n_jobs, check_positive_int
from painmarkers.inference._conversions import t_to_z
from painmarkers.inference._design import DESIGNS, Design, build_design
from painmarkers.inference._loading import MaskedStream, to_img
from painmarkers.inference._statmaps import tag_stat_img
from painmarkers.inference.results import VoxelwiseResult
from painmarkers.inference.smoothness import (
    DOF_CORRECTIONS,
    neighbour_indices,
    smoothness_from_sums,
)

__all__ = ["voxelwise_ttest"]


@dataclass
class _Sums:
    """Sufficient statistics accumulated over the image blocks (data shifted by image 0)."""

    xty: np.ndarray
    yy: np.ndarray
    shift: np.ndarray
    cross: np.ndarray | None
    neighbours: tuple | None


def _accumulate(stream: MaskedStream, x: np.ndarray, block_size: int, n_jobs,
                smoothness: bool) -> _Sums:
    """Stream the images once: ``X'Y``, ``Σy²`` and the lag-1 neighbour products."""
    n_cand = stream.fidx[0].size
    neighbours = cross = None
    if smoothness:
        used, nbx, nby, nbz = neighbour_indices(stream.mask)
        neighbours = (used, nbx, nby, nbz)
        cross = np.zeros((3, used.size))
    xty = np.zeros((x.shape[1], n_cand))
    yy = np.zeros(n_cand)
    shift = None
    for idx, yb in stream.blocks(block_size, n_jobs):
        if shift is None:
            shift = yb[0].copy()
        yb -= shift
        xty += x[idx].T @ yb
        yy += np.einsum("ij,ij->j", yb, yb)
        if smoothness:
            # voxel-major copy: gathering whole rows is ~2x faster than gathering columns
            yt = np.ascontiguousarray(yb.T)
            yu = yt[neighbours[0]]
            for d, nb in enumerate(neighbours[1:]):
                cross[d] += np.einsum("ij,ij->i", yu, yt[nb])
    return _Sums(xty=xty, yy=yy, shift=shift, cross=cross, neighbours=neighbours)


def _fit(design: Design, x: np.ndarray, sums: _Sums):
    """OLS estimates: effect, t, Cohen's d, r, residual SS and the zero-variance voxels."""
    n = design.n
    df = float(design.df)
    gram_inv = np.linalg.inv(x.T @ x)
    b_shift = gram_inv @ sums.xty
    rss = sums.yy - np.einsum("pv,pv->v", b_shift, sums.xty)
    ones_coef = np.linalg.lstsq(x, np.ones(n), rcond=None)[0]
    beta = b_shift + np.outer(ones_coef, sums.shift)
    contrast = design.contrast
    effect = contrast @ beta
    var_c = float(contrast @ gram_inv @ contrast)
    tol = 1e-12 * np.maximum(sums.yy, np.finfo(float).tiny)
    zero_var = (rss <= tol) | (sums.yy == 0)
    rss = np.where(zero_var, 0.0, np.maximum(rss, 0.0))
    sigma = np.sqrt(rss / df)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(zero_var, 0.0, effect / (sigma * np.sqrt(var_c)))
    r_map = None
    if design.kind == "correlation":
        r_map = t / np.sqrt(df + t * t)
        with np.errstate(divide="ignore"):
            d = 2 * r_map / np.sqrt(1 - r_map ** 2)
    elif design.kind == "paired":
        d = t / np.sqrt(design.info["n_pairs"])
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(zero_var, 0.0, effect / sigma)
    return effect, t, d, r_map, rss, b_shift, zero_var


def _residual_smoothness(sums: _Sums, b_shift, rss, ok, n, df, voxel_size, dof_correction):
    """FSL smoothest on the standardised residuals, from the accumulated sums."""
    used, nbx, nby, nbz = sums.neighbours
    sd = np.sqrt(rss / (n - 1))
    good = ok[used] & ok[nbx] & ok[nby] & ok[nbz]
    u = used[good]
    ss = []
    for dd, nb in enumerate((nbx, nby, nbz)):
        nbg = nb[good]
        res_cross = sums.cross[dd][good] - np.einsum("pv,pv->v", sums.xty[:, u],
                                                     b_shift[:, nbg])
        ss.append(float(np.sum(res_cross / (sd[u] * sd[nbg]))))
    s2 = [float(good.sum() * (n - 1))] * 3
    return smoothness_from_sums(ss, s2, int(good.sum()), int(ok.sum()), voxel_size, df,
                                "residuals", dof_correction=dof_correction)


# --- estimation ------------------------------------------------------------------------------
@fill_doc
@rename_parameters(groups="labels", group_order="levels")
def voxelwise_ttest(imgs, design="one_sample", *, labels=None, levels=None, subjects=None,
                    variable=None, covariates=None, center_covariates=True, mask_img=None,
                    estimate_smoothness=True, dof_correction="fsl", block_size=64,
                    n_jobs=None):
    """Voxelwise group t test (OLS GLM) with t, z, effect, Cohen's d and smoothness.

    Parameters
    ----------
    %(imgs_maps)s
    design : {"one_sample", "two_sample", "paired", "correlation"}, default="one_sample"
        - ``"one_sample"``: mean ≠ 0 (intercept + covariates).
        - ``"two_sample"``: Student (pooled variance) difference between the two
          levels of ``labels``; one indicator column per group.
        - ``"paired"``: DPABI's model: a ±1 condition column (``+1`` for the first
          level) plus one dummy per subject; df = n_pairs − 1 − covariates.
        - ``"correlation"``: association with ``variable`` (e.g. VAS), partial on
          the covariates.
    %(labels)s
    %(levels_labels)s
    subjects : array-like or None, default=None
        Subject id per image (paired).
    variable : array-like or None, default=None
        Subject-level variable per image (correlation); a named Series names the column.
    covariates : DataFrame, mapping, array-like or None, default=None
        Nuisance covariates, one row per image, numeric. Missing values raise (never
        dropped).
    %(center_covariates)s
    %(mask_img_maps)s
    %(estimate_smoothness)s
    %(dof_correction)s
    block_size : int, default=64
        Images read per block (memory ∝ block_size × voxels).
    %(n_jobs)s
        Threads (joblib) read the images of a block.

    Returns
    -------
    VoxelwiseResult
        ``t_img`` (NIfTI intent t test, ``p1 = df``), ``z_img`` (intent z score),
        ``effect_img``, ``cohen_d_img``, ``r_img`` (correlation only), ``mask_img``,
        ``df``, ``n``, ``design_matrix``, ``smoothness``, ``n_zero_variance`` and the
        parameters. ``to_frame()`` lists, per in-mask voxel: i, j, k, x, y, z, t,
        z_score, effect, cohen_d, r.

    Raises
    ------
    ImageError
        If the maps (or the mask) differ in shape or affine — the message
        names the offending map and the first one — or the mask is empty.
    DataError
        Non-finite values inside an explicit mask (map and voxel named), missing or
        non-numeric covariates, wrong lengths.
    DesignError
        Unknown or missing labels, an argument the design does not use, a paired design
        with unmatched subjects, a rank-deficient design (the columns are named), df < 1.

    Notes
    -----
    With design X (n × p), contrast c and data Y:
    ``β = (X'X)⁻¹X'Y``, ``σ² = ‖Y − Xβ‖² / (n − p)``,
    ``t = c'β / sqrt(σ² c'(X'X)⁻¹c)``, df = n − p; z is the tail-matched
    normal quantile (:func:`t_to_z`). The effect is ``c'β`` (for paired, the
    mean difference ``2β``). Cohen's d: ``c'β / σ`` for one- and two-sample
    (classical d with pooled SD without covariates), ``d_z = t / sqrt(n_pairs)``
    for paired, and ``2r / sqrt(1 − r²)`` for correlation, where the partial
    correlation is ``r = t / sqrt(df + t²)``.

    Zero-variance voxels (residual sum of squares below 1e-12 of the data's, e.g. a voxel
    constant over images, or fitted exactly by the design) get t = z = d = 0 and are
    counted in ``n_zero_variance`` (shown by ``summary()``): they stay in the mask (and in
    a GRF search volume) but can never enter a cluster, and they are left out of the
    smoothness estimate.

    Sums are accumulated in float64 on data shifted by the first image (exact
    because every design spans the constant), so precision does not depend on
    the data's offset.

    References
    ----------
    Yan CG, Wang XD, Zuo XN, Zang YF (2016). DPABI: Data Processing & Analysis
    for (resting-state) brain imaging. Neuroinformatics 14:339–351.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.inference import voxelwise_ttest
    >>> rng = np.random.default_rng(0)
    >>> imgs = [nib.Nifti1Image(rng.normal(1.0, 1.0, (8, 8, 8)).astype("float32"), np.eye(4))
    ...         for _ in range(12)]
    >>> res = voxelwise_ttest(imgs, estimate_smoothness=False)
    >>> res.df, res.n_voxels
    (11.0, 512)
    >>> res.t_img.header.get_intent()[:2]
    ('t test', (11.0,))
    """
    check_choice(design, DESIGNS, "design")
    check_choice(dof_correction, DOF_CORRECTIONS, "dof_correction")
    block_size = check_positive_int(block_size, "block_size")
    n_jobs = check_n_jobs(n_jobs)
    stream = MaskedStream(imgs, mask_img)
    des = build_design(design, stream.n, labels=labels, levels=levels, subjects=subjects,
                       variable=variable, covariates=covariates,
                       center_covariates=center_covariates)
    x = des.matrix.to_numpy(dtype=float)
    n, df = des.n, float(des.df)

    sums = _accumulate(stream, x, block_size, n_jobs, estimate_smoothness)
    mask, keep, n_excluded, n_partial = stream.finish()
    effect, t, d, r_map, rss, b_shift, zero_var = _fit(des, x, sums)
    z = t_to_z(t, df)

    affine = stream.stack.affine
    smooth = None
    if estimate_smoothness:
        vsize = tuple(float(v) for v in np.sqrt(np.sum(affine[:3, :3] ** 2, axis=0)))
        smooth = _residual_smoothness(sums, b_shift, rss, keep & ~zero_var, n, df, vsize,
                                      dof_correction)

    def img(values):
        return to_img(np.asarray(values)[keep], mask, affine)

    params = {
        "design": design, "images": stream.stack.labels,
        "labels": None if labels is None else
        [str(g) for g in np.asarray(labels, dtype=object).ravel()],
        "levels": None if des.levels is None else [str(v) for v in des.levels],
        "subjects": None if subjects is None else
        [str(s) for s in np.asarray(subjects, dtype=object).ravel()],
        "covariates": des.covariate_names,
        "center_covariates": bool(center_covariates),
        "mask": "given" if stream.explicit else "finite and non-zero in every image",
        "n_voxels_excluded": n_excluded, "n_partial_coverage": n_partial,
        "dof_correction": dof_correction if estimate_smoothness else None,
        "effect_scale": des.scale, **des.info,
    }
    n_zero = int((zero_var & keep).sum())
    return VoxelwiseResult(
        t_img=tag_stat_img(img(t), "t", df, smooth), z_img=tag_stat_img(img(z), "z"),
        effect_img=img(effect * des.scale), cohen_d_img=img(d),
        r_img=None if r_map is None else img(r_map),
        mask_img=to_img(np.ones(int(mask.sum()), np.uint8), mask, affine, dtype=np.uint8),
        df=df, n=n, design=design, contrast=des.label, design_matrix=des.matrix,
        smoothness=smooth, n_voxels=int(mask.sum()), n_zero_variance=n_zero,
        parameters=params,
    )
