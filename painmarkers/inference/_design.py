"""The one design-matrix builder of every voxelwise model of :mod:`painmarkers.inference`.

:func:`build_design` turns the design arguments of :func:`voxelwise_ttest` and
:func:`permutation_cluster_correct` (``design``, ``labels``, ``levels``, ``subjects``,
``variable``, ``covariates``) into a :class:`Design`: the full GLM design matrix (one row per
image; the paired design is DPABI's ±1 condition column plus one dummy per subject), the
contrast, and everything a model needs. :func:`permutation_inputs` reduces a design to what
the permutation engine rearranges (a paired design becomes the one-sample test of the
within-subject differences, which gives the same t). One set of checks and messages serves
both.

:func:`build_glm_design` builds the design of the general voxelwise GLM
(:func:`~painmarkers.inference.voxelwise_glm`): any design matrix, or a formula on a table
(:mod:`painmarkers.inference._formula`), with optional subject effects (one dummy per
subject, as SPM's flexible factorial and DPABI's mixed-effect module). It keeps the SVD of
X, so contrasts are checked for estimability against the row space of X and every model
built on the design (GLM, permutation, a voxelwise LMM) uses one set of rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._threads import single_blas_thread
from painmarkers.exceptions import DataError, DesignError

__all__ = ["DESIGNS", "Design", "GLMDesign", "PermutationInputs", "build_design",
           "build_glm_design", "check_rank", "glm_permutation_inputs", "permutation_inputs"]

DESIGNS = ("one_sample", "two_sample", "paired", "correlation")

# arguments each design uses (the others must be None)
_USES = {
    "one_sample": set(),
    "two_sample": {"labels", "levels"},
    "paired": {"labels", "levels", "subjects"},
    "correlation": {"variable"},
}


@dataclass(frozen=True)
class Design:
    """A voxelwise GLM design (see :func:`build_design`).

    Attributes
    ----------
    kind : str
        One of :data:`DESIGNS`.
    matrix : pandas.DataFrame
        Design matrix, one row per image.
    contrast : numpy.ndarray
        Contrast vector over the columns of ``matrix``.
    label : str
        The contrast in words (``"CLBP - HC"``, ``"mean - 0"``, ``"slope of VAS"``).
    scale : float
        Effect = ``scale · contrastᵀβ`` (2 for paired: the mean paired difference).
    covariate_names : list of str
        Names of the covariate columns (the last columns of ``matrix``).
    covariates : numpy.ndarray, shape (n, q)
        The covariates as given (not centred).
    levels : tuple or None
        The two compared labels (first minus second) of two-sample and paired designs.
    pairs : tuple of two int arrays or None
        Paired: the rows of the first and the second level of each subject, subjects in
        order of first appearance.
    info : dict
        ``n_per_group`` (two-sample) or ``n_pairs`` (paired).
    center_covariates : bool
        Whether the covariates in ``matrix`` are mean-centred.
    """

    kind: str
    matrix: pd.DataFrame
    contrast: np.ndarray
    label: str
    scale: float
    covariate_names: list[str]
    covariates: np.ndarray
    levels: tuple | None = None
    pairs: tuple[np.ndarray, np.ndarray] | None = None
    info: dict = field(default_factory=dict)
    center_covariates: bool = True

    @property
    def n(self) -> int:
        """Number of images."""
        return int(self.matrix.shape[0])

    @property
    def df(self) -> int:
        """Residual degrees of freedom, ``n − columns``."""
        return self.n - int(self.matrix.shape[1])

    @property
    def design_columns(self) -> list[str]:
        """Columns of ``matrix`` that are not covariates."""
        return [str(c) for c in self.matrix.columns[: self.matrix.shape[1]
                                                     - len(self.covariate_names)]]


# --- pieces -----------------------------------------------------------------------------------
def covariate_matrix(covariates: Any, n: int) -> tuple[np.ndarray, list[str]]:
    """Covariates (DataFrame, Series, mapping, array or None) as an (n, q) float array."""
    if covariates is None:
        return np.zeros((n, 0)), []
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if isinstance(covariates, Mapping):
        covariates = pd.DataFrame({str(k): list(np.asarray(v, dtype=object).ravel())
                                   for k, v in covariates.items()})
    if isinstance(covariates, pd.DataFrame):
        frame = covariates.reset_index(drop=True)
    else:
        arr = np.asarray(covariates, dtype=object)
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2:
            raise DataError(f"covariates must be 1-D or 2-D; got shape {arr.shape}.")
        frame = pd.DataFrame(arr, columns=[f"covariate{i + 1}" for i in range(arr.shape[1])])
    names = [str(c) for c in frame.columns]
    if len(frame) != n:
        raise DataError(f"covariates has {len(frame)} rows but there are {n} images.")
    values = np.empty((n, len(names)))
    for j, col in enumerate(frame.columns):
        values[:, j] = _numeric_column(
            frame[col], f"covariates column {names[j]!r}",
            "dummy-code it (e.g. 0/1) before the voxelwise model",
            "remove those images or impute the values explicitly (they are never dropped)")
    return values, names


def _numeric_column(raw: pd.Series, what: str, code_hint: str, missing_hint: str
                    ) -> np.ndarray:
    """A column of a numeric design as floats; text, missing or non-finite values refused.

    ``what`` names the column in the messages; ``code_hint`` says how to code a text
    column, ``missing_hint`` what to do with images whose value is missing.
    """
    num = (raw.astype(float) if pd.api.types.is_bool_dtype(raw)
           else pd.to_numeric(raw, errors="coerce"))
    text = raw.notna() & num.isna()
    if text.any():
        shown = sorted(map(str, pd.unique(raw[text])))[:5]
        raise DataError(f"{what} is not numeric (values {shown}); {code_hint}.")
    values = num.to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(
            f"{what} has missing or non-finite value(s) at image(s) {bad[:10].tolist()}"
            f"{' ...' if bad.size > 10 else ''} (values {raw.iloc[bad[:10]].tolist()}); "
            f"{missing_hint}.")
    return values


def image_labels(values: Any, n: int, name: str, design: str) -> np.ndarray:
    """One label per image, as an object array (missing labels refused)."""
    if values is None:
        what = "subject id" if name == "subjects" else "group or condition label"
        raise DesignError(f"design={design!r} needs {name!r} (one {what} per image).")
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values,
                     dtype=object).ravel()
    if arr.size != n:
        raise DataError(f"{name!r} has {arr.size} entries for {n} images.")
    missing = np.array([bool(pd.isna(v)) for v in arr])
    if missing.any():
        raise DesignError(f"{name!r} has a missing label at image {int(np.argmax(missing))}.")
    return arr


def two_levels(labels: np.ndarray, levels: Any, design: str) -> tuple:
    """The two levels compared (first minus second): ``levels`` or order of appearance."""
    seen = list(dict.fromkeys(labels.tolist()))
    if len(seen) != 2:
        raise DesignError(
            f"design={design!r} needs exactly 2 levels in 'labels'; got {len(seen)}: "
            f"{seen!r}.")
    if levels is None:
        return tuple(seen)
    order = tuple(levels)
    if len(order) != 2 or set(order) != set(seen):
        raise DesignError(
            f"'levels' must name the two levels of 'labels' {seen!r} (first minus second); "
            f"got {order!r}.")
    return order


def check_rank(x: np.ndarray, names, what: str = "The design matrix") -> None:
    """Raise DesignError naming the columns that make ``x`` rank deficient.

    Columns are scaled to unit norm first, so the decision does not depend on their units
    (age in years next to 0/1 dummies).
    """
    names = list(map(str, names))
    x = np.asarray(x, dtype=float)
    norms = np.linalg.norm(x, axis=0)
    for j in np.flatnonzero(norms == 0):
        raise DesignError(f"{what} is rank deficient: column {names[j]!r} is all zero.")
    xs = x / norms
    tol = 1e-10 * max(x.shape)
    rank = int((small_svd(xs)[1] > tol).sum())
    if rank == x.shape[1]:
        return
    for j in range(x.shape[1]):
        if np.linalg.matrix_rank(xs[:, : j + 1], tol=tol) <= j:
            coef = np.linalg.lstsq(xs[:, :j], xs[:, j], rcond=None)[0]
            involved = [names[i] for i in np.flatnonzero(np.abs(coef) > 1e-8)]
            hint = (" (it is constant)" if np.ptp(x[:, j]) == 0 else "")
            raise DesignError(
                f"{what} is rank deficient (rank {rank} < {x.shape[1]} columns): "
                f"column {names[j]!r}{hint} is a linear combination of {involved}. Remove or "
                "orthogonalise one of these columns.")


def _pairs(labels: np.ndarray, subjects: np.ndarray, a: Any, b: Any):
    order = list(dict.fromkeys(subjects.tolist()))
    problems = []
    first, second = [], []
    for sid in order:
        rows = np.flatnonzero(subjects == sid)
        conds = labels[rows].tolist()
        for level in (a, b):
            count = conds.count(level)
            if count != 1:
                problems.append(f"subject {sid!r} has {count} image(s) for {level!r}")
        if not problems:
            first.append(int(rows[conds.index(a)]))
            second.append(int(rows[conds.index(b)]))
    if problems:
        raise DesignError(
            f"A paired design needs exactly one image per subject and condition ({a!r} and "
            f"{b!r}): " + "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else "")
            + ".")
    return np.array(first, dtype=int), np.array(second, dtype=int), order


# --- the builder --------------------------------------------------------------------------------
def build_design(design: str, n: int, *, labels=None, levels=None, subjects=None,
                 variable=None, covariates=None, center_covariates: bool = True) -> Design:
    """Design matrix, contrast and bookkeeping of a voxelwise t test.

    Raises
    ------
    DesignError
        An argument the design does not use, missing or unmatched labels, not exactly two
        levels, a paired covariate constant within every subject, a rank-deficient design
        (naming the columns), df < 1.
    DataError
        Wrong numbers of labels or covariate rows, missing or non-numeric covariates.
    """
    given = {"labels": labels, "levels": levels, "subjects": subjects, "variable": variable}
    for arg, value in given.items():
        if value is not None and arg not in _USES[design]:
            raise DesignError(f"{arg!r} is not used by design={design!r}; leave it None.")
    cov, cov_names = covariate_matrix(covariates, n)
    cov_used = cov - cov.mean(axis=0) if center_covariates and cov.shape[1] else cov
    info: dict[str, Any] = {}
    two = pairs = None
    if design == "one_sample":
        x = pd.DataFrame({"intercept": np.ones(n)})
        contrast_at, label, scale = 0, "mean - 0", 1.0
    elif design == "two_sample":
        g = image_labels(labels, n, "labels", design)
        two = a, b = two_levels(g, levels, design)
        x = pd.DataFrame({f"group[{a}]": (g == a).astype(float),
                          f"group[{b}]": (g == b).astype(float)})
        info["n_per_group"] = {str(a): int((g == a).sum()), str(b): int((g == b).sum())}
        contrast_at, label, scale = (0, 1), f"{a} - {b}", 1.0
    elif design == "paired":
        g = image_labels(labels, n, "labels", design)
        s = image_labels(subjects, n, "subjects", design)
        two = a, b = two_levels(g, levels, design)
        ia, ib, order = _pairs(g, s, a, b)
        pairs = (ia, ib)
        cols = {f"condition[{a}-{b}]": np.where(g == a, 1.0, -1.0)}
        for sid in order:
            cols[f"subject[{sid}]"] = (s == sid).astype(float)
        x = pd.DataFrame(cols)
        info["n_pairs"] = len(order)
        contrast_at, label, scale = 0, f"{a} - {b}", 2.0  # effect = 2·β = mean difference
        for j, name in enumerate(cov_names):
            if np.allclose(cov[ia, j] - cov[ib, j], 0.0):
                raise DesignError(
                    f"Paired design: covariate {name!r} is constant within every subject, so "
                    "it cancels in the within-subject difference (the subject effects absorb "
                    "it); the design is rank deficient. Remove it.")
    else:
        if variable is None:
            raise DesignError("design='correlation' needs 'variable' (one value per image).")
        v = pd.to_numeric(pd.Series(np.asarray(variable, dtype=object).ravel()),
                          errors="coerce").to_numpy(float)
        if v.size != n:
            raise DataError(f"'variable' has {v.size} entries for {n} images.")
        if not np.all(np.isfinite(v)):
            raise DataError(f"'variable' is missing or non-numeric for image(s) "
                            f"{np.flatnonzero(~np.isfinite(v)).tolist()}.")
        name = getattr(variable, "name", None) or "variable"
        x = pd.DataFrame({"intercept": np.ones(n), str(name): v})
        contrast_at, label, scale = 1, f"slope of {name}", 1.0
    for j, col in enumerate(cov_names):
        if col in x.columns:
            raise DesignError(f"Covariate name {col!r} clashes with a design column.")
        x[col] = cov_used[:, j]
    contrast = np.zeros(x.shape[1])
    if design == "two_sample":
        contrast[:2] = (1.0, -1.0)
    else:
        contrast[contrast_at] = 1.0
    check_rank(x.to_numpy(dtype=float), x.columns)
    df = n - x.shape[1]
    if df < 1:
        raise DesignError(
            f"design={design!r} leaves {df} residual degrees of freedom ({n} images, "
            f"{x.shape[1]} columns: {list(x.columns)}); at least 1 is needed.")
    return Design(kind=design, matrix=x, contrast=contrast, label=label, scale=scale,
                  covariate_names=cov_names, covariates=cov, levels=two, pairs=pairs,
                  info=info, center_covariates=bool(center_covariates))


# --- the permutation model's view of a design ---------------------------------------------------
@dataclass
class PermutationInputs:
    """What the permutation engine rearranges.

    ``data`` has one row per observation (per subject for a paired design, after
    differencing), ``tested`` is the tested column, ``nuisance`` the other columns (the
    intercept included for label permutation), ``scheme`` ``"sign_flip"`` or ``"permute"``.
    """

    data: np.ndarray
    tested: np.ndarray
    nuisance: np.ndarray
    scheme: str
    df: int

    @property
    def n(self) -> int:
        return int(self.data.shape[0])


def permutation_inputs(design: Design, data: np.ndarray) -> PermutationInputs:
    """Reduce ``design`` to the permutation model of Freedman & Lane (one tested column).

    One-sample: sign flips of the data, the covariates (centred as in the design) as
    nuisance. Two-sample: permutation of the labels, intercept and centred covariates as
    nuisance. Paired: sign flips of the within-subject differences (first − second level),
    the covariate differences as nuisance — the t equals that of DPABI's model with subject
    dummies. The df is the design's.
    """
    n = design.n
    cov = design.covariates
    if design.kind == "one_sample":
        nuisance = cov - cov.mean(axis=0) if design.center_covariates else cov
        return PermutationInputs(data, np.ones(n), nuisance, "sign_flip", design.df)
    if design.kind == "two_sample":
        a = design.levels[0]
        tested = design.matrix[f"group[{a}]"].to_numpy(dtype=float)
        nuisance = np.column_stack([np.ones(n), cov - cov.mean(axis=0)])
        return PermutationInputs(data, tested, nuisance, "permute", design.df)
    if design.kind == "paired":
        ia, ib = design.pairs
        diff = data[ia] - data[ib]
        return PermutationInputs(diff, np.ones(ia.size), cov[ia] - cov[ib], "sign_flip",
                                 design.df)
    raise DesignError(f"design={design.kind!r} has no permutation scheme; use 'one_sample', "
                      "'two_sample' or 'paired'.")


# --- the general linear model: any design matrix, subject effects --------------------------------
@dataclass(frozen=True, eq=False)
class GLMDesign:
    """A voxelwise GLM design (see :func:`build_glm_design`).

    Attributes
    ----------
    matrix : pandas.DataFrame
        Full design matrix X, one row per image: the model's columns, then one dummy per
        subject when subject effects were added (``subject[<id>]``).
    n_model_columns : int
        Number of model columns (the first columns of ``matrix``).
    rank : int
        Rank of X (``df = n − rank``).
    terms : dict of str to list of str
        Each term and its columns (formula terms; one term per column of a given matrix;
        ``"subject"`` for the subject columns). F contrasts can name a term.
    subjects : numpy.ndarray or None
        Subject id per image when subject effects were added.
    formula : str or None
        The formula, when the design was given as one.
    factor_levels, covariates : dict, list
        Levels of each categorical variable and the numeric variables (formula designs).
    aliased_columns : list of str
        Model columns whose coefficient is not estimable on its own: between-subject
        columns (intercept, group, age) absorbed by the subject effects. A contrast that
        involves them is refused unless it is estimable as a whole.
    notes : list of str
        What the builder changed or noticed (unused levels dropped, subjects with one
        image that add nothing to within-subject contrasts).
    info : dict
        ``n_subjects``, ``n_single_image_subjects``, ``n_images_per_subject`` (with subject
        effects).
    data : pandas.DataFrame or None
        The table as coded (formula designs).
    """

    matrix: pd.DataFrame
    n_model_columns: int
    rank: int
    terms: dict
    subjects: np.ndarray | None = None
    formula: str | None = None
    factor_levels: dict = field(default_factory=dict)
    covariates: list = field(default_factory=list)
    aliased_columns: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    data: pd.DataFrame | None = None
    _svd: tuple = field(default=(), repr=False)

    @property
    def n(self) -> int:
        """Number of images."""
        return int(self.matrix.shape[0])

    @property
    def df(self) -> int:
        """Residual degrees of freedom ``n − rank(X)``."""
        return self.n - self.rank

    @property
    def columns(self) -> list[str]:
        """Names of every column of X."""
        return [str(c) for c in self.matrix.columns]

    @property
    def model_columns(self) -> list[str]:
        """Names of the model columns (without the subject columns)."""
        return self.columns[: self.n_model_columns]

    @property
    def has_subject_effects(self) -> bool:
        """Whether subject dummies were added."""
        return self.subjects is not None

    def svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(U, s, Vt)`` of X truncated to its rank: ``X = U diag(s) Vt``."""
        return self._svd

    def pinv(self) -> np.ndarray:
        """Moore–Penrose pseudo-inverse of X, ``V diag(1/s) Uᵀ`` (p × n)."""
        u, s, vt = self._svd
        return (vt.T / s) @ u.T

    def estimable(self, rows: np.ndarray) -> np.ndarray:
        """Whether each row of ``rows`` (k × p) lies in the row space of X."""
        rows = np.atleast_2d(np.asarray(rows, dtype=float))
        vt = self._svd[2]
        resid = rows - (rows @ vt.T) @ vt
        scale = np.maximum(np.linalg.norm(rows, axis=1), np.finfo(float).tiny)
        return np.linalg.norm(resid, axis=1) <= 1e-8 * scale


