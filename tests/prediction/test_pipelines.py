"""Tests of the in-fold ComBat and confound-regression transformers."""

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.base import clone

from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction import ComBat, ConfoundRegressor


def _sites(seed=0, n_per=(15, 20, 25), p=6):
    rng = np.random.default_rng(seed)
    site = np.repeat(np.arange(len(n_per)), n_per)
    age = rng.normal(45, 10, site.size)
    loc = rng.normal(0, 1.5, (len(n_per), p))
    scale = rng.uniform(0.5, 2.0, (len(n_per), p))
    feats = 0.05 * age[:, None] + loc[site] + scale[site] * rng.normal(size=(site.size, p))
    return feats, age, site


def test_confound_regressor_equals_ols_residuals():
    rng = np.random.default_rng(0)
    conf = rng.normal(size=(50, 2))
    feats = conf @ rng.normal(size=(2, 3)) + rng.normal(size=(50, 3))
    out = ConfoundRegressor().fit_transform(feats, confounds=conf)
    for j in range(3):
        ref = sm.OLS(feats[:, j], sm.add_constant(conf)).fit().resid
        np.testing.assert_allclose(out[:, j], ref, rtol=1e-10, atol=1e-12)


def test_confound_regressor_uses_training_coefficients():
    rng = np.random.default_rng(1)
    conf = rng.normal(size=(60, 1))
    feats = 3.0 * conf + rng.normal(size=(60, 1))
    est = ConfoundRegressor().fit(feats[:40], confounds=conf[:40])
    fit = sm.OLS(feats[:40, 0], sm.add_constant(conf[:40])).fit()
    expected = feats[40:, 0] - fit.predict(sm.add_constant(conf[40:]))
    np.testing.assert_allclose(est.transform(feats[40:], confounds=conf[40:])[:, 0], expected,
                               rtol=1e-10)
    np.testing.assert_allclose(est.coef_[:, 0], fit.params, rtol=1e-10)
    # a clone is unfitted and keeps its parameters
    assert clone(est).get_params() == {"confound_columns": None, "n_confounds": "deprecated"}


def test_confound_regressor_errors():
    X = np.column_stack([np.arange(10.0), np.ones(10)])
    with pytest.raises(DesignError, match="collinear or constant"):
        ConfoundRegressor().fit(X[:, :1], confounds=X[:, 1])
    with pytest.raises(DataError, match="at least one feature column"):
        ConfoundRegressor(confound_columns=[0, 1]).fit(X)
    with pytest.raises(ValueError, match="'n_confounds' parameter"):
        ConfoundRegressor(n_confounds=-1).fit(X)


def test_combat_location_scale_formula_without_eb():
    """Without shrinkage, each site's harmonised mean and SD equal the pooled ones."""
    feats, _, site = _sites()
    out = ComBat(empirical_bayes=False).fit_transform(feats, site=site)
    n = site.size
    counts = np.bincount(site)
    site_means = np.vstack([feats[site == s].mean(0) for s in range(3)])
    grand = counts @ site_means / n
    resid = feats - site_means[site]
    sigma = np.sqrt((resid**2).mean(0))
    for s in range(3):
        np.testing.assert_allclose(out[site == s].mean(0), grand, rtol=1e-10)
        np.testing.assert_allclose(out[site == s].std(0, ddof=1), sigma, rtol=1e-10)
    # closed form for one site: y* = sigma (y - mean_s) / sd_s + grand
    s0 = site == 0
    expected = sigma * (feats[s0] - site_means[0]) / feats[s0].std(0, ddof=1) + grand
    np.testing.assert_allclose(out[s0], expected, rtol=1e-10)


