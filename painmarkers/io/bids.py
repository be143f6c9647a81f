"""Read a BIDS dataset (raw + fMRIPrep-style derivatives + phenotype) into a Cohort.

What goes where
---------------
============================================  ==========================================
BIDS source                                    Cohort
============================================  ==========================================
``participants.tsv`` ``participant_id``        ``Subject.id`` (``sub-`` removed)
``participants.tsv`` ``group`` column          ``Subject.group``
other ``participants.tsv`` columns             ``Subject.covariates``
``participants.json``                          ``read_participants(root).attrs["sidecar"]``
``sub-X/sub-X_sessions.tsv`` columns           ``Session.metadata`` (``acq_time``, ...)
``phenotype/*.tsv`` instrument columns         ``Session.scores`` (``ClinicalScore``)
``phenotype/*.tsv`` other columns, with        ``Session.metadata``
``session_id``
``phenotype/*.tsv`` other columns, without     ``Subject.covariates``
``session_id``
images (table below)                           ``Session.images[kind]``
``RepetitionTime`` of the BOLD sidecar         ``Session.metadata["t_r"]``
============================================  ==========================================
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._deprecation import rename_parameters
from painmarkers._validation import check_tr
from painmarkers._warnings import warn
from painmarkers.exceptions import BIDSError
from painmarkers.io._layout import (
    DERIVATIVE,
    RAW,
    BIDSFile,
    DatasetIndex,
    derivative_roots,
    inherited_metadata,
    raw_counterpart,
    scan_dataset,
)
from painmarkers.io._phenotype import new_session, read_phenotype, read_sessions_tsv
from painmarkers.io.images import header_t_r
from painmarkers.io.tables import parse_participants, read_json, read_participants
from painmarkers.model import Cohort, Session, Subject
from painmarkers.model.records import strip_prefix

__all__ = ["IMAGE_KINDS", "index_bids", "read_bids"]

_IMAGE_EXT = (".nii.gz", ".nii")

#: Image kinds discovered by :func:`read_bids`: ``kind -> (source, datatype, suffix,
#: desc, extensions)``; ``source`` None accepts raw and derivative files (derivative first).
IMAGE_KINDS: dict[str, tuple[str | None, str | None, tuple[str, ...], str | None,
                             tuple[str, ...]]] = {
    "bold": (DERIVATIVE, "func", ("bold",), "preproc", _IMAGE_EXT),
    "mask": (DERIVATIVE, "func", ("mask",), "brain", _IMAGE_EXT),
    "confounds": (DERIVATIVE, "func", ("timeseries", "regressors"), "confounds", (".tsv",)),
    "bold_raw": (RAW, "func", ("bold",), None, _IMAGE_EXT),
    "t1": (RAW, "anat", ("T1w",), None, _IMAGE_EXT),
    "t1_preproc": (DERIVATIVE, "anat", ("T1w",), "preproc", _IMAGE_EXT),
    "anat_mask": (DERIVATIVE, "anat", ("mask",), "brain", _IMAGE_EXT),
    "qsm": (None, "anat", ("Chimap",), None, _IMAGE_EXT),
}

#: Entities a companion file (mask, confounds, raw BOLD) must share with the chosen BOLD.
_ACQUISITION_KEYS = ("task", "acq", "ce", "rec", "dir", "run", "echo")
_GRID_KEYS = ("space", "res", "den")
_COMPANIONS = {"mask": _ACQUISITION_KEYS + _GRID_KEYS, "confounds": _ACQUISITION_KEYS,
               "bold_raw": _ACQUISITION_KEYS}
_FILTER_PARAMS = {"task": "task", "space": "space", "run": "run", "res": "res"}
_TR_TOLERANCE = 0.01


def _as_list(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence | set | frozenset | pd.Index | np.ndarray):
        return [str(v) for v in value]
    raise TypeError(f"The {name!r} parameter must be a string, a list of strings or None. "
                    f"Got {value!r}.")


def _index(root: Path, derivatives, subjects=None) -> list[DatasetIndex]:
    indexes = [scan_dataset(root, RAW, subjects)]
    for d in derivative_roots(root, derivatives):
        indexes.append(scan_dataset(d, DERIVATIVE, subjects))
    return indexes


def _check_root(root: str | PathLike) -> Path:
    if not isinstance(root, str | PathLike):
        raise TypeError(f"The 'root' parameter must be a path. Got {root!r}.")
    path = Path(root)
    if not path.exists():
        raise BIDSError(f"The BIDS root {str(path)!r} does not exist.")
    if not path.is_dir():
        raise BIDSError(f"The BIDS root {str(path)!r} is not a folder.")
    return path.absolute()


def index_bids(root: str | PathLike, derivatives: str | PathLike | Sequence | None = None
               ) -> pd.DataFrame:
    """List the files of a BIDS dataset and its derivatives with their entities.

    Parameters
    ----------
    root : str or path-like
        Root of the BIDS dataset.
    derivatives : path-like, list of path-like or None, default=None
        Derivative dataset roots; None uses every folder of ``<root>/derivatives``
        that holds ``sub-*`` folders (or ``<root>/derivatives`` itself).

    Returns
    -------
    DataFrame
        One row per file under ``sub-*/[ses-*/]<datatype>/`` (plus subject- and
        session-level files such as ``sessions.tsv``): ``path``, ``source``
        (``"raw"`` or ``"derivative"``), ``dataset`` (its root), ``datatype``,
        then one column per entity found (``sub``, ``ses``, ``task``, ...;
        None where a file lacks it), ``suffix`` and ``extension``.

    Raises
    ------
    BIDSError
        Missing root or derivatives folder, or a file name that does not parse
        (the message names the file and the bad entity).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from painmarkers.io import index_bids
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "sub-01" / "anat").mkdir(parents=True)
    >>> (root / "sub-01" / "anat" / "sub-01_T1w.nii.gz").touch()
    >>> index_bids(root)[["sub", "datatype", "suffix", "extension"]]
      sub datatype suffix extension
    0  01     anat    T1w   .nii.gz
    """
    root = _check_root(root)
    rows = []
    for idx in _index(root, derivatives):
        for f in idx.files:
            rows.append({"path": f.path, "source": f.source, "dataset": f.root,
                         "datatype": f.datatype, **dict(f.entities), "suffix": f.suffix,
                         "extension": f.extension})
    base = ["path", "source", "dataset", "datatype"]
    frame = pd.DataFrame(rows, columns=None if rows else [*base, "suffix", "extension"])
    ents = [c for c in frame.columns if c not in (*base, "suffix", "extension")]
    frame = frame[[*base, *ents, "suffix", "extension"]]
    return frame.astype(object).where(frame.notna(), None)


# -- images ---------------------------------------------------------------------------------
def _kind_of(f: BIDSFile) -> str | None:
    for kind, (source, datatype, suffixes, desc, exts) in IMAGE_KINDS.items():
        if (source in (None, f.source) and (datatype is None or f.datatype == datatype)
                and f.suffix in suffixes and f.entities.get("desc") == desc
                and f.extension in exts):
            return kind
    return None


def _ambiguity(kind: str, sub: str, ses: str, files: list[BIDSFile]) -> BIDSError:
    keys = sorted({k for f in files for k in f.entities}
                  - {k for k in files[0].entities if all(f.entities.get(k)
                                                        == files[0].entities.get(k)
                                                        for f in files)})
    hints = []
    for k in keys:
        values = sorted({f.entities.get(k, "<none>") for f in files})
        param = f"{_FILTER_PARAMS[k]}=" if k in _FILTER_PARAMS else f"entities={{{k!r}: ...}}"
        hints.append(f"{k} ({', '.join(values)}): pass {param}")
    listing = "\n  ".join(str(f.path) for f in files)
    return BIDSError(
        f"Subject {sub!r} session {ses!r}: {len(files)} files match images[{kind!r}]:\n  "
        f"{listing}\n" + (f"They differ in {'; '.join(hints)} to read_bids to choose one."
                          if hints else "They differ only in their folder: pass the one "
                          "derivatives folder to use as derivatives= to read_bids.")
    )


def _prefer(cands: list[BIDSFile], wanted: Mapping[str, str]) -> list[BIDSFile]:
    """Among several candidates, keep those that carry the wanted entity values explicitly.

    A file without a ``space-`` entity is in its native space; when the BOLD is in
    ``MNI152NLin2009cAsym`` (or ``space=`` asks for it), an anatomical output in that
    space is preferred to the native one, and only if one exists.
    """
    for key, value in wanted.items():
        if len(cands) < 2:
            break
        matching = [f for f in cands if f.entities.get(key) == value]
        if matching:
            cands = matching
    return cands


def _pick_images(sub: str, ses: str, files: list[BIDSFile], filters: Mapping[str, str]
                 ) -> dict[str, BIDSFile]:
    by_kind: dict[str, list[BIDSFile]] = {}
    for f in files:
        kind = _kind_of(f)
        if kind is not None:
            by_kind.setdefault(kind, []).append(f)
    chosen: dict[str, BIDSFile] = {}
    order = ["bold", *[k for k in IMAGE_KINDS if k != "bold"]]
    for kind in order:
        cands = by_kind.get(kind, [])
        wanted = dict(filters)
        if "bold" in chosen:
            ref = chosen["bold"].entities
            keys = _COMPANIONS.get(kind, _GRID_KEYS)
            if kind in _COMPANIONS:  # must agree with the BOLD where both have the entity
                cands = [f for f in cands
                         if all(f.entities.get(k) == ref[k] for k in keys
                                if k in ref and k in f.entities)]
            wanted.update({k: ref[k] for k in keys if k in ref and k not in wanted})
        if IMAGE_KINDS[kind][0] is None and any(f.source == DERIVATIVE for f in cands):
            cands = [f for f in cands if f.source == DERIVATIVE]
        cands = _prefer(cands, wanted)
        if len(cands) > 1:
            raise _ambiguity(kind, sub, ses, cands)
        if cands:
            chosen[kind] = cands[0]
    return chosen


def _t_r(bold: BIDSFile, indexes: dict[Path, DatasetIndex], raw_match: BIDSFile | None,
         raw_index: DatasetIndex) -> tuple[float | None, str | None]:
    """TR of ``bold``: its sidecars, else the raw BOLD's (or the raw dataset's inherited
    sidecars), else the header; a header more than 1 % from the sidecar raises."""
    meta, provenance = inherited_metadata(bold, indexes[bold.root])
    if "RepetitionTime" not in meta and bold.source == DERIVATIVE:
        raw = raw_match if raw_match is not None else raw_counterpart(bold, raw_index)
        meta, provenance = inherited_metadata(raw, raw_index)
    from_header = header_t_r(bold.path)
    if "RepetitionTime" not in meta:
        return from_header, (f"header of {bold.path}" if from_header is not None else None)
    source = str(provenance["RepetitionTime"])
    t_r = check_tr(meta["RepetitionTime"], "RepetitionTime", source=source)
    if from_header is not None and abs(from_header - t_r) > _TR_TOLERANCE * t_r:
        raise BIDSError(
            f"The repetition time of {str(bold.path)!r} disagrees: its NIfTI header says "
            f"{from_header:g} s (pixdim[4]) but the JSON sidecar {source!r} says RepetitionTime "
            f"= {t_r:g} s (more than {_TR_TOLERANCE:.0%} apart). Fix the sidecar or the header."
        )
    return t_r, source


# -- reader ---------------------------------------------------------------------------------
class _DefaultColumn(str):
    """The default group column, told apart from a column the caller named."""

    __slots__ = ()


#: ``read_bids``' default ``between``: absent from the data, it means "no groups" (warned);
#: a group column the caller names must exist.
_DEFAULT_BETWEEN = _DefaultColumn("group")


@rename_parameters(group_column="between")
def read_bids(
    root: str | PathLike,
    derivatives: str | PathLike | Sequence | None = None,
    *,
    task: str | None = None,
    space: str | None = None,
    run: str | int | None = None,
    res: str | int | None = None,
    entities: Mapping[str, str] | None = None,
    sessions: str | Sequence[str] | None = None,
    subjects: str | Sequence[str] | None = None,
    validate_scores: bool = True,
    between: str | None = _DEFAULT_BETWEEN,
    default_session: str = "baseline",
) -> Cohort:
    """Read a BIDS dataset with fMRIPrep-style derivatives and phenotype tables into a Cohort.

    Parameters
    ----------
    root : str or path-like
        Root of the BIDS dataset (holding ``participants.tsv``). Nothing is
        ever written into it.
    derivatives : path-like, list of path-like or None, default=None
        Derivative dataset roots (e.g. ``<root>/derivatives/fmriprep``); None
        uses every folder of ``<root>/derivatives`` holding ``sub-*`` folders.
    task, space : str or None, default=None
        Keep only images with this ``task-``/``space-`` entity (files without
        the entity, such as confounds for ``space``, are kept). Needed when a
        session has several preprocessed BOLD series (several tasks, or the
        same series in ``T1w`` and ``MNI152NLin2009cAsym`` space).
    run, res : str, int or None, default=None
        Same, for the ``run-`` and ``res-`` entities.
    entities : mapping of str to str or None, default=None
        Any further entity filters, e.g. ``{"acq": "mb4"}``.
    sessions : str, list of str or None, default=None
        Keep only these session labels (``ses-`` prefix optional). Subjects
        with none of them stay in the cohort with no sessions
        (``Cohort.select(sessions=...)`` drops them).
    subjects : str, list of str or None, default=None
        Read only these subjects (``sub-`` prefix optional); the other
        ``sub-*`` folders are not walked.
    validate_scores : bool, default=True
        If True, a phenotype score outside its instrument's range, or
        non-numeric, raises. If False it becomes a missing score (NaN) and one
        :class:`~painmarkers.exceptions.PainmarkersWarning` lists every such
        value with its subject, session and file.
    between : str or None, default="group"
        Column of ``participants.tsv`` holding the group labels (the
        between-subject factor). A column named here must exist. With the
        default, a dataset without ``participants.tsv`` or without a ``group``
        column is read without groups, with a
        :class:`~painmarkers.exceptions.PainmarkersWarning` saying so (analyses
        that compare groups then refuse it); pass None to read single-group
        data without the warning (every subject's group is then None).
        Formerly ``group_column``.
    default_session : str, default="baseline"
        Session label of files and phenotype rows without a ``ses-`` entity /
        ``session_id`` (as ``Cohort.from_frames``).

    Returns
    -------
    Cohort
        One subject per ``participants.tsv`` row (in file order, after the
        ``subjects`` filter), with the sessions found in ``sessions.tsv``,
        ``phenotype/`` rows and ``ses-*`` folders (in that order of
        precedence for ordering). ``Session.images`` maps kinds to absolute
        paths:

        ==============  ===========  =====================================================
        kind            source       file
        ==============  ===========  =====================================================
        ``bold``        derivative   ``func/*_desc-preproc_bold.nii[.gz]``
        ``mask``        derivative   ``func/*_desc-brain_mask.nii[.gz]`` (same task, run,
                                     space and res as ``bold``)
        ``confounds``   derivative   ``func/*_desc-confounds_timeseries.tsv`` (or the
                                     older ``_regressors.tsv``; same task and run)
        ``bold_raw``    raw          ``func/*_bold.nii[.gz]`` (same task and run)
        ``t1``          raw          ``anat/*_T1w.nii[.gz]``
        ``t1_preproc``  derivative   ``anat/*_desc-preproc_T1w.nii[.gz]``
        ``anat_mask``   derivative   ``anat/*_desc-brain_mask.nii[.gz]``
        ``qsm``         either       ``anat/*_Chimap.nii[.gz]`` (derivative preferred)
        ==============  ===========  =====================================================

        When a kind has several candidates, those carrying the requested
        entities (``space=``, ...) and, for the other kinds, the chosen BOLD's
        ``space``/``res`` are preferred (fMRIPrep writes anatomical outputs both
        natively, without ``space-``, and in each output space); any remaining
        tie is an error.

        ``Session.metadata`` holds the ``sessions.tsv`` columns (e.g.
        ``acq_time``), phenotype non-score columns, and for sessions with a
        BOLD series ``t_r`` (seconds), ``t_r_source`` (the sidecar, or the
        NIfTI header when no sidecar gives ``RepetitionTime``), and the
        series' ``task``, ``run``, ``space`` and ``res`` when present.

    Raises
    ------
    BIDSError
        Missing root or derivatives folder; a missing ``participants.tsv``
        when a group column ``between`` is asked for; a ``participants.tsv``
        without ``participant_id``, without the group column ``between`` or
        with duplicate ids; group labels that differ only in case or spacing
        (``"CLBP"``, ``"clbp"``: the message names the labels and their
        subjects); ``sub-*`` folders absent from ``participants.tsv``; a file
        name that does not parse (the message names the file and the
        entity); a file whose ``sub``/``ses`` entity
        contradicts its folder; two files for one image kind of one session
        (naming both and the entity to filter on); a filter value that matches
        no file; a header TR more than 1 % away from the sidecar's; a
        phenotype row of a subject absent from ``participants.tsv``; an
        invalid JSON sidecar.
    ScoreRangeError
        A phenotype score outside its instrument's range (message names the
        subject, session and file), when ``validate_scores`` is True.
    DataError
        A non-numeric phenotype score, when ``validate_scores`` is True; a
        sidecar ``RepetitionTime`` that is not a positive number of seconds.

    Warns
    -----
    PainmarkersWarning
        ``dataset_description.json`` is missing from ``root`` (BIDS requires
        it, but the dataset is readable without it); ``participants.tsv`` is
        missing and ``between`` is None (subjects are then taken from the
        ``sub-*`` folders, without groups or covariates); a group label one
        letter away from a label held by at least three times as many
        subjects (``"CLPB"`` beside ``"CLBP"``: a typo?), or subjects without
        a group label; participants listed without any data (kept, with no
        sessions); scores set to NaN when ``validate_scores`` is False. Each
        message names the subjects or values.

    Notes
    -----
    Phenotype columns are matched case-insensitively against the instrument
    registry (``vas``, ``nrs``, ``rmdq``/``roland-morris``, ``odi`` and any
    registered instrument or alias). Every other column is kept: as session
    metadata when the table has ``session_id``, else as a subject covariate
    (a value contradicting ``participants.tsv`` raises). Rows without
    ``session_id`` belong to ``default_session``.

    Files are looked for in ``sub-*/[ses-*/]<datatype>/`` (``anat``, ``func``,
    ...); other folders, hidden files and the patterns of the dataset's
    ``.bidsignore`` are skipped, and every other file must have a valid BIDS
    name.

    Sidecars follow the BIDS inheritance principle: every ``.json`` with the
    same suffix whose entities are a subset of the image's, from the dataset
    root down to the image's folder, nearer ones overriding. When the
    derivative BOLD has no ``RepetitionTime``, the raw BOLD's sidecars are
    used. File discovery is a single ``os.scandir`` walk with a small entity
    parser instead of pybids' ``BIDSLayout``: indexing is one to two orders of
    magnitude faster for hundreds of subjects and needs no extra dependency.

    References
    ----------
    .. [1] Gorgolewski KJ et al. (2016). The brain imaging data structure.
       Sci Data 3:160044.
    .. [2] BIDS specification, "The inheritance principle",
       https://bids-specification.readthedocs.io/en/stable/common-principles.html

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> from painmarkers.io import read_bids
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "dataset_description.json").write_text(
    ...     json.dumps({"Name": "demo", "BIDSVersion": "1.9.0"}))
    >>> _ = (root / "participants.tsv").write_text(
    ...     "participant_id\\tgroup\\tage\\nsub-01\\tCLBP\\t44\\nsub-02\\tHC\\t39\\n")
    >>> (root / "phenotype").mkdir()
    >>> _ = (root / "phenotype" / "pain.tsv").write_text(
    ...     "participant_id\\tsession_id\\tvas\\trmdq\\n"
    ...     "sub-01\\tses-pre\\t7.5\\t15\\nsub-01\\tses-post\\t4.0\\t12\\n"
    ...     "sub-02\\tses-pre\\t0.5\\t0\\n")
    >>> cohort = read_bids(root)
    >>> cohort
    Cohort(2 subjects: CLBP 1, HC 1; 3 sessions)
    >>> cohort["01"].session("pre").score("VAS")
    7.5
    """
    root = _check_root(root)
    if not isinstance(validate_scores, bool):
        raise TypeError(f"The 'validate_scores' parameter must be True or False. "
                        f"Got {validate_scores!r}.")
    _check_description(root)
    want_subjects = _labels_arg(subjects, "subjects", "sub-")
    want_sessions = _labels_arg(sessions, "sessions", "ses-")
    filters = _filters(task, space, run, res, entities)

    indexes = _index(root, derivatives, want_subjects)
    people = _read_participants(root, indexes, between, want_subjects)
    slots: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in people.ids}
    _read_sessions_tables(indexes[0], people.keep, slots)
    _read_phenotype_tables(root, people, default_session, validate_scores, slots)
    _find_images(indexes, people.keep, filters, default_session, slots)
    return _assemble(root, people, slots, want_sessions)


# -- stages of read_bids --------------------------------------------------------------------
@dataclass
class _People:
    """Participants of the dataset: ids in file order, the ones read, groups, covariates."""

    ids: list[str]
    keep: set[str]
    groups: dict[str, str | None]
    covariates: dict[str, dict[str, Any]]
    cov_source: dict[tuple[str, str], str]
    between: str | None


def _check_description(root: Path) -> None:
    desc = root / "dataset_description.json"
    if desc.is_file():
        read_json(desc, name="dataset description")
    else:
        warn(f"The BIDS root {str(root)!r} has no dataset_description.json (BIDS requires one); "
             "reading it anyway.")


def _labels_arg(value: Any, name: str, prefix: str) -> list[str] | None:
    labels = _as_list(value, name)
    return None if labels is None else [strip_prefix(v, prefix) for v in labels]


def _read_participants(root: Path, indexes: list[DatasetIndex], between: str | None,
                       want_subjects: list[str] | None) -> _People:
    """Subjects, groups and covariates from participants.tsv (or the sub-* folders)."""
    folder_subjects = sorted({s for idx in indexes for s in idx.subjects})
    path = root / "participants.tsv"
    frame = read_participants(path) if path.is_file() else None
    warned = False
    if between is _DEFAULT_BETWEEN and (frame is None or between not in frame.columns):
        what = ("has no participants.tsv" if frame is None else
                f"has a participants.tsv without a {between!r} column (columns: "
                f"{list(frame.columns)})")
        warn(f"The BIDS root {str(root)!r} {what}: the subjects are read without group "
             "labels, and analyses that compare groups will refuse them. Name the group "
             "column with between=, or pass between=None for single-group data.")
        between, warned = None, True
    if frame is not None:
        people = parse_participants(frame, subject="participant_id", between=between,
                                    table=f"participants table {str(path)!r}", error=BIDSError)
        ids, groups, covariates = people.ids, people.groups, people.covariates
        source = str(path)
    elif between is not None:
        raise BIDSError(
            f"The BIDS root {str(root)!r} has no participants.tsv, so the group column "
            f"{between!r} cannot be read. Add participants.tsv (columns participant_id, "
            f"{between} and any covariates), or pass between=None to read the "
            f"{len(folder_subjects)} sub-* folders as one group without covariates."
        )
    else:
        if not warned:
            warn(f"The BIDS root {str(root)!r} has no participants.tsv; taking subjects from "
                 f"the sub-* folders ({len(folder_subjects)}) without groups or covariates.")
        ids, source = list(folder_subjects), ""
        groups, covariates = [None] * len(ids), [{} for _ in ids]
    if not ids:
        raise BIDSError(f"The BIDS dataset {str(root)!r} has no participants.")
    known = set(ids)
    if want_subjects is not None:
        absent = [s for s in want_subjects if s not in known]
        if absent:
            raise BIDSError(f"Subject(s) {absent} given in subjects= are not in the dataset "
                            f"{str(root)!r} (it has {len(ids)} participants).")
    # with subjects= the walk covers only known subjects, so strays can only appear without it
    strays = [] if want_subjects is not None else sorted(set(folder_subjects) - known)
    if strays:
        raise BIDSError(f"Subject folder(s) {['sub-' + s for s in strays]} have no row in "
                        f"participants.tsv of {str(root)!r}; add them (BIDS requires every "
                        "subject to be listed) or leave them out with subjects=.")
    return _People(
        ids=ids, keep=set(want_subjects) if want_subjects is not None else known,
        groups=dict(zip(ids, groups, strict=True)),
        covariates=dict(zip(ids, covariates, strict=True)),
        cov_source={(sid, c): source for sid, covs in zip(ids, covariates, strict=True)
                    for c in covs},
        between=between,
    )


def _read_sessions_tables(raw: DatasetIndex, keep: set[str], slots: dict) -> None:
    """Sessions (in order) and their metadata from each subject's sessions.tsv."""
    for f in raw.files:
        if f.suffix == "sessions" and f.extension == ".tsv" and f.entities["sub"] in keep:
            read_sessions_tsv(f, slots[f.entities["sub"]])


