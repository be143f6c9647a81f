"""Closed-form and batched solvers for the pipelines whose last step is a linear model.

The permutation test refits the whole pipeline thousands of times. When that pipeline
is "label-free transformers, then a ridge / least-squares / L2-logistic model", the
refits can be done without scikit-learn's per-fit overhead and, for ridge, without
refitting at all:

* every step before the model (:class:`~sklearn.preprocessing.StandardScaler`,
  :class:`~painmarkers.prediction.ConfoundRegressor`,
  :class:`~painmarkers.prediction.ComBat`, PCA, ...) is fitted on the training rows'
  features and side information only, never on the target, so for a given training
  set its output is the same whatever the (permuted) target: it is computed once per
  training set (:func:`recognise` decides which steps qualify: the classes in
  :data:`LABEL_FREE`, which a voxel-pattern masker can join with
  :func:`register_label_free`);
* a trailing StandardScaler is applied analytically (training mean and SD, a constant
  feature scaled by 1, as scikit-learn does);
* ridge regression is linear in y: for training features ``Z`` (standardised,
  centred on the training mean ``z̄``) the test predictions are
  ``ŷ = ȳ + (Z_test - z̄) (Zc' Zc + αI)⁻¹ Zc' (y - ȳ)``, one matrix product for all
  permuted targets of a training set at once (the dual form
  ``Zc' (Zc Zc' + αI)⁻¹`` when features outnumber training rows; α = 0 is
  least squares with the minimum-norm solution, as ``LinearRegression``);
* L2 logistic regression, ``min C Σ log(1 + exp(-s_i η_i)) + ½‖w‖²`` with an
  unpenalised intercept (scikit-learn's objective for every solver but liblinear), is
  solved by damped Newton iterations run on a whole batch of problems at once
  (stacked Hessians, one batched solve per iteration), to full precision.

The numbers equal scikit-learn's fits of the same pipeline (tested to ``rtol=1e-8``
against Ridge, LinearRegression and LogisticRegression solved to a tight tolerance).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, RidgeClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

__all__: list[str] = []

#: Transformer classes whose ``fit`` never looks at the target (see the module docstring).
LABEL_FREE: list[type] = [StandardScaler]

#: A LogisticRegression takes the fast route only when scikit-learn would solve it this
#: tightly (its default 1e-4 leaves probabilities off by up to several per cent in
#: near-separable folds; at 1e-10 scikit-learn and the batched Newton agree to ~1e-8).
LOGISTIC_TOL = 1e-10

#: Features (after the label-free steps) up to which the batched Newton route is used.
LOGISTIC_MAX_FEATURES = 200

#: Solvers of LogisticRegression whose objective is the one solved here (liblinear
#: penalises the intercept).
_LOGISTIC_SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga")


def register_label_free(cls: type) -> None:
    """Declare that ``cls.fit`` ignores the target, so its output can be reused across
    permutations of the target for a fixed training set (e.g. a voxel masker)."""
    if cls not in LABEL_FREE:
        LABEL_FREE.append(cls)


_defaults_registered = False


def _register_defaults() -> None:
    global _defaults_registered
    if _defaults_registered:
        return
    _defaults_registered = True
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler

    from painmarkers.prediction._masker import VoxelMasker
    from painmarkers.prediction.pipelines import ComBat, ConfoundRegressor

    for cls in (ComBat, ConfoundRegressor, PCA, VarianceThreshold, SimpleImputer,
                MaxAbsScaler, MinMaxScaler, RobustScaler, VoxelMasker):
        register_label_free(cls)


def _flatten(est: Any) -> Iterator[Any]:
    if isinstance(est, Pipeline):
        for _, step in est.steps:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue
            yield from _flatten(step)
    else:
        yield est


@dataclass(frozen=True)
class Plan:
    """How to refit a recognised pipeline fast.

    Attributes
    ----------
    prefix : list
        Label-free steps fitted with scikit-learn once per training set (unfitted
        templates; cloned for each training set).
    scale : bool
        A trailing StandardScaler (with_std) is applied analytically.
    kind : {"ridge", "ridge_classifier", "logistic"}
        The final model (``"ridge_classifier"``: ridge on ±1 targets, decision values).
    alpha : float
        Ridge penalty (0: least squares); for logistic the inverse ``C``.
    """

    prefix: list
    scale: bool
    kind: str
    alpha: float

    @property
    def linear_in_y(self) -> bool:
        """Test predictions are a fixed linear map of the training targets."""
        return self.kind in ("ridge", "ridge_classifier")

    @property
    def is_proba(self) -> bool:
        """The scores are probabilities (logistic), not decision values."""
        return self.kind == "logistic"

    def target(self, y: np.ndarray) -> np.ndarray:
        """The regression target of the model: ``y``, or ±1 for a RidgeClassifier."""
        y = np.asarray(y, dtype=float)
        return 2.0 * y - 1.0 if self.kind == "ridge_classifier" else y


def _final(est: Any, task: str) -> tuple[str, float] | None:
    if task == "regression" and type(est) is Ridge:
        p = est.get_params()
        alpha = np.asarray(p["alpha"], dtype=float)
        if (alpha.ndim == 0 and alpha >= 0 and p["fit_intercept"] and not p["positive"]
                and p["solver"] in ("auto", "cholesky", "svd")):
            return "ridge", float(alpha)
    if task == "regression" and type(est) is LinearRegression:
        p = est.get_params()
        if p["fit_intercept"] and not p["positive"]:
            return "ridge", 0.0
    if task == "classification" and type(est) is RidgeClassifier:
        p = est.get_params()
        alpha = np.asarray(p["alpha"], dtype=float)
        if (alpha.ndim == 0 and alpha >= 0 and p["fit_intercept"] and not p["positive"]
                and p["class_weight"] is None and p["solver"] in ("auto", "cholesky", "svd")):
            return "ridge_classifier", float(alpha)
    if task == "classification" and type(est) is LogisticRegression:
        p = est.get_params()
        l2 = (p.get("penalty", "l2") in ("l2", "deprecated")
              and p.get("l1_ratio") in (None, 0, 0.0))
        c = float(p["C"])
        if (l2 and np.isfinite(c) and c > 0 and p["fit_intercept"]
                and p["class_weight"] is None and p["solver"] in _LOGISTIC_SOLVERS
                and float(p["tol"]) <= LOGISTIC_TOL):
            return "logistic", 1.0 / c
    return None


def recognise(pipe: Any, task: str) -> Plan | None:
    """The fast :class:`Plan` of ``pipe``, or None when it must be fitted generically.

    ``pipe`` qualifies when its (flattened) steps are label-free transformers followed
    by ``Ridge`` (solver auto/cholesky/svd), ``LinearRegression`` (regression), an L2
    ``LogisticRegression`` with an unpenalised intercept and no class weights or a
    ``RidgeClassifier`` (solver auto/cholesky/svd, no class weights; classification),
    all with their default intercepts. Anything else (feature
    selection on the target, hyperparameter searches, other models) is fitted by
    scikit-learn as given.
    """
    _register_defaults()
    steps = list(_flatten(pipe))
    if not steps:
        return None
    final = _final(steps[-1], task)
    if final is None:
        return None
    chain = steps[:-1]
    if not all(type(s) in LABEL_FREE for s in chain):
        return None
    scale = False
    if chain and type(chain[-1]) is StandardScaler:
        sc = chain[-1]
        scale = bool(sc.with_std)
        chain = chain[:-1]   # centring is absorbed by the unpenalised intercept
    return Plan(prefix=[clone(s) for s in chain], scale=scale, kind=final[0],
                alpha=final[1])


# -- standardisation ------------------------------------------------------------------------
def scale_stats(Z: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and StandardScaler scale of the rows of ``Z`` (weights 0/1 per row if given).

    ``Z`` is (n, q) or (b, n, q); the scale is the SD (ddof 0), 1 for a feature
    indistinguishable from a constant (scikit-learn's bound
    ``var <= n eps var + (n mean eps)²``).
    """
    if w is None:
        n = Z.shape[-2]
        mean = Z.mean(axis=-2)
        var = ((Z - mean[..., None, :]) ** 2).mean(axis=-2)
        n = np.asarray(float(n))
    else:
        n = w.sum(axis=-1)
        mean = (w[..., None] * Z).sum(axis=-2) / n[..., None]
        var = (w[..., None] * (Z - mean[..., None, :]) ** 2).sum(axis=-2) / n[..., None]
        n = n[..., None]
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant] = 1.0
    return mean, scale


