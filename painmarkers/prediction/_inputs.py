"""Stage 1 of evaluate_biomarker: resolve and validate its inputs into a :class:`Design`.

Turns a Cohort or a table plus column names into the arrays the later stages use:
the rows analysed (one session per subject when ``sessions`` says so), the feature
matrix, the dummy-coded confounds, site codes, 0/1 labels and the subject of each row,
and the list of what was excluded and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._validation import (
    check_choice,
    check_columns,
    check_interval,
    check_n_jobs,
    check_positive_int,
)
from painmarkers.exceptions import DataError, DesignError

__all__: list[str] = []

#: Columns of ``BiomarkerEvaluation.excluded``.
EXCLUDED_COLUMNS = ["row", "subject_id", "reason"]


@dataclass(frozen=True)
class Settings:
    """The validated scalar settings of one evaluation."""

    n_permutations: int
    n_splits: int
    n_repeats: int
    n_bins: int
    n_bootstrap: int
    confidence: float
    prevalence: float | None
    n_jobs: int | None
    nan_policy: str


def check_settings(*, n_permutations, n_splits, n_repeats, n_bins, n_bootstrap, confidence,
                   prevalence, n_jobs, nan_policy) -> Settings:
    """Range-check the scalar parameters (before any data is looked at)."""
    check_choice(nan_policy, ("raise", "omit"), "nan_policy")
    return Settings(
        n_permutations=check_positive_int(n_permutations, "n_permutations", minimum=0),
        n_splits=check_positive_int(n_splits, "n_splits", minimum=2),
        n_repeats=check_positive_int(n_repeats, "n_repeats", minimum=1),
        n_bins=check_positive_int(n_bins, "n_bins", minimum=2),
        n_bootstrap=check_positive_int(n_bootstrap, "n_bootstrap", minimum=10),
        confidence=check_interval(confidence, "confidence", 0, 1, closed="neither"),
        prevalence=(None if prevalence is None else
                    check_interval(prevalence, "prevalence", 0, 1, closed="neither")),
        n_jobs=check_n_jobs(n_jobs),
        nan_policy=nan_policy,
    )


@dataclass(frozen=True, eq=False)
class Design:
    """The rows analysed and everything the CV needs about them.

    Attributes
    ----------
    features : list of str
        Feature columns.
    confounds : list of str
        Confound columns (before dummy coding).
    X : numpy.ndarray of shape (n, p)
        Feature values.
    confound_matrix : numpy.ndarray of shape (n, k) or None
        Dummy-coded confounds (first level dropped); None without confounds.
    sites : numpy.ndarray of shape (n,) or None
        Site code of each row; ``site_names[code]`` is its label.
    site_names : pandas.Index or None
    y : numpy.ndarray of shape (n,)
        1 for the positive class, 0 otherwise; the (float) target of a regression.
    labels : numpy.ndarray of shape (n,)
        The target values.
    subjects : numpy.ndarray of shape (n,)
        Subject id of each row (``"row i"`` when there is no subject column).
    subject : str or None
        The subject column used.
    rows : numpy.ndarray of shape (n,)
        Row number of each analysed row in the input table (``Cohort.wide()`` for a
        Cohort).
    class_names : dict or None
        ``{1: positive label, 0: the other label(s)}``; None for a continuous target.
    excluded : list of dict
        ``row``, ``subject_id``, ``reason`` of everything left out.
    """

    features: list[str]
    confounds: list[str]
    X: np.ndarray
    confound_matrix: np.ndarray | None
    sites: np.ndarray | None
    site_names: pd.Index | None
    y: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    subject: str | None
    rows: np.ndarray
    class_names: dict | None
    excluded: list[dict] = field(default_factory=list)

    @property
    def n_confounds(self) -> int:
        return 0 if self.confound_matrix is None else self.confound_matrix.shape[1]


def feature_columns(features) -> list[str]:
    """Column names of ``features``: names or (feature, roi) pairs."""
    if isinstance(features, str | tuple):
        features = [features]
    cols = []
    for f in features:
        if isinstance(f, tuple):
            if len(f) != 2:
                raise ValueError(f"Feature pairs must be (feature, roi); got {f!r}.")
            cols.append(schema.measure_column(*f))
        elif isinstance(f, str):
            cols.append(f)
        else:
            raise TypeError(f"Features must be column names or (feature, roi) pairs; got {f!r}.")
    if not cols:
        raise ValueError("The 'features' parameter must name at least one feature.")
    return cols


def as_frame(data) -> tuple[pd.DataFrame, list[str]]:
    """The table of ``data`` (a Cohort's ``wide()``) and, for a Cohort, every subject id."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), []
    if hasattr(data, "wide") and hasattr(data, "subjects"):
        return data.wide().reset_index(drop=True), [str(s.id) for s in data.subjects]
    raise TypeError(
        f"The 'data' parameter must be a Cohort or a pandas DataFrame. Got {type(data)}."
    )


def _session_list(sessions) -> list[str]:
    try:
        items = [sessions] if isinstance(sessions, str) else list(sessions)
    except TypeError:
        raise TypeError("The 'sessions' parameter must be a session label, a list of labels "
                        f"or {{group label: session label}}. Got {sessions!r}.") from None
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"The 'sessions' parameter must hold session labels (str). "
                            f"Got {item!r}.")
    return items


