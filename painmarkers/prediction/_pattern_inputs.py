"""Stage 1 of evaluate_pattern: images, target, subjects and confounds of each row.

Two input forms give the same :class:`ImageRows`:

* a list of 3-D maps (paths or images) or a 4-D image, with ``target`` holding one value
  per image (or a Series indexed by subject id, with ``subjects``), ``subjects`` one id
  per image and ``confounds`` one row per image;
* a :class:`~painmarkers.model.Cohort` with a map ``kind`` (``Session.images[kind]``) and
  ``sessions``, ``target`` and ``confounds`` naming columns of ``Cohort.wide()`` (or
  ``target`` a Series indexed by subject id, e.g. the PPR of
  :func:`painmarkers.stats.outcomes`).

Rows without a usable image or target are listed in ``excluded`` with the reason;
missing confounds follow ``nan_policy``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._validation import check_columns
from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction import _inputs
from painmarkers.prediction._masker import _as_sources

__all__: list[str] = []


@dataclass(frozen=True, eq=False)
class ImageRows:
    """The rows of a voxel-pattern evaluation (see :func:`resolve`).

    Attributes
    ----------
    sources : list
        One 3-D image (path or nibabel image) per row.
    names : list of str
        How each image is named in messages.
    y : numpy.ndarray
        0/1 (class target) or float (continuous target).
    labels : numpy.ndarray
        The target values.
    subjects : numpy.ndarray of str
    rows : numpy.ndarray of int
        Position of each row in the input (the image list, or ``Cohort.wide()``).
    class_names : dict or None
    confound_matrix : numpy.ndarray or None
    confounds : list of str
    subject : str or None
        ``"subject_id"`` when ids were given (or come from a Cohort), else None.
    excluded : list of dict
    confound_table : pandas.DataFrame or None
        The confounds as given with a list of images (one row per input image), which
        the model card's confound coding is read from; None from a Cohort (its
        ``wide()`` table holds them) or without confounds.
    """

    sources: list = field(repr=False)
    names: list = field(repr=False)
    y: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    subjects: np.ndarray = field(repr=False)
    rows: np.ndarray = field(repr=False)
    class_names: dict | None
    confound_matrix: np.ndarray | None = field(repr=False)
    confounds: list = field(default_factory=list)
    subject: str | None = None
    excluded: list = field(default_factory=list, repr=False)
    confound_table: pd.DataFrame | None = field(default=None, repr=False)

    def design(self, X: np.ndarray, features: list[str]) -> _inputs.Design:
        """The :class:`~painmarkers.prediction._inputs.Design` of these rows and features."""
        return _inputs.Design(
            features=features, confounds=self.confounds, X=X,
            confound_matrix=self.confound_matrix, sites=None, site_names=None, y=self.y,
            labels=self.labels, subjects=self.subjects, subject=self.subject, rows=self.rows,
            class_names=self.class_names, excluded=list(self.excluded))


def _is_cohort(obj: Any) -> bool:
    return hasattr(obj, "iter_sessions") and hasattr(obj, "wide")


def _by_subject(values, ids: np.ndarray, name: str) -> pd.Series:
    """Values of a Series/mapping indexed by subject id, looked up for each row."""
    table = pd.Series(values) if isinstance(values, Mapping) else values
    table.index = table.index.astype(str)
    dup = table.index[table.index.duplicated()]
    if len(dup):
        raise DataError(f"The {name!r} parameter holds subject {dup[0]!r} twice; a Series "
                        "indexed by subject id needs one value per subject.")
    return pd.Series(table.reindex(ids).to_numpy(), dtype=object)


def resolve(imgs, target, *, positive, kind, sessions, subjects, confounds,
            nan_policy: str, task: str) -> ImageRows:
    """The :class:`ImageRows` of either input form (see the module docstring).

    Raises
    ------
    DataError
        A missing column, a subject without id, a target of the wrong length, missing
        values (``nan_policy="raise"``), the positive label absent.
    DesignError
        A class target with one class; a continuous target with fewer than 3 distinct
        values or boolean.
    TypeError
        Inputs of the wrong type.
    """
    if _is_cohort(imgs):
        base = _from_cohort(imgs, target, kind=kind, sessions=sessions, subjects=subjects,
                            confounds=confounds)
    else:
        if kind is not None or sessions is not None:
            raise TypeError("kind= and sessions= select the maps of a Cohort; with a list of "
                            "images give the images themselves.")
        base = _from_list(imgs, target, subjects=subjects, confounds=confounds)
    sources, names, target_values, ids, rows, conf, conf_names, excluded, subject = base
    out = _finish(sources, names, target_values, ids, rows, conf, conf_names, excluded,
                  subject, positive=positive, nan_policy=nan_policy, task=task)
    if conf is not None and not _is_cohort(imgs):
        out = dataclasses.replace(out, confound_table=conf)
    return out


def _from_list(imgs, target, *, subjects, confounds):
    sources, names, img4 = _as_sources(imgs, "imgs")
    if img4 is not None:   # one 4-D image: its volumes as in-memory 3-D images
        import nibabel as nib

        from painmarkers.io.images import read_data

        data = read_data(img4, name=names[0])
        sources = [nib.Nifti1Image(np.asarray(data[..., i]), img4.affine)
                   for i in range(data.shape[3])]
    n = len(sources)
    if subjects is None:
        ids = np.array([f"image {i}" for i in range(n)], dtype=object)
        subject = None
    else:
        ids = np.asarray(subjects, dtype=object).astype(str)
        if ids.ndim != 1 or ids.size != n:
            raise DataError(f"The 'subjects' parameter must hold one subject id per image "
                            f"({n}); got {ids.size}.")
        subject = schema.SUBJECT
    if isinstance(target, str):
        raise TypeError(f"With a list of images, 'target' holds one value per image (or is a "
                        f"Series indexed by subject id); got the column name {target!r}. A "
                        "column name needs a Cohort as 'imgs'.")
    if isinstance(target, pd.Series | Mapping) and subjects is not None and (
            not isinstance(target, pd.Series) or not target.index.equals(pd.RangeIndex(n))):
        values = _by_subject(target, ids, "target")
    else:
        values = pd.Series(np.asarray(target, dtype=object).ravel(), dtype=object)
        if values.size != n:
            raise DataError(f"The 'target' parameter must hold one value per image ({n}); "
                            f"got {values.size}.")
    conf, conf_names = None, []
    if confounds is not None:
        if isinstance(confounds, str) or (isinstance(confounds, list | tuple)
                                          and confounds and isinstance(confounds[0], str)):
            raise TypeError("With a list of images, 'confounds' is a table (DataFrame or "
                            "array) with one row per image; column names need a Cohort.")
        if isinstance(confounds, pd.DataFrame):
            frame = confounds.reset_index(drop=True)
        elif isinstance(confounds, pd.Series):
            frame = confounds.reset_index(drop=True).to_frame()
        else:
            arr = np.asarray(confounds, dtype=float)
            arr = arr[:, None] if arr.ndim == 1 else arr
            if arr.ndim != 2:
                raise DataError(f"The 'confounds' parameter must be 1-D or 2-D (one row per "
                                f"image); got shape {arr.shape}.")
            frame = pd.DataFrame(arr, columns=[f"confound_{j}" for j in range(arr.shape[1])])
        if len(frame) != n:
            raise DataError(f"The 'confounds' parameter must have one row per image ({n}); "
                            f"got {len(frame)}.")
        frame.columns = [str(c) for c in frame.columns]
        conf, conf_names = frame, list(frame.columns)
    return (sources, names, values, ids, np.arange(n), conf, conf_names, [], subject)


def _from_cohort(cohort, target, *, kind, sessions, subjects, confounds):
    if not isinstance(kind, str):
        raise TypeError("With a Cohort, 'kind' names the map of each session to use "
                        f"(Session.images[kind], e.g. 'alff'); got {kind!r}.")
    if subjects is not None:
        cohort = cohort.select(subjects=list(subjects))
    frame = cohort.wide().reset_index(drop=True)
    pairs = list(cohort.iter_sessions())
    all_ids = [str(s.id) for s in cohort.subjects]
    if frame.empty:
        raise DataError("The Cohort has no session to take images from.")
    ids = frame[schema.SUBJECT].astype(str)
    keep, excluded = _inputs.select_sessions(frame, ids, sessions, schema.SESSION,
                                             schema.GROUP, all_ids)
    sources, names, rows = [], [], []
    for i in np.flatnonzero(keep):
        sub, ses = pairs[i]
        path = ses.images.get(kind)
        where = f"subject {sub.id!r} session {ses.label!r}"
        if path is None:
            excluded.append({"row": int(i), "subject_id": str(sub.id),
                             "reason": f"no {kind!r} image"})
            continue
        sources.append(path)
        names.append(f"{kind} map of {where} ({path})")
        rows.append(i)
    if not sources:
        raise DataError(f"No selected session has a {kind!r} image (Session.images keys of "
                        f"the first session: {sorted(pairs[0][1].images)}).")
    rows = np.asarray(rows, dtype=int)
    sel = frame.iloc[rows].reset_index(drop=True)
    row_ids = ids.iloc[rows].to_numpy().astype(object)
    if isinstance(target, str):
        check_columns(sel, [target], "the Cohort's wide table")
        values = pd.Series(sel[target].to_numpy(), dtype=object)
    elif isinstance(target, pd.Series | Mapping):
        values = _by_subject(target, row_ids, "target")
    else:
        raise TypeError("With a Cohort, 'target' is a column of Cohort.wide() or a Series "
                        f"indexed by subject id; got {type(target).__name__}.")
    conf, conf_names = None, []
    if confounds is not None:
        names_ = [confounds] if isinstance(confounds, str) else list(confounds)
        if not all(isinstance(c, str) for c in names_):
            raise TypeError("With a Cohort, 'confounds' names columns of Cohort.wide().")
        check_columns(sel, names_, "the Cohort's wide table")
        conf, conf_names = sel[names_].reset_index(drop=True), names_
    return (sources, names, values, row_ids, rows, conf, conf_names, excluded,
            schema.SUBJECT)


def _finish(sources, names, values, ids, rows, conf, conf_names, excluded, subject, *,
            positive, nan_policy, task):
    regression = task == "regression"
    n = len(sources)
    missing_target = values.isna().to_numpy()
    keep = np.ones(n, bool)
    if regression:
        if pd.api.types.is_bool_dtype(pd.Series(values.dropna().tolist()).dtype):
            raise DesignError("The target is boolean; a continuous target needs numbers. For "
                              "a class target give positive=.")
        numeric = pd.to_numeric(values, errors="coerce")
        bad = numeric.isna() & ~pd.Series(missing_target)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"The target must be numeric; {names[i]} has {values[i]!r}.")
        for i in np.flatnonzero(missing_target):
            excluded.append({"row": int(rows[i]), "subject_id": str(ids[i]),
                             "reason": "missing target"})
        keep &= ~missing_target
        values = numeric
    missing_conf = (conf.isna().any(axis=1).to_numpy() if conf is not None
                    else np.zeros(n, bool))
    problem = (missing_conf | (missing_target if not regression else False)) & keep
    if problem.any():
        i = int(np.flatnonzero(problem)[0])
        what = "target" if (not regression and missing_target[i]) else "confounds"
        if nan_policy == "raise":
            raise DataError(f"{names[i]} (subject {ids[i]!r}) has a missing {what} value "
                            f"({int(problem.sum())} image(s) in total); fill them or pass "
                            "nan_policy='omit' (they are then listed in 'excluded').")
        for i in np.flatnonzero(problem):
            parts = ([] if regression or not missing_target[i] else ["target"]) + (
                [c for c in conf_names if pd.isna(conf.iloc[i][c])] if conf is not None
                else [])
            excluded.append({"row": int(rows[i]), "subject_id": str(ids[i]),
                             "reason": "missing " + ", ".join(parts)})
        keep &= ~problem
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        raise DataError("No image is left once the rows with missing values are excluded.")
    values = values.iloc[idx].reset_index(drop=True)
    if regression:
        y = values.to_numpy(float)
        distinct = np.unique(y)
        if distinct.size < _inputs.MIN_DISTINCT:
            raise DesignError(
                f"The target has {distinct.size} distinct value(s) in the {y.size} image(s) "
                f"analysed; a continuous target needs at least {_inputs.MIN_DISTINCT}. For a "
                "class target give positive=.")
        labels, class_names = y, None
    else:
        labels = values.to_numpy()
        y, class_names = _inputs.binary_labels(values, positive, "the target")
    conf_matrix = None
    if conf is not None:
        part = conf.iloc[idx]
        conf_matrix = pd.get_dummies(part, drop_first=True, dtype=float).to_numpy(float)
    return ImageRows(
        sources=[sources[i] for i in idx], names=[names[i] for i in idx], y=y, labels=labels,
        subjects=np.asarray([str(ids[i]) for i in idx], dtype=object),
        rows=np.asarray(rows)[idx], class_names=class_names, confound_matrix=conf_matrix,
        confounds=conf_names, subject=subject, excluded=excluded)
