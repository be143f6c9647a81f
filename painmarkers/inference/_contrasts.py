"""t and F contrasts over the columns of a GLM design (private).

A contrast is given as

* a string: a column name (``"arm[T.active]:session[T.post]"``), a linear combination of
  column names (``"session[T.post] - session[T.pre]"``, ``"0.5*a + 0.5*b"``), or the name of
  a formula term (``"session"``, ``"arm:session"``), which gives the F contrast of all the
  term's columns (a t contrast when the term has one column);
* a vector of weights over the model's columns (or over every column of X, subject
  columns included);
* a matrix (2-D array, one row per tested combination) or a list of strings / vectors: an
  F contrast.

``contrasts`` (the argument of :func:`~painmarkers.inference.voxelwise_glm`) is one such
contrast, a list of them, or a dict ``{name: contrast}``. Each contrast must be estimable:
every row must lie in the row space of X (for a full-rank X every contrast is; with
subject effects, a contrast involving a between-subject column such as the group is not).
The rows of an F contrast must be linearly independent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from painmarkers.exceptions import DesignError

__all__ = ["Contrast", "describe_row", "parse_contrasts"]

_NUMBER = re.compile(r"(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)\s*\*\s*")


@dataclass(frozen=True, eq=False)
class Contrast:
    """One parsed contrast.

    Attributes
    ----------
    name : str
        Its name (the dict key, the string given, or a description of the weights).
    matrix : numpy.ndarray, shape (k, p)
        Weights over every column of X (k = 1 for t).
    stat : {"t", "F"}
        The statistic tested.
    rows : list of str
        Each row in words (``"session[T.post] - session[T.pre]"``).
    """

    name: str
    matrix: np.ndarray
    stat: str
    rows: list[str]

    @property
    def k(self) -> int:
        """Number of rows (numerator df of F)."""
        return int(self.matrix.shape[0])


def describe_row(row: np.ndarray, columns: Sequence[str]) -> str:
    """A weight vector in words: ``"a - b"``, ``"0.5*a + 0.5*b"``."""
    parts = []
    for j in np.flatnonzero(row):
        w = float(row[j])
        mag = abs(w)
        term = columns[j] if np.isclose(mag, 1.0, rtol=0, atol=1e-12) else f"{mag:g}*{columns[j]}"
        if not parts:
            parts.append(term if w > 0 else f"-{term}")
        else:
            parts.append(("+ " if w > 0 else "- ") + term)
    return " ".join(parts) if parts else "0"


def _parse_expression(text: str, columns: Sequence[str], name: str) -> np.ndarray:
    """Weights of a linear combination of column names (``"a - 2*b + c"``)."""
    row = np.zeros(len(columns))
    by_length = sorted(range(len(columns)), key=lambda j: -len(columns[j]))
    pos, n = 0, len(text)
    first = True
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            break
        sign = 1.0
        saw_sign = False
        while pos < n and (text[pos] in "+-" or text[pos].isspace()):
            if text[pos] == "-":
                sign = -sign
            if text[pos] in "+-":
                saw_sign = True
            pos += 1
        if not first and not saw_sign:
            raise DesignError(
                f"Contrast {name!r}: expected '+' or '-' before {text[pos:]!r} in {text!r}.")
        coef = 1.0
        number = _NUMBER.match(text, pos)
        if number:
            coef = float(number.group(1))
            pos = number.end()
        hit = next((j for j in by_length if text.startswith(columns[j], pos)), None)
        if hit is None:
            raise DesignError(
                f"Contrast {name!r}: {text[pos:]!r} does not start with a column of the design "
                f"(in {text!r}). Columns: {list(columns)}.")
        row[hit] += sign * coef
        pos += len(columns[hit])
        first = False
    if first:
        raise DesignError(f"Contrast {name!r} is empty.")
    return row


def _weights(vec: Any, design, name: str) -> np.ndarray:
    arr = np.asarray(vec, dtype=float).ravel()
    p_model, p_full = design.n_model_columns, design.matrix.shape[1]
    if not np.all(np.isfinite(arr)):
        raise DesignError(f"Contrast {name!r} has non-finite weights {arr.tolist()}.")
    if arr.size == p_model:
        out = np.zeros(p_full)
        out[:p_model] = arr
        return out
    if arr.size == p_full:
        return arr
    expected = (f"{p_model} (the model's columns {design.model_columns})" if p_model == p_full
                else f"{p_model} (the model's columns {design.model_columns}) or {p_full} "
                "(with the subject columns)")
    raise DesignError(f"Contrast {name!r} has {arr.size} weights; expected {expected}.")


def _is_vector(spec: Any) -> bool:
    if isinstance(spec, str | bytes | Mapping):
        return False
    arr = np.asarray(spec, dtype=object)
    return arr.ndim == 1 and arr.size > 0 and all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        for v in arr.tolist())


def _rows(spec: Any, design, name: str) -> tuple[np.ndarray, str, bool]:
    """``(matrix, stat, named_by_term)`` of one contrast specification."""
    columns = design.columns
    if isinstance(spec, str):
        text = spec.strip()
        if text in columns:
            return _weights(np.eye(len(columns))[columns.index(text)], design, name)[None], \
                "t", False
        if text in design.terms and text not in columns:
            cols = design.terms[text]
            mat = np.zeros((len(cols), len(columns)))
            for i, c in enumerate(cols):
                mat[i, columns.index(c)] = 1.0
            return mat, ("t" if len(cols) == 1 else "F"), True
        return _parse_expression(text, columns, name)[None], "t", False
    if _is_vector(spec):
        return _weights(spec, design, name)[None], "t", False
    if isinstance(spec, np.ndarray) and spec.ndim == 2:
        mat = np.vstack([_weights(r, design, name) for r in spec])
        return mat, "F", False
    if isinstance(spec, Sequence) and not isinstance(spec, bytes) and len(spec) > 0:
        mat = np.vstack([_rows(item, design, name)[0] for item in spec])
        return mat, "F", False
    raise DesignError(
        f"Contrast {name!r} must be a string, a vector of weights, a 2-D array or a list of "
        f"strings/vectors (F). Got {spec!r}.")


def _items(contrasts: Any) -> list[tuple[str | None, Any]]:
    if contrasts is None:
        raise DesignError("Give at least one contrast ('contrasts').")
    if isinstance(contrasts, Mapping):
        if not contrasts:
            raise DesignError("'contrasts' is an empty dict.")
        return [(str(k), v) for k, v in contrasts.items()]
    if isinstance(contrasts, str) or _is_vector(contrasts) or (
            isinstance(contrasts, np.ndarray) and contrasts.ndim == 2):
        return [(None, contrasts)]
    if isinstance(contrasts, Sequence) and len(contrasts) > 0:
        return [(None, c) for c in contrasts]
    raise DesignError(f"'contrasts' must be a contrast, a list of contrasts or a dict of "
                      f"them. Got {contrasts!r}.")


def _check(con: Contrast, design) -> None:
    mat = con.matrix
    zero = np.flatnonzero(~mat.any(axis=1))
    if zero.size:
        raise DesignError(f"Contrast {con.name!r} has a row of zero weights (row {int(zero[0])}).")
    ok = design.estimable(mat)
    if not ok.all():
        bad = mat[~ok][0]
        involved = [design.columns[j] for j in np.flatnonzero(bad)]
        aliased = [c for c in involved if c in design.aliased_columns]
        why = ""
        if aliased:
            why = (f" It involves {aliased}, whose effect the subject effects absorb (a "
                   "between-subject effect): with one effect per subject only within-subject "
                   "contrasts can be tested. Test between-subject effects on one map per "
                   "subject (e.g. the subject mean or the change score) or with a mixed model.")
        raise DesignError(
            f"Contrast {con.name!r} ({describe_row(bad, design.columns)}) is not estimable: it "
            f"is not in the row space of the design matrix (rank {design.rank} < "
            f"{design.matrix.shape[1]} columns).{why}")
    if con.k > 1 and np.linalg.matrix_rank(mat) < con.k:
        raise DesignError(
            f"The rows of F contrast {con.name!r} are linearly dependent (rank "
            f"{np.linalg.matrix_rank(mat)} < {con.k} rows): remove the redundant rows.")


def parse_contrasts(contrasts: Any, design) -> list[Contrast]:
    """Parse and check ``contrasts`` against ``design`` (see the module docstring).

    Raises
    ------
    DesignError
        An unknown column, a wrong number of weights, a zero row, a non-estimable contrast
        (named, with the columns involved), linearly dependent F rows, duplicated names.
    """
    out: list[Contrast] = []
    for i, (name, spec) in enumerate(_items(contrasts)):
        label = name if name is not None else (spec.strip() if isinstance(spec, str)
                                              else f"contrast {i + 1}")
        mat, stat, _ = _rows(spec, design, label)
        rows = [describe_row(r, design.columns) for r in mat]
        if name is None and not isinstance(spec, str):
            label = rows[0] if stat == "t" else "F: " + "; ".join(rows)
        con = Contrast(name=label, matrix=mat, stat=stat, rows=rows)
        _check(con, design)
        out.append(con)
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DesignError(f"Contrast names must be unique; {dup} appear more than once (give "
                          "the contrasts as a dict to name them).")
    return out
