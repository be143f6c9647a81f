"""Voxelwise linear mixed models: the random-intercept LMM of :func:`painmarkers.stats.lmm`
at every voxel, solved for all voxels at once.

The numbers are those of the ROI-level model (both use :mod:`painmarkers._mixedmodels`):
one design for every voxel, per-voxel sufficient statistics accumulated while the images
are streamed (each read once, by the one image loader), then the REML / ML fit,
Satterthwaite or Kenward-Roger df and lmerTest's Type III F tests as array operations over
voxels (:mod:`painmarkers._mixedmodels.batch`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from painmarkers._docs import fill_doc
from painmarkers._mixedmodels import batch, batch_infer
from painmarkers._mixedmodels.anova import type3_hypotheses
from painmarkers._mixedmodels.design import build_design
from painmarkers._mixedmodels.infer import check_ddf
from painmarkers._validation import check_choice, check_n_jobs, check_positive_int
from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, InferenceWarning, PainmarkersWarning
from painmarkers.inference._conversions import t_to_z
from painmarkers.inference._loading import MaskedStream, to_img
from painmarkers.inference._statmaps import VOXELWISE, tag_stat_img
from painmarkers.inference.lmm_results import VoxelwiseLMMResult
from painmarkers.inference.smoothness import (
    DOF_CORRECTIONS,
    neighbour_indices,
    smoothness_from_sums,
)
from painmarkers.io.images import image_label

__all__ = ["voxelwise_lmm"]

#: The df methods of the voxelwise model.
VOXEL_DDF = ("satterthwaite", "kenward-roger")


# --------------------------------------------------------------------------- inputs
def _is_missing(item: Any) -> bool:
    if item is None:
        return True
    if isinstance(item, float) and np.isnan(item):
        return True
    return isinstance(item, str) and not item.strip()


def _image_list(imgs: Any, n_rows: int) -> tuple[list | None, Any, list[bool]]:
    """``(list, img4, missing)``: the images as a list (or a 4-D image) and which are missing."""
    if isinstance(imgs, str | os.PathLike) or hasattr(imgs, "affine"):
        from painmarkers._validation import check_img

        img4 = check_img(imgs, name="imgs")
        n = img4.shape[3] if len(img4.shape) == 4 else 1
        if len(img4.shape) != 4:
            raise DataError(f"imgs is a single {len(img4.shape)}-D image; give a 4-D image "
                            "with one volume per row of data, or a list of 3-D maps.")
        if n != n_rows:
            raise DataError(f"imgs has {n} volumes but data has {n_rows} rows: give one "
                            "image per row of data (None for a missing image).")
        return None, img4, [False] * n
    if hasattr(imgs, "tolist") and not hasattr(imgs, "affine"):
        imgs = imgs.tolist()                       # pandas Series / numpy array of paths
    if not isinstance(imgs, Sequence) or isinstance(imgs, str | bytes):
        raise TypeError("The 'imgs' parameter must be a list of 3-D maps (paths or images; "
                        f"None for a missing image) or a 4-D image. Got {type(imgs).__name__}.")
    if len(imgs) != n_rows:
        raise DataError(f"imgs has {len(imgs)} images but data has {n_rows} rows: give one "
                        "image per row of data (None for a missing image).")
    return list(imgs), None, [_is_missing(i) for i in imgs]


def _used_images(items, img4, rows: np.ndarray):
    """The images of the rows used, and their names in messages (original positions)."""
    if img4 is not None:
        where = image_label(img4, "imgs")[len("imgs"):]
        labels = [f"imgs volume {i}{where}" for i in rows]
        if len(rows) == img4.shape[3]:
            return img4, labels
        return [img4.slicer[..., int(i)] for i in rows], labels
    return [items[i] for i in rows], [image_label(items[i], "imgs", int(i)) for i in rows]


def _image_column(table: pd.DataFrame) -> str:
    name = "imgs"
    while name in table.columns:
        name += "_"
    return name


# --------------------------------------------------------------------------- conversions
def _t_to_z(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Tail-matched z of t with per-voxel df (:func:`t_to_z` where the tail underflows)."""
    t = np.asarray(t, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log(special.stdtr(df, -np.abs(t)))
        z = -special.ndtri_exp(logp)
    under = np.flatnonzero(~np.isfinite(logp) & np.isfinite(t) & np.isfinite(df))
    for v in under:
        z[v] = abs(float(t_to_z(float(t[v]), float(df[v]))))
    z = np.where(t == 0, 0.0, np.sign(t) * z)
    return np.where(np.isfinite(t) & (~np.isnan(df) | (t == 0)), z, np.nan)


def _f_to_z(F: np.ndarray, q: int, den: np.ndarray) -> np.ndarray:
    """Upper-tail-matched z of F(q, den) per voxel (den = inf: chi2(q) / q); F = 0 gives 0."""
    inf = np.isinf(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(inf, stats.chi2.logsf(F * q, q),
                        stats.f.logsf(F, q, np.where(inf, 1.0, den)))
        z = -special.ndtri_exp(logp)
    z = np.where(F > 0, z, 0.0)
    return np.where(np.isfinite(F) & (~np.isnan(den) | (F == 0)), z, np.nan)


# --------------------------------------------------------------------------- smoothness
def _residual_smoothness(acc, out, keep, affine, des, dof, dof_correction):
    """FSL smoothest on the whitened residuals ``r* = V^-1/2 (y - Xb)``, standardised.

    For neighbours a, b the product of their whitened residuals is a within-subject part
    (from the accumulated cross products of the subject-centred data) plus the between
    part ``sum_i sqrt(w_ia w_ib) r_ia r_ib``; each series is centred and scaled as
    :func:`estimate_smoothness` does with 4-D residuals (``sum r*^2 = Q``,
    ``sum r* = sum_i sqrt(w_i) 1'e_i``), so both give the same estimate.
    """
    used, nbx, nby, nbz = acc.neighbours
    n_cand = keep.size
    pos = np.full(n_cand, -1)
    pos[np.flatnonzero(keep)] = np.arange(int(keep.sum()))
    ok = keep.copy()
    ok[keep] = out["status"] & (batch.ZERO_VAR | batch.FAILED) == 0
    good = ok[used] & ok[nbx] & ok[nby] & ok[nbz]
    u = used[good]
    beta, rb, Q, wxy = out["beta0"], out["rb"], out["Q"], acc.wxy.T
    n = des.n
    mean = rb @ (1.0 / des.u) / n                   # 1'r*_i = sqrt(w_i) yu-residual / u_i
    sd = np.sqrt((Q - n * mean * mean) / (n - 1))
    WXX = des.blocks.WXX
    sums, n_i = acc.sums, des.n_i
    ss = []
    for d, nb in enumerate((nbx, nby, nbz)):
        b_ = nb[good]
        pa, pb = pos[u], pos[b_]
        within = acc.cross[d][good] - np.einsum("iv,iv->v", sums[:, u], sums[:, b_] / n_i[:, None])
        cross = (within - np.einsum("vp,vp->v", beta[pa], wxy[b_])
                 - np.einsum("vp,vp->v", beta[pb], wxy[u])
                 + np.einsum("vp,pq,vq->v", beta[pa], WXX, beta[pb])
                 + np.einsum("vi,vi->v", rb[pa], rb[pb]) - n * mean[pa] * mean[pb])
        ss.append(float(np.sum(cross / (sd[pa] * sd[pb]))))
    s2 = [float(good.sum() * (n - 1))] * 3
    vsize = tuple(float(v) for v in np.sqrt(np.sum(affine[:3, :3] ** 2, axis=0)))
    return smoothness_from_sums(ss, s2, int(good.sum()), int(ok.sum()), vsize, dof,
                                "residuals", dof_correction=dof_correction)


# --------------------------------------------------------------------------- the function
@fill_doc
def voxelwise_lmm(imgs, data, formula, *, subject="subject_id", random="1", between=None,
                  ddf="satterthwaite", reml=True, mask_img=None, estimate_smoothness=True,
                  dof_correction="fsl", block_size=64, n_jobs=None):
    """Random-intercept linear mixed model at every voxel, with Satterthwaite or KR df.

    Parameters
    ----------
    %(imgs_maps)s
        One per row of ``data``; in a list, ``None`` (or NaN, or an empty string) marks a
        missing image: that row is left out and counted, the subject's other rows are
        kept.
    data : pandas.DataFrame
        One row per image: the subject column, the variables of ``formula`` and the
        ``between`` columns.
    formula : str
        Right-hand side of the fixed part in R / patsy style, e.g.
        ``"~ arm * session + age"`` (the response is each voxel's value; a left-hand side
        is refused).  Coding and term names as :func:`painmarkers.stats.lmm`.
    subject : str, default="subject_id"
        The subject-id column (the grouping factor of the random intercept).
    random : {"1"}, default="1"
        The random part per subject; only a random intercept is fitted voxelwise.
    between : str, list of str or None, default=None
        Columns that must be constant within each subject (e.g. the arm).
    ddf : {"satterthwaite", "kenward-roger"}, default="satterthwaite"
        lmerTest's Satterthwaite or pbkrtest's Kenward-Roger (REML only) df, per voxel.
    reml : bool, default=True
        REML (True) or maximum likelihood.
    %(mask_img_maps)s
        Only the images used count (those of rows left out do not).
    estimate_smoothness : bool, default=True
        Estimate the smoothness of the whitened, standardised residuals (FSL's smoothest)
        for GRF on the z maps.
    %(dof_correction)s
    block_size : int, default=64
        Images read per block (memory: block_size x voxels, plus about
        (2 x subjects + p + 5) x voxels for the statistics).
    %(n_jobs)s
        Threads (joblib) read the images of a block.

    Returns
    -------
    VoxelwiseLMMResult
        Per fixed-effect coefficient the maps ``estimate``, ``se``, ``t``, ``df``, ``p``
        (two-sided) and ``z``; per Type III term ``F``, ``den_df``, ``p`` and ``z`` (and
        its numerator df); variance maps (``theta``, residual and subject variances,
        log-likelihood); a status map; counts of singular, non-converged, zero-variance and
        failed voxels; the rows and subjects used and excluded. ``to_frame()`` has one row
        per voxel and test.

    Raises
    ------
    DataError
        ``imgs`` and ``data`` differ in length, a formula variable or the subject column is
        not a column, a ``between`` column varies within a subject, NaN/inf inside an
        explicit mask.
    ImageError
        Maps (or the mask) on different grids (naming the map), an empty mask.
    DesignError
        A rank-deficient design (naming the columns), too few rows or subjects.
    ValueError
        A left-hand side in ``formula``, ``random`` other than ``"1"``, ``ddf="wald"`` or
        Kenward-Roger with ``reml=False``.

    Warns
    -----
    PainmarkersWarning
        Rows excluded (missing image or value), with counts.
    InferenceWarning
        Voxels whose fit did not converge or failed (counted; their numbers are kept,
        respectively NaN).

    Notes
    -----
    Model at voxel v: ``y_v = X b_v + u_v[subject] + e_v``, ``u ~ N(0, s_v^2 theta_v^2)``,
    ``e ~ N(0, s_v^2)``: the model of :func:`painmarkers.stats.lmm` with
    ``random="1"``, with one design ``X`` (rows with a missing image or value left out)
    shared by all voxels and a variance ratio ``theta_v^2`` per voxel.  Every subject's
    covariance ``I + theta^2 11'`` has the eigenvector ``1/sqrt(n_i)`` (eigenvalue
    ``1 + n_i theta^2``) and eigenvalue 1 on its complement, so the REML criterion, the
    GLS estimates and all derivatives are weighted sums over subjects of statistics
    computed once: design-only (``X'(I - P)X``, subject means of ``X``) and per voxel
    (``y'(I - P)y``, ``X'(I - P)y`` and the subject sums: N + p + 1 numbers per voxel,
    accumulated while each image is read once; ``P`` projects on subject means).

    The fit of all voxels runs in lockstep, in blocks of 4096 voxels: the profiled
    deviance on lme4-style grid of theta (0 and 57 log-spaced values from 1e-4 to 1e3),
    the boundary ``theta = 0`` accepted exactly as the ROI fit does (a grid minimum at 0
    with non-negative curvature; an interior optimum below 1e-7 whose deviance is not
    below that at 0), otherwise a safeguarded Newton iteration on the analytic gradient
    and Hessian within the grid bracket to 1e-14 relative step.  Voxels whose bracket
    fails are refitted with the ROI optimiser (``n_fallback``).  Satterthwaite df follow
    lmerTest (analytic Hessian of the deviance in ``(theta, sigma)``, Jacobian of
    ``sigma^2 (X'V^-1X)^-1``; a q-df F by eigen-rotation of ``L C L'``), Kenward-Roger
    pbkrtest (``Sigma = gamma_1 ZZ' + gamma_2 I``; every trace a subject sum); Type III
    hypotheses are lmerTest's.  Agreement with :func:`painmarkers.stats.lmm` on each
    voxel: 1e-6 relative or better (tests, ~1e-10 in practice).

    *Degrees of freedom vary over voxels*, so the t and F maps carry no single df: their
    NIfTI intent has none, their descrip reads ``{T_[voxelwise]}`` and their sidecar
    ``"df_voxelwise": true`` with the df map; :func:`grf_cluster_correct` refuses them
    (GRF needs one df for the field).  The z maps (each voxel's t or F converted to z
    through its own p, as FSL does for FLAME) are Gaussian under the null and carry the
    smoothness of the whitened residuals ``V^-1/2 (y - X b) / s`` in their sidecar: use
    them for GRF, or permutation inference.

    *Missing data*: a missing image or value removes that row only (every other visit of
    the subject is kept, no listwise deletion).  A voxel with NaN, inf or 0 in some images
    is left out of the implicit mask (the one image loader's rule, counted in
    ``parameters["n_partial_coverage"]``): the design is the same at every voxel.  With
    an explicit ``mask_img`` a NaN inside the mask is an error.  *Zero variance* (the
    design fits a voxel exactly, e.g. constant): estimates from OLS, se = t = F = z = 0,
    p = 1, df NaN, counted.  *Boundary* (singular) fits, ``theta < 1e-4`` (lme4's
    ``isSingular``), are valid fits and counted (``n_singular``); fits whose gradient or
    curvature fail lme4-style checks are counted as not converged and warned about; a
    subject-to-residual variance ratio beyond 1e6 is outside the optimiser's range (as in
    the ROI fit) and reported as not converged.

    References
    ----------
    Bates D, Maechler M, Bolker B, Walker S (2015). Fitting linear mixed-effects models
    using lme4. J Stat Softw 67(1). Kuznetsova A, Brockhoff PB, Christensen RHB (2017).
    lmerTest package: tests in linear mixed effects models. J Stat Softw 82(13).
    Kenward MG, Roger JH (1997). Biometrics 53:983-997. Halekoh U, Hojsgaard S (2014).
    J Stat Softw 59(9). Woolrich MW, Behrens TEJ, Beckmann CF, Jenkinson M, Smith SM
    (2004). Multilevel linear modelling for FMRI group analysis using Bayesian inference.
    NeuroImage 21:1732-1747 (voxelwise df, z maps for GRF).

    Examples
    --------
    >>> import numpy as np, pandas as pd, nibabel as nib
    >>> from painmarkers.inference import voxelwise_lmm
    >>> rng = np.random.default_rng(0)
    >>> data = pd.DataFrame({"subject_id": np.repeat([f"s{i}" for i in range(12)], 2),
    ...                      "arm": np.repeat(["active", "sham"], 12),
    ...                      "session": ["pre", "post"] * 12})
    >>> u = np.repeat(rng.normal(size=(12, 4, 4, 4)), 2, axis=0)
    >>> imgs = [nib.Nifti1Image(10 + u[i] + rng.normal(size=(4, 4, 4)), np.eye(4))
    ...         for i in range(24)]
    >>> res = voxelwise_lmm(imgs, data, "~ arm * session", estimate_smoothness=False)
    >>> res.terms
    ('arm', 'session', 'arm:session')
    >>> res.n_voxels, res.n_obs
    (64, 24)
    """
    method = check_ddf(ddf, bool(reml))
    if method not in VOXEL_DDF:
        raise ValueError(f"The 'ddf' parameter of voxelwise_lmm must be one of {VOXEL_DDF}. "
                         f"Got {ddf!r} (Wald tests: use the z maps).")
    if not isinstance(random, str) or random.strip() != "1":
        raise ValueError(f"voxelwise_lmm fits a random intercept per subject: the 'random' "
                         f"parameter must be '1'. Got {random!r} (random slopes: fit an ROI "
                         "with painmarkers.stats.lmm).")
    if not isinstance(subject, str):
        raise TypeError(f"The 'subject' parameter must be a column name. Got {subject!r}.")
    if not isinstance(data, pd.DataFrame):
        raise TypeError("The 'data' parameter must be a pandas DataFrame with one row per "
                        f"image. Got {type(data).__name__}.")
    between_cols = [between] if isinstance(between, str) else list(between or [])
    check_choice(dof_correction, DOF_CORRECTIONS, "dof_correction")
    block_size = check_positive_int(block_size, "block_size")
    n_jobs = check_n_jobs(n_jobs)

    items, img4, missing = _image_list(imgs, len(data))
    table = data.reset_index(drop=True).copy()
    img_col = _image_column(table)
    table[img_col] = np.where(missing, np.nan, 1.0)
    design = build_design(table, formula, subject=subject, random="1", between=between_cols,
                          response=False, also_required=(img_col,))
    excluded = design.excluded
    if len(excluded):
        n_rows = int(excluded["n_rows_excluded"].sum())
        n_sub = int(excluded["subject_excluded"].sum())
        warn(f"{n_rows} row(s) of {len(excluded)} subject(s) excluded (missing image or value; "
             f"{n_sub} subject(s) left without any row); every other row is used. See "
             "VoxelwiseLMMResult.excluded.", PainmarkersWarning)
    rows = design.data.index.to_numpy()
    used, labels = _used_images(items, img4, rows)
    stream = MaskedStream(used, mask_img, labels=labels)
    rid = batch.ri_design(design.X, design.groups)
    neighbours = neighbour_indices(stream.mask) if estimate_smoothness else None
    acc = batch.Accumulator(rid, stream.fidx[0].size, neighbours=neighbours)
    for idx, yb in stream.blocks(block_size, n_jobs):
        acc.add(idx, yb)
    mask, keep, n_excluded, n_partial = stream.finish()
    resp = acc.finish(keep)
    hyps = type3_hypotheses(design)
    out = batch_infer.analyse(rid, resp, bool(reml), method, hyps)

    status = out["status"]
    counts = {name: int(np.sum(status & bit > 0)) for name, bit in (
        ("n_singular", batch.SINGULAR), ("n_not_converged", batch.NOT_CONVERGED),
        ("n_zero_variance", batch.ZERO_VAR), ("n_failed", batch.FAILED))}
    if counts["n_not_converged"] or counts["n_failed"]:
        warn(f"voxelwise_lmm: the fit of {counts['n_not_converged']} voxel(s) may not have "
             f"converged (numbers kept) and {counts['n_failed']} failed (NaN) of "
             f"{int(mask.sum())}; see the status map (VoxelwiseLMMResult.status_img).",
             InferenceWarning)
    affine = stream.stack.affine
    dof = rid.n - rid.p
    smooth = None
    if estimate_smoothness:
        smooth = _residual_smoothness(acc, out, keep, affine, rid, dof,
                                      dof_correction)

    def img(values, dtype=np.float64):
        return to_img(np.asarray(values), mask, affine, dtype=dtype)

    names = list(design.column_names)
    fixed: dict[str, dict[str, Any]] = {}
    coef = out["coef"]
    for j, name in enumerate(names):
        t, df = coef["t"][:, j], coef["df"][:, j]
        fixed[name] = {
            "estimate": img(coef["estimate"][:, j]), "se": img(coef["se"][:, j]),
            "t": tag_stat_img(img(t), "t", VOXELWISE), "df": img(df), "p": img(coef["p"][:, j]),
            "z": tag_stat_img(img(_t_to_z(t, df)), "z", smoothness=smooth)}
    anova: dict[str, dict[str, Any]] = {}
    num_df: dict[str, int] = {}
    for term, res in out["anova"].items():
        q = int(res["num_df"])
        num_df[term] = q
        anova[term] = {
            "F": tag_stat_img(img(res["F"]), "F", (q, VOXELWISE)), "den_df": img(res["den_df"]),
            "p": img(res["p"]),
            "z": tag_stat_img(img(_f_to_z(res["F"], q, res["den_df"])), "z", smoothness=smooth)}
    theta, sigma2 = out["theta"], out["sigma2"]
    params = {
        "formula": formula, "subject": subject, "random": "1", "between": between_cols,
        "ddf": method, "reml": bool(reml), "images": [str(x) for x in labels],
        "mask": "given" if stream.explicit else "finite and non-zero in every image",
        "n_voxels_excluded": n_excluded, "n_partial_coverage": n_partial,
        "estimate_smoothness": bool(estimate_smoothness),
        "dof_correction": dof_correction if estimate_smoothness else None,
        "n_fallback": int(out["fallback"].sum()),
    }
    return VoxelwiseLMMResult(
        formula=formula, subject=subject, ddf=method, reml=bool(reml),
        coefficients=tuple(names), terms=tuple(anova), fixed_effect_maps=fixed,
        anova_maps=anova, num_df=num_df, theta_img=img(theta), sigma2_img=img(sigma2),
        subject_variance_img=img(sigma2 * theta ** 2),
        loglik_img=img(-0.5 * out["deviance"]), status_img=img(status, np.uint8),
        mask_img=img(np.ones(int(mask.sum()), np.uint8), np.uint8),
        n_obs=int(rid.n), n_subjects=int(rid.N), n_voxels=int(mask.sum()),
        n_excluded_rows=int(excluded["n_rows_excluded"].sum()),
        n_excluded_subjects=int(excluded["subject_excluded"].sum()), excluded=excluded,
        design_matrix=pd.DataFrame(design.X, columns=names, index=rows),
        subject_ids=tuple(design.subject_ids), smoothness=smooth,
        n_fallback=params["n_fallback"], notes=tuple(design.notes), parameters=params,
        **counts)