def small_svd(x: np.ndarray):
    """Thin SVD of a small matrix (a design), on one BLAS thread.

    Multithreaded LAPACK on a matrix of a few thousand entries costs thread wake-ups that,
    on a loaded machine, took 0.2 s instead of 0.5 ms (OpenBLAS 0.3.31, 120 x 47).
    """
    with single_blas_thread():
        return np.linalg.svd(np.asarray(x, dtype=float), full_matrices=False)


def _numeric_design(design: Any) -> pd.DataFrame:
    """A design given as a DataFrame or 2-D array, as a float DataFrame (checked)."""
    if isinstance(design, pd.DataFrame):
        frame = design.reset_index(drop=True)
    else:
        arr = np.asarray(design)
        if arr.ndim != 2:
            raise DesignError(f"The 'design' matrix must be 2-D (images × columns); got shape "
                              f"{arr.shape}.")
        frame = pd.DataFrame(arr, columns=[f"column{j + 1}" for j in range(arr.shape[1])])
    if frame.shape[1] == 0:
        raise DesignError("The 'design' matrix has no column.")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise DesignError(f"The 'design' matrix has duplicated column names {dup}.")
    out = {}
    for name, col in zip(names, frame.columns):
        out[name] = _numeric_column(
            frame[col], f"Column {name!r} of the 'design' matrix",
            "code it (e.g. 0/1 dummies) or give the design as a formula with 'data'",
            "images are never dropped silently: remove them or fix the values")
    return pd.DataFrame(out)


