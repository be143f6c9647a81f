"""The Cohort: subjects with their sessions, built from tables or BIDS, turned into tidy tables."""

from __future__ import annotations

import dataclasses
import numbers
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._deprecation import deprecate_positional, rename_parameters
from painmarkers.exceptions import DataError
from painmarkers.model.records import Session, Subject, strip_prefix

__all__ = ["Cohort"]

def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real)


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
    Cohort.from_frames : Build a cohort from participant and score tables.
    Cohort.from_bids : Build a cohort from a BIDS dataset.
    painmarkers.io.read_bids : Read a BIDS dataset and its derivatives.

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
        return isinstance(subject_id, str) and strip_prefix(subject_id, "sub-") in self._index

    def __getitem__(self, subject_id: str) -> Subject:
        key = strip_prefix(subject_id, "sub-")
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
        """Yield ``(subject, session)`` pairs in order.

        Yields
        ------
        subject : Subject
            The subject.
        session : Session
            One of its sessions.

        Examples
        --------
        >>> from painmarkers import Cohort, Session, Subject
        >>> cohort = Cohort([Subject("01", sessions=[Session("pre"), Session("post")])])
        >>> [(sub.id, ses.label) for sub, ses in cohort.iter_sessions()]
        [('01', 'pre'), ('01', 'post')]
        """
        for sub in self._subjects:
            for ses in sub.sessions:
                yield sub, ses

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    @rename_parameters(subject_col="subject", group_col="between", session_col="within")
    def from_frames(
        cls,
        participants: pd.DataFrame,
        scores: pd.DataFrame | None = None,
        measures: pd.DataFrame | None = None,
        *,
        subject: str | None = None,
        between: str | None = "group",
        within: str | None = None,
        instruments: Mapping[str, str] | None = None,
        default_session: str = "baseline",
    ) -> Cohort:
        """Build a cohort from tidy tables.

        Parameters
        ----------
        participants : DataFrame
            One row per subject: an id column (``participant_id`` or
            ``subject_id``; a ``sub-`` prefix is removed), the group column
            ``between`` and any covariates (every other column).
        scores : DataFrame or None, default=None
            Clinical scores, either *long* (columns id, session, ``instrument``,
            ``value``) or *wide* (columns id, session and one column per
            instrument, e.g. ``vas``, ``rmdq``). Without a session column every
            row belongs to ``default_session``. NaN means "not collected" and
            is kept as a missing score.
        measures : DataFrame or None, default=None
            ROI measures in long form: id, session, ``roi``, ``feature``,
            ``value`` and optionally ``extractor``.
        subject : str or None, default=None
            Column of subject ids in every table; found automatically when
            None (``subject_id``, ``participant_id``, ``subject`` or ``sub``).
            Formerly ``subject_col``.
        between : str or None, default="group"
            Column of ``participants`` holding the group labels. Pass None for
            data without groups (every subject's group is then None). Formerly
            ``group_col``.
        within : str or None, default=None
            Column of session labels in ``scores`` and ``measures`` (``ses-``
            prefix removed); found automatically when None (``session``,
            ``session_id`` or ``ses``). Formerly ``session_col``.
        instruments : mapping of str to str or None, default=None
            For wide scores: map column names to instrument names (columns not
            in the mapping are not read). When None, every non-id column must
            name a registered instrument.
        default_session : str, default="baseline"
            Session label used when a table has no session column.

        Returns
        -------
        Cohort
            One subject per row of ``participants``, in order; a subject
            without scores or measures has no sessions.

        Raises
        ------
        DataError
            Missing id column, a group column ``between`` absent from
            ``participants``, group labels that differ only in case or spacing
            (``"CLBP"`` and ``"clbp"``; the message names the labels and their
            subjects), empty or duplicate subject ids, duplicate (subject,
            session, instrument) or (subject, session, feature, ROI) rows, scores
            or measures of subjects absent from ``participants``, wide columns
            that are not instruments, non-numeric values.
        ScoreRangeError
            A score outside its instrument's range (the message names the
            subject and session).
        RegistryError
            An unknown instrument in a long score table.

        Warns
        -----
        PainmarkersWarning
            A group label one letter away from a label held by at least three
            times as many subjects (``"CLPB"`` beside ``"CLBP"``: a typo?), or
            subjects without a group label; the message names them.

        Notes
        -----
        The tables are parsed column-wise by :mod:`painmarkers.io.tables`
        (139 200 measure rows in about a second; see ``benchmarks/bench_tables.py``).

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
        from painmarkers.io.tables import cohort_from_frames

        return cohort_from_frames(participants, scores, measures, subject=subject,
                                  between=between, within=within, instruments=instruments,
                                  default_session=default_session)

    @classmethod
    def from_bids(cls, root: str | PathLike, derivatives: str | PathLike | Sequence | None = None,
                  **kwargs: Any) -> Cohort:
        """Build a cohort from a BIDS dataset (see :func:`painmarkers.io.read_bids`).

        Parameters
        ----------
        root : path-like
            Root of the BIDS dataset (holding ``participants.tsv``).
        derivatives : path-like, list of path-like or None, default=None
            Derivative folders (fMRIPrep-style) to search for preprocessed images;
            None looks in ``<root>/derivatives``.
        **kwargs
            Passed to :func:`painmarkers.io.read_bids`.

        Returns
        -------
        Cohort
            One subject per row of ``participants.tsv`` (or per ``sub-*`` folder), with
            their sessions, scores and images.

        Raises
        ------
        BIDSError
            The dataset or a file of it cannot be read (the message names the file).

        See Also
        --------
        painmarkers.io.read_bids : The reader, with every option.
        """
        from painmarkers.io.bids import read_bids

        return read_bids(root, derivatives=derivatives, **kwargs)

    # -- views ----------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Return the long tidy table: one row per covariate, score, ROI measure and metadata.

        Returns
        -------
        DataFrame
            Columns ``subject_id, group, session, kind, name, roi, value,
            extractor, text``. ``kind`` is:

            - ``"covariate"``: a subject-level covariate (``session`` is None,
              ``name`` the covariate); numbers in ``value``, any other value
              (``sex = "F"``) in ``text`` with ``value`` NaN;
            - ``"score"``: a clinical score (``name`` = instrument);
            - ``"measure"``: an ROI measure (``name`` = feature, ``roi`` = ROI,
              ``extractor`` its provenance);
            - ``"metadata"``: numeric session metadata (``t_r``, ``mean_fd``, ...).

            ``value`` is float; ``text`` is None except for non-numeric
            covariates. Per subject, covariate rows come first, then each
            session's rows. A subject without sessions has only its covariate
            rows; a session without any number has no row.

        See Also
        --------
        Cohort.wide : The same numbers, one row per (subject, session).

        Notes
        -----
        Every function of :mod:`painmarkers.stats` accepts this table in place
        of the Cohort: it is pivoted back to the :meth:`wide` table (covariates
        repeated on each session row) with the same values.
        """
        rows = []
        for sub in self._subjects:
            for k, v in sub.covariates.items():
                if _is_number(v):
                    rows.append((sub.id, sub.group, None, "covariate", k, None, float(v), None,
                                 None))
                else:
                    text = None if v is None or (isinstance(v, float) and v != v) else str(v)
                    rows.append((sub.id, sub.group, None, "covariate", k, None, np.nan, None,
                                 text))
            for ses in sub.sessions:
                base = (sub.id, sub.group, ses.label)
                rows.extend((*base, "score", sc.instrument, None, sc.value, None, None)
                            for sc in ses.scores)
                rows.extend((*base, "measure", m.feature, m.roi, m.value, m.extractor, None)
                            for m in ses.measures)
                rows.extend((*base, "metadata", k, None, float(v), None, None)
                            for k, v in _numeric_metadata(ses))
        columns = [*schema.TIDY_COLUMNS, schema.EXTRACTOR, schema.TEXT]
        frame = pd.DataFrame(rows, columns=columns, dtype=object)
        frame[schema.VALUE] = frame[schema.VALUE].astype(float)
        return frame

    def participants(self) -> pd.DataFrame:
        """Return one row per subject: ``subject_id``, ``group``, covariates, ``n_sessions``.

        Returns
        -------
        pandas.DataFrame
            Columns ``subject_id``, ``group``, one column per covariate (in the order
            first met), ``n_sessions``; one row per subject, in order.

        Examples
        --------
        >>> from painmarkers import Cohort, Session, Subject
        >>> Cohort([Subject("01", "CLBP", {"age": 44}, [Session("pre")])]).participants()
          subject_id group  age  n_sessions
        0         01  CLBP   44           1
        """
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
        """Return one row per (subject, session) with every number of the session as a column.

        Parameters
        ----------
        covariates : bool, default=True
            Include the subject-level covariates as columns.

        Returns
        -------
        DataFrame
            Columns ``subject_id, group, session``, then covariates, numeric
            session metadata (``t_r``, ``mean_fd``, ...), one column per
            instrument (e.g. ``VAS``) and one per measure named by
            :func:`painmarkers.schema.measure_column` (``"alff__SMA_L"``).

        Notes
        -----
        When two sources give a column of the same name, the more specific
        wins: a session's metadata over a subject's covariate (``age`` in
        ``sessions.tsv`` over ``age`` in ``participants.tsv``), then scores,
        then measures. :meth:`to_frame` pivoted by :mod:`painmarkers.stats`
        follows the same rule.
        """
        rows = []
        for sub, ses in self.iter_sessions():
            row = {schema.SUBJECT: sub.id, schema.GROUP: sub.group, schema.SESSION: ses.label}
            if covariates:
                row.update(dict(sub.covariates))
            row.update({k: float(v) for k, v in _numeric_metadata(ses)})
            row.update({sc.instrument: sc.value for sc in ses.scores})
            row.update({schema.measure_column(m.feature, m.roi): m.value for m in ses.measures})
            rows.append(row)
        if not rows:
            return pd.DataFrame(columns=[schema.SUBJECT, schema.GROUP, schema.SESSION])
        return pd.DataFrame(rows)

    # -- derived cohorts -------------------------------------------------------------------
    @rename_parameters(group="levels", session="sessions")
    @deprecate_positional(levels=1, sessions=2, subjects=3)
    def select(self, *, levels: str | Sequence[str] | None = None,
               sessions: str | Sequence[str] | None = None,
               subjects: Sequence[str] | None = None) -> Cohort:
        """Return the sub-cohort of some groups, sessions or subjects.

        Parameters
        ----------
        levels : str, list of str or None, default=None
            Keep subjects of these group labels. Formerly ``group``.
        sessions : str, list of str or None, default=None
            Keep only these session labels (``ses-`` prefix optional); subjects
            left with no session are dropped. Formerly ``session``.
        subjects : str, list of str or None, default=None
            Keep these subject ids (``sub-`` prefix optional).

        Returns
        -------
        Cohort
            A new cohort with the subjects (and sessions) kept, in the original order.

        Raises
        ------
        DataError
            A requested group label, session or subject is absent from the cohort.

        Examples
        --------
        >>> from painmarkers import Cohort, Session, Subject
        >>> cohort = Cohort([Subject("01", "CLBP", sessions=[Session("pre"), Session("post")]),
        ...                  Subject("02", "HC", sessions=[Session("pre")])])
        >>> cohort.select(levels="CLBP", sessions="post")
        Cohort(1 subjects: CLBP 1; 1 sessions)
        """
        def as_set(v):
            return None if v is None else {v} if isinstance(v, str) else set(v)

        groups, wanted = as_set(levels), as_set(sessions)
        ids = as_set(subjects)
        ids = None if ids is None else {strip_prefix(s, "sub-") for s in ids}
        if groups is not None and not groups <= set(self.groups):
            raise DataError(f"Group(s) {sorted(groups - set(self.groups))} not in the cohort "
                            f"(groups: {list(self.groups)}).")
        if wanted is not None:
            wanted = {strip_prefix(s, "ses-") for s in wanted}
            present = {ses.label for _, ses in self.iter_sessions()}
            if not wanted <= present:
                raise DataError(f"Session(s) {sorted(wanted - present)} not in the cohort "
                                f"(sessions: {sorted(present)}).")
        if ids is not None and not ids <= set(self._index):
            raise DataError(f"Subject(s) {sorted(ids - set(self._index))} not in the cohort.")
        out = []
        for sub in self._subjects:
            if groups is not None and sub.group not in groups:
                continue
            if ids is not None and sub.id not in ids:
                continue
            if wanted is not None:
                kept = tuple(s for s in sub.sessions if s.label in wanted)
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
            A new cohort; this one is unchanged.

        Raises
        ------
        DataError
            Unknown subject or session, a non-numeric value, or a measure that
            exists already; the message names the subject and session.

        Examples
        --------
        >>> import pandas as pd
        >>> from painmarkers import Cohort, Session, Subject
        >>> cohort = Cohort([Subject("01", sessions=[Session("pre")])])
        >>> table = pd.DataFrame({"subject_id": ["01"], "session": ["pre"], "roi": ["SMA_L"],
        ...                       "feature": ["alff"], "value": [0.8]})
        >>> cohort.with_measures(table)["01"].session("pre").measure("alff", "SMA_L")
        0.8
        """
        from painmarkers.io.tables import add_measures

        return add_measures(self, frame, replace=replace)


def _numeric_metadata(ses: Session) -> list[tuple[str, Any]]:
    """The numeric (not boolean) metadata of a session, in order."""
    return [(k, v) for k, v in ses.metadata.items()
            if isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_)]
