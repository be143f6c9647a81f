"""Each stage of evaluate_biomarker on its own: input resolution, CV construction,
out-of-fold fitting with routed metadata, metrics, permutation test."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from painmarkers.exceptions import DesignError
from painmarkers.prediction import ComBat, ConfoundRegressor, _cv, _inputs, _performance
from painmarkers.prediction import _permutation as permutation
from painmarkers.prediction._stages import build_pipeline, metadata


def _table(seed=0, n=24):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "subject_id": [f"sub-{i:02d}" for i in range(n)],
        "group": np.where(np.arange(n) % 2 == 0, "CLBP", "HC"),
        "site": np.repeat(["A", "B", "C"], n // 3),
        "age": rng.normal(45, 8, n), "sex": rng.choice(["F", "M"], n),
        "f1": rng.normal(size=n), "f2": rng.normal(size=n),
    })


def _design(df, **kw):
    args = {"subject": "subject_id", "sessions": None, "within": "session",
            "between": "group", "confounds": ["age", "sex"], "site": "site",
            "harmonize": True, "nan_policy": "omit"}
    return _inputs.resolve(df, ["f1", "f2"], "group", "CLBP", **{**args, **kw})


def test_resolve_builds_the_design_arrays():
    df = _table()
    df.loc[4, "age"] = np.nan
    d = _design(df)
    keep = np.arange(len(df)) != 4
    np.testing.assert_array_equal(d.rows, np.flatnonzero(keep))
    np.testing.assert_array_equal(d.X, df.loc[keep, ["f1", "f2"]].to_numpy())
    expected = pd.get_dummies(df.loc[keep, ["age", "sex"]], drop_first=True, dtype=float)
    np.testing.assert_array_equal(d.confound_matrix, expected.to_numpy())
    np.testing.assert_array_equal(d.site_names[d.sites], df.loc[keep, "site"])
    np.testing.assert_array_equal(d.y, (df.loc[keep, "group"] == "CLBP").astype(int))
    np.testing.assert_array_equal(d.subjects, df.loc[keep, "subject_id"])
    assert d.class_names == {1: "CLBP", 0: "HC"} and d.n_confounds == 2
    assert d.excluded == [{"row": 4, "subject_id": "sub-04", "reason": "missing age"}]
    frame = _inputs.excluded_frame(d.excluded)
    assert list(frame.columns) == ["row", "subject_id", "reason"]
    assert str(frame["row"].dtype) == "Int64"


def test_settings_are_range_checked_before_the_data():
    base = {"n_permutations": 0, "n_splits": 5, "n_repeats": 1, "n_bins": 5,
            "n_bootstrap": 100, "confidence": 0.95, "prevalence": None, "n_jobs": None,
            "nan_policy": "raise"}
    assert _inputs.check_settings(**base).n_bootstrap == 100
    for name, bad in [("n_splits", 1), ("n_bootstrap", 5), ("confidence", 1.0),
                      ("prevalence", 0.0), ("nan_policy", "drop"), ("n_permutations", -1)]:
        with pytest.raises(ValueError, match=f"'{name}' parameter"):
            _inputs.check_settings(**{**base, name: bad})


def test_build_splitter_kinds():
    d = _design(_table(), site="site")
    common = {"X": d.X, "groups": d.subjects, "subject": d.subject,
              "class_names": d.class_names, "n_splits": 4, "n_repeats": 2, "seed": 7}
    site = _cv.build_splitter(None, sites=d.sites, site_names=d.site_names, **common)
    assert site.kind == "site" and site.description == "leave-one-site-out over 3 sites"
    ref = list(LeaveOneGroupOut().split(d.X, d.y, d.sites))
    for sp, (tr, te) in zip(site.split(d.y), ref, strict=True):
        np.testing.assert_array_equal(sp.test, te)
        np.testing.assert_array_equal(sp.train, tr)
    default = _cv.build_splitter(None, sites=None, site_names=None, **common)
    assert default.description == ("StratifiedGroupKFold(4) x 2 repeats, grouped by "
                                   "subject_id")
    splits = default.split(d.y)
    assert [(sp.repeat, sp.fold) for sp in splits] == [(r, f) for r in range(2)
                                                       for f in range(4)]
    ref = list(StratifiedGroupKFold(4, shuffle=True, random_state=8).split(d.X, d.y,
                                                                          d.subjects))
    for sp, (_, te) in zip(splits[4:], ref, strict=True):  # repeat 1 uses seed + 1
        np.testing.assert_array_equal(sp.test, te)
    user = _cv.build_splitter(StratifiedKFold(3), sites=None, site_names=None, **common)
    assert user.kind == "user" and len(user.split(d.y)) == 3


def test_run_cv_routes_metadata_to_the_fold_steps():
    """Out-of-fold scores of the built pipeline equal ComBat -> ConfoundRegressor -> model
    fitted by hand on each training fold with that fold's site and confounds."""
    d = _design(_table(seed=3), site="site")
    model = LogisticRegression()
    pipe, route = build_pipeline(model, d, harmonize=True)
    assert [name for name, _ in pipe.steps] == ["combat", "confounds", "model"]
    assert route is False
    meta = metadata(d, harmonize=True)
    assert set(meta) == {"site", "covariates", "confounds"}
    splits = _cv.build_splitter(StratifiedKFold(3, shuffle=True, random_state=0), X=d.X,
                                groups=d.subjects, subject=d.subject, sites=None,
                                site_names=None, class_names=d.class_names, n_splits=3,
                                n_repeats=1, seed=0).split(d.y)
    oof = _cv.run_cv(pipe, d.X, d.y, d.subjects, splits, route, metadata=meta)
    assert oof.is_proba and oof.threshold == 0.5 and oof.tested.all()
    c = d.confound_matrix
    for sp in splits:
        tr, te = sp.train, sp.test
        combat = ComBat(unseen_site="self").fit(d.X[tr], site=d.sites[tr], covariates=c[tr])
        reg = ConfoundRegressor().fit(combat.transform(d.X[tr], site=d.sites[tr],
                                                       covariates=c[tr]), confounds=c[tr])
        clf = LogisticRegression().fit(reg.transform(combat.transform(
            d.X[tr], site=d.sites[tr], covariates=c[tr]), confounds=c[tr]), d.y[tr])
        expected = clf.predict_proba(reg.transform(combat.transform(
            d.X[te], site=d.sites[te], covariates=c[te]), confounds=c[te]))[:, 1]
        np.testing.assert_allclose(oof.matrix[0, te], expected, rtol=1e-12)


