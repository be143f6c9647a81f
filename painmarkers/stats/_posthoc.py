"""Estimated marginal means of a linear model and their pairwise contrasts (emmeans' way).

emmeans (Lenth) predicts a fitted model on its *reference grid*: every combination of
the factor levels, each covariate at its mean over the subjects used.  The marginal mean
of ``specs`` within a ``by`` group averages the grid predictions over the other factors
with equal weights: :math:`\\hat\\mu = \\bar x^\\top \\hat\\beta`, with
:math:`SE = \\sqrt{\\bar x^\\top V \\bar x}` and the model's residual df.  A pairwise
contrast is :math:`\\hat\\mu_i - \\hat\\mu_j` with :math:`t = est / SE`; a family is the set
of pairs within one ``by`` group.  Multiplicity adjustments, as ``emmeans::pairs(...,
adjust=)`` with ``infer = TRUE``:

* ``"tukey"``: :math:`p = P(Q_{k,\\nu} > \\sqrt 2 |t|)` with the studentized range
  distribution of ``k`` means (``ptukey``), limits
  :math:`est \\pm q_{k,\\nu}(conf) / \\sqrt 2 \\cdot SE` (``qtukey``);
* ``"holm"``: Holm's step-down p values over the ``m`` pairs of the family; the
  limits are Bonferroni's (:math:`t_{1 - (1 - conf)/(2m), \\nu}`), as emmeans gives them
  (Holm has no simultaneous intervals);
* ``"bonferroni"``: :math:`\\min(1, m p)` and the same limits;
* ``"none"``: unadjusted.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers.exceptions import DesignError
from painmarkers.stats._anova_design import Design

__all__: list[str] = []

ADJUST = ("holm", "tukey", "bonferroni", "none")


def product_first_fastest(levels: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """All combinations of ``levels``, the first variable varying fastest (R's grids)."""
    return [tuple(reversed(c)) for c in itertools.product(*reversed(list(levels)))]


def as_names(value: str | Sequence[str] | None, name: str, design: Design) -> list[str]:
    """Factor names of ``specs``/``by``, checked against the design's factors."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if item not in design.factors:
            raise ValueError(f"The {name!r} parameter names {item!r}, which is not a between "
                             f"factor of the model; factors: {list(design.factors)}.")
    return items


def reference_grid(design: Design) -> tuple[pd.DataFrame, np.ndarray]:
    """Every combination of factor levels, covariates at their means, and its X rows."""
    names = list(design.factors)
    combos = product_first_fastest([design.factors[n] for n in names]) if names else [()]
    grid = pd.DataFrame(combos, columns=names)
    for c in design.covariates:
        grid[c] = design.covariate_means[c]
    return grid, design.rows(grid)


def emm_rows(design: Design, specs: str | Sequence[str], by: str | Sequence[str] | None
             ) -> tuple[pd.DataFrame, np.ndarray]:
    """Labels (``by`` then ``specs`` columns) and averaging rows of the marginal means."""
    spec_vars = as_names(specs, "specs", design)
    by_vars = as_names(by, "by", design)
    if not spec_vars:
        raise ValueError("The 'specs' parameter must name at least one between factor.")
    both = set(spec_vars) & set(by_vars)
    if both:
        raise ValueError(f"Factor(s) {sorted(both)} are in both 'specs' and 'by'.")
    grid, Xg = reference_grid(design)
    labels, rows = [], []
    for by_combo in product_first_fastest([design.factors[v] for v in by_vars]):
        for spec_combo in product_first_fastest([design.factors[v] for v in spec_vars]):
            sel = np.ones(len(grid), dtype=bool)
            for var, lev in zip(by_vars + spec_vars, by_combo + spec_combo, strict=True):
                sel &= (grid[var].astype(str) == str(lev)).to_numpy()
            labels.append(dict(zip(by_vars + spec_vars, by_combo + spec_combo, strict=True)))
            rows.append(Xg[sel].mean(axis=0))
    return pd.DataFrame(labels, columns=by_vars + spec_vars), np.array(rows)


def estimate(L: np.ndarray, coef: np.ndarray, vcov: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Estimates ``L b`` and their standard errors."""
    est = L @ coef
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, vcov, L))
    return est, se


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p values (R's ``p.adjust(method = "holm")``)."""
    p = np.asarray(p, float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="mergesort")
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(1.0, adj)
    return out


def adjust_family(est: np.ndarray, se: np.ndarray, df: float, n_means: int, adjust: str,
                  confidence: float) -> dict[str, np.ndarray]:
    """t, unadjusted and adjusted p, and (adjusted) limits of one family of pairs."""
    t = est / se
    p = 2.0 * stats.t.sf(np.abs(t), df)
    m = est.size
    alpha = 1.0 - confidence
    if adjust == "tukey" and n_means > 2:
        p_adj = stats.studentized_range.sf(np.sqrt(2.0) * np.abs(t), n_means, df)
        crit = stats.studentized_range.ppf(confidence, n_means, df) / np.sqrt(2.0)
    elif adjust in ("holm", "bonferroni") and m > 1:
        p_adj = holm(p) if adjust == "holm" else np.minimum(1.0, m * p)
        crit = stats.t.ppf(1.0 - alpha / (2.0 * m), df)
    else:
        p_adj = p.copy()
        crit = stats.t.ppf(1.0 - alpha / 2.0, df)
    return {"t": t, "p": p, "p_adjusted": np.minimum(1.0, p_adj),
            "ci_low": est - crit * se, "ci_high": est + crit * se}


def pairwise_rows(labels: pd.DataFrame, L: np.ndarray, spec_vars: Sequence[str],
                  by_vars: Sequence[str]) -> list[tuple[str, str, np.ndarray, int]]:
    """Families of pairs: ``(by label, contrast label, row, n_means)`` in emmeans' order."""
    if len(labels) == 0:
        raise DesignError("No marginal means to compare.")
    by_key = labels[list(by_vars)].astype(str).agg(", ".join, axis=1) if by_vars else \
        pd.Series([""] * len(labels))
    name = labels[list(spec_vars)].astype(str).agg(" ".join, axis=1)
    out = []
    for key in dict.fromkeys(by_key):
        idx = np.flatnonzero((by_key == key).to_numpy())
        for a, b in itertools.combinations(idx, 2):
            out.append((key, f"{name.iloc[a]} - {name.iloc[b]}", L[a] - L[b], len(idx)))
    return out
