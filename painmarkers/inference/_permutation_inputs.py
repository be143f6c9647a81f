"""Input handling of permutation inference: images to a data matrix, designs (private)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._validation import check_img, check_same_grid
from painmarkers.exceptions import DataError, DesignError, ImageError

__all__ = ["PermutationDesign", "build_design", "load_masked"]


def _describe(img: Any, index: int) -> str:
    if isinstance(img, str | PathLike):
        return f"imgs[{index}] ({img})"
    name = getattr(img, "get_filename", lambda: None)()
    return f"imgs[{index}] ({name})" if name else f"imgs[{index}]"


def _as_image_list(imgs: Any) -> tuple[list, list[str]]:
    """Split ``imgs`` (list of paths/images or one 4-D image/path) into 3-D images."""
    if isinstance(imgs, str | PathLike) or hasattr(imgs, "affine"):
        img = check_img(imgs, name="imgs")
        if len(img.shape) == 4:
            return [img.slicer[..., i] for i in range(img.shape[3])], [
                f"imgs volume {i}" for i in range(img.shape[3])
            ]
        imgs = [img]
    try:
        imgs = list(imgs)
    except TypeError:
        raise TypeError(
            "The 'imgs' parameter must be a list of paths or images, or a 4-D image. "
            f"Got {type(imgs).__name__}."
        ) from None
    if not imgs:
        raise DataError("The 'imgs' parameter is empty: give at least one image.")
    return imgs, [_describe(img, i) for i, img in enumerate(imgs)]


def load_masked(imgs: Any, mask_img: Any = None):
    """Load images once each and return their in-mask values.

    Parameters
    ----------
    imgs : list of paths or images, or a 4-D image
        All images must share shape and affine.
    mask_img : path, image or None
        Analysis mask. None uses the implicit mask: voxels finite and non-zero
        in every image (as SPM's implicit mask).

    Returns
    -------
    data : ndarray, shape (n_images, n_voxels)
    mask : ndarray of bool, shape (X, Y, Z)
    ref : nibabel image
        The first image (its grid defines the output maps).
    names : list of str
        How each image is named in messages.
    n_partial : int
        Voxels left out by the implicit mask although some images had data there
        (0 with an explicit mask).

    Raises
    ------
    ImageError
        Different shapes or affines (naming the first offending image); a
        non-3-D image; an empty mask.
    DataError
        NaN or inf inside an explicit mask (naming the image and the voxel).
    """
    images, names = _as_image_list(imgs)
    first = check_img(images[0], ndim=3, name=names[0])
    explicit = mask_img is not None
    if explicit:
        mimg = check_img(mask_img, ndim=3, name="mask_img")
        check_same_grid(first, mimg, names[0], "mask_img")
        mask = np.asarray(mimg.dataobj) != 0
        if not mask.any():
            raise ImageError("mask_img is empty: it has no non-zero voxel.")
    else:
        first_data = first.get_fdata(dtype=np.float32)
        mask = np.isfinite(first_data) & (first_data != 0)
        if not mask.any():
            raise ImageError(f"{names[0]} has no finite non-zero voxel; give a mask_img.")
    support = np.zeros(mask.shape, dtype=bool)
    data = np.empty((len(images), int(mask.sum())), dtype=np.float64)
    keep = np.ones(data.shape[1], dtype=bool)
    for i, img in enumerate(images):
        img = first if i == 0 else check_img(img, ndim=3, name=names[i])
        check_same_grid(img, first, names[i], names[0])
        vol = img.get_fdata(dtype=np.float32)
        values = vol[mask]
        if explicit:
            bad = ~np.isfinite(values)
            if bad.any():
                ijk = tuple(int(c) for c in np.argwhere(mask)[np.argmax(bad)])
                raise DataError(
                    f"{names[i]} has {int(bad.sum())} NaN/inf voxel(s) inside mask_img "
                    f"(first at voxel {ijk}); fix the image or exclude them from the mask."
                )
        else:
            support |= np.isfinite(vol) & (vol != 0)
            keep &= np.isfinite(values) & (values != 0)
        data[i] = values
    n_partial = 0
    if not explicit:
        data = data[:, keep]
        inner = np.zeros(mask.shape, dtype=bool)
        inner[mask] = keep
        n_partial = int(support.sum() - inner.sum())
        mask = inner
        if not mask.any():
            raise ImageError(
                "The implicit mask (voxels finite and non-zero in every image) is empty; "
                "give a mask_img."
            )
    return data, mask, first, names, n_partial


def _covariate_matrix(covariates: Any, n: int) -> tuple[np.ndarray, list[str]]:
    if covariates is None:
        return np.zeros((n, 0)), []
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if isinstance(covariates, Mapping):
        covariates = pd.DataFrame(dict(covariates))
    if isinstance(covariates, pd.DataFrame):
        names = [str(c) for c in covariates.columns]
        try:
            values = covariates.to_numpy(dtype=float)
        except (TypeError, ValueError):
            bad = [str(c) for c in covariates.columns
                   if not pd.api.types.is_numeric_dtype(covariates[c])]
            raise DataError(
                f"covariates must be numeric; column(s) {bad} are not (dummy-code them)."
            ) from None
    else:
        values = np.asarray(covariates, dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise DataError(f"covariates must be 1-D or 2-D; got shape {values.shape}.")
        names = [f"covariate_{j}" for j in range(values.shape[1])]
    if values.shape[0] != n:
        raise DataError(f"covariates has {values.shape[0]} rows for {n} images.")
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"covariates column {names[col]!r} has a missing or non-finite value at row {row} "
            f"({values[row, col]!r}); remove that image or impute the value explicitly."
        )
    return values, names


def _levels(groups: Any, n: int, design: str, group_order: Any) -> tuple[np.ndarray, tuple]:
    if groups is None:
        raise DesignError(f"design={design!r} needs 'groups' (one label per image).")
    labels = np.asarray(list(groups), dtype=object)
    if labels.shape != (n,):
        raise DesignError(f"'groups' has {labels.size} labels for {n} images.")
    if any(pd.isna(v) for v in labels):
        first = int(np.argmax([pd.isna(v) for v in labels]))
        raise DesignError(f"'groups' has a missing label at image {first}.")
    levels = tuple(pd.unique(pd.Series(labels)))
    if len(levels) != 2:
        raise DesignError(
            f"design={design!r} needs exactly two levels in 'groups'; got {list(levels)}."
        )
    if group_order is not None:
        order = tuple(group_order)
        if len(order) != 2 or set(order) != set(levels):
            raise DesignError(
                f"'group_order' must name the two levels of 'groups' {list(levels)}; "
                f"got {order!r}."
            )
        levels = order
    return labels, levels


@dataclass
class PermutationDesign:
    """The model reduced to what the permutation engine needs.

    ``data`` has one row per observation (per subject for a paired design,
    after differencing), ``tested`` is the tested column, ``nuisance`` the
    other columns (intercept included for label permutation), ``scheme``
    ``"sign_flip"`` or ``"permute"``.
    """

    data: np.ndarray
    tested: np.ndarray
    nuisance: np.ndarray
    scheme: str
    contrast: str
    covariate_names: list[str]
    n_images: int
    design_columns: list[str]
    df: int = 0

    @property
    def n(self) -> int:
        return self.data.shape[0]


def _check_rank(matrix: np.ndarray, columns: list[str]) -> None:
    rank = 0
    for j in range(matrix.shape[1]):
        r = np.linalg.matrix_rank(matrix[:, : j + 1])
        if r == rank:
            raise DesignError(
                f"The design matrix is rank deficient: column {columns[j]!r} is a linear "
                f"combination of {columns[:j]}. Remove or recode it."
            )
        rank = r


def build_design(data: np.ndarray, design: str, groups: Any, subjects: Any, covariates: Any,
                 group_order: Any, names: list[str],
                 center_covariates: bool = True) -> PermutationDesign:
    """Turn the design arguments into the permutation model's ingredients.

    With ``center_covariates`` the covariates are mean-centred, so that a
    one-sample effect is the mean at the average covariate value. In a
    paired design the covariates enter as within-subject differences
    (``first − second`` level), as in DPABI's model with subject dummies.
    """
    n = data.shape[0]
    cov, cov_names = _covariate_matrix(covariates, n)
    if design == "one_sample":
        for arg, val in (("groups", groups), ("group_order", group_order),
                         ("subjects", subjects)):
            if val is not None:
                raise DesignError(f"'{arg}' is not used by design='one_sample'; leave it None.")
        cov_c = cov - cov.mean(axis=0) if center_covariates else cov
        columns = [*cov_names, "mean"]
        matrix = np.column_stack([cov_c, np.ones(n)])
        _check_rank(np.column_stack([np.ones(n), cov_c]), ["mean", *cov_names])
        out = PermutationDesign(data, np.ones(n), cov_c, "sign_flip", "mean - 0", cov_names, n,
                                columns)
    elif design == "two_sample":
        labels, (a, b) = _levels(groups, n, design, group_order)
        tested = (labels == a).astype(float)
        cov_c = cov - cov.mean(axis=0)
        nuisance = np.column_stack([np.ones(n), cov_c])
        columns = ["intercept", *cov_names, f"{a} - {b}"]
        matrix = np.column_stack([nuisance, tested])
        for level in (a, b):
            if int((labels == level).sum()) < 1:
                raise DesignError(f"group {level!r} has no image.")
        out = PermutationDesign(data, tested, nuisance, "permute", f"{a} - {b}", cov_names, n,
                                columns)
        _check_rank(matrix, columns)
    elif design == "paired":
        labels, (a, b) = _levels(groups, n, design, group_order)
        if subjects is None:
            raise DesignError("design='paired' needs 'subjects' (one subject id per image).")
        subj = np.asarray(list(subjects), dtype=object)
        if subj.shape != (n,):
            raise DesignError(f"'subjects' has {subj.size} ids for {n} images.")
        frame = pd.DataFrame({"subject": subj, "condition": labels, "row": np.arange(n)})
        dup = frame[frame.duplicated(["subject", "condition"], keep=False)]
        if len(dup):
            s, c = dup.iloc[0][["subject", "condition"]]
            count = int(((frame.subject == s) & (frame.condition == c)).sum())
            raise DesignError(
                f"Paired design: subject {s!r} has {count} "
                f"images for condition {c!r}; each subject needs exactly one per condition "
                f"(images {[names[i] for i in dup.row[:4]]})."
            )
        wide = frame.pivot(index="subject", columns="condition", values="row")
        wide = wide.reindex(pd.unique(frame.subject))
        missing = wide[wide.isna().any(axis=1)]
        if len(missing):
            detail = "; ".join(
                f"{s!r} lacks {[c for c in (a, b) if pd.isna(missing.loc[s, c])]}"
                for s in list(missing.index)[:5]
            )
            raise DesignError(
                f"Paired design: {len(missing)} subject(s) are not matched across conditions "
                f"{a!r} and {b!r}: {detail}."
            )
        ia = wide[a].to_numpy(dtype=int)
        ib = wide[b].to_numpy(dtype=int)
        diff = data[ia] - data[ib]
        cov_d = cov[ia] - cov[ib]
        for j, name in enumerate(cov_names):
            if np.allclose(cov_d[:, j], 0.0):
                raise DesignError(
                    f"Paired design: covariate {name!r} is constant within every subject, "
                    "so it cancels in the within-subject difference (the subject effects "
                    "absorb it); the design is rank deficient. Remove it."
                )
        m = diff.shape[0]
        _check_rank(np.column_stack([np.ones(m), cov_d]),
                    [f"{a} - {b}", *(f"{c} (difference)" for c in cov_names)])
        out = PermutationDesign(diff, np.ones(m), cov_d, "sign_flip", f"{a} - {b}", cov_names,
                                n, [*cov_names, f"{a} - {b}"])
    else:  # pragma: no cover - checked by the caller
        raise ValueError(design)
    df = out.n - len(out.design_columns)
    if df < 1:
        raise DesignError(
            f"design={design!r} with {out.n} observations and {len(out.design_columns)} "
            f"design columns ({out.design_columns}) leaves df = {df}; at least 1 is needed."
        )
    out.df = df
    return out
