"""Responder analysis between two arms: IMMPACT responder rates, risk difference, NNT, Fisher.

:func:`responders` classifies every subject with :func:`painmarkers.stats.outcomes`
(percent improvement from ``pre`` to ``post``; IMMPACT thresholds 30 % and 50 %) and
compares the responder proportions of two arms: the risk difference with Newcombe's
hybrid score interval, the number needed to treat with Altman's interval and Fisher's
exact test.  The small numeric helpers are public for other tables:
:func:`wilson_interval`, :func:`newcombe_interval` and :func:`nnt_interval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._docs import fill_doc
from painmarkers._validation import check_confidence
from painmarkers.exceptions import DesignError
from painmarkers.model import get_instrument
from painmarkers.stats._data import format_excluded, two_levels
from painmarkers.stats.outcomes import MODERATE, SUBSTANTIAL, outcomes

__all__ = ["RESPONDER_COLUMNS", "newcombe_interval", "nnt_interval", "responders",
           "wilson_interval"]

#: Columns of :func:`responders` (one row per responder threshold).
RESPONDER_COLUMNS = (
    "instrument", "responder", "threshold", "contrast", "n", "n_x", "n_y", "responders_x",
    "responders_y", "proportion_x", "proportion_y", "proportion_x_low", "proportion_x_high",
    "proportion_y_low", "proportion_y_high", "risk_difference", "ci_low", "ci_high",
    "confidence", "ci_method", "nnt", "nnt_kind", "nntb_ci_low", "nntb_ci_high",
    "nnth_ci_low", "nnth_ci_high", "p", "method", "n_excluded", "excluded",
)

_CI_METHOD = "Newcombe hybrid score (Wilson)"


def wilson_interval(count: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (no continuity correction).

    Parameters
    ----------
    count, n : int
        Successes and trials (``0 <= count <= n``, ``n >= 1``).
    confidence : float, default=0.95
        Confidence level.

    Returns
    -------
    (float, float)
        Lower and upper limits.

    Notes
    -----
    With :math:`\\hat p = x/n` and :math:`z = z_{1-\\alpha/2}` (Wilson 1927)::

        (p + z^2/(2n) -+ z sqrt(p (1 - p)/n + z^2/(4 n^2))) / (1 + z^2/n)

    equal to R's ``prop.test(x, n, correct = FALSE)$conf.int``.

    Examples
    --------
    >>> from painmarkers.stats.responders import wilson_interval
    >>> [round(v, 4) for v in wilson_interval(56, 70)]
    [0.6918, 0.877]
    """
    if n < 1 or not 0 <= count <= n:
        raise ValueError(f"A proportion needs 0 <= count <= n and n >= 1. Got count={count!r}, "
                         f"n={n!r}.")
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    p = count / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denom = 1 + z * z / n
    low = 0.0 if count == 0 else (centre - half) / denom
    high = 1.0 if count == n else (centre + half) / denom
    return float(low), float(high)


def newcombe_interval(count_x: int, n_x: int, count_y: int, n_y: int,
                      confidence: float = 0.95) -> tuple[float, float, float]:
    """Risk difference ``p_x - p_y`` with Newcombe's hybrid score interval (method 10).

    Parameters
    ----------
    count_x, n_x, count_y, n_y : int
        Successes and trials of the two groups.
    confidence : float, default=0.95
        Confidence level.

    Returns
    -------
    (float, float, float)
        The difference and its lower and upper limits.

    Notes
    -----
    With :math:`(l_i, u_i)` the Wilson intervals of :math:`\\hat p_x, \\hat p_y`
    (Newcombe 1998, method 10)::

        L = d - sqrt((p_x - l_x)^2 + (u_y - p_y)^2)
        U = d + sqrt((u_x - p_x)^2 + (p_y - l_y)^2)

    It keeps close to nominal coverage in small samples and never leaves [-1, 1];
    the same as ``statsmodels.stats.proportion.confint_proportions_2indep(...,
    method="newcomb")``.

    References
    ----------
    .. [1] Newcombe RG (1998). Interval estimation for the difference between
       independent proportions: comparison of eleven methods. Stat Med 17:873-890.

    Examples
    --------
    >>> from painmarkers.stats.responders import newcombe_interval
    >>> [round(v, 4) for v in newcombe_interval(56, 70, 48, 80)]
    [0.2, 0.0524, 0.3339]
    """
    px, py = count_x / n_x, count_y / n_y
    lx, ux = wilson_interval(count_x, n_x, confidence)
    ly, uy = wilson_interval(count_y, n_y, confidence)
    d = px - py
    return (float(d), float(d - np.hypot(px - lx, uy - py)),
            float(d + np.hypot(ux - px, py - ly)))