def _read_phenotype_tables(root: Path, people: _People, default_session: str,
                           validate_scores: bool, slots: dict) -> None:
    """Scores, session metadata and covariates from phenotype/*.tsv."""
    bad: list[str] = []
    read_phenotype(root, set(people.ids), people.keep, default_session, validate_scores, slots,
                   people.covariates, people.cov_source, people.groups, people.between, bad)
    if bad:
        warn(f"{len(bad)} phenotype score(s) are invalid and were set to NaN "
             "(validate_scores=False):\n  " + "\n  ".join(bad))


def _find_images(indexes: list[DatasetIndex], keep: set[str], filters: dict[str, str],
                 default_session: str, slots: dict) -> None:
    """Images of each session (one file per kind) and the TR of its BOLD series."""
    by_root = {idx.root: idx for idx in indexes}
    files_of: dict[tuple[str, str], list[BIDSFile]] = {}
    all_files = [f for idx in indexes for f in idx.files]
    _check_filters(filters, all_files)
    for f in all_files:
        sub = f.entities["sub"]
        if sub not in keep or f.datatype is None:
            continue
        if any(k in f.entities and f.entities[k] != v for k, v in filters.items()):
            continue
        ses = f.entities.get("ses", default_session)
        files_of.setdefault((sub, ses), []).append(f)
    for (sub, ses), files in sorted(files_of.items()):
        chosen = _pick_images(sub, ses, files, filters)
        slot = slots[sub].setdefault(ses, new_session())
        slot["images"] = {k: f.path.absolute() for k, f in chosen.items()}
        bold = chosen.get("bold") or chosen.get("bold_raw")
        if bold is not None:
            raw = chosen.get("bold_raw") if bold is chosen.get("bold") else None
            t_r, source = _t_r(bold, by_root, raw, indexes[0])
            meta = slot["metadata"]
            if t_r is not None:
                meta["t_r"] = t_r
                meta["t_r_source"] = source
            for k in ("task", "run", "space", "res"):
                if k in bold.entities:
                    meta.setdefault(k, bold.entities[k])


