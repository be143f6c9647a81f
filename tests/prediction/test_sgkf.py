"""The replayed StratifiedGroupKFold gives scikit-learn's folds exactly."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import KFold, StratifiedGroupKFold

from painmarkers.prediction import _cv
from painmarkers.prediction._sgkf import (
    StratifiedGroupKFoldCache,
    best_fold,
    group_kfold_folds,
    matches_sklearn,
)

#: The replica follows the StratifiedGroupKFold of current scikit-learn; with an older
#: one (1.6, the declared floor) painmarkers detects the difference and calls
#: scikit-learn itself (test_default_splits_equal_sklearn_and_check_sizes holds both ways).
replica_in_use = pytest.mark.skipif(
    not matches_sklearn(), reason="this scikit-learn's StratifiedGroupKFold predates the "
    "replicated algorithm; painmarkers calls scikit-learn itself")


def _designs(n_cases, seed=0):
    """Random designs: one or several rows per subject, labels constant or varying within
    subjects, 2 or 3 classes, unbalanced; subject ids not in sorted order."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n_cases:
        case = len(out)
        n_sub = int(rng.integers(10, 60))
        k = int(rng.integers(2, 6))
        per = rng.integers(1, 4, n_sub) if case % 3 else np.ones(n_sub, int)
        groups = np.repeat([f"s{i:03d}" for i in rng.permutation(n_sub)], per)
        n_cls = 3 if case % 7 == 0 else 2
        if case % 2:
            y = np.repeat(rng.integers(0, n_cls, n_sub), per)
        else:
            y = rng.integers(0, n_cls, groups.size)
        if np.bincount(y).min() >= k:
            out.append((y, groups, k))
    return out


def test_the_replica_is_used_with_current_scikit_learn():
    import sklearn
    from packaging.version import Version

    if Version(sklearn.__version__) >= Version("1.9"):
        assert matches_sklearn()


@replica_in_use
def test_folds_equal_sklearn_on_random_designs():
    rng = np.random.default_rng(1)
    n_checked = 0
    for y, groups, k in _designs(100):
        cache = StratifiedGroupKFoldCache(k)   # shared across the permutations of a design
        for _ in range(3):
            seed = int(rng.integers(0, 10_000))
            yp = rng.permutation(y)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # sklearn warns on small classes
                ref = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed)
                           .split(np.zeros(len(y)), yp, groups))
            folds = cache.folds(yp, groups, seed)
            for f, (_, te) in enumerate(ref):
                np.testing.assert_array_equal(np.flatnonzero(folds == f), te)
            n_checked += 1
    assert n_checked == 300


@replica_in_use
def test_permutations_of_one_design_reuse_decisions():
    """1000 permutations of 100 subjects: every split equals sklearn's, most decisions
    are replayed from the cache."""
    y = np.r_[np.ones(50, int), np.zeros(50, int)]
    groups = np.array([f"sub-{i:03d}" for i in range(100)])
    cache = StratifiedGroupKFoldCache(5)
    rng = np.random.default_rng(0)
    for i in range(300):
        yp = rng.permutation(y)
        folds = cache.folds(yp, groups, i % 10)
        if i % 30 == 0:
            ref = StratifiedGroupKFold(5, shuffle=True, random_state=i % 10).split(
                np.zeros(100), yp, groups)
            for f, (_, te) in enumerate(ref):
                np.testing.assert_array_equal(np.flatnonzero(folds == f), te)
    assert len(cache._decisions) < 300 * 100 / 2


def test_python_decision_equals_numpy_arithmetic():
    """best_fold (Python floats) takes the same decision as scikit-learn's numpy code on
    random states, including the many exact ties of balanced states."""
    rng = np.random.default_rng(2)
    cache = StratifiedGroupKFoldCache(2)
    for _ in range(5000):
        k = int(rng.integers(2, 4))
        n_splits = int(rng.integers(2, 7))
        cache.n_splits = n_splits
        totals = tuple((rng.integers(1, 5, k) * 7).tolist())
        state = rng.integers(0, 4, n_splits * k).tolist()
        if rng.random() < 0.5:   # symmetric states: ties broken by rounding
            row0 = state[:k]
            state = row0 * n_splits
            state[-k:] = [v + 1 for v in row0]
        row = tuple(rng.integers(0, 3, k).tolist())
        expected = cache._best_fold(np.asarray(state, float).reshape(n_splits, k),
                                    np.asarray(totals), np.asarray(row, float))
        assert best_fold(state, totals, row, n_splits) == expected


