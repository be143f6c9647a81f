"""Subject-level tables of the ANOVA models, with every exclusion named and counted.

:func:`ancova_table` gives one row per subject (the response, its baseline when asked,
the between factors and covariates) and :func:`mixed_table` one row per subject with one
response column per session.  Both take a Cohort, its tidy table or a wide table (one row
per subject and session), check the columns, and return ``reasons``: ``{subject: why}``
for every subject left out (``"no 'post' session"``, ``"VAS missing at 'pre'"``,
``"age missing"``, ``"arm 'waitlist' not in levels"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from painmarkers.exceptions import DataError, DesignError
from painmarkers.model import Cohort
from painmarkers.schema import measure_column
from painmarkers.stats._anova_design import constant_within, factor_levels
from painmarkers.stats._data import as_list, as_table, numeric_column, require_columns

__all__: list[str] = []

#: Name of the baseline covariate of a baseline-adjusted ANCOVA.
BASELINE = "baseline"


@dataclass(frozen=True)
class SubjectTable:
    """One row per subject analysed, the factors' levels and the subjects left out."""

    frame: pd.DataFrame            # index: subject ids (str)
    factors: dict[str, list[Any]]
    reasons: dict[str, str]        # subject -> why it is excluded
    n_total: int                   # subjects in the data
    sessions: list[Any]            # sessions used (mixed: the within levels)


def dv_name(dv: Any) -> str:
    """A column name, or ``(feature, roi)`` -> ``"feature__roi"``."""
    if isinstance(dv, tuple) and len(dv) == 2:
        return measure_column(*dv)
    if not isinstance(dv, str):
        raise TypeError(f"The 'dv' parameter must be a column name or a (feature, roi) "
                        f"tuple. Got {dv!r}.")
    return dv


def _check_names(dv: str, between: list[str], covariates: list[str], subject: str,
                 within: str | None) -> None:
    used = {"dv": [dv], "between": between, "covariates": covariates, "subject": [subject]}
    if within is not None:
        used["within"] = [within]
    seen: dict[str, str] = {}
    for role, cols in used.items():
        for col in cols:
            if col in seen:
                raise ValueError(f"Column {col!r} is given both as {seen[col]!r} and as "
                                 f"{role!r}.")
            seen[col] = role


def _order(ids: pd.Series, data: Any) -> list[str]:
    order = list(dict.fromkeys(ids))
    if isinstance(data, Cohort):
        order = list(dict.fromkeys([*map(str, data.subject_ids), *order]))
    return order


def _add(reasons: dict[str, list[str]], sid: str, why: str) -> None:
    reasons.setdefault(sid, [])
    if why not in reasons[sid]:
        reasons[sid].append(why)


def _factor_columns(rows: pd.DataFrame, ids: pd.Series, between: list[str],
                    levels: dict[str, list[Any] | None], order: list[str],
                    reasons: dict[str, list[str]]) -> dict[str, pd.Series]:
    out = {}
    for b in between:
        values = constant_within(rows, ids, b, "factor").reindex(order)
        if isinstance(rows[b].dtype, pd.CategoricalDtype):
            values = pd.Series(pd.Categorical(values, categories=rows[b].cat.categories),
                               index=values.index)
        has_rows = set(ids)
        for sid in values.index[values.isna().to_numpy()]:
            if sid in has_rows:  # subjects without a row already have their reason
                _add(reasons, sid, f"{b} missing")
        wanted = levels.get(b)
        if wanted is not None:
            keep = {str(w) for w in wanted}
            for sid, v in values.items():
                if pd.notna(v) and str(v) not in keep:
                    _add(reasons, sid, f"{b} {v!r} not in levels")
        out[b] = values
    return out


def _finish(frame: pd.DataFrame, between: list[str], levels: dict[str, list[Any] | None],
            reasons: dict[str, list[str]], order: list[str], sessions: list[Any]
            ) -> SubjectTable:
    ordered = {sid: ", ".join(reasons[sid]) for sid in order if sid in reasons}
    kept = frame.loc[[sid for sid in frame.index if sid not in ordered]]
    factors = {b: factor_levels(kept[b], b, levels.get(b)) for b in between}
    for b in between:  # plain labels, so that str() matches the levels
        kept[b] = kept[b].astype(object)
    return SubjectTable(frame=kept, factors=factors, reasons=ordered, n_total=len(order),
                        sessions=sessions)


