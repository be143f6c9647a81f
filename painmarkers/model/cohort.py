"""The Cohort: subjects with their sessions, built from tables or BIDS, turned into tidy tables."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers.exceptions import DataError, RegistryError
from painmarkers.model.instruments import get_instrument
from painmarkers.model.records import ClinicalScore, ROIMeasure, Session, Subject

__all__ = ["Cohort"]

_SUBJECT_ALIASES = ("subject_id", "participant_id", "subject", "sub")
_SESSION_ALIASES = ("session", "session_id", "ses")


def _pick_column(frame: pd.DataFrame, given: str | None, aliases: Sequence[str], what: str,
                 table: str, required: bool = True) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise DataError(f"The {table} table has no {what} column {given!r}; it has "
                            f"{list(frame.columns)}.")
        return given
    for name in aliases:
        if name in frame.columns:
            return name
    if required:
        raise DataError(f"The {table} table needs a {what} column (one of {list(aliases)}); it "
                        f"has {list(frame.columns)}.")
    return None


def _clean_id(value: Any, prefix: str) -> str:
    text = str(value).strip()
    return text[len(prefix):] if text.startswith(prefix) else text


def _python_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return math.nan
    return value


class Cohort:
    """A set of subjects with unique ids: the entry point of every analysis.

    A Cohort is immutable: every method that changes it returns a new Cohort.

    Parameters
    ----------
    subjects : iterable of Subject
        Subjects with unique ids.

    Raises
    ------
    DataError
        If two subjects share an id.

    See Also
    --------
    Cohort.from_frames : build a cohort from participant and score tables.
    Cohort.from_bids : build a cohort from a BIDS dataset.

    Examples
    --------
    >>> from painmarkers import Cohort, Subject, Session, ClinicalScore
    >>> cohort = Cohort([
    ...     Subject("01", "CLBP", sessions=[Session("pre", [ClinicalScore("VAS", 7)]),
    ...                                     Session("post", [ClinicalScore("VAS", 4)])]),
    ...     Subject("02", "HC", sessions=[Session("baseline")]),
    ... ])
    >>> cohort
    Cohort(2 subjects: CLBP 1, HC 1; 3 sessions)
    >>> cohort.to_frame()[["subject_id", "session", "name", "value"]]
      subject_id session name  value
    0         01     pre  VAS    7.0
    1         01    post  VAS    4.0
    """

    def __init__(self, subjects: Iterable[Subject]):
        subjects = tuple(subjects)
        for s in subjects:
            if not isinstance(s, Subject):
                raise TypeError(f"Cohort expects Subject objects. Got {s!r}.")
        counts = Counter(s.id for s in subjects)
        dup = sorted(k for k, c in counts.items() if c > 1)
        if dup:
            raise DataError(f"Duplicate subject id(s) in the cohort: {dup}.")
        self._subjects = subjects
        self._index = {s.id: s for s in subjects}

    # -- container protocol -------------------------------------------------------------
    @property
    def subjects(self) -> tuple[Subject, ...]:
        """The subjects, in order."""
        return self._subjects

    @property
    def subject_ids(self) -> tuple[str, ...]:
        """Ids of the subjects, in order."""
        return tuple(s.id for s in self._subjects)

    @property
    def groups(self) -> tuple[str, ...]:
        """Sorted distinct group labels (subjects without a group are not counted)."""
        return tuple(sorted({s.group for s in self._subjects if s.group is not None}))

    @property
    def n_sessions(self) -> int:
        """Total number of sessions."""
        return sum(len(s.sessions) for s in self._subjects)

    def __len__(self) -> int:
        return len(self._subjects)

    def __iter__(self) -> Iterator[Subject]:
        return iter(self._subjects)

    def __contains__(self, subject_id: object) -> bool:
        return isinstance(subject_id, str) and _clean_id(subject_id, "sub-") in self._index

    def __getitem__(self, subject_id: str) -> Subject:
        key = _clean_id(subject_id, "sub-")
        if key not in self._index:
            raise KeyError(f"No subject {subject_id!r} in the cohort.")
        return self._index[key]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cohort) and self._subjects == other._subjects

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        counts = Counter(s.group for s in self._subjects)
        parts = ", ".join(f"{g} {counts[g]}" for g in self.groups)
        if counts.get(None):
            parts = (parts + ", " if parts else "") + f"no group {counts[None]}"
        return f"Cohort({len(self)} subjects: {parts}; {self.n_sessions} sessions)"

    def iter_sessions(self) -> Iterator[tuple[Subject, Session]]:
        """Yield ``(subject, session)`` pairs in order."""
        for sub in self._subjects:
            for ses in sub.sessions:
                yield sub, ses

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        participants: pd.DataFrame,
        scores: pd.DataFrame | None = None,
        measures: pd.DataFrame | None = None,
        *,
        subject_col: str | None = None,
        group_col: str | None = "group",
        session_col: str | None = None,
        instruments: Mapping[str, str] | None = None,
        default_session: str = "baseline",
    ) -> Cohort:
        """Build a cohort from tidy tables.

        Parameters
        ----------
        participants : DataFrame
            One row per subject: an id column (``participant_id`` or
            ``subject_id``; a ``sub-`` prefix is removed), a group column and
            any covariates (every other column).
        scores : DataFrame or None, default=None
            Clinical scores, either *long* (columns id, session, ``instrument``,
            ``value``) or *wide* (columns id, session and one column per
            instrument, e.g. ``vas``, ``rmdq``). Without a session column every
            row belongs to ``default_session``. NaN means "not collected" and
            is kept as a missing score.
        measures : DataFrame or None, default=None
            ROI measures in long form: id, session, ``roi``, ``feature``,
            ``value`` and optionally ``extractor``.
        subject_col, session_col : str or None, default=None
            Names of the id and session columns; found automatically when None.
        group_col : str or None, default="group"
            Name of the group column; None when there are no groups.
        instruments : mapping of str to str or None, default=None
            For wide scores: map column names to instrument names. When None,
            every non-id column must name a registered instrument.
        default_session : str, default="baseline"
            Session label used when a table has no session column.

        Returns
        -------
        Cohort

        Raises
        ------
        DataError
            Missing id column, duplicate subjects or (subject, session,
            instrument) rows, scores of subjects absent from ``participants``,
            wide columns that are not instruments.
        ScoreRangeError
            A score outside its instrument's range (the message names the
            subject and session).

        Examples
        --------
        >>> import pandas as pd
        >>> from painmarkers import Cohort
        >>> participants = pd.DataFrame({"participant_id": ["sub-01", "sub-02"],
        ...                              "group": ["CLBP", "CLBP"], "age": [40, 51]})
        >>> scores = pd.DataFrame({"participant_id": ["sub-01", "sub-01", "sub-02", "sub-02"],
        ...                        "session": ["pre", "post", "pre", "post"],
        ...                        "vas": [7.0, 4.5, 8.0, 5.0], "rmdq": [15, 13, 17, 14]})
        >>> Cohort.from_frames(participants, scores)
        Cohort(2 subjects: CLBP 2; 4 sessions)
        """
        if not isinstance(participants, pd.DataFrame):
            raise TypeError("The 'participants' parameter must be a pandas DataFrame. "
                            f"Got {type(participants).__name__}.")
        id_col = _pick_column(participants, subject_col, _SUBJECT_ALIASES, "subject id",
                              "participants")
        if group_col is not None and group_col not in participants.columns:
            if group_col != "group":
                raise DataError(f"The participants table has no group column {group_col!r}; it "
                                f"has {list(participants.columns)}.")
            group_col = None
        ids = participants[id_col].map(lambda v: _clean_id(v, "sub-"))
        dup = sorted(ids[ids.duplicated()].unique())
        if dup:
            raise DataError(f"Duplicate subject id(s) in the participants table: {dup}.")
        cov_cols = [c for c in participants.columns if c not in (id_col, group_col)]

        sessions: dict[str, dict[str, dict[str, list]]] = {i: {} for i in ids}

        def slot(sid: str, ses: str, table: str) -> dict[str, list]:
            if sid not in sessions:
                raise DataError(f"Subject {sid!r} appears in the {table} table but not in the "
                                "participants table.")
            return sessions[sid].setdefault(ses, {"scores": [], "measures": []})

        if scores is not None:
            cls._parse_scores(scores, subject_col, session_col, instruments, default_session,
                              slot)
        if measures is not None:
            cls._parse_measures(measures, subject_col, session_col, default_session, slot)

        subjects = []
        for row_id, (_, row) in zip(ids, participants.iterrows(), strict=True):
            group = None
            if group_col is not None:
                g = row[group_col]
                group = None if pd.isna(g) else str(g)
            covs = {c: _python_scalar(row[c]) for c in cov_cols}
            try:
                ses_objs = [Session(label, tuple(d["scores"]), tuple(d["measures"]))
                            for label, d in sessions[row_id].items()]
            except DataError as exc:
                raise DataError(f"Subject {row_id!r}: {exc}") from None
            subjects.append(Subject(row_id, group, covs, ses_objs))
        return cls(subjects)

    @staticmethod
    def _parse_scores(scores, subject_col, session_col, instruments, default_session, slot):
        if not isinstance(scores, pd.DataFrame):
            raise TypeError(f"The 'scores' parameter must be a DataFrame. Got {type(scores)}.")
        sid_col = _pick_column(scores, subject_col, _SUBJECT_ALIASES, "subject id", "scores")
        ses_col = _pick_column(scores, session_col, _SESSION_ALIASES, "session", "scores",
                               required=False)
        if {"instrument", "value"} <= set(scores.columns):
            records = [
                (r[sid_col], r[ses_col] if ses_col else default_session, r["instrument"],
                 r["value"])
                for _, r in scores.iterrows()
            ]
        else:
            value_cols = [c for c in scores.columns if c not in (sid_col, ses_col)]
            mapping = dict(instruments) if instruments is not None else {}
            if instruments is None:
                unknown = []
                for c in value_cols:
                    try:
                        mapping[c] = get_instrument(c).name
                    except RegistryError:
                        unknown.append(c)
                if unknown:
                    raise DataError(
                        f"Score column(s) {unknown} are not registered instruments. Pass "
                        "instruments={column: instrument} (and drop non-score columns), or "
                        "register them with painmarkers.register_instrument."
                    )
            records = [
                (r[sid_col], r[ses_col] if ses_col else default_session, mapping[c], r[c])
                for _, r in scores.iterrows() for c in value_cols if c in mapping
            ]
        seen = set()
        for sid, ses, inst, value in records:
            sid, ses = _clean_id(sid, "sub-"), _clean_id(ses, "ses-")
            try:
                name = get_instrument(inst).name
            except RegistryError as exc:
                raise RegistryError(f"Subject {sid!r}, session {ses!r}: {exc.args[0]}") from None
            key = (sid, ses, name)
            if key in seen:
                raise DataError(f"Subject {sid!r} session {ses!r} has more than one {name} score.")
            seen.add(key)
            value = math.nan if value is None or (not isinstance(value, str) and pd.isna(value)) \
                else value
            try:
                score = ClinicalScore(name, value)
            except DataError as exc:
                raise type(exc)(f"Subject {sid!r}, session {ses!r}: {exc}") from None
            slot(sid, ses, "scores")["scores"].append(score)

    @staticmethod
    def _parse_measures(measures, subject_col, session_col, default_session, slot):
        if not isinstance(measures, pd.DataFrame):
            raise TypeError(f"The 'measures' parameter must be a DataFrame. Got {type(measures)}.")
        sid_col = _pick_column(measures, subject_col, _SUBJECT_ALIASES, "subject id", "measures")
        ses_col = _pick_column(measures, session_col, _SESSION_ALIASES, "session", "measures",
                               required=False)
        missing = [c for c in ("roi", "feature", "value") if c not in measures.columns]
        if missing:
            raise DataError(f"The measures table lacks column(s) {missing}; it has "
                            f"{list(measures.columns)}.")
        has_ext = "extractor" in measures.columns
        for _, r in measures.iterrows():
            sid = _clean_id(r[sid_col], "sub-")
            ses = _clean_id(r[ses_col], "ses-") if ses_col else default_session
            ext = r["extractor"] if has_ext and isinstance(r["extractor"], str) else None
            try:
                m = ROIMeasure(str(r["roi"]), str(r["feature"]), r["value"], ext)
            except DataError as exc:
                raise DataError(f"Subject {sid!r}, session {ses!r}: {exc}") from None
            slot(sid, ses, "measures")["measures"].append(m)

    @classmethod
    def from_bids(cls, root: str | PathLike, derivatives: str | PathLike | Sequence | None = None,
                  **kwargs: Any) -> Cohort:
        """Build a cohort from a BIDS dataset (see :func:`painmarkers.io.read_bids`).

        Parameters
        ----------
        root : path-like
            Root of the BIDS dataset (holding ``participants.tsv``).
        derivatives : path-like, list of path-like or None, default=None
            fMRIPrep-style derivative folders to search for preprocessed images;
            None looks in ``<root>/derivatives``.
        **kwargs
            Passed to :func:`painmarkers.io.read_bids`.

        Returns
        -------
        Cohort
        """
        from painmarkers.io.bids import read_bids

        return read_bids(root, derivatives=derivatives, **kwargs)

    # -- views ----------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Return the long tidy table: one row per score, ROI measure and numeric metadata.

        Returns
        -------
        DataFrame
            Columns ``subject_id, group, session, kind, name, roi, value,
            extractor``. ``kind`` is ``"score"`` (``name`` = instrument),
            ``"measure"`` (``name`` = feature, ``roi`` = ROI) or ``"metadata"``
            (numeric session metadata such as ``mean_fd``). Subject-level
            covariates are in :meth:`participants`.
        """
        rows = []
        for sub, ses in self.iter_sessions():
            base = (sub.id, sub.group, ses.label)
            rows.extend((*base, "score", sc.instrument, None, sc.value, None) for sc in ses.scores)
            rows.extend((*base, "measure", m.feature, m.roi, m.value, m.extractor)
                        for m in ses.measures)
            rows.extend((*base, "metadata", k, None, float(v), None)
                        for k, v in ses.metadata.items()
                        if isinstance(v, int | float | np.number) and not isinstance(v, bool))
        columns = [*schema.TIDY_COLUMNS, schema.EXTRACTOR]
        frame = pd.DataFrame(rows, columns=columns)
        frame[schema.VALUE] = frame[schema.VALUE].astype(float)
        return frame

    def participants(self) -> pd.DataFrame:
        """Return one row per subject: ``subject_id``, ``group``, covariates, ``n_sessions``."""
        rows = []
        for s in self._subjects:
            rows.append({schema.SUBJECT: s.id, schema.GROUP: s.group, **dict(s.covariates),
                         "n_sessions": len(s.sessions)})
        cols = [schema.SUBJECT, schema.GROUP]
        frame = pd.DataFrame(rows)
        if frame.empty:
            return pd.DataFrame(columns=[*cols, "n_sessions"])
        rest = [c for c in frame.columns if c not in cols]
        return frame[cols + rest]

    def wide(self, *, covariates: bool = True) -> pd.DataFrame:
        """Return one row per (subject, session) with scores and measures as columns.

        Parameters
        ----------
        covariates : bool, default=True
            Include the subject-level covariates as columns.

        Returns
        -------
        DataFrame
            Columns ``subject_id, group, session``, then covariates, then one
            column per instrument (e.g. ``VAS``) and one per measure named by
            :func:`painmarkers.schema.measure_column` (``"alff__SMA_L"``).
        """
        rows = []
        for sub, ses in self.iter_sessions():
            row = {schema.SUBJECT: sub.id, schema.GROUP: sub.group, schema.SESSION: ses.label}
            if covariates:
                row.update(dict(sub.covariates))
            row.update({sc.instrument: sc.value for sc in ses.scores})
            row.update({schema.measure_column(m.feature, m.roi): m.value for m in ses.measures})
            rows.append(row)
        if not rows:
            return pd.DataFrame(columns=[schema.SUBJECT, schema.GROUP, schema.SESSION])
        return pd.DataFrame(rows)

    # -- derived cohorts -------------------------------------------------------------------
    def select(self, group: str | Sequence[str] | None = None,
               session: str | Sequence[str] | None = None,
               subjects: Sequence[str] | None = None) -> Cohort:
        """Return the sub-cohort of some groups, sessions or subjects.

        Parameters
        ----------
        group : str, list of str or None, default=None
            Keep subjects of these groups.
        session : str, list of str or None, default=None
            Keep only these sessions; subjects left with no session are dropped.
        subjects : list of str or None, default=None
            Keep these subject ids.

        Returns
        -------
        Cohort

        Raises
        ------
        DataError
            A requested group, session or subject is absent from the cohort.
        """
        def as_set(v):
            return None if v is None else {v} if isinstance(v, str) else set(v)

        groups, sessions = as_set(group), as_set(session)
        ids = None if subjects is None else {_clean_id(s, "sub-") for s in subjects}
        if groups is not None and not groups <= set(self.groups):
            raise DataError(f"Group(s) {sorted(groups - set(self.groups))} not in the cohort "
                            f"(groups: {list(self.groups)}).")
        if sessions is not None:
            sessions = {_clean_id(s, "ses-") for s in sessions}
            present = {ses.label for _, ses in self.iter_sessions()}
            if not sessions <= present:
                raise DataError(f"Session(s) {sorted(sessions - present)} not in the cohort "
                                f"(sessions: {sorted(present)}).")
        if ids is not None and not ids <= set(self._index):
            raise DataError(f"Subject(s) {sorted(ids - set(self._index))} not in the cohort.")
        out = []
        for sub in self._subjects:
            if groups is not None and sub.group not in groups:
                continue
            if ids is not None and sub.id not in ids:
                continue
            if sessions is not None:
                kept = tuple(s for s in sub.sessions if s.label in sessions)
                if not kept:
                    continue
                sub = dataclasses.replace(sub, sessions=kept)
            out.append(sub)
        return Cohort(out)

    def with_measures(self, frame: pd.DataFrame, *, replace: bool = False) -> Cohort:
        """Return a new cohort with ROI measures added from a long table.

        Parameters
        ----------
        frame : DataFrame
            Columns ``subject_id`` (or ``participant_id``), ``session``, ``roi``,
            ``feature``, ``value`` and optionally ``extractor``.
        replace : bool, default=False
            Replace existing measures of the same (feature, ROI); otherwise a
            clash is an error.

        Returns
        -------
        Cohort

        Raises
        ------
        DataError
            Unknown subject or session, or a measure that exists already.
        """
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"with_measures expects a DataFrame. Got {type(frame).__name__}.")
        new: dict[tuple[str, str], list[ROIMeasure]] = {}

        def slot(sid, ses, table):
            if sid not in self._index:
                raise DataError(f"Subject {sid!r} in the measures table is not in the cohort.")
            if ses not in self._index[sid].session_labels:
                raise DataError(f"Subject {sid!r} has no session {ses!r} (it has "
                                f"{list(self._index[sid].session_labels)}).")
            return {"measures": new.setdefault((sid, ses), [])}

        self._parse_measures(frame, None, None, "baseline", slot)
        subjects = []
        for sub in self._subjects:
            sessions = []
            for ses in sub.sessions:
                added = new.get((sub.id, ses.label))
                if added:
                    keys = {(m.feature, m.roi) for m in added}
                    old = ses.measures
                    if replace:
                        old = tuple(m for m in old if (m.feature, m.roi) not in keys)
                    try:
                        ses = dataclasses.replace(ses, measures=(*old, *added))
                    except DataError as exc:
                        raise DataError(f"Subject {sub.id!r}: {exc}") from None
                sessions.append(ses)
            subjects.append(dataclasses.replace(sub, sessions=tuple(sessions)))
        return Cohort(subjects)