def test_default_splits_equal_sklearn_and_check_sizes():
    groups = np.repeat([f"s{i}" for i in range(12)], 2)
    y = np.repeat(np.r_[np.ones(6, int), np.zeros(6, int)], 2)
    splits = _cv.default_splits(y, groups, 3, 2, 10, {1: "a", 0: "b"})
    for r in range(2):
        ref = StratifiedGroupKFold(3, shuffle=True, random_state=10 + r).split(
            np.zeros(len(y)), y, groups)
        for sp, (tr, te) in zip([s for s in splits if s.repeat == r], ref, strict=True):
            np.testing.assert_array_equal(sp.train, tr)
            np.testing.assert_array_equal(sp.test, te)


def test_group_kfold_is_kfold_over_subjects():
    groups = np.repeat(["c", "a", "b", "e", "d", "f", "g"], [1, 2, 3, 1, 2, 1, 2])
    folds = group_kfold_folds(groups, 3, 5)
    uniq = np.unique(groups)
    for f, (_, te) in enumerate(KFold(3, shuffle=True, random_state=5).split(uniq)):
        np.testing.assert_array_equal(np.flatnonzero(folds == f),
                                      np.flatnonzero(np.isin(groups, uniq[te])))
    splits = _cv.regression_splits(groups, 3, 2, 5)
    assert [(s.repeat, s.fold) for s in splits] == [(r, f) for r in range(2) for f in range(3)]
    for sp in splits:   # subjects never split
        assert not set(groups[sp.train]) & set(groups[sp.test])
    with pytest.raises(Exception, match="needs at least 8 subjects"):
        _cv.regression_splits(groups, 8, 1, 0)


def _permute_labels_reference(y, groups, rng):
    """The permutation scheme as painmarkers 0.2 wrote it (pandas groupby)."""
    import pandas as pd

    codes, uniq = pd.factorize(groups)
    frame = pd.DataFrame({"g": codes, "y": y})
    if (frame.groupby("g")["y"].nunique() == 1).all():
        return rng.permutation(frame.groupby("g")["y"].first().to_numpy())[codes]
    out = y.copy()
    for k in range(len(uniq)):
        rows = np.flatnonzero(codes == k)
        out[rows] = y[rng.permutation(rows)]
    return out


def test_permuter_draws_what_the_groupby_version_drew():
    """Same generator state, same permutation: the null distributions of earlier runs
    are reproduced."""
    groups = np.repeat([f"s{i}" for i in np.random.default_rng(0).permutation(15)], 2)
    for y in (np.repeat(np.arange(15) % 2, 2), np.tile([1, 0], 15),
              np.repeat(np.linspace(0, 1, 15), 2)):
        p = _cv.Permuter(y, groups)
        for seed in range(5):
            np.testing.assert_array_equal(
                p.draw(y, np.random.default_rng(seed)),
                _permute_labels_reference(y, groups, np.random.default_rng(seed)))


@pytest.mark.parametrize("cv", [4, StratifiedGroupKFold(3), StratifiedGroupKFold(
    4, shuffle=True, random_state=7)])
def test_user_stratified_group_kfold_is_replayed(cv):
    """cv=int or a StratifiedGroupKFold with an int seed: the same folds as sklearn's,
    through the replay cache (rerun per permutation)."""
    rng = np.random.default_rng(3)
    groups = np.repeat([f"s{i:02d}" for i in rng.permutation(30)], rng.integers(1, 3, 30))
    caches = {}
    for _ in range(5):
        y = np.repeat(rng.integers(0, 2, 30), 1)[pd_codes(groups)]
        ref = StratifiedGroupKFold(cv) if isinstance(cv, int) else cv
        expected = list(ref.split(np.zeros(len(y)), y, groups))
        got = _cv.user_splits(cv, None, y, groups, True, caches)
        for sp, (tr, te) in zip(got, expected, strict=True):
            np.testing.assert_array_equal(sp.test, te)
            np.testing.assert_array_equal(sp.train, tr)
    assert bool(caches) == matches_sklearn()   # the replay was used (current scikit-learn)


def pd_codes(groups):
    import pandas as pd

    return pd.factorize(groups)[0]
