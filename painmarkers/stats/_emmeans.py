"""Estimated marginal means (emmeans' reference grid) and the contrasts built on them.

emmeans (Lenth) predicts the model on a *reference grid*: every combination of the levels
of the categorical variables of the fixed part, with each numeric covariate at its mean
over the rows used in the fit.  A marginal mean of ``specs`` (within the ``by`` groups) is
the equally weighted average of the grid predictions over the other factors:
:math:`\\hat\\mu = \\bar x^\\top\\hat\\beta`, with :math:`\\bar x` the average of the grid rows
of that cell.  A contrast of marginal means is again one row :math:`l = \\sum_c w_c\\bar x_c`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._mixedmodels.design import Design
from painmarkers.exceptions import DesignError

__all__: list[str] = []


def reference_grid(design: Design, at: Mapping[str, Any] | None = None
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """Grid of all factor-level combinations (covariates at their means) and its X rows."""
    at = dict(at or {})
    for key in at:
        if key not in design.variables:
            raise ValueError(f"The 'at' parameter names {key!r}, which is not a variable of "
                             f"the fixed part; variables: {design.variables}.")
    factors = {}
    for var, levels in design.factor_levels.items():
        if var in at:
            wanted = list(at[var]) if _is_list(at[var]) else [at[var]]
            bad = [w for w in wanted if w not in levels]
            if bad:
                raise ValueError(f"The 'at' parameter gives level(s) {bad} of {var!r}, which "
                                 f"has levels {levels}.")
            factors[var] = wanted
        else:
            factors[var] = list(levels)
    names = list(factors)
    rows = list(itertools.product(*factors.values())) if names else [()]
    grid = pd.DataFrame(rows, columns=names)
    for var in names:
        grid[var] = pd.Categorical(grid[var], categories=design.factor_levels[var])
    for var in design.covariates:
        if var in at:
            value = at[var]
            if _is_list(value):
                raise ValueError(f"The 'at' parameter must give one value of the covariate "
                                 f"{var!r}. Got {value!r}.")
            grid[var] = float(value)
        else:
            grid[var] = float(design.data[var].mean())
    Xg = design.model_spec.get_model_matrix(grid, na_action="raise")
    if [str(c) for c in Xg.columns] != design.column_names:
        raise DesignError("The reference grid does not reproduce the model's columns "
                          f"({list(Xg.columns)} vs {design.column_names}).")
    return grid, Xg.to_numpy(dtype=float)


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence | np.ndarray | pd.Index) and not isinstance(value, str)


def _as_names(value: str | Sequence[str] | None, name: str, design: Design) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if item not in design.factor_levels:
            raise ValueError(
                f"The {name!r} parameter names {item!r}, which is not a categorical variable "
                f"of the fixed part; categorical variables: {list(design.factor_levels)}.")
    return items


def emm_rows(design: Design, specs: str | Sequence[str], by: str | Sequence[str] | None,
             at: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Labels and averaging rows ``l`` of the marginal means of ``specs`` within ``by``."""
    spec_vars = _as_names(specs, "specs", design)
    by_vars = _as_names(by, "by", design)
    if not spec_vars:
        raise ValueError("The 'specs' parameter must name at least one categorical variable.")
    both = set(spec_vars) & set(by_vars)
    if both:
        raise ValueError(f"Variable(s) {sorted(both)} are in both 'specs' and 'by'.")
    grid, Xg = reference_grid(design, at)
    keys = by_vars + spec_vars
    labels = []
    rows = []
    present = [[c for c in grid[v].cat.categories if c in set(grid[v])] for v in keys]
    for combo in itertools.product(*present):
        sel = np.ones(len(grid), dtype=bool)
        for var, lev in zip(keys, combo):
            sel &= (grid[var] == lev).to_numpy()
        if not sel.any():
            continue
        labels.append(dict(zip(keys, combo)))
        rows.append(Xg[sel].mean(axis=0))
    return pd.DataFrame(labels, columns=keys), np.array(rows)


def change_rows(design: Design, within: str, between: str | None, pre: Any, post: Any,
                levels: Sequence[Any] | None, at: Mapping[str, Any] | None = None
                ) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of the changes from ``pre`` within each group and of their differences."""
    (within,) = _as_names(within, "within", design)
    session_levels = design.factor_levels[within]
    pre = session_levels[0] if pre is None else pre
    if pre not in session_levels:
        raise ValueError(f"The 'pre' parameter must be a level of {within!r} "
                         f"({session_levels}). Got {pre!r}.")
    if post is None:
        posts = [s for s in session_levels if s != pre]
    else:
        posts = list(post) if _is_list(post) else [post]
    for s in posts:
        if s not in session_levels or s == pre:
            raise ValueError(f"The 'post' parameter must hold levels of {within!r} other than "
                             f"{pre!r} ({session_levels}). Got {s!r}.")
    if between is None:
        groups = [None]
    else:
        (between,) = _as_names(between, "between", design)
        if between == within:
            raise ValueError("The 'between' and 'within' parameters name the same column.")
        all_levels = design.factor_levels[between]
        groups = list(all_levels) if levels is None else list(levels)
        bad = [g for g in groups if g not in all_levels]
        if bad or len(set(groups)) != len(groups) or len(groups) < 1:
            raise ValueError(f"The 'levels' parameter must list distinct levels of "
                             f"{between!r} ({all_levels}). Got {levels!r}.")
    keys = [within] + ([between] if between is not None else [])
    cells, rows = emm_rows(design, keys, None, at)

    def cell(group, session) -> np.ndarray:
        sel = (cells[within] == session).to_numpy()
        if group is not None:
            sel = sel & (cells[between] == group).to_numpy()
        return rows[np.nonzero(sel)[0][0]]

    labels, out = [], []
    for g in groups:
        for s in posts:
            labels.append({"contrast": f"{'' if g is None else f'{g}: '}{s} - {pre}",
                           "kind": "change", "levels": "" if g is None else str(g),
                           "sessions": f"{s} - {pre}"})
            out.append(cell(g, s) - cell(g, pre))
    if between is not None:
        for i, j in itertools.combinations(range(len(groups)), 2):
            gi, gj = groups[i], groups[j]
            for s in posts:
                labels.append({"contrast": f"({gi} - {gj}): {s} - {pre}",
                               "kind": "difference of changes", "levels": f"{gi} - {gj}",
                               "sessions": f"{s} - {pre}"})
                out.append((cell(gi, s) - cell(gi, pre)) - (cell(gj, s) - cell(gj, pre)))
    return pd.DataFrame(labels), np.array(out)
