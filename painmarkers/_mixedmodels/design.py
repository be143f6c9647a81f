"""From a table and an R-style formula to the matrices of a linear mixed model.

Formulas are parsed by formulaic (the maintained successor of patsy, also used by
statsmodels), whose column names are patsy's (``arm[T.sham]:session[T.post]``) and whose
column order is R's (terms by degree).  Categorical columns are coded with treatment
(dummy) contrasts, the reference being the first level:

* a pandas ``Categorical`` keeps its category order (unused categories are dropped, as R
  drops unused factor levels; an ordered Categorical is coded like an unordered one);
* text (object / string) columns use their sorted distinct values, R's default for
  character vectors (Python's code-point order, i.e. R in the C locale);
* boolean columns are categorical with levels ``False < True``;
* a numeric column is a covariate unless wrapped in ``C(...)``.

Rows with a missing value in any column the model uses are excluded (and counted, by
subject); every remaining row of every subject is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, DesignError, PainmarkersWarning

__all__: list[str] = []

#: A column varying within this small a share of the subjects looks like a mistake in a
#: between-subject column (warned about unless named in ``between``).
BETWEEN_SHARE = 0.1


@dataclass(frozen=True, eq=False)
class Term:
    """One fixed-effect term: its name, its columns of X and its factors."""

    name: str
    columns: slice
    factors: tuple[str, ...]
    numeric: frozenset[str]


@dataclass(frozen=True, eq=False)
class Design:
    """The matrices of the model and what was excluded to build them."""

    formula: str
    response: str
    subject: str
    random: str
    data: pd.DataFrame              # the rows used, categoricals converted
    X: np.ndarray
    y: np.ndarray | None           # None for a one-sided formula (responses per voxel)
    Z: np.ndarray
    groups: np.ndarray              # subject code (0..N-1) of each row
    subject_ids: list[str]
    column_names: list[str]
    random_names: list[str]
    terms: list[Term]
    has_intercept: bool
    factor_levels: dict[str, list]  # categorical variables of the fixed part -> levels
    covariates: list[str]           # numeric variables of the fixed part
    variables: list[str]            # all variables of the fixed right-hand side
    model_spec: Any                 # formulaic ModelSpec of the fixed right-hand side
    n_rows_input: int
    excluded: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    _factor_cache: dict = field(default_factory=dict, repr=False)

    @property
    def factor_columns(self) -> dict[str, np.ndarray]:
        """Full coding of every factor of the terms (built on first use)."""
        if not self._factor_cache:
            self._factor_cache.update(_factor_columns(formulaic(), self.data, self.terms))
        return self._factor_cache


def formulaic():
    """The formulaic package (a declared dependency), with a clear message if missing."""
    try:
        import formulaic
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise ImportError("Formula designs need formulaic: pip install formulaic") from exc
    return formulaic


def build_design(table: pd.DataFrame, formula: str, *, subject: str, random: str,
                 between: list[str], response: bool = True,
                 also_required: tuple[str, ...] = ()) -> Design:
    """Check the data against the formula and build X, y, Z (see the module docstring).

    With ``response=False`` the formula is one-sided (``"~ arm * session"``): the responses
    come from elsewhere (one per voxel) and ``y`` is empty.  ``also_required`` names more
    columns whose missing values exclude a row (and are counted like the others), e.g. a
    marker of a missing image.
    """
    fl = formulaic()
    shape = "'response ~ terms'" if response else "'~ terms'"
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"The 'formula' parameter must be a string {shape}. "
                         f"Got {formula!r}.")
    if "|" in formula:
        raise ValueError(
            f"The formula {formula!r} holds a random-effect term ('|'); give the fixed part in "
            "'formula', the subject column in 'subject' and the random part in 'random' "
            "(e.g. random='1 + time' for '(1 + time | subject_id)').")
    if not isinstance(random, str) or not random.strip() or "~" in random or "|" in random:
        raise ValueError(f"The 'random' parameter must be the right-hand side of the random "
                         f"part, e.g. '1' or '1 + time'. Got {random!r}.")
    try:
        parsed = fl.Formula(formula)
        rparsed = fl.Formula(random)
    except Exception as exc:
        raise ValueError(f"Cannot parse the formula {formula!r} / random {random!r}: "
                         f"{exc}") from None
    two_sided = hasattr(parsed, "lhs")
    lhs_vars = sorted(parsed.lhs.required_variables) if two_sided else []
    rhs_vars = sorted((parsed.rhs if two_sided else parsed).required_variables)
    ran_vars = sorted(rparsed.required_variables)
    if response and not lhs_vars:
        raise ValueError(f"The formula {formula!r} has no response (left-hand side).")
    if not response and two_sided:
        raise ValueError(
            f"The formula {formula!r} has a left-hand side ({str(parsed.lhs)!r}), but the "
            "response is given separately here (each voxel's value): give the right-hand "
            "side only, e.g. '~ arm * session + age'.")
    _require(table, formula, parsed, lhs_vars + rhs_vars, ran_vars, subject)
    used = list(dict.fromkeys([subject, *lhs_vars, *rhs_vars, *ran_vars, *also_required]))
    data, excluded = _exclude_missing(table, used, subject)
    if data.empty:
        raise DataError(f"No row of the data has all of {used} present.")
    for col in between:
        if col not in table.columns:
            raise DataError(f"The 'between' column {col!r} is not a column of the data; "
                            f"available columns: {list(table.columns)}.")
    notes: list[str] = []
    data = convert_columns(data, [v for v in used if v != subject and v not in also_required],
                           notes)
    ids = data[subject].astype(str)
    subject_ids = sorted(ids.unique())
    groups = pd.Categorical(ids, categories=subject_ids).codes.astype(int)
    _check_between(data, rhs_vars + [v for v in ran_vars if v not in rhs_vars], ids, between)

    try:
        mm = fl.model_matrix(formula, data, na_action="raise")
        zm = fl.model_matrix(random, data, na_action="raise")
    except Exception as exc:
        raise DesignError(f"Cannot build the model matrix of {formula!r}: {exc}") from None
    rhs = mm.rhs if two_sided else mm
    spec = rhs.model_spec
    _check_treatment(spec)
    if two_sided and mm.lhs.shape[1] != 1:
        raise DesignError(f"The response of {formula!r} must be one numeric column; it "
                          f"gives {list(mm.lhs.columns)}.")
    name = str(mm.lhs.columns[0]) if two_sided else ""
    y = mm.lhs.to_numpy(dtype=float).ravel() if two_sided else None
    X = rhs.to_numpy(dtype=float)
    Z = zm.to_numpy(dtype=float)
    names = [str(c) for c in rhs.columns]
    terms, has_intercept = _terms(spec)
    levels, covariates = _variables(spec, data, rhs_vars)
    _check_levels(data, ids, levels)
    _check_design(X, y, Z, names, groups, name, len(subject_ids))
    return Design(
        formula=formula, response=name, subject=subject, random=random, data=data,
        X=X, y=y, Z=Z, groups=groups, subject_ids=subject_ids, column_names=names,
        random_names=[str(c) for c in zm.columns], terms=terms,
        has_intercept=has_intercept, factor_levels=levels, covariates=covariates,
        variables=rhs_vars, model_spec=spec,
        n_rows_input=len(table), excluded=excluded, notes=notes)


# --------------------------------------------------------------------------- checks
def _require(table, formula, parsed, fixed_vars, ran_vars, subject) -> None:
    if subject not in table.columns:
        raise DataError(f"The subject column {subject!r} is not a column of the data; "
                        f"available columns: {list(table.columns)}.")
    for var in fixed_vars:
        if var not in table.columns:
            parts = [*parsed.lhs, *parsed.rhs] if hasattr(parsed, "lhs") else list(parsed)
            terms = [str(t) for t in parts
                     if re.search(rf"\b{re.escape(var)}\b", str(t))]
            raise DataError(
                f"The formula {formula!r} uses {var!r} (in term(s) {terms}), which is not a "
                f"column of the data; available columns: {list(table.columns)}.")
    for var in ran_vars:
        if var not in table.columns:
            raise DataError(f"The random part uses {var!r}, which is not a column of the "
                            f"data; available columns: {list(table.columns)}.")


def _exclude_missing(table: pd.DataFrame, used: list[str],
                     subject: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop rows with a missing value in a used column; one row per affected subject."""
    missing = table[used].isna()
    bad = missing.any(axis=1).to_numpy()
    ids = table[subject].astype(str).where(table[subject].notna(), "<missing id>")
    kept_per = ids[~bad].value_counts()
    rows = []
    for sid, frame in missing[bad].groupby(ids[bad], sort=True):
        cols = [c for c in used if frame[c].any()]
        n_bad = len(frame)
        n_kept = int(kept_per.get(sid, 0))
        what = ", ".join(f"{c} missing in {int(frame[c].sum())}" for c in cols)
        reason = f"{n_bad} row(s) excluded ({what})"
        if n_kept == 0:
            reason += "; no row left: subject excluded"
        rows.append({"subject": sid, "n_rows_excluded": n_bad, "n_rows_used": n_kept,
                     "subject_excluded": n_kept == 0, "reason": reason})
    excluded = pd.DataFrame(rows, columns=["subject", "n_rows_excluded", "n_rows_used",
                                           "subject_excluded", "reason"])
    return table.loc[~bad].copy(), excluded


