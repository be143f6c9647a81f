"""Voxelwise group t maps: one-sample, two-sample, paired (DPABI) and correlation.

Every design is an ordinary least-squares GLM with optional covariates,
solved for all in-mask voxels at once. Images are streamed in blocks and only
sufficient statistics are kept (``X'Y``, ``Σy²`` and the lag-1 neighbour
products needed for the residual smoothness), so memory does not grow with
the number of images.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from painmarkers._validation import check_choice, check_img, check_n_jobs, check_positive_int
from painmarkers.exceptions import DataError, DesignError, ImageError
from painmarkers.inference._conversions import t_to_z
from painmarkers.inference._loading import ImageStack, flat_indices
from painmarkers.inference.results import VoxelwiseResult
from painmarkers.inference.smoothness import neighbour_indices, smoothness_from_sums

__all__ = ["voxelwise_ttest"]

DESIGNS = ("one_sample", "two_sample", "paired", "correlation")


# --- design ---------------------------------------------------------------------------------
def _covariate_frame(covariates, n):
    if covariates is None:
        return pd.DataFrame(index=range(n))
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if isinstance(covariates, pd.DataFrame):
        frame = covariates.reset_index(drop=True)
    elif isinstance(covariates, Mapping):
        frame = pd.DataFrame({str(k): np.asarray(v) for k, v in covariates.items()})
    else:
        arr = np.asarray(covariates, dtype=float)
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2:
            raise DataError(f"covariates must be 1-D or 2-D; got shape {arr.shape}.")
        frame = pd.DataFrame(arr, columns=[f"covariate{i + 1}" for i in range(arr.shape[1])])
    if len(frame) != n:
        raise DataError(f"covariates has {len(frame)} rows but there are {n} images.")
    out = pd.DataFrame(index=range(n))
    for col in frame.columns:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(
                f"Covariate {col!r} is missing or non-numeric for image(s) "
                f"{np.flatnonzero(bad).tolist()} (values {frame[col][bad].tolist()}); "
                "impute or remove those images explicitly."
            )
        out[str(col)] = values
    return out


def _labels(values, n, name):
    if values is None:
        raise DesignError(f"This design needs {name!r} (one label per image).")
    arr = np.asarray(values, dtype=object).ravel()
    if arr.size != n:
        raise DataError(f"{name} has {arr.size} entries but there are {n} images.")
    return arr


def _two_levels(labels, order, name):
    levels = list(dict.fromkeys(labels.tolist())) if order is None else list(order)
    if order is not None:
        unknown = sorted(set(labels.tolist()) - set(levels), key=str)
        if len(levels) != 2 or unknown:
            raise DesignError(
                f"group_order must name the two levels of {name}; got {list(order)!r}, "
                f"{name} holds {sorted(set(labels.tolist()), key=str)!r}."
            )
    if len(levels) != 2:
        raise DesignError(
            f"{name} must have exactly 2 levels; got {len(levels)}: {levels!r}."
        )
    return levels


def check_rank(x: np.ndarray, names) -> None:
    """Raise DesignError naming the columns that make ``x`` rank deficient."""
    names = list(map(str, names))
    rank = np.linalg.matrix_rank(x)
    if rank == x.shape[1]:
        return
    for j in range(x.shape[1]):
        if np.linalg.matrix_rank(x[:, : j + 1]) <= j:
            prev = x[:, :j]
            if j == 0 or not np.any(x[:, 0]):
                raise DesignError(
                    f"The design matrix is rank deficient: column {names[j]!r} is all zero."
                )
            coef = np.linalg.lstsq(prev, x[:, j], rcond=None)[0]
            involved = [names[i] for i in np.flatnonzero(np.abs(coef) > 1e-8)]
            raise DesignError(
                f"The design matrix is rank deficient (rank {rank} < {x.shape[1]} columns): "
                f"column {names[j]!r} is a linear combination of {involved}. Remove or "
                "orthogonalise one of these columns."
            )


def build_design(design, n, *, groups=None, subjects=None, variable=None, covariates=None,
                 group_order=None, center_covariates=True):
    """Design matrix, contrast vector, contrast label and effect scale of a t test."""
    covs = _covariate_frame(covariates, n)
    if center_covariates and covs.shape[1]:
        covs = covs - covs.mean()
    info = {}
    if design == "one_sample":
        x = pd.DataFrame({"intercept": np.ones(n)})
        label, scale = "mean - 0", 1.0
    elif design == "two_sample":
        g = _labels(groups, n, "groups")
        a, b = _two_levels(g, group_order, "groups")
        x = pd.DataFrame({f"group[{a}]": (g == a).astype(float),
                          f"group[{b}]": (g == b).astype(float)})
        info["n_per_group"] = {str(a): int((g == a).sum()), str(b): int((g == b).sum())}
        label, scale = f"{a} - {b}", 1.0
    elif design == "paired":
        g = _labels(groups, n, "groups")
        s = _labels(subjects, n, "subjects")
        a, b = _two_levels(g, group_order, "groups")
        subj = list(dict.fromkeys(s.tolist()))
        problems = []
        for sid in subj:
            conds = g[s == sid].tolist()
            for level in (a, b):
                count = conds.count(level)
                if count != 1:
                    problems.append(f"subject {sid!r} has {count} image(s) for {level!r}")
        if problems:
            raise DesignError(
                "A paired design needs exactly one image per subject and condition: "
                + "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else "") + "."
            )
        cols = {f"condition[{a}-{b}]": np.where(g == a, 1.0, -1.0)}
        for sid in subj:
            cols[f"subject[{sid}]"] = (s == sid).astype(float)
        x = pd.DataFrame(cols)
        info["n_pairs"] = len(subj)
        label, scale = f"{a} - {b}", 2.0  # effect = 2·β = mean paired difference
    else:
        if variable is None:
            raise DesignError("design='correlation' needs 'variable' (one value per image).")
        v = pd.to_numeric(pd.Series(np.asarray(variable, dtype=object).ravel()),
                          errors="coerce").to_numpy(float)
        if v.size != n:
            raise DataError(f"variable has {v.size} entries but there are {n} images.")
        if not np.all(np.isfinite(v)):
            raise DataError(
                f"variable is missing or non-numeric for image(s) "
                f"{np.flatnonzero(~np.isfinite(v)).tolist()}."
            )
        name = getattr(variable, "name", None) or "variable"
        x = pd.DataFrame({"intercept": np.ones(n), str(name): v})
        label, scale = f"slope of {name}", 1.0
    for col in covs.columns:
        if col in x.columns:
            raise DesignError(f"Covariate name {col!r} clashes with a design column.")
        x[col] = covs[col].to_numpy()
    contrast = np.zeros(x.shape[1])
    if design == "two_sample":
        contrast[:2] = (1.0, -1.0)
    elif design == "correlation":
        contrast[1] = 1.0
    else:
        contrast[0] = 1.0
    check_rank(x.to_numpy(), x.columns)
    df = n - x.shape[1]
    if df < 1:
        raise DesignError(
            f"The design leaves {df} residual degrees of freedom ({n} images, "
            f"{x.shape[1]} columns: {list(x.columns)}); at least 1 is needed."
        )
    return x, contrast, label, scale, info


# --- estimation ------------------------------------------------------------------------------
def voxelwise_ttest(imgs, design="one_sample", *, groups=None, subjects=None, variable=None,
                    covariates=None, mask_img=None, group_order=None, center_covariates=True,
                    estimate_smoothness=True, block_size=64, n_jobs=None):
    """Voxelwise group t test (OLS GLM) with t, z, effect, Cohen's d and smoothness.

    Parameters
    ----------
    imgs : list of paths or 3-D images, or a 4-D image or path
        One map per observation (e.g. each subject's ALFF map), all on one grid.
    design : {"one_sample", "two_sample", "paired", "correlation"}, default="one_sample"
        - ``"one_sample"``: mean ≠ 0 (intercept + covariates).
        - ``"two_sample"``: Student (pooled variance) difference between the two
          levels of ``groups``; one indicator column per group.
        - ``"paired"``: DPABI's model: a ±1 condition column (``+1`` for the first
          level of ``groups``) plus one dummy per subject; df = n − 1 − covariates.
        - ``"correlation"``: association with ``variable`` (e.g. VAS), partial on
          the covariates.
    groups : array-like or None, default=None
        Group (two-sample) or condition (paired) label per image.
    subjects : array-like or None, default=None
        Subject id per image (paired).
    variable : array-like or None, default=None
        Subject-level variable per image (correlation); a named Series names the column.
    covariates : DataFrame, mapping, array-like or None, default=None
        Nuisance covariates, one row per image. Missing values raise (never dropped).
    mask_img : path, image or None, default=None
        Voxels to analyse. None keeps voxels that are finite and non-zero in every image.
    group_order : sequence of 2 labels or None, default=None
        Order of the levels; the contrast is ``first − second``. None: order of
        first appearance.
    center_covariates : bool, default=True
        Mean-centre covariates so the one-sample effect is the mean at average
        covariates (t of the other designs does not change).
    estimate_smoothness : bool, default=True
        Estimate the residual smoothness (FSL's smoothest on the standardised
        residuals) for GRF inference.
    block_size : int, default=64
        Images read per block (memory ∝ block_size × voxels).
    n_jobs : int or None, default=None
        Threads reading the images of a block.

    Returns
    -------
    VoxelwiseResult
        ``t_img``, ``z_img``, ``effect_img``, ``cohen_d_img``, ``r_img``
        (correlation only), ``mask_img``, ``df``, ``n``, ``design_matrix``,
        ``smoothness`` and the parameters. ``to_frame()`` lists, per in-mask
        voxel: i, j, k, x, y, z, t, z_score, effect, cohen_d, r.

    Raises
    ------
    ImageError
        If the maps (or the mask) differ in shape or affine — the message
        names the first offending file.
    DataError
        Non-finite values inside the mask (file named), an empty mask, missing
        covariates, wrong lengths.
    DesignError
        Unknown or missing groups, a paired design with unmatched subjects, a
        rank-deficient design (the columns are named), df < 1.

    Notes
    -----
    With design X (n × p), contrast c and data Y:
    ``β = (X'X)⁻¹X'Y``, ``σ² = ‖Y − Xβ‖² / (n − p)``,
    ``t = c'β / sqrt(σ² c'(X'X)⁻¹c)``, df = n − p; z is the tail-matched
    normal quantile (:func:`t_to_z`). The effect is ``c'β`` (for paired, the
    mean difference ``2β``). Cohen's d: ``c'β / σ`` for one- and two-sample
    (classical d with pooled SD without covariates), ``d_z = t / sqrt(n_pairs)``
    for paired, and ``2r / sqrt(1 − r²)`` for correlation, where the partial
    correlation is ``r = t / sqrt(df + t²)``. Voxels with zero residual variance
    get t = z = d = 0 and are counted in ``n_zero_variance``.
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
    """
    check_choice(design, DESIGNS, "design")
    block_size = check_positive_int(block_size, "block_size")
    n_jobs = check_n_jobs(n_jobs)
    stack = ImageStack(imgs)
    n = stack.n
    x_frame, contrast, label, scale, info = build_design(
        design, n, groups=groups, subjects=subjects, variable=variable, covariates=covariates,
        group_order=group_order, center_covariates=center_covariates,
    )
    x = x_frame.to_numpy(dtype=float)
    df = float(n - x.shape[1])

    if mask_img is not None:
        mimg = check_img(mask_img, ndim=3, name="mask_img")
        if tuple(mimg.shape[:3]) != stack.shape:
            raise ImageError(
                f"mask_img has shape {tuple(mimg.shape[:3])} but {stack.labels[0]} has shape "
                f"{stack.shape}; resample the mask onto the maps' grid."
            )
        if not np.allclose(mimg.affine, stack.affine, atol=1e-3):
            raise ImageError(
                f"mask_img and {stack.labels[0]} have different affines; resample the mask."
            )
        mask = np.asarray(mimg.dataobj) > 0
        if not mask.any():
            raise DataError("mask_img is empty (no voxel > 0).")
        explicit_mask = True
    else:
        mask = np.ones(stack.shape, bool)
        explicit_mask = False
    fidx = flat_indices(mask)
    n_vox = fidx[0].size
    if estimate_smoothness:
        used, nbx, nby, nbz = neighbour_indices(mask)
        neighbours = (nbx, nby, nbz)
        cross = np.zeros((3, used.size))
    valid = np.ones(n_vox, bool)
    gram = x.T @ x
    xty = np.zeros((x.shape[1], n_vox))
    yy = np.zeros(n_vox)
    shift = None
    for start in range(0, n, block_size):
        idx = list(range(start, min(n, start + block_size)))
        yb = stack.read_block(idx, fidx, n_jobs)
        finite = np.isfinite(yb)
        if not finite.all():
            if explicit_mask:
                row, col = np.argwhere(~finite)[0]
                raise DataError(
                    f"{stack.labels[idx[row]]} has {int((~finite[row]).sum())} non-finite "
                    f"value(s) inside the mask (first at voxel "
                    f"{tuple(int(v) for v in np.argwhere(mask)[col])})."
                )
            valid &= finite.all(axis=0)
            yb = np.where(finite, yb, 0.0)
        if not explicit_mask:
            valid &= np.all(yb != 0, axis=0)
        if shift is None:
            shift = yb[0].copy()
        yb -= shift
        xty += x[idx].T @ yb
        yy += np.einsum("ij,ij->j", yb, yb)
        if estimate_smoothness:
            # voxel-major copy: gathering whole rows is ~2x faster than gathering columns
            yt = np.ascontiguousarray(yb.T)
            yu = yt[used]
            for d, nb in enumerate(neighbours):
                cross[d] += np.einsum("ij,ij->i", yu, yt[nb])
    if not explicit_mask:
        if not valid.any():
            raise DataError("No voxel is finite and non-zero in every image: the mask is empty.")
        mask = np.zeros(stack.shape, bool)
        mask[np.unravel_index(fidx[0][valid], stack.shape, order="F")] = True
        keep = valid
    else:
        keep = np.ones(n_vox, bool)

    gram_inv = np.linalg.inv(gram)
    b_shift = gram_inv @ xty
    rss = yy - np.einsum("pv,pv->v", b_shift, xty)
    ones_coef = np.linalg.lstsq(x, np.ones(n), rcond=None)[0]
    beta = b_shift + np.outer(ones_coef, shift)
    effect = contrast @ beta
    var_c = float(contrast @ gram_inv @ contrast)
    tol = 1e-12 * np.maximum(yy, np.finfo(float).tiny)
    zero_var = (rss <= tol) | (yy == 0)
    rss = np.where(zero_var, 0.0, np.maximum(rss, 0.0))
    sigma = np.sqrt(rss / df)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(zero_var, 0.0, effect / (sigma * np.sqrt(var_c)))
    z = t_to_z(t, df)
    r_map = None
    if design == "correlation":
        r_map = t / np.sqrt(df + t * t)
        with np.errstate(divide="ignore"):
            d = 2 * r_map / np.sqrt(1 - r_map ** 2)
    elif design == "paired":
        d = t / np.sqrt(info["n_pairs"])
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(zero_var, 0.0, effect / sigma)

    smooth = None
    if estimate_smoothness:
        ok = keep & ~zero_var
        sd = np.sqrt(rss / (n - 1))
        good = ok[used] & ok[nbx] & ok[nby] & ok[nbz]
        u = used[good]
        ss = []
        for dd, nb in enumerate(neighbours):
            nbg = nb[good]
            res_cross = cross[dd][good] - np.einsum("pv,pv->v", xty[:, u], b_shift[:, nbg])
            ss.append(float(np.sum(res_cross / (sd[u] * sd[nbg]))))
        s2 = [float(good.sum() * (n - 1))] * 3
        vsize = tuple(float(v) for v in np.sqrt(np.sum(stack.affine[:3, :3] ** 2, axis=0)))
        smooth = smoothness_from_sums(ss, s2, int(good.sum()), int(ok.sum()), vsize, df,
                                      "residuals")

    import nibabel as nib

    def to_img(values, dtype=np.float64):
        vol = np.zeros(stack.shape, dtype=dtype)
        vol[mask] = np.asarray(values)[keep]
        return nib.Nifti1Image(vol, stack.affine)

    params = {
        "design": design, "images": stack.labels, "groups": None if groups is None else
        [str(g) for g in np.asarray(groups, dtype=object).ravel()],
        "subjects": None if subjects is None else
        [str(s) for s in np.asarray(subjects, dtype=object).ravel()],
        "covariates": [c for c in x_frame.columns if c not in _design_columns(x_frame, design)],
        "center_covariates": bool(center_covariates), "group_order": group_order,
        "mask": "given" if explicit_mask else "finite and non-zero in every image",
        "n_voxels_excluded": 0 if explicit_mask else int(n_vox - keep.sum()),
        "effect_scale": scale, **info,
    }
    return VoxelwiseResult(
        t_img=to_img(t), z_img=to_img(z), effect_img=to_img(effect * scale),
        cohen_d_img=to_img(d), r_img=None if r_map is None else to_img(r_map),
        mask_img=nib.Nifti1Image(mask.astype(np.uint8), stack.affine), df=df, n=n,
        design=design, contrast=label, design_matrix=x_frame, smoothness=smooth,
        n_voxels=int(mask.sum()), n_zero_variance=int((zero_var & keep).sum()),
        parameters=params,
    )


def _design_columns(x_frame, design):
    cols = list(x_frame.columns)
    if design == "one_sample":
        return cols[:1]
    if design == "two_sample":
        return cols[:2]
    if design == "correlation":
        return cols[:2]
    return [c for c in cols if c.startswith(("condition[", "subject["))]


