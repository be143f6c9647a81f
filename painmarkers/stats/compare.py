"""t-tests on tabular data (clinical scores, ROI measures): paired, two-sample, one-sample.

Each function wraps :mod:`scipy.stats` (t, df, p, confidence interval of the mean
difference) and :func:`pingouin.compute_effsize` (Cohen's d, Hedges' g) and
returns one row per dependent variable with the columns of
:data:`painmarkers.schema.TTEST_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers import schema
from painmarkers._deprecation import deprecate_positional, rename_parameters
from painmarkers._docs import fill_doc
from painmarkers._validation import check_alternative, check_confidence, check_interval
from painmarkers.exceptions import DataError
from painmarkers.model import Cohort
from painmarkers.stats._data import (
    as_list,
    as_table,
    check_min_n,
    check_one_row_per_subject,
    format_excluded,
    is_constant,
    numeric_column,
    one_row_per_subject,
    require_columns,
    select_sessions,
    session_label,
    subject_ids,
    two_levels,
)

__all__ = ["one_sample_ttest", "paired_ttest", "two_sample_ttest"]

def _hedges_j(df: float) -> float:
    """Small-sample correction J = 1 - 3 / (4 df - 1) of Hedges' g."""
    return 1.0 - 3.0 / (4.0 * df - 1.0)


def _check_not_constant(values: np.ndarray, dv: str, what: str) -> None:
    if is_constant(values):
        raise DataError(
            f"The {what} of {dv!r} are constant (all equal to {values[0]:g}); the t statistic "
            "is undefined."
        )


def _row(**values: Any) -> dict[str, Any]:
    row = dict.fromkeys(schema.TTEST_COLUMNS, np.nan)
    row.update(values)
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(schema.TTEST_COLUMNS))


def _ci(res: Any, confidence: float) -> tuple[float, float]:
    ci = res.confidence_interval(confidence_level=confidence)
    return float(ci.low), float(ci.high)


