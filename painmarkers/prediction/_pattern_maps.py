"""Stage 6 of evaluate_pattern: the final model, its voxel weights and their maps.

* :func:`fit_final` refits the pipeline on every row (L2 logistic regressions with more
  features than rows are solved exactly in the dual and their coefficients set on the
  scikit-learn estimator);
* :func:`linear_map` composes the fitted steps (masker, confound regression, scaling,
  selection, PCA, linear model) into one affine map of the voxel values,
  ``decision = X w + b + confounds · g``;
* :func:`bootstrap_weights` refits on subject bootstrap samples and gives the CANlab
  maps ``z = mean / SD`` of the weights, two-sided normal p and Benjamini-Hochberg q;
* :func:`haufe_pattern` gives the activation pattern of Haufe et al. (2014),
  ``A = cov(X, s) / var(s)`` with ``s`` the decision values, without the p x p
  covariance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sklearn
from scipy import stats
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from painmarkers._threads import single_blas_thread
from painmarkers.prediction import _kernel, _kernel_cv, _linear
from painmarkers.prediction._progress import progress_bar

__all__: list[str] = []


# -- the final model ----------------------------------------------------------------------------
def _fit_prefix(pipe: Pipeline, X, y, metadata) -> np.ndarray:
    """Fit the steps before the model (in place) and return their output."""
    prefix = Pipeline(pipe.steps[:-1])
    with sklearn.config_context(enable_metadata_routing=True):
        return np.asarray(prefix.fit_transform(X, y, **dict(metadata or {})), dtype=float)


def fit_final(pipe: Pipeline, X: np.ndarray, y: np.ndarray, task: str,
              metadata: Mapping[str, np.ndarray] | None = None) -> Pipeline:
    """A clone of ``pipe`` fitted on every row.

    An L2 logistic regression whose input has more features than rows is solved in the
    dual (:func:`painmarkers.prediction._kernel.logistic_dual_batch`, the optimum of
    scikit-learn's objective) and its ``coef_``/``intercept_`` are set on the
    ``LogisticRegression`` step; everything else is fitted by scikit-learn.
    """
    fitted = clone(pipe)
    plan = _linear.recognise(fitted, task)
    model = fitted.steps[-1][1]
    if plan is not None and plan.kind == "logistic":
        Z = _fit_prefix(fitted, X, y, metadata) if len(fitted.steps) > 1 else X
        if Z.shape[1] > Z.shape[0]:
            mean = Z.mean(axis=0)
            K = _kernel.gram(Z, center=mean)
            a, c, n_iter = _kernel.logistic_dual_batch(
                K[None], np.ones((1, Z.shape[0])), np.asarray(y, float)[None], 1.0 / plan.alpha)
            w = _kernel._accumulate(Z, np.arange(Z.shape[0]), a[0] - a[0].mean())
            model.coef_ = w[None, :]
            model.intercept_ = np.array([c[0] - mean @ w])
            model.classes_ = np.array([0, 1])
            model.n_features_in_ = Z.shape[1]
            model.n_iter_ = np.array([int(n_iter[0])], dtype=np.int32)
            return fitted
        with sklearn.config_context(enable_metadata_routing=True):
            model.fit(Z, y)
        return fitted
    with sklearn.config_context(enable_metadata_routing=True):
        fitted.fit(X, y, **dict(metadata or {}))
    return fitted


def lasso_from_search(fitted: Pipeline) -> Pipeline:
    """Replace a fitted ``LassoCV`` by the equivalent fitted ``Lasso(alpha=alpha_)``."""
    from sklearn.linear_model import Lasso, LassoCV

    name, model = fitted.steps[-1]
    if type(model) is not LassoCV:
        return fitted
    lasso = Lasso(alpha=float(model.alpha_), fit_intercept=model.fit_intercept,
                  max_iter=model.max_iter, tol=model.tol, selection=model.selection,
                  random_state=model.random_state)
    lasso.coef_ = model.coef_.copy()
    lasso.intercept_ = float(model.intercept_)
    lasso.n_features_in_ = model.n_features_in_
    lasso.n_iter_ = model.n_iter_
    lasso.dual_gap_ = model.dual_gap_
    return Pipeline([*fitted.steps[:-1], (name, lasso)])


# -- the affine map of a fitted pipeline ----------------------------------------------------------
@dataclass(frozen=True)
class LinearMap:
    """``decision = X w + intercept + confounds · confound_coef`` in voxel space."""

    weights: np.ndarray
    intercept: float
    confound_coef: np.ndarray


def _coef(model) -> tuple[np.ndarray, float]:
    coef = getattr(model, "coef_", None)
    if coef is None and hasattr(model, "best_estimator_"):
        return _coef(model.best_estimator_)
    if coef is None:
        raise TypeError(f"A voxel-pattern model must be linear (have coef_ once fitted); "
                        f"{type(model).__name__} has none.")
    coef = np.asarray(coef, dtype=float)
    if coef.ndim == 2:
        if coef.shape[0] != 1:
            raise TypeError(f"{type(model).__name__} has {coef.shape[0]} rows of coef_; a "
                            "voxel pattern needs one (a binary or single-output model).")
        coef = coef[0]
    intercept = np.asarray(getattr(model, "intercept_", 0.0), dtype=float).ravel()
    return coef, float(intercept[0]) if intercept.size else 0.0


def linear_map(fitted: Pipeline) -> LinearMap:
    """Compose the fitted steps of ``fitted`` into one affine map of the masker's output.

    Parameters
    ----------
    fitted : Pipeline
        Steps: a masker (identity on its voxels), then any of ConfoundRegressor,
        StandardScaler, VarianceThreshold, SelectKBest, SelectPercentile, PCA, then a
        linear model.

    Returns
    -------
    LinearMap

    Raises
    ------
    TypeError
        A step that is not affine (or unknown), or a model without ``coef_``.
    """
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import SelectorMixin
    from sklearn.preprocessing import StandardScaler

    from painmarkers.prediction._masker import VoxelMasker
    from painmarkers.prediction.pipelines import ConfoundRegressor

    steps = [s for _, s in fitted.steps if s is not None and s != "passthrough"]
    w, b = _coef(steps[-1])
    g = np.zeros(0)
    for step in reversed(steps[:-1]):
        if isinstance(step, VoxelMasker):
            continue
        if isinstance(step, StandardScaler):
            if step.scale_ is not None:
                w = w / step.scale_
            if step.mean_ is not None and step.with_mean:
                b -= float(step.mean_ @ w)
        elif isinstance(step, PCA):
            comp = step.components_
            if step.whiten:
                comp = comp / np.sqrt(step.explained_variance_)[:, None]
            w = comp.T @ w
            b -= float(step.mean_ @ w)
        elif isinstance(step, SelectorMixin):
            full = np.zeros(step.get_support().size)
            full[step.get_support()] = w
            w = full
        elif isinstance(step, ConfoundRegressor):
            if step.layout_ != "metadata" and step.layout_ != "none":
                raise TypeError("A ConfoundRegressor with confound columns cannot be "
                                "expressed as voxel weights; pass confounds as metadata.")
            b -= float(step.coef_[0] @ w)
            g = -(step.coef_[1:] @ w)
        else:
            raise TypeError(f"Cannot express the step {type(step).__name__} as voxel weights; "
                            "voxel patterns allow ConfoundRegressor, StandardScaler, "
                            "VarianceThreshold, SelectKBest, SelectPercentile and PCA before "
                            "the linear model.")
    return LinearMap(weights=np.asarray(w, dtype=float), intercept=float(b), confound_coef=g)


# -- Haufe activation pattern -------------------------------------------------------------------
def haufe_pattern(X: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Activation pattern ``A = cov(X, s) / var(s)`` of a linear decoder.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, p)
        The voxel values the model was fitted on.
    scores : numpy.ndarray of shape (n,)
        Its decision values ``s = X w + b`` on the same rows.

    Returns
    -------
    numpy.ndarray of shape (p,)

    Notes
    -----
    Haufe et al. (2014), eq. 6 with one latent factor: ``A = Σ_X w / (wᵀ Σ_X w)``; since
    ``Σ_X w = cov(X, X w)``, it is the covariance of each voxel with the decision value
    over its variance (in voxel units per unit of decision value), computed as
    ``X_cᵀ s_c / s_cᵀ s_c`` without the p x p covariance.
    """
    s = np.asarray(scores, dtype=float)
    sc = s - s.mean()
    denom = float(sc @ sc)
    if denom <= 0:
        return np.zeros(X.shape[1])
    return np.asarray((X - X.mean(axis=0)).T @ sc, dtype=float) / denom


# -- bootstrap of the weights ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BootstrapMaps:
    """CANlab-style bootstrap statistics of the voxel weights."""

    mean: np.ndarray
    sd: np.ndarray
    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    n_valid: int


def draw_samples(y: np.ndarray, subjects: np.ndarray, n_bootstrap: int,
                 rng: np.random.Generator, stratify: bool) -> list[np.ndarray]:
    """Row indices of ``n_bootstrap`` subject bootstrap samples (rows of a subject together;
    within each class when ``stratify`` and every subject has one class)."""
    uniq, inv = np.unique(subjects, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(uniq.size)]
    strata = [np.arange(uniq.size)]
    if stratify:
        first = np.array([y[m[0]] for m in members])
        constant = all(np.unique(y[m]).size == 1 for m in members)
        if constant:
            strata = [np.flatnonzero(first == c) for c in np.unique(first)]
    out = []
    for _ in range(n_bootstrap):
        pick = np.concatenate([rng.choice(s, s.size, replace=True) for s in strata])
        out.append(np.concatenate([members[k] for k in pick]))
    return out


def _summarise(total, total_sq, n) -> BootstrapMaps:
    mean = total / n
    var = np.maximum(total_sq - n * mean**2, 0.0) / max(n - 1, 1)
    sd = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    q = stats.false_discovery_control(p, method="bh") if p.size else p
    return BootstrapMaps(mean=mean, sd=sd, z=z, p=p, q=q, n_valid=int(n))


def bootstrap_weights(pipe: Pipeline, X: np.ndarray, y: np.ndarray, task: str,
                      samples: list[np.ndarray],
                      metadata: Mapping[str, np.ndarray] | None = None, *,
                      cache: dict | None = None, n_jobs: int | None = None,
                      progress: bool = False) -> BootstrapMaps:
    """Refit on each bootstrap sample and summarise the voxel weights.

    Samples whose fit is impossible (one class only) are skipped; ``n_valid`` counts the
    others. Kernel-route models (ridge, least squares, ridge classification, L2
    logistic, with at most confound regression and scaling before them) are refitted in
    the dual from the kernels of :class:`~painmarkers.prediction._kernel.KernelSource`;
    any other pipeline is cloned and refitted by scikit-learn.
    """
    plan = _linear.recognise(pipe, task)
    src = None
    if plan is not None and X.shape[1] > X.shape[0]:
        prefix = _kernel_cv._kernel_prefix(plan)
        if prefix is not None and not plan.scale and all(
                type(s).__name__ == "ConfoundRegressor" for s in prefix):
            src = _kernel_cv.source_for(plan, X, metadata, cache)
    if task == "classification":
        samples = [s for s in samples if np.unique(y[s]).size == 2]
    p = X.shape[1]
    total, total_sq = np.zeros(p), np.zeros(p)
    bar = progress_bar(len(samples), "bootstrap weights", progress, unit="fit")
    try:
        if src is not None:
            for w in _kernel_weights(plan, src, X, y, samples, bar):
                total += w.sum(axis=0)
                total_sq += (w**2).sum(axis=0)
        else:
            from joblib import Parallel, delayed

            def one(rows):
                meta = {k: v[rows] for k, v in dict(metadata or {}).items()}
                fitted = lasso_from_search(fit_final(pipe, X[rows], y[rows], task, meta))
                return linear_map(fitted).weights

            for start in range(0, len(samples), 64):
                chunk = samples[start:start + 64]
                if n_jobs in (None, 1):
                    ws = [one(rows) for rows in chunk]
                else:
                    ws = Parallel(n_jobs=n_jobs)(delayed(one)(rows) for rows in chunk)
                for w in ws:
                    total += w
                    total_sq += w**2
                bar.update(len(chunk))
    finally:
        bar.close()
    return _summarise(total, total_sq, len(samples))


def _kernel_weights(plan, src, X, y, samples, bar):
    """Voxel weights of the bootstrap refits, a block of samples at a time."""

    empty = np.zeros(0, dtype=int)
    for start in range(0, len(samples), _kernel.LOGISTIC_BATCH):
        chunk = samples[start:start + _kernel.LOGISTIC_BATCH]
        splits = [_Rows(rows, empty) for rows in chunk]
        Ktr, _, wts, yy = _kernel_cv.padded(src, splits, [plan.target(y[r]) for r in chunk])
        with single_blas_thread():
            if plan.kind == "logistic":
                a, _, _ = _kernel.logistic_dual_batch(Ktr, wts, yy, 1.0 / plan.alpha)
            else:
                _, a, _ = _kernel.ridge_dual_batch(Ktr, Ktr[:, :0], wts, yy, plan.alpha)
        A = np.zeros((len(chunk), X.shape[0]))
        for i, rows in enumerate(chunk):
            ai = a[i, : rows.size]
            if src.confounds is not None:
                Ctr = src.confounds[rows]
                ai = ai - (Ctr @ np.linalg.pinv(Ctr)).T @ ai
            else:
                ai = ai - ai.mean()
            np.add.at(A[i], rows, ai)
        yield A @ X
        bar.update(len(chunk))


@dataclass(frozen=True)
class _Rows:
    train: np.ndarray
    test: np.ndarray