def _assemble(root: Path, people: _People, slots: dict, want_sessions: list[str] | None
              ) -> Cohort:
    """The Cohort: one subject per participant read, with the sessions asked for."""
    if want_sessions is not None:
        present = {ses for s in people.keep for ses in slots[s]}
        absent = [s for s in want_sessions if s not in present]
        if absent:
            raise BIDSError(f"Session(s) {absent} given in sessions= are not in the dataset "
                            f"{str(root)!r} (sessions: {sorted(present)}).")
    empty = [sid for sid in people.ids if sid in people.keep and not slots[sid]]
    if empty:
        warn(f"Participant(s) {empty} of {str(root)!r} have no data (no session, phenotype row "
             "or image); they are kept in the cohort without sessions, so that tables of the "
             "cohort (e.g. Table 1) still count them.")
    subjects = []
    for sid in people.ids:
        if sid not in people.keep:
            continue
        sessions = [Session(label, tuple(d["scores"]), (), d["images"], d["metadata"])
                    for label, d in slots[sid].items()
                    if want_sessions is None or label in want_sessions]
        subjects.append(Subject(sid, people.groups[sid], people.covariates[sid], sessions))
    return Cohort(subjects)


def _filters(task, space, run, res, entities) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (("task", task), ("space", space), ("run", run), ("res", res)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | numbers.Integral):
            raise TypeError(f"The {key!r} parameter must be a string or None. Got {value!r}.")
        out[key] = strip_prefix(value, f"{key}-")
    if entities is not None:
        if not isinstance(entities, Mapping):
            raise TypeError(f"The 'entities' parameter must be a mapping. Got {entities!r}.")
        for key, value in entities.items():
            if key in ("sub", "ses"):
                raise ValueError(f"Filter subjects and sessions with subjects= and sessions=, "
                                 f"not entities={{{key!r}: ...}}.")
            out[str(key)] = strip_prefix(value, f"{key}-")
    return out


def _check_filters(filters: dict[str, str], files: list[BIDSFile]) -> None:
    for key, value in filters.items():
        present = {f.entities[key] for f in files if key in f.entities}
        if value in present:
            continue
        if key == "run" and value.isdigit():
            if any(v.isdigit() and int(v) == int(value) for v in present):
                raise BIDSError(f"run={value!r} matches no file, but runs "
                                f"{sorted(present)} exist: give the label as written in the "
                                "file names (zero-padding matters).")
        param = f"{key}=" if key in _FILTER_PARAMS else f"entities[{key!r}]"
        raise BIDSError(f"{param}{value!r} matches no file of the dataset; the {key!r} values "
                        f"present are {sorted(present) or 'none'}.")