@deprecate_positional(within=2, pre=3, post=4)
@fill_doc
def paired_ttest(
    data: Cohort | pd.DataFrame,
    dv: str | Sequence[str],
    *,
    pre: str = "pre",
    post: str = "post",
    within: str = "session",
    subject: str = "subject_id",
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Paired t-test of ``pre`` against ``post`` for one or several variables.

    Parameters
    ----------
    %(data)s
        A table has the columns ``subject``, ``within`` and the ``dv`` columns.
    dv : str or list of str
        Variable(s) to test, e.g. ``"VAS"`` or ``["VAS", "RMDQ"]``; one row each.
    %(pre_post)s
        The difference is ``pre - post`` (positive when scores drop, as in Table 2 of the
        seed study).
    %(within)s
    %(subject)s
    %(alternative)s
        It is about ``mean(pre - post)``.
    %(confidence)s

    Returns
    -------
    pandas.DataFrame
        One row per ``dv``, columns :data:`painmarkers.schema.TTEST_COLUMNS`: ``dv``; ``contrast``
        (``"<pre> - <post>"``); ``method`` (``"paired t-test"``); ``alternative``; ``n`` (complete
        pairs); ``n_x``, ``n_y``; ``n_excluded`` and ``excluded`` (``"<subject> (<reason>)"`` items
        joined by ``"; "``); ``mean_x``, ``mean_y``, ``sd_x``, ``sd_y`` (SD with ddof=1);
        ``mean_diff``; ``statistic`` (t); ``df``; ``p``; ``ci_low``, ``ci_high`` (confidence
        interval of ``mean_diff``; a one-sided alternative gives an infinite bound);
        ``confidence``; ``cohen_d`` (Cohen's d_z); ``hedges_g``. Columns that do not apply are NaN.

    Raises
    ------
    DataError
        A missing subject, session or ``dv`` column, a non-numeric value (the
        message names the subject and value), a subject with two rows for one
        session, or constant differences.
    DesignError
        ``pre`` or ``post`` absent from ``within``, or fewer than 2 complete pairs.

    Notes
    -----
    With differences :math:`d_i = pre_i - post_i` of the :math:`n` complete pairs
    (``scipy.stats.ttest_rel``)::

        t = mean(d) / (sd(d) / sqrt(n)),   df = n - 1
        CI = mean(d) -/+ t_{df, 1 - alpha/2} sd(d) / sqrt(n)
        d_z = mean(d) / sd(d)                       (pingouin, eftype="cohen_dz")
        g_z = d_z * J,  J = 1 - 3 / (4 df - 1)      (Hedges' approximate correction)

    Subjects with only one of the two sessions, or a missing value in one, are
    excluded and listed; subjects with neither session (e.g. controls scanned
    once) are not part of the test, except the subjects of a Cohort that have no
    session at all (e.g. every session removed by a motion rule), which are
    listed. Assumes the differences are roughly normal.
    Note that pingouin's ``ttest(paired=True)`` reports ``d_av`` (mean difference
    over the average SD), not ``d_z``.

    References
    ----------
    .. [1] Lakens D (2013). Calculating and reporting effect sizes to facilitate
       cumulative science: a practical primer for t-tests and ANOVAs. Front
       Psychol, 4, 863.
    .. [2] Hedges LV (1981). Distribution theory for Glass's estimator of effect
       size and related estimators. J Educ Stat, 6(2), 107-128.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.stats import paired_ttest
    >>> df = pd.DataFrame({"subject_id": ["01", "02", "03", "04"] * 2,
    ...                    "session": ["pre"] * 4 + ["post"] * 4,
    ...                    "VAS": [7, 8, 6, 7.5, 4, 5, 5, 4.5]})
    >>> res = paired_ttest(df, "VAS")
    >>> res[["contrast", "n", "mean_diff", "statistic", "df", "p"]].round(4)
         contrast  n  mean_diff  statistic   df       p
    0  pre - post  4        2.5        5.0  3.0  0.0154
    """
    check_alternative(alternative)
    confidence = check_confidence(confidence)
    frame = as_table(data)
    require_columns(frame, [within], "session column")
    require_columns(frame, [subject], "subject column")  # pairs are matched by subject
    ids = subject_ids(frame, subject)
    labels = frame[within].astype(str)
    pre, post = session_label(pre, labels, within), session_label(post, labels, within)
    if pre == post:
        raise ValueError(f"'pre' and 'post' must differ. Got {pre!r} twice.")
    # subjects of a Cohort with no row at all lost both sessions
    no_rows = select_sessions(frame, None, within=within, between=None, subject=subject,
                              data=data).lost
    rows = []
    for name in as_list(dv, "dv"):
        values = numeric_column(frame, name, ids)

        def pick(label: str, values: pd.Series = values, name: str = name) -> pd.Series:
            mask = (labels == str(label)).to_numpy()
            sel = pd.Series(values.to_numpy()[mask], index=ids.to_numpy()[mask])
            dup = sel.index[sel.index.duplicated()]
            if len(dup):
                raise DataError(f"Subject {dup[0]!r} has more than one row for session "
                                f"{label!r} (column {name!r}).")
            return sel

        x_all, y_all = pick(pre), pick(post)
        order = list(dict.fromkeys([*x_all.index, *y_all.index]))
        order += [sid for sid in no_rows if sid not in set(order)]
        reasons = {}
        for sid in order:
            why = []
            for label, sel in ((pre, x_all), (post, y_all)):
                if sid not in sel.index:
                    why.append(f"no {label!r} session")
                elif np.isnan(sel[sid]):
                    why.append(f"{name} missing at {label!r}")
            if why:
                reasons[sid] = ", ".join(why)
        keep = [s for s in order if s not in reasons]
        x = x_all.reindex(keep).to_numpy(float)
        y = y_all.reindex(keep).to_numpy(float)
        n = len(keep)
        check_min_n(n, 2, name, "A paired t-test")
        _check_not_constant(x - y, name, f"differences {pre} - {post}")
        res = stats.ttest_rel(x, y, alternative=alternative)
        import pingouin as pg

        dz = float(pg.compute_effsize(x, y, paired=True, eftype="cohen_dz"))
        lo, hi = _ci(res, confidence)
        rows.append(_row(
            dv=name, contrast=f"{pre} - {post}", method="paired t-test",
            alternative=alternative, n=n, n_x=n, n_y=n, n_excluded=len(reasons),
            excluded=format_excluded(reasons), mean_x=x.mean(), mean_y=y.mean(),
            sd_x=x.std(ddof=1), sd_y=y.std(ddof=1), mean_diff=(x - y).mean(),
            statistic=float(res.statistic), df=float(res.df), p=float(res.pvalue),
            ci_low=lo, ci_high=hi, confidence=confidence, cohen_d=dz,
            hedges_g=dz * _hedges_j(n - 1),
        ))
    return _frame(rows)


@deprecate_positional(between=2, levels=3)
@rename_parameters(groups="levels", session="sessions")
@fill_doc
def two_sample_ttest(
    data: Cohort | pd.DataFrame,
    dv: str | Sequence[str],
    *,
    between: str = "group",
    levels: Sequence[str] | None = None,
    sessions: str | Sequence[str] | Mapping[str, str] | None = None,
    within: str = "session",
    subject: str = "subject_id",
    equal_var: bool = True,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Two-sample t-test (Student or Welch) between two groups for one or several variables.

    Parameters
    ----------
    %(data)s
        A table has the columns ``between`` and the ``dv`` columns; one row per subject,
        or rows of several sessions with ``sessions``.
    dv : str or list of str
        Variable(s) to test, e.g. ``"alff__SMA_L"``; one row each.
    %(between)s
    %(levels_two)s
    %(sessions)s
    %(within)s
    %(subject)s
    equal_var : bool, default=True
        True: Student's test with pooled variance; False: Welch's test with
        Welch-Satterthwaite degrees of freedom.
    %(alternative)s
        It is about ``mean(levels[0]) - mean(levels[1])``.
    %(confidence)s

    Returns
    -------
    pandas.DataFrame
        One row per ``dv``, columns :data:`painmarkers.schema.TTEST_COLUMNS`: ``dv``; ``contrast``
        (``"<levels[0]> - <levels[1]>"``); ``method`` (``"Student t-test"`` or ``"Welch t-test"``);
        ``alternative``; ``n`` (subjects of both groups); ``n_x``, ``n_y``; ``n_excluded`` and
        ``excluded`` (``"<subject> (<reason>)"`` items joined by ``"; "``); ``mean_x``, ``mean_y``,
        ``sd_x``, ``sd_y`` (SD with ddof=1); ``mean_diff``; ``statistic`` (t); ``df``; ``p``;
        ``ci_low``, ``ci_high`` (confidence interval of ``mean_diff``; a one-sided alternative
        gives an infinite bound); ``confidence``; ``cohen_d`` (Cohen's d with the pooled SD);
        ``hedges_g``. Columns that do not apply are NaN.

    Raises
    ------
    DataError
        A missing or non-numeric ``dv`` column (the message names the subject
        and value), a subject with several rows, or a ``dv`` constant within both
        groups.
    DesignError
        A label of ``levels`` absent from ``between`` (the message lists those
        present), a session of ``sessions`` absent from ``within``, or fewer than
        2 observations in a group.

    Notes
    -----
    ``scipy.stats.ttest_ind`` gives t, df, p and the interval. Student:
    :math:`t = (\\bar x - \\bar y) / (s_p \\sqrt{1/n_x + 1/n_y})` with
    :math:`s_p^2 = ((n_x - 1) s_x^2 + (n_y - 1) s_y^2) / (n_x + n_y - 2)` and
    :math:`df = n_x + n_y - 2`. Welch: :math:`t = (\\bar x - \\bar y) /
    \\sqrt{s_x^2/n_x + s_y^2/n_y}` with the Welch-Satterthwaite df. Effect sizes
    (``pingouin.compute_effsize``, the same for both tests):
    :math:`d = (\\bar x - \\bar y) / s_p` and :math:`g = d J` with
    :math:`J = 1 - 3 / (4 (n_x + n_y) - 9)` (= 1 - 3 / (4 df - 1), Student df).

    Excluded and listed (``n_excluded``, ``excluded``): subjects with no group
    label; subjects of the two groups with no row of the session selected for
    them (``"07 (no 'pre' session)"``, e.g. a session removed by a motion rule;
    with a Cohort, also its subjects with no session at all); subjects with a
    missing ``dv``. Subjects of other groups are not part of the test. Assumes
    normal data and, for Student's test, equal variances.

    References
    ----------
    .. [1] Welch BL (1947). The generalization of "Student's" problem when several
       different population variances are involved. Biometrika, 34, 28-35.
    .. [2] Hedges LV, Olkin I (1985). Statistical Methods for Meta-Analysis.
       Academic Press.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.stats import two_sample_ttest
    >>> df = pd.DataFrame({"group": ["CLBP"] * 4 + ["HC"] * 3,
    ...                    "alff__SMA_L": [1.2, 1.4, 1.1, 1.3, 0.9, 1.0, 0.8]})
    >>> res = two_sample_ttest(df, "alff__SMA_L", levels=("CLBP", "HC"))
    >>> res[["contrast", "n_x", "n_y", "statistic", "df", "cohen_d"]].round(3)
        contrast  n_x  n_y  statistic   df  cohen_d
    0  CLBP - HC    4    3      3.873  5.0    2.958
    """
    check_alternative(alternative)
    confidence = check_confidence(confidence)
    if not isinstance(equal_var, bool | np.bool_):
        raise TypeError(f"The 'equal_var' parameter must be True or False. Got {equal_var!r}.")
    full = as_table(data)
    require_columns(full, [between], "group column")
    sel = select_sessions(full, sessions, within=within, between=between, subject=subject,
                          data=data)
    frame = sel.rows
    ids = subject_ids(frame, subject)
    labels = frame[between]
    levels = two_levels(sorted({str(v) for v in labels.dropna()}), levels, between)
    str_labels = labels.astype(str).where(labels.notna(), None)
    in_design = str_labels.isin(levels).to_numpy()
    check_one_row_per_subject(
        ids[in_design], ",".join(as_list(dv, "dv")),
        f"pass sessions=... (e.g. {{'{levels[0]}': 'pre', '{levels[1]}': 'baseline'}}) to use "
        "one session per subject.",
    )
    lost = {sid: f"no {between!r} label" for sid in sel.order if sel.groups[sid] is None}
    lost.update({sid: why for sid, why in sel.lost.items() if sel.groups[sid] in levels})
    rows = []
    for name in as_list(dv, "dv"):
        values = numeric_column(frame, name, ids)
        reasons = dict(lost)
        samples = []
        for g in levels:
            mask = (str_labels == g).to_numpy()
            v = values.to_numpy()[mask]
            missing = np.isnan(v)
            reasons.update({sid: f"{name} missing" for sid in ids.to_numpy()[mask][missing]})
            samples.append(v[~missing])
            check_min_n(int((~missing).sum()), 2, name, f"Group {g!r} of a two-sample t-test")
        x, y = samples
        if is_constant(np.concatenate([x - x.mean(), y - y.mean()]),
                       scale=np.concatenate([x, y])):
            raise DataError(f"{name!r} is constant within both groups; the t statistic is "
                            "undefined.")
        res = stats.ttest_ind(x, y, equal_var=bool(equal_var), alternative=alternative)
        import pingouin as pg

        d = float(pg.compute_effsize(x, y, paired=False, eftype="cohen"))
        g_ = float(pg.compute_effsize(x, y, paired=False, eftype="hedges"))
        lo, hi = _ci(res, confidence)
        rows.append(_row(
            dv=name, contrast=f"{levels[0]} - {levels[1]}",
            method="Student t-test" if equal_var else "Welch t-test",
            alternative=alternative, n=len(x) + len(y), n_x=len(x), n_y=len(y),
            n_excluded=len(reasons), excluded=format_excluded(reasons), mean_x=x.mean(),
            mean_y=y.mean(), sd_x=x.std(ddof=1), sd_y=y.std(ddof=1),
            mean_diff=x.mean() - y.mean(), statistic=float(res.statistic), df=float(res.df),
            p=float(res.pvalue), ci_low=lo, ci_high=hi, confidence=confidence, cohen_d=d,
            hedges_g=g_,
        ))
    return _frame(rows)


@rename_parameters(session="sessions", group="between")
@fill_doc
def one_sample_ttest(
    data: Cohort | pd.DataFrame,
    dv: str | Sequence[str],
    mu: float = 0.0,
    *,
    between: str = "group",
    sessions: str | Sequence[str] | Mapping[str, str] | None = None,
    within: str = "session",
    subject: str = "subject_id",
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One-sample t-test of the mean of one or several variables against ``mu``.

    Parameters
    ----------
    %(data)s
        One row per subject, or rows of several sessions with ``sessions``.
    dv : str or list of str
        Variable(s) to test; one row each.
    mu : float, default=0.0
        Mean under the null hypothesis.
    %(between)s
    %(sessions)s
    %(within)s
    %(subject)s
    %(alternative)s
        It is about ``mean - mu``.
    %(confidence)s

    Returns
    -------
    pandas.DataFrame
        One row per ``dv``, columns :data:`painmarkers.schema.TTEST_COLUMNS`: ``dv``; ``contrast``
        (``"mean - <mu>"``); ``method`` (``"one-sample t-test"``); ``alternative``; ``n``
        (observations used; ``n_y`` is NaN and ``mean_y`` is ``mu``); ``n_x``, ``n_y``;
        ``n_excluded`` and ``excluded`` (``"<subject> (<reason>)"`` items joined by ``"; "``);
        ``mean_x``, ``mean_y``, ``sd_x``, ``sd_y`` (SD with ddof=1); ``mean_diff``; ``statistic``
        (t); ``df``; ``p``; ``ci_low``, ``ci_high`` (confidence interval of ``mean_diff``; a
        one-sided alternative gives an infinite bound); ``confidence``; ``cohen_d`` ((mean - mu) /
        SD); ``hedges_g``. Columns that do not apply are NaN.

    Raises
    ------
    DataError
        A missing or non-numeric ``dv`` column (the message names the subject
        and value), a subject with several rows, or constant values.
    DesignError
        A session of ``sessions`` absent from ``within``, or fewer than 2
        observations.

    Notes
    -----
    ``scipy.stats.ttest_1samp``: :math:`t = (\\bar x - \\mu) / (s / \\sqrt n)`,
    :math:`df = n - 1`; :math:`d = (\\bar x - \\mu) / s` (``pingouin.compute_effsize``
    against ``mu``) and :math:`g = d (1 - 3 / (4 df - 1))`. Excluded and listed
    (``n_excluded``, ``excluded``): subjects with no row of the selected session
    (``"07 (no 'pre' session)"``; with a Cohort, also its subjects with no session
    at all) and subjects with a missing value. Assumes roughly normal data.

    References
    ----------
    .. [1] Lakens D (2013). Calculating and reporting effect sizes to facilitate
       cumulative science. Front Psychol, 4, 863.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.stats import one_sample_ttest
    >>> df = pd.DataFrame({"fc__PoCG_L": [0.21, 0.35, 0.12, 0.30, 0.25]})
    >>> one_sample_ttest(df, "fc__PoCG_L")[["n", "statistic", "df", "p"]].round(4)
       n  statistic   df       p
    0  5     6.2565  4.0  0.0033
    """
    check_alternative(alternative)
    confidence = check_confidence(confidence)
    mu = check_interval(mu, "mu")
    sel, frame, ids = one_row_per_subject(data, as_list(dv, "dv"), sessions=sessions,
                                          within=within, between=between, subject=subject)
    rows = []
    for name in as_list(dv, "dv"):
        values = numeric_column(frame, name, ids).to_numpy()
        missing = np.isnan(values)
        reasons = {**sel.lost, **{sid: f"{name} missing" for sid in ids.to_numpy()[missing]}}
        x = values[~missing]
        check_min_n(len(x), 2, name, "A one-sample t-test")
        _check_not_constant(x, name, "values")
        res = stats.ttest_1samp(x, mu, alternative=alternative)
        import pingouin as pg

        d = float(pg.compute_effsize(x, mu, eftype="cohen"))
        lo, hi = _ci(res, confidence)
        rows.append(_row(
            dv=name, contrast=f"mean - {mu:g}", method="one-sample t-test",
            alternative=alternative, n=len(x), n_x=len(x), n_excluded=len(reasons),
            excluded=format_excluded(reasons), mean_x=x.mean(), mean_y=mu,
            sd_x=x.std(ddof=1), mean_diff=x.mean() - mu, statistic=float(res.statistic),
            df=float(res.df), p=float(res.pvalue), ci_low=lo - mu, ci_high=hi - mu,
            confidence=confidence, cohen_d=d, hedges_g=d * _hedges_j(len(x) - 1),
        ))
    return _frame(rows)
