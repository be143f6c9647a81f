"""What the prediction result objects share: their files, summary lines and plotting import.

Every result of :mod:`painmarkers.prediction` follows the protocol of
:mod:`painmarkers._results` (``to_frame()``, ``summary()``, ``save(directory) ->
dict[str, Path]``, ``parameters``, ``versions``). :func:`save_result` writes one the
same way for all: each table as ``<name>.csv``, the permutation null distribution as
``null_distribution.csv``, ``parameters.json`` (:func:`painmarkers._results.save_parameters`)
and ``summary.txt``, atomically (:mod:`painmarkers._atomic`) into a folder created if
needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._atomic import make_folder, write_text
from painmarkers._results import save_parameters

__all__: list[str] = []


def write_csv(path: str | os.PathLike, frame: pd.DataFrame | pd.Series) -> Path:
    """Write ``frame`` (without its index) as CSV to ``path`` atomically."""
    return write_text(path, frame.to_csv(index=False))


def save_result(result: Any, directory: str | os.PathLike,
                tables: Mapping[str, pd.DataFrame], *, null: str | None = None,
                stems: Mapping[str, str] | None = None,
                extra: Mapping[str, Any] | None = None,
                files: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """Write a prediction result's tables, null distribution, parameters and summary.

    Parameters
    ----------
    result : Result
        The result (its ``parameters``, ``versions``, ``summary()`` and, with ``null``,
        ``null_distribution``).
    directory : path-like
        Output folder, created if needed.
    tables : mapping of str to DataFrame
        Tables by key, each written as ``<key>.csv`` (or ``<stems[key]>.csv``).
    null : str or None, default=None
        Column name of ``null_distribution.csv`` (the statistic permuted: ``"auc"``,
        ``"r2"``, ``"delta"``); None writes no null distribution.
    stems : mapping of str to str, optional
        File stems of tables not named by their key.
    extra : mapping, optional
        More entries of ``parameters.json``.
    files : mapping of str to Path, optional
        Files already written (e.g. by a nested result): the returned dict starts with
        them; ``parameters`` and ``summary`` are replaced by this result's.

    Returns
    -------
    dict of str to Path
        ``files``, then the tables by key, ``null_distribution``, ``parameters`` and
        ``summary``.
    """
    out = make_folder(directory)
    written = dict(files or {})
    for key, frame in tables.items():
        written[key] = write_csv(out / f"{(stems or {}).get(key, key)}.csv", frame)
    if null is not None:
        written["null_distribution"] = write_csv(
            out / "null_distribution.csv", pd.Series(result.null_distribution, name=null))
    written["parameters"] = save_parameters(out, result, extra=extra)
    written["summary"] = write_text(out / "summary.txt", result.summary() + "\n")
    return written


def excluded_text(excluded: pd.DataFrame) -> str:
    """``"excluded 3 row(s) (missing age: 2; no session 'pre': 1)"`` of an excluded table."""
    reasons = excluded["reason"].value_counts()
    return f"excluded {len(excluded)} row(s)" + (
        "" if reasons.empty else
        " (" + "; ".join(f"{k}: {v}" for k, v in reasons.items()) + ")")


def metric_lines(metrics: pd.DataFrame, skip: tuple[str, ...] = ("permutation_p",)
                 ) -> list[str]:
    """One summary line per metric: name, estimate (``n/a`` when missing) and its CI."""
    lines = []
    for r in metrics.itertuples(index=False):
        if r.metric in skip:
            continue
        ci = ("" if pd.isna(r.ci_low) else
              f" [{r.ci_low:.3f}, {r.ci_high:.3f}] ({r.ci_method})")
        est = "n/a" if pd.isna(r.estimate) else f"{r.estimate:.3f}"
        lines.append(f"  {r.metric:<24s} {est}{ci}")
    return lines


def metrics_frame(self) -> pd.DataFrame:
    """The metrics table (one row per metric, see ``metrics``).

    Returns
    -------
    pandas.DataFrame
        A copy of ``metrics``, columns :data:`painmarkers.schema.METRIC_COLUMNS` (empty,
        with these columns, when there is no metric).
    """
    return self.metrics.copy()


def design_lines(parameters: Mapping[str, Any]) -> list[str]:
    """The ``Model:`` and ``CV:`` lines of an evaluation's summary."""
    p = parameters
    return [f"Model: {p['model']}",
            f"CV: {p['cv']}; confounds: {p['confounds'] or 'none'}; harmonisation: "
            f"{'ComBat in-fold' if p['harmonize'] else 'none'}."]


def permutation_line(p_value: float, n_permutations: int, what: str) -> list[str]:
    """The permutation p line of an evaluation's summary (none when it was not run)."""
    if not np.isfinite(p_value):
        return []
    return [f"Permutation p = {p_value:.4f} ({n_permutations} {what} permutations, whole "
            "pipeline refitted)."]


def axes(ax=None):
    """``ax``, or the axes of a new 4 x 4 inch figure (matplotlib imported lazily)."""
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("Plotting needs matplotlib: pip install matplotlib") from exc
    return plt.subplots(figsize=(4, 4))[1]