def _labels(column: pd.Series) -> pd.Series:
    """Labels as str, missing ones as None (a row without a session matches none)."""
    return pd.Series([None if pd.isna(v) else str(v) for v in column], index=column.index,
                     dtype=object)


def _wanted_sessions(frame: pd.DataFrame, sessions, within: str, between: str) -> pd.Series:
    """The session label(s) each row's subject needs (None: its group is not selected)."""
    if within not in frame.columns:
        raise DataError(f"sessions={sessions!r} needs the session column {within!r} "
                        f"(the 'within' parameter); the data have {list(frame.columns)}.")
    if isinstance(sessions, Mapping):
        if not sessions:
            raise ValueError("The 'sessions' parameter maps no group to a session.")
        if between not in frame.columns:
            raise DataError(f"sessions={dict(sessions)!r} maps groups to sessions, but the "
                            f"data have no group column {between!r} (the 'between' "
                            "parameter).")
        wanted = {str(g): _session_list(s) for g, s in sessions.items()}
        groups = _labels(frame[between])
        unknown = sorted(set(wanted) - set(groups))
        if unknown:
            raise DataError(f"sessions maps group(s) {unknown} that are not in column "
                            f"{between!r} (groups: {sorted(set(groups.dropna()))}).")
        need = pd.Series([wanted.get(g) for g in groups], index=frame.index, dtype=object)
    else:
        items = _session_list(sessions)
        if not items:
            raise ValueError("The 'sessions' parameter names no session.")
        wanted = {"": items}
        need = pd.Series([items] * len(frame), index=frame.index, dtype=object)
    present = sorted(set(_labels(frame[within]).dropna()))
    for label in sorted({s for items in wanted.values() for s in items}):
        if label not in present:
            raise DesignError(f"Session {label!r} is absent from column {within!r} "
                              f"(present: {present}).")
    return need


def select_sessions(frame: pd.DataFrame, ids: pd.Series, sessions, within: str,
                    between: str, all_subjects: list[str]) -> tuple[np.ndarray, list[dict]]:
    """Rows of the wanted sessions, and the subjects left without one.

    ``sessions`` is a label, a list of labels, or ``{group label: session label}``
    (groups in column ``between``). A subject (of a selected group) with no row in
    its wanted session(s) is excluded with the reason ``no session 'pre'``; subjects
    of groups absent from a mapping are not selected (not excluded). Subjects of a
    Cohort without any session are excluded too (``no session data``).
    """
    excluded = []
    if sessions is None:
        keep = np.ones(len(frame), dtype=bool)
    else:
        need = _wanted_sessions(frame, sessions, within, between)
        labels = _labels(frame[within])
        keep = np.array([w is not None and lab in w for lab, w in zip(labels, need)],
                        dtype=bool)
        kept = set(ids[keep])
        for sid in pd.unique(ids[need.notna().to_numpy()]):
            if sid not in kept:
                w = need[(ids == sid).to_numpy()].dropna().iloc[0]
                what = f"session {w[0]!r}" if len(w) == 1 else f"session among {w}"
                excluded.append({"row": pd.NA, "subject_id": sid, "reason": f"no {what}"})
    seen = set(ids)
    for sid in all_subjects:
        if sid not in seen:
            excluded.append({"row": pd.NA, "subject_id": sid, "reason": "no session data"})
    return keep, excluded