def ancova_table(data: Any, dv: Any, between: Any, covariates: Any, *, baseline: Any,
                 post: Any, within: str, subject: str, levels: dict[str, list[Any] | None]
                 ) -> SubjectTable:
    """Subject-level table of :func:`painmarkers.stats.ancova` (columns dv, baseline, ...)."""
    table = as_table(data)
    dv = dv_name(dv)
    between = as_list(between, "between")
    covariates = as_list(covariates, "covariates")
    if baseline is not None and post is None:
        post = "post"
    sessions = [s for s in (baseline, post) if s is not None]
    if baseline is not None and str(baseline) == str(post):
        raise ValueError(f"The 'baseline' and 'post' sessions must differ. Got {post!r} twice.")
    if baseline is not None and BASELINE in (*covariates, *between):
        raise ValueError(f"A column named {BASELINE!r} is given as a covariate or factor; it "
                         "is the name of the baseline score in a baseline-adjusted ANCOVA. "
                         "Rename it.")
    _check_names(dv, between, covariates, subject, within if sessions else None)
    require_columns(table, [subject, dv, *between, *covariates])
    if sessions:
        require_columns(table, [within], "session column")
    ids_all = table[subject].astype(str)
    order = _order(ids_all, data)
    reasons: dict[str, list[str]] = {}
    if sessions:
        labels = table[within].astype(str)
        present = set(labels)
        for s in sessions:
            if str(s) not in present:
                raise DesignError(f"Session {s!r} is absent from column {within!r} (present: "
                                  f"{sorted(present)}).")
        rows = table[labels.isin([str(s) for s in sessions]).to_numpy()]
    else:
        rows = table
    ids = rows[subject].astype(str)
    y_all = numeric_column(rows, dv, ids)
    frame = pd.DataFrame(index=pd.Index(order, dtype=object))
    if sessions:
        lab = rows[within].astype(str)
        _one_row_per_session(ids, lab)
        for role, ses in ((dv, post), (BASELINE, baseline)):
            if ses is None:
                continue
            mask = (lab == str(ses)).to_numpy()
            vals = pd.Series(y_all.to_numpy()[mask], index=ids.to_numpy()[mask])
            frame[role] = vals.reindex(order)
            for sid in order:
                if sid not in vals.index:
                    _add(reasons, sid, f"no {str(ses)!r} session")
                elif np.isnan(vals[sid]):
                    _add(reasons, sid, f"{dv} missing at {str(ses)!r}")
        cov_rows = rows[(lab == str(post)).to_numpy()]
    else:
        dup = ids[ids.duplicated()]
        if len(dup):
            raise DataError(
                f"Subject {dup.iloc[0]!r} has more than one row for {dv!r} "
                f"({len(dup.unique())} subject(s) repeated). Pass post=<session label> to "
                "analyse one session, or baseline= and post= for the baseline-adjusted "
                "analysis of a long table.")
        frame[dv] = pd.Series(y_all.to_numpy(), index=ids.to_numpy()).reindex(order)
        id_set = set(ids)
        for sid in order:
            if sid not in id_set:
                _add(reasons, sid, "no session")
            elif np.isnan(frame.at[sid, dv]):
                _add(reasons, sid, f"{dv} missing")
        cov_rows = rows
    any_row = set(ids_all)
    for sid in order:  # a subject of a Cohort without any row
        if sid not in any_row:
            reasons[sid] = ["no session"]
    for name, col in _factor_columns(rows, ids, between, levels, order, reasons).items():
        frame[name] = col
    cov_ids = cov_rows[subject].astype(str)
    cov_set = set(cov_ids)
    for c in covariates:
        vals = numeric_column(cov_rows, c, cov_ids)
        frame[c] = pd.Series(vals.to_numpy(), index=cov_ids.to_numpy()).reindex(order)
        for sid in order:
            if sid in cov_set and np.isnan(frame.at[sid, c]):
                _add(reasons, sid, f"{c} missing")
    return _finish(frame, between, levels, reasons, order, sessions)


