"""Statistical power and required sample size for t-tests and correlations.

Thin, validated wrappers: t-tests use statsmodels' noncentral-t power
(``TTestIndPower``, ``TTestPower``); correlations use the Fisher-z based
approximation of Cohen (1988) as in R's ``pwr.r.test`` (the same numbers as
``pingouin.power_corr``) or the plain Fisher-z closed form. Every function
returns a one-row tidy frame with the columns of
:data:`painmarkers.schema.POWER_COLUMNS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_interval
from painmarkers.exceptions import DataError
from painmarkers.schema import POWER_COLUMNS

__all__ = ["power_corr", "power_from_result", "power_ttest"]

_ALTERNATIVES = ("two-sided", "greater", "less")
_DESIGNS = ("two-sample", "paired", "one-sample")


def _one_missing(names: dict[str, Any]) -> str:
    missing = [k for k, v in names.items() if v is None]
    if len(missing) != 1:
        raise ValueError(
            f"Give exactly two of {', '.join(map(repr, names))} and leave the other one None; "
            f"got None for {missing or 'none of them'}."
        )
    return missing[0]


def _row(**kw: Any) -> pd.DataFrame:
    return pd.DataFrame([{c: kw.get(c, np.nan) for c in POWER_COLUMNS}])


@fill_doc
def power_ttest(
    effect_size: float | None = None,
    n: float | None = None,
    power: float | None = None,
    *,
    design: str = "two-sample",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    ratio: float = 1.0,
) -> pd.DataFrame:
    """Power, required n or detectable effect of a t-test.

    Give exactly two of ``effect_size``, ``n`` and ``power``; the third is solved for.

    Parameters
    ----------
    effect_size : float or None, default=None
        Cohen's d: the standardised mean difference for a two-sample test, or
        d_z = mean(diff) / sd(diff) for paired and one-sample tests.
    n : float or None, default=None
        Subjects in the first group (two-sample; the second has ``ratio * n``), pairs
        (paired) or subjects (one-sample).
    power : float or None, default=None
        Desired power (1 - beta), in (0, 1).
    design : {"two-sample", "paired", "one-sample"}, default="two-sample"
        Test design. Paired tests are one-sample tests of the differences.
    %(alpha_power)s
    %(alternative)s
        ``"less"`` expects a negative effect size.
    ratio : float, default=1.0
        Size of the second group relative to the first (two-sample only).

    Returns
    -------
    pandas.DataFrame
        One row, columns :data:`painmarkers.schema.POWER_COLUMNS`: ``test``,
        ``alternative``, ``effect_size``, ``effect_size_type`` (``"cohen_d"`` or
        ``"cohen_dz"``), ``alpha``, ``power``, ``n`` (rounded up to whole subjects when
        solved for), ``n_exact``, ``n_total``, ``ratio``, ``solved_for``, ``method``.

    Raises
    ------
    ValueError
        If not exactly one of the three is None, or a value is out of range.

    Notes
    -----
    Power is computed from the noncentral t distribution with noncentrality
    ``d * sqrt(n1 n2 / (n1 + n2))`` on ``n1 + n2 - 2`` df (two-sample) or
    ``d_z sqrt(n)`` on ``n - 1`` df (paired, one-sample), by statsmodels
    (``TTestIndPower``/``TTestPower``); checked against ``pingouin.power_ttest``.
    Observed effect sizes from small studies are inflated when selected for
    significance; plan replications on a conservative (smaller) effect.

    References
    ----------
    .. [1] Cohen, J. (1988). Statistical power analysis for the behavioral sciences
       (2nd ed.). Lawrence Erlbaum.

    Examples
    --------
    >>> from painmarkers.stats.power import power_ttest
    >>> res = power_ttest(effect_size=0.8, power=0.8)
    >>> int(res.loc[0, "n"])
    26
    """
    from statsmodels.stats.power import TTestIndPower, TTestPower

    check_choice(design, _DESIGNS, "design")
    check_choice(alternative, _ALTERNATIVES, "alternative")
    alpha = check_interval(alpha, "alpha", 0, 1, closed="neither")
    ratio = check_interval(ratio, "ratio", 0, None, closed="neither")
    solved = _one_missing({"effect_size": effect_size, "n": n, "power": power})
    if power is not None:
        power = check_interval(power, "power", 0, 1, closed="neither")
    if effect_size is not None:
        effect_size = check_interval(effect_size, "effect_size")
        if effect_size == 0 and solved == "n":
            raise ValueError("The 'effect_size' parameter must be non-zero to solve for n. Got 0.")
    if n is not None:
        n = check_interval(n, "n", 2, None)
    if effect_size is not None and solved != "power" and (
        (alternative == "greater" and effect_size <= 0)
        or (alternative == "less" and effect_size >= 0)
    ):
        raise ValueError(
            f"With alternative={alternative!r} the effect size must be "
            f"{'positive' if alternative == 'greater' else 'negative'}; got {effect_size!r}."
        )
    alt = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]
    if design == "two-sample":
        engine = TTestIndPower()
        kw = {"effect_size": effect_size, "nobs1": n, "alpha": alpha, "power": power,
              "ratio": ratio, "alternative": alt}
        key = "nobs1"
    else:
        engine = TTestPower()
        kw = {"effect_size": effect_size, "nobs": n, "alpha": alpha, "power": power,
              "alternative": alt}
        key = "nobs"
    target = {"effect_size": "effect_size", "n": key, "power": "power"}[solved]
    kw[target] = None
    value = float(np.squeeze(engine.solve_power(**kw)))
    n_exact = n
    if solved == "n":
        n_exact = value
        n = math.ceil(value - 1e-9)
    elif solved == "power":
        power = value
    else:
        effect_size = value
    if design == "two-sample":
        n_total = n + math.ceil(ratio * n - 1e-9) if solved == "n" else n * (1 + ratio)
    else:
        n_total = n
    return _row(
        test=f"{design} t-test", alternative=alternative, effect_size=effect_size,
        effect_size_type="cohen_d" if design == "two-sample" else "cohen_dz", alpha=alpha,
        power=power, n=n, n_exact=n_exact, n_total=n_total,
        ratio=ratio if design == "two-sample" else np.nan, solved_for=solved,
        method="noncentral t (statsmodels)",
    )


def _corr_power(r: float, n: float, alpha: float, alternative: str, method: str) -> float:
    """Power of the test of H0: rho = 0."""
    if alternative == "less":
        r = -r
    elif alternative == "two-sided":
        r = abs(r)
    tails = 2 if alternative == "two-sided" else 1
    se = 1 / math.sqrt(n - 3)
    if method == "fisher":
        z_crit = stats.norm.isf(alpha / tails)
        zr = math.atanh(r) / se
        pw = stats.norm.sf(z_crit - zr)
        if tails == 2:
            pw += stats.norm.cdf(-z_crit - zr)
        return float(pw)
    # Cohen (1988) / pwr.r.test: critical r from the t distribution, bias-corrected z.
    df = n - 2
    t_crit = stats.t.isf(alpha / tails, df)
    r_crit = math.sqrt(t_crit**2 / (t_crit**2 + df))
    zr = math.atanh(r) + r / (2 * (n - 1))
    zc = math.atanh(r_crit)
    pw = stats.norm.cdf((zr - zc) / se)
    if tails == 2:
        pw += stats.norm.cdf((-zr - zc) / se)
    return float(pw)


@fill_doc
def power_corr(
    r: float | None = None,
    n: float | None = None,
    power: float | None = None,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    method: str = "pwr",
) -> pd.DataFrame:
    """Power, required n or detectable r of a test of a Pearson correlation.

    Give exactly two of ``r``, ``n`` and ``power``.

    Parameters
    ----------
    r : float or None, default=None
        Correlation under the alternative, in (-1, 1). Its sign matters only for
        one-sided alternatives.
    n : float or None, default=None
        Number of subjects (pairs of observations), > 4.
    power : float or None, default=None
        Desired power, in (0, 1).
    %(alpha_power)s
    %(alternative)s
    method : {"pwr", "fisher"}, default="pwr"
        ``"pwr"``: Cohen's (1988) approximation used by R ``pwr.r.test`` and
        ``pingouin.power_corr``. ``"fisher"``: the textbook Fisher-z closed form.

    Returns
    -------
    pandas.DataFrame
        One row with the columns of :data:`painmarkers.schema.POWER_COLUMNS`
        (``effect_size`` is r, ``effect_size_type`` is ``"r"``, ``n`` is rounded up
        when solved for, ``n_exact`` is the unrounded solution).

    Raises
    ------
    ValueError
        If not exactly one of the three is None or a value is out of range.

    Notes
    -----
    ``"fisher"``: with z = atanh(r), power = Phi(z sqrt(n - 3) - z_{1-alpha/2}) (plus
    the negligible other tail), so for a two-sided test
    ``n = ((z_{1-alpha/2} + z_{1-beta}) / atanh(r))^2 + 3``.
    ``"pwr"``: the critical r is taken from the t distribution on n - 2 df and
    z(r) gets the bias correction r / (2(n - 1)); it is slightly less conservative.
    Both assume bivariate normality. A replication of an observed correlation from a
    small study should budget for its inflation (winner's curse).

    References
    ----------
    .. [1] Cohen, J. (1988). Statistical power analysis for the behavioral sciences
       (2nd ed.), chapter 3. Lawrence Erlbaum.

    Examples
    --------
    What n does a replication of the seed study's mPFC-VAS correlation
    (r = -0.54) need for 80 % power?

    >>> from painmarkers.stats.power import power_corr
    >>> int(power_corr(r=-0.54, power=0.8, method="fisher").loc[0, "n"])
    25
    """
    check_choice(alternative, _ALTERNATIVES, "alternative")
    check_choice(method, ("pwr", "fisher"), "method")
    alpha = check_interval(alpha, "alpha", 0, 1, closed="neither")
    solved = _one_missing({"r": r, "n": n, "power": power})
    if r is not None:
        r = check_interval(r, "r", -1, 1, closed="neither")
        if r == 0 and solved == "n":
            raise ValueError("The 'r' parameter must be non-zero to solve for n. Got 0.")
    if n is not None:
        n = check_interval(n, "n", 4, None, closed="neither")
    if power is not None:
        power = check_interval(power, "power", 0, 1, closed="neither")
    if r is not None and solved != "power" and (
        (alternative == "greater" and r <= 0) or (alternative == "less" and r >= 0)
    ):
        raise ValueError(
            f"With alternative={alternative!r} the correlation must be "
            f"{'positive' if alternative == 'greater' else 'negative'}; got r={r!r}."
        )
    n_exact = n
    if solved == "power":
        power = _corr_power(r, n, alpha, alternative, method)
    elif solved == "n":
        def f(m):
            return _corr_power(r, m, alpha, alternative, method) - power
        if f(4 + 1e-9) >= 0:
            n_exact = 4.0
        else:
            n_exact = optimize.brentq(f, 4 + 1e-9, 1e9, xtol=1e-10)
        n = math.ceil(n_exact - 1e-9)
    else:
        sign = -1.0 if alternative == "less" else 1.0
        def g(x):
            return _corr_power(sign * x, n, alpha, alternative, method) - power
        r = sign * optimize.brentq(g, 1e-10, 1 - 1e-10, xtol=1e-12)
    return _row(
        test="correlation", alternative=alternative, effect_size=r, effect_size_type="r",
        alpha=alpha, power=power, n=n, n_exact=n_exact, n_total=n, solved_for=solved,
        method="Cohen (1988) Fisher-z approximation (pwr.r.test)" if method == "pwr"
        else "Fisher z closed form",
    )


@fill_doc
def power_from_result(
    result: pd.DataFrame | Mapping[str, Any],
    power: float = 0.8,
    *,
    alpha: float = 0.05,
    design: str | None = None,
) -> pd.DataFrame:
    """Achieved power and the n needed for ``power``, from observed results.

    Parameters
    ----------
    result : pandas.DataFrame, pandas.Series or mapping
        Rows of a painmarkers result frame: correlations (a column ``r`` and ``n``,
        as from ``stats.correlate``) or t-tests (``cohen_d`` with ``n_x`` and
        ``n_y`` or ``n``, as from ``stats.compare``).
    power : float, default=0.8
        Power wanted for the replication.
    %(alpha_power)s
    design : {"two-sample", "paired", "one-sample"} or None, default=None
        Design of t-test rows; None reads it from the row's ``method`` text
        ("paired", "one-sample", otherwise two-sample).

    Returns
    -------
    pandas.DataFrame
        Two rows per input row (``solved_for="power"``: the power the observed n
        had for the observed effect; ``solved_for="n"``: the n needed for
        ``power``), columns :data:`painmarkers.schema.POWER_COLUMNS`, plus
        ``source_row`` (the input row's index).

    Raises
    ------
    DataError
        If a row has neither ``r`` nor ``cohen_d``, or lacks its n.

    Notes
    -----
    Uses :func:`power_corr` (method "pwr") and :func:`power_ttest`. The "achieved"
    power of an observed effect is a transformation of its p-value and says
    nothing new about that study; its use is planning the next one.

    Examples
    --------
    >>> from painmarkers.stats.power import power_from_result
    >>> out = power_from_result({"r": -0.54, "n": 15})
    >>> out["solved_for"].tolist()
    ['power', 'n']
    """
    power = check_interval(power, "power", 0, 1, closed="neither")
    if isinstance(result, pd.DataFrame):
        rows = list(result.iterrows())
    elif isinstance(result, pd.Series):
        rows = [(result.name, result)]
    elif isinstance(result, Mapping):
        rows = [(0, pd.Series(dict(result)))]
    else:
        raise TypeError(
            f"The 'result' parameter must be a DataFrame, Series or mapping. Got {type(result)}."
        )
    if design is not None:
        check_choice(design, _DESIGNS, "design")
    out = []
    for idx, row in rows:
        if "r" in row and pd.notna(row.get("r")):
            if pd.isna(row.get("n", np.nan)):
                raise DataError(f"Result row {idx!r} has r but no 'n'.")
            a = power_corr(r=float(row["r"]), n=float(row["n"]), alpha=alpha)
            b = power_corr(r=float(row["r"]), power=power, alpha=alpha)
        elif "cohen_d" in row and pd.notna(row.get("cohen_d")):
            method = str(row.get("method", "")).lower()
            des = design or ("paired" if "paired" in method else
                             "one-sample" if "one" in method else "two-sample")
            d = float(row["cohen_d"])
            if des == "two-sample":
                nx, ny = row.get("n_x", np.nan), row.get("n_y", np.nan)
                if pd.isna(nx) or pd.isna(ny):
                    raise DataError(f"Two-sample result row {idx!r} needs 'n_x' and 'n_y'.")
                kw = {"ratio": float(ny) / float(nx)}
                n_obs = float(nx)
            else:
                n_obs = row.get("n", np.nan)
                if pd.isna(n_obs):
                    raise DataError(f"Result row {idx!r} needs 'n' for a {des} t-test.")
                kw = {}
                n_obs = float(n_obs)
            a = power_ttest(effect_size=d, n=n_obs, design=des, alpha=alpha, **kw)
            b = power_ttest(effect_size=d, power=power, design=des, alpha=alpha, **kw)
        else:
            raise DataError(
                f"Result row {idx!r} has neither an 'r' nor a 'cohen_d' value; cannot compute "
                "power."
            )
        both = pd.concat([a, b], ignore_index=True)
        both["source_row"] = idx
        out.append(both)
    return pd.concat(out, ignore_index=True)
