"""Correlations: equal to SciPy/pingouin called directly and to closed forms; bad input."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

from painmarkers import ClinicalScore, Cohort, ROIMeasure, Session, Subject
from painmarkers.exceptions import DataError, DesignError
from painmarkers.schema import CORRELATION_COLUMNS
from painmarkers.stats import correlate


@pytest.fixture
def data():
    rng = np.random.default_rng(2024)
    n = 25
    age = rng.normal(45, 10, n)
    vas = 0.05 * age + rng.normal(5, 1, n)
    return pd.DataFrame({
        "subject_id": [f"{i:02d}" for i in range(n)],
        "VAS": vas,
        "age": age,
        "bmi": rng.normal(26, 4, n),
        "alff__INS_L": 0.4 * vas + 0.02 * age + rng.normal(0, 1, n),
        "alff__mPFC": -0.3 * vas + rng.normal(0, 1, n),
        "alff__SMA_L": rng.normal(0, 1, n),
    })


def _fisher(r, n_eff, confidence=0.95):
    z, se = np.arctanh(r), 1 / np.sqrt(n_eff - 3)
    c = stats.norm.ppf(1 - (1 - confidence) / 2)
    return np.tanh(z - c * se), np.tanh(z + c * se)


def _residual(v, covs):
    design = np.column_stack([np.ones(len(v)), *covs])
    beta, *_ = np.linalg.lstsq(design, v, rcond=None)
    return v - design @ beta


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_correlation_equals_libraries_and_closed_form(data, method):
    res = correlate(data, "VAS", ["alff__INS_L", "alff__mPFC"], method=method)
    assert list(res.columns) == list(CORRELATION_COLUMNS)
    assert list(res["y"]) == ["alff__INS_L", "alff__mPFC"]
    n = len(data)
    for _, row in res.iterrows():
        x, y = data["VAS"].to_numpy(), data[row["y"]].to_numpy()
        func = stats.pearsonr if method == "pearson" else stats.spearmanr
        direct = func(x, y)
        pgr = pg.corr(x, y, method=method)
        np.testing.assert_allclose([row["r"], row["p"]], [direct.statistic, direct.pvalue],
                                   rtol=1e-10)
        np.testing.assert_allclose([row["r"], row["p"]], [pgr["r"].iloc[0], pgr["p_val"].iloc[0]],
                                   rtol=1e-10)
        # closed form: Pearson r of the (ranked) data, t test on n - 2 df, Fisher-z CI
        if method == "spearman":
            x, y = stats.rankdata(x), stats.rankdata(y)
        zx = (x - x.mean()) / x.std(ddof=1)
        zy = (y - y.mean()) / y.std(ddof=1)
        r = np.sum(zx * zy) / (n - 1)
        t = r * np.sqrt((n - 2) / (1 - r**2))
        np.testing.assert_allclose(row["r"], r, rtol=1e-12)
        np.testing.assert_allclose(row["statistic"], t, rtol=1e-10)
        np.testing.assert_allclose(row["p"], 2 * stats.t.sf(abs(t), n - 2), rtol=1e-8)
        np.testing.assert_allclose([row["ci_low"], row["ci_high"]], _fisher(r, n), rtol=1e-10)
        assert (row["n"], row["df"], row["n_excluded"], row["covariates"]) == (n, n - 2, 0, "")


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_partial_correlation_equals_pingouin_and_residual_form(data, method):
    covs = ["age", "bmi"]
    row = correlate(data, "VAS", "alff__INS_L", method=method, covariates=covs,
                    confidence=0.9).iloc[0]
    pgr = pg.partial_corr(data=data, x="VAS", y="alff__INS_L", covar=covs, method=method)
    np.testing.assert_allclose([row["r"], row["p"]], [pgr["r"].iloc[0], pgr["p_val"].iloc[0]],
                               rtol=1e-10)
    cols = data[["VAS", "alff__INS_L", *covs]].to_numpy()
    if method == "spearman":
        cols = np.column_stack([stats.rankdata(c) for c in cols.T])
    rx = _residual(cols[:, 0], cols[:, 2:].T)
    ry = _residual(cols[:, 1], cols[:, 2:].T)
    r = np.corrcoef(rx, ry)[0, 1]
    n, k = len(data), 2
    df = n - 2 - k
    t = r * np.sqrt(df / (1 - r**2))
    np.testing.assert_allclose(row["r"], r, rtol=1e-10)
    np.testing.assert_allclose(row["statistic"], t, rtol=1e-8)
    np.testing.assert_allclose(row["p"], 2 * stats.t.sf(abs(t), df), rtol=1e-8)
    np.testing.assert_allclose([row["ci_low"], row["ci_high"]], _fisher(r, n - k, 0.9),
                               rtol=1e-8)
    assert (row["df"], row["covariates"], row["confidence"]) == (df, "age;bmi", 0.9)


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_one_sided(data, alternative):
    row = correlate(data, "VAS", "alff__mPFC", alternative=alternative).iloc[0]
    direct = stats.pearsonr(data["VAS"], data["alff__mPFC"], alternative=alternative)
    np.testing.assert_allclose(row["p"], direct.pvalue, rtol=1e-10)
    z, se = np.arctanh(row["r"]), 1 / np.sqrt(len(data) - 3)
    c = stats.norm.ppf(0.95)
    if alternative == "greater":
        np.testing.assert_allclose(row["ci_low"], np.tanh(z - c * se), rtol=1e-10)
        assert row["ci_high"] == 1.0
    else:
        np.testing.assert_allclose(row["ci_high"], np.tanh(z + c * se), rtol=1e-10)
        assert row["ci_low"] == -1.0


def test_every_roi_against_vas_by_default_and_nan_pairs_excluded(data):
    data = data.copy()
    data.loc[[3, 7], "alff__mPFC"] = np.nan
    data.loc[9, "VAS"] = np.nan
    res = correlate(data, "VAS").set_index("y")
    assert list(res.index) == ["alff__INS_L", "alff__mPFC", "alff__SMA_L"]
    assert res.loc["alff__INS_L", "n"] == 24 and res.loc["alff__INS_L", "n_excluded"] == 1
    assert res.loc["alff__mPFC", "n"] == 22 and res.loc["alff__mPFC", "n_excluded"] == 3
    assert res.loc["alff__mPFC", "excluded"] == (
        "09 (VAS is missing); 03 (alff__mPFC is missing); 07 (alff__mPFC is missing)")
    ok = data[["VAS", "alff__mPFC"]].dropna()
    np.testing.assert_allclose(res.loc["alff__mPFC", "r"],
                               stats.pearsonr(ok["VAS"], ok["alff__mPFC"]).statistic, rtol=1e-12)


def test_cohort_input_with_session(data):
    subjects = []
    for _, r in data.iterrows():
        pre = Session("pre", [ClinicalScore("VAS", r["VAS"])],
                      [ROIMeasure("INS_L", "alff", r["alff__INS_L"])])
        post = Session("post", [ClinicalScore("VAS", r["VAS"] / 2)],
                       [ROIMeasure("INS_L", "alff", r["alff__mPFC"])])
        subjects.append(Subject(r["subject_id"], "CLBP", {"age": r["age"]}, [pre, post]))
    cohort = Cohort(subjects)
    with pytest.raises(DataError, match="more than one row"):
        correlate(cohort, "VAS")
    pre_row = correlate(cohort, "VAS", sessions="pre").iloc[0]
    np.testing.assert_allclose(pre_row["r"],
                               stats.pearsonr(data["VAS"], data["alff__INS_L"]).statistic,
                               rtol=1e-12)
    post_row = correlate(cohort, "VAS", "alff__INS_L", covariates="age", sessions="post").iloc[0]
    expected = pg.partial_corr(data=data.assign(v=data["VAS"] / 2), x="v", y="alff__mPFC",
                               covar="age")
    np.testing.assert_allclose(post_row["r"], expected["r"].iloc[0], rtol=1e-10)


# -- bad input ---------------------------------------------------------------------------------
def test_constant_column_named(data):
    data = data.assign(flat=3.0)
    with pytest.raises(DataError, match=r"Column 'flat' is constant \(all 3\)"):
        correlate(data, "VAS", "flat")
    with pytest.raises(DataError, match="Column 'flat' is constant"):
        correlate(data, "VAS", "alff__INS_L", covariates="flat")


def test_small_n_non_numeric_and_options(data):
    with pytest.raises(DesignError, match=r"'VAS ~ alff__INS_L' needs at least 5 .* 4 remain"):
        correlate(data.iloc[:4], "VAS", "alff__INS_L", covariates=["age", "bmi"])
    bad = data.assign(alff__INS_L=data["alff__INS_L"].astype(object))
    bad.loc[2, "alff__INS_L"] = "n/a?"
    with pytest.raises(DataError, match=r"'alff__INS_L' must be numeric; subject '02' has"):
        correlate(bad, "VAS", "alff__INS_L")
    with pytest.raises(ValueError, match="'method' parameter must be one of"):
        correlate(data, "VAS", "age", method="kendall")
    with pytest.raises(ValueError, match=r"\['age'\] cannot be both a covariate and x or y"):
        correlate(data, "VAS", "age", covariates="age")
    with pytest.raises(DataError, match="the data have none"):
        correlate(data[["VAS", "age"]], "VAS")
    with pytest.raises(DataError, match="no column 'pain'"):
        correlate(data, "pain", "age")


# -- statistical validity ------------------------------------------------------------------------
def test_null_rejection_rate_near_nominal():
    rng = np.random.default_rng(0)
    n, m = 20, 800
    frame = pd.DataFrame(rng.normal(size=(n, m + 2)),
                         columns=["x", "c"] + [f"f__{j}" for j in range(m)])
    for method, covs in (("pearson", None), ("spearman", None), ("pearson", "c")):
        p = correlate(frame, "x", method=method, covariates=covs)["p"].to_numpy()
        # the m tests share x, so rejection counts vary more than binomial: generous bound
        np.testing.assert_allclose(np.mean(p < 0.05), 0.05, atol=0.035)


@pytest.mark.slow
def test_fisher_ci_coverage_and_planted_partial_correlation():
    rng = np.random.default_rng(1)
    n, n_rep, rho = 30, 2000, 0.5
    covered, rs = 0, []
    for _ in range(n_rep):
        c = rng.normal(size=n)
        x = rng.normal(size=n)
        y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
        # the covariate shifts both x and y: the partial correlation recovers rho
        frame = pd.DataFrame({"x": x + 2 * c, "y": y - 3 * c, "c": c})
        row = correlate(frame, "x", "y", covariates="c").iloc[0]
        covered += row["ci_low"] <= rho <= row["ci_high"]
        rs.append(row["r"])
    np.testing.assert_allclose(covered / n_rep, 0.95, atol=0.02)  # 4 binomial SD
    # Fisher z of the partial r is unbiased up to rho / (2 (n - k - 1)); 4 SE of the mean z
    expected_z = np.arctanh(rho) + rho / (2 * (n - 1 - 1))
    np.testing.assert_allclose(np.mean(np.arctanh(rs)), expected_z,
                               atol=4 / np.sqrt(n - 1 - 3) / np.sqrt(n_rep))
