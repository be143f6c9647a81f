"""Publication tables in the form of the seed study: demographics (Table 1), clinical (Table 2).

The table functions return numeric DataFrames (floats, never formatted strings);
:func:`format_table` turns one into the strings of a printed table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._deprecation import deprecate_positional, rename_parameters
from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_positive_int
from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, DesignError
from painmarkers.model import Cohort, get_instrument, list_instruments
from painmarkers.stats import outcomes, paired_ttest
from painmarkers.stats._data import (
    as_list,
    as_table,
    format_excluded,
    numeric_column,
    require_columns,
    select_sessions,
    subject_ids,
)

__all__ = ["clinical_table", "demographics_table", "format_table"]

_FEMALE = ("f", "female", "w", "woman", "women")
_MALE = ("m", "male", "man", "men")

#: Name of the percent change of each instrument in the seed study.
PERCENT_LABELS = {"VAS": "PPR", "NRS": "PPR", "RMDQ": "PDC", "ODI": "PDC"}


@deprecate_positional(between=1, variables=2, sex=3)
@rename_parameters(group="between", groups="levels")
@fill_doc
def demographics_table(
    data: Cohort | pd.DataFrame,
    *,
    between: str | None = "group",
    levels: Sequence[str] | None = None,
    variables: Sequence[str] = ("age", "bmi", "pain_duration_years"),
    sex: str | None = "sex",
    sessions: str | Sequence[str] | Mapping[str, str] | None = None,
    within: str = "session",
    subject: str = "subject_id",
) -> pd.DataFrame:
    """Demographics per group as in Table 1 of the seed study: mean (SD), female/male %.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (its :meth:`~painmarkers.model.Cohort.participants` table is
        used) or a table with one row per subject (or, with ``sessions``, one row
        per subject and session, such as :meth:`~painmarkers.model.Cohort.wide`).
    between : str or None, default="group"
        Column holding the group labels; None gives one row for everyone
        (``"all"``).
    levels : sequence of str or None, default=None
        Group labels to show, in order; None shows every group, sorted.
    variables : sequence of str, default=("age", "bmi", "pain_duration_years")
        Numeric columns summarised by mean and SD.
    sex : str or None, default="sex"
        Column holding sex (``F``/``female``/``woman`` and ``M``/``male``/``man``,
        case-insensitive; other values are counted as ``sex_other_n``). None
        leaves the sex columns NaN.
    sessions : str, list of str, mapping or None, default=None
        Tabulate only the subjects that have this session: a label, several, or
        ``{group label: session label}`` (e.g. the sessions of a two-sample test,
        so that Table 1 describes the subjects it analysed). None tabulates every
        subject.
    within : str, default="session"
        Column holding session labels of a table (used with ``sessions``).
    %(subject)s

    Returns
    -------
    pandas.DataFrame
        One row per group with columns ``group``, ``n`` (subjects tabulated),
        ``n_excluded`` (subjects of the group left out because they lack the
        session of ``sessions``), then for each variable ``<v>_mean``, ``<v>_sd``
        (ddof=1) and ``<v>_n`` (non-missing values), then ``female_n``,
        ``female_pct``, ``male_n``, ``male_pct``, ``sex_other_n``,
        ``sex_missing_n``. Percentages are of the subjects whose sex is recorded.
        All numbers are numeric; a variable with no value in a group (e.g. pain
        duration of controls) is NaN.
        Every subject of the data that is not tabulated is listed in
        ``table.attrs["excluded"]`` as ``"<subject> (<reason>)"`` items joined by
        ``"; "`` (``""`` when none), and counted in ``table.attrs["n_excluded"]``:
        ``"no 'group' label"`` (also a
        :class:`~painmarkers.exceptions.PainmarkersWarning`), ``"group 'x' not in
        levels"``, ``"no 'pre' session"`` or ``"group 'x' not in sessions"``. So
        ``table["n"].sum() + table.attrs["n_excluded"]`` is the number of subjects.

    Raises
    ------
    DataError
        A missing or non-numeric variable column (the message names the subject
        and value), a subject listed twice (pass ``sessions`` for a table with
        one row per session), or ``sessions`` with a table that has no ``within``
        column.
    DesignError
        A requested group or session absent from the data.

    Notes
    -----
    Mean and sample SD (``ddof=1``) over the non-missing values of each group;
    missing values are counted in ``<v>_n``, not imputed.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.reporting import demographics_table
    >>> people = pd.DataFrame({"group": ["CLBP", "CLBP", "CLBP", "HC", "HC"],
    ...                        "age": [40, 50, 45, 38, 42], "sex": ["F", "M", "F", "F", "M"]})
    >>> table = demographics_table(people, variables=["age"])
    >>> table[["group", "n", "age_mean", "age_sd", "female_pct"]].round(2)
      group  n  age_mean  age_sd  female_pct
    0  CLBP  3      45.0    5.00       66.67
    1    HC  2      40.0    2.83       50.00
    """
    frame, lost, unmapped, groups_of = _people(data, sessions, between=between,
                                               within=within, subject=subject)
    ids = subject_ids(frame, subject)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise DataError(f"Subject {dup.iloc[0]!r} appears more than once; the demographics "
                        "table needs one row per subject (pass sessions=... to tabulate the "
                        "subjects of a table with one row per session).")
    variables = as_list(variables, "variables")
    values = {v: numeric_column(frame, v, ids) for v in variables}
    excluded = {**lost, **unmapped}
    if between is None:
        labels = pd.Series("all", index=frame.index)
        order = ["all"]
    else:
        require_columns(frame, [between], "group column")
        labels = pd.Series([None if pd.isna(v) else str(v) for v in frame[between]],
                           index=frame.index, dtype=object)
        present = sorted({g for g in labels if g is not None})
        excluded.update({sid: f"no {between!r} label" for sid in ids[labels.isna().to_numpy()]})
        no_group = [sid for sid, why in excluded.items() if why == f"no {between!r} label"]
        if no_group:
            warn(f"Subject(s) {no_group} have no {between!r} label and are left out of "
                 "the demographics table.")
        order = present if levels is None else [str(g) for g in as_list(levels, "levels")]
        absent = [g for g in order if g not in present]
        if absent:
            raise DesignError(f"Group(s) {absent} absent from column {between!r} (present: "
                              f"{present}).")
        excluded.update({sid: f"group {g!r} not in levels"
                         for sid, g in zip(ids, labels, strict=True)
                         if g is not None and g not in order})
    if sex is not None:
        require_columns(frame, [sex], "sex column")
        coded = np.array([None if pd.isna(v) else str(v).strip().lower() for v in frame[sex]],
                         dtype=object)
    rows = []
    for g in order:
        mask = (labels == g).to_numpy()
        row: dict[str, Any] = {
            "group": g, "n": int(mask.sum()),
            "n_excluded": sum(between is None or groups_of.get(sid) == g for sid in lost),
        }
        for v in variables:
            x = values[v].to_numpy()[mask]
            x = x[~np.isnan(x)]
            row[f"{v}_mean"] = x.mean() if len(x) else np.nan
            row[f"{v}_sd"] = x.std(ddof=1) if len(x) > 1 else np.nan
            row[f"{v}_n"] = len(x)
        if sex is None:
            row.update(dict.fromkeys(("female_n", "female_pct", "male_n", "male_pct",
                                      "sex_other_n", "sex_missing_n"), np.nan))
        else:
            s = coded[mask]
            known = np.array([v is not None for v in s])
            n_f = int(sum(v in _FEMALE for v in s))
            n_m = int(sum(v in _MALE for v in s))
            n_known = int(known.sum())
            row.update({
                "female_n": n_f, "female_pct": 100 * n_f / n_known if n_known else np.nan,
                "male_n": n_m, "male_pct": 100 * n_m / n_known if n_known else np.nan,
                "sex_other_n": n_known - n_f - n_m, "sex_missing_n": int((~known).sum()),
            })
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["painmarkers_table"] = "demographics"
    rank = {sid: i for i, sid in enumerate(groups_of)}
    excluded = dict(sorted(excluded.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    table.attrs["excluded"] = format_excluded(excluded)
    table.attrs["n_excluded"] = len(excluded)
    return table


def _people(data: Cohort | pd.DataFrame, sessions: Any, *, between: str | None, within: str,
            subject: str) -> tuple[pd.DataFrame, dict[str, str], dict[str, str], dict[str, Any]]:
    """Who Table 1 tabulates and who ``sessions`` leaves out.

    Returns the table of one row per subject to tabulate; ``{subject: reason}`` of
    the subjects without the selected session (``"no 'pre' session"``); with a
    ``{group: session}`` mapping, ``{subject: reason}`` of those whose group is not
    mapped (``"group 'x' not in sessions"``) or who have no group label; and every
    subject's group label, in order of first appearance.
    """
    selecting = sessions is not None and len(sessions) > 0
    if isinstance(data, Cohort):
        people = data.participants()
        key = schema.SUBJECT
        rows = pd.DataFrame([(sub.id, ses.label) for sub, ses in data.iter_sessions()],
                            columns=[key, schema.SESSION])
        if between is not None and between in people.columns:
            rows[between] = rows[key].map(dict(zip(people[key], people[between],
                                                   strict=True)))
        sel = select_sessions(rows, sessions, within=schema.SESSION, between=between,
                              subject=key, data=data)
        frame = people[people[key].isin(set(sel.rows[key]))] if selecting else people
    else:
        sel = select_sessions(as_table(data), sessions, within=within, between=between,
                              subject=subject, data=data)
        frame = sel.rows
    lost = dict(sel.lost) if selecting else {}
    unmapped: dict[str, str] = {}
    if selecting and isinstance(sessions, Mapping):
        kept = set(subject_ids(sel.rows, schema.SUBJECT if isinstance(data, Cohort)
                               else subject))
        for sid in sel.order:
            if sid not in kept and sid not in lost:
                g = sel.groups[sid]
                unmapped[sid] = (f"no {between!r} label" if g is None
                                 else f"group {g!r} not in sessions")
    return frame, lost, unmapped, {sid: sel.groups[sid] for sid in sel.order}


@deprecate_positional(pre=2, post=3)
@fill_doc
def clinical_table(
    data: Cohort | pd.DataFrame,
    instruments: Sequence[str] | None = None,
    *,
    pre: str = "pre",
    post: str = "post",
    within: str = "session",
    subject: str = "subject_id",
    zero_baseline: str = "raise",
) -> pd.DataFrame:
    """Clinical scores before and after treatment as in Table 2 of the seed study.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (typically ``cohort.select(levels="CLBP")``), its tidy table, or
        a table with one row per subject and session.
    instruments : sequence of str or None, default=None
        Instruments to tabulate (e.g. ``["VAS", "RMDQ"]``); None takes every
        registered instrument that has a column in the data.
    pre, post : str, default="pre", "post"
        Labels of the two sessions compared, in column ``within``.
    within : str, default="session"
        Column holding session labels.
    %(subject)s
    zero_baseline : {"raise", "nan"}, default="raise"
        Passed to :func:`painmarkers.stats.outcomes`: a zero baseline raises, or
        is left out of the percent change only (``percent_n`` says so).

    Returns
    -------
    pandas.DataFrame
        One row per instrument, columns ``instrument``, ``percent_label`` (PPR
        for VAS/NRS, PDC for RMDQ/ODI, else ``"percent change"``), ``n``
        (complete pairs), ``n_excluded``, ``excluded`` (as
        :func:`painmarkers.stats.paired_ttest`), ``pre_mean``,
        ``pre_sd``, ``post_mean``, ``post_sd``, ``percent_mean``, ``percent_sd``,
        ``percent_n``, ``mean_diff`` (pre - post), ``ci_low``, ``ci_high``,
        ``cohen_d`` (d_z), ``statistic`` (paired t), ``df``, ``p``. Numbers are
        floats.

    Raises
    ------
    DataError
        A missing or non-numeric instrument column, no instrument column at all,
        or a zero baseline with ``zero_baseline="raise"``.
    DesignError
        A session absent, or fewer than 2 complete pairs.

    Notes
    -----
    Every number of a row uses the same subjects: those with both sessions
    (others are listed in ``excluded``). ``percent`` is
    :func:`painmarkers.stats.percent_change` per subject, averaged (PPR =
    100 (VAS_pre - VAS_post) / VAS_pre); the paired t-test is
    :func:`painmarkers.stats.paired_ttest` on pre - post.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.reporting import clinical_table
    >>> df = pd.DataFrame({"subject_id": ["01", "02", "03"] * 2,
    ...                    "session": ["pre"] * 3 + ["post"] * 3,
    ...                    "VAS": [8.0, 6.0, 7.0, 4.0, 5.0, 4.0]})
    >>> clinical_table(df)[["instrument", "pre_mean", "post_mean", "percent_mean", "statistic"]]
      instrument  pre_mean  post_mean  percent_mean  statistic
    0        VAS       7.0   4.333333     36.507937   3.023716
    """
    check_choice(zero_baseline, ("raise", "nan"), "zero_baseline")
    frame = as_table(data)
    if instruments is None:
        instruments = [name for name in list_instruments() if name in frame.columns]
        if not instruments:
            raise DataError(f"No instrument column in the data (instruments: "
                            f"{list_instruments()}; columns: {list(frame.columns)}).")
    instruments = [instruments] if isinstance(instruments, str) else list(instruments)
    rows = []
    for name in instruments:
        inst = get_instrument(name)
        column = name if name in frame.columns else inst.name
        test = paired_ttest(data, column, pre=pre, post=post, within=within,
                            subject=subject).iloc[0]
        out = outcomes(data, inst.name, pre=pre, post=post, within=within, subject=subject,
                       column=column, zero_baseline=zero_baseline)
        pct = out["percent_change"].dropna().to_numpy()
        rows.append({
            "instrument": inst.name,
            "percent_label": PERCENT_LABELS.get(inst.name, "percent change"),
            "n": int(test["n"]), "n_excluded": int(test["n_excluded"]),
            "excluded": test["excluded"],
            "pre_mean": test["mean_x"], "pre_sd": test["sd_x"],
            "post_mean": test["mean_y"], "post_sd": test["sd_y"],
            "percent_mean": pct.mean() if len(pct) else np.nan,
            "percent_sd": pct.std(ddof=1) if len(pct) > 1 else np.nan,
            "percent_n": len(pct),
            "mean_diff": test["mean_diff"], "ci_low": test["ci_low"],
            "ci_high": test["ci_high"], "cohen_d": test["cohen_d"],
            "statistic": test["statistic"], "df": test["df"], "p": test["p"],
        })
    table = pd.DataFrame(rows)
    table.attrs["painmarkers_table"] = "clinical"
    return table


def _fmt(x: float, decimals: int) -> str:
    from painmarkers.reporting.formatting import MISSING

    return MISSING if x is None or not np.isfinite(x) else f"{x:.{decimals}f}"


def _fmt_p(p: float, decimals: int) -> str:
    from painmarkers.reporting.formatting import format_p

    return format_p(p, decimals)


def format_table(table: pd.DataFrame, *, decimals: int = 2, p_decimals: int = 3) -> pd.DataFrame:
    """Format a :func:`demographics_table` or :func:`clinical_table` for printing.

    Parameters
    ----------
    table : pandas.DataFrame
        A table returned by :func:`demographics_table` or :func:`clinical_table`.
    decimals : int, default=2
        Decimals of means, SDs and t.
    p_decimals : int, default=3
        Decimals of p-values, in APA style (:func:`format_p`: ``".012"``; smaller
        ones print as ``"< .001"``).

    Returns
    -------
    pandas.DataFrame of str
        Demographics: one row per group (``"CLBP (N=15)"``) and one column per
        variable, ``"mean (SD)"``, plus ``"Female/Male (%)"`` as ``"54/46"``.
        Clinical: the layout of the seed's Table 2, one column per instrument
        (``"VAS (N=15) Mean±SD"``) and rows ``Pre``, ``Post``, the percent change
        (``"PPR% or PDC%"``), ``t`` and ``p``. Missing numbers print as an em dash
        (``"—"``).

    Raises
    ------
    ValueError
        If ``table`` is not one of these tables.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.reporting import demographics_table, format_table
    >>> people = pd.DataFrame({"group": ["CLBP", "CLBP", "HC", "HC"],
    ...                        "age": [40, 50, 38, 42], "sex": ["F", "M", "F", "F"]})
    >>> format_table(demographics_table(people, variables=["age"]))
                         age Female/Male (%)
    CLBP (N=2)  45.00 (7.07)           50/50
    HC (N=2)    40.00 (2.83)           100/0
    """
    check_positive_int(decimals, "decimals", minimum=0)
    check_positive_int(p_decimals, "p_decimals", minimum=1)
    kind = table.attrs.get("painmarkers_table") if isinstance(table, pd.DataFrame) else None
    if kind is None and isinstance(table, pd.DataFrame):
        kind = ("clinical" if {"instrument", "pre_mean", "statistic"} <= set(table.columns)
                else "demographics" if {"group", "n", "female_pct"} <= set(table.columns)
                else None)
    if kind == "demographics":
        variables = [c[:-5] for c in table.columns if c.endswith("_mean")
                     and f"{c[:-5]}_sd" in table.columns]
        out = pd.DataFrame(index=[f"{g} (N={n})" for g, n in zip(table["group"], table["n"],
                                                                 strict=True)])
        for v in variables:
            out[v] = [f"{_fmt(m, decimals)} ({_fmt(s, decimals)})"
                      if np.isfinite(m) else _fmt(m, decimals)
                      for m, s in zip(table[f"{v}_mean"], table[f"{v}_sd"], strict=True)]
        if table["female_pct"].notna().any():
            out["Female/Male (%)"] = [f"{_fmt(f, 0)}/{_fmt(m, 0)}" for f, m in
                                      zip(table["female_pct"], table["male_pct"], strict=True)]
        return out
    if kind == "clinical":
        labels = " or ".join(f"{lab}%" for lab in dict.fromkeys(table["percent_label"]))
        out = pd.DataFrame(index=["Pre", "Post", labels, "t", "p"])
        for _, r in table.iterrows():
            out[f"{r['instrument']} (N={r['n']}) Mean±SD"] = [
                f"{_fmt(r['pre_mean'], decimals)}±{_fmt(r['pre_sd'], decimals)}",
                f"{_fmt(r['post_mean'], decimals)}±{_fmt(r['post_sd'], decimals)}",
                f"{_fmt(r['percent_mean'], decimals)}±{_fmt(r['percent_sd'], decimals)}",
                _fmt(r["statistic"], decimals),
                _fmt_p(r["p"], p_decimals),
            ]
        return out
    raise ValueError("format_table expects a table from demographics_table or clinical_table; "
                     f"got one with columns {list(getattr(table, 'columns', []))}.")