def within_levels(values: pd.Series, sessions: Sequence[Any] | None, within: str) -> list[Any]:
    """Session labels analysed: ``sessions`` as given, else the data's order.

    A Categorical keeps its category order; otherwise the order of first appearance
    (afex's order for a within factor).
    """
    present = pd.unique(values.dropna())
    if sessions is not None:
        wanted = as_list(sessions, "sessions") if isinstance(sessions, str) else list(sessions)
        text = {str(v): v for v in present}
        absent = [s for s in wanted if str(s) not in text]
        if absent:
            raise DesignError(f"Session(s) {absent} are absent from column {within!r} "
                              f"(present: {sorted(map(str, present))}).")
        if len(set(map(str, wanted))) != len(wanted):
            raise ValueError(f"The 'sessions' parameter names a session twice: {wanted}.")
        return [text[str(s)] for s in wanted]
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if c in set(present)]
    return list(present)


def mixed_table(data: Any, dv: Any, between: Any, covariates: Any, *, within: str,
                subject: str, sessions: Sequence[Any] | None,
                levels: dict[str, list[Any] | None]) -> SubjectTable:
    """Subject-level table of :func:`painmarkers.stats.mixed_anova`.

    Columns ``<dv>::<session>`` (one per session, in order), the between factors and the
    covariates (one value per subject).
    """
    table = as_table(data)
    dv = dv_name(dv)
    between = as_list(between, "between")
    covariates = as_list(covariates, "covariates")
    _check_names(dv, between, covariates, subject, within)
    require_columns(table, [subject, within, dv, *between, *covariates])
    k_levels = within_levels(table[within], sessions, within)
    if len(k_levels) < 2:
        raise DesignError(f"A mixed ANOVA needs at least two sessions in {within!r}; the data "
                          f"have {k_levels}.")
    ids_all = table[subject].astype(str)
    order = _order(ids_all, data)
    labels = table[within].astype(str)
    rows = table[labels.isin([str(s) for s in k_levels]).to_numpy()]
    ids = rows[subject].astype(str)
    lab = rows[within].astype(str)
    _one_row_per_session(ids, lab)
    y = numeric_column(rows, dv, ids)
    frame = pd.DataFrame(index=pd.Index(order, dtype=object))
    reasons: dict[str, list[str]] = {}
    for ses in k_levels:
        mask = (lab == str(ses)).to_numpy()
        vals = pd.Series(y.to_numpy()[mask], index=ids.to_numpy()[mask])
        frame[f"{dv}::{ses}"] = vals.reindex(order)
        for sid in order:
            if sid not in vals.index:
                _add(reasons, sid, f"no {str(ses)!r} session")
            elif np.isnan(vals[sid]):
                _add(reasons, sid, f"{dv} missing at {str(ses)!r}")
    id_set, any_row = set(ids), set(ids_all)
    for sid in order:  # a subject of a Cohort without any row
        if sid not in any_row:
            reasons[sid] = ["no session"]
    for name, col in _factor_columns(rows, ids, between, levels, order, reasons).items():
        frame[name] = col
    for c in covariates:
        vals = numeric_column(rows, c, ids)
        one = constant_within(rows.assign(**{c: vals}), ids, c, "covariate").reindex(order)
        frame[c] = one.astype(float)
        for sid in order:
            if sid in id_set and np.isnan(frame.at[sid, c]):
                _add(reasons, sid, f"{c} missing")
    return _finish(frame, between, levels, reasons, order, k_levels)


def _one_row_per_session(ids: pd.Series, labels: pd.Series) -> None:
    """Refuse a subject with two rows for one session (naming the first)."""
    dup = pd.DataFrame({"s": ids, "t": labels}).duplicated(keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"Subject {ids.iloc[i]!r} has more than one row for session "
                        f"{labels.iloc[i]!r}; keep one row per subject and session.")
