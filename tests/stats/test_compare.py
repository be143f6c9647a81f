"""t-tests: equal to SciPy/pingouin called directly and to numpy closed forms; bad input."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from packaging.version import Version
from scipy import stats

from painmarkers import ClinicalScore, Cohort, ROIMeasure, Session, Subject
from painmarkers.exceptions import DataError, DesignError
from painmarkers.schema import TTEST_COLUMNS
from painmarkers.stats import one_sample_ttest, paired_ttest, two_sample_ttest


def _paired_frame(pre, post, dv="VAS"):
    n = len(pre)
    ids = [f"{i:02d}" for i in range(n)]
    return pd.DataFrame({"subject_id": ids * 2, "session": ["pre"] * n + ["post"] * n,
                         dv: np.r_[pre, post]})


def _moment_matched(n, mean_x, sd_x, mean_y, sd_y, sd_d, seed=0):
    """x, y with exactly the given sample means and SDs, and SD of x - y equal to sd_d."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    z -= z.mean(axis=0)
    q, _ = np.linalg.qr(z)  # orthonormal, zero-mean columns
    z1, z2 = q.T * np.sqrt(n - 1)  # unit sample SD, uncorrelated
    rho = (sd_x**2 + sd_y**2 - sd_d**2) / (2 * sd_x * sd_y)
    x = mean_x + sd_x * z1
    y = mean_y + sd_y * (rho * z1 + np.sqrt(1 - rho**2) * z2)
    return x, y


@pytest.fixture
def paired():
    rng = np.random.default_rng(42)
    pre = rng.normal(7, 1, 14)
    post = pre - rng.normal(2, 1.2, 14)
    return pre, post


