"""Clinical outcomes: percent change (PPR, PDC) and IMMPACT responder status per subject."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._deprecation import deprecate_positional, rename_parameters
from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_interval
from painmarkers.exceptions import DataError, ScoreRangeError
from painmarkers.model import Cohort, get_instrument
from painmarkers.stats._data import (
    as_table,
    numeric_column,
    require_columns,
    session_label,
    subject_ids,
)

__all__ = ["outcomes", "percent_change"]

#: IMMPACT thresholds of percent improvement (Dworkin et al. 2008).
MODERATE = 30.0
SUBSTANTIAL = 50.0


def percent_change(
    pre: Any,
    post: Any,
    *,
    direction: str = "higher_is_worse",
    zero_baseline: str = "raise",
    subjects: Any = None,
) -> np.ndarray:
    """Percent improvement from ``pre`` to ``post`` (PPR for pain, PDC for disability).

    Parameters
    ----------
    pre, post : array-like of float
        Baseline and follow-up scores, same shape. NaN propagates to the result.
    direction : {"higher_is_worse", "higher_is_better"}, default="higher_is_worse"
        Meaning of larger scores (see :class:`painmarkers.model.Instrument`). The
        result is positive when the subject improved, whatever the direction.
    zero_baseline : {"raise", "nan"}, default="raise"
        A zero baseline has no percent change: raise a
        :class:`~painmarkers.exceptions.DataError` naming the subject, or return
        NaN for it (:func:`outcomes` then gives the reason per subject).
    subjects : array-like of str or None, default=None
        Subject identifiers in the order of ``pre``, used in error messages;
        positions are named when None.

    Returns
    -------
    numpy.ndarray of float
        Percent improvement, same shape as ``pre``.

    Raises
    ------
    DataError
        Non-numeric or infinite values, a negative baseline, or a zero baseline
        when ``zero_baseline="raise"``; the message names the subject and value.
    ValueError
        ``pre`` and ``post`` of different shapes, or an unknown option.

    Notes
    -----
    With baseline :math:`x_{pre}` and follow-up :math:`x_{post}` (equations 1-2 of
    Masoumbeigi et al.)::

        higher_is_worse:   100 * (pre - post) / pre   (PPR for VAS, PDC for RMDQ)
        higher_is_better:  100 * (post - pre) / pre

    The baseline must be positive: scores of the registered instruments are
    non-negative and a percent change of a zero or negative baseline is not
    defined.

    References
    ----------
    .. [1] Masoumbeigi M, et al. Changes of amplitude of low-frequency fluctuation
       after repetitive transcranial magnetic stimulation in chronic low back pain.
       J Biomed Phys Eng.
    .. [2] Dworkin RH, et al. (2008). Interpreting the clinical importance of
       treatment outcomes in chronic pain clinical trials: IMMPACT recommendations.
       J Pain, 9(2), 105-121.

    Examples
    --------
    >>> from painmarkers.stats import percent_change
    >>> percent_change([8.0, 5.0], [4.0, 5.0])
    array([50.,  0.])
    >>> percent_change([40.0], [50.0], direction="higher_is_better")
    array([25.])
    """
    check_choice(direction, ("higher_is_worse", "higher_is_better"), "direction")
    check_choice(zero_baseline, ("raise", "nan"), "zero_baseline")
    pre_arr = _as_float(pre, "pre", subjects)
    post_arr = _as_float(post, "post", subjects)
    if pre_arr.shape != post_arr.shape:
        raise ValueError(f"'pre' and 'post' must have the same shape. Got {pre_arr.shape} and "
                         f"{post_arr.shape}.")
    names = _names(subjects, pre_arr)
    negative = pre_arr < 0
    if negative.any():
        i = tuple(np.argwhere(negative)[0])
        raise DataError(f"Percent change needs a positive baseline; {names(i)} has pre = "
                        f"{float(pre_arr[i])!r}.")
    zero = pre_arr == 0
    if zero.any() and zero_baseline == "raise":
        i = tuple(np.argwhere(zero)[0])
        raise DataError(
            f"Percent change is undefined for a zero baseline: {names(i)} has pre = 0 "
            f"({int(zero.sum())} zero baseline(s) in all). Pass zero_baseline='nan' to get NaN "
            "for them."
        )
    sign = 1.0 if direction == "higher_is_worse" else -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = sign * 100.0 * (pre_arr - post_arr) / pre_arr
    return np.where(zero, np.nan, out)


def _as_float(values: Any, name: str, subjects: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        try:
            arr = np.asarray(pd.to_numeric(pd.Series(arr.ravel()), errors="raise"),
                             dtype=float).reshape(arr.shape)
        except (ValueError, TypeError):
            flat = arr.ravel()
            bad = pd.to_numeric(pd.Series(flat), errors="coerce").isna() & pd.notna(flat)
            i = int(np.flatnonzero(bad.to_numpy())[0])
            if subjects is None:
                who = f"position {i}"
            else:
                who = f"subject {np.asarray(subjects, dtype=object).ravel()[i]!r}"
            raise DataError(f"'{name}' must be numeric; {who} has {flat.tolist()[i]!r}.") from None
    arr = arr.astype(float)
    if np.isinf(arr).any():
        i = tuple(np.argwhere(np.isinf(arr))[0])
        raise DataError(f"'{name}' holds an infinite value at {_names(subjects, arr)(i)}.")
    return arr


def _names(subjects: Any, arr: np.ndarray):
    if subjects is None:
        return lambda i: f"position {i[0] if len(i) == 1 else i}"
    ids = np.asarray(subjects, dtype=object)
    if ids.shape != arr.shape:
        raise ValueError(f"'subjects' must have the shape of 'pre' {arr.shape}. Got {ids.shape}.")
    return lambda i: f"subject {ids[i]!r}"


@deprecate_positional(pre=2, post=3)
@rename_parameters(group="between")
@fill_doc
def outcomes(
    data: Cohort | pd.DataFrame,
    instrument: str,
    *,
    pre: str = "pre",
    post: str = "post",
    within: str = "session",
    subject: str = "subject_id",
    between: str | None = "group",
    column: str | None = None,
    zero_baseline: str = "raise",
    moderate: float = MODERATE,
    substantial: float = SUBSTANTIAL,
) -> pd.DataFrame:
    """Per-subject clinical outcome: pre, post, change, percent change and responder status.

    Parameters
    ----------
    %(data)s
        A wide table is :meth:`Cohort.wide`'s.
    instrument : str
        Registered instrument (``"VAS"``, ``"RMDQ"``, ...; aliases allowed). Its
        direction decides the sign of the percent change.
    %(pre_post)s
    %(within)s
    %(subject)s
    between : str or None, default="group"
        Column holding group labels, copied to the output column ``group`` (NaN
        when absent or None).
    column : str or None, default=None
        Column holding the scores; by default the instrument's name as given,
        else its canonical name (``"VAS"``).
    zero_baseline : {"raise", "nan"}, default="raise"
        A zero baseline raises a :class:`~painmarkers.exceptions.DataError`
        naming the subject, or gives NaN with ``excluded_reason`` filled.
    moderate, substantial : float, default=30.0, 50.0
        Percent-improvement thresholds of the responder flags (IMMPACT: >= 30 %
        moderately, >= 50 % substantially important improvement).

    Returns
    -------
    pandas.DataFrame
        One row per subject (every subject of the data, in order of first
        appearance), columns :data:`painmarkers.schema.OUTCOME_COLUMNS`:
        ``subject_id``, ``group``, ``instrument`` (canonical name),
        ``pre_session``, ``post_session``, ``pre``, ``post``, ``change``
        (post - pre), ``percent_change`` (positive = improvement),
        ``responder_moderate`` and ``responder_substantial`` (nullable booleans,
        NA when the percent change is missing), ``excluded_reason`` (NaN when the
        subject has a percent change; else why not, e.g. ``"no 'post' session"``,
        ``"VAS missing at 'pre'"``, ``"zero baseline"``).

    Raises
    ------
    DataError
        Missing columns, non-numeric scores, a subject with two rows for the
        same session, a negative baseline, or a zero baseline with
        ``zero_baseline="raise"`` (the message names the subject).
    ScoreRangeError
        A score outside the instrument's valid range (tables are not validated
        on construction as a Cohort is); the message names the subject, session
        and value.
    DesignError
        ``pre`` or ``post`` is a session no row has (the message lists those present).
    RegistryError
        Unknown instrument.

    Notes
    -----
    ``percent_change`` follows :func:`percent_change`: ``100 (pre - post) / pre``
    for instruments where higher is worse (PPR for VAS/NRS, PDC for RMDQ/ODI).
    Responder flags are ``percent_change >= moderate`` and ``>= substantial``
    (Dworkin et al. 2008). Subjects lacking a session or a score are kept with
    the reason, never dropped.

    References
    ----------
    .. [1] Dworkin RH, et al. (2008). Interpreting the clinical importance of
       treatment outcomes in chronic pain clinical trials: IMMPACT
       recommendations. J Pain, 9(2), 105-121.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.stats import outcomes
    >>> wide = pd.DataFrame({"subject_id": ["01", "01", "02", "02", "03"],
    ...                      "session": ["pre", "post", "pre", "post", "pre"],
    ...                      "VAS": [8.0, 4.0, 6.0, 5.0, 7.0]})
    >>> out = outcomes(wide, "VAS")
    >>> out[["subject_id", "percent_change", "responder_moderate", "excluded_reason"]]
      subject_id  percent_change  responder_moderate    excluded_reason
    0         01       50.000000                True                NaN
    1         02       16.666667               False                NaN
    2         03             NaN                <NA>  no 'post' session
    """
    inst = get_instrument(instrument)
    check_choice(zero_baseline, ("raise", "nan"), "zero_baseline")
    moderate = check_interval(moderate, "moderate", 0, None)
    substantial = check_interval(substantial, "substantial", 0, None)
    frame = as_table(data)
    if column is None:
        column = instrument if instrument in frame.columns else inst.name
    require_columns(frame, [subject, within])
    ids = subject_ids(frame, subject)
    values = numeric_column(frame, column, ids)
    labels = frame[within].astype(str)
    pre, post = session_label(pre, labels, within), session_label(post, labels, within)
    outside = (values < inst.low) | (values > inst.high)  # NaN compares False: kept as missing
    if outside.any():
        i = int(np.flatnonzero(outside.to_numpy())[0])
        raise ScoreRangeError(
            f"Subject {ids.iloc[i]!r}, session {labels.iloc[i]!r}: {inst.name} score "
            f"{values.iloc[i]:g} is outside the instrument's valid range [{inst.low:g}, "
            f"{inst.high:g}] ({int(outside.sum())} such value(s) in column {column!r})."
        )
    order = list(dict.fromkeys(ids))
    if isinstance(data, Cohort):  # subjects without any session are still listed
        order = list(data.subject_ids)
    groups: dict[str, Any] = {}
    if between is not None and between in frame.columns:
        groups = dict(zip(ids, frame[between], strict=True))
    if isinstance(data, Cohort):
        groups = {s.id: s.group for s in data}

    def pick(label: str) -> pd.Series:
        mask = (labels == str(label)).to_numpy()
        sel = pd.Series(values.to_numpy()[mask], index=ids.to_numpy()[mask])
        dup = sel.index[sel.index.duplicated()]
        if len(dup):
            raise DataError(f"Subject {dup[0]!r} has more than one row for session {label!r}.")
        return sel

    pre_v, post_v = pick(pre), pick(post)
    pre_arr = pre_v.reindex(order).to_numpy(float)
    post_arr = post_v.reindex(order).to_numpy(float)
    reasons: list[Any] = []
    for sid, a, b in zip(order, pre_arr, post_arr, strict=True):
        why = []
        for label, present, val in ((pre, sid in pre_v.index, a), (post, sid in post_v.index, b)):
            if not present:
                why.append(f"no {label!r} session")
            elif np.isnan(val):
                why.append(f"{inst.name} missing at {label!r}")
        if not why and a == 0:
            why.append("zero baseline")
        reasons.append("; ".join(why) if why else np.nan)
    complete = ~(np.isnan(pre_arr) | np.isnan(post_arr))
    pct = np.full(len(order), np.nan)
    if complete.any():
        pct[complete] = percent_change(
            pre_arr[complete], post_arr[complete], direction=inst.direction,
            zero_baseline=zero_baseline, subjects=np.asarray(order, dtype=object)[complete],
        )
    responder_m = pd.array(np.where(np.isnan(pct), None, pct >= moderate), dtype="boolean")
    responder_s = pd.array(np.where(np.isnan(pct), None, pct >= substantial), dtype="boolean")
    out = pd.DataFrame({
        schema.SUBJECT: pd.Series(order, dtype=object),
        schema.GROUP: pd.Series([groups.get(s, np.nan) for s in order], dtype=object),
        "instrument": inst.name,
        "pre_session": str(pre),
        "post_session": str(post),
        "pre": pre_arr,
        "post": post_arr,
        "change": post_arr - pre_arr,
        "percent_change": pct,
        "responder_moderate": responder_m,
        "responder_substantial": responder_s,
        "excluded_reason": pd.Series(reasons, dtype=object),
    })
    return out.loc[:, list(schema.OUTCOME_COLUMNS)]
