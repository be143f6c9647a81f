"""The dual (kernel) route gives scikit-learn's numbers (rtol 1e-8) and reuses its kernels."""

import nibabel as nib
import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, RidgeClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from painmarkers.prediction import ConfoundRegressor, VoxelMasker, _cv, _engine, _kernel
from painmarkers.prediction import _pattern_maps as maps

RTOL = 1e-8


def _data(n=36, p=90, seed=0, offset=3.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 2, p) + offset
    y = (X[:, 0] - X[:, 1] + rng.normal(size=n) > 0).astype(int)
    return X, y, rng


def _mask(p):
    m = np.zeros((p, 1, 1), np.uint8)
    m[:] = 1
    return nib.Nifti1Image(m, np.eye(4))


def _sk_logistic(C):
    return LogisticRegression(C=C, solver="newton-cholesky", tol=1e-14, max_iter=1000)


@pytest.mark.parametrize(("n", "p"), [(30, 200), (40, 8), (25, 25)])
@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_dual_logistic_equals_scikit_learn(n, p, C):
    """Newton in the dual reaches the primal optimum: weights = Xcᵀa and intercept equal
    scikit-learn's L2 logistic regression (newton-cholesky solved to 1e-14)."""
    X, y, _ = _data(n, p, seed=n + p)
    src = _kernel.KernelSource(X, [], False)
    train, test = np.arange(n - 6), np.arange(n - 6, n)
    Ktr, Kte = src.blocks(train, test)
    a, c, n_iter = _kernel.logistic_dual_batch(Ktr[None], np.ones((1, train.size)),
                                               y[train][None].astype(float), C)
    ref = _sk_logistic(C).fit(X[train], y[train])
    w = src.dual_weights(train, a[0])
    np.testing.assert_allclose(w, ref.coef_[0], rtol=RTOL, atol=1e-10 * np.abs(w).max())
    np.testing.assert_allclose(Kte @ a[0] + c[0], ref.decision_function(X[test]), rtol=RTOL,
                               atol=1e-9)
    assert 1 <= n_iter[0] < 30


def test_dual_logistic_batch_with_padding_equals_one_by_one():
    """Problems of different sizes padded into one batch give the unpadded solutions."""
    X, y, rng = _data(40, 120, seed=3)
    src = _kernel.KernelSource(X, [], False)
    trains = [np.sort(rng.choice(40, k, replace=False)) for k in (30, 22, 35)]
    b, n = len(trains), max(t.size for t in trains)
    K, w, yy = np.zeros((b, n, n)), np.zeros((b, n)), np.zeros((b, n))
    for i, tr in enumerate(trains):
        K[i, : tr.size, : tr.size] = src.blocks(tr, tr[:0])[0]
        w[i, : tr.size] = 1
        yy[i, : tr.size] = y[tr]
    a, _, _ = _kernel.logistic_dual_batch(K, w, yy, 0.5)
    for i, tr in enumerate(trains):
        ref = _sk_logistic(0.5).fit(X[tr], y[tr])
        np.testing.assert_allclose(src.dual_weights(tr, a[i, : tr.size]), ref.coef_[0],
                                   rtol=RTOL, atol=1e-12)
        assert np.all(a[i, tr.size:] == 0)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 50.0])
def test_dual_ridge_equals_scikit_learn(alpha):
    X, _, rng = _data(30, 70, seed=4)
    Y = rng.normal(size=(30, 5))
    train, test = np.arange(24), np.arange(24, 30)
    Ktr, Kte = _kernel.KernelSource(X, [], False).blocks(train, test)
    pred = _kernel.ridge_dual(Ktr, Kte, Y[train], alpha)
    ref = (LinearRegression() if alpha == 0 else Ridge(alpha)).fit(X[train], Y[train])
    np.testing.assert_allclose(pred, ref.predict(X[test]), rtol=RTOL, atol=1e-10)


def test_kernels_equal_transformed_features():
    """Global kernels (with confounds regressed in kernel space) and data-mode kernels
    (scaling refitted per training set) equal Zc Zcᵀ of the features the scikit-learn
    steps produce, for a bootstrap sample with repeated rows too."""
    X, _, rng = _data(30, 50, seed=5)
    conf = rng.normal(size=(30, 2))
    train = np.sort(rng.choice(30, 30, replace=True))
    test = np.setdiff1d(np.arange(30), train)[:4]
    meta = {"confounds": conf}
    for prefix, scale in [([], False), ([ConfoundRegressor()], False), ([], True),
                          ([ConfoundRegressor()], True)]:
        src = _kernel.KernelSource(X, prefix, scale, meta)
        steps = [*prefix, *([StandardScaler()] if scale else [])]
        if steps:
            pipe = Pipeline([(f"s{i}", s) for i, s in enumerate(steps)])
            fit_meta = {"confounds": conf[train]} if prefix else {}
            with sklearn.config_context(enable_metadata_routing=True):
                pipe.fit(X[train], **fit_meta)
                Z = pipe.transform(X, **({"confounds": conf} if prefix else {}))
        else:
            Z = X
        Zc = Z - Z[train].mean(axis=0)
        Ktr, Kte = src.blocks(train, test)
        np.testing.assert_allclose(Ktr, Zc[train] @ Zc[train].T, rtol=1e-9, atol=1e-8)
        np.testing.assert_allclose(Kte, Zc[test] @ Zc[train].T, rtol=1e-9, atol=1e-8)
        assert src.mode == ("global" if not scale else "data")


