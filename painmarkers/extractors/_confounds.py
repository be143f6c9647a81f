"""Nuisance confounds of a BOLD run: one reader, one column selection, one n/a rule.

Every confound matrix used by painmarkers comes from :func:`confound_matrix`, whatever
the confounds were given as (an fMRIPrep TSV next to the BOLD file, a TSV given
explicitly, a DataFrame or an array), so the same file always gives the same numbers.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._validation import check_choice
from painmarkers.exceptions import DataError

__all__ = ["CONFOUND_STRATEGIES", "confound_matrix", "fmriprep_confounds_file",
           "select_confounds"]

#: Noise components understood by :func:`select_confounds` (names as in nilearn).
CONFOUND_STRATEGIES = ("motion", "wm_csf", "global_signal", "high_pass")
LEVELS = ("basic", "power2", "derivatives", "full")
_BASE_COLUMNS = {
    "motion": ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"),
    "wm_csf": ("white_matter", "csf"),
    "global_signal": ("global_signal",),
}
#: BIDS entities a run's confounds file shares with its BOLD file (fMRIPrep naming).
_RUN_ENTITIES = ("sub", "ses", "task", "acq", "ce", "rec", "dir", "run")
_CONFOUNDS_SUFFIXES = ("desc-confounds_timeseries.tsv", "desc-confounds_regressors.tsv")


def _expand(columns: tuple[str, ...], level: str) -> list[str]:
    out = list(columns)
    if level in ("derivatives", "full"):
        out += [f"{c}_derivative1" for c in columns]
    if level in ("power2", "full"):
        out += [f"{c}_power2" for c in columns]
    if level == "full":
        out += [f"{c}_derivative1_power2" for c in columns]
    return out


def check_strategy(strategy: Any, name: str = "strategy") -> tuple[str, ...] | None:
    """Normalise a confound strategy: None, one component name, or a sequence of them."""
    if strategy is None:
        return None
    strategy = (strategy,) if isinstance(strategy, str) else tuple(strategy)
    for s in strategy:
        check_choice(s, CONFOUND_STRATEGIES, name)
    return strategy


def read_confounds_table(confounds: Any, name: str) -> pd.DataFrame:
    """A confounds table from a path (TSV with header, or whitespace text) or a DataFrame."""
    if isinstance(confounds, pd.DataFrame):
        return confounds
    if isinstance(confounds, str | PathLike):
        path = Path(confounds)
        if not path.exists():
            raise DataError(f"The confounds file {str(path)!r} given as {name!r} does not exist.")
        try:
            if path.name.endswith((".tsv", ".tsv.gz")):
                return pd.read_csv(path, sep="\t", na_values=["n/a", "NaN"])
            return pd.read_csv(path, sep=r"\s+", header=None)
        except Exception as exc:
            raise DataError(f"Could not read the confounds file {str(path)!r}: {exc}") from exc
    raise TypeError(f"The {name!r} parameter must be a path or a DataFrame. Got {confounds!r}.")


def fill_first_row(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Replace n/a in the first row by the second row's values; refuse any other n/a.

    fMRIPrep leaves the first row of derivative columns (and of
    ``framewise_displacement``, ``dvars``...) empty. nilearn's ``load_confounds``
    replaces those values by the second row's, which this rule reproduces; an n/a
    anywhere else is an error naming the columns and rows.
    """
    values = frame.to_numpy(dtype=float, copy=True)
    if len(values) > 1:
        first = np.isnan(values[0])
        values[0, first] = values[1, first]
    missing = np.isnan(values)
    if missing.any():
        cols = [str(c) for c in frame.columns[missing.any(axis=0)]]
        rows = np.flatnonzero(missing.any(axis=1))
        raise DataError(
            f"{where} has n/a values in column(s) {cols} at row(s) "
            f"{[int(r) for r in rows[:5]]}{' ...' if rows.size > 5 else ''} (0-based, "
            "header excluded); only the first row may be n/a (it takes the second row's "
            "value, as in nilearn's load_confounds)."
        )
    return pd.DataFrame(values, columns=frame.columns, index=frame.index)


