"""Turn a Cohort or a DataFrame into the table a test needs, and account for exclusions.

Every function of :mod:`painmarkers.stats` accepts either a
:class:`~painmarkers.model.Cohort` or a pandas DataFrame plus column names. A
Cohort becomes its wide table (:meth:`Cohort.wide`: one row per subject and
session, covariates, one column per instrument and per ROI measure); a long
tidy table (the columns of :data:`painmarkers.schema.TIDY_COLUMNS`, as given by
:meth:`Cohort.to_frame`) is pivoted to the same wide form; any other DataFrame is
used as it is.

Exclusions are described as ``"<subject> (<reason>)"`` items joined by ``"; "``
so that a result row says who was left out and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
    """Return ``data`` as a wide DataFrame (one row per subject and session)."""
    if isinstance(data, Cohort):
        return data.wide()
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"The {name!r} parameter must be a painmarkers Cohort or a pandas DataFrame. "
            f"Got {type(data).__name__}."
        )
    if set(schema.TIDY_COLUMNS) <= set(data.columns):
        return _tidy_to_wide(data)
    return data


def _tidy_to_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """Pivot the long tidy table of ``Cohort.to_frame()`` to one row per (subject, session)."""
    kind = frame[schema.KIND]
    names = frame[schema.NAME].astype(str)
    is_measure = (kind == "measure").to_numpy()
    rois = frame[schema.ROI].astype(str)
    column = np.where(is_measure, names + "__" + rois, names)
    long = pd.DataFrame({
        schema.SUBJECT: frame[schema.SUBJECT].to_numpy(),
        schema.GROUP: frame[schema.GROUP].to_numpy(),
        schema.SESSION: frame[schema.SESSION].to_numpy(),
        "_column": column,
        schema.VALUE: pd.to_numeric(frame[schema.VALUE], errors="coerce").to_numpy(),
    })
    keys = [schema.SUBJECT, schema.SESSION, "_column"]
    dup = long.duplicated(keys, keep=False)
    if dup.any():
        row = long[dup].iloc[0]
        raise DataError(
            f"The tidy table has more than one value of {row['_column']!r} for subject "
            f"{row[schema.SUBJECT]!r} session {row[schema.SESSION]!r}."
        )
    index = [schema.SUBJECT, schema.GROUP, schema.SESSION]
    wide = long.set_index([*index, "_column"])[schema.VALUE].unstack("_column", sort=False)
    wide.columns.name = None
    return wide.reset_index()


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


def select_session(frame: pd.DataFrame, session: str | Sequence[str] | Mapping[str, str] | None,
                   session_col: str, group_col: str | None) -> pd.DataFrame:
    """Keep the rows of ``session``: a label, a list of labels or ``{group: label}``."""
    if session is None or (isinstance(session, Mapping | list | tuple) and len(session) == 0):
        return frame
    require_columns(frame, [session_col], "session column")
    labels = frame[session_col].astype(str)
    if isinstance(session, Mapping):
        if group_col is None or group_col not in frame.columns:
            raise DataError(
                f"session={dict(session)!r} maps groups to sessions, but the data have no "
                f"group column {group_col!r}."
            )
        keep = np.zeros(len(frame), dtype=bool)
        groups = frame[group_col].astype(str).to_numpy()
        for grp, ses in session.items():
            _check_present(ses, labels, session_col)
            keep |= (groups == str(grp)) & (labels.to_numpy() == str(ses))
        return frame[keep]
    wanted = as_list(session, "session")
    for ses in wanted:
        _check_present(ses, labels, session_col)
    return frame[labels.isin(wanted).to_numpy()]


def _check_present(label: str, labels: pd.Series, column: str) -> None:
    if str(label) not in set(labels):
        raise DesignError(
            f"Session {label!r} is absent from column {column!r} (present: "
            f"{sorted(set(labels))})."
        )


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


def check_min_n(n: int, minimum: int, dv: str, what: str) -> None:
    """Raise DesignError when fewer than ``minimum`` observations remain."""
    if n < minimum:
        raise DesignError(
            f"{what} for {dv!r} needs at least {minimum} complete observations; "
            f"{n} remain after exclusions."
        )
