"""Reading tabular input (CSV/TSV, BIDS ``participants.tsv``, JSON sidecars) with clear errors."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from painmarkers.exceptions import BIDSError, DataError

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

    Raises
    ------
    BIDSError
        Missing file, invalid JSON (with line and column) or a top level that
        is not an object.

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