def nnt_interval(risk_difference: float, ci_low: float, ci_high: float
                 ) -> dict[str, Any]:
    """Number needed to treat and its interval by inverting the risk-difference limits.

    Parameters
    ----------
    risk_difference, ci_low, ci_high : float
        The difference of responder proportions (treatment minus control) and its
        confidence limits.

    Returns
    -------
    dict
        ``nnt`` (``1 / |RD|``; inf when RD = 0), ``nnt_kind`` (``"benefit"`` when
        RD > 0, ``"harm"`` when RD < 0, ``"none"``), ``nntb_ci_low``, ``nntb_ci_high``,
        ``nnth_ci_low``, ``nnth_ci_high``: the interval on the number needed to treat
        for one more benefit (NNTB) and for one more harm (NNTH); NaN for a part that
        the interval does not reach.

    Notes
    -----
    Altman (1998): an RD interval :math:`(L, U)` with :math:`0 < L` gives NNTB from
    :math:`1/U` to :math:`1/L`; with :math:`U < 0`, NNTH from :math:`1/|U|` to
    :math:`1/|L|`.  When it includes 0 the NNT interval is two disjoint pieces through
    infinity, written "NNTH :math:`1/|L|` to :math:`\\infty` to NNTB :math:`1/U`":
    ``nnth_ci_low = 1/|L|``, ``nnth_ci_high = inf``, ``nntb_ci_low = 1/U``,
    ``nntb_ci_high = inf``.

    References
    ----------
    .. [1] Altman DG (1998). Confidence intervals for the number needed to treat. BMJ
       317:1309-1312.

    Examples
    --------
    >>> from painmarkers.stats.responders import nnt_interval
    >>> out = nnt_interval(0.1, -0.03, 0.2)
    >>> round(out["nnt"], 1), out["nnt_kind"], round(out["nntb_ci_low"], 1)
    (10.0, 'benefit', 5.0)
    >>> round(out["nnth_ci_low"], 1), out["nnth_ci_high"]
    (33.3, inf)
    """
    inf, nan = np.inf, np.nan
    rd, lo, hi = float(risk_difference), float(ci_low), float(ci_high)
    kind = "benefit" if rd > 0 else ("harm" if rd < 0 else "none")
    out = {"nnt": inf if rd == 0 else 1.0 / abs(rd), "nnt_kind": kind,
           "nntb_ci_low": nan, "nntb_ci_high": nan, "nnth_ci_low": nan, "nnth_ci_high": nan}
    if hi > 0:
        out["nntb_ci_low"] = 1.0 / hi
        out["nntb_ci_high"] = 1.0 / lo if lo > 0 else inf
    if lo < 0:
        out["nnth_ci_low"] = 1.0 / abs(lo)
        out["nnth_ci_high"] = 1.0 / abs(hi) if hi < 0 else inf
    return out