def test_paired_equals_scipy_pingouin_and_closed_form(paired):
    pre, post = paired
    res = paired_ttest(_paired_frame(pre, post), "VAS")
    assert list(res.columns) == list(TTEST_COLUMNS)
    row = res.iloc[0]
    # direct library calls
    sp = stats.ttest_rel(pre, post)
    ci = sp.confidence_interval(0.95)
    pgr = pg.ttest(pre, post, paired=True)
    np.testing.assert_allclose(row["statistic"], sp.statistic, rtol=1e-12)
    np.testing.assert_allclose(row["p"], sp.pvalue, rtol=1e-10)
    np.testing.assert_allclose([row["ci_low"], row["ci_high"]], [ci.low, ci.high], rtol=1e-12)
    np.testing.assert_allclose(row["statistic"], pgr["T"].iloc[0], rtol=1e-12)
    np.testing.assert_allclose(row["p"], pgr["p_val"].iloc[0], rtol=1e-10)
    np.testing.assert_allclose(row["cohen_d"],
                               pg.compute_effsize(pre, post, paired=True, eftype="cohen_dz"),
                               rtol=1e-12)
    # closed form
    d = pre - post
    n = len(d)
    se = d.std(ddof=1) / np.sqrt(n)
    t = d.mean() / se
    tc = stats.t.ppf(0.975, n - 1)
    dz = d.mean() / d.std(ddof=1)
    np.testing.assert_allclose(row["statistic"], t, rtol=1e-12)
    np.testing.assert_allclose(row["p"], 2 * stats.t.sf(abs(t), n - 1), rtol=1e-10)
    np.testing.assert_allclose([row["ci_low"], row["ci_high"]],
                               [d.mean() - tc * se, d.mean() + tc * se], rtol=1e-12)
    np.testing.assert_allclose(row["cohen_d"], dz, rtol=1e-12)
    np.testing.assert_allclose(row["hedges_g"], dz * (1 - 3 / (4 * (n - 1) - 1)), rtol=1e-12)
    np.testing.assert_allclose([row["mean_x"], row["mean_y"], row["sd_x"], row["sd_y"]],
                               [pre.mean(), post.mean(), pre.std(ddof=1), post.std(ddof=1)],
                               rtol=1e-12)
    assert (row["n"], row["df"], row["n_excluded"], row["excluded"]) == (n, n - 1, 0, "")
    assert row["contrast"] == "pre - post" and row["method"] == "paired t-test"


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_paired_one_sided_and_confidence(paired, alternative):
    pre, post = paired
    row = paired_ttest(_paired_frame(pre, post), "VAS", alternative=alternative,
                       confidence=0.9).iloc[0]
    sp = stats.ttest_rel(pre, post, alternative=alternative)
    ci = sp.confidence_interval(0.9)
    np.testing.assert_allclose(row["p"], sp.pvalue, rtol=1e-10)
    np.testing.assert_allclose([row["ci_low"], row["ci_high"]], [ci.low, ci.high], rtol=1e-12)
    d = pre - post
    bound = d.mean() + (-1 if alternative == "greater" else 1) * stats.t.ppf(
        0.9, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    finite = row["ci_low"] if alternative == "greater" else row["ci_high"]
    np.testing.assert_allclose(finite, bound, rtol=1e-12)
    assert np.isinf(row["ci_high"] if alternative == "greater" else row["ci_low"])


def test_paired_reproduces_seed_table2_t_from_summary_statistics():
    # Table 2 of the seed: VAS n=15, pre 7.25 +/- 0.99, post 4.60 +/- 1.03, paired t = 6.80;
    # RMDQ pre 15.58 +/- 3.40, post 13.25 +/- 3.46, t = 12.72. The SD of the differences
    # implied by t = mean_d / (sd_d / sqrt(n)) is planted exactly.
    n = 15
    for (mx, sx, my, sy, t_pub) in [(7.25, 0.99, 4.60, 1.03, 6.80),
                                     (15.58, 3.40, 13.25, 3.46, 12.72)]:
        sd_d = (mx - my) * np.sqrt(n) / t_pub
        pre, post = _moment_matched(n, mx, sx, my, sy, sd_d)
        row = paired_ttest(_paired_frame(pre, post), "VAS").iloc[0]
        np.testing.assert_allclose([row["mean_x"], row["sd_x"], row["mean_y"], row["sd_y"]],
                                   [mx, sx, my, sy], rtol=1e-12)
        np.testing.assert_allclose(row["statistic"], t_pub, rtol=1e-10)
        assert row["df"] == 14 and row["p"] < 0.001


def test_paired_excludes_missing_second_session_and_nan(paired):
    pre, post = paired
    df = _paired_frame(pre, post)
    df = df[~((df.subject_id == "03") & (df.session == "post"))].copy()
    df.loc[(df.subject_id == "05") & (df.session == "pre"), "VAS"] = np.nan
    row = paired_ttest(df, "VAS").iloc[0]
    keep = np.array([i not in (3, 5) for i in range(len(pre))])
    expected = stats.ttest_rel(pre[keep], post[keep])
    np.testing.assert_allclose(row["statistic"], expected.statistic, rtol=1e-12)
    assert row["n"] == keep.sum() == 12
    assert row["n_excluded"] == 2
    assert "03 (no 'post' session)" in row["excluded"]
    assert "05 (VAS missing at 'pre')" in row["excluded"]


def test_paired_several_dvs_and_cohort_input(paired):
    pre, post = paired
    rm_pre, rm_post = pre * 2, post * 2 + 0.5 * np.sin(np.arange(len(pre)))
    subjects = [
        Subject(f"{i:02d}", "CLBP", sessions=[
            Session("pre", [ClinicalScore("VAS", pre[i]), ClinicalScore("RMDQ", rm_pre[i])]),
            Session("post", [ClinicalScore("VAS", post[i]), ClinicalScore("RMDQ", rm_post[i])]),
        ])
        for i in range(len(pre))
    ] + [Subject("hc1", "HC", sessions=[Session("baseline", [ClinicalScore("VAS", 0.5)])])]
    cohort = Cohort(subjects)
    res = paired_ttest(cohort, dv=["VAS", "RMDQ"], within="session", pre="pre", post="post")
    assert list(res["dv"]) == ["VAS", "RMDQ"]
    for dv, (x, y) in {"VAS": (pre, post), "RMDQ": (rm_pre, rm_post)}.items():
        row = res.set_index("dv").loc[dv]
        np.testing.assert_allclose(row["statistic"], stats.ttest_rel(x, y).statistic,
                                   rtol=1e-12)
        assert row["n"] == len(pre) and row["n_excluded"] == 0
    # same numbers from the tidy long table
    pd.testing.assert_frame_equal(paired_ttest(cohort.to_frame(), ["VAS", "RMDQ"]), res)


def test_two_sample_student_and_welch_equal_libraries_and_closed_form():
    rng = np.random.default_rng(7)
    x, y = rng.normal(1.0, 1.0, 12), rng.normal(0.2, 2.0, 9)
    df = pd.DataFrame({"subject_id": [f"s{i}" for i in range(21)],
                       "group": ["CLBP"] * 12 + ["HC"] * 9, "alff__SMA_L": np.r_[x, y]})
    nx, ny = len(x), len(y)
    sp2 = ((nx - 1) * x.var(ddof=1) + (ny - 1) * y.var(ddof=1)) / (nx + ny - 2)
    d = (x.mean() - y.mean()) / np.sqrt(sp2)
    g = d * (1 - 3 / (4 * (nx + ny - 2) - 1))
    for equal_var in (True, False):
        row = two_sample_ttest(df, "alff__SMA_L", levels=("CLBP", "HC"),
                               equal_var=equal_var).iloc[0]
        sp = stats.ttest_ind(x, y, equal_var=equal_var)
        ci = sp.confidence_interval(0.95)
        pgr = pg.ttest(x, y, correction=not equal_var)
        np.testing.assert_allclose(row["statistic"], sp.statistic, rtol=1e-12)
        np.testing.assert_allclose(row["p"], sp.pvalue, rtol=1e-10)
        np.testing.assert_allclose(row["df"], sp.df, rtol=1e-12)
        np.testing.assert_allclose([row["ci_low"], row["ci_high"]], [ci.low, ci.high],
                                   rtol=1e-12)
        np.testing.assert_allclose([row["statistic"], row["df"], row["p"]],
                                   [pgr["T"].iloc[0], pgr["dof"].iloc[0], pgr["p_val"].iloc[0]],
                                   rtol=1e-10)
        # closed forms
        if equal_var:
            se, dof = np.sqrt(sp2 * (1 / nx + 1 / ny)), nx + ny - 2
        else:
            vx, vy = x.var(ddof=1) / nx, y.var(ddof=1) / ny
            se = np.sqrt(vx + vy)
            dof = (vx + vy) ** 2 / (vx**2 / (nx - 1) + vy**2 / (ny - 1))
        t = (x.mean() - y.mean()) / se
        tc = stats.t.ppf(0.975, dof)
        np.testing.assert_allclose([row["statistic"], row["df"]], [t, dof], rtol=1e-12)
        np.testing.assert_allclose(row["p"], 2 * stats.t.sf(abs(t), dof), rtol=1e-10)
        np.testing.assert_allclose([row["ci_low"], row["ci_high"]],
                                   [x.mean() - y.mean() - tc * se, x.mean() - y.mean() + tc * se],
                                   rtol=1e-12)
        np.testing.assert_allclose(row["cohen_d"], d, rtol=1e-12)
        np.testing.assert_allclose(row["cohen_d"], pg.compute_effsize(x, y), rtol=1e-12)
        np.testing.assert_allclose(row["hedges_g"], g, rtol=1e-12)
        np.testing.assert_allclose(row["hedges_g"], pg.compute_effsize(x, y, eftype="hedges"),
                                   rtol=1e-12)
        assert row["method"] == ("Student t-test" if equal_var else "Welch t-test")
        assert (row["n"], row["n_x"], row["n_y"], row["contrast"]) == (21, 12, 9, "CLBP - HC")


def test_two_sample_from_cohort_with_session_per_group():
    rng = np.random.default_rng(3)
    subjects = []
    for i in range(8):
        subjects.append(Subject(f"p{i}", "CLBP", sessions=[
            Session("pre", measures=[ROIMeasure("SMA_L", "alff", 1.5 + rng.normal())]),
            Session("post", measures=[ROIMeasure("SMA_L", "alff", 1.0 + rng.normal())]),
        ]))
    for i in range(6):
        subjects.append(Subject(f"h{i}", "HC", sessions=[
            Session("baseline", measures=[ROIMeasure("SMA_L", "alff", 0.8 + rng.normal())])]))
    cohort = Cohort(subjects)
    with pytest.raises(DataError, match=r"Subject 'p0' has more than one row.*sessions="):
        two_sample_ttest(cohort, "alff__SMA_L", between="group", levels=("CLBP", "HC"))
    res = two_sample_ttest(cohort, "alff__SMA_L", between="group", levels=("CLBP", "HC"),
                           sessions={"CLBP": "pre", "HC": "baseline"}).iloc[0]
    wide = cohort.wide()
    x = wide.loc[(wide.group == "CLBP") & (wide.session == "pre"), "alff__SMA_L"].to_numpy()
    y = wide.loc[wide.group == "HC", "alff__SMA_L"].to_numpy()
    np.testing.assert_allclose(res["statistic"], stats.ttest_ind(x, y).statistic, rtol=1e-12)
    assert (res["n_x"], res["n_y"]) == (8, 6)


def test_two_sample_nan_excluded_and_groups_inferred():
    df = pd.DataFrame({"group": ["A", "A", "A", "B", "B", "B"],
                       "v": [1.0, np.nan, 2.5, 0.3, 0.1, 0.7]},
                      index=["a1", "a2", "a3", "b1", "b2", "b3"])
    row = two_sample_ttest(df, "v").iloc[0]
    assert row["contrast"] == "A - B" and row["n"] == 5 and row["n_excluded"] == 1
    assert row["excluded"] == "a2 (v missing)"
    np.testing.assert_allclose(row["statistic"],
                               stats.ttest_ind([1.0, 2.5], [0.3, 0.1, 0.7]).statistic,
                               rtol=1e-12)


def test_one_sample_equals_libraries_and_closed_form():
    rng = np.random.default_rng(11)
    x = rng.normal(0.3, 1.0, 17)
    df = pd.DataFrame({"fc": x})
    for mu in (0.0, 0.5):
        row = one_sample_ttest(df, "fc", mu=mu).iloc[0]
        sp = stats.ttest_1samp(x, mu)
        ci = sp.confidence_interval(0.95)
        n = len(x)
        se = x.std(ddof=1) / np.sqrt(n)
        t = (x.mean() - mu) / se
        tc = stats.t.ppf(0.975, n - 1)
        d = (x.mean() - mu) / x.std(ddof=1)
        np.testing.assert_allclose([row["statistic"], row["p"]], [sp.statistic, sp.pvalue],
                                   rtol=1e-10)
        np.testing.assert_allclose(row["statistic"], pg.ttest(x, mu)["T"].iloc[0], rtol=1e-12)
        np.testing.assert_allclose(row["statistic"], t, rtol=1e-12)
        # CI of mean - mu (scipy's interval is of the mean)
        np.testing.assert_allclose([row["ci_low"], row["ci_high"]], [ci.low - mu, ci.high - mu],
                                   rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose([row["ci_low"], row["ci_high"]],
                                   [x.mean() - mu - tc * se, x.mean() - mu + tc * se],
                                   rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(row["cohen_d"], d, rtol=1e-12)
        np.testing.assert_allclose(row["cohen_d"], pg.compute_effsize(x, mu), rtol=1e-12)
        np.testing.assert_allclose(row["hedges_g"], d * (1 - 3 / (4 * (n - 1) - 1)), rtol=1e-12)
        if Version(pg.__version__) >= Version("0.7"):  # before, pingouin gave d for "hedges"
            np.testing.assert_allclose(row["hedges_g"],
                                       pg.compute_effsize(x, mu, eftype="hedges"), rtol=1e-12)
        assert row["mean_y"] == mu and np.isnan(row["n_y"]) and np.isnan(row["sd_y"])


# -- bad input ---------------------------------------------------------------------------------
def test_n_below_two_raises_naming_dv():
    df = _paired_frame([7.0, 6.0], [5.0, 4.0])
    df = df[~((df.subject_id == "01") & (df.session == "post"))]
    with pytest.raises(DesignError, match=r"'VAS' needs at least 2 complete observations; 1"):
        paired_ttest(df, "VAS")
    with pytest.raises(DesignError, match=r"Group 'B'.*'v' needs at least 2.*1 remain"):
        two_sample_ttest(pd.DataFrame({"group": ["A", "A", "B"], "v": [1.0, 2.0, 3.0]}), "v")
    with pytest.raises(DesignError, match="'v' needs at least 2"):
        one_sample_ttest(pd.DataFrame({"v": [1.0, np.nan]}), "v")


def test_absent_group_and_session_named():
    df = pd.DataFrame({"group": ["CLBP", "CLBP", "HC", "HC"], "v": [1.0, 2.0, 3.0, 5.0]})
    with pytest.raises(DesignError, match=r"Group\(s\) \['Ctrl'\] absent.*'CLBP', 'HC'"):
        two_sample_ttest(df, "v", levels=("CLBP", "Ctrl"))
    with pytest.raises(DesignError, match="3 groups"):
        two_sample_ttest(pd.DataFrame({"group": ["a", "b", "c"], "v": [1.0, 2, 3]}), "v")
    with pytest.raises(DesignError, match=r"Session 'post' is absent"):
        paired_ttest(_paired_frame([1.0, 2], [1, 3]).replace({"post": "follow"}), "VAS")


def test_non_numeric_and_missing_columns():
    df = _paired_frame([7.0, 6.0, 5.0], [5.0, 4.0, 4.5])
    df["VAS"] = df["VAS"].astype(object)
    df.loc[4, "VAS"] = "four"
    with pytest.raises(DataError, match=r"Column 'VAS' must be numeric; subject '01' has 'four'"):
        paired_ttest(df, "VAS")
    with pytest.raises(DataError, match="no column 'RMDQ'"):
        paired_ttest(_paired_frame([7.0, 6.0], [5.0, 4.0]), "RMDQ")
    with pytest.raises(DataError, match="no subject column 'subject_id'"):
        paired_ttest(_paired_frame([7.0, 6.0], [5.0, 4.0]).drop(columns="subject_id"), "VAS")
    with pytest.raises(DataError, match="no group column 'arm'"):
        two_sample_ttest(pd.DataFrame({"v": [1.0, 2.0]}), "v", between="arm")


def test_constant_and_duplicate_rows_and_options():
    with pytest.raises(DataError, match=r"differences pre - post of 'VAS' are constant"):
        paired_ttest(_paired_frame([7.0, 6.0, 5.0], [5.0, 4.0, 3.0]), "VAS")
    with pytest.raises(DataError, match="'v' is constant within both groups"):
        two_sample_ttest(pd.DataFrame({"group": list("AABB"), "v": [1.0, 1, 2, 2]}), "v")
    with pytest.raises(DataError, match="values of 'v' are constant"):
        one_sample_ttest(pd.DataFrame({"v": [3.0, 3.0, 3.0]}), "v")
    dup = pd.concat([_paired_frame([7.0, 6.0], [5.0, 4.0])] * 2)
    with pytest.raises(DataError, match="Subject '00' has more than one row for session 'pre'"):
        paired_ttest(dup, "VAS")
    with pytest.raises(ValueError, match="'alternative' parameter must be one of"):
        paired_ttest(_paired_frame([7.0, 6.0], [5.0, 4.5]), "VAS", alternative="two_sided")
    with pytest.raises(ValueError, match=r"'confidence' parameter must be in \(0, 1\). Got 95"):
        one_sample_ttest(pd.DataFrame({"v": [1.0, 2.0]}), "v", confidence=95)
    with pytest.raises(TypeError, match="Cohort or a pandas DataFrame"):
        one_sample_ttest([1.0, 2.0], "v")


# -- statistical validity ------------------------------------------------------------------------
def _null_rejection(n_tests, seed):
    """Rejection rates at 5 % of the three tests under the null, many dvs at once."""
    rng = np.random.default_rng(seed)
    n = 12
    cols = [f"v{j}" for j in range(n_tests)]
    pre = pd.DataFrame(rng.normal(size=(n, n_tests)), columns=cols)
    post = pd.DataFrame(rng.normal(size=(n, n_tests)), columns=cols)
    long = pd.concat([pre.assign(subject_id=range(n), session="pre"),
                      post.assign(subject_id=range(n), session="post")])
    p_paired = paired_ttest(long, cols)["p"].to_numpy()
    grp = pd.DataFrame(np.r_[rng.normal(size=(10, n_tests)), 3 * rng.normal(size=(7, n_tests))],
                       columns=cols).assign(group=["a"] * 10 + ["b"] * 7)
    p_welch = two_sample_ttest(grp, cols, equal_var=False)["p"].to_numpy()
    p_one = one_sample_ttest(pre, cols)["p"].to_numpy()
    return [np.mean(p < 0.05) for p in (p_paired, p_welch, p_one)]


def test_null_type_one_error_near_nominal():
    rates = _null_rejection(600, seed=0)
    # binomial SD at 600 tests is 0.0089; 4 SD
    np.testing.assert_allclose(rates, 0.05, atol=0.036)


@pytest.mark.slow
def test_null_type_one_error_near_nominal_large():
    rates = _null_rejection(6000, seed=1)
    np.testing.assert_allclose(rates, 0.05, atol=0.0113)  # 4 binomial SD


@pytest.mark.slow
def test_ci_coverage_and_planted_effect_recovered():
    rng = np.random.default_rng(5)
    n, n_rep, delta = 10, 4000, 0.8
    cols = [f"v{j}" for j in range(n_rep)]
    pre = rng.normal(size=(n, n_rep))
    post = pre - delta + rng.normal(size=(n, n_rep))  # true mean(pre - post) = delta, sd_d = 1
    long = pd.concat([pd.DataFrame(pre, columns=cols).assign(subject_id=range(n), session="pre"),
                      pd.DataFrame(post, columns=cols).assign(subject_id=range(n),
                                                              session="post")])
    res = paired_ttest(long, cols)
    covered = np.mean((res["ci_low"] <= delta) & (delta <= res["ci_high"]))
    np.testing.assert_allclose(covered, 0.95, atol=0.014)  # 4 binomial SD at 4000
    # Hedges' g is (nearly) unbiased for the true dz = 0.8; Cohen's dz is biased upward.
    np.testing.assert_allclose(res["hedges_g"].mean(), delta, atol=0.03)
    assert res["cohen_d"].mean() > res["hedges_g"].mean()


def test_one_sample_nan_excluded_and_counted():
    values = [0.4, np.nan, 0.1, 0.35, np.nan, 0.2]
    df = pd.DataFrame({"fc": values}, index=["a", "b", "c", "d", "e", "f"])
    row = one_sample_ttest(df, "fc").iloc[0]
    x = np.array([0.4, 0.1, 0.35, 0.2])
    assert (row["n"], row["n_excluded"], row["df"]) == (4, 2, 3)
    assert row["excluded"] == "b (fc missing); e (fc missing)"
    t = x.mean() / (x.std(ddof=1) / 2)  # hand: n = 4, sqrt(n) = 2
    np.testing.assert_allclose(row["statistic"], t, rtol=1e-12)
    np.testing.assert_allclose(row["statistic"], stats.ttest_1samp(x, 0).statistic, rtol=1e-12)
