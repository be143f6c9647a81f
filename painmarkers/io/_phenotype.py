"""BIDS tabular files: ``phenotype/*.tsv`` (scores, metadata, covariates) and ``sessions.tsv``."""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import pandas as pd

from painmarkers.exceptions import BIDSError, DataError, RegistryError
from painmarkers.io._layout import BIDSFile
from painmarkers.io.tables import python_scalar as scalar
from painmarkers.io.tables import read_table
from painmarkers.model import ClinicalScore, get_instrument
from painmarkers.model.records import strip_prefix


def _instrument_of(column: str) -> str | None:
    try:
        return get_instrument(column).name
    except RegistryError:
        return None


def _make_score(inst: str, value: Any, where: str, validate: bool, bad: list[str]
                ) -> ClinicalScore:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        value = math.nan
    try:
        return ClinicalScore(inst, value)
    except DataError as exc:
        if validate:
            raise type(exc)(f"{where}: {exc}") from None
        bad.append(f"{where}: {inst}={value!r}")
        return ClinicalScore(inst, math.nan)


def read_phenotype(root: Path, known: set[str], keep: set[str], default_session: str,
                    validate: bool, sessions: dict, covariates: dict, cov_source: dict,
                    groups: dict, group_column: str | None, bad: list[str]) -> None:
    """Read every ``phenotype/*.tsv`` into ``sessions``, ``covariates`` (updated in place).

    A column naming a registered instrument gives ``ClinicalScore`` s of the row's
    session (``session_id``, else ``default_session``); the group column must agree
    with ``participants.tsv``; other columns become session metadata when the table
    has ``session_id``, else subject covariates that must agree with any earlier
    value. Rows of known subjects outside ``keep`` are skipped; unknown subjects,
    duplicated rows and a score given twice raise ``BIDSError`` naming the file.
    Invalid scores raise, or with ``validate=False`` become NaN and are listed in
    ``bad``.
    """
    folder = root / "phenotype"
    if not folder.is_dir():
        return
    score_source: dict[tuple[str, str, str], str] = {}
    meta_source: dict[tuple[str, str, str], str] = {}
    for path in sorted(folder.glob("*.tsv")):
        frame = read_table(path, name="phenotype table", error=BIDSError,
                           required=["participant_id"])
        has_ses = "session_id" in frame.columns
        cols = [c for c in frame.columns if c not in ("participant_id", "session_id")]
        inst = {c: _instrument_of(c) for c in cols}
        clash = {}
        for c, name in inst.items():
            if name is not None and name in clash:
                raise BIDSError(f"The phenotype table {str(path)!r} has two columns for "
                                f"instrument {name}: {clash[name]!r} and {c!r}.")
            if name is not None:
                clash[name] = c
        seen = set()
        for line, row in enumerate(frame.itertuples(index=False), start=2):
            rec = dict(zip(frame.columns, row))
            pid = rec["participant_id"]
            if not isinstance(pid, str) or not pid.strip():
                raise BIDSError(f"The phenotype table {str(path)!r} has an empty participant_id "
                                f"on line {line}.")
            sub = strip_prefix(pid, "sub-")
            if sub not in known:
                raise BIDSError(f"Subject {pid!r} in the phenotype table {str(path)!r} (line "
                                f"{line}) is not in participants.tsv.")
            if sub not in keep:
                continue
            ses = default_session
            if has_ses:
                sid = rec["session_id"]
                if not isinstance(sid, str) or not sid.strip():
                    raise BIDSError(f"The phenotype table {str(path)!r} has an empty session_id "
                                    f"for subject {sub!r} on line {line}.")
                ses = strip_prefix(sid, "ses-")
            if (sub, ses) in seen:
                raise BIDSError(f"Subject {sub!r} session {ses!r} has two rows in the "
                                f"phenotype table {str(path)!r}.")
            seen.add((sub, ses))
            where = f"Subject {sub!r}, session {ses!r} (phenotype table {str(path)!r})"
            slot = None
            for c in cols:
                value = scalar(rec[c])
                if inst[c] is not None:
                    slot = slot or sessions[sub].setdefault(ses, new_session())
                    key = (sub, ses, inst[c])
                    if key in score_source:
                        raise BIDSError(f"Subject {sub!r} session {ses!r} has a {inst[c]} score "
                                        f"in both {score_source[key]!r} and {str(path)!r}.")
                    score_source[key] = str(path)
                    slot["scores"].append(_make_score(inst[c], value, where, validate, bad))
                elif c == group_column:
                    if not _same(groups[sub], None if pd.isna(value) else str(value)):
                        raise BIDSError(f"Subject {sub!r}: group is {groups[sub]!r} in "
                                        f"participants.tsv but {value!r} in {str(path)!r}.")
                elif has_ses:
                    slot = slot or sessions[sub].setdefault(ses, new_session())
                    key = (sub, ses, c)
                    if key in meta_source and not _same(slot["metadata"][c], value):
                        raise BIDSError(f"Subject {sub!r} session {ses!r}: column {c!r} is "
                                        f"{slot['metadata'][c]!r} in {meta_source[key]!r} but "
                                        f"{value!r} in {str(path)!r}.")
                    meta_source[key] = str(path)
                    slot["metadata"][c] = value
                else:
                    old = covariates[sub].get(c, math.nan)
                    if c in covariates[sub] and not _same(old, value):
                        raise BIDSError(f"Subject {sub!r}: covariate {c!r} is {old!r} in "
                                        f"{cov_source[(sub, c)]!r} but {value!r} in "
                                        f"{str(path)!r}.")
                    covariates[sub][c] = value
                    cov_source[(sub, c)] = str(path)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def new_session() -> dict[str, Any]:
    return {"scores": [], "metadata": {}, "images": {}}


def read_sessions_tsv(f: BIDSFile, slots: dict[str, dict[str, Any]]) -> None:
    """Add one session per ``sub-X_sessions.tsv`` row to ``slots``; columns -> metadata."""
    frame = read_table(f.path, name="sessions table", error=BIDSError, required=["session_id"])
    for line, row in enumerate(frame.itertuples(index=False), start=2):
        rec = dict(zip(frame.columns, row))
        sid = rec.pop("session_id")
        if not isinstance(sid, str) or not sid.strip():
            raise BIDSError(f"The sessions table {str(f.path)!r} has an empty session_id on "
                            f"line {line}.")
        ses = strip_prefix(sid, "ses-")
        if ses in slots:
            raise BIDSError(f"Session {sid!r} appears twice in the sessions table "
                            f"{str(f.path)!r}.")
        slots[ses] = new_session()
        slots[ses]["metadata"].update({k: scalar(v) for k, v in rec.items()})