def _subject_ids(subjects: Any, subject: Any, data: Any, n: int) -> np.ndarray | None:
    if subjects is not None and subject is not None:
        raise DesignError("Give subject effects either as 'subjects' (one id per image) or as "
                          "'subject' (the subject-id column of 'data'), not both.")
    if subject is not None:
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"subject={subject!r} names a column of 'data', but no 'data' "
                              "table was given.")
        if subject not in data.columns:
            raise DataError(f"The subject column {subject!r} is not a column of 'data'; "
                            f"available columns: {list(map(str, data.columns))}.")
        if len(data) != n:
            raise DataError(f"'data' has {len(data)} rows but there are {n} images.")
        subjects = data[subject].to_numpy(dtype=object)
    if subjects is None:
        return None
    return image_labels(subjects, n, "subjects", "glm")


def build_glm_design(design: Any, n: int, *, data: Any = None, subjects: Any = None,
                     subject: Any = None) -> GLMDesign:
    """Design of a voxelwise GLM: a formula on ``data``, or a matrix; optional subject effects.

    Parameters
    ----------
    design : str, DataFrame, 2-D array or GLMDesign
        ``"~ arm * session + age"`` (with ``data``), or the design matrix (columns =
        regressors; include an intercept column yourself), or a design built before.
    n : int
        Number of images.
    data : DataFrame or None
        One row per image (formula designs; the ``subject`` column).
    subjects : array-like or None
        One subject id per image: adds one dummy column per subject (SPM's flexible
        factorial subject factor, DPABI's mixed-effect module).
    subject : str or None
        Name of the subject-id column of ``data`` (instead of ``subjects``).

    Raises
    ------
    DesignError
        A rank-deficient model matrix (the columns named), df < 1, conflicting arguments.
    DataError
        Wrong numbers of rows, missing or non-numeric values (the images named).
    """
    if isinstance(design, GLMDesign):
        if design.n != n:
            raise DataError(f"The design has {design.n} rows but there are {n} images.")
        if subjects is not None or subject is not None:
            raise DesignError("'subjects'/'subject' cannot be added to a design built before; "
                              "build it with them.")
        return design
    formula = None
    terms: dict[str, list[str]]
    levels: dict = {}
    covariates: list = []
    notes: list[str] = []
    coded = None
    if isinstance(design, str):
        from painmarkers.inference._formula import formula_matrix

        fm = formula_matrix(design, data, n)
        model, terms, levels = fm.matrix, dict(fm.terms), fm.factor_levels
        covariates, notes, coded, formula = fm.covariates, list(fm.notes), fm.data, design
    else:
        if data is not None and subject is None:
            raise DesignError("'data' is used with a formula design (or for the 'subject' "
                              "column); the design given is a matrix.")
        model = _numeric_design(design)
        if len(model) != n:
            raise DataError(f"The 'design' matrix has {len(model)} rows but there are {n} "
                            "images (one row per image, in the order of imgs).")
        terms = {c: [c] for c in model.columns}
    check_rank(model.to_numpy(dtype=float), model.columns, "The model's design matrix")
    ids = _subject_ids(subjects, subject, data, n)
    info: dict[str, Any] = {}
    full = model
    if ids is not None:
        order = list(dict.fromkeys(ids.tolist()))
        cols = {f"subject[{sid}]": (ids == sid).astype(float) for sid in order}
        clash = [c for c in cols if c in model.columns]
        if clash:
            raise DesignError(f"Subject column name(s) {clash} clash with the model's columns.")
        full = pd.concat([model, pd.DataFrame(cols)], axis=1)
        terms["subject"] = list(cols)
        counts = pd.Series(ids).value_counts()
        single = int((counts == 1).sum())
        info = {"n_subjects": len(order), "n_single_image_subjects": single,
                "n_images_per_subject": {str(k): int(v) for k, v in counts.items()}}
        if single:
            notes.append(f"{single} of {len(order)} subject(s) have one image only: their "
                         "subject effect fits it exactly, so they add nothing to "
                         "within-subject contrasts (they are kept; the df count them out)")
        if single == len(order):
            raise DesignError(
                "Every subject has one image: subject effects would fit the data exactly. "
                "Subject effects are for repeated measures (several images per subject).")
    x = full.to_numpy(dtype=float)
    u, s, vt = small_svd(x)
    tol = s.max() * max(x.shape) * np.finfo(float).eps * 10
    rank = int((s > tol).sum())
    u, s, vt = u[:, :rank], s[:rank], vt[:rank]
    df = n - rank
    if df < 1:
        raise DesignError(
            f"The design leaves {df} residual degrees of freedom ({n} images, rank {rank}: "
            f"{x.shape[1]} columns {list(full.columns)[:12]}...); at least 1 is needed.")
    p_model = model.shape[1]
    aliased = []
    if ids is not None:
        eye = np.eye(x.shape[1])[:p_model]
        resid = eye - (eye @ vt.T) @ vt
        aliased = [str(model.columns[j]) for j in range(p_model)
                   if np.linalg.norm(resid[j]) > 1e-8]
    return GLMDesign(matrix=full, n_model_columns=p_model, rank=rank, terms=terms,
                     subjects=ids, formula=formula, factor_levels=levels,
                     covariates=list(covariates), aliased_columns=aliased, notes=notes,
                     info=info, data=coded, _svd=(u, s, vt))