def _missing(frame, feats, ids, feat_cols, check_cols, rows, nan_policy, within):
    """Rows with a missing value: raise naming the first, or list each as excluded."""
    missing = frame[check_cols].isna()
    missing[feat_cols] = feats.isna()
    excluded = []
    if missing.any(axis=None):
        bad = np.flatnonzero(missing.any(axis=1).to_numpy())
        if nan_policy == "raise":
            i = bad[0]
            cols = [c for c in check_cols if missing.at[i, c]]
            session = (f", session {frame.at[i, within]!r}"
                       if within in frame.columns else "")
            raise DataError(
                f"Subject {ids[i]!r}{session} has no value for {cols} ({len(bad)} row(s) "
                "with missing values in total); fill them or pass nan_policy='omit' to drop "
                "those rows (they are then listed in the result's 'excluded')."
            )
        for i in bad:
            excluded.append({"row": int(rows[i]), "subject_id": ids[i],
                             "reason": "missing " + ", ".join(
                                 c for c in check_cols if missing.at[i, c])})
    return ~missing.any(axis=1).to_numpy(), excluded


#: Fewest distinct values of a continuous target (fewer: a class target).
MIN_DISTINCT = 3

#: Column whose text (as :func:`painmarkers.prediction.join_outcomes` fills it) explains a
#: missing outcome; appended to the exclusion reason.
OUTCOME_REASON = "outcome_excluded_reason"


def numeric_features(frame: pd.DataFrame, columns: list[str], ids: pd.Series
                     ) -> pd.DataFrame:
    """The feature columns as numbers; a value that is not one is an error naming it."""
    feats = frame[columns].apply(pd.to_numeric, errors="coerce")
    for c in columns:
        bad = feats[c].isna() & frame[c].notna()
        if bad.any():
            i = bad.idxmax()
            raise DataError(f"Feature {c!r} must be numeric; subject {ids[i]!r} has "
                            f"{frame.at[i, c]!r}.")
    return feats


def binary_labels(labels: pd.Series, positive, what: str) -> tuple[np.ndarray, dict]:
    """0/1 labels (1 = ``positive``) and the class names of a class target.

    ``what`` names the target in messages (``"'group'"``, ``"the target"``).
    """
    present = pd.unique(labels)
    if positive not in set(present.tolist()):
        raise DataError(f"The positive label {positive!r} does not occur in {what}; "
                        f"its values are {sorted(map(str, present))}.")
    if present.size < 2:
        raise DesignError(f"{what[:1].upper()}{what[1:]} holds a single class ({positive!r}, "
                          f"n={len(labels)}); a classifier needs two.")
    y = (labels == positive).to_numpy().astype(int)
    negatives = sorted(map(str, set(present.tolist()) - {positive}))
    return y, {1: str(positive), 0: "/".join(negatives)}


