"""Between-subject design of the ANOVA models: factor levels, sum-to-zero coding, checks.

:func:`painmarkers.stats.ancova` and :func:`painmarkers.stats.mixed_anova` code their
between-subject part the same way, as R does under
``options(contrasts = c("contr.sum", "contr.poly"))`` (car's and afex's Type III
convention):

* factor levels: a pandas ``Categorical`` keeps its category order (unused categories
  are dropped), booleans are ``False < True``, anything else uses its sorted distinct
  values (R's ``factor()``); ``levels`` given by the user fix the order and keep only
  those levels;
* a factor of ``m`` levels gets ``m - 1`` sum-to-zero columns (``contr.sum``: level
  ``j < m`` is the unit vector ``e_j``, the last level is ``-1`` everywhere); an
  interaction gets the row-wise products of its factors' columns, the first factor
  varying fastest (R's column order);
* terms in R's order: the factors' main effects, then the covariates, then the
  interactions by order (``A, B, cov, A:B``); the full factorial of the factors, the
  covariates additive (no factor x covariate interaction, the ANCOVA model).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, DesignError, InferenceWarning

__all__: list[str] = []


def factor_levels(values: pd.Series, name: str, requested: Sequence[Any] | None = None
                  ) -> list[Any]:
    """Levels of a factor, in R's order (see the module docstring).

    ``values`` holds the non-missing labels of the subjects analysed; ``requested``
    (the user's ``levels``) must be a subset of them, and sets the order.
    """
    present = pd.unique(values.dropna())
    if requested is not None:
        wanted = list(requested)
        if len(set(map(str, wanted))) != len(wanted):
            raise ValueError(f"The levels of {name!r} name a level twice: {wanted}.")
        as_text = {str(v): v for v in present}
        missing = [w for w in wanted if str(w) not in as_text]
        if missing:
            raise DesignError(
                f"Level(s) {missing} of {name!r} have no subject left to analyse (levels "
                f"present: {sorted(map(str, present))}).")
        return [as_text[str(w)] for w in wanted]
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if c in set(present)]
    if pd.api.types.is_bool_dtype(values):
        return [v for v in (False, True) if v in set(present)]
    try:
        return sorted(present)
    except TypeError:
        return sorted(present, key=str)


def as_levels(levels: Any, between: Sequence[str]) -> dict[str, list[Any] | None]:
    """``levels`` as ``{factor: labels or None}``: a list for one factor, or a mapping."""
    if levels is None:
        return dict.fromkeys(between)
    if isinstance(levels, Mapping):
        unknown = [k for k in levels if k not in between]
        if unknown:
            raise ValueError(f"The 'levels' parameter names {unknown}, which are not between "
                             f"factors ({list(between)}).")
        return {b: (list(levels[b]) if b in levels else None) for b in between}
    if isinstance(levels, str) or len(between) != 1:
        raise ValueError(
            "The 'levels' parameter must be a list of labels of the one between factor, or "
            "a mapping {factor: [labels]} when there are several between factors. Got "
            f"{levels!r}.")
    return {between[0]: list(levels)}


def sum_coding(n_levels: int) -> np.ndarray:
    """R's ``contr.sum(n_levels)``: shape (n_levels, n_levels - 1)."""
    out = np.zeros((n_levels, n_levels - 1))
    out[: n_levels - 1] = np.eye(n_levels - 1)
    out[-1] = -1.0
    return out


@dataclass(frozen=True)
class Term:
    """One term of the between-subject design: its name, factors and columns of ``X``."""

    name: str
    factors: tuple[str, ...]
    covariate: str | None
    columns: slice

    @property
    def df(self) -> int:
        return self.columns.stop - self.columns.start


@dataclass(frozen=True)
class Design:
    """Sum-to-zero design matrix of subjects x (intercept, terms)."""

    X: np.ndarray
    terms: tuple[Term, ...]
    factors: dict[str, list[Any]]
    covariates: tuple[str, ...]
    covariate_means: dict[str, float]
    center: bool
    column_names: tuple[str, ...] = field(default=())

    def rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Design rows of ``frame`` (factor labels and covariate values) in this coding."""
        return _code(frame, self.factors, self.covariates, self.covariate_means,
                     self.center)[0]


def _code(frame: pd.DataFrame, factors: Mapping[str, list[Any]], covariates: Sequence[str],
          means: Mapping[str, float], center: bool
          ) -> tuple[np.ndarray, list[Term], list[str]]:
    n = len(frame)
    blocks = [np.ones((n, 1))]
    names = ["(Intercept)"]
    coded: dict[str, np.ndarray] = {}
    for name, levels in factors.items():
        index = {str(v): i for i, v in enumerate(levels)}
        codes = np.array([index[str(v)] for v in frame[name]])
        coded[name] = sum_coding(len(levels))[codes]
    terms: list[Term] = []
    start = 1

    def add(name: str, block: np.ndarray, facs: tuple[str, ...], cov: str | None,
            labels: list[str]) -> None:
        nonlocal start
        blocks.append(block)
        names.extend(labels)
        terms.append(Term(name, facs, cov, slice(start, start + block.shape[1])))
        start += block.shape[1]

    fnames = list(factors)
    for f in fnames:
        add(f, coded[f], (f,), None, [f"{f}{j + 1}" for j in range(coded[f].shape[1])])
    for c in covariates:
        x = frame[c].to_numpy(float) - (means[c] if center else 0.0)
        add(c, x[:, None], (), c, [c])
    for order in range(2, len(fnames) + 1):
        for combo in itertools.combinations(fnames, order):
            block = coded[combo[0]]
            labels = [f"{combo[0]}{j + 1}" for j in range(block.shape[1])]
            for f in combo[1:]:
                other = coded[f]
                # first factor varies fastest: column (i, j) -> j * ncol(block) + i
                block = (block[:, :, None] * other[:, None, :]).transpose(0, 2, 1)
                block = block.reshape(n, -1)
                labels = [f"{lab}:{f}{j + 1}" for j in range(other.shape[1]) for lab in labels]
            add(":".join(combo), block, combo, None, labels)
    return np.hstack(blocks), terms, names


def build_design(frame: pd.DataFrame, factors: Mapping[str, list[Any]],
                 covariates: Sequence[str], *, center: bool = False,
                 what: str = "subject") -> Design:
    """Code ``frame`` (one row per subject) and check that the design can be estimated.

    Raises DesignError for an empty cell of the factorial, a constant covariate, a
    covariate collinear with the factors or other covariates, or a rank-deficient
    design; warns (InferenceWarning) when a level or cell holds one subject only.
    """
    factors = {k: list(v) for k, v in factors.items()}
    covariates = tuple(covariates)
    check_cells(frame, factors, what)
    means = {c: float(frame[c].mean()) for c in covariates}
    for c in covariates:
        x = frame[c].to_numpy(float)
        if np.ptp(x) <= 1e-12 * max(1.0, float(np.max(np.abs(x)))):
            raise DesignError(
                f"Covariate {c!r} is constant ({x[0]:g}) over the {len(x)} {what}s analysed; "
                "it cannot be estimated - remove it from 'covariates'.")
    X, terms, names = _code(frame, factors, covariates, means, center)
    check_rank(X, terms, names)
    return Design(X=X, terms=tuple(terms), factors=factors, covariates=covariates,
                  covariate_means=means, center=center, column_names=tuple(names))


def check_cells(frame: pd.DataFrame, factors: Mapping[str, list[Any]], what: str) -> None:
    """Every level (and every cell of the factorial) needs a subject; warn on one."""
    if not factors:
        return
    names = list(factors)
    for name, levels in factors.items():
        if len(levels) < 2:
            raise DesignError(
                f"Between factor {name!r} has a single level ({levels[0]!r}) among the "
                f"{what}s analysed; it needs at least two.")
    counts = frame.groupby([frame[n].astype(str) for n in names], observed=True).size()
    cells = list(itertools.product(*[[str(v) for v in factors[n]] for n in names]))
    empty, single = [], []
    for cell in cells:
        key = cell if len(names) > 1 else cell[0]
        count = int(counts.get(key, 0))
        label = ", ".join(f"{n}={v!r}" for n, v in zip(names, cell, strict=True))
        if count == 0:
            empty.append(label)
        elif count == 1:
            single.append(label)
    if empty:
        raise DesignError(
            f"{len(empty)} cell(s) of the between-subject design have no {what}: "
            f"{'; '.join(empty)}. The full factorial of {names} cannot be estimated; drop a "
            "factor or merge levels.")
    if single:
        warn(f"{len(single)} cell(s) of the between-subject design hold a single {what} "
             f"({'; '.join(single)}): its mean is estimated without any within-cell "
             "variability and contributes nothing to the error term; results lean on the "
             "equal-variance assumption.", InferenceWarning)


def check_rank(X: np.ndarray, terms: Sequence[Term], names: Sequence[str]) -> None:
    """Raise DesignError naming the term whose columns are linearly dependent on others."""
    n, p = X.shape
    if n <= p:
        raise DesignError(
            f"The design has {p} parameters but only {n} subjects: no error degrees of "
            "freedom remain. Use fewer factors or covariates, or more subjects.")
    scale = np.linalg.norm(X, axis=0)
    Xs = X / np.where(scale > 0, scale, 1.0)
    sv = np.linalg.svd(Xs, compute_uv=False)
    tol = max(n, p) * np.finfo(float).eps * sv[0] * 1e3
    if sv[-1] > tol:
        return
    # the first column (in term order) that depends on the columns before it
    for j in range(1, p):
        sub = Xs[:, : j + 1]
        s = np.linalg.svd(sub, compute_uv=False)
        if s[-1] <= tol:
            term = next(t for t in terms if t.columns.start <= j < t.columns.stop)
            before = sorted({t.name for t in terms if t.columns.start < j}
                            | ({"(Intercept)"} if j > 0 else set()))
            kind = "covariate" if term.covariate is not None else "term"
            raise DesignError(
                f"The design matrix is rank deficient: {kind} {term.name!r} (column "
                f"{names[j]!r}) is a linear combination of {before}. A covariate collinear "
                "with a factor (e.g. constant within each group) or with another covariate "
                "cannot be separated from it; remove it.")
    raise DesignError("The design matrix is rank deficient.")  # pragma: no cover


# ----------------------------------------------------------------------------- subject data
def constant_within(frame: pd.DataFrame, ids: pd.Series, column: str, kind: str) -> pd.Series:
    """The one value of ``column`` per subject (NaN rows ignored); DataError if they differ."""
    values = frame[column]
    df = pd.DataFrame({"s": ids.to_numpy(), "v": values.to_numpy()})
    df = df[df["v"].notna()]
    key = df["v"].astype(str) if kind == "factor" else df["v"].astype(float)
    n_distinct = key.groupby(df["s"], sort=False).nunique()
    bad = n_distinct[n_distinct > 1]
    if len(bad):
        sid = bad.index[0]
        vals = list(dict.fromkeys(df.loc[df["s"] == sid, "v"].tolist()))
        what = "between factor" if kind == "factor" else "subject-level covariate"
        raise DataError(
            f"Subject {sid!r} has different values of {column!r} across its rows: {vals} "
            f"({len(bad)} subject(s) in all). A {what} must take one value per subject.")
    first = df.drop_duplicates("s").set_index("s")["v"]
    order = list(dict.fromkeys(ids))
    return first.reindex(order)


def missing_in(values: Mapping[str, pd.Series]) -> dict[str, list[str]]:
    """``{subject: [column, ...]}`` of the subjects with NaN in any of ``values``."""
    out: dict[str, list[str]] = {}
    for col, series in values.items():
        for sid in series.index[series.isna().to_numpy()]:
            out.setdefault(str(sid), []).append(col)
    return out


def ols(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares of ``Y`` (n,) or (n, k) on full-rank ``X``: (coef, (X'X)^-1, residuals)."""
    Q, R = np.linalg.qr(X)
    coef = np.linalg.solve(R, Q.T @ Y)
    Rinv = np.linalg.solve(R, np.eye(R.shape[0]))
    return coef, Rinv @ Rinv.T, Y - X @ coef


def rss(X: np.ndarray, y: np.ndarray) -> float:
    """Residual sum of squares of ``y`` on ``X`` (an intercept-only or empty X allowed)."""
    if X.shape[1] == 0:
        return float(y @ y)
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    r = y - X @ coef
    return float(r @ r)