def glm_permutation_inputs(design: GLMDesign, contrast: np.ndarray, data: np.ndarray,
                           name: str = "contrast") -> PermutationInputs:
    """Partition a GLM for the permutation test of a contrast (Winkler et al. 2014, App. A).

    Under ``H0: Cβ = 0`` (C is k × p) the model is ``Y = X N γ + ε`` with N a basis of the
    null space of C, so the nuisance space is ``col(X N)`` (rank r − k for an estimable C)
    and the tested regressors are ``A = X⁺ᵀ Cᵀ`` (n × k): ``AᵀY = Cβ̂``, ``A ⟂ col(X N)``
    and ``Cov(Cβ̂) = σ² AᵀA``. The nuisance is returned as an orthonormal basis, the tested
    columns as A (a vector when k = 1); the engine's t (or F) for the identity is then the
    GLM's exactly, with df = n − r. ``scheme`` is a placeholder (``"permute"``): the
    caller decides.
    """
    c = np.atleast_2d(np.asarray(contrast, dtype=float))
    k = c.shape[0]
    tested = design.pinv().T @ c.T                      # n × k
    null = np.linalg.svd(c)[2][k:].T                    # p × (p − k), orthonormal, C·N = 0
    z = design.matrix.to_numpy(dtype=float) @ null
    basis = np.zeros((design.n, 0))
    if z.shape[1]:
        u, s, _ = small_svd(z)
        basis = u[:, s > s.max() * max(z.shape) * np.finfo(float).eps * 10]
    if basis.shape[1] != design.rank - k or not np.any(tested):
        raise DesignError(f"Contrast {name!r} is not estimable in this design (the nuisance "
                          f"space has rank {basis.shape[1]}, expected {design.rank - k}).")
    return PermutationInputs(data, tested[:, 0] if k == 1 else tested, basis, "permute",
                             design.df)
