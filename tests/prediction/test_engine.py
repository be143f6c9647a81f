"""The fast route of the CV engine gives scikit-learn's numbers (rtol 1e-8)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.dummy import DummyRegressor
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, RidgeCV
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from painmarkers.prediction import (
    ComBat,
    ConfoundRegressor,
    _cv,
    _engine,
    _linear,
    evaluate_biomarker,
    evaluate_prognosis,
)

RTOL = 1e-8


def _data(n=48, p=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3, p) + rng.normal(0, 2, p)
    groups = np.array([f"s{i:02d}" for i in range(n)])
    y = X @ rng.normal(size=p) + rng.normal(size=n)
    return X, y, groups, rng


def _both(pipe, X, jobs, task, groups, metadata=None):
    fast = _engine.cross_validate(pipe, X, jobs, task=task, groups=groups, metadata=metadata)
    slow = _engine.cross_validate(pipe, X, jobs, task=task, groups=groups, metadata=metadata,
                                  fast=False)
    return fast, slow


def _assert_same(fast, slow):
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a.matrix, b.matrix, rtol=RTOL, atol=1e-12)
        assert a.is_proba == b.is_proba


@pytest.mark.parametrize("model", [Ridge(1.0), Ridge(25.0), LinearRegression(),
                                   make_pipeline(StandardScaler(), Ridge(3.0)),
                                   make_pipeline(StandardScaler(with_mean=False), Ridge(0.5)),
                                   make_pipeline(StandardScaler(), PCA(2), Ridge(1.0))])
def test_ridge_many_targets_equals_refitting(model):
    """Permuted targets on fixed folds: one matrix product per training set."""
    X, y, groups, rng = _data()
    splits = _cv.regression_splits(groups, 4, 2, 0)
    perm = _cv.Permuter(y, groups)
    jobs = [_engine.Job(y, splits)] + [_engine.Job(perm.draw(y, rng), splits)
                                       for _ in range(12)]
    pipe = Pipeline([("model", model)])
    assert _linear.recognise(pipe, "regression") is not None
    _assert_same(*_both(pipe, X, jobs, "regression", groups))


def test_ridge_dual_form_when_features_outnumber_rows():
    X, y, groups, rng = _data(n=30, p=60, seed=1)
    splits = _cv.regression_splits(groups, 3, 1, 0)
    jobs = [_engine.Job(y, splits), _engine.Job(rng.permutation(y), splits),
            _engine.Job(rng.permutation(y), splits), _engine.Job(y[::-1].copy(), splits)]
    pipe = Pipeline([("model", make_pipeline(StandardScaler(), Ridge(10.0)))])
    _assert_same(*_both(pipe, X, jobs, "regression", groups))


def test_ridge_batched_features_and_label_free_prefix():
    """Jobs with their own X (imaging permuted), with ConfoundRegressor and ComBat fitted
    on the training rows with routed metadata."""
    X, y, groups, rng = _data(n=60, p=3, seed=2)
    site = np.repeat(["A", "B", "C"], 20)
    conf = rng.normal(size=(60, 2))
    splits = _cv.regression_splits(groups, 5, 1, 3)
    jobs = [_engine.Job(y, splits, X=X[rng.permutation(60)]) for _ in range(3)]
    pipe = Pipeline([("combat", ComBat(unseen_site="self")),
                     ("confounds", ConfoundRegressor()),
                     ("model", make_pipeline(StandardScaler(), Ridge(2.0)))])
    plan = _linear.recognise(pipe, "regression")
    assert [type(s) for s in plan.prefix] == [ComBat, ConfoundRegressor] and plan.scale
    meta = {"site": site, "covariates": conf, "confounds": conf}
    _assert_same(*_both(pipe, X, jobs, "regression", groups, meta))


@pytest.mark.parametrize("C", [0.05, 1.0, 30.0])
def test_logistic_batches_equal_sklearn(C):
    X, _, groups, rng = _data(n=60, p=5, seed=3)
    y = (X[:, 0] / X[:, 0].std() + rng.normal(size=60) > 0).astype(int)
    perm = _cv.Permuter(y, groups)
    cache = _cv.StratifiedGroupKFoldCache(4)
    jobs = []
    for i in range(8):
        yp = y if i == 0 else perm.draw(y, rng)
        jobs.append(_engine.Job(yp, _cv.default_splits(yp, groups, 4, 2, 0, {1: "a", 0: "b"},
                                                       cache)))
    clf = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    pipe = Pipeline([("model", make_pipeline(StandardScaler(), clf))])
    assert _linear.recognise(pipe, "classification").kind == "logistic"
    _assert_same(*_both(pipe, X, jobs, "classification", groups))


def test_logistic_with_confounds_equals_sklearn():
    X, _, groups, rng = _data(n=50, p=3, seed=4)
    y = (X[:, 1] + rng.normal(size=50) > X[:, 1].mean()).astype(int)
    conf = rng.normal(size=(50, 1))
    splits = _cv.default_splits(y, groups, 5, 1, 0, {1: "a", 0: "b"})
    # newton-cholesky converges to the optimum on every fold and every scikit-learn
    # version; lbfgs in scikit-learn 1.6 stops on its own ftol (~1e-8 relative) whatever
    # tol, which differed from the fast route by 8e-8 on some folds
    pipe = Pipeline([("confounds", ConfoundRegressor()),
                     ("model", make_pipeline(StandardScaler(), LogisticRegression(
                         solver="newton-cholesky", tol=1e-12, max_iter=5000)))])
    _assert_same(*_both(pipe, X, [_engine.Job(y, splits)], "classification", groups,
                        {"confounds": conf}))


@pytest.mark.parametrize("model", [
    LogisticRegression(),                                  # tol 1e-4: not solved tightly
    LogisticRegression(tol=1e-12, solver="liblinear"),     # penalises the intercept
    LogisticRegression(tol=1e-12, class_weight="balanced"),
    LogisticRegression(tol=1e-12, fit_intercept=False),
    make_pipeline(SelectKBest(f_regression, k=2), Ridge()),  # uses the target
    GridSearchCV(Ridge(), {"alpha": [1, 10]}),
    RidgeCV(), Ridge(solver="sag"), Ridge(positive=True), DummyRegressor(),
])
def test_other_models_take_the_generic_route(model):
    task = "classification" if isinstance(model, LogisticRegression) else "regression"
    assert _linear.recognise(Pipeline([("model", model)]), task) is None


def test_logistic_with_many_features_takes_the_generic_route(monkeypatch):
    X, _, groups, rng = _data(n=40, p=6, seed=5)
    y = (rng.random(40) < 0.5).astype(int)
    y[:2] = [0, 1]
    monkeypatch.setattr(_linear, "LOGISTIC_MAX_FEATURES", 5)
    called = []
    monkeypatch.setattr(_engine, "_fast", lambda *a, **k: called.append(1))
    splits = _cv.default_splits(y, groups, 4, 1, 0, {1: "a", 0: "b"})
    pipe = Pipeline([("model", make_pipeline(StandardScaler(), LogisticRegression(
        tol=1e-12, solver="newton-cholesky")))])
    out = _engine.cross_validate(pipe, X, [_engine.Job(y, splits)], task="classification",
                                 groups=groups)
    assert not called and np.isfinite(out[0].matrix).all()


def test_scale_stats_constant_feature_scaled_by_one():
    Z = np.column_stack([np.arange(6.0), np.full(6, 3.0)])
    mean, scale = _linear.scale_stats(Z)
    ref = StandardScaler().fit(Z)
    np.testing.assert_allclose(mean, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(scale, ref.scale_, rtol=1e-12)
    assert scale[1] == 1.0


def _cohort(n=60, seed=0, continuous=True):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"subject_id": [f"sub-{i:02d}" for i in range(n)],
                       "site": np.repeat(["A", "B", "C"], n // 3),
                       "age": rng.normal(45, 8, n)})
    for j in range(4):
        df[f"f{j}"] = rng.normal(size=n) + 0.02 * df["age"]
    score = df["f0"] - 0.5 * df["f1"] + rng.normal(size=n)
    df["ppr"] = 30 + 10 * score
    df["group"] = np.where(score > np.median(score), "CLBP", "HC")
    return df


@pytest.mark.parametrize("kw", [{}, {"confounds": ["age"]},
                                {"confounds": ["age"], "site": "site", "harmonize": True,
                                 "cv": 4}])
def test_evaluations_equal_with_the_fast_route_disabled(monkeypatch, kw):
    """Whole evaluations, observed fit and null distribution: fast route = sklearn."""
    df = _cohort()
    feats = ["f0", "f1", "f2", "f3"]
    common = {"n_repeats": 2, "n_permutations": 15, "random_state": 1, "progress": False,
              "n_bootstrap": 200, **kw}
    fast_p = evaluate_prognosis(df, feats, "ppr", **common)
    fast_b = evaluate_biomarker(df, feats, "group", positive="CLBP", **common)
    monkeypatch.setattr(_linear, "recognise", lambda pipe, task: None)
    slow_p = evaluate_prognosis(df, feats, "ppr", **common)
    slow_b = evaluate_biomarker(df, feats, "group", positive="CLBP", **common)
    np.testing.assert_allclose(fast_p.predictions["predicted"], slow_p.predictions["predicted"],
                               rtol=RTOL)
    np.testing.assert_allclose(fast_p.null_distribution, slow_p.null_distribution, rtol=RTOL)
    np.testing.assert_allclose(fast_b.predictions["score"], slow_b.predictions["score"],
                               rtol=RTOL)
    np.testing.assert_allclose(fast_b.null_distribution, slow_b.null_distribution, rtol=RTOL)
    assert fast_p.permutation_p == slow_p.permutation_p
    assert fast_b.permutation_p == slow_b.permutation_p
