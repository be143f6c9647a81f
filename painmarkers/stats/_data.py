"""Turn a Cohort or a DataFrame into the table a test needs, and account for exclusions.

Every function of :mod:`painmarkers.stats` accepts either a
:class:`~painmarkers.model.Cohort` or a pandas DataFrame plus column names. A
Cohort becomes its wide table (:meth:`Cohort.wide`: one row per subject and
session, covariates, one column per instrument and per ROI measure); a long
tidy table (the columns of :data:`painmarkers.schema.TIDY_COLUMNS`, as given by
:meth:`Cohort.to_frame`) is pivoted to the same wide form; any other DataFrame is
used as it is.

Exclusions are described as ``"<subject> (<reason>)"`` items joined by ``"; "``
so that a result row says who was left out and why. :func:`select_sessions` keeps
the rows of the session(s) a test uses and names the subjects it loses on the way
(``"07 (no 'pre' session)"``; with a Cohort also its subjects without any session).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers.exceptions import DataError, DesignError
from painmarkers.model import Cohort

__all__: list[str] = []

#: Separator of the items of an ``excluded`` column.
EXCLUDED_SEP = "; "


def as_table(data: Any, name: str = "data") -> pd.DataFrame:
    """Return ``data`` as a wide DataFrame (one row per subject and session).

    A Cohort gives its :meth:`~painmarkers.Cohort.wide` table and its long tidy
    table (:meth:`~painmarkers.Cohort.to_frame`) is pivoted to the same table:
    covariates, numeric session metadata, scores and measures as columns, every
    number as float and every other value as an object column, so that a Cohort
    and its tidy table are interchangeable inputs (equal up to column order).
    Any other DataFrame is returned as it is.
    """
    if isinstance(data, Cohort):
        return _normalise_wide(data.wide())
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"The {name!r} parameter must be a painmarkers Cohort or a pandas DataFrame. "
            f"Got {type(data).__name__}."
        )
    if set(schema.TIDY_COLUMNS) <= set(data.columns):
        return _normalise_wide(_tidy_to_wide(data))
    return data


_IDS = (schema.SUBJECT, schema.GROUP, schema.SESSION)
#: Which kind of value wins when two kinds give a column of the same name (as Cohort.wide).
_PRIORITY = {"covariate": 0, "metadata": 1, "score": 2, "measure": 3}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, str)


def _normalise_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers (including booleans) as float64; ids and other values as object, None if missing."""
    out = {}
    for col in frame.columns:
        values = frame[col]
        if col not in _IDS and (pd.api.types.is_bool_dtype(values.dtype)
                                or pd.api.types.is_numeric_dtype(values.dtype)):
            out[col] = values.astype(float)
            continue
        objects = values.astype(object)
        present = objects.notna().to_numpy()
        if col not in _IDS and all(_is_number(v) for v in objects[present]):
            out[col] = pd.to_numeric(objects, errors="raise").astype(float)
        else:
            out[col] = objects.where(present, None)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _tidy_to_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """Pivot the long tidy table of ``Cohort.to_frame()`` to one row per (subject, session).

    Covariate rows (``kind == "covariate"``) are repeated on every session row of
    their subject, with the text of non-numeric covariates; the other rows become
    one column each (``"<feature>__<roi>"`` for measures). A name given by two
    kinds keeps the value of the more specific one (metadata over covariate, then
    score, then measure), as :meth:`Cohort.wide` does.
    """
    kind = frame[schema.KIND].astype(str).to_numpy()
    names = frame[schema.NAME].astype(str).to_numpy(dtype=object)
    is_measure = kind == "measure"
    column = names.copy()
    column[is_measure] = (names[is_measure] + "__"
                          + frame[schema.ROI].astype(str).to_numpy(dtype=object)[is_measure])
    value = pd.to_numeric(frame[schema.VALUE], errors="coerce").to_numpy(dtype=object)
    if schema.TEXT in frame.columns:
        text = frame[schema.TEXT].to_numpy(dtype=object)
        has_text = pd.notna(text)
        value[has_text] = text[has_text]
    long = pd.DataFrame({
        schema.SUBJECT: frame[schema.SUBJECT].astype(str).to_numpy(dtype=object),
        schema.SESSION: frame[schema.SESSION].to_numpy(dtype=object),
        "_column": column,
        "_kind": kind,
        schema.VALUE: value,
    })
    dup = long.duplicated([schema.SUBJECT, schema.SESSION, "_column", "_kind"], keep=False)
    if dup.any():
        row = long[dup].iloc[0]
        raise DataError(
            f"The tidy table has more than one value of {row['_column']!r} for subject "
            f"{row[schema.SUBJECT]!r} session {row[schema.SESSION]!r}."
        )
    groups = dict(zip(long[schema.SUBJECT], frame[schema.GROUP].to_numpy(dtype=object)))
    is_cov = kind == "covariate"
    sessions = long.loc[~is_cov, [schema.SUBJECT, schema.SESSION]].drop_duplicates()
    sessions = sessions.reset_index(drop=True)
    # covariates repeated on each session row of their subject, then the more specific
    # kinds last so that they win a shared column name
    covs = long[is_cov].drop(columns=schema.SESSION).merge(sessions, on=schema.SUBJECT)
    cells = pd.concat([covs[long.columns], long[~is_cov]], ignore_index=True)
    order = np.argsort(cells["_kind"].map(_PRIORITY).fillna(1).to_numpy(), kind="stable")
    cells = cells.iloc[order].drop_duplicates([schema.SUBJECT, schema.SESSION, "_column"],
                                              keep="last")
    # Pivot by integer codes (rows in the order of ``sessions``, columns in order of first
    # appearance). Not ``unstack(sort=False)``: pandas 2.x puts values under the wrong
    # column with it (pandas-dev/pandas#58991, #62816).
    keys = pd.MultiIndex.from_frame(sessions)
    row = keys.get_indexer(pd.MultiIndex.from_frame(cells[[schema.SUBJECT, schema.SESSION]]))
    col, columns = pd.factorize(cells["_column"])
    values = np.full((len(sessions), len(columns)), np.nan, dtype=object)
    values[row, col] = cells[schema.VALUE].to_numpy(dtype=object)
    wide = pd.DataFrame(values, columns=list(columns))
    wide.insert(0, schema.SUBJECT, sessions[schema.SUBJECT].to_numpy())
    wide.insert(1, schema.GROUP, wide[schema.SUBJECT].map(groups))
    wide.insert(2, schema.SESSION, sessions[schema.SESSION].to_numpy())
    return wide


