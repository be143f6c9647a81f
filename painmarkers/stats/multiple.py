"""Multiple-comparison adjustment of p-values (Bonferroni, Holm, FDR-BH, FDR-BY)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._validation import check_choice, check_interval
from painmarkers.exceptions import DataError

__all__ = ["adjust_pvalues"]

_METHODS = ("fdr_bh", "fdr_by", "holm", "bonferroni")


def adjust_pvalues(
    p: Any,
    method: str = "fdr_bh",
    alpha: float = 0.05,
    *,
    p_col: str = "p",
    by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Adjust p-values for multiple comparisons.

    Parameters
    ----------
    p : array-like of float or pandas.DataFrame
        The p-values, or a result frame (e.g. from :func:`correlate` or
        :func:`paired_ttest`) holding them in column ``p_col``.
    method : {"fdr_bh", "fdr_by", "holm", "bonferroni"}, default="fdr_bh"
        Benjamini-Hochberg FDR, Benjamini-Yekutieli FDR (any dependence), Holm
        step-down FWER, or Bonferroni FWER.
    alpha : float, default=0.05
        Error rate (FDR or FWER) at which ``reject`` is decided, in (0, 1).
    p_col : str, default="p"
        Column of the p-values when ``p`` is a DataFrame.
    by : str, list of str or None, default=None
        Columns defining separate families (a DataFrame ``p`` only), e.g.
        ``by="x"`` adjusts the tests of each predictor separately. None treats
        all rows as one family.

    Returns
    -------
    pandas.DataFrame
        For a DataFrame ``p``: a copy with two columns added (or replaced),
        ``p_adjusted`` and ``reject``. For an array: a frame with columns ``p``,
        ``p_adjusted``, ``reject`` in the order of the input. Missing p-values
        (NaN) are left out of the family and get NaN / NA; the family size is the
        number of non-missing p-values.

    Raises
    ------
    DataError
        A p-value outside [0, 1] or non-numeric (the message gives its position
        and value).
    ValueError
        Unknown method, ``alpha`` outside (0, 1), a multi-dimensional array.

    Notes
    -----
    Wraps :func:`statsmodels.stats.multitest.multipletests`. With ``m`` sorted
    p-values :math:`p_{(1)} \\le \\dots \\le p_{(m)}`:

    - Bonferroni: :math:`\\min(1, m p_i)`.
    - Holm: :math:`\\tilde p_{(i)} = \\max_{j \\le i} \\min(1, (m - j + 1) p_{(j)})`.
    - BH: :math:`\\tilde p_{(i)} = \\min_{j \\ge i} \\min(1, m p_{(j)} / j)`.
    - BY: BH with :math:`m` replaced by :math:`m \\sum_{k=1}^m 1/k`.

    ``reject`` is ``p_adjusted <= alpha``. BH controls the FDR under independence
    or positive dependence; BY under any dependence; Holm and Bonferroni control
    the family-wise error rate.

    References
    ----------
    .. [1] Holm S (1979). A simple sequentially rejective multiple test procedure.
       Scand J Stat, 6, 65-70.
    .. [2] Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate.
       J R Stat Soc B, 57, 289-300.
    .. [3] Benjamini Y, Yekutieli D (2001). The control of the false discovery rate
       in multiple testing under dependency. Ann Stat, 29, 1165-1188.

    Examples
    --------
    >>> from painmarkers.stats import adjust_pvalues
    >>> adjust_pvalues([0.01, 0.04, 0.03, 0.5], method="fdr_bh")
          p  p_adjusted  reject
    0  0.01    0.040000    True
    1  0.04    0.053333   False
    2  0.03    0.053333   False
    3  0.50    0.500000   False
    """
    check_choice(method, _METHODS, "method")
    alpha = check_interval(alpha, "alpha", 0, 1, closed="neither")
    if isinstance(p, pd.DataFrame):
        if p_col not in p.columns:
            raise DataError(f"The result frame has no p-value column {p_col!r}; it has "
                            f"{list(p.columns)}.")
        out = p.copy()
        values = _as_pvalues(out[p_col].to_numpy(), p_col)
        adjusted = np.full(len(out), np.nan)
        reject = np.zeros(len(out), dtype=object)
        if by is None:
            families = [np.arange(len(out))]
        else:
            keys = [by] if isinstance(by, str) else list(by)
            missing = [k for k in keys if k not in out.columns]
            if missing:
                raise DataError(f"The result frame has no column(s) {missing} to group by; it "
                                f"has {list(out.columns)}.")
            families = list(out.groupby(keys, sort=False, dropna=False).indices.values())
        for idx in families:
            adjusted[idx], reject[idx] = _adjust(values[idx], method, alpha)
        out[schema.P_ADJUSTED] = adjusted
        out[schema.REJECT] = pd.array(reject, dtype="boolean")
        return out
    if by is not None:
        raise ValueError("The 'by' parameter needs a DataFrame 'p'.")
    arr = np.asarray(p)
    if arr.ndim != 1:
        raise ValueError(f"'p' must be one-dimensional. Got shape {arr.shape}.")
    values = _as_pvalues(arr, "p")
    adjusted, reject = _adjust(values, method, alpha)
    return pd.DataFrame({"p": values, schema.P_ADJUSTED: adjusted,
                         schema.REJECT: pd.array(reject, dtype="boolean")})


def _as_pvalues(values: np.ndarray, name: str) -> np.ndarray:
    converted = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
    bad = np.isnan(converted) & pd.notna(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name!r} must hold numbers; position {i} has {values[i]!r}.")
    out = (converted < 0) | (converted > 1)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise DataError(f"{name!r} must hold p-values in [0, 1]; position {i} has "
                        f"{float(converted[i])!r}.")
    return converted


def _adjust(values: np.ndarray, method: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    from statsmodels.stats.multitest import multipletests

    adjusted = np.full(values.shape, np.nan)
    reject = np.full(values.shape, None, dtype=object)
    ok = ~np.isnan(values)
    if ok.any():
        rej, p_adj, _, _ = multipletests(values[ok], alpha=alpha, method=method)
        adjusted[ok] = p_adj
        reject[ok] = rej.astype(bool)
    return adjusted, reject