def test_combat_eb_estimates_solve_posterior_equations():
    feats, _, site = _sites(seed=2, p=20)
    est = ComBat(tol=1e-12).fit(feats, site=site)
    assert est.eb_applied_
    gh, dh = est.gamma_hat_, est.delta_hat_
    gbar, tau2 = gh.mean(1), gh.var(1, ddof=1)
    m, s2 = dh.mean(1), dh.var(1, ddof=1)
    a, b = (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2
    z = (feats - est.grand_mean_) / np.sqrt(est.var_pooled_)
    for i in range(3):
        n = (site == i).sum()
        g, d = est.gamma_star_[i], est.delta_star_[i]
        np.testing.assert_allclose(
            g, (n * tau2[i] * gh[i] + d * gbar[i]) / (n * tau2[i] + d), rtol=1e-8)
        ss = ((z[site == i] - g) ** 2).sum(0)
        np.testing.assert_allclose(d, (b[i] + 0.5 * ss) / (n / 2 + a[i] - 1), rtol=1e-8)
    # shrinkage moves estimates towards the prior mean
    assert np.all(np.abs(est.gamma_star_ - gbar[:, None]) <= np.abs(gh - gbar[:, None]) + 1e-12)


def test_combat_removes_planted_site_effects_and_keeps_covariate():
    feats, age, site = _sites(seed=3, n_per=(40, 40, 40), p=10)
    out = ComBat().fit_transform(feats, site=site, covariates=age)
    means = np.vstack([out[site == s].mean(0) for s in range(3)])
    assert np.abs(means - means.mean(0)).max() < 0.3  # was up to several units
    def spread(x):
        sds = np.vstack([x[site == s].std(0) for s in range(3)])
        return np.median(sds.max(0) / sds.min(0))

    assert spread(out) < 1.25 < 1.45 < spread(feats)
    # age slope (0.05 per year) preserved
    slope = np.polyfit(age, out.mean(1), 1)[0]
    np.testing.assert_allclose(slope, 0.05, atol=0.02)


def test_combat_train_apply_and_unseen_site():
    feats, _, site = _sites(seed=4)
    train = np.r_[0:10, 15:30, 35:55]
    est = ComBat().fit(feats[train], site=site[train])
    test = np.setdiff1d(np.arange(site.size), train)
    z = (feats[test] - est.grand_mean_) / np.sqrt(est.var_pooled_)
    g = est.gamma_star_[site[test]]
    d = est.delta_star_[site[test]]
    expected = np.sqrt(est.var_pooled_) * (z - g) / np.sqrt(d) + est.grand_mean_
    np.testing.assert_allclose(est.transform(feats[test], site=site[test]), expected,
                               rtol=1e-10)

    est = ComBat().fit(feats[site < 2], site=site[site < 2])
    with pytest.raises(DataError, match="Site 2 was not in the training data"):
        est.transform(feats[site == 2], site=site[site == 2])
    out = ComBat(unseen_site="self").fit(feats[site < 2], site=site[site < 2]).transform(
        feats[site == 2], site=site[site == 2])
    np.testing.assert_allclose(out.mean(0), est.grand_mean_, rtol=1e-8, atol=1e-10)


def test_combat_single_feature_and_errors():
    rng = np.random.default_rng(0)
    site = np.repeat([0, 1], 10)
    x = rng.normal(size=20) + 3 * site
    est = ComBat().fit(x[:, None], site=site)
    assert not est.eb_applied_
    with pytest.raises(DataError, match="at least 2 training rows per site"):
        ComBat().fit(x[:11, None], site=site[:11])
    with pytest.raises(DesignError, match="rank deficient"):
        ComBat().fit(x[:, None], site=site, covariates=site)
    with pytest.raises(ValueError, match="'unseen_site' parameter"):
        ComBat(unseen_site="drop").fit(x[:, None], site=site)


def test_combat_matches_neurocombat_reference():
    """Reference values from neuroCombat 0.2.12 (Fortin et al.; MIT), produced by::

        neuroCombat(dat=feats.T, covars=pd.DataFrame({"batch": site, "age": age}),
                    batch_col="batch", continuous_cols=["age"])["data"].T[[0, 13, 44]]

    on exactly the data below (max |difference| over all 225 values was 2.2e-6,
    neuroCombat stopping its EB iterations at a relative change of 1e-4).
    """
    rng = np.random.default_rng(2024)
    site = np.repeat([1, 2, 3], [12, 15, 18])
    age = np.round(rng.normal(45, 10, site.size), 1)
    loc = rng.normal(0, 1.0, (3, 5))
    scale = rng.uniform(0.6, 1.8, (3, 5))
    feats = 0.03 * age[:, None] + loc[site - 1] + scale[site - 1] * rng.normal(
        size=(site.size, 5))
    np.testing.assert_allclose(age[:3], [55.3, 61.4, 56.5], rtol=0)  # same draws
    reference = np.array([
        [3.00231779, 3.19789411, 1.84206836, 1.67775056, 2.41440508],
        [3.1475428, 3.23653455, 3.48185991, 1.01174868, 1.91218559],
        [2.05950412, 1.69019272, 1.38373071, 1.01711312, -0.77463269],
    ])
    ours = ComBat().fit_transform(feats, site=site, covariates=age)
    np.testing.assert_allclose(ours[[0, 13, 44]], reference, rtol=0, atol=1e-5)


def test_combat_single_training_site():
    """Leave-one-site-out over two sites trains ComBat on one site: EB has no prior to fit
    (every feature has gamma_hat = 0 and the same delta_hat); the plain estimates are used
    and the output is finite (this crashed the default harmonised CV with NaN before)."""
    feats, _, site = _sites(seed=5)
    est = ComBat(unseen_site="self").fit(feats[site == 0], site=site[site == 0])
    assert not est.eb_applied_
    np.testing.assert_allclose(est.gamma_star_, 0, atol=1e-12)
    n0 = int((site == 0).sum())
    np.testing.assert_allclose(est.delta_star_, n0 / (n0 - 1), rtol=1e-12)
    out = est.transform(feats[site == 1], site=site[site == 1])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.mean(0), est.grand_mean_, rtol=1e-8, atol=1e-10)
    # a site whose estimates are identical across features among several sites: plain too
    # (two identical features)
    X2 = np.column_stack([feats[:, 0], feats[:, 0]])
    est = ComBat().fit(X2, site=site)
    np.testing.assert_allclose(est.gamma_star_, est.gamma_hat_, rtol=0)
    assert np.isfinite(est.transform(X2, site=site)).all()