def subject_ids(frame: pd.DataFrame, subject: str | None) -> pd.Series:
    """Subject identifiers of each row: the ``subject`` column, else the index."""
    if subject is not None and subject in frame.columns:
        return frame[subject].astype(str)
    return pd.Series(frame.index.astype(str), index=frame.index)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str = "column") -> None:
    """Raise DataError naming the first missing column and listing those present."""
    for col in columns:
        if col not in frame.columns:
            raise DataError(
                f"The data have no {what} {col!r}; available columns: {list(frame.columns)}."
            )


def numeric_column(frame: pd.DataFrame, column: str, ids: pd.Series) -> pd.Series:
    """Return ``frame[column]`` as float, raising DataError on a non-numeric value.

    Missing values (None/NaN) stay NaN; the caller excludes and counts them.
    """
    require_columns(frame, [column])
    values = frame[column]
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise DataError(
            f"Column {column!r} must be numeric; subject {ids.iloc[i]!r} has "
            f"{values.iloc[i]!r} ({int(bad.sum())} non-numeric value(s) in all)."
        )
    converted = converted.astype(float)
    inf = np.isinf(converted.to_numpy())
    if inf.any():
        i = inf.nonzero()[0][0]
        raise DataError(
            f"Column {column!r} holds an infinite value for subject {ids.iloc[i]!r}."
        )
    return converted


