"""Tabular input: reading CSV/TSV and JSON files, and parsing tables into Cohort records.

Reading (:func:`read_table`, :func:`read_json`, :func:`read_participants`) refuses
unreadable, empty or ambiguous files with errors naming the file. Parsing
(:func:`cohort_from_frames`, :func:`add_measures`, behind
:meth:`painmarkers.Cohort.from_frames` and :meth:`painmarkers.Cohort.with_measures`)
turns participant, score and measure tables into subjects and sessions with
column operations (no per-row pandas access), with errors naming the subject,
session and bad value.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import math
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._warnings import warn
from painmarkers.exceptions import BIDSError, DataError, RegistryError
from painmarkers.model import ClinicalScore, Cohort, ROIMeasure, Session, Subject, get_instrument
from painmarkers.model.records import strip_prefix

__all__ = ["read_json", "read_participants", "read_table"]

#: Strings read as missing values. BIDS writes ``n/a``; spreadsheets write the others.
NA_VALUES = ("n/a", "N/A", "NA", "NaN", "nan", "")

#: Columns always read as text (identifiers keep leading zeros: ``sub-007`` stays ``007``).
ID_COLUMNS = ("participant_id", "subject_id", "session_id", "session", "subject", "group")


def _sniff_sep(path: Path, sep: str | None) -> str:
    if sep is not None:
        return sep
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith((".tsv", ".tsv.gz", ".txt")):
        return "\t"
    if suffixes.endswith((".csv", ".csv.gz")):
        return ","
    raise DataError(
        f"Cannot tell the column separator of {str(path)!r} from its extension "
        f"{suffixes or '(none)'!r}; use a .csv or .tsv file or pass sep=."
    )


def read_table(
    path: str | PathLike,
    *,
    sep: str | None = None,
    required: Sequence[str] = (),
    id_columns: Sequence[str] = ID_COLUMNS,
    name: str | None = None,
    error: type[DataError] = DataError,
) -> pd.DataFrame:
    """Read a CSV or TSV table, refusing unreadable, empty or ambiguous files.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``, ``.tsv`` or ``.txt`` (tab-separated) file, optionally gzipped.
    sep : str or None, default=None
        Column separator; None infers it from the extension.
    required : sequence of str, default=()
        Columns the table must have.
    id_columns : sequence of str, default=ID_COLUMNS
        Columns read as text, so that ids such as ``007`` keep their zeros.
    name : str or None, default=None
        What the table is, for messages (e.g. ``"participants table"``); the
        file name by default.
    error : type, default=DataError
        Exception class raised (``BIDSError`` for files of a BIDS dataset).

    Returns
    -------
    DataFrame
        The table with column names stripped of surrounding spaces; ``n/a``,
        ``NA`` and empty cells are NaN; other columns get pandas' inferred
        types.

    Raises
    ------
    DataError
        Missing file, undecidable separator, unparsable content, an empty
        table, duplicate or empty column names, or a missing required column.
        The message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from painmarkers.io import read_table
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.tsv"
    >>> _ = path.write_text("participant_id\\tvas\\nsub-007\\t6.5\\nsub-008\\tn/a\\n")
    >>> read_table(path, required=["participant_id"])
      participant_id  vas
    0        sub-007  6.5
    1        sub-008  NaN
    """
    path = Path(path)
    label = f"{name} {str(path)!r}" if name else repr(str(path))
    if not path.is_file():
        raise error(f"The {name or 'table'} file {str(path)!r} does not exist.")
    sep = _sniff_sep(path, sep)
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # -sig drops a BOM
            header = next(csv.reader(fh, delimiter=sep), None)
    except UnicodeDecodeError as exc:
        raise error(f"Could not read {label}: it is not UTF-8 text ({exc}).") from None
    except (OSError, EOFError) as exc:  # includes gzip.BadGzipFile
        raise error(f"Could not read {label}: {exc}.") from None
    if not header or not any(h.strip() for h in header):
        raise error(f"The table {label} is empty (no header line).")
    columns = [h.strip() for h in header]
    if any(not c for c in columns):
        raise error(f"The table {label} has an empty column name: {columns}.")
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise error(f"The table {label} has duplicate column name(s) {dup}.")
    if sep == "," and len(columns) == 1 and "\t" in header[0]:
        raise error(f"The table {label} looks tab-separated but is named .csv; pass sep='\\t'.")
    if sep == "\t" and len(columns) == 1 and "," in header[0]:
        raise error(f"The table {label} looks comma-separated but is named .tsv; pass sep=','.")
    dtype = {c: str for c in columns if c in id_columns}
    try:
        frame = pd.read_csv(path, sep=sep, dtype=dtype, na_values=list(NA_VALUES),
                            keep_default_na=False, encoding="utf-8-sig", skipinitialspace=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise error(f"Could not parse {label}: {exc}".rstrip(".") + ".") from None
    frame.columns = columns
    for c in dtype:
        frame[c] = frame[c].map(lambda v: v.strip() if isinstance(v, str) else v)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise error(f"The table {label} lacks the required column(s) {missing}; it has "
                    f"{columns}.")
    return frame


def read_json(path: str | PathLike, *, name: str = "JSON file",
              error: type[DataError] = BIDSError) -> dict[str, Any]:
    """Read a JSON object (a BIDS sidecar or ``dataset_description.json``).

    Parameters
    ----------
    path : str or path-like
        The file.
    name : str, default="JSON file"
        What the file is, for messages.
    error : type, default=BIDSError
        Exception class raised.

    Returns
    -------
    dict
        The JSON object.

    Raises
    ------
    BIDSError
        Missing file, invalid JSON (with line and column) or a top level that
        is not an object (``error`` when given).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from painmarkers.io import read_json
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sub-01_task-rest_bold.json"
    >>> _ = path.write_text('{"RepetitionTime": 3.0}')
    >>> read_json(path)["RepetitionTime"]
    3.0
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"The {name} {str(path)!r} does not exist.")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise error(f"The {name} {str(path)!r} is not valid JSON: {exc.msg} at line "
                    f"{exc.lineno}, column {exc.colno}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"Could not read the {name} {str(path)!r}: {exc}.") from None
    if not isinstance(data, dict):
        raise error(f"The {name} {str(path)!r} must hold a JSON object; it holds a "
                    f"{type(data).__name__}.")
    return data


def read_participants(path: str | PathLike) -> pd.DataFrame:
    """Read a BIDS ``participants.tsv`` and its ``participants.json`` sidecar.

    Parameters
    ----------
    path : str or path-like
        The ``participants.tsv`` file, or the dataset root that holds it.

    Returns
    -------
    DataFrame
        One row per participant, with ``participant_id`` as text (``sub-``
        prefix kept as in the file) and every other column as read. The
        sidecar, when present, is in ``frame.attrs["sidecar"]`` (a dict
        ``column -> {"Description", "Levels", "Units", ...}``; ``{}``
        without a sidecar) and its path in ``frame.attrs["sidecar_path"]``.

    Raises
    ------
    BIDSError
        Missing file, no ``participant_id`` column, empty or duplicate ids
        (the message lists them), or an invalid sidecar.

    Notes
    -----
    Values are not recoded with the sidecar's ``Levels`` (``sex`` stays
    ``"F"``/``"M"`` as written); the levels are kept for documentation and
    reporting.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from painmarkers.io import read_participants
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "participants.tsv").write_text(
    ...     "participant_id\\tgroup\\tage\\nsub-01\\tCLBP\\t44\\nsub-02\\tHC\\t39\\n")
    >>> _ = (root / "participants.json").write_text('{"age": {"Units": "year"}}')
    >>> frame = read_participants(root)
    >>> frame["age"].tolist(), frame.attrs["sidecar"]["age"]["Units"]
    ([44, 39], 'year')
    """
    path = Path(path)
    if path.is_dir():
        path = path / "participants.tsv"
    frame = read_table(path, name="participants table", error=BIDSError)
    if "participant_id" not in frame.columns:
        raise BIDSError(
            f"The participants table {str(path)!r} has no 'participant_id' column (BIDS "
            f"requires it, holding sub-<label> ids); its columns are {list(frame.columns)}."
        )
    ids = frame["participant_id"]
    empty = [i + 2 for i, v in enumerate(ids) if not isinstance(v, str) or not v.strip()]
    if empty:
        raise BIDSError(f"The participants table {str(path)!r} has an empty participant_id on "
                        f"line(s) {empty}.")
    bare = ids.map(lambda v: v[4:] if v.startswith("sub-") else v)
    dup = sorted(bare[bare.duplicated()].unique())
    if dup:
        raise BIDSError(f"Duplicate participant_id(s) {dup} in the participants table "
                        f"{str(path)!r}; each participant must have one row.")
    sidecar_path = path.with_suffix(".json")
    sidecar: dict[str, Any] = {}
    if sidecar_path.is_file():
        sidecar = read_json(sidecar_path, name="participants sidecar")
    frame.attrs["sidecar"] = sidecar
    frame.attrs["sidecar_path"] = str(sidecar_path) if sidecar_path.is_file() else None
    return frame


# --- parsing tables into Cohort records ---------------------------------------------------
#: Column names recognised as the subject id / session label when none is given.
SUBJECT_ALIASES = ("subject_id", "participant_id", "subject", "sub")
SESSION_ALIASES = ("session", "session_id", "ses")

#: A near-miss group label is flagged when a label this many times larger is one edit away.
NEAR_MISS_RATIO = 3
#: Labels shorter than this are never flagged as near misses (``"A"`` vs ``"B"``).
NEAR_MISS_MIN_LENGTH = 3


def pick_column(frame: pd.DataFrame, given: str | None, aliases: Sequence[str], what: str,
                table: str, required: bool = True) -> str | None:
    """Name of the ``what`` column of ``frame``: ``given``, else the first alias present."""
    if given is not None:
        if given not in frame.columns:
            raise DataError(f"The {table} has no {what} column {given!r}; it has "
                            f"{list(frame.columns)}.")
        return given
    for name in aliases:
        if name in frame.columns:
            return name
    if required:
        raise DataError(f"The {table} needs a {what} column (one of {list(aliases)}); it "
                        f"has {list(frame.columns)}.")
    return None


def python_scalar(value: Any) -> Any:
    """A numpy scalar as the Python scalar; pandas' NA and NaT as NaN."""
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return math.nan
    return value


def _labels(frame: pd.DataFrame, column: str, prefix: str, what: str, table: str,
            error: type[DataError] = DataError) -> list[str]:
    """The ``column`` as stripped text without ``prefix``; a missing value raises."""
    values = frame[column]
    missing = values.isna().to_numpy()
    if missing.any():
        where = list(frame.index[missing][:10])
        raise error(f"The {table} has an empty {what} in column {column!r} at index "
                    f"{where}" + (f" ({int(missing.sum())} in all)" if missing.sum() > 10
                                  else "") + ".")
    codes, uniques = pd.factorize(values)  # ids repeat: clean each distinct value once
    clean = np.array([strip_prefix(u, prefix) for u in uniques], dtype=object)
    return clean[codes].tolist()


# -- participants -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Participants:
    """Subjects of a participants table: ids (in order), groups and covariates."""

    ids: list[str]
    groups: list[str | None]
    covariates: list[dict[str, Any]]
    id_column: str
    group_column: str | None


def parse_participants(frame: pd.DataFrame, *, subject: str | None = None,
                       between: str | None = "group", table: str = "participants table",
                       error: type[DataError] = DataError) -> Participants:
    """Ids, group labels and covariates (every other column) of a participants table.

    ``between`` names the group column; when it is missing the error tells what
    to do (name it, or pass ``between=None`` for data without groups). Group
    labels are then checked with :func:`check_group_labels`.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("The 'participants' parameter must be a pandas DataFrame. "
                        f"Got {type(frame).__name__}.")
    id_col = pick_column(frame, subject, SUBJECT_ALIASES, "subject id", table)
    if between is not None and between not in frame.columns:
        raise error(
            f"The {table} has no group column {between!r}; its columns are "
            f"{list(frame.columns)}. Name the group column with between=, or pass "
            "between=None for data without groups (one group)."
        )
    ids = _labels(frame, id_col, "sub-", "subject id", table, error)
    seen: set[str] = set()
    dup = sorted({i for i in ids if i in seen or seen.add(i)})
    if dup:
        raise error(f"Duplicate subject id(s) in the {table}: {dup}.")
    groups: list[str | None] = [None] * len(ids)
    if between is not None:
        groups = [None if pd.isna(g) else str(g) for g in frame[between].tolist()]
        check_group_labels(ids, groups, column=between, table=table, error=error)
    cov_cols = [c for c in frame.columns if c not in (id_col, between)]
    columns = {c: [python_scalar(v) for v in frame[c].tolist()] for c in cov_cols}
    covariates = [{c: columns[c][i] for c in cov_cols} for i in range(len(ids))]
    return Participants(ids, groups, covariates, id_col, between)


def _osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent transpositions)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def _who(ids: Sequence[str], limit: int = 10) -> str:
    ids = list(ids)
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def check_group_labels(ids: Sequence[str], groups: Sequence[str | None], *, column: str,
                       table: str, error: type[DataError] = DataError) -> None:
    """Refuse group labels that differ only in case or spacing; flag near misses.

    Raises ``error`` when two labels become equal after case folding and
    whitespace normalisation (``"CLBP"``, ``"clbp"``, ``"CLBP "``), naming the
    labels and their subjects. Warns (:class:`~painmarkers.PainmarkersWarning`)
    when a label of at least :data:`NEAR_MISS_MIN_LENGTH` characters is one edit
    (substitution, insertion, deletion or swap of adjacent characters, ignoring
    case) away from a label held by at least :data:`NEAR_MISS_RATIO` times as many
    subjects (``"CLPB"`` beside ``"CLBP"``), and when subjects have no label.
    """
    members: dict[str, list[str]] = {}
    for sid, g in zip(ids, groups, strict=True):
        if g is not None:
            members.setdefault(g, []).append(sid)
    by_key: dict[str, list[str]] = {}
    for label in members:
        by_key.setdefault(" ".join(label.split()).casefold(), []).append(label)
    clashes = [labels for labels in by_key.values() if len(labels) > 1]
    if clashes:
        parts = []
        for labels in clashes:
            labels = sorted(labels, key=lambda g: -len(members[g]))
            parts.append(" vs ".join(f"{g!r} (subject(s) {_who(members[g])})" for g in labels))
        raise error(
            f"Group labels in column {column!r} of the {table} differ only in case or "
            f"spacing: {'; '.join(parts)}. They would be analysed as different groups; "
            "spell each group one way."
        )
    labels = sorted(members, key=lambda g: (len(members[g]), g))
    for small in labels:
        if len(small) < NEAR_MISS_MIN_LENGTH:
            continue
        for large in labels:
            if (large != small and len(large) >= NEAR_MISS_MIN_LENGTH
                    and len(members[large]) >= NEAR_MISS_RATIO * len(members[small])
                    and _osa_distance(small.casefold(), large.casefold()) == 1):
                warn(f"Group label {small!r} in column {column!r} of the {table} "
                     f"(subject(s) {_who(members[small])}) is one letter away from {large!r} "
                     f"({len(members[large])} subjects): a typo? {small!r} is kept as a "
                     "group of its own; correct the label if it is one.")
                break
    unlabelled = [sid for sid, g in zip(ids, groups, strict=True) if g is None]
    if unlabelled:
        warn(f"Subject(s) {_who(unlabelled)} have no label in the group column {column!r} of "
             f"the {table}; they are kept without a group and left out of group "
             "comparisons.")


# -- scores and measures ----------------------------------------------------------------------
def _session_labels(frame: pd.DataFrame, ses_col: str | None, default_session: str,
                    table: str) -> list[str]:
    if ses_col is None:
        return [default_session] * len(frame)
    return _labels(frame, ses_col, "ses-", "session", f"{table} table")


def _first_duplicate(keys: pd.DataFrame) -> int | None:
    dup = keys.duplicated().to_numpy()
    return int(np.flatnonzero(dup)[0]) if dup.any() else None


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def parse_scores(scores: pd.DataFrame, *, subject: str | None, within: str | None,
                 instruments: Mapping[str, str] | None, default_session: str
                 ) -> tuple[list[str], list[str], list[ClinicalScore]]:
    """Subject ids, session labels and ClinicalScore records of a long or wide score table."""
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"The 'scores' parameter must be a DataFrame. Got {type(scores)}.")
    sid_col = pick_column(scores, subject, SUBJECT_ALIASES, "subject id", "scores table")
    ses_col = pick_column(scores, within, SESSION_ALIASES, "session", "scores table",
                          required=False)
    sids = _labels(scores, sid_col, "sub-", "subject id", "scores table")
    sess = _session_labels(scores, ses_col, default_session, "scores")
    if {"instrument", "value"} <= set(scores.columns):
        raw_inst = scores["instrument"].tolist()
        values = scores["value"].tolist()
        names: dict[Any, str] = {}
        for i, inst in enumerate(raw_inst):
            if inst in names:
                continue
            try:
                names[inst] = get_instrument(inst).name
            except RegistryError as exc:
                raise RegistryError(f"Subject {sids[i]!r}, session {sess[i]!r}: "
                                    f"{exc.args[0]}") from None
        insts = [names[i] for i in raw_inst]
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
        cols = [c for c in value_cols if c in mapping]
        n, m = len(scores), len(cols)
        canonical = []
        for c in cols:
            try:
                canonical.append(get_instrument(mapping[c]).name)
            except RegistryError as exc:
                where = f"Subject {sids[0]!r}, session {sess[0]!r}: " if n else ""
                raise RegistryError(f"{where}{exc.args[0]} (score column {c!r})") from None
        sids = [s for s in sids for _ in range(m)]  # row-major: the columns of a row together
        sess = [s for s in sess for _ in range(m)]
        insts = canonical * n
        values = scores[cols].to_numpy(dtype=object).ravel().tolist() if m else []
    i = _first_duplicate(pd.DataFrame({"s": sids, "t": sess, "i": insts}))
    if i is not None:
        raise DataError(f"Subject {sids[i]!r} session {sess[i]!r} has more than one "
                        f"{insts[i]} score.")
    records = []
    for sid, ses, inst, value in zip(sids, sess, insts, values, strict=True):
        try:
            records.append(ClinicalScore(inst, math.nan if _missing(value) else value))
        except DataError as exc:
            raise type(exc)(f"Subject {sid!r}, session {ses!r}: {exc}") from None
    return sids, sess, records


def _text_column(frame: pd.DataFrame, column: str, sids: list[str], sess: list[str]
                 ) -> list[str]:
    values = frame[column]
    codes, uniques = pd.factorize(values)  # NaN gets code -1
    text = np.array([str(u) for u in uniques], dtype=object)
    bad = codes < 0
    bad[codes >= 0] = np.array([not t.strip() for t in text], dtype=bool)[codes[codes >= 0]]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"Subject {sids[i]!r}, session {sess[i]!r}: ROIMeasure {column!r} must "
                        f"be a non-empty string. Got {values.iloc[i]!r}.")
    return text[codes].tolist()


def _number_column(values: pd.Series, sids, sess, features, rois) -> list[float]:
    if pd.api.types.is_bool_dtype(values.dtype):
        bad = np.ones(len(values), dtype=bool)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype(float).tolist()
    else:
        raw = values.to_numpy(dtype=object)
        converted = pd.to_numeric(values, errors="coerce")
        is_bool = np.fromiter((isinstance(v, bool | np.bool_) for v in raw), bool, len(raw))
        bad = is_bool | (converted.isna().to_numpy() & values.notna().to_numpy())
        if not bad.any():
            return converted.astype(float).tolist()
    i = int(np.flatnonzero(bad)[0])
    raise DataError(f"Subject {sids[i]!r}, session {sess[i]!r}: ROIMeasure "
                    f"{features[i]}/{rois[i]} value must be a number. Got {values.iloc[i]!r}.")


def parse_measures(measures: pd.DataFrame, *, subject: str | None, within: str | None,
                   default_session: str) -> tuple[list[str], list[str], list[ROIMeasure]]:
    """Subject ids, session labels and ROIMeasure records of a long measure table."""
    if not isinstance(measures, pd.DataFrame):
        raise TypeError(f"The 'measures' parameter must be a DataFrame. Got {type(measures)}.")
    sid_col = pick_column(measures, subject, SUBJECT_ALIASES, "subject id", "measures table")
    ses_col = pick_column(measures, within, SESSION_ALIASES, "session", "measures table",
                          required=False)
    missing = [c for c in ("roi", "feature", "value") if c not in measures.columns]
    if missing:
        raise DataError(f"The measures table lacks column(s) {missing}; it has "
                        f"{list(measures.columns)}.")
    sids = _labels(measures, sid_col, "sub-", "subject id", "measures table")
    sess = _session_labels(measures, ses_col, default_session, "measures")
    rois = _text_column(measures, "roi", sids, sess)
    features = _text_column(measures, "feature", sids, sess)
    values = _number_column(measures["value"], sids, sess, features, rois)
    if "extractor" in measures.columns:
        extractors = [e if isinstance(e, str) else None for e in measures["extractor"].tolist()]
    else:
        extractors = [None] * len(measures)
    i = _first_duplicate(pd.DataFrame({"s": sids, "t": sess, "f": features, "r": rois}))
    if i is not None:
        raise DataError(f"Subject {sids[i]!r}: Session {sess[i]!r} has two measures of feature "
                        f"{features[i]!r} in ROI {rois[i]!r}.")
    records = [ROIMeasure(r, f, v, e) for r, f, v, e in zip(rois, features, values, extractors,
                                                             strict=True)]
    return sids, sess, records


def _by_session(sids: list[str], sess: list[str], records: list, slots: dict) -> None:
    """Append each record to ``slots[sid][ses]`` (sessions in order of first appearance)."""
    for sid, ses, rec in zip(sids, sess, records, strict=True):
        slots[sid].setdefault(ses, []).append(rec)


def _check_known(sids: list[str], known: Mapping[str, Any], message: str) -> None:
    for sid in dict.fromkeys(sids):
        if sid not in known:
            raise DataError(message.format(sid=sid))


def cohort_from_frames(participants: pd.DataFrame, scores: pd.DataFrame | None = None,
                       measures: pd.DataFrame | None = None, *, subject: str | None = None,
                       between: str | None = "group", within: str | None = None,
                       instruments: Mapping[str, str] | None = None,
                       default_session: str = "baseline") -> Cohort:
    """Build a Cohort from tidy tables (the body of :meth:`Cohort.from_frames`)."""
    people = parse_participants(participants, subject=subject, between=between)
    score_slots: dict[str, dict[str, list]] = {i: {} for i in people.ids}
    measure_slots: dict[str, dict[str, list]] = {i: {} for i in people.ids}
    order: dict[str, dict[str, None]] = {i: {} for i in people.ids}
    for table, frame, slots in (("scores", scores, score_slots),
                                ("measures", measures, measure_slots)):
        if frame is None:
            continue
        if table == "scores":
            sids, sess, records = parse_scores(frame, subject=subject, within=within,
                                               instruments=instruments,
                                               default_session=default_session)
        else:
            sids, sess, records = parse_measures(frame, subject=subject, within=within,
                                                 default_session=default_session)
        _check_known(sids, slots, f"Subject {{sid!r}} appears in the {table} table but not in "
                                  "the participants table.")
        _by_session(sids, sess, records, slots)
        for sid, ses in zip(sids, sess, strict=True):
            order[sid].setdefault(ses)
    subjects = []
    for sid, group, covs in zip(people.ids, people.groups, people.covariates, strict=True):
        try:
            sessions = [Session(label, tuple(score_slots[sid].get(label, ())),
                                tuple(measure_slots[sid].get(label, ())))
                        for label in order[sid]]
        except DataError as exc:
            raise DataError(f"Subject {sid!r}: {exc}") from None
        subjects.append(Subject(sid, group, covs, sessions))
    return Cohort(subjects)


def add_measures(cohort: Cohort, frame: pd.DataFrame, *, replace: bool = False) -> Cohort:
    """Add ROI measures from a long table (the body of :meth:`Cohort.with_measures`)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"with_measures expects a DataFrame. Got {type(frame).__name__}.")
    sids, sess, records = parse_measures(frame, subject=None, within=None,
                                         default_session="baseline")
    index = {s.id: s for s in cohort}
    _check_known(sids, index, "Subject {sid!r} in the measures table is not in the cohort.")
    for sid, ses in dict.fromkeys(zip(sids, sess, strict=True)):
        if ses not in index[sid].session_labels:
            raise DataError(f"Subject {sid!r} has no session {ses!r} (it has "
                            f"{list(index[sid].session_labels)}).")
    new: dict[str, dict[str, list[ROIMeasure]]] = {sid: {} for sid in dict.fromkeys(sids)}
    _by_session(sids, sess, records, new)
    subjects = []
    for sub in cohort:
        added_of = new.get(sub.id)
        if not added_of:
            subjects.append(sub)
            continue
        sessions = []
        for ses in sub.sessions:
            added = added_of.get(ses.label)
            if added:
                old = ses.measures
                if replace:
                    keys = {(m.feature, m.roi) for m in added}
                    old = tuple(m for m in old if (m.feature, m.roi) not in keys)
                try:
                    ses = dataclasses.replace(ses, measures=(*old, *added))
                except DataError as exc:
                    raise DataError(f"Subject {sub.id!r}: {exc}") from None
            sessions.append(ses)
        subjects.append(dataclasses.replace(sub, sessions=tuple(sessions)))
    return Cohort(subjects)
