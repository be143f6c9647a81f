"""t statistics of a GLM for many permutations at once (private engine).

The model is ``Y = Z·γ + X·β + ε`` with one tested column ``X`` and nuisance
columns ``Z``. Following Freedman & Lane (1983) the data are reduced to the
residuals of the nuisance model, ``E = R_Z·Y``, and each permutation
(rearranging rows) or sign flip (multiplying rows by ±1) is applied to ``E``
before the full model is fitted again. Applying a row operation ``G`` to
the data is the same as fitting ``E`` with the design ``G⁻¹·M`` (``M = [Z X]``),
whose orthonormal basis is ``G⁻¹·Q`` for the QR basis ``Q`` of ``M`` (with
``R`` unchanged). With ``X`` as the last column of ``M`` and ``R_KK > 0``::

    B_k = (G⁻¹ Q_k)ᵀ E            (one matrix product per design column,
                                   for a whole block of permutations)
    RSS = ‖E‖² − Σ_k B_k²          (‖E‖² is the same for every permutation)
    t   = B_K / sqrt(RSS / df)

so a block of ``P`` permutations costs ``K`` products of a ``(P, n)`` matrix
with the ``(n, V)`` data. For the identity this is the ordinary OLS t of the
tested column.

With ``k`` tested columns (an F contrast, Winkler et al. 2014), the last ``k``
basis columns span the tested space and
``F = (Σ_{tested} B_k² / k) / (RSS / df)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PermutationModel", "build_model", "ratio_to_f", "t_block", "zero_variance"]


@dataclass(frozen=True)
class PermutationModel:
    """Everything the permutation engine needs, computed once.

    Attributes
    ----------
    resid : ndarray, shape (n, V)
        Data reduced to the residuals of the nuisance model (Freedman-Lane).
    ss : ndarray, shape (V,)
        Column sums of squares of ``resid``.
    basis : ndarray, shape (n, K)
        Orthonormal basis of the full design, tested column last, oriented so
        that ``R[K-1, K-1] > 0``.
    used_columns : tuple of int
        Basis columns whose products vary over the permutations (for label
        permutation, a constant column orthogonal to ``resid`` is skipped).
    df : int
        Residual degrees of freedom ``n - K``.
    scheme : {"sign_flip", "permute"}
        How the rows are exchanged.
    n_tested : int
        Number of tested columns (1: t; more: F).
    """

    resid: np.ndarray
    ss: np.ndarray
    basis: np.ndarray
    used_columns: tuple[int, ...]
    df: int
    scheme: str
    n_tested: int = 1

    @property
    def stat(self) -> str:
        """``"t"`` for one tested column, ``"F"`` for several."""
        return "t" if self.n_tested == 1 else "F"


def build_model(data: np.ndarray, tested: np.ndarray, nuisance: np.ndarray | None,
                scheme: str) -> PermutationModel:
    """Residualise ``data`` on ``nuisance`` and orthonormalise ``[nuisance tested]``.

    Parameters
    ----------
    data : ndarray, shape (n, V)
        One row per image.
    tested : ndarray, shape (n,) or (n, k)
        The regressor(s) tested (k > 1: an F test).
    nuisance : ndarray, shape (n, q) or None
        Nuisance regressors (for label permutation this includes the intercept).
    scheme : {"sign_flip", "permute"}
        Exchangeability scheme.

    Returns
    -------
    PermutationModel
    """
    n = data.shape[0]
    tested = np.asarray(tested, dtype=float).reshape(n, -1)
    n_tested = tested.shape[1]
    if nuisance is None or nuisance.shape[1] == 0:
        nuisance = np.zeros((n, 0))
        resid = np.array(data, dtype=float, copy=True)
    else:
        nuisance = np.asarray(nuisance, dtype=float)
        coef, *_ = np.linalg.lstsq(nuisance, data, rcond=None)
        resid = data - nuisance @ coef
    design = np.hstack([nuisance, tested])
    q, r = np.linalg.qr(design)
    q = q * np.sign(np.diag(r))  # make the diagonal of R positive
    df = n - design.shape[1]
    used = list(range(design.shape[1]))
    if scheme == "permute":
        # a constant basis column is unchanged by any permutation; when the
        # residuals are orthogonal to it its product is identically zero.
        const = [k for k in used[:-n_tested]
                 if np.ptp(q[:, k]) < 1e-12 * max(1.0, abs(q[0, k]))
                 and np.allclose(q[:, k] @ resid, 0.0, atol=1e-9 * (1 + np.abs(resid).max()))]
        used = [k for k in used if k not in const]
    ss = np.einsum("ij,ij->j", resid, resid)
    # voxels the nuisance model explains exactly (e.g. constant voxels with an
    # intercept) keep only round-off residuals: make them exactly zero (t = 0)
    exact = ss <= 1e-20 * np.einsum("ij,ij->j", data, data)
    if exact.any():
        resid[:, exact] = 0.0
        ss[exact] = 0.0
    return PermutationModel(resid=resid, ss=ss, basis=q, used_columns=tuple(used), df=df,
                            scheme=scheme, n_tested=n_tested)


def _fit_block(model: PermutationModel, ops: np.ndarray, dtype=np.float64):
    """``B_K`` (t) or the tested sum of squares (F), and the residual sums of squares."""
    resid = model.resid if model.resid.dtype == dtype else model.resid.astype(dtype)
    n_ops = ops.shape[0]
    proj = np.zeros((n_ops, resid.shape[1]), dtype=dtype)
    tested = np.zeros_like(proj) if model.n_tested > 1 else None
    first_tested = model.basis.shape[1] - model.n_tested
    last = None
    for k in model.used_columns:
        col = model.basis[:, k]
        weights = ops * col if model.scheme == "sign_flip" else col[ops]
        prod = weights.astype(dtype, copy=False) @ resid
        if k == model.basis.shape[1] - 1 and tested is None:
            last = prod
            prod = prod * prod
        else:
            prod *= prod
        proj += prod
        if tested is not None and k >= first_tested:
            tested += prod
    ss = model.ss.astype(dtype, copy=False)
    return (last if tested is None else tested), ss - proj, ss


def t_block(model: PermutationModel, ops: np.ndarray, dtype=np.float64) -> np.ndarray:
    """t statistics of the tested column (F of the tested columns) for a block of operations.

    Parameters
    ----------
    model : PermutationModel
    ops : ndarray, shape (P, n)
        Sign flips (±1, ``scheme="sign_flip"``) or row orders (a permutation of
        ``range(n)`` per row, ``scheme="permute"``): permutation ``σ`` relabels
        the design, row ``i`` of the data being fitted with design row ``σ[i]``.
    dtype : numpy dtype, default=np.float64
        Precision of the matrix products.

    Returns
    -------
    ndarray, shape (P, V)
    """
    last, rss, ss = _fit_block(model, ops, dtype)
    # t = 0 where the residual sum of squares vanishes (constant voxels, or a
    # fit exact to round-off: RSS below 1e-10 of the total sum of squares)
    ok = rss > 1e-10 * ss
    with np.errstate(divide="ignore", invalid="ignore"):
        if model.n_tested > 1:  # F = (SS_tested / k) / (RSS / df)
            return np.where(ok, last / model.n_tested / (np.maximum(rss, 0.0) / model.df),
                            0.0)
        scale = np.sqrt(np.maximum(rss, 0.0) / model.df)
        t = np.where(ok, last / scale, 0.0)
    return t


def identity(model: PermutationModel) -> np.ndarray:
    """The identity rearrangement of ``model`` (all +1 signs, or the original order)."""
    n = model.resid.shape[0]
    return np.ones((1, n)) if model.scheme == "sign_flip" else np.arange(n)[None, :]


def zero_variance(model: PermutationModel) -> np.ndarray:
    """Voxels whose observed t :func:`t_block` sets to 0 (zero residual variance)."""
    _, rss, ss = _fit_block(model, identity(model))
    return ~(rss[0] > 1e-10 * ss)


def ratio_block(model: PermutationModel, ops: np.ndarray):
    """Products and explained fractions of a block, for thresholding without t maps.

    ``t² = df·r / (1 − r)`` with ``r = B_K² / (‖E‖² − Σ_{k<K} B_k²)``, so ``|t|``
    is increasing in ``r`` and ``t > t*`` is ``B_K > 0 and r > t*² / (df + t*²)``.
    Comparing ``r`` with a constant avoids forming the t maps of all voxels.

    Parameters
    ----------
    model : PermutationModel
    ops : ndarray, shape (P, n)
        As for :func:`t_block`.

    Returns
    -------
    last : ndarray, shape (P, V)
        ``B_K`` (its sign is the sign of t); for several tested columns (F), their sum
        of squares, ``r = SS_tested / (‖E‖² − SS_nuisance)`` and
        ``F = df·r / (k (1 − r))``.
    ratio : ndarray, shape (P, V)
        ``r`` in [0, 1); 0 where the residual sum of squares vanishes.
    """
    resid = model.resid
    n_cols = model.basis.shape[1]
    first_tested = n_cols - model.n_tested
    denom = None
    last = None
    for k in model.used_columns:
        col = model.basis[:, k]
        weights = ops * col if model.scheme == "sign_flip" else col[ops]
        prod = weights @ resid
        if k >= first_tested:
            if model.n_tested == 1:
                last = prod
            else:
                prod *= prod
                last = prod if last is None else last + prod
        else:
            if denom is None:
                denom = np.broadcast_to(model.ss, prod.shape).copy()
            prod *= prod
            denom -= prod
    ratio = last * last if model.n_tested == 1 else last.copy()
    if denom is None:
        with np.errstate(divide="ignore"):
            inv = np.where(model.ss > 0, 1.0 / model.ss, 0.0)
        ratio *= inv
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(ratio, denom, out=ratio, where=denom > 1e-10 * model.ss)
        ratio[denom <= 1e-10 * model.ss] = 0.0
    # exact fits (RSS below 1e-10 of the total): t = 0, as in t_block
    if ratio.size and ratio.max() >= 1.0 - 1e-10:
        ratio[ratio >= 1.0 - 1e-10] = 0.0
    return last, ratio


def ratio_to_t(ratio: np.ndarray, df: int, sign=None) -> np.ndarray:
    """``t = sign·sqrt(df·r / (1 − r))`` (see :func:`ratio_block`)."""
    ratio = np.asarray(ratio, dtype=float)
    t = np.sqrt(df * ratio / (1.0 - ratio))
    return t if sign is None else np.where(sign < 0, -t, t)


def ratio_to_f(ratio: np.ndarray, df: int, k: int) -> np.ndarray:
    """``F = df·r / (k (1 − r))`` (see :func:`ratio_block`)."""
    ratio = np.asarray(ratio, dtype=float)
    return df * ratio / (k * (1.0 - ratio))