def as_list(value: str | Sequence[str] | None, name: str) -> list[str]:
    """Turn a column name or a sequence of names into a non-empty list of str."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise TypeError(
            f"The {name!r} parameter must be a column name or a list of names. Got {value!r}."
        ) from None
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"The {name!r} parameter must hold column names. Got {item!r}.")
    if len(set(items)) != len(items):
        raise ValueError(f"The {name!r} parameter names a column twice: {items}.")
    return items


def select_session(frame: pd.DataFrame,
                   sessions: str | Sequence[str] | Mapping[str, str] | None,
                   within: str, between: str | None) -> pd.DataFrame:
    """Keep the rows of ``sessions``: a label, a list of labels or ``{group: label}``."""
    if sessions is None or (isinstance(sessions, Mapping | list | tuple) and len(sessions) == 0):
        return frame
    require_columns(frame, [within], "session column")
    labels = frame[within].astype(str)
    if isinstance(sessions, Mapping):
        if between is None or between not in frame.columns:
            raise DataError(
                f"sessions={dict(sessions)!r} maps groups to sessions, but the data have no "
                f"group column {between!r}."
            )
        keep = np.zeros(len(frame), dtype=bool)
        groups = frame[between].astype(str).to_numpy()
        for grp, ses in sessions.items():
            ses = session_label(ses, labels, within)
            keep |= (groups == str(grp)) & (labels.to_numpy() == ses)
        return frame[keep]
    wanted = [session_label(s, labels, within) for s in as_list(sessions, "sessions")]
    return frame[labels.isin(wanted).to_numpy()]


def session_label(label: Any, labels: pd.Series, column: str) -> str:
    """The session ``label`` as found in ``labels`` (a BIDS ``ses-`` prefix is optional).

    Raises DesignError naming the column and the labels present when it is absent.
    """
    present = set(labels)
    label = str(label)
    if label not in present and label.startswith("ses-") and label[4:] in present:
        return label[4:]
    if label not in present:
        raise DesignError(
            f"Session {label!r} is absent from column {column!r} (present: "
            f"{sorted(present)})."
        )
    return label


@dataclass(frozen=True)
class SessionSelection:
    """The rows a test uses and the subjects it lost to the session selection.

    Attributes
    ----------
    rows : pandas.DataFrame
        The rows of the selected session(s) (all rows when no session is selected).
    lost : dict
        ``{subject: reason}`` for every subject that has rows in the data (or is a
        subject of the input Cohort) but no row of the session selected for it,
        e.g. ``{"07": "no 'pre' session"}``, in order of first appearance. With the
        ``{group: session}`` form only subjects of the mapped groups count.
    groups : dict
        ``{subject: group label or None}`` over the whole data (and Cohort).
    order : list of str
        Every subject: of the Cohort in its order, else of the data in order of first
        appearance.
    """

    rows: pd.DataFrame
    lost: dict[str, str]
    groups: dict[str, Any]
    order: list[str]


def _label_or_none(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) \
        else str(value)


def select_sessions(
    frame: pd.DataFrame,
    sessions: str | Sequence[str] | Mapping[str, str] | None,
    *,
    within: str,
    between: str | None,
    subject: str | None,
    data: Any = None,
) -> SessionSelection:
    """Keep the rows of ``sessions`` and name the subjects the selection loses.

    Parameters
    ----------
    frame : pandas.DataFrame
        The wide table (one row per subject and session) of ``data``.
    sessions : str, list of str, mapping or None
        A session label, several labels, or ``{group label: session label}``; None
        (or an empty list or mapping) keeps every row.
    within, between, subject : str or None
        Columns of the session labels, group labels and subject ids.
    data : object, optional
        The user's input; when it is a Cohort, its subjects with no row at all are
        lost too (``"no session"`` when ``sessions`` is None).

    Returns
    -------
    SessionSelection
    """
    ids = subject_ids(frame, subject)
    groups: dict[str, Any] = {}
    if between is not None and between in frame.columns:
        for sid, g in zip(ids, frame[between], strict=True):
            if groups.get(sid) is None:
                groups[sid] = _label_or_none(g)
    order = list(dict.fromkeys(ids))
    for sid in order:
        groups.setdefault(sid, None)
    if isinstance(data, Cohort):  # the cohort's order, and its subjects without any row
        for sub in data:
            if sub.id not in groups:
                groups[sub.id] = _label_or_none(sub.group)
        order = list(dict.fromkeys([*data.subject_ids, *order]))
    rows = select_session(frame, sessions, within, between)
    kept = set(subject_ids(rows, subject))
    empty = sessions is None or (isinstance(sessions, Mapping | list | tuple)
                                 and len(sessions) == 0)
    lost: dict[str, str] = {}
    for sid in order:
        if sid in kept:
            continue
        if empty:
            lost[sid] = "no session"
        elif isinstance(sessions, Mapping):
            wanted = {str(g): s for g, s in sessions.items()}
            if groups[sid] in wanted:
                lost[sid] = f"no {str(wanted[groups[sid]])!r} session"
        else:
            labels = [str(s) for s in as_list(sessions, "sessions")]
            lost[sid] = "no " + " or ".join(map(repr, labels)) + " session"
    return SessionSelection(rows=rows, lost=lost, groups=groups, order=order)


def check_one_row_per_subject(ids: pd.Series, dv: str, hint: str) -> None:
    """Raise DataError if a subject has several rows (e.g. several sessions)."""
    dup = ids[ids.duplicated()]
    if len(dup):
        raise DataError(
            f"Subject {dup.iloc[0]!r} has more than one row for {dv!r} "
            f"({len(dup.unique())} subject(s) repeated); {hint}"
        )


def format_excluded(reasons: Mapping[str, str]) -> str:
    """``{"07": "no 'post' session"} -> "07 (no 'post' session)"``; empty -> ``""``."""
    return EXCLUDED_SEP.join(f"{sid} ({why})" for sid, why in reasons.items())


def missing_reasons(ids: pd.Series, columns: Mapping[str, pd.Series]) -> dict[str, str]:
    """Reasons ``"<col> is missing"`` for the rows with NaN in any of ``columns``."""
    reasons: dict[str, str] = {}
    for col, values in columns.items():
        for sid in ids[values.isna().to_numpy()]:
            reasons[sid] = (reasons[sid] + ", " if sid in reasons else "") + f"{col} is missing"
    return reasons


def is_constant(values: np.ndarray, scale: np.ndarray | None = None) -> bool:
    """Whether ``values`` are all equal, up to 1e-12 of their magnitude (at least 1).

    The magnitude is the largest absolute value of ``scale`` (default: ``values``), e.g.
    the raw data when ``values`` are their deviations from group means.
    """
    values = np.asarray(values, dtype=float)
    scale = values if scale is None else np.asarray(scale, dtype=float)
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.max(np.abs(scale)))))


def one_row_per_subject(data: Any, columns: Sequence[str], *,
                        sessions: str | Sequence[str] | Mapping[str, str] | None,
                        within: str, between: str | None, subject: str | None,
                        ) -> tuple[SessionSelection, pd.DataFrame, pd.Series]:
    """The rows of the selected session(s), one per subject, for a per-subject test.

    Parameters
    ----------
    data : Cohort or DataFrame
        The user's input (see :func:`as_table`).
    columns : sequence of str
        The variables tested, named when a subject has several rows.
    sessions, within, between, subject
        As in :func:`select_sessions`.

    Returns
    -------
    selection : SessionSelection
        The selection, with the subjects it lost.
    rows : DataFrame
        ``selection.rows``.
    ids : Series
        The subject id of each row.

    Raises
    ------
    DataError
        A subject with several rows (the message suggests ``sessions=``).
    """
    selection = select_sessions(as_table(data), sessions, within=within, between=between,
                                subject=subject, data=data)
    ids = subject_ids(selection.rows, subject)
    check_one_row_per_subject(ids, ",".join(columns),
                              "pass sessions=... to use one session per subject.")
    return selection, selection.rows, ids


def two_levels(present: Sequence[str], levels: Any, between: str, *, noun: str = "group",
               hint: str = "levels=(a, b)") -> tuple[str, str]:
    """The two group labels a two-group comparison uses, checked against those present.

    Parameters
    ----------
    present : sequence of str
        The sorted group labels of the data.
    levels : pair of str or None
        The labels asked for; None takes ``present`` when it holds exactly two.
    between : str
        The group column, for messages.
    noun : str, default="group"
        What a group is called in messages (``"arm"``).
    hint : str, default="levels=(a, b)"
        How to choose two labels, suggested when ``levels`` is None and there are not
        exactly two.

    Returns
    -------
    tuple of two str

    Raises
    ------
    DesignError
        ``levels`` is None and the data hold other than two labels, or a label of
        ``levels`` is absent (the message lists those present).
    ValueError
        ``levels`` does not name two labels.
    """
    if levels is None:
        if len(present) != 2:
            raise DesignError(f"Column {between!r} holds {len(present)} {noun}s {list(present)}; "
                              f"pass {hint} to choose the two to compare.")
        levels = present
    elif not isinstance(levels, str) and isinstance(levels, Iterable):
        levels = [str(g) for g in levels]  # labels are compared as text
    levels = tuple(as_list(levels, "levels"))
    if len(levels) != 2:
        raise ValueError(f"The 'levels' parameter must name two {noun}s. Got {levels!r}.")
    absent = [g for g in levels if g not in present]
    if absent:
        raise DesignError(f"{noun.capitalize()}(s) {absent} absent from column {between!r} "
                          f"(present: {list(present)}).")
    return levels


def check_min_n(n: int, minimum: int, dv: str, what: str) -> None:
    """Raise DesignError when fewer than ``minimum`` observations remain."""
    if n < minimum:
        raise DesignError(
            f"{what} for {dv!r} needs at least {minimum} complete observations; "
            f"{n} remain after exclusions."
        )
