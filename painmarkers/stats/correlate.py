"""Correlations of one variable with many (e.g. every ROI measure with VAS), partial or not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers import schema
from painmarkers._deprecation import deprecate_positional, rename_parameters
from painmarkers._docs import fill_doc
from painmarkers._validation import check_alternative, check_choice, check_confidence
from painmarkers.exceptions import DataError
from painmarkers.model import Cohort
from painmarkers.stats._data import (
    as_list,
    check_min_n,
    format_excluded,
    is_constant,
    missing_reasons,
    numeric_column,
    one_row_per_subject,
)

__all__ = ["correlate"]


@deprecate_positional(method=3, covariates=4)
@rename_parameters(session="sessions", group="between")
@fill_doc
def correlate(
    data: Cohort | pd.DataFrame,
    x: str | Sequence[str],
    y: str | Sequence[str] | None = None,
    *,
    method: str = "pearson",
    covariates: str | Sequence[str] | None = None,
    between: str = "group",
    sessions: str | Sequence[str] | Mapping[str, str] | None = None,
    within: str = "session",
    subject: str = "subject_id",
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Pearson or Spearman correlation, optionally partial, of ``x`` with each ``y``.

    Parameters
    ----------
    %(data)s
        One row per subject, or rows of several sessions with ``sessions``.
    x : str or list of str
        Variable(s) correlated with every ``y``, e.g. ``"VAS"``.
    y : str, list of str or None, default=None
        Variables to correlate with ``x``. None takes every ROI-measure column
        (named ``"<feature>__<roi>"``, see
        :func:`painmarkers.schema.measure_column`).
    method : {"pearson", "spearman"}, default="pearson"
        Correlation coefficient.
    covariates : str, list of str or None, default=None
        Variables partialled out of both ``x`` and ``y`` (partial correlation).
    %(between)s
    %(sessions)s
    %(within)s
    %(subject)s
    %(alternative)s
        It is about the correlation.
    %(confidence)s

    Returns
    -------
    pandas.DataFrame
        One row per (x, y) pair in long format, columns
        :data:`painmarkers.schema.CORRELATION_COLUMNS`: ``x``, ``y``, ``method``,
        ``covariates`` (``";"``-joined, ``""`` when none), ``alternative``, ``n``
        (complete observations used), ``n_excluded`` and ``excluded``
        (``"<subject> (<reason>)"`` items joined by ``"; "``), ``r``,
        ``ci_low``, ``ci_high``, ``confidence``, ``statistic`` (t), ``df``
        (``n - 2 - k`` with ``k`` covariates), ``p``.

    Raises
    ------
    DataError
        Missing or non-numeric columns, a column that is constant among the
        complete observations (the message names it), a subject with several
        rows.
    DesignError
        Fewer than ``k + 3`` complete observations.
    ValueError
        Unknown option, ``x``/``y`` also listed as covariates.

    Notes
    -----
    Without covariates, ``r`` and ``p`` come from :func:`scipy.stats.pearsonr` or
    :func:`scipy.stats.spearmanr`; with covariates from
    :func:`pingouin.partial_corr` (the correlation of the residuals of ``x`` and
    ``y`` after regressing each on the covariates; for Spearman, on ranks). The
    test statistic is :math:`t = r \\sqrt{df / (1 - r^2)}` with
    :math:`df = n - 2 - k`. The confidence interval uses Fisher's z:
    :math:`\\tanh(\\operatorname{atanh}(r) \\pm z_{1-\\alpha/2} / \\sqrt{n - k - 3})`
    (one-sided alternatives give a one-sided bound), as
    :func:`pingouin.compute_esci`; it is NaN when ``n - k <= 3``. For Spearman's
    rho it is the usual approximation. Excluded and listed (``n_excluded``,
    ``excluded``): subjects with no row of the selected session (``"07 (no 'pre'
    session)"``; with a Cohort, also its subjects with no session at all) and,
    pairwise for each ``y``, rows with a missing value in ``x``, ``y`` or a
    covariate.

    References
    ----------
    .. [1] Fisher RA (1921). On the probable error of a coefficient of correlation
       deduced from a small sample. Metron, 1, 3-32.
    .. [2] Vallat R (2018). Pingouin: statistics in Python. J Open Source Softw,
       3(31), 1026.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.stats import correlate
    >>> df = pd.DataFrame({"VAS": [7, 8, 6, 9, 5, 7.5],
    ...                    "alff__INS_L": [1.1, 1.3, 0.9, 1.4, 0.8, 1.0],
    ...                    "alff__mPFC": [0.7, 0.6, 0.9, 0.5, 1.0, 0.8]})
    >>> res = correlate(df, "VAS")
    >>> res[["y", "n", "r", "p"]].round(3)
                 y  n      r      p
    0  alff__INS_L  6  0.942  0.005
    1   alff__mPFC  6 -0.954  0.003
    """
    check_choice(method, ("pearson", "spearman"), "method")
    check_alternative(alternative)
    confidence = check_confidence(confidence)
    xs = as_list(x, "x")
    if not xs:
        raise ValueError("The 'x' parameter must name at least one column.")
    sel, frame, ids = one_row_per_subject(data, xs, sessions=sessions, within=within,
                                          between=between, subject=subject)
    if y is None:
        ys = [c for c in frame.columns if isinstance(c, str) and "__" in c and c not in xs]
        if not ys:
            raise DataError("y=None correlates x with every ROI-measure column "
                            "('<feature>__<roi>'), but the data have none; pass y=... "
                            f"(columns: {list(frame.columns)}).")
    else:
        ys = as_list(y, "y")
    covs = as_list(covariates, "covariates")
    clash = [c for c in covs if c in xs or c in ys]
    if clash:
        raise ValueError(f"Column(s) {clash} cannot be both a covariate and x or y.")
    cache: dict[str, pd.Series] = {}

    def column(name: str) -> pd.Series:
        if name not in cache:
            cache[name] = numeric_column(frame, name, ids)
        return cache[name]

    rows = []
    for xi in xs:
        for yi in ys:
            if yi == xi:
                continue
            rows.append(_one(xi, yi, covs, method, alternative, confidence, ids, column, sel))
    return pd.DataFrame(rows, columns=list(schema.CORRELATION_COLUMNS))


