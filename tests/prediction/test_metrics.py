"""Tests of painmarkers.prediction.metrics against hand computations and references."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction.metrics import (
    binary_metrics,
    delong_auc_variance,
    forced_choice_accuracy,
    roc_auc_ci,
    wilson_ci,
)
from painmarkers.schema import METRIC_COLUMNS


def _delong_slow(y, s):
    """O(n^2) structural components of DeLong et al. (1988), written from the paper."""
    x = s[y == 1]
    z = s[y == 0]
    psi = (x[:, None] > z[None, :]).astype(float) + 0.5 * (x[:, None] == z[None, :])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    auc = psi.mean()
    s10 = ((v10 - auc) ** 2).sum() / (x.size - 1)
    s01 = ((v01 - auc) ** 2).sum() / (z.size - 1)
    return auc, s10 / x.size + s01 / z.size


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_delong_equals_quadratic_reference(seed, ties):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(23, int), np.zeros(31, int)]
    s = rng.normal(size=y.size) + 0.8 * y
    if ties:
        s = np.round(s)
    auc, var = delong_auc_variance(y, s)
    ref_auc, ref_var = _delong_slow(y, s)
    np.testing.assert_allclose(auc, ref_auc, rtol=1e-12)
    np.testing.assert_allclose(auc, roc_auc_score(y, s), rtol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=1e-10)


def test_hanley_mcneil_1982_ct_ratings():
    """Published worked example: CT ratings (Hanley & McNeil 1982, Table 1): AUC 0.893."""
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(normal.size, int), np.ones(abnormal.size, int)]
    s = np.r_[normal, abnormal].astype(float)
    res = roc_auc_ci(y, s)
    np.testing.assert_allclose(res.loc[0, "estimate"], 0.893, atol=5e-4)
    auc, var = _delong_slow(y, s)
    z = stats.norm.isf(0.025)
    np.testing.assert_allclose(res.loc[0, "ci_low"], auc - z * np.sqrt(var), rtol=1e-10)
    np.testing.assert_allclose(res.loc[0, "ci_high"], auc + z * np.sqrt(var), rtol=1e-10)
    # Hanley & McNeil report SE 0.032 (exponential approximation); DeLong's is close.
    np.testing.assert_allclose(np.sqrt(var), 0.0326, atol=0.004)


def test_roc_auc_ci_columns_and_bootstrap():
    rng = np.random.default_rng(4)
    y = np.r_[np.ones(40, int), np.zeros(40, int)]
    s = rng.normal(size=80) + y
    d = roc_auc_ci(y, s)
    b = roc_auc_ci(y, s, method="bootstrap", n_bootstrap=3000, random_state=0)
    assert list(d.columns) == list(METRIC_COLUMNS)
    assert d.loc[0, "numerator"] == 40 and d.loc[0, "n"] == 80
    # the two intervals estimate the same thing
    np.testing.assert_allclose(b.loc[0, ["ci_low", "ci_high"]].to_numpy(float),
                               d.loc[0, ["ci_low", "ci_high"]].to_numpy(float), atol=0.03)
    again = roc_auc_ci(y, s, method="bootstrap", n_bootstrap=3000, random_state=0)
    np.testing.assert_allclose(again.loc[0, "ci_low"], b.loc[0, "ci_low"], rtol=0)
    # Cluster bootstrap with singleton clusters behaves like a plain bootstrap.
    c = roc_auc_ci(y, s, method="bootstrap", n_bootstrap=500, random_state=0,
                   clusters=np.arange(80))
    assert c.loc[0, "ci_method"] == "cluster bootstrap"
    np.testing.assert_allclose(c.loc[0, "ci_low"], d.loc[0, "ci_low"], atol=0.05)


def test_auc_ci_coverage_simulation():
    """DeLong 95 % interval covers the true AUC in about 95 % of samples (binormal)."""
    rng = np.random.default_rng(11)
    delta = 1.0
    true_auc = stats.norm.cdf(delta / np.sqrt(2))
    y = np.r_[np.ones(40, int), np.zeros(40, int)]
    hits = 0
    n_sim = 500
    for _ in range(n_sim):
        s = rng.normal(size=80) + delta * y
        r = roc_auc_ci(y, s)
        hits += r.loc[0, "ci_low"] <= true_auc <= r.loc[0, "ci_high"]
    assert 0.92 <= hits / n_sim <= 0.975


def test_wilson_vs_statsmodels():
    for x, n in [(0, 10), (3, 10), (10, 10), (17, 25)]:
        lo, hi = wilson_ci(x, n, confidence=0.9)
        ref = proportion_confint(x, n, alpha=0.1, method="wilson")
        np.testing.assert_allclose([lo, hi], ref, rtol=1e-10, atol=1e-12)


def test_binary_metrics_hand_counts():
    y = np.r_[np.ones(15, int), np.zeros(10, int)]
    p = np.r_[np.ones(12, int), np.zeros(3, int), np.ones(2, int), np.zeros(8, int)]
    res = binary_metrics(y, p, prevalence=0.1, random_state=0, n_bootstrap=4000).set_index(
        "metric")
    # TP=12, FN=3, FP=2, TN=8
    expected = {"sensitivity": 12 / 15, "specificity": 8 / 10, "ppv": 12 / 14,
                "npv": 8 / 11, "accuracy": 20 / 25, "balanced_accuracy": 0.8}
    for k, v in expected.items():
        np.testing.assert_allclose(res.loc[k, "estimate"], v, rtol=1e-12)
    lo, hi = proportion_confint(12, 15, method="wilson")
    np.testing.assert_allclose(res.loc["sensitivity", ["ci_low", "ci_high"]].to_numpy(float),
                               [lo, hi], rtol=1e-10)
    ppv10 = 0.8 * 0.1 / (0.8 * 0.1 + 0.2 * 0.9)
    np.testing.assert_allclose(res.loc["ppv_at_prevalence", "estimate"], ppv10, rtol=1e-12)
    npv10 = 0.8 * 0.9 / (0.8 * 0.9 + 0.2 * 0.1)
    np.testing.assert_allclose(res.loc["npv_at_prevalence", "estimate"], npv10, rtol=1e-12)
    assert res.loc["ppv_at_prevalence", "ci_low"] < ppv10 < res.loc["ppv_at_prevalence",
                                                                    "ci_high"]
    # balanced accuracy bootstrap SD close to the binomial delta-method SD
    sd = np.sqrt(0.8 * 0.2 / 15 + 0.8 * 0.2 / 10) / 2
    width = res.loc["balanced_accuracy", "ci_high"] - res.loc["balanced_accuracy", "ci_low"]
    np.testing.assert_allclose(width, 2 * 1.96 * sd, rtol=0.15)


def test_forced_choice():
    y = [1, 0, 1, 0, 1, 0]
    s = [0.9, 0.1, 0.2, 0.6, 0.4, 0.4]
    res = forced_choice_accuracy(y, s, ["a", "a", "b", "b", "c", "c"])
    np.testing.assert_allclose(res.loc[0, "estimate"], 1.5 / 3, rtol=1e-12)
    with pytest.raises(DesignError, match="subject 'b' has 2 positive and 0 negative"):
        forced_choice_accuracy([1, 0, 1, 1], [1, 2, 3, 4], ["a", "a", "b", "b"])


def test_bad_input():
    with pytest.raises(DesignError, match="only one class"):
        roc_auc_ci([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="0/1"):
        roc_auc_ci(["CLBP", "HC"], [0.1, 0.2])
    with pytest.raises(DataError, match="non-finite"):
        roc_auc_ci([1, 0, 1], [0.1, np.nan, 0.3])
    with pytest.raises(DataError, match="shape"):
        roc_auc_ci([1, 0, 1], [0.1, 0.3])
    with pytest.raises(ValueError, match="'method' parameter"):
        roc_auc_ci([1, 0], [0.1, 0.3], method="hanley")
    with pytest.raises(ValueError, match="'prevalence' parameter must be in"):
        binary_metrics([1, 0], [1, 0], prevalence=1.0)


def _obuchowski_slow(y, s, g):
    """Clustered DeLong variance written from Obuchowski (1997), O(n^2)."""
    x, z = s[y == 1], s[y == 0]
    gx, gz = g[y == 1], g[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    m, n = x.size, z.size
    auc = psi.mean()
    clusters = np.unique(g)
    k = clusters.size
    s10 = s01 = s11 = 0.0
    for c in clusters:
        v10 = psi[gx == c].sum() / n  # sum over the cluster's positives of V10
        v01 = psi[:, gz == c].sum() / m
        mi, ni = (gx == c).sum(), (gz == c).sum()
        s10 += (v10 - mi * auc) ** 2
        s01 += (v01 - ni * auc) ** 2
        s11 += (v10 - mi * auc) * (v01 - ni * auc)
    s10 *= k / ((k - 1) * m)
    s01 *= k / ((k - 1) * n)
    s11 *= k / (k - 1)
    return auc, s10 / m + s01 / n + 2 * s11 / (m * n)


def test_clustered_delong_equals_reference():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(20), 3)
    y = rng.integers(0, 2, g.size)
    s = np.round(rng.normal(size=g.size) + y + np.repeat(rng.normal(size=20), 3), 1)
    res = roc_auc_ci(y, s, clusters=g)
    auc, var = _obuchowski_slow(y, s, g)
    np.testing.assert_allclose(res.loc[0, "estimate"], auc, rtol=1e-12)
    half = stats.norm.isf(0.025) * np.sqrt(var)
    np.testing.assert_allclose(res.loc[0, "ci_high"], min(1, auc + half), rtol=1e-10)
    assert res.loc[0, "ci_method"] == "clustered DeLong (Obuchowski)"
    with pytest.raises(DataError, match="clusters has shape"):
        roc_auc_ci(y, s, clusters=g[:-1])


def test_clustered_delong_coverage_with_correlated_rows():
    """Three correlated rows per subject: the clustered interval keeps ~95 % coverage
    while the naive DeLong interval (independence assumed) is too narrow."""
    rng = np.random.default_rng(5)
    n_sub, n_rep, n_sim = 40, 3, 300
    g = np.repeat(np.arange(n_sub), n_rep)
    y = np.repeat(np.r_[np.ones(n_sub // 2, int), np.zeros(n_sub // 2, int)], n_rep)
    # subject effect (var 1) + row noise (var 0.25): true AUC for random pairs
    delta = 0.8
    true_auc = stats.norm.cdf(delta / np.sqrt(2 * 1.25))
    hit_c = hit_n = 0
    for _ in range(n_sim):
        s = np.repeat(rng.normal(size=n_sub), n_rep) + 0.5 * rng.normal(size=g.size) + \
            delta * y
        c = roc_auc_ci(y, s, clusters=g)
        d = roc_auc_ci(y, s)
        hit_c += c.loc[0, "ci_low"] <= true_auc <= c.loc[0, "ci_high"]
        hit_n += d.loc[0, "ci_low"] <= true_auc <= d.loc[0, "ci_high"]
    assert 0.91 <= hit_c / n_sim <= 0.98
    assert hit_n / n_sim < 0.88


# ---- regression_metrics ----------------------------------------------------------------------
def _brute_force_bootstrap(y, pred, base, clusters, n_boot, seed):
    """The resampling of regression_metrics written as a loop over resamples."""
    from sklearn.metrics import mean_absolute_error

    rng = np.random.default_rng(seed)
    codes, uniq = pd.factorize(np.asarray(clusters))
    members = [np.flatnonzero(codes == k) for k in range(len(uniq))]
    out = []
    for start in range(0, n_boot, 500):
        picks = rng.integers(0, len(uniq), (min(500, n_boot - start), len(uniq)))
        for pick in picks:
            idx = np.concatenate([members[k] for k in pick])
            yy, pp, bb = y[idx], pred[idx], base[idx]
            slope, intercept = np.polyfit(pp, yy, 1)
            out.append([1 - np.sum((yy - pp) ** 2) / np.sum((yy - bb) ** 2),
                        mean_absolute_error(yy, pp), np.sqrt(np.mean((yy - pp) ** 2)),
                        np.corrcoef(pp, yy)[0, 1], slope, intercept])
    return np.array(out)


def test_regression_metrics_point_estimates():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    from painmarkers.prediction import regression_metrics

    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    pred = 0.6 * y + rng.normal(0, 0.5, 50) + 0.2
    res = regression_metrics(y, pred, n_bootstrap=100, random_state=0).set_index("metric")
    est = res["estimate"]
    np.testing.assert_allclose(est["r2"], r2_score(y, pred), rtol=1e-12)
    np.testing.assert_allclose(est["mae"], mean_absolute_error(y, pred), rtol=1e-12)
    np.testing.assert_allclose(est["rmse"], np.sqrt(mean_squared_error(y, pred)), rtol=1e-12)
    np.testing.assert_allclose(est["pearson_r"], stats.pearsonr(pred, y)[0], rtol=1e-12)
    fit = stats.linregress(pred, y)
    np.testing.assert_allclose(est["calibration_slope"], fit.slope, rtol=1e-12)
    np.testing.assert_allclose(est["calibration_intercept"], fit.intercept, rtol=1e-12)
    assert res.loc["r2", "numerator"] == pytest.approx(np.sum((y - pred) ** 2), rel=1e-12)
    assert res.loc["r2", "denominator"] == pytest.approx(np.sum((y - y.mean()) ** 2), rel=1e-12)
    # a baseline: R² against it
    base = np.full(50, 0.3)
    r2b = regression_metrics(y, pred, baseline=base, n_bootstrap=10).set_index("metric")
    np.testing.assert_allclose(r2b.loc["r2", "estimate"],
                               1 - np.sum((y - pred) ** 2) / np.sum((y - 0.3) ** 2), rtol=1e-12)


@pytest.mark.parametrize("clustered", [False, True])
def test_regression_metrics_bootstrap_equals_a_loop(clustered):
    from painmarkers.prediction import regression_metrics

    rng = np.random.default_rng(1)
    n = 45
    clusters = np.repeat(np.arange(15), 3) if clustered else np.arange(n)
    y = rng.normal(size=n) + np.repeat(rng.normal(size=15), 3)
    pred = 0.5 * y + rng.normal(0, 0.7, n)
    base = y.mean() + rng.normal(0, 0.05, n)
    res = regression_metrics(y, pred, baseline=base, clusters=clusters if clustered else None,
                             n_bootstrap=1200, confidence=0.9, random_state=7)
    boots = _brute_force_bootstrap(y, pred, base, clusters, 1200, 7)
    low, high = np.quantile(boots, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(res["ci_low"], low, rtol=1e-9)
    np.testing.assert_allclose(res["ci_high"], high, rtol=1e-9)
    assert (res["ci_low"] <= res["estimate"]).all() and (res["estimate"] <= res["ci_high"]).all()
    assert res["ci_method"].iloc[0] == ("percentile bootstrap (clusters)" if clustered
                                        else "percentile bootstrap")


def test_regression_metrics_bad_input():
    from painmarkers.prediction import regression_metrics

    with pytest.raises(DataError, match="y_pred has shape"):
        regression_metrics([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match="non-finite"):
        regression_metrics([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 3 rows"):
        regression_metrics([1, 2], [1, 2])
    with pytest.raises(ValueError, match="'n_bootstrap' parameter"):
        regression_metrics([1, 2, 3], [1, 2, 3], n_bootstrap=5)
    with pytest.raises(DataError, match="clusters has shape"):
        regression_metrics([1, 2, 3], [1, 2, 3], clusters=[1, 2])