# -- ridge ----------------------------------------------------------------------------------
def ridge_predict_many(Ztr: np.ndarray, Zte: np.ndarray, Ytr: np.ndarray, alpha: float,
                       scale: bool) -> np.ndarray:
    """Ridge (with intercept) fitted on (Ztr, each column of Ytr), predicted at Zte.

    Parameters
    ----------
    Ztr : numpy.ndarray of shape (n_train, q)
    Zte : numpy.ndarray of shape (n_test, q)
    Ytr : numpy.ndarray of shape (n_train, B)
        B target vectors sharing the training set.
    alpha : float
        Penalty; 0 gives the minimum-norm least-squares fit.
    scale : bool
        Standardise the features on the training rows first.

    Returns
    -------
    numpy.ndarray of shape (n_test, B)
    """
    if scale:
        m, s = scale_stats(Ztr)
        Ztr = (Ztr - m) / s
        Zte = (Zte - m) / s
    zbar = Ztr.mean(axis=0)
    Zc = Ztr - zbar
    ybar = Ytr.mean(axis=0)
    Yc = Ytr - ybar
    n, q = Zc.shape
    if alpha == 0:
        coef = np.linalg.lstsq(Zc, Yc, rcond=None)[0]
    elif q <= n:
        coef = np.linalg.solve(Zc.T @ Zc + alpha * np.eye(q), Zc.T @ Yc)
    else:   # dual (kernel) form when features outnumber rows
        coef = Zc.T @ np.linalg.solve(Zc @ Zc.T + alpha * np.eye(n), Yc)
    return ybar + (Zte - zbar) @ coef