def _one(x, y, covs, method, alternative, confidence, ids, column, sel) -> dict[str, Any]:
    names = [x, y, *covs]
    cols = {name: column(name) for name in names}
    reasons = {**sel.lost, **missing_reasons(ids, cols)}
    complete = np.logical_and.reduce([c.notna().to_numpy() for c in cols.values()])
    values = {name: c.to_numpy(float)[complete] for name, c in cols.items()}
    n, k = int(complete.sum()), len(covs)
    check_min_n(n, k + 3, f"{x} ~ {y}", f"A {method} correlation with {k} covariate(s)")
    for name in names:
        v = values[name]
        if is_constant(v):
            raise DataError(
                f"Column {name!r} is constant (all {v[0]:g}) among the {n} complete "
                f"observations of {x!r} and {y!r}; the correlation is undefined."
            )
    if k == 0:
        func = stats.pearsonr if method == "pearson" else stats.spearmanr
        res = func(values[x], values[y], alternative=alternative)
        r, p = float(res.statistic), float(res.pvalue)
    else:
        import pingouin as pg

        sub = pd.DataFrame(values)
        res = pg.partial_corr(data=sub, x=x, y=y, covar=list(covs), method=method,
                              alternative=alternative)
        r, p = float(res["r"].iloc[0]), float(res["p_val"].iloc[0])
    df = n - 2 - k
    lo, hi = _fisher_ci(r, n - k, confidence, alternative)
    with np.errstate(divide="ignore"):
        t = r * np.sqrt(df / (1.0 - r**2)) if abs(r) < 1 else np.sign(r) * np.inf
    return {
        "x": x, "y": y, "method": method, "covariates": ";".join(covs),
        "alternative": alternative, "n": n, "n_excluded": len(reasons),
        "excluded": format_excluded(reasons), "r": r, "ci_low": lo, "ci_high": hi,
        "confidence": confidence, "statistic": float(t), "df": df, "p": p,
    }


def _fisher_ci(r: float, n_eff: int, confidence: float, alternative: str) -> tuple[float, float]:
    """Fisher-z interval of r with ``n_eff = n - k`` (as ``pingouin.compute_esci``)."""
    if n_eff <= 3 or not np.isfinite(r):
        return np.nan, np.nan
    if abs(r) >= 1:
        return r, r
    import pingouin as pg

    ci = pg.compute_esci(stat=r, nx=n_eff, ny=n_eff, eftype="r", confidence=float(confidence),
                         alternative=alternative, decimals=15)
    return float(ci[0]), float(ci[1])