@fill_doc
def responders(
    data: Any,
    instrument: str,
    *,
    between: str = "group",
    levels: Sequence[Any] | None = None,
    pre: str = "pre",
    post: str = "post",
    within: str = "session",
    subject: str = "subject_id",
    column: str | None = None,
    zero_baseline: str = "raise",
    moderate: float = MODERATE,
    substantial: float = SUBSTANTIAL,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Responder rates of two arms: risk difference, number needed to treat, Fisher's test.

    Parameters
    ----------
    %(data)s
    instrument : str
        Registered instrument (``"VAS"``, ``"NRS"``, ``"RMDQ"``, ...): its direction sets
        the sign of the percent improvement (see :func:`~painmarkers.stats.outcomes`).
    %(between)s
        Here the arms of a trial.
    %(levels_two)s
        The two arms, treatment first.
    %(pre_post)s
    %(within)s
    %(subject)s
    column : str or None, default=None
        Column of the scores when it is not named after the instrument.
    zero_baseline : {"raise", "nan"}, default="raise"
        A zero baseline (percent change undefined) raises, or excludes the subject
        (listed in ``excluded``), as in :func:`~painmarkers.stats.outcomes`.
    moderate, substantial : float, default=30.0, 50.0
        Percent-improvement thresholds of a responder (IMMPACT: >= 30 % moderately and
        >= 50 % substantially important improvement).
    %(confidence)s
        Every interval (proportions, risk difference, NNT) has this level.

    Returns
    -------
    pandas.DataFrame
        Two rows (``responder`` = ``"moderate"`` then ``"substantial"``), columns
        :data:`RESPONDER_COLUMNS`: ``instrument``; ``responder``; ``threshold`` (%);
        ``contrast`` (``"<levels[0]> - <levels[1]>"``); ``n``, ``n_x``, ``n_y``
        (subjects with a percent change); ``responders_x``, ``responders_y``;
        ``proportion_x``, ``proportion_y`` with Wilson limits ``proportion_x_low`` ...
        ``proportion_y_high``; ``risk_difference`` (``proportion_x - proportion_y``)
        with ``ci_low``, ``ci_high``, ``confidence`` and ``ci_method``; ``nnt``,
        ``nnt_kind``, ``nntb_ci_low``, ``nntb_ci_high``, ``nnth_ci_low``,
        ``nnth_ci_high`` (see :func:`nnt_interval`); ``p`` (Fisher's exact test,
        two-sided) and ``method``; ``n_excluded``, ``excluded``
        (``"<subject> (<reason>)"``: no ``post`` session, score missing, no arm label,
        zero baseline).

    Raises
    ------
    DataError, ScoreRangeError, RegistryError
        As :func:`~painmarkers.stats.outcomes` (missing columns, non-numeric or
        out-of-range scores, duplicated sessions, unknown instrument).
    DesignError
        An arm of ``levels`` absent, more than two arms without ``levels``, or an arm
        with no subject left.

    Notes
    -----
    Responder: percent improvement ``>= threshold``; percent improvement
    :math:`100 (pre - post) / pre` where higher is worse (pain relief, PPR).  The risk
    difference interval is Newcombe's hybrid score interval built on Wilson intervals
    (:func:`newcombe_interval`; checked against R's ``prop.test`` and
    ``statsmodels``' ``confint_proportions_2indep(method="newcomb")``, and Newcombe's
    published examples); the NNT interval inverts it (Altman 1998,
    :func:`nnt_interval`); Fisher's exact test is ``scipy.stats.fisher_exact`` on the
    2 x 2 table (R's ``fisher.test``).  Subjects of other arms are not part of the
    comparison and are not listed.

    References
    ----------
    .. [1] Dworkin RH, et al. (2008). Interpreting the clinical importance of treatment
       outcomes in chronic pain clinical trials: IMMPACT recommendations. J Pain
       9:105-121.
    .. [2] Newcombe RG (1998). Interval estimation for the difference between
       independent proportions: comparison of eleven methods. Stat Med 17:873-890.
    .. [3] Altman DG (1998). Confidence intervals for the number needed to treat. BMJ
       317:1309-1312.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.stats import responders
    >>> pre = [8, 7, 6, 8, 7, 6, 8, 7]
    >>> post = [3, 4, 5, 2, 7, 6, 5, 6]
    >>> long = pd.DataFrame({"subject_id": [f"s{i}" for i in range(8)] * 2,
    ...                      "group": ["active"] * 4 + ["sham"] * 4 + ["active"] * 4
    ...                      + ["sham"] * 4,
    ...                      "session": ["pre"] * 8 + ["post"] * 8, "VAS": pre + post})
    >>> res = responders(long, "VAS", levels=["active", "sham"])
    >>> res[["responder", "responders_x", "responders_y", "risk_difference"]]
         responder  responders_x  responders_y  risk_difference
    0     moderate             3             1              0.5
    1  substantial             2             0              0.5
    """
    confidence = check_confidence(confidence)
    per_subject = outcomes(data, instrument, pre=pre, post=post, within=within,
                           subject=subject, between=between, column=column,
                           zero_baseline=zero_baseline, moderate=moderate,
                           substantial=substantial)
    inst = get_instrument(instrument)
    groups = per_subject["group"]
    text = pd.Series([None if pd.isna(g) else str(g) for g in groups], dtype=object)
    levels = two_levels(sorted({g for g in text if g is not None}), levels, between,
                        noun="arm", hint="levels=(treatment, control)")
    reasons = {}
    for sid, g, why in zip(per_subject["subject_id"], text, per_subject["excluded_reason"],
                           strict=True):
        if g is None:
            reasons[str(sid)] = f"no {between!r} label"
        elif g in levels and isinstance(why, str):
            reasons[str(sid)] = why
    used = per_subject[text.isin(levels).to_numpy() & per_subject["percent_change"].notna()]
    arm = used["group"].astype(str).to_numpy()
    rows = []
    for name, thr, col in (("moderate", moderate, "responder_moderate"),
                           ("substantial", substantial, "responder_substantial")):
        flag = used[col].to_numpy(dtype=bool)
        counts, ns = [], []
        for g in levels:
            ns.append(int((arm == g).sum()))
            counts.append(int(flag[arm == g].sum()))
            if ns[-1] == 0:
                raise DesignError(f"Arm {g!r} has no subject with a percent change of "
                                  f"{inst.name} from {pre!r} to {post!r}.")
        (cx, cy), (nx, ny) = counts, ns
        rd, lo, hi = newcombe_interval(cx, nx, cy, ny, confidence)
        px_lo, px_hi = wilson_interval(cx, nx, confidence)
        py_lo, py_hi = wilson_interval(cy, ny, confidence)
        p = float(stats.fisher_exact([[cx, nx - cx], [cy, ny - cy]]).pvalue)
        rows.append({
            "instrument": inst.name, "responder": name, "threshold": float(thr),
            "contrast": f"{levels[0]} - {levels[1]}", "n": nx + ny, "n_x": nx, "n_y": ny,
            "responders_x": cx, "responders_y": cy, "proportion_x": cx / nx,
            "proportion_y": cy / ny, "proportion_x_low": px_lo, "proportion_x_high": px_hi,
            "proportion_y_low": py_lo, "proportion_y_high": py_hi, "risk_difference": rd,
            "ci_low": lo, "ci_high": hi, "confidence": confidence, "ci_method": _CI_METHOD,
            **nnt_interval(rd, lo, hi), "p": p, "method": "Fisher's exact test",
            "n_excluded": len(reasons), "excluded": format_excluded(reasons)})
    return pd.DataFrame(rows, columns=list(RESPONDER_COLUMNS))
