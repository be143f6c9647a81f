"""scikit-learn contract of the pipeline steps: the estimator checks, metadata routing,
the column form in cross_val_predict, and the deprecated last-columns layout."""

import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from painmarkers.prediction import ComBat, ConfoundRegressor

#: Checks expected to fail, with the reason. The generic checks cannot pass metadata,
#: so they run ComBat without a site (all rows one site: the estimator's own
#: n_covariates=None behaviour) and ConfoundRegressor without confounds or with its
#: first column as the confound.
EXPECTED_FAILURES = {
    "ComBat": {
        "check_transformer_n_iter": (
            "n_iter_ counts empirical Bayes iterations; with the single site the generic "
            "checks can build there is nothing to pool, no iteration runs and n_iter_ is 0 "
            "(it is >= 1 whenever EB runs: test_combat_n_iter)."),
    },
}


def _expected_failures(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [ComBat(n_covariates=None), ConfoundRegressor(n_confounds=None),
     ConfoundRegressor(confound_columns=[0])],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _sites(seed=0, n_per=(8, 10, 12), p=3):
    rng = np.random.default_rng(seed)
    site = np.repeat(["A", "B", "C"], n_per)
    codes = pd.factorize(site)[0]
    age = rng.normal(45, 10, site.size)
    feats = rng.normal(size=(site.size, p)) + 1.5 * codes[:, None] + 0.04 * age[:, None]
    return feats, age, site


def test_combat_contract():
    """The contract points with a real site (the generic checks cannot pass one)."""
    feats, age, site = _sites()
    est = ComBat(empirical_bayes=True)
    assert est.get_params()["unseen_site"] == "error"
    with pytest.raises(NotFittedError):
        est.transform(feats, site=site)
    assert est.fit(feats, site=site, covariates=age) is est
    assert est.layout_ == "metadata" and list(est.sites_) == ["A", "B", "C"]
    out = est.transform(feats, site=site, covariates=age)
    np.testing.assert_allclose(
        clone(est).fit(feats, site=site, covariates=age).transform(
            feats, site=site, covariates=age), out, rtol=0)
    np.testing.assert_allclose(
        pickle.loads(pickle.dumps(est)).transform(feats, site=site, covariates=age), out,
        rtol=0)
    np.testing.assert_allclose(est.fit_transform(feats, site=site, covariates=age), out,
                               rtol=1e-12)
    # order invariance: transforming shuffled rows gives the shuffled output
    perm = np.random.default_rng(1).permutation(site.size)
    np.testing.assert_allclose(est.transform(feats[perm], site=site[perm], covariates=age[perm]),
                               out[perm], rtol=1e-12)
    with pytest.raises(ValueError, match="features"):
        est.transform(feats[:, 1:], site=site, covariates=age)
    assert est.n_features_in_ == 3
    with pytest.raises(ValueError, match="transform needs the site"):
        est.transform(feats, covariates=age)
    with pytest.raises(ValueError, match="1 covariate"):
        est.transform(feats, site=site)
    with pytest.raises(ValueError, match="one label per row"):
        ComBat().fit(feats, site=site[:-1])


def test_combat_n_iter():
    feats, _, site = _sites(p=6)
    est = ComBat().fit(feats, site=site)
    assert est.eb_applied_ and est.n_iter_ >= 1
    assert ComBat(empirical_bayes=False).fit(feats, site=site).n_iter_ == 0


def _manual_folds(feats, age, site, y, cv):
    """Out-of-fold probabilities computed step by step, each step fitted on the fold."""
    out = np.empty(len(y))
    for train, test in cv.split(feats, y):
        combat = ComBat().fit(feats[train], site=site[train], covariates=age[train])
        conf = ConfoundRegressor().fit(
            combat.transform(feats[train], site=site[train], covariates=age[train]),
            confounds=age[train])
        model = LogisticRegression().fit(
            conf.transform(combat.transform(feats[train], site=site[train],
                                            covariates=age[train]), confounds=age[train]),
            y[train])
        test_x = conf.transform(combat.transform(feats[test], site=site[test],
                                                 covariates=age[test]), confounds=age[test])
        out[test] = model.predict_proba(test_x)[:, 1]
    return out


def test_metadata_routing_in_a_pipeline():
    """With routing on, a Pipeline routes site, covariates and confounds to both steps in
    fit and predict, by default (no set_*_request needed): the same numbers as fitting
    each step by hand on the training fold."""
    feats, age, site = _sites(seed=2)
    y = np.random.default_rng(3).integers(0, 2, site.size)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    expected = _manual_folds(feats, age, site, y, cv)
    out = np.empty(len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        for train, test in cv.split(feats, y):
            pipe = make_pipeline(ComBat(), ConfoundRegressor(), LogisticRegression())
            pipe.fit(feats[train], y[train], site=site[train], covariates=age[train],
                     confounds=age[train])
            out[test] = pipe.predict_proba(feats[test], site=site[test], covariates=age[test],
                                           confounds=age[test])[:, 1]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert sklearn.get_config()["enable_metadata_routing"] is False
    with sklearn.config_context(enable_metadata_routing=True):
        # a request can be switched off as usual
        combat = ComBat().set_fit_request(covariates=False)
        assert combat.get_metadata_routing().fit.requests["covariates"] is False


def test_column_form_in_cross_val_predict():
    """Site and covariates as named columns travel with the rows through
    cross_val_predict; each fold's steps see only that fold's training rows."""
    feats, age, site = _sites(seed=4)
    y = np.random.default_rng(5).integers(0, 2, site.size)
    frame = pd.DataFrame(feats, columns=["f0", "f1", "f2"]).assign(age=age, site=site)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    pipe = make_pipeline(
        ComBat(site_column="site", covariate_columns=["age"], keep_covariates=True),
        ConfoundRegressor(confound_columns=[-1]), LogisticRegression())
    out = cross_val_predict(pipe, frame, y, cv=cv, method="predict_proba")[:, 1]
    np.testing.assert_allclose(out, _manual_folds(feats, age, site, y, cv), rtol=1e-12)
    # the same by name, with pandas output carrying the names between the steps
    named = make_pipeline(
        ComBat(site_column="site", covariate_columns=["age"], keep_covariates=True),
        ConfoundRegressor(confound_columns=["age"]), LogisticRegression())
    named.set_output(transform="pandas")
    np.testing.assert_allclose(
        cross_val_predict(named, frame, y, cv=cv, method="predict_proba")[:, 1], out,
        rtol=1e-12)
    # names out: the features, then the kept covariate; pandas output keeps them
    combat = clone(pipe[0]).set_output(transform="pandas").fit(frame)
    assert list(combat.get_feature_names_out()) == ["f0", "f1", "f2", "age"]
    assert list(combat.transform(frame).columns) == ["f0", "f1", "f2", "age"]
    assert combat.layout_ == "columns"
    reg = ConfoundRegressor(confound_columns="age").fit(frame[["f0", "age"]])
    assert list(reg.get_feature_names_out()) == ["f0"]
    with pytest.raises(ValueError, match="no column names"):
        ComBat(site_column="site").fit(feats)
    with pytest.raises(ValueError, match="do not pass site"):
        ComBat(site_column="site").fit(frame, site=site)


def test_last_columns_layout_deprecated_but_equal():
    """The layout of painmarkers < 0.2 still gives the same numbers, with a FutureWarning
    naming the new form; n_covariates=None (or site=) opts out of it."""
    feats, age, site = _sites(seed=6)
    codes = pd.factorize(site)[0].astype(float)
    new = ComBat(keep_covariates=True).fit_transform(feats, site=codes, covariates=age)
    with pytest.warns(FutureWarning, match=r"site=\.\.\..*n_covariates=None") as record:
        old = ComBat(n_covariates=1, keep_covariates=True).fit_transform(
            np.column_stack([feats, age, codes]))
    np.testing.assert_array_equal(old, new)
    assert record[0].filename == __file__  # the warning points at the caller's line
    with pytest.warns(FutureWarning, match="n_covariates"):
        old = ComBat().fit(np.column_stack([feats, codes]))
    assert old.layout_ == "last_columns"
    with pytest.warns(FutureWarning, match="by position"):
        est = ComBat(0, False)
    assert est.get_params()["empirical_bayes"] is False
    with pytest.warns(FutureWarning, match=r"confounds=\.\.\."):
        out = ConfoundRegressor(n_confounds=1).fit_transform(np.column_stack([feats, age]))
    np.testing.assert_array_equal(out, ConfoundRegressor().fit_transform(feats, confounds=age))
    with pytest.warns(FutureWarning, match="n_confounds"):
        ConfoundRegressor().fit(np.column_stack([feats, age]))
    with pytest.raises(ValueError, match="cannot be combined"):
        ComBat(n_covariates=1).fit(feats, site=codes)


def test_one_site_and_no_confounds():
    """Without a site ComBat only rescales each feature by sqrt((n-1)/n) about its mean;
    without confounds ConfoundRegressor only removes the training mean."""
    feats, _, _ = _sites(seed=7)
    n = len(feats)
    out = ComBat(n_covariates=None).fit_transform(feats)
    mean = feats.mean(axis=0)
    np.testing.assert_allclose(out, mean + (feats - mean) * np.sqrt((n - 1) / n), rtol=1e-12)
    np.testing.assert_allclose(ConfoundRegressor(n_confounds=None).fit_transform(feats),
                               feats - mean, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="without a site"):
        ComBat(n_covariates=None).fit(feats).transform(feats, site=np.zeros(n))