def _splitter(X, y, groups, classification):
    return _cv.build_splitter(None, X=X, groups=groups, subject="subject_id", sites=None,
                              site_names=None, class_names={1: "a", 0: "b"}
                              if classification else None, n_splits=4, n_repeats=2, seed=1)


@pytest.mark.parametrize("model", [LogisticRegression(C=0.3, tol=1e-12,
                                                      solver="newton-cholesky"),
                                   RidgeClassifier(2.0), Ridge(3.0), LinearRegression()],
                         ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("confounds", [False, True])
def test_engine_dual_route_equals_refitting(model, scale, confounds):
    """Observed and permuted targets (label-dependent stratified folds for a class
    target, shared folds for a continuous one): the dual route's out-of-fold scores equal
    scikit-learn refitting the masker pipeline on every split."""
    X, y, rng = _data(40, 110, seed=6)
    task = "classification" if type(model) in (LogisticRegression, RidgeClassifier) \
        else "regression"
    if task == "regression":
        y = X[:, :3].sum(axis=1) + rng.normal(size=40)
    groups = np.array([f"s{i:02d}" for i in range(40)])
    steps = [("masker", VoxelMasker(_mask(110)))]
    if confounds:
        steps.append(("confounds", ConfoundRegressor()))
    if scale:
        steps.append(("scale", StandardScaler()))
    pipe = Pipeline([*steps, ("model", model)])
    meta = {"confounds": rng.normal(size=(40, 2))} if confounds else None
    splitter = _splitter(X, y, groups, task == "classification")
    perm = _cv.Permuter(y, groups)
    jobs = []
    for i in range(5):
        yp = y if i == 0 else perm.draw(y, rng)
        jobs.append(_engine.Job(yp, splitter.split(yp)))
    cache = {}
    fast = _engine.cross_validate(pipe, X, jobs, task=task, groups=groups, metadata=meta,
                                  cache=cache)
    slow = _engine.cross_validate(pipe, X, jobs, task=task, groups=groups, metadata=meta,
                                  fast=False)
    assert any(k[0] == "kernel" for k in cache), "the dual route was not taken"
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a.matrix, b.matrix, rtol=RTOL, atol=1e-9)
        assert a.is_proba == b.is_proba


def test_kernels_are_computed_once_for_all_permutations():
    """Without scaling one Gram matrix serves every fold of every permutation block; with
    scaling and a continuous target, one kernel per distinct training set."""
    X, _, rng = _data(40, 100, seed=7)
    y = rng.normal(size=40)
    groups = np.array([f"s{i:02d}" for i in range(40)])
    splitter = _splitter(X, y, groups, False)
    splits = splitter.split(y)
    for scale, expected in [(False, 1), (True, len(splits))]:
        steps = [("masker", VoxelMasker(_mask(100)))] + (
            [("scale", StandardScaler())] if scale else [])
        pipe = Pipeline([*steps, ("model", Ridge(1.0))])
        cache = {}
        for _ in range(3):   # three blocks of permutations
            jobs = [_engine.Job(rng.permutation(y), splits) for _ in range(4)]
            _engine.cross_validate(pipe, X, jobs, task="regression", groups=groups,
                                   cache=cache)
        (src,) = [v for k, v in cache.items() if k[0] == "kernel"]
        assert src.n_kernels == expected


@pytest.mark.parametrize("scale", [False, True])
def test_final_logistic_fit_in_the_dual_equals_scikit_learn(scale):
    X, y, _ = _data(30, 150, seed=8)
    steps = [("masker", VoxelMasker(_mask(150)))] + (
        [("scale", StandardScaler())] if scale else [])
    pipe = Pipeline([*steps, ("model", LogisticRegression(C=2.0, tol=1e-10))])
    fitted = maps.fit_final(pipe, X, y, "classification")
    ref = Pipeline([*steps, ("model", _sk_logistic(2.0))]).fit(X, y)
    np.testing.assert_allclose(fitted[-1].coef_, ref[-1].coef_, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(fitted[-1].intercept_, ref[-1].intercept_, rtol=RTOL)
    np.testing.assert_allclose(fitted.predict_proba(X), ref.predict_proba(X), rtol=RTOL)


def test_threads_give_the_same_scores():
    """n_jobs threads solve batches concurrently; the scores do not change."""
    X, y, rng = _data(40, 120, seed=9)
    groups = np.array([f"s{i:02d}" for i in range(40)])
    pipe = Pipeline([("masker", VoxelMasker(_mask(120))),
                     ("model", LogisticRegression(tol=1e-10))])
    splitter = _splitter(X, y, groups, True)
    perm = _cv.Permuter(y, groups)
    jobs = []
    for _ in range(30):   # 240 problems: two batches
        yp = perm.draw(y, rng)
        jobs.append(_engine.Job(yp, splitter.split(yp)))
    one = _engine.cross_validate(pipe, X, jobs, task="classification", groups=groups)
    two = _engine.cross_validate(pipe, X, jobs, task="classification", groups=groups,
                                 n_jobs=2)
    # equal to the last bits with current numpy/OpenBLAS; with the declared floors
    # (numpy 1.x) OpenBLAS kernels chosen per thread sum in another order now and then
    # (1 ulp, 4e-16 seen), so: equal up to rounding, not a race
    for a, b in zip(one, two):
        np.testing.assert_allclose(a.matrix, b.matrix, rtol=1e-13, atol=1e-15)