def resolve(data, features, target: str, positive, *, subject: str | None, sessions,
            within: str, between: str, confounds, site: str | None, harmonize: bool,
            nan_policy: str, task: str = "classification") -> Design:
    """Build the :class:`Design` of an evaluation (see evaluate_biomarker for the rules).

    With ``task="regression"`` the target is continuous: rows without a target value
    are always excluded (and listed), the other columns follow ``nan_policy``, and a
    target with fewer than :data:`MIN_DISTINCT` distinct values is refused.
    """
    regression = task == "regression"
    frame, all_subjects = as_frame(data)
    feat_cols = feature_columns(features)
    confounds = [confounds] if isinstance(confounds, str) else list(confounds or [])
    check_columns(frame, [*feat_cols, target, *confounds], "data")
    if site is not None and site not in frame.columns:
        raise DataError(f"The site column {site!r} is not in data; it has "
                        f"{list(frame.columns)}.")
    if harmonize and site is None:
        raise ValueError("harmonize=True needs the 'site' column.")
    subject_col = _subject_column(frame, subject, within)

    # ---- rows: sessions, then missing values ------------------------------------------------
    ids = (frame[subject_col].astype(str) if subject_col else
           pd.Series([f"row {i}" for i in range(len(frame))]))
    keep, excluded = select_sessions(frame, ids, sessions, within, between, all_subjects)
    rows = np.flatnonzero(keep)
    frame, ids = frame[keep].reset_index(drop=True), ids[keep].reset_index(drop=True)
    if regression:
        values = _continuous_target(frame, target, ids)
        has = values.notna().to_numpy()
        for i in np.flatnonzero(~has):
            why = frame.at[i, OUTCOME_REASON] if OUTCOME_REASON in frame.columns else None
            excluded.append({"row": int(rows[i]), "subject_id": ids[i],
                             "reason": f"missing {target}" + (
                                 f" ({why})" if isinstance(why, str) and why else "")})
        frame, ids, rows = (frame[has].reset_index(drop=True), ids[has].reset_index(drop=True),
                            rows[has])
    feats = numeric_features(frame, feat_cols, ids)
    check_cols = (feat_cols + ([] if regression else [target]) + confounds
                  + [c for c in (site, subject_col) if c])
    complete, missing = _missing(frame, feats, ids, feat_cols, check_cols, rows, nan_policy,
                                 within)
    excluded += missing
    frame, feats = frame[complete].reset_index(drop=True), feats[complete].reset_index(drop=True)
    ids, rows = ids[complete].reset_index(drop=True), rows[complete]

    # ---- target -------------------------------------------------------------------------------
    if regression:
        y = pd.to_numeric(frame[target]).to_numpy(float)
        distinct = np.unique(y)
        if distinct.size < MIN_DISTINCT:
            raise DesignError(
                f"The target {target!r} has {distinct.size} distinct value(s) "
                f"({', '.join(f'{v:g}' for v in distinct[:5])}) in the {y.size} row(s) "
                f"analysed; a continuous target needs at least {MIN_DISTINCT}. For a binary "
                "target (e.g. responder status) use evaluate_biomarker(..., positive=...)."
            )
        labels, class_names = y, None
    else:
        y, class_names = binary_labels(frame[target], positive, repr(target))
        labels = frame[target].to_numpy()

    # ---- design arrays ------------------------------------------------------------------------
    conf = None
    if confounds:
        conf = pd.get_dummies(frame[confounds], drop_first=True, dtype=float).to_numpy(float)
    sites = site_names = None
    if site is not None:
        sites, site_names = pd.factorize(frame[site])
    return Design(
        features=feat_cols, confounds=confounds, X=feats.to_numpy(float), confound_matrix=conf,
        sites=sites, site_names=site_names, y=y, labels=labels,
        subjects=ids.to_numpy() if subject_col else np.arange(len(frame)).astype(str),
        subject=subject_col, rows=rows, class_names=class_names, excluded=excluded,
    )


def _continuous_target(frame: pd.DataFrame, target: str, ids: pd.Series) -> pd.Series:
    """The target as floats (NaN where missing); refuses text and booleans."""
    col = frame[target]
    if pd.api.types.is_bool_dtype(col.dtype) or str(col.dtype) == "boolean":
        raise DesignError(f"The target {target!r} is boolean; a continuous target needs "
                          "numbers. For a binary target (e.g. responder status) use "
                          "evaluate_biomarker(..., positive=True).")
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna() & col.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"The target {target!r} must be numeric; subject {ids[i]!r} has "
                        f"{col.iloc[i]!r}.")
    return values.astype(float)


def _subject_column(frame: pd.DataFrame, subject: str | None, within: str) -> str | None:
    """The subject column, or None when every row is its own subject.

    The default ``"subject_id"`` may be absent from a table of one row per subject;
    a table that also holds several sessions (``within`` with more than one label)
    then cannot be grouped, and is refused rather than split across folds.
    """
    if subject is None:
        return None
    if subject in frame.columns:
        return subject
    if subject != schema.SUBJECT:
        raise DataError(f"The subject column {subject!r} is not in data; it has "
                        f"{list(frame.columns)}.")
    if within in frame.columns and frame[within].nunique(dropna=True) > 1:
        raise DataError(
            f"The data hold several sessions (column {within!r}: "
            f"{sorted(map(str, pd.unique(frame[within].dropna())))}) but no subject column "
            f"{subject!r}: rows of one subject could land in both training and test folds. "
            "Name the subject-id column with subject=, or pass subject=None if every row is "
            "a different subject."
        )
    return None


def excluded_frame(excluded: list[dict]) -> pd.DataFrame:
    """The ``excluded`` table: ``row`` (nullable int), ``subject_id``, ``reason``."""
    out = pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS)
    out["row"] = pd.array(out["row"].tolist(), dtype="Int64")
    return out


def describe_parameters(value: Any) -> Any:
    """Parameters as recorded in the result (a Generator seed by its repr)."""
    return value if isinstance(value, int | type(None)) else repr(value)