def convert_columns(data: pd.DataFrame, columns: list[str], notes: list[str]) -> pd.DataFrame:
    """A copy of ``data`` with ``columns`` coded as the module docstring says.

    Categorical, boolean and text columns become pandas Categoricals (their levels in the
    order of the rules above; unused categories dropped, with a note in ``notes``);
    numeric columns become float.
    """
    data = data.copy()
    for col in columns:
        values = data[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            present = set(values.dropna().unique())
            cats = [c for c in values.cat.categories if c in present]
            dropped = [c for c in values.cat.categories if c not in present]
            if dropped:
                notes.append(f"unused level(s) {dropped} of {col!r} dropped")
            data[col] = pd.Categorical(values, categories=cats, ordered=False)
        elif pd.api.types.is_bool_dtype(values):
            cats = [v for v in (False, True) if v in set(values)]
            data[col] = pd.Categorical(values, categories=cats)
        elif not pd.api.types.is_numeric_dtype(values):
            uniq = list(values.unique())
            try:
                cats = sorted(uniq)
            except TypeError:
                cats = sorted(uniq, key=str)
            data[col] = pd.Categorical(values, categories=cats)
        else:
            data[col] = values.astype(float)
    return data


def _varies(data: pd.DataFrame, col: str, ids: pd.Series) -> pd.Series:
    counts = data.groupby(ids.to_numpy(), observed=True)[col].nunique(dropna=False)
    return counts > 1


def _check_between(data, variables, ids, between) -> None:
    multi = ids.value_counts()
    multi = set(multi[multi > 1].index)
    for col in list(dict.fromkeys([*between, *variables])):
        if col not in data.columns:
            continue
        varies = _varies(data, col, ids)
        bad = sorted(varies[varies].index)
        if not bad:
            continue
        first = data.loc[(ids == bad[0]).to_numpy(), col]
        values = list(pd.unique(first.astype(object)))
        if col in between:
            raise DataError(
                f"Column {col!r} is a between-subject column but {len(bad)} subject(s) have "
                f"rows that disagree on it, e.g. subject {bad[0]!r} has {values}.")
        if len(multi) and len(bad) <= BETWEEN_SHARE * len(multi):
            warn(f"Column {col!r} is constant within {len(multi) - len(bad)} of the "
                 f"{len(multi)} subjects with several rows but varies within {len(bad)} "
                 f"(e.g. subject {bad[0]!r}: {values}); if it is a between-subject column this "
                 f"is a data error (name it in 'between' to make it one).", PainmarkersWarning)


def _check_levels(data, ids, levels) -> None:
    for var, levs in levels.items():
        if var not in data.columns:
            continue
        per = data.groupby(data[var].to_numpy(), observed=True)[ids.name].agg(
            lambda s: sorted(set(s.astype(str))))
        ones = [(lev, per[lev][0]) for lev in levs if lev in per.index and len(per[lev]) == 1]
        if ones:
            desc = ", ".join(f"{lev!r} (subject {sid!r})" for lev, sid in ones)
            warn(f"{len(ones)} level(s) of {var!r} are observed in one subject only: {desc}. "
                 "Their effects are estimated from that subject alone (confounded with its "
                 "random effect for a between-subject factor).", PainmarkersWarning)


def _check_treatment(spec) -> None:
    for factor, state in spec.factor_contrasts.items():
        kind = type(state.contrasts).__name__
        if kind != "TreatmentContrasts":
            raise DesignError(
                f"Factor {str(factor)!r} uses {kind}; lmm supports treatment (dummy) coding "
                "only, the reference being the first level (reorder the levels with a pandas "
                "Categorical or C(x, levels=[...])). The Type III tests and the marginal means "
                "do not depend on the coding.")


def _check_design(X, y, Z, names, groups, response, n_subjects) -> None:
    n, p = X.shape
    if not np.all(np.isfinite(X)) or not np.all(np.isfinite(Z)):
        bad = [names[j] for j in range(p) if not np.all(np.isfinite(X[:, j]))]
        where = bad or "of the random part"
        raise DataError(f"The design matrix has non-finite values in column(s) {where}.")
    if y is not None and not np.all(np.isfinite(y)):
        raise DataError(f"The response {response!r} has non-finite values.")
    if n_subjects < 2:
        raise DesignError(f"The data hold {n_subjects} subject; a mixed model needs at least 2.")
    q = Z.shape[1]
    if n <= n_subjects * q:
        raise DesignError(
            f"{n} observations for {n_subjects} subjects x {q} random effect(s): the model needs "
            "more observations than random effects (are there repeated measures?).")
    if n <= p:
        raise DesignError(f"{n} observations for {p} fixed-effect columns: too few rows.")
    if y is not None and np.ptp(y) == 0:
        raise DataError(f"The response {response!r} is constant ({y[0]!r}) in the rows used.")
    scale = np.linalg.norm(X, axis=0)
    zero = [names[j] for j in range(p) if scale[j] == 0]
    if zero:
        raise DesignError(f"Fixed-effect column(s) {zero} are all zero in the rows used "
                          "(an empty level or cell).")
    Xs = X / scale
    rank = np.linalg.matrix_rank(Xs, tol=1e-7 * np.sqrt(n))
    if rank == p:
        return
    kept: list[int] = []
    problems = []
    for j in range(p):
        cols = [*kept, j]
        if np.linalg.matrix_rank(Xs[:, cols], tol=1e-7 * np.sqrt(n)) == len(cols):
            kept.append(j)
            continue
        coef = np.linalg.lstsq(Xs[:, kept], Xs[:, j], rcond=None)[0]
        big = np.abs(coef) > 1e-6 * np.abs(coef).max()
        others = [names[kept[i]] for i in np.nonzero(big)[0]]
        problems.append(f"{names[j]!r} = combination of {others}")
    raise DesignError(
        f"The fixed-effect design matrix is rank deficient (rank {rank} < {p} columns): "
        + "; ".join(problems)
        + ". A covariate is constant or collinear with other terms, or a cell of an "
          "interaction is empty; remove or recode the column(s).")


# --------------------------------------------------------------------------- structure
def _terms(spec) -> tuple[list[Term], bool]:
    out = []
    has_intercept = False
    slices = spec.term_slices
    for term in spec.terms:
        sl = slices[term]
        factors = tuple(str(f.expr) for f in term.factors)
        if factors == ("1",):
            has_intercept = True
            continue
        numeric = frozenset(f for f in factors
                            if spec.encoder_state.get(f, (None,))[0] is not None
                            and spec.encoder_state[f][0].value != "categorical")
        out.append(Term(name=str(term), columns=sl, factors=factors, numeric=numeric))
    return out, has_intercept


def _variables(spec, data, rhs_vars) -> tuple[dict[str, list], list[str]]:
    """Categorical variables (with levels) and numeric covariates of the fixed part."""
    levels: dict[str, list] = {}
    for factor, vars_ in spec.factor_variables.items():
        expr = str(factor.expr)
        state = spec.encoder_state.get(expr)
        if state is None or state[0].value != "categorical":
            continue
        cols = [v for v in vars_ if v in data.columns]
        if len(cols) != 1:
            raise DesignError(f"The categorical factor {expr!r} must involve exactly one "
                              f"column of the data; it involves {sorted(cols)}.")
        levels.setdefault(cols[0], list(state[1]["categories"]))
    covariates = [v for v in rhs_vars if v not in levels]
    return levels, covariates


def _factor_columns(fl, data, terms) -> dict[str, np.ndarray]:
    """Full coding of every factor: all level indicators, or the numeric column."""
    out: dict[str, np.ndarray] = {}
    for term in terms:
        for expr in term.factors:
            if expr in out:
                continue
            mat = fl.model_matrix(f"0 + {expr}", data, na_action="raise").to_numpy(dtype=float)
            if expr in term.numeric and mat.shape[1] != 1:
                raise DesignError(f"The numeric factor {expr!r} gives {mat.shape[1]} columns; "
                                  "lmm supports one column per numeric factor.")
            out[expr] = mat
    return out