def ridge_predict_batch(Ztr: np.ndarray, w: np.ndarray, Zte: np.ndarray, ytr: np.ndarray,
                        alpha: float, scale: bool) -> np.ndarray:
    """Ridge fitted on each of a batch of problems with their own features.

    Parameters
    ----------
    Ztr : numpy.ndarray of shape (b, n, q)
        Training features, padded rows anywhere (weight 0).
    w : numpy.ndarray of shape (b, n)
        1 for a training row, 0 for padding.
    Zte : numpy.ndarray of shape (b, m, q)
        Test features (padded rows give predictions that are ignored).
    ytr : numpy.ndarray of shape (b, n)
    alpha : float
    scale : bool

    Returns
    -------
    numpy.ndarray of shape (b, m)
    """
    if scale:
        m, s = scale_stats(Ztr, w)
        Ztr = (Ztr - m[:, None]) / s[:, None]
        Zte = (Zte - m[:, None]) / s[:, None]
    n = w.sum(axis=1)
    zbar = (w[..., None] * Ztr).sum(axis=1) / n[:, None]
    Zc = (Ztr - zbar[:, None]) * w[..., None]
    ybar = (w * ytr).sum(axis=1) / n
    yc = (ytr - ybar[:, None]) * w
    q = Zc.shape[2]
    gram = Zc.transpose(0, 2, 1) @ Zc
    rhs = (Zc.transpose(0, 2, 1) @ yc[..., None])[..., 0]
    if alpha == 0:
        coef = (np.linalg.pinv(gram, hermitian=True) @ rhs[..., None])[..., 0]
    else:
        coef = np.linalg.solve(gram + alpha * np.eye(q), rhs[..., None])[..., 0]
    return ybar[:, None] + ((Zte - zbar[:, None]) @ coef[..., None])[..., 0]


