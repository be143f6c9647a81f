"""mixed_anova against afex / car, pingouin and the classical split-plot sums of squares.

Fixtures (tests/fixtures/r/anova, ``make_fixtures.R``; R 4.2.2, afex 1.2-1, car 3.1-1):
``mixed_univariate.csv`` = ``summary(fit$Anova, multivariate = FALSE)$univariate.tests``,
``mixed_epsilon.csv`` = its ``pval.adjustments`` (GG / HF epsilons and p),
``mixed_mauchly.csv`` = its ``sphericity.tests``, ``mixed_afex.csv`` =
``anova(fit, es = c("ges", "pes"), correction = "none" | "GG" | "HF", observed = ...)``
for ``fit <- aov_ez(..., covariate = <centred>, factorize = FALSE, type = 3)``.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from packaging.version import Version

from painmarkers.exceptions import InferenceWarning
from painmarkers.stats import mixed_anova

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "anova"
RTOL = 1e-8

CASES = {
    "balanced": dict(between="arm"),                        # 2 arms x 3 sessions
    "unbalanced": dict(between="arm"),                      # 3 arms x 4, 3 dropouts
    "covariate": dict(between="arm", covariates="age"),     # 2 arms x 4 + centred age
    "factorial": dict(between=["arm", "sex"]),              # 2 x 2 between x 3 sessions
    "rm": dict(between=None),                               # 4 sessions, no between
    "two_visits": dict(between="arm"),                      # no sphericity
}


def _fit(case, **extra):
    data = pd.read_csv(FIX / f"data_mixed_{case}.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InferenceWarning)  # the dropouts of 'unbalanced'
        return mixed_anova(data, "y", **CASES[case], **extra)


@pytest.fixture(scope="module")
def fits():
    return {case: _fit(case) for case in CASES}


def _rows(frame, case, **eq):
    sel = frame["case"] == case
    for key, value in eq.items():
        sel &= frame[key] == value
    return frame[sel].set_index("term")


@pytest.mark.parametrize("case", list(CASES))
def test_univariate_tests_equal_car(fits, case):
    ref = _rows(pd.read_csv(FIX / "mixed_univariate.csv"), case)
    ref = ref.drop(index="(Intercept)")
    tab = fits[case].anova("none").set_index("term")
    assert list(tab.index) == list(ref.index)  # car's order: between, then within terms
    assert_allclose(tab["ss"], ref["ss"], rtol=RTOL)
    assert_allclose(tab["ss_error"], ref["error_ss"], rtol=RTOL)
    assert_allclose(tab["num_df"], ref["num_df"], rtol=0)
    assert_allclose(tab["den_df"], ref["den_df"], rtol=0)
    assert_allclose(tab["F"], ref["F"], rtol=RTOL)
    assert_allclose(tab["p"], ref["p"], rtol=RTOL)


@pytest.mark.parametrize("case", ["balanced", "unbalanced", "covariate", "factorial", "rm"])
def test_epsilons_and_corrected_p_equal_car(fits, case):
    ref = _rows(pd.read_csv(FIX / "mixed_epsilon.csv"), case)
    tab = fits[case].anova().set_index("term").loc[ref.index]
    assert_allclose(tab["eps_gg"], ref["gg_eps"], rtol=RTOL)
    assert_allclose(tab["eps_hf"], ref["hf_eps"], rtol=RTOL)  # HF-Lecoutre, uncapped
    assert_allclose(tab["p_gg"], ref["p_gg"], rtol=RTOL)
    assert_allclose(tab["p_hf"], ref["p_hf"], rtol=RTOL)      # with min(1, eps)


def test_hf_above_one_is_reported_and_capped_in_p(fits):
    row = fits["rm"].anova("HF").set_index("term").loc["session"]
    assert row["eps_hf"] > 1  # planted near-spherical data
    assert row["num_df_corrected"] == row["num_df"]
    assert row["p_corrected"] == row["p"]


@pytest.mark.parametrize("case", ["balanced", "unbalanced", "covariate", "factorial", "rm"])
def test_mauchly_equals_car(fits, case):
    ref = _rows(pd.read_csv(FIX / "mixed_mauchly.csv"), case)
    sph = fits[case].sphericity().set_index("term")
    assert list(sph.index) == list(ref.index)
    assert_allclose(sph["W"], ref["W"], rtol=RTOL)
    assert_allclose(sph["p"], ref["p"], rtol=RTOL)


def test_no_sphericity_with_two_sessions(fits):
    res = fits["two_visits"]
    assert len(res.sphericity()) == 0
    assert list(res.sphericity().columns)[:3] == ["dv", "term", "W"]
    tab = res.anova()
    assert tab["eps_gg"].isna().all() and (tab["correction"] == "none").all()
    assert_allclose(tab["p_corrected"], tab["p"], rtol=0)


@pytest.mark.parametrize("correction", ["none", "GG", "HF"])
@pytest.mark.parametrize("case", list(CASES))
def test_afex_anova_table(fits, case, correction):
    afex = pd.read_csv(FIX / "mixed_afex.csv", keep_default_na=False, na_values=["NA"])
    ref = _rows(afex, case, observed="", correction=correction)
    tab = fits[case].anova(correction).set_index("term").loc[ref.index]
    assert_allclose(tab["num_df_corrected"], ref["num_df"], rtol=RTOL)
    assert_allclose(tab["den_df_corrected"], ref["den_df"], rtol=RTOL)
    assert_allclose(tab["ss_error"] / tab["den_df_corrected"], ref["mse"], rtol=RTOL)
    assert_allclose(tab["F"], ref["F"], rtol=RTOL)
    assert_allclose(tab["ges"], ref["ges"], rtol=RTOL)
    assert_allclose(tab["partial_eta_sq"], ref["pes"], rtol=RTOL)
    assert_allclose(tab["p_corrected"], ref["p"], rtol=RTOL)


@pytest.mark.parametrize("correction", ["none", "GG"])
def test_ges_with_an_observed_factor_equals_afex(correction):
    res = _fit("factorial", observed="sex")
    afex = pd.read_csv(FIX / "mixed_afex.csv", keep_default_na=False, na_values=["NA"])
    ref = _rows(afex, "factorial", observed="sex", correction=correction)
    tab = res.anova(correction).set_index("term").loc[ref.index]
    assert_allclose(tab["ges"], ref["ges"], rtol=RTOL)
    assert_allclose(tab["p_corrected"], ref["p"], rtol=RTOL)
    plain = _fit("factorial").anova().set_index("term")
    assert (tab.loc["sex", "ges"] < plain.loc["sex", "ges"])  # observed: larger denominator


def test_complete_cases_equal_afex_and_are_named(fits):
    ref = pd.read_csv(FIX / "mixed_fit.csv").set_index("case")
    for case, res in fits.items():
        assert res.n == ref.at[case, "n_complete"]
        assert res.n + res.n_excluded == ref.at[case, "n_subjects"]
        assert len(res.sessions) == ref.at[case, "k"]
    exc = fits["unbalanced"].excluded
    assert dict(zip(exc.subject, exc.reason, strict=True)) == {
        "sub-003": "no 't2' session", "sub-012": "no 't3' session",
        "sub-020": "no 't1' session"}


def test_auto_correction_follows_the_girden_rule(fits):
    # balanced: eps_GG = 0.957 > .75 -> HF; unbalanced: 0.381 -> GG; two visits: none
    auto = fits["balanced"].anova("auto").set_index("term")
    assert auto.loc["session", "correction"] == "HF"
    assert auto.loc["arm", "correction"] == "none"
    auto = fits["unbalanced"].anova().set_index("term")  # the default is "auto"
    assert auto.loc["arm:session", "correction"] == "GG"
    assert_allclose(auto.loc["arm:session", "p_corrected"], auto.loc["arm:session", "p_gg"],
                    rtol=0)


# ------------------------------------------------------------------------- pingouin
def test_balanced_design_equals_pingouin_mixed_anova(fits):
    pg = pytest.importorskip("pingouin")
    data = pd.read_csv(FIX / "data_mixed_balanced.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pingouin's own deprecation warnings
        ref = pg.mixed_anova(data, dv="y", within="session", subject="subject_id",
                             between="arm", correction=True)
    ref = ref.set_index("Source").rename(index={"Interaction": "arm:session"})
    tab = fits["balanced"].anova().set_index("term").loc[ref.index]
    assert_allclose(tab["ss"], ref["SS"], rtol=1e-10)
    assert_allclose(tab["num_df"], ref["DF1"], rtol=0)
    assert_allclose(tab["den_df"], ref["DF2"], rtol=0)
    assert_allclose(tab["F"], ref["F"], rtol=1e-10)
    p_unc = ref["p_unc"] if "p_unc" in ref else ref["p-unc"]
    assert_allclose(tab["p"], p_unc, rtol=1e-9)
    assert_allclose(tab["partial_eta_sq"], ref["np2"], rtol=1e-10)
    # pingouin < 0.7 computed the Greenhouse-Geisser epsilon of a mixed design from the
    # covariance pooled over all subjects, ignoring the groups (0.9663 here; R's afex and
    # car give 0.9567, which the R fixtures test) and left the interaction's epsilon NaN.
    if Version(pg.__version__) >= Version("0.7"):
        within = ["session", "arm:session"]
        assert_allclose(tab.loc[within, "eps_gg"], ref.loc[within, "eps"], rtol=1e-10)
        p_gg = ref["p_GG_corr"] if "p_GG_corr" in ref else ref["p-GG-corr"]
        assert_allclose(tab.loc["session", "p_gg"], p_gg["session"], rtol=1e-9)


def test_repeated_measures_equals_pingouin_rm_anova(fits):
    pg = pytest.importorskip("pingouin")
    data = pd.read_csv(FIX / "data_mixed_rm.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pg.rm_anova(data, dv="y", within="session", subject="subject_id",
                          correction=True, detailed=True).set_index("Source")
        spher = pg.sphericity(data, dv="y", within="session", subject="subject_id")
    row = fits["rm"].anova().set_index("term").loc["session"]
    assert_allclose([row["ss"], row["ss_error"], row["F"]],
                    [ref.at["session", "SS"], ref.at["Error", "SS"], ref.at["session", "F"]],
                    rtol=1e-10)
    assert_allclose([row["eps_gg"], row["ges"]],
                    [ref.at["session", "eps"], ref.at["session", "ng2"]], rtol=1e-10)
    sph = fits["rm"].sphericity().iloc[0]
    assert_allclose([sph["W"], sph["statistic"], sph["df"]],
                    [spher.W, spher.chi2, spher.dof], rtol=1e-10)


# --------------------------------------------------------------------- closed forms
def test_balanced_split_plot_sums_of_squares_by_hand(fits):
    """Classical decomposition (Kirk 2013, split-plot SPF p.q design)."""
    res = fits["balanced"]
    data = pd.read_csv(FIX / "data_mixed_balanced.csv")
    grand = data["y"].mean()
    k = data["session"].nunique()
    N = data["subject_id"].nunique()
    subj = data.groupby("subject_id")["y"].mean()
    arm_of = data.groupby("subject_id")["arm"].first()
    arm_mean = data.groupby("arm")["y"].mean()
    ses_mean = data.groupby("session")["y"].mean()
    cell = data.groupby(["arm", "session"])["y"].mean()
    n_arm = arm_of.value_counts()
    ss_arm = k * float((n_arm * (arm_mean - grand) ** 2).sum())
    ss_subj_within = k * float(((subj - arm_mean.loc[arm_of].to_numpy()) ** 2).sum())
    ss_ses = N * float(((ses_mean - grand) ** 2).sum())
    inter = (cell - arm_mean.reindex(cell.index.get_level_values(0)).to_numpy()
             - ses_mean.reindex(cell.index.get_level_values(1)).to_numpy() + grand)
    ss_int = n_arm.iloc[0] * float((inter**2).sum())
    ss_total = float(((data["y"] - grand) ** 2).sum())
    ss_err_w = ss_total - ss_arm - ss_subj_within - ss_ses - ss_int
    tab = res.anova("none").set_index("term")
    assert_allclose(tab.loc[["arm", "session", "arm:session"], "ss"],
                    [ss_arm, ss_ses, ss_int], rtol=1e-10)
    assert_allclose(tab.loc[["arm", "session"], "ss_error"], [ss_subj_within, ss_err_w],
                    rtol=1e-10)
    # ges with all factors manipulated: SS / (SS + both error strata)
    assert_allclose(tab.loc["session", "ges"],
                    ss_ses / (ss_ses + ss_subj_within + ss_err_w), rtol=1e-10)


def test_two_visits_interaction_is_the_t_test_of_the_changes(fits):
    """With two sessions, F(arm x session) = t^2 of the two-sample t test of post - pre."""
    from scipy import stats

    data = pd.read_csv(FIX / "data_mixed_two_visits.csv")
    wide = data.pivot(index="subject_id", columns="session", values="y")
    arm = data.groupby("subject_id")["arm"].first()
    change = wide["post"] - wide["pre"]
    t = stats.ttest_ind(change[arm == "active"], change[arm == "sham"])
    row = fits["two_visits"].anova().set_index("term").loc["arm:session"]
    assert_allclose([row["F"], row["p"]], [t.statistic**2, t.pvalue], rtol=1e-10)


def test_gg_epsilon_by_hand_from_the_double_centred_covariance():
    """Greenhouse-Geisser (1959) from the pooled within-group covariance S (k x k)."""
    res = _fit("unbalanced")
    wide = res.data
    cols = [c for c in wide.columns if c.startswith("y::")]
    S = np.zeros((len(cols), len(cols)))
    for _, grp in wide.groupby("arm"):
        Y = grp[cols].to_numpy(float)
        R = Y - Y.mean(axis=0)
        S += R.T @ R
    S /= len(wide) - wide["arm"].nunique()
    k = len(cols)
    C = np.eye(k) - 1.0 / k
    D = C @ S @ C
    gg = np.trace(D) ** 2 / ((k - 1) * np.sum(D * D))
    assert_allclose(res.anova().set_index("term").at["session", "eps_gg"], gg, rtol=1e-10)
