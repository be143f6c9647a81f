"""Dual (kernel) solvers for linear models with many more features than rows.

A whole-brain pattern has tens of thousands of voxels and a few hundred images. For the
linear models of :mod:`._linear` (ridge, least squares, ridge classification, L2 logistic
regression, all with an unpenalised intercept) the optimal weights lie in the span of the
centred training rows (representer theorem): ``w = Zcᵀ a`` with ``a`` in the
n-dimensional dual, and every quantity the fit needs is the centred training kernel
``Kc = Zc Zcᵀ`` (n_train x n_train) and the test kernel ``Zc_test Zcᵀ``. So:

* **ridge** (and least squares, α = 0, minimum-norm) has test predictions
  ``ȳ + K_test (Kc + αI)⁻¹ (y - ȳ)``, one product for all permuted targets of a training
  set;
* **L2 logistic regression** ``min C Σ log(1 + exp(-s_i η_i)) + ½‖w‖²`` is solved by
  Newton's method in the dual (:func:`logistic_dual_batch`): each iteration is one
  Cholesky factorisation of an n_train x n_train matrix, whatever the number of voxels,
  and reaches the same optimum as scikit-learn's primal solvers (tested to ``rtol=1e-8``);
* the kernels do not depend on the target: **a kernel is computed once and reused by
  every permutation** (:class:`KernelSource`). Without voxel scaling the centred kernel of
  *any* training set (any fold of any permutation, any bootstrap sample) is a centring of
  one global Gram matrix ``G = X Xᵀ`` computed once; confound regression inside the fold
  is applied to ``G`` too. With a StandardScaler (or any other label-free step that must
  be refitted per training set) the kernel of each distinct training set is computed from
  the data once and cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.special import expit

__all__: list[str] = []

#: Logistic problems solved per batch (memory ~ batch x n_train² x 8 B x 3).
LOGISTIC_BATCH = 128

#: Voxels per block when a Gram matrix is accumulated from the data.
VOXEL_BLOCK = 8192


# -- centred kernels ------------------------------------------------------------------------
def gram(X: np.ndarray, rows: np.ndarray | None = None, cols: np.ndarray | None = None,
         weights: np.ndarray | None = None, center: np.ndarray | None = None) -> np.ndarray:
    """``(X[rows] - c) diag(weights) (X[cols] - c)ᵀ`` accumulated over blocks of columns.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, p)
    rows, cols : numpy.ndarray of int, optional
        Row indices (default all).
    weights : numpy.ndarray of shape (p,), optional
        Column weights (default 1).
    center : numpy.ndarray of shape (p,), optional
        Subtracted from every row first (default 0).

    Returns
    -------
    numpy.ndarray of shape (len(rows), len(cols))
    """
    rows = np.arange(X.shape[0]) if rows is None else rows
    cols = rows if cols is None else cols
    out = np.zeros((rows.size, cols.size))
    for start in range(0, X.shape[1], VOXEL_BLOCK):
        sl = slice(start, start + VOXEL_BLOCK)
        a = np.asarray(X[rows, sl], dtype=float)
        b = np.asarray(X[cols, sl], dtype=float)
        if center is not None:
            a = a - center[sl]
            b = b - center[sl]
        if weights is not None:
            a = a * weights[sl]
        out += a @ b.T
    return out


def center_kernel(M: np.ndarray, n_train: int) -> np.ndarray:
    """Centre the kernel ``M[i, j] = zᵢ · z_j`` (rows: training then test; columns: training)
    on the training mean: ``(zᵢ - z̄)·(z_j - z̄)``."""
    m = M.mean(axis=1)
    s = m[:n_train].mean()
    return M - m[:, None] - m[None, :n_train] + s


def residual_kernel(M: np.ndarray, Cfull: np.ndarray, n_train: int) -> np.ndarray:
    """Kernel of the rows after regressing ``[1 C]`` out of every feature on the training rows.

    ``M`` is ``Z Z_trᵀ`` (rows: training then test), ``Cfull`` the confounds of the same rows
    with an intercept column. The residualised features are ``Z - P Z_tr`` with
    ``P = C̃ C̃_tr⁺`` (what :class:`~painmarkers.prediction.ConfoundRegressor` computes), so
    their kernel is ``(M - P M_tr) (I - H)`` with ``H = P[:n_train]``.
    """
    Ctr = Cfull[:n_train]
    P = Cfull @ np.linalg.pinv(Ctr)
    H = P[:n_train]
    R = M - P @ M[:n_train]
    return R - R @ H.T


class KernelSource:
    """Centred kernels of any training set, computed once and cached.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, p)
        The rows (voxel values) of the analysis.
    prefix : list
        Label-free steps fitted per training set (unfitted templates); the identity masker
        is dropped by the caller. Empty, or a single ConfoundRegressor: the *global* mode
        (one Gram matrix). Anything else: the *data* mode.
    scale : bool
        Standardise the features on the training rows (data mode).
    metadata : mapping, optional
        Per-row side information (``confounds``).
    max_cached : int, default=512
        Kernels of distinct training sets kept (data mode).
    """

    def __init__(self, X: np.ndarray, prefix: list, scale: bool,
                 metadata: Mapping[str, np.ndarray] | None = None, max_cached: int = 512):
        from painmarkers.prediction.pipelines import ConfoundRegressor

        self.X = X
        self.prefix = list(prefix)
        self.scale = bool(scale)
        self.metadata = dict(metadata or {})
        confound_only = all(type(s) is ConfoundRegressor and s.confound_columns is None
                            for s in self.prefix) and len(self.prefix) <= 1
        self.mode = "global" if (confound_only and not self.scale) else "data"
        self.confounds = None
        if self.mode == "global" and self.prefix:
            conf = self.metadata.get("confounds")
            conf = np.empty((X.shape[0], 0)) if conf is None else np.asarray(conf, float)
            conf = conf.reshape(X.shape[0], -1)
            self.confounds = np.column_stack([np.ones(X.shape[0]), conf])
        self._G: np.ndarray | None = None
        self._center: np.ndarray | None = None
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._max = max_cached
        self.n_kernels = 0   # data-mode kernels computed (for tests and benchmarks)

    # global mode ---------------------------------------------------------------------------
    @property
    def G(self) -> np.ndarray:
        """Gram matrix of all rows, about the mean row (computed on first use)."""
        if self._G is None:
            self._center = self.X.mean(axis=0)
            self._G = gram(self.X, center=self._center)
            self.n_kernels += 1
        return self._G

    def _check_confounds(self, train: np.ndarray) -> None:
        from painmarkers.exceptions import DataError, DesignError

        C = self.confounds[train]
        n, k = C.shape
        if n <= k:
            raise DataError(f"ConfoundRegressor needs more than {k} training rows to fit "
                            f"{k - 1} confound(s) and an intercept; got n_samples={n}.")
        if np.linalg.matrix_rank(C) < k:
            raise DesignError(f"The confounds are collinear or constant in the training data "
                              f"({n} rows, {k - 1} confound(s)); drop a redundant confound.")

    # data mode -----------------------------------------------------------------------------
    def _features(self, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features of all rows after the prefix fitted on ``train`` (and their scale)."""
        import sklearn
        from sklearn.base import clone
        from sklearn.pipeline import make_pipeline

        from painmarkers.prediction._linear import scale_stats

        X = self.X
        if self.prefix:
            pre = make_pipeline(*[clone(s) for s in self.prefix])
            with sklearn.config_context(enable_metadata_routing=True):
                used = pre.get_metadata_routing().consumes("fit", list(self.metadata))
                meta = {k: v for k, v in self.metadata.items() if k in used}
                pre.fit(X[train], **{k: v[train] for k, v in meta.items()})
                Z = np.asarray(pre.transform(X, **meta), dtype=float)
        else:
            Z = X
        if self.scale:
            mean, sd = scale_stats(np.asarray(Z[train], dtype=float))
            weights = 1.0 / sd
        else:
            mean, weights = np.asarray(Z[train], dtype=float).mean(axis=0), None
        return Z, (mean, weights)

    def blocks(self, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centred kernels ``(K_train (n_tr, n_tr), K_test (n_te, n_tr))`` of a training set.

        ``train`` may repeat rows (a bootstrap sample): the fit then sees the duplicates, as
        a scikit-learn fit on ``X[train]`` would.
        """
        train = np.asarray(train)
        test = np.asarray(test)
        idx = np.concatenate([train, test])
        n_tr = train.size
        if self.mode == "global":
            M = self.G[np.ix_(idx, train)]
            if self.confounds is not None:
                self._check_confounds(train)
                K = residual_kernel(M, self.confounds[idx], n_tr)
            else:
                K = center_kernel(M, n_tr)
            return K[:n_tr], K[n_tr:]
        key = train.tobytes()
        full = self._cache.get(key)
        if full is None:
            Z, (mean, scale) = self._features(train)
            weights = None if scale is None else scale**2
            full = gram(Z, np.arange(Z.shape[0]), train, weights=weights, center=mean)
            self.n_kernels += 1
            self._cache[key] = full
            if len(self._cache) > self._max:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return full[train], full[test]

    def dual_weights(self, train: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Weights in the model's input space, ``w = Zcᵀ a``, of dual coefficients ``a``.

        Global mode: ``Zc = (I - H) X_train`` (confounds) or ``X_train - x̄``; data mode:
        the prefix-transformed, centred (and scaled: ``w`` is then for the *scaled*
        features) training rows.
        """
        train = np.asarray(train)
        if self.mode == "global":
            a_eff = np.asarray(a, float)
            if self.confounds is not None:
                Ctr = self.confounds[train]
                H = Ctr @ np.linalg.pinv(Ctr)
                a_eff = a_eff - H.T @ a_eff
            else:
                a_eff = a_eff - a_eff.mean()
            return _accumulate(self.X, train, a_eff)
        Z, (mean, scale) = self._features(train)
        w = _accumulate(Z, train, a) - mean * np.sum(a)
        return w if scale is None else w * scale


def _accumulate(X: np.ndarray, rows: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``X[rows]ᵀ a`` without copying ``X[rows]`` (repeated rows add up)."""
    counts = np.zeros(X.shape[0])
    np.add.at(counts, rows, a)
    return np.asarray(X.T @ counts, dtype=float)


# -- ridge ------------------------------------------------------------------------------------
def ridge_dual(Ktr: np.ndarray, Kte: np.ndarray, Y: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge predictions at the test rows for each column of ``Y`` (centred kernels).

    ``ŷ = ȳ + K_test (K_train + αI)⁻¹ (y - ȳ)``; α = 0 gives the minimum-norm least-squares
    fit (pseudo-inverse), as :class:`~sklearn.linear_model.LinearRegression`.

    Parameters
    ----------
    Ktr : numpy.ndarray of shape (n_train, n_train)
    Kte : numpy.ndarray of shape (n_test, n_train)
    Y : numpy.ndarray of shape (n_train,) or (n_train, B)
    alpha : float

    Returns
    -------
    numpy.ndarray of shape (n_test,) or (n_test, B)
    """
    ybar = Y.mean(axis=0)
    Yc = Y - ybar
    return ybar + Kte @ dual_coef(Ktr, Yc, alpha)


def dual_coef(Ktr: np.ndarray, Yc: np.ndarray, alpha: float) -> np.ndarray:
    """``(K + αI)⁻¹ Yc`` (α > 0, Cholesky) or ``K⁺ Yc`` (α = 0)."""
    if alpha > 0:
        return cho_solve(cho_factor(Ktr + alpha * np.eye(Ktr.shape[0])), Yc)
    return np.linalg.pinv(Ktr, hermitian=True) @ Yc


def ridge_dual_batch(Ktr: np.ndarray, Kte: np.ndarray, w: np.ndarray, y: np.ndarray,
                     alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge fits of a batch of problems with their own (padded) kernels.

    Parameters
    ----------
    Ktr : numpy.ndarray of shape (b, n, n)
        Centred training kernels, zero in padded rows and columns.
    Kte : numpy.ndarray of shape (b, m, n)
    w : numpy.ndarray of shape (b, n)
        1 for a training row, 0 for padding.
    y : numpy.ndarray of shape (b, n)
    alpha : float

    Returns
    -------
    pred : numpy.ndarray of shape (b, m)
    a : numpy.ndarray of shape (b, n)
        Dual coefficients.
    intercept : numpy.ndarray of shape (b,)
        ``ȳ`` (the kernels are centred).
    """
    n_tr = w.sum(axis=1)
    ybar = (w * y).sum(axis=1) / n_tr
    yc = (y - ybar[:, None]) * w
    if alpha > 0:
        A = Ktr + alpha * np.eye(Ktr.shape[1])
        A = A + (1.0 - w)[:, :, None] * np.eye(Ktr.shape[1])  # padding: identity rows
        a = np.linalg.solve(A, yc[..., None])[..., 0]
    else:
        a = (np.linalg.pinv(Ktr, hermitian=True) @ yc[..., None])[..., 0]
    a *= w
    pred = ybar[:, None] + (Kte @ a[..., None])[..., 0]
    return pred, a, ybar


# -- L2 logistic regression in the dual ---------------------------------------------------------
def _dual_objective(eta, y, w, a, Ka, C):
    loss = np.logaddexp(0.0, eta) - y * eta
    return C * (w * loss).sum(axis=1) + 0.5 * (a * Ka).sum(axis=1)


def _warm_start(K: np.ndarray, w: np.ndarray, y: np.ndarray, C: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """A starting point on the ray of the near-interpolating ridge fit to ±1.

    ``d = (K + δI)⁻¹ s`` with ``s = ±1`` (δ = 10⁻³ mean diag K), then the step ``t``
    minimising the objective along ``a = t d`` (``c = 0``), by a few 1-D Newton steps.
    With far more features than rows the optimum has nearly equal margins, and this
    start is close to it: Newton's method then needs a handful of iterations instead of
    walking out from 0 one unit of margin per step.
    """
    b, n, _ = K.shape
    sgn = (2.0 * y - 1.0) * w
    ridge = 1e-3 * np.maximum(np.einsum("bii->b", K) / np.maximum(w.sum(axis=1), 1), 1e-300)
    A = K + ridge[:, None, None] * np.eye(n) + (1.0 - w)[:, :, None] * np.eye(n)
    d = np.linalg.solve(A, sgn[..., None])[..., 0] * w
    Kd = np.einsum("bij,bj->bi", K, d)
    q = (d * Kd).sum(axis=1)
    t = np.zeros(b)
    for _ in range(50):
        p = expit(t[:, None] * Kd)
        f1 = C * (w * (p - y) * Kd).sum(axis=1) + t * q
        f2 = C * (w * p * (1 - p) * Kd**2).sum(axis=1) + q
        step = np.where(f2 > 0, f1 / np.where(f2 > 0, f2, 1.0), 0.0)
        t = np.maximum(t - step, 0.5 * t)
        if np.all(np.abs(step) <= 1e-8 * (1.0 + np.abs(t))):
            break
    return t[:, None] * d, t[:, None] * Kd


def logistic_dual_batch(K: np.ndarray, w: np.ndarray, y: np.ndarray, C: float, *,
                        max_iter: int = 100, tol: float = 1e-11
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L2 logistic regressions with unpenalised intercepts, by Newton's method in the dual.

    Parameters
    ----------
    K : numpy.ndarray of shape (b, n, n)
        Training kernels (centred or not; padded rows and columns zero).
    w : numpy.ndarray of shape (b, n)
        1 for a training row, 0 for padding.
    y : numpy.ndarray of shape (b, n)
        0/1 targets.
    C : float
        Inverse penalty: minimises ``C Σ w_i logloss_i + ½ ‖coef‖²``.
    max_iter : int, default=100
    tol : float, default=1e-11
        Converged when the Newton step changes no training decision value by more than
        ``tol (1 + max|η|)``, or when a full (undamped) step changed none by more than
        ``1e-7 (1 + max|η|)``: the error after such a step is of the order of its square.

    Returns
    -------
    a : numpy.ndarray of shape (b, n)
        Dual coefficients: the weights are ``Zᵀ a``.
    intercept : numpy.ndarray of shape (b,)
    n_iter : numpy.ndarray of shape (b,)

    Notes
    -----
    With ``w = Zᵀ a`` and ``η = K a + c`` the objective is
    ``J(a, c) = C Σ ℓ(η_i, y_i) + ½ aᵀ K a``; its gradient is ``(K (C r + a), C 1ᵀ r)``
    with ``r = p - y``. Dividing the first block of the Newton system by ``K`` (exact
    whenever ``K`` is invertible, and a valid Newton step in the span of ``K`` otherwise)
    and writing ``S = diag(sqrt(C p (1 - p)))``, ``B = I + S K S`` (symmetric positive
    definite), ``g = C r + a``, ``v = S 1``, the step is

    * ``ũ = B⁻¹ (-S K g + v Δc)`` with ``Δc = (-C 1ᵀ r - vᵀ B⁻¹ S K g) / (vᵀ B⁻¹ v)``,
    * ``Δa = -g - S ũ``,

    one Cholesky factorisation of ``B`` per iteration and no division by the weights
    ``p (1 - p)``, which vanish for confidently classified rows. Steps are halved
    (Armijo) while the objective does not decrease enough. The objective is strictly
    convex in the decision values, so the iterates reach the unique optimum, the one
    scikit-learn's primal solvers find (representer theorem).
    """
    b, n, _ = K.shape
    a, Ka = _warm_start(K, w, y, C)
    c = np.zeros(b)
    n_iter = np.zeros(b, dtype=int)
    active = np.arange(b)
    diag = np.arange(n)
    for it in range(max_iter):
        if active.size == 0:
            break
        whole = active.size == b
        Kx = K if whole else K[active]
        wa, ya = (w, y) if whole else (w[active], y[active])
        aa, ca, Kaa = a[active], c[active], Ka[active]
        eta = Kaa + ca[:, None]
        p = expit(eta)
        r = wa * (p - ya)
        g = C * r + aa
        s = np.sqrt(C * wa * p * (1.0 - p))
        B = np.multiply(Kx, s[:, :, None])
        B *= s[:, None, :]
        B[:, diag, diag] += 1.0
        Kg = np.einsum("bij,bj->bi", Kx, g)
        rhs = np.stack([-s * Kg, s], axis=2)            # (b, n, 2)
        sol = np.linalg.solve(B, rhs)   # B is symmetric positive definite
        del B
        x1, xv = sol[..., 0], sol[..., 1]
        denom = (s * xv).sum(axis=1)
        sum_r = r.sum(axis=1)
        dc = np.where(denom > 0, (-C * sum_r - (s * x1).sum(axis=1))
                      / np.where(denom > 0, denom, 1.0), 0.0)
        u = x1 + xv * dc[:, None]
        da = -g - s * u
        da *= wa
        Kda = np.einsum("bij,bj->bi", Kx, da)
        f0 = _dual_objective(eta, ya, wa, aa, Kaa, C)
        slope = (Kg * da).sum(axis=1) + C * sum_r * dc
        slack = 1e-13 * (1.0 + np.abs(f0))
        t = np.ones(active.size)
        for _ in range(60):
            na = aa + t[:, None] * da
            nKa = Kaa + t[:, None] * Kda
            nc = ca + t * dc
            f1 = _dual_objective(nKa + nc[:, None], ya, wa, na, nKa, C)
            bad = f1 > f0 + 1e-4 * t * slope + slack
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
        a[active] = na
        c[active] = nc
        Ka[active] = nKa
        n_iter[active] = it + 1
        change = np.abs(t[:, None] * (Kda + dc[:, None]) * wa).max(axis=1)
        scale = 1.0 + np.abs(eta * wa).max(axis=1)
        # a full Newton step this small lands within ~its square of the optimum
        # (quadratic convergence): stop without a confirming iteration
        done = ((change <= tol * scale) | ((t == 1.0) & (change <= 1e-7 * scale))
                | (slope > -1e-30 * (1.0 + np.abs(f0))))
        active = active[~done]
    return a, c, n_iter