def test_pooled_scores_and_metrics_of_a_known_matrix():
    d = _design(_table(seed=5), confounds=None, site=None, harmonize=False)
    n = d.y.size
    rng = np.random.default_rng(0)
    mat = rng.random((2, n))
    mat[1, 3] = np.nan          # row 3 scored once
    mat[:, 5] = np.nan          # row 5 never tested
    oof = _cv.OutOfFold(mat, True, [])
    pooled = _performance.pooled_scores(oof, d)
    tested = np.arange(n) != 5
    np.testing.assert_allclose(pooled.score, np.nanmean(mat[:, tested], axis=0), rtol=0)
    assert pooled.never_tested == [{"row": 5, "subject_id": d.subjects[5],
                                    "reason": "never in a test fold"}]
    parts, extra = _performance.metric_rows(oof, pooled, d, confidence=0.9, prevalence=None,
                                            n_bootstrap=100, rng=np.random.default_rng(1))
    auc = parts[0].loc[0]
    np.testing.assert_allclose(auc["estimate"], roc_auc_score(pooled.y, pooled.score),
                               rtol=1e-12)
    assert auc["ci_method"] == "DeLong" and auc["confidence"] == 0.9
    brier = next(r for r in extra if r["metric"] == "brier")
    np.testing.assert_allclose(brier["estimate"], np.mean((pooled.score - pooled.y) ** 2),
                               rtol=1e-12)
    assert not any(r["metric"] == "auc_mean_over_repeats" for r in extra)  # no full repeat
    np.testing.assert_allclose(_performance.repeat_sd(mat[:, [3, 4]]),
                               [np.nan, np.std(mat[:, 4], ddof=1)], rtol=1e-12)
    table = _performance.prediction_table(oof, pooled, d)
    assert table["n_scores"].tolist() == [1 if i == 3 else 2 for i in range(n) if i != 5]


class _Splitter:
    """Fails on every other permutation, like a CV that cannot be built for some labels."""

    def __init__(self, d):
        self.calls, self.d = 0, d

    def split(self, y):
        self.calls += 1
        if self.calls % 2 == 0:
            raise DesignError("a site holds one class")
        return [_cv.Split(0, 0, np.flatnonzero(self.d.sites != 0),
                          np.flatnonzero(self.d.sites == 0)),
                _cv.Split(0, 1, np.flatnonzero(self.d.sites == 0),
                          np.flatnonzero(self.d.sites != 0))]


def test_permutation_test_counts_valid_permutations():
    d = _design(_table(seed=6), confounds=None, site="site", harmonize=False)
    pipe, route = build_pipeline(None, d, harmonize=False)
    res = permutation.permutation_test(pipe, d.X, d.y, d.subjects, _Splitter(d), route,
                                       observed=0.6, n_permutations=6,
                                       rng=np.random.default_rng(0), n_jobs=None)
    assert np.isnan(res.null[1::2]).all() and np.isfinite(res.null[::2]).all()
    valid = res.null[::2]
    assert res.n_valid == 3
    assert res.p_value == (np.sum(valid >= 0.6 - 1e-12) + 1) / 4
    row = res.metric_row()
    assert row["metric"] == "permutation_p" and row["n"] == 3