# -- L2 logistic regression -------------------------------------------------------------------
def _logistic_objective(eta, y, w, beta, C):
    loss = np.logaddexp(0.0, eta) - y * eta
    return C * (w * loss).sum(axis=1) + 0.5 * (beta[:, 1:] ** 2).sum(axis=1)


def logistic_fit_batch(Z: np.ndarray, w: np.ndarray, y: np.ndarray, C: float, *,
                       max_iter: int = 100, tol: float = 1e-12) -> np.ndarray:
    """L2-penalised logistic regressions with unpenalised intercepts, by damped Newton.

    Parameters
    ----------
    Z : numpy.ndarray of shape (b, n, q)
        Features of each problem (rows with weight 0 are padding).
    w : numpy.ndarray of shape (b, n)
        Row weights (1 train, 0 padding).
    y : numpy.ndarray of shape (b, n)
        0/1 targets.
    C : float
        Inverse penalty: minimises ``C Σ w_i logloss_i + ½ ‖coef‖²``.
    max_iter : int, default=100
    tol : float, default=1e-12
        A problem has converged when its Newton step is below ``tol (1 + max|β|)``.

    Returns
    -------
    numpy.ndarray of shape (b, q + 1)
        Intercept, then coefficients.

    Notes
    -----
    Newton steps from β = 0, halved (Armijo backtracking) while the objective does not
    decrease by a 1e-4 fraction of the predicted amount, up to rounding of the objective
    (1e-13 relative); the objective is strictly convex when both classes are present, so
    the iterates converge quadratically to the unique optimum.
    """
    b, n, q = Z.shape
    A = np.concatenate([np.ones((b, n, 1)), Z], axis=2)
    beta = np.zeros((b, q + 1))
    diag = np.arange(1, q + 1)
    active = np.arange(b)
    for _ in range(max_iter):
        if active.size == 0:
            break
        Aa, ya, wa, ba = A[active], y[active], w[active], beta[active]
        eta = (Aa @ ba[..., None])[..., 0]
        p = expit(eta)
        grad = C * (Aa.transpose(0, 2, 1) @ (wa * (p - ya))[..., None])[..., 0]
        grad[:, 1:] += ba[:, 1:]
        hw = wa * p * (1.0 - p)
        hess = C * ((Aa * hw[..., None]).transpose(0, 2, 1) @ Aa)
        hess[:, diag, diag] += 1.0
        try:
            step = -np.linalg.solve(hess, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            # a problem whose probabilities all reached 0 or 1 (one class in its training
            # rows, e.g. a permuted label vector) has no curvature left in the intercept:
            # the minimum-norm Newton step for the batch (its score is then constant)
            step = -(np.linalg.pinv(hess, hermitian=True) @ grad[..., None])[..., 0]
        f0 = _logistic_objective(eta, ya, wa, ba, C)
        slope = (grad * step).sum(axis=1)
        slack = 1e-13 * (1.0 + np.abs(f0))
        t = np.ones(active.size)
        new = ba + step
        for _ in range(60):   # backtracking where the step does not descend enough
            f1 = _logistic_objective((Aa @ new[..., None])[..., 0], ya, wa, new, C)
            bad = f1 > f0 + 1e-4 * t * slope + slack
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
            new = ba + t[:, None] * step
        beta[active] = new
        done = np.abs(step).max(axis=1) <= tol * (1.0 + np.abs(new).max(axis=1))
        active = active[~done]
    return beta


def logistic_proba(Z: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """P(y = 1) of rows ``Z`` (b, m, q) under coefficients ``beta`` (b, q + 1)."""
    eta = beta[:, :1] + (Z @ beta[:, 1:, None])[..., 0]
    return expit(eta)
