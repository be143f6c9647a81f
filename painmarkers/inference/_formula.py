"""From a table and an R-style formula to a design matrix with named columns (private).

Used by the one design builder (:func:`painmarkers.inference._design.build_glm_design`) for
the voxelwise GLM, and meant for the voxelwise LMM: formulas are parsed by formulaic (the
maintained successor of patsy, a dependency of statsmodels >= 0.15, and the library of
:func:`painmarkers.stats.lmm`), whose column names are patsy's (``arm[T.active]``,
``arm[T.active]:session[T.post]``) and whose column order is R's (terms by degree).

Categorical coding follows the same rules as :func:`painmarkers.stats.lmm`: treatment
(dummy) coding, the reference being the first level, where

* a pandas ``Categorical`` keeps its category order (unused categories dropped, as R drops
  unused factor levels; an ordered Categorical is coded like an unordered one);
* text (object / string) columns use their sorted distinct values (R's default for
  character vectors in the C locale);
* boolean columns are categorical with levels ``False < True``;
* a numeric column is a covariate unless wrapped in ``C(...)``.

The table has one row per image; a missing value in a column the formula uses is an error
naming the images (they are never dropped silently).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._mixedmodels.design import convert_columns, formulaic
from painmarkers.exceptions import DataError, DesignError

__all__ = ["FormulaMatrix", "formula_matrix"]


@dataclass(frozen=True, eq=False)
class FormulaMatrix:
    """A design matrix built from a formula.

    Attributes
    ----------
    matrix : pandas.DataFrame
        One row per image, columns named as patsy names them.
    terms : dict of str to list of str
        Each term of the formula (``"Intercept"``, ``"arm"``, ``"arm:session"``) and its
        columns, in order.
    factor_levels : dict of str to list
        Levels of every categorical variable (the first is the reference).
    covariates : list of str
        Numeric variables of the formula.
    data : pandas.DataFrame
        The table as coded (categorical columns converted).
    notes : list of str
        What was changed on the way (e.g. unused levels dropped).
    model_spec : object
        formulaic's ``ModelSpec`` (to code new data identically).
    """

    formula: str
    matrix: pd.DataFrame
    terms: dict[str, list[str]]
    factor_levels: dict[str, list]
    covariates: list[str]
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    model_spec: Any = None


def formula_matrix(formula: str, data: Any, n: int) -> FormulaMatrix:
    """Design matrix of ``formula`` (right-hand side only) on ``data`` (one row per image).

    Raises
    ------
    ValueError
        ``formula`` is not a string ``"~ terms"``, has a response or a random part.
    DataError
        ``data`` is not a table of ``n`` rows, a variable is not a column (the term using
        it and the available columns are named), a used column has missing or non-finite
        values (the images are named).
    DesignError
        formulaic cannot build the matrix.
    """
    fl = formulaic()
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"The 'design' formula must be a string '~ terms' (e.g. "
                         f"'~ arm * session + age'). Got {formula!r}.")
    if "|" in formula:
        raise ValueError(
            f"The formula {formula!r} has a random-effect term ('|'). voxelwise_glm fits "
            "fixed effects only: give subject effects with subjects= (or subject=), or use a "
            "mixed model.")
    lhs = formula.split("~", 1)[0].strip()
    if lhs:
        raise ValueError(
            f"The formula {formula!r} has a response ({lhs!r}); in a voxelwise model the "
            f"images are the response: write '~{formula.split('~', 1)[1]}'.")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"A formula design needs 'data', a DataFrame with one row per image. "
                        f"Got {type(data).__name__}.")
    if len(data) != n:
        raise DataError(f"'data' has {len(data)} rows but there are {n} images (one row per "
                        "image, in the order of imgs).")
    try:
        parsed = fl.Formula(formula)
    except Exception as exc:
        raise ValueError(f"Cannot parse the formula {formula!r}: {exc}") from None
    needed = sorted(parsed.required_variables)
    for var in needed:
        if var not in data.columns:
            terms = [str(t) for t in parsed if re.search(rf"\b{re.escape(var)}\b", str(t))]
            raise DataError(
                f"The formula {formula!r} uses {var!r} (in term(s) {terms}), which is not a "
                f"column of 'data'; available columns: {list(map(str, data.columns))}.")
    table = data.reset_index(drop=True)
    missing = table[needed].isna() if needed else pd.DataFrame(index=table.index)
    if needed and missing.to_numpy().any():
        rows = np.flatnonzero(missing.any(axis=1).to_numpy())
        cols = [c for c in needed if missing[c].any()]
        raise DataError(
            f"'data' has missing values in column(s) {cols} at image(s) {rows.tolist()[:10]}"
            f"{' ...' if rows.size > 10 else ''}; remove those images (and their rows) or "
            "impute the values explicitly: images are never dropped silently.")
    notes: list[str] = []
    coded = convert_columns(table, needed, notes)
    for col in needed:
        if isinstance(coded[col].dtype, pd.CategoricalDtype):
            continue
        bad = ~np.isfinite(coded[col].to_numpy())
        if bad.any():
            raise DataError(
                f"Column {col!r} of 'data' has non-finite value(s) at image(s) "
                f"{np.flatnonzero(bad).tolist()[:10]}; fix or remove those images.")
    try:
        mm = fl.model_matrix(formula, coded, na_action="raise")
    except Exception as exc:
        raise DesignError(f"Cannot build the design matrix of {formula!r}: {exc}") from None
    spec = mm.model_spec
    names = [str(c) for c in mm.columns]
    matrix = pd.DataFrame(mm.to_numpy(dtype=float), columns=names)
    terms: dict[str, list[str]] = {}
    for term in spec.terms:
        sl = spec.term_slices[term]
        key = "Intercept" if str(term) == "1" else str(term)
        terms[key] = names[sl]
    levels: dict[str, list] = {}
    for factor, state in spec.factor_contrasts.items():
        levels[str(factor)] = list(state.levels)
    covariates = [v for v in needed if v not in levels]
    return FormulaMatrix(formula=formula, matrix=matrix, terms=terms, factor_levels=levels,
                         covariates=covariates, data=coded, notes=notes, model_spec=spec)