def select_confounds(confounds: Any, strategy=("motion", "wm_csf"), motion: str = "basic",
                     wm_csf: str = "basic", global_signal: str = "basic",
                     name: str = "confounds") -> pd.DataFrame:
    """Select fMRIPrep confound columns by noise component, like nilearn's ``load_confounds``.

    Parameters
    ----------
    confounds : str, path-like or DataFrame
        An fMRIPrep ``*_desc-confounds_timeseries.tsv`` (or its table).
    strategy : tuple of str, default=("motion", "wm_csf")
        Components among ``"motion"``, ``"wm_csf"``, ``"global_signal"`` and
        ``"high_pass"`` (the ``cosine*`` regressors).
    motion, wm_csf, global_signal : {"basic", "power2", "derivatives", "full"}, default="basic"
        Expansion of each component: the raw series, plus squares, plus first
        derivatives, or all (24 motion parameters with ``"full"``).
    name : str, default="confounds"
        Name used in messages.

    Returns
    -------
    DataFrame
        The selected columns, in nilearn's order of components. n/a values in the
        first row (derivatives have none there) take the second row's value, as
        nilearn's ``load_confounds`` does.

    Raises
    ------
    DataError
        The file is missing or unreadable, lacks a required column (named), or has
        n/a values beyond the first row (columns and rows named).

    Notes
    -----
    This is the only place confound columns are chosen: :class:`SeedFC` uses it for
    confounds given explicitly and for the file it finds next to an fMRIPrep BOLD run.
    The tests compare every strategy and expansion, all rows included, with
    ``nilearn.interfaces.fmriprep.load_confounds(..., demean=False)``.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({c: [0.0, 1.0] for c in
    ...     ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf"]})
    >>> list(select_confounds(table, strategy=("motion",)).columns)
    ['trans_x', 'trans_y', 'trans_z', 'rot_x', 'rot_y', 'rot_z']
    """
    frame = read_confounds_table(confounds, name)
    strategy = check_strategy(strategy) or ()
    levels = {"motion": motion, "wm_csf": wm_csf, "global_signal": global_signal}
    wanted: list[str] = []
    for s in strategy:
        if s == "high_pass":
            wanted += [c for c in frame.columns if str(c).startswith("cosine")]
            continue
        check_choice(levels[s], LEVELS, s)
        wanted += _expand(_BASE_COLUMNS[s], levels[s])
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(f"{name} lacks the confound column(s) {missing} needed by the strategy "
                        f"{strategy}.")
    return fill_first_row(frame[wanted].astype(float), name)


def fmriprep_confounds_file(bold: Any, label: str = "the BOLD image") -> Path:
    """The fMRIPrep confounds table of a BOLD run, found next to it.

    Parameters
    ----------
    bold : str, path-like or file-backed nibabel image
        An fMRIPrep BOLD file such as
        ``sub-01_ses-pre_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz``.
    label : str, default="the BOLD image"
        Name used in messages.

    Returns
    -------
    pathlib.Path
        ``<sub/ses/task/acq/ce/rec/dir/run entities>_desc-confounds_timeseries.tsv``
        in the same folder (or the older ``_desc-confounds_regressors.tsv``).

    Raises
    ------
    DataError
        The image has no file name, or no such table exists (the candidates are named).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "sub-01_task-rest_desc-confounds_timeseries.tsv").write_text("csf\\n1\\n")
    6
    >>> fmriprep_confounds_file(d / "sub-01_task-rest_space-T1w_desc-preproc_bold.nii.gz").name
    'sub-01_task-rest_desc-confounds_timeseries.tsv'
    """
    if isinstance(bold, str | PathLike):
        path = Path(bold)
    else:
        filename = getattr(bold, "get_filename", lambda: None)()
        if not filename:
            raise DataError(
                f"{label}: a confounds strategy needs the fMRIPrep confounds; pass confounds= "
                "or give the BOLD image as an fMRIPrep file path."
            )
        path = Path(filename)
    stem = re.sub(r"\.nii(\.gz)?$", "", path.name)
    kept = [p for p in stem.split("_")[:-1] if p.split("-", 1)[0] in _RUN_ENTITIES and "-" in p]
    candidates = [path.parent / "_".join([*kept, suffix]) for suffix in _CONFOUNDS_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{label}: a confounds strategy needs the fMRIPrep confounds table, but neither "
        f"{[c.name for c in candidates]} exists in {str(path.parent)!r}; pass confounds= "
        "or set confounds_strategy=None."
    )


def confound_matrix(confounds: Any, strategy: tuple[str, ...] | None, motion: str,
                    n_volumes: int, img: Any, label: str) -> np.ndarray | None:
    """The ``(T, k)`` confound matrix of one run, or None.

    ``confounds`` None with a strategy: the fMRIPrep table next to ``img``. A strategy
    selects columns (:func:`select_confounds`); without one every column of the given
    table or array is used. The row count must equal ``n_volumes``.
    """
    if confounds is None:
        if strategy is None:
            return None
        confounds = fmriprep_confounds_file(img, label)
    if isinstance(confounds, np.ndarray):
        matrix = np.asarray(confounds, dtype=float)
        matrix = matrix[:, None] if matrix.ndim == 1 else matrix
        where = "the confounds array"
        if not np.all(np.isfinite(matrix)):
            raise DataError(f"{where} of {label} contains non-finite values.")
    else:
        where = (f"the confounds file {str(confounds)!r}"
                 if isinstance(confounds, str | PathLike) else "the confounds table")
        if strategy is not None:
            frame = select_confounds(confounds, strategy, motion=motion, name=where)
        else:
            frame = fill_first_row(read_confounds_table(confounds, where).astype(float), where)
        matrix = frame.to_numpy(dtype=float)
    if matrix.shape[0] != n_volumes:
        raise DataError(
            f"{where} has {matrix.shape[0]} rows but {label} has {n_volumes} volumes; "
            "they must match one to one."
        )
    return matrix
