"""The general voxelwise GLM: any design, t and F contrasts, within-subject designs.

:func:`voxelwise_glm` fits ``Y = Xβ + ε`` at every in-mask voxel at once (one SVD of X, the
data processed in blocks of voxels), for a design given as a matrix or as a formula on a
table, optionally with one effect per subject (repeated measures, as SPM's flexible
factorial with a subject factor and DPABI's mixed-effect module), and returns the maps of
every contrast (:class:`GLMContrastMaps`) with their kind and df in their headers, and the
residual smoothness for :func:`~painmarkers.inference.grf_cluster_correct`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_n_jobs
from painmarkers.inference._contrasts import Contrast, parse_contrasts
from painmarkers.inference._conversions import t_to_z
from painmarkers.inference._design import GLMDesign, build_glm_design
from painmarkers.inference._glm_results import GLMContrastMaps, GLMResult
from painmarkers.inference._loading import load_masked, to_img
from painmarkers.inference._statmaps import tag_stat_img
from painmarkers.inference.smoothness import (
    DOF_CORRECTIONS,
    neighbour_indices,
    smoothness_from_sums,
)

__all__ = ["voxelwise_glm"]

_BLOCK_VALUES = 4_000_000  # values of one voxel block (n images × voxels)
_Z_MAX = float(stats.norm.isf(1e-300))  # the z of the smallest p nilearn keeps


@dataclass
class _ContrastArrays:
    """Per-voxel numbers of one contrast."""

    effect: np.ndarray  # (k, V)
    se: np.ndarray      # (k, V)
    stat: np.ndarray    # (V,)
    z: np.ndarray
    p: np.ndarray


def _blocks(n_rows: int, n_voxels: int):
    size = max(1, _BLOCK_VALUES // max(n_rows, 1))
    for start in range(0, n_voxels, size):
        yield slice(start, min(n_voxels, start + size))


def fit_glm(data: np.ndarray, design: GLMDesign, contrasts: list[Contrast], *,
            two_tailed: bool = True, keep_residuals: bool = False):
    """OLS fit of every voxel (columns of ``data``) and the maps of every contrast.

    ``data`` (n × V, float64) is overwritten by the residuals when ``keep_residuals``.
    Returns ``(arrays per contrast, rss, zero_variance)``.

    With ``X = U S Vᵀ`` (rank r): ``β = V S⁻¹ Uᵀ Y`` (the minimum-norm least-squares
    solution, unique for estimable contrasts), ``e = Y − U Uᵀ Y``, ``σ² = eᵀe / (n − r)``;
    for a contrast C (k × p): ``Cβ``, ``Cov(Cβ) = σ² M Mᵀ`` with ``M = C V S⁻¹``;
    ``t = cβ / sqrt(σ² m mᵀ)``; ``F = (Cβ)ᵀ (M Mᵀ)⁻¹ (Cβ) / (k σ²)``.
    """
    u, s, vt = design.svd()
    pinv = (vt.T / s) @ u.T
    df = float(design.df)
    n_vox = data.shape[1]
    rss = np.empty(n_vox)
    yy = np.empty(n_vox)
    effects = [np.empty((c.k, n_vox)) for c in contrasts]
    for sl in _blocks(data.shape[0], n_vox):
        y = data[:, sl]
        beta = pinv @ y
        for c, eff in zip(contrasts, effects):
            eff[:, sl] = c.matrix @ beta
        resid = y - u @ (u.T @ y)
        rss[sl] = np.einsum("ij,ij->j", resid, resid)
        yy[sl] = np.einsum("ij,ij->j", y, y)
        if keep_residuals:
            data[:, sl] = resid
    # an exact fit (constant voxel, or data in the column space of X) leaves round-off only
    zero_var = rss <= 1e-20 * yy
    rss = np.where(zero_var, 0.0, rss)
    sigma2 = rss / df
    out = []
    for c, eff in zip(contrasts, effects):
        m = c.matrix @ vt.T / s            # (k, r)
        cov = m @ m.T                      # Cov(Cβ) / σ²
        se = np.sqrt(np.outer(np.diag(cov), sigma2))
        with np.errstate(divide="ignore", invalid="ignore"):
            if c.stat == "t":
                stat = np.where(zero_var, 0.0, eff[0] / se[0])
                z = t_to_z(stat, df)
                p = (2.0 * stats.t.sf(np.abs(stat), df) if two_tailed
                     else stats.t.sf(stat, df))
            else:
                chol = np.linalg.cholesky(cov)
                w = np.linalg.solve(chol, eff)
                stat = np.where(zero_var, 0.0, np.einsum("ij,ij->j", w, w) / (c.k * sigma2))
                p = stats.f.sf(stat, c.k, df)
                z = _f_to_z(stat, c.k, df)
        p = np.where(zero_var, 1.0, p)
        z = np.where(zero_var, 0.0, z)
        out.append(_ContrastArrays(effect=eff, se=se, stat=stat, z=z, p=p))
    return out, rss, zero_var


def _f_to_z(f: np.ndarray, k: float, df: float) -> np.ndarray:
    """Tail-matched z of F: ``Φ⁻¹(P(F ≤ f))``, from whichever tail is accurate."""
    upper = f >= stats.f.median(k, df)
    z = np.empty_like(f)
    with np.errstate(divide="ignore"):
        z[upper] = -special.ndtri_exp(stats.f.logsf(f[upper], k, df))
        z[~upper] = special.ndtri_exp(stats.f.logcdf(f[~upper], k, df))
    return np.clip(z, -_Z_MAX, None)


def residual_smoothness(resid: np.ndarray, rss: np.ndarray, ok: np.ndarray, mask: np.ndarray,
                        voxel_size, df: float, dof_correction: str):
    """FSL ``smoothest`` on the standardised residuals (columns of ``resid`` = mask voxels).

    The same arithmetic as :func:`voxelwise_ttest`'s: each voxel's residuals divided by
    ``sqrt(RSS / (n − 1))``; lag-1 products summed over voxels whose −x, −y, −z neighbours
    are in the mask (zero-variance voxels left out).
    """
    n = resid.shape[0]
    used, nbx, nby, nbz = neighbour_indices(mask)
    sd = np.sqrt(rss / (n - 1))
    good = ok[used] & ok[nbx] & ok[nby] & ok[nbz]
    uu = used[good]
    ss = []
    for nb in (nbx, nby, nbz):
        nbg = nb[good]
        total = 0.0
        for sl in _blocks(2 * n, uu.size):
            a, b = uu[sl], nbg[sl]
            cross = np.einsum("ij,ij->j", resid[:, a], resid[:, b])
            total += float(np.sum(cross / (sd[a] * sd[b])))
        ss.append(total)
    s2 = [float(good.sum() * (n - 1))] * 3
    return smoothness_from_sums(ss, s2, int(good.sum()), int(ok.sum()), voxel_size, df,
                                "residuals", dof_correction=dof_correction)


@fill_doc
def voxelwise_glm(imgs, design, contrasts, *, data=None, subject=None, subjects=None,
                  mask_img=None, two_tailed=True, estimate_smoothness=True,
                  dof_correction="fsl", n_jobs=None):
    """Voxelwise general linear model: any design, t and F contrasts, subject effects.

    Parameters
    ----------
    %(imgs_maps)s
        The rows of the design follow their order.
    design : str, pandas.DataFrame or 2-D array
        A formula ``"~ arm * session + age"`` on ``data`` (formulaic, patsy's column
        names; categorical variables in treatment coding, the reference being the first
        level: a pandas Categorical's first category, else the first sorted value), or
        the design matrix itself (columns = regressors, names from the DataFrame; include
        the intercept column yourself). A numeric column of ``data`` is a covariate unless
        wrapped in ``C(...)``. A :class:`GLMResult`'s ``design`` is accepted too.
    contrasts : str, array-like, list or dict
        What to test. A t contrast is a column name (``"arm[T.active]:session[T.post]"``),
        a linear combination of column names (``"session[T.post] - session[T.fu]"``,
        ``"0.5*a + 0.5*b"``) or a vector of weights over the model's columns. An F
        contrast is a 2-D array (one row per tested combination), a list of t contrasts,
        or the name of a formula term with several columns (``"session"``,
        ``"arm:session"``: all its columns). Give several as a list, or as a dict
        ``{name: contrast}`` to name them.
    data : pandas.DataFrame or None, default=None
        One row per image (same order as ``imgs``): the variables of a formula design and
        the ``subject`` column. Missing values in a used column raise (never dropped).
    subject : str or None, default=None
        The subject-id column of ``data``: adds one effect (dummy column) per subject.
    subjects : array-like or None, default=None
        One subject id per image (instead of ``subject``): adds one effect per subject.
    %(mask_img_maps)s
    two_tailed : bool, default=True
        Tails of the p maps of t contrasts: two-tailed (``2·P(T > |t|)``) or one-tailed
        (``P(T > t)``, contrast > 0). F maps are one-tailed by nature; z maps are
        tail-matched and signed either way.
    %(estimate_smoothness)s
    %(dof_correction)s
    %(n_jobs)s
        Threads (joblib) read the images.

    Returns
    -------
    GLMResult
        ``result[name]`` is the :class:`GLMContrastMaps` of a contrast: ``effect_img``
        (Cβ; 4-D with one volume per row for F), ``se_img`` (its standard error),
        ``stat_img`` (t or F; NIfTI intent ``t test`` with ``p1 = df`` or ``f test`` with
        ``p1, p2 = k, df``, SPM/DPABI descrip with the smoothness), ``z_img`` (tail-matched
        z), ``p_img``, ``df``. Also the design (``design``, ``design_matrix``), the residual
        variance map, the residual smoothness, ``n_zero_variance``, the parameters.
        ``to_frame()`` has one row per contrast: ``contrast``, ``stat``, ``df_num``,
        ``df_den``, ``n``, ``n_voxels``, ``stat_max``, ``stat_min``, ``p_min``,
        ``n_p_below_001``.

    Raises
    ------
    DesignError
        A rank-deficient model matrix (the dependent column and those it combines are
        named), a contrast not in the row space of the design (named; e.g. a group effect
        with subject effects), an unknown column in a contrast, F rows linearly dependent,
        df < 1.
    DataError
        Wrong numbers of rows, missing or non-numeric values (images named), a formula
        variable that is not a column of ``data``.
    ImageError
        Maps or mask on different grids (the map is named), an empty mask.
    ValueError
        A formula with a response or a random-effect term; a bad option.

    Notes
    -----
    The model ``Y = Xβ + ε``, ``ε ~ N(0, σ² I)``, is fitted by ordinary least squares at
    every voxel. With the SVD ``X = U S Vᵀ`` of rank r (X may be rank deficient, as with
    subject effects next to an intercept), ``β̂ = V S⁻¹ Uᵀ Y``,
    ``σ̂² = ‖Y − U Uᵀ Y‖² / (n − r)`` and df = n − r. A contrast C (k × p) must be
    estimable, ``C (I − X⁺X) = 0`` (Searle 1971; SPM's ``spm_SpUtil('isCon')``). Then

    * t (k = 1): ``t = cβ̂ / sqrt(σ̂² c (XᵀX)⁺ cᵀ)`` with df = n − r;
    * F: ``F = (Cβ̂)ᵀ [C (XᵀX)⁺ Cᵀ]⁻¹ (Cβ̂) / (k σ̂²)`` with df = (k, n − r) (the extra sum
      of squares of the reduced model ``Cβ = 0``);
    * z: the normal quantile of the same tail probability (as SPM and nilearn),
      ``z = Φ⁻¹(P(T ≤ t))`` or ``Φ⁻¹(P(F ≤ f))``, computed on the log scale so that it
      stays exact far in the tail.

    Subject effects: ``subjects`` adds one indicator per subject, so every within-subject
    contrast is tested against the within-subject residual variance with the split-plot df
    (e.g. N subjects in a groups × T sessions: ``(N − groups)(T − 1)``), as SPM's flexible
    factorial with a subject factor (independent errors) and DPABI's mixed-effect module.
    Between-subject columns (intercept, group, age) are then absorbed by the subject
    effects (``design.aliased_columns``); contrasts on them are refused as not estimable.
    Subjects with a missing visit keep their other images (each image enters once).

    Zero-variance voxels (residual sum of squares below 1e-20 of the data's, e.g. a constant
    voxel) get t = F = z = 0 and p = 1 and are counted in ``n_zero_variance``.

    Validated (``tests/inference/test_glm.py``): effects, SE, t, F, df and p equal
    statsmodels' OLS ``t_test`` / ``f_test`` at random voxels to ``rtol=1e-10``; t, z,
    effect and variance maps equal nilearn's ``SecondLevelModel`` on the same design.

    References
    ----------
    Friston KJ, Holmes AP, Worsley KJ, Poline JB, Frith CD, Frackowiak RSJ (1995).
    Statistical parametric maps in functional imaging: a general linear approach. Human
    Brain Mapping 2:189–210.
    Searle SR (1971). Linear Models. Wiley (estimable functions).
    Yan CG, Wang XD, Zuo XN, Zang YF (2016). DPABI: Data Processing & Analysis for
    (resting-state) brain imaging. Neuroinformatics 14:339–351.

    Examples
    --------
    >>> import numpy as np, nibabel as nib, pandas as pd
    >>> from painmarkers.inference import voxelwise_glm
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame({
    ...     "subject_id": np.repeat([f"s{i}" for i in range(8)], 3),
    ...     "arm": pd.Categorical(np.repeat(["sham", "active"], 12), ["sham", "active"]),
    ...     "session": pd.Categorical(["pre", "post", "fu"] * 8, ["pre", "post", "fu"])})
    >>> imgs = [nib.Nifti1Image(rng.normal(size=(6, 6, 6)), np.eye(4)) for _ in range(24)]
    >>> res = voxelwise_glm(imgs, "~ arm * session", {
    ...     "change to post, active - sham": "arm[T.active]:session[T.post]",
    ...     "interaction": "arm:session"}, data=table, subject="subject_id")
    >>> res.design.aliased_columns  # absorbed by the subject effects
    ['Intercept', 'arm[T.active]']
    >>> res["interaction"].df  # F(2, (8 subjects - 2 arms) x (3 visits - 1))
    (2.0, 12.0)
    >>> res["change to post, active - sham"].stat_img.header.get_intent()[:2]
    ('t test', (12.0,))
    """
    check_choice(dof_correction, DOF_CORRECTIONS, "dof_correction")
    if not isinstance(two_tailed, bool | np.bool_):
        raise TypeError(f"The 'two_tailed' parameter must be True or False. Got {two_tailed!r}.")
    if not isinstance(estimate_smoothness, bool | np.bool_):
        raise TypeError("The 'estimate_smoothness' parameter must be True or False. Got "
                        f"{estimate_smoothness!r}.")
    n_jobs = check_n_jobs(n_jobs)
    design = getattr(design, "design", design) if isinstance(design, GLMResult) else design
    images = load_masked(imgs, mask_img, n_jobs)
    des = build_glm_design(design, images.data.shape[0], data=data, subjects=subjects,
                           subject=subject)
    cons = parse_contrasts(contrasts, des)
    arrays, rss, zero_var = fit_glm(images.data, des, cons, two_tailed=bool(two_tailed),
                                    keep_residuals=bool(estimate_smoothness))
    mask, affine, df = images.mask, images.affine, float(des.df)
    smooth = None
    if estimate_smoothness:
        vsize = tuple(float(v) for v in np.sqrt(np.sum(affine[:3, :3] ** 2, axis=0)))
        smooth = residual_smoothness(images.data, rss, ~zero_var, mask, vsize, df,
                                     dof_correction)
    n_zero = int(zero_var.sum())
    params = {
        "design": des.formula if des.formula is not None else "matrix",
        "columns": des.columns, "model_columns": des.model_columns,
        "aliased_columns": des.aliased_columns, "rank": des.rank,
        "subject_effects": des.has_subject_effects, **des.info,
        "contrasts": {c.name: {"stat": c.stat, "rows": c.rows} for c in cons},
        "two_tailed": bool(two_tailed), "notes": des.notes,
        "factor_levels": {k: [str(v) for v in vals] for k, vals in des.factor_levels.items()},
        "images": images.labels,
        "mask": "given" if images.explicit else "finite and non-zero in every image",
        "n_voxels_excluded": images.n_excluded, "n_partial_coverage": images.n_partial,
        "dof_correction": dof_correction if estimate_smoothness else None,
    }
    mask_out = to_img(np.ones(int(mask.sum()), np.uint8), mask, affine, dtype=np.uint8)
    maps = {}
    for c, arr in zip(cons, arrays):
        maps[c.name] = _contrast_maps(c, arr, des, mask, affine, mask_out, smooth, n_zero,
                                      bool(two_tailed), params)
    return GLMResult(
        contrasts=maps, design=des, design_matrix=des.matrix, mask_img=mask_out,
        residual_variance_img=to_img(rss / df, mask, affine), df=df, n=des.n, rank=des.rank,
        smoothness=smooth, n_voxels=int(mask.sum()), n_zero_variance=n_zero,
        parameters=params)


def _volume(values: np.ndarray, mask: np.ndarray, affine):
    """3-D image of one row, 4-D image of several (one volume per row)."""
    import nibabel as nib

    if values.ndim == 1 or values.shape[0] == 1:
        return to_img(np.ravel(values), mask, affine)
    vol = np.zeros((*mask.shape, values.shape[0]))
    vol[mask] = values.T
    return nib.Nifti1Image(vol, affine)


def _contrast_maps(c: Contrast, arr: _ContrastArrays, des: GLMDesign, mask, affine, mask_out,
                   smooth, n_zero, two_tailed, params) -> GLMContrastMaps:
    import pandas as pd

    df = float(des.df)
    stat_df = df if c.stat == "t" else (float(c.k), df)
    stat_img = tag_stat_img(to_img(arr.stat, mask, affine), c.stat, stat_df, smooth)
    z_img = tag_stat_img(to_img(arr.z, mask, affine), "z")
    p_img = to_img(arr.p, mask, affine, fill=1.0)
    p_img.header.set_intent("p value", (), name="p" + (" two-tailed" if two_tailed
                                                       and c.stat == "t" else ""))
    matrix = pd.DataFrame(c.matrix, columns=des.columns, index=c.rows)
    return GLMContrastMaps(
        name=c.name, stat=c.stat, df=stat_df, contrast=matrix,
        effect_img=_volume(arr.effect, mask, affine), se_img=_volume(arr.se, mask, affine),
        stat_img=stat_img, z_img=z_img, p_img=p_img, mask_img=mask_out, n=des.n,
        smoothness=smooth, two_tailed=two_tailed if c.stat == "t" else False,
        n_zero_variance=n_zero,
        parameters={"contrast": c.name, "rows": c.rows, "design": params["design"],
                    "columns": des.columns, "subject_effects": des.has_subject_effects})
