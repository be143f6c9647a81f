"""Side information of the pipeline steps: site, covariates and confounds of each row.

:class:`~painmarkers.prediction.ComBat` and
:class:`~painmarkers.prediction.ConfoundRegressor` need, besides the features, a
per-row site label or per-row covariates. They take them in one of three ways, the
*layout* recorded in their fitted ``layout_`` attribute:

``"metadata"``
    as keyword arguments of ``fit``/``transform`` (``site=``, ``covariates=``,
    ``confounds=``), which scikit-learn's metadata routing delivers inside a
    :class:`~sklearn.pipeline.Pipeline`;
``"columns"``
    as named (or numbered) columns of ``X`` (``site_column=``, ``covariate_columns=``,
    ``confound_columns=``), which travel with the rows through any scikit-learn
    utility, ``cross_val_predict`` included;
``"last_columns"``
    as the last columns of ``X`` counted by ``n_covariates``/``n_confounds`` (the
    layout of painmarkers < 0.2, deprecated).

This module turns each layout into plain arrays (features, side columns) so that the
estimators' arithmetic sees the same numbers whatever the layout.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_array

from painmarkers._deprecation import REMOVAL, SINCE
from painmarkers._warnings import warn
from painmarkers.exceptions import DataError

__all__: list[str] = []

#: Default of the deprecated ``n_covariates`` / ``n_confounds`` parameters.
DEPRECATED = "deprecated"


def warn_last_columns(owner: str, param: str, n: int, what: str, new: str) -> None:
    """FutureWarning for the deprecated layout (side columns at the end of X)."""
    warn(f"{owner} takes the {what} as the last column(s) of X ({param}={n}); this layout is "
         f"deprecated since painmarkers {SINCE} and will stop working in {REMOVAL}. Pass "
         f"{new} (metadata, routed by a Pipeline with "
         "sklearn.set_config(enable_metadata_routing=True)), or name the column(s) with the "
         f"{'site_column/covariate_columns' if owner == 'ComBat' else 'confound_columns'} "
         f"parameter(s); set {param}=None to silence this warning.", FutureWarning)


def n_tail(value: Any, name: str) -> int:
    """Validate the count of trailing side columns of the deprecated layout."""
    if value == DEPRECATED:
        return -1
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or int(value) < 0):
        raise ValueError(f"The {name!r} parameter must be a non-negative integer or None. "
                         f"Got {value!r}.")
    return int(value)


def split_tail(x: np.ndarray, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Split ``x`` into its leading feature columns and its ``n`` trailing columns."""
    if x.shape[1] <= n:
        raise DataError(
            f"{name} expects at least one feature column before its {n} trailing "
            f"column(s); X has n_features={x.shape[1]}."
        )
    return x[:, : x.shape[1] - n], x[:, x.shape[1] - n:]


def column_positions(X: Any, spec: Any, n_columns: int, name: str) -> list[int]:
    """Positions in ``X`` of the column(s) ``spec``: names (DataFrame X) or integers."""
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str | numbers.Integral) else list(spec)
    names = list(X.columns) if isinstance(X, pd.DataFrame) else None
    out: list[int] = []
    for item in items:
        if isinstance(item, numbers.Integral) and not isinstance(item, bool):
            pos = int(item)
            if not -n_columns <= pos < n_columns:
                raise ValueError(f"The {name!r} parameter holds column {pos}, but X has "
                                 f"{n_columns} column(s).")
            out.append(pos % n_columns)
        elif isinstance(item, str):
            if names is None:
                raise ValueError(f"The {name!r} parameter names column {item!r}, but X has no "
                                 "column names; pass a pandas DataFrame or column numbers.")
            if item not in names:
                raise DataError(f"The {name!r} column {item!r} is not in X; its columns are "
                                f"{names}.")
            out.append(names.index(item))
        else:
            raise TypeError(f"The {name!r} parameter must be a column name, a column number or "
                            f"a list of them. Got {item!r}.")
    if len(set(out)) != len(out):
        raise ValueError(f"The {name!r} parameter names a column twice: {items}.")
    return out


def numeric(values: Any, name: str, n_rows: int) -> np.ndarray:
    """``values`` as a finite float array of shape (n_rows, k) (1-D input is one column)."""
    arr = check_array(values, dtype=float, ensure_2d=False, ensure_min_samples=0,
                      input_name=name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        raise ValueError(f"The {name!r} parameter must have one row per row of X ({n_rows}); "
                         f"got shape {arr.shape}.")
    return arr


def labels(values: Any, name: str, n_rows: int) -> np.ndarray:
    """Per-row labels (site): 1-D, one per row of X, none missing."""
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series | pd.Index) else values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ValueError(f"The {name!r} parameter must hold one label per row of X ({n_rows}); "
                         f"got shape {arr.shape}.")
    missing = pd.isna(arr)
    if missing.any():
        raise DataError(f"The {name!r} labels are missing for {int(missing.sum())} row(s) "
                        f"(first: row {int(np.flatnonzero(missing)[0])}).")
    return arr


def label_name(value: Any) -> str:
    """A site label as written in messages: 2.0 -> '2', 'A' -> "'A'"."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)
        return f"{value:g}"
    return repr(value.item() if hasattr(value, "item") else value)

