"""painmarkers.stats.lmm: closed forms, statsmodels, the result protocol and bad input.

Agreement with R is in test_lmm_r.py; the null-distribution simulations in
test_lmm_validity.py (slow).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from painmarkers._results import Result
from painmarkers.exceptions import DataError, DesignError, InferenceWarning, PainmarkersWarning
from painmarkers.stats import LMMResult, lmm

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "lmm"


def split_plot(n_groups=3, n_per=6, n_visits=4, seed=0, sd_subject=1.0):
    """Balanced split-plot data: groups x visits, a random intercept per subject."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        for i in range(n_per):
            b = rng.normal(scale=sd_subject)
            for t in range(n_visits):
                rows.append((f"s{g}{i:02d}", f"g{g}", f"v{t}", 5 + 0.3 * g - 0.2 * t + b
                             + rng.normal()))
    return pd.DataFrame(rows, columns=["subject_id", "arm", "session", "VAS"])


def classical_split_plot(df):
    """Textbook split-plot ANOVA (between: arm; within: session) computed by hand."""
    y = df.VAS.to_numpy()
    m = y.mean()
    g_means = df.groupby("arm").VAS.transform("mean").to_numpy()
    s_means = df.groupby("subject_id").VAS.transform("mean").to_numpy()
    t_means = df.groupby("session").VAS.transform("mean").to_numpy()
    gt_means = df.groupby(["arm", "session"]).VAS.transform("mean").to_numpy()
    n_sub = df.subject_id.nunique()
    n_g = df.arm.nunique()
    n_t = df.session.nunique()
    ss_g = np.sum((g_means - m) ** 2)
    ss_s = np.sum((s_means - g_means) ** 2)
    ss_t = np.sum((t_means - m) ** 2)
    ss_gt = np.sum((gt_means - g_means - t_means + m) ** 2)
    ss_e = np.sum((y - gt_means - s_means + g_means) ** 2)
    df_s, df_e = n_sub - n_g, (n_sub - n_g) * (n_t - 1)
    ms_s, ms_e = ss_s / df_s, ss_e / df_e
    return {"arm": (ss_g / (n_g - 1) / ms_s, n_g - 1, df_s),
            "session": (ss_t / (n_t - 1) / ms_e, n_t - 1, df_e),
            "arm:session": (ss_gt / ((n_g - 1) * (n_t - 1)) / ms_e, (n_g - 1) * (n_t - 1),
                            df_e)}


# --------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_balanced_split_plot_gives_the_classical_anova(ddf):
    """Balanced data, positive variance: F and df of the split-plot ANOVA, exactly."""
    df = split_plot()
    res = lmm(df, "VAS ~ arm * session", ddf=ddf)
    assert not res.singular
    table = res.anova().set_index("term")
    for term, (F, num, den) in classical_split_plot(df).items():
        assert_allclose(table.loc[term, "F"], F, rtol=1e-9)
        assert table.loc[term, "num_df"] == num
        assert_allclose(table.loc[term, "den_df"], den, rtol=1e-7)  # 15 and 45
    # pingouin's mixed ANOVA on the same data (independent implementation)
    import pingouin as pg

    with warnings.catch_warnings():  # pingouin's own pandas deprecation warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        aov = pg.mixed_anova(df, dv="VAS", within="session", between="arm",
                             subject="subject_id")
    aov = aov.set_index("Source")
    assert_allclose(table.loc["arm", "F"], aov.loc["arm", "F"], rtol=1e-9)
    assert_allclose(table.loc["arm:session", "F"], aov.loc["Interaction", "F"], rtol=1e-9)
    assert_allclose(table.loc["arm:session", "p"], aov.loc["Interaction", "p_unc"], rtol=1e-6)


def test_balanced_variance_components_are_the_anova_estimators():
    df = split_plot(seed=3)
    res = lmm(df, "VAS ~ arm * session")
    a = classical_split_plot(df)
    y = df.VAS.to_numpy()
    gt = df.groupby(["arm", "session"]).VAS.transform("mean").to_numpy()
    s = df.groupby("subject_id").VAS.transform("mean").to_numpy()
    g = df.groupby("arm").VAS.transform("mean").to_numpy()
    ms_e = np.sum((y - gt - s + g) ** 2) / a["session"][2]
    ms_s = 4 * np.sum((s - g) ** 2) / 4 / a["arm"][2]
    vc = res.variance_components.set_index("group")
    assert_allclose(vc.loc["Residual", "vcov"], ms_e, rtol=1e-9)
    assert_allclose(vc.loc["subject_id", "vcov"], (ms_s - ms_e) / 4, rtol=1e-8)


def test_estimates_match_statsmodels_mixedlm():
    """statsmodels' MixedLM (REML) on the dropout fixture: the same optimum."""
    import statsmodels.formula.api as smf

    data = pd.read_csv(FIX / "data_dropout.csv").dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = smf.mixedlm("VAS ~ arm * session + age", data, groups=data["subject_id"]).fit(
            reml=True, method="powell")
        ours = lmm(data, "VAS ~ arm * session + age")
    fe = sm.fe_params
    assert_allclose(ours.coef[fe.index].to_numpy(), fe.to_numpy(), rtol=1e-5)
    vc = ours.variance_components.set_index("group")
    assert_allclose(vc.loc["Residual", "vcov"], sm.scale, rtol=1e-5)
    assert_allclose(vc.loc["subject_id", "vcov"], sm.cov_re.iloc[0, 0], rtol=1e-4)
    assert_allclose(ours.loglik, sm.llf, rtol=1e-8)


def test_random_slopes_match_statsmodels_mixedlm():
    import statsmodels.formula.api as smf

    data = pd.read_csv(FIX / "data_slopes.csv").dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = smf.mixedlm("VAS ~ arm * time + age", data, groups=data["subject_id"],
                         re_formula="~time").fit(reml=True, method="lbfgs", gtol=1e-10)
        ours = lmm(data, "VAS ~ arm * time + age", random="1 + time")
    assert_allclose(ours.coef[sm.fe_params.index].to_numpy(), sm.fe_params.to_numpy(),
                    rtol=1e-4)
    G = np.array([[ours.variance_components.vcov[0], ours.variance_components.vcov[2]],
                  [ours.variance_components.vcov[2], ours.variance_components.vcov[1]]])
    assert_allclose(G, sm.cov_re.to_numpy(), rtol=1e-4)


def test_every_available_visit_is_used():
    """Dropout: no listwise deletion; ML and REML give the documented criteria."""
    data = pd.read_csv(FIX / "data_dropout.csv")
    with pytest.warns(PainmarkersWarning, match=r"17 row\(s\) of 14 subject\(s\) excluded"):
        res = lmm(data, "VAS ~ arm * session + age")
    usable = data.dropna(subset=["VAS", "age"])
    assert res.n_obs == len(usable) == 73
    assert res.n_subjects == usable.subject_id.nunique() == 29
    assert res.n_excluded_rows == 17 and res.n_excluded_subjects == 1
    ex = res.excluded.set_index("subject")
    assert ex.loc["sub-007", "subject_excluded"]
    assert ex.loc["sub-007", "n_rows_excluded"] == 3
    assert "age missing in 3" in ex.loc["sub-007", "reason"]
    assert ex.loc["sub-020", "n_rows_excluded"] == 2 and ex.loc["sub-020", "n_rows_used"] == 1
    assert "sub-007" in res.summary() and "17 row(s)" in res.summary()


# --------------------------------------------------------------------------- API
@pytest.fixture(scope="module")
def balanced():
    data = pd.read_csv(FIX / "data_balanced.csv")
    data["session"] = pd.Categorical(data["session"], ["pre", "post", "fu"])
    return data


def test_result_protocol(balanced, tmp_path):
    res = lmm(balanced, "VAS ~ arm * session")
    assert isinstance(res, LMMResult) and isinstance(res, Result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.ddf = "wald"
    frame = res.to_frame()
    assert list(frame.columns) == ["term", "estimate", "se", "df", "t", "p", "ci_low",
                                   "ci_high"]
    assert list(frame.term) == ["Intercept", "arm[T.sham]", "session[T.post]",
                                "session[T.fu]", "arm[T.sham]:session[T.post]",
                                "arm[T.sham]:session[T.fu]"]
    paths = res.save(tmp_path / "out")
    assert set(paths) == {"fixed_effects", "anova", "variance_components", "excluded",
                          "summary", "parameters"}
    assert all(p.is_file() for p in paths.values())
    assert {k: p.name for k, p in paths.items()} == {
        "fixed_effects": "lmm_fixed_effects.csv", "anova": "lmm_anova.csv",
        "variance_components": "lmm_variance_components.csv", "excluded": "lmm_excluded.csv",
        "summary": "lmm_summary.txt", "parameters": "lmm_parameters.json"}
    assert paths["summary"].read_text() == res.summary() + "\n"
    payload = json.loads(paths["parameters"].read_text())
    assert payload["type"] == "LMMResult" and payload["n_obs"] == res.n_obs
    assert payload["theta"] == [float(t) for t in res.theta]
    assert_allclose(pd.read_csv(paths["fixed_effects"]).estimate, frame.estimate, rtol=1e-12)
    assert res.parameters["formula"] == "VAS ~ arm * session"
    assert "numpy" in res.versions
    text = res.summary()
    for piece in ("REML", "Satterthwaite", "arm:session", "Residual", "converged"):
        assert piece in text


def test_reference_level_follows_categorical_order(balanced):
    res = lmm(balanced.assign(session=balanced.session.astype(str)), "VAS ~ arm * session")
    # text column: sorted levels -> "fu" is the reference (R's default for characters)
    assert "session[T.pre]" in list(res.fixed_effects.term)
    cat = balanced.assign(arm=pd.Categorical(balanced.arm, ["sham", "active"]))
    assert "arm[T.active]" in list(lmm(cat, "VAS ~ arm * session").fixed_effects.term)
    # the Type III table and the marginal means do not depend on the reference
    a = lmm(balanced, "VAS ~ arm * session").anova()
    b = lmm(cat, "VAS ~ arm * session").anova()
    assert_allclose(a.F, b.F, rtol=1e-8)


def test_cohort_and_tables_are_interchangeable():
    from painmarkers import Cohort

    data = pd.read_csv(FIX / "data_dropout.csv")
    participants = data.drop_duplicates("subject_id")[["subject_id", "arm", "age"]]
    participants = participants.rename(columns={"arm": "group"})
    scores = data[["subject_id", "session", "VAS"]].rename(columns={"VAS": "vas"})
    cohort = Cohort.from_frames(participants, scores)
    with pytest.warns(PainmarkersWarning, match="excluded"):
        a = lmm(cohort, "VAS ~ group * session + age")
    with pytest.warns(PainmarkersWarning, match="excluded"):
        c = lmm(data.rename(columns={"arm": "group"}), "VAS ~ group * session + age")
    assert_allclose(a.coef, c.coef, rtol=1e-10)
    # Cohort.to_frame() holds no subject-level covariates (they are in participants())
    with pytest.warns(PainmarkersWarning, match="excluded"):
        b = lmm(cohort.to_frame(), "VAS ~ group * session")
    with pytest.warns(PainmarkersWarning, match="excluded"):
        d = lmm(data.rename(columns={"arm": "group"}), "VAS ~ group * session")
    assert_allclose(b.coef, d.coef, rtol=1e-10)
    assert b.n_obs == d.n_obs


def test_emmeans_and_contrast_options(balanced):
    res = lmm(balanced, "VAS ~ arm * session", ddf="kenward-roger")
    emm = res.emmeans("session", by="arm")
    assert list(emm.columns) == ["arm", "session", "emmean", "se", "df", "ci_low", "ci_high",
                                 "confidence", "method"]
    assert (emm.method == "kenward-roger").all()
    wald = res.emmeans("session", by="arm", ddf="wald", confidence=0.9)
    assert np.all(np.isinf(wald.df)) and (wald.confidence == 0.9).all()
    assert_allclose(wald.emmean, emm.emmean, rtol=1e-12)
    # cell means of a saturated balanced model are the raw means
    raw = balanced.groupby(["arm", "session"], observed=True).VAS.mean()
    assert_allclose(emm.emmean, [raw[a, s] for a, s in zip(emm.arm, emm.session)], rtol=1e-10)
    con = res.contrast("session", "arm", pre="pre", post="fu", levels=["sham", "active"])
    assert list(con.contrast) == ["sham: fu - pre", "active: fu - pre",
                                  "(sham - active): fu - pre"]
    change = {a: raw[a, "fu"] - raw[a, "pre"] for a in ("sham", "active")}
    assert_allclose(con.estimate, [change["sham"], change["active"],
                                   change["sham"] - change["active"]], rtol=1e-10)
    only = res.contrast("session")
    assert list(only.kind) == ["change", "change"]
    assert_allclose(only.estimate.iloc[0], (change["sham"] + change["active"]) / 2
                    if False else np.mean([raw[a, "post"] - raw[a, "pre"]
                                           for a in ("sham", "active")]), rtol=1e-10)


def test_anova_type1_and_ddf_override(balanced):
    res = lmm(balanced, "VAS ~ arm * session")
    t1 = res.anova(type=1)
    t3 = res.anova()
    # balanced: sequential and Type III hypotheses coincide
    assert_allclose(t1.F, t3.F, rtol=1e-8)
    kr = res.anova(ddf="kenward-roger")
    assert_allclose(kr.den_df, [18, 36, 36], rtol=1e-8)
    w = res.anova(ddf="wald")
    assert np.all(np.isinf(w.den_df))
    with pytest.raises(ValueError, match="'type'"):
        res.anova(type=2)


# --------------------------------------------------------------------------- bad input
def test_formula_term_that_is_not_a_column(balanced):
    with pytest.raises(DataError, match=r"'sesion'.*not a column"):
        lmm(balanced, "VAS ~ arm * sesion")
    with pytest.raises(DataError, match="subject column 'participant'"):
        lmm(balanced, "VAS ~ arm", subject="participant")
    with pytest.raises(DataError, match="random part uses 'time'"):
        lmm(balanced, "VAS ~ arm", random="1 + time")


def test_subject_disagreeing_on_a_between_factor(balanced):
    bad = balanced.copy()
    bad.loc[(bad.subject_id == "sub-003") & (bad.session == "fu"), "arm"] = "sham"
    with pytest.warns(PainmarkersWarning, match=r"'arm'.*varies within 1.*sub-003"):
        lmm(bad, "VAS ~ arm * session")
    with pytest.raises(DataError, match=r"between-subject column.*sub-003"):
        lmm(bad, "VAS ~ arm * session", between="arm")
    # a time-varying column is not flagged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lmm(balanced, "VAS ~ arm * session", between="arm")


def test_level_with_one_subject(balanced):
    data = balanced.copy()
    data.loc[data.subject_id == "sub-001", "arm"] = "solo"
    with pytest.warns(PainmarkersWarning, match=r"'solo' \(subject 'sub-001'\)"):
        res = lmm(data, "VAS ~ arm + session")
    assert "arm[T.solo]" in list(res.fixed_effects.term)


def test_constant_or_collinear_covariate_names_the_columns(balanced):
    data = balanced.assign(site=1.0, dose=np.arange(len(balanced)) % 5)
    with pytest.raises(DesignError, match=r"'site' = combination of \['Intercept'\]"):
        lmm(data, "VAS ~ arm * session + site")
    data["dose2"] = 2 * data["dose"] + 1
    with pytest.raises(DesignError, match=r"'dose2' = combination of \['Intercept', 'dose'\]"):
        lmm(data, "VAS ~ arm + session + dose + dose2")
    empty = balanced[~((balanced.arm == "sham") & (balanced.session == "fu"))]
    with pytest.raises(DesignError, match=r"arm\[T.sham\]:session\[T.fu\].*all zero"):
        lmm(empty, "VAS ~ arm * session")


def test_singular_fit_is_flagged_not_silent():
    data = pd.read_csv(FIX / "data_boundary.csv")
    with pytest.warns(InferenceWarning, match=r"Boundary \(singular\) fit"):
        res = lmm(data, "VAS ~ arm * session")
    assert res.singular and res.converged
    assert res.variance_components.vcov.iloc[0] == 0.0
    assert np.all(np.isfinite(res.fixed_effects.drop(columns="term").to_numpy(float)))
    assert "boundary (singular) fit: YES - the random-effect covariance is singular" in (
        res.summary())


def test_non_convergence_is_reported(balanced, monkeypatch):
    from painmarkers._mixedmodels import fit as _lmm_fit

    good = _lmm_fit._fit_1d
    monkeypatch.setattr(_lmm_fit, "_fit_1d",
                        lambda *a: (good(*a)[0] * 1.5, 1))  # stop far from the optimum
    with pytest.warns(InferenceWarning, match="may not have converged: gradient"):
        res = lmm(balanced, "VAS ~ arm * session")
    assert not res.converged and "gradient" in res.convergence_message
    assert "NOT CONVERGED" in res.summary()
    assert np.all(np.isfinite(res.fixed_effects.estimate))


def test_invalid_parameters(balanced):
    with pytest.raises(ValueError, match=r"random-effect term \('\|'\)"):
        lmm(balanced, "VAS ~ arm + (1 | subject_id)")
    with pytest.raises(ValueError, match="'ddf' parameter"):
        lmm(balanced, "VAS ~ arm", ddf="containment")
    with pytest.raises(ValueError, match="needs a REML fit"):
        lmm(balanced, "VAS ~ arm", ddf="kenward-roger", reml=False)
    with pytest.raises(ValueError, match="'confidence' parameter"):
        lmm(balanced, "VAS ~ arm", confidence=95)
    with pytest.raises(ValueError, match="'formula' parameter"):
        lmm(balanced, "VAS")
    with pytest.raises(ValueError, match="'random' parameter"):
        lmm(balanced, "VAS ~ arm", random="(1 | subject_id)")
    with pytest.raises(TypeError, match="'data' parameter"):
        lmm(balanced.to_numpy(), "VAS ~ arm")
    with pytest.raises(DesignError, match="SumContrasts"):
        lmm(balanced, "VAS ~ C(arm, contr.sum) + session")
    with pytest.raises(DataError, match="constant"):
        lmm(balanced.assign(VAS=3.0), "VAS ~ arm")
    res = lmm(balanced, "VAS ~ arm * session")
    with pytest.raises(ValueError, match="'specs' parameter names 'VAS'"):
        res.emmeans("VAS")
    with pytest.raises(ValueError, match="'pre' parameter"):
        res.contrast("session", "arm", pre="baseline")
    with pytest.raises(ValueError, match="'levels' parameter"):
        res.contrast("session", "arm", levels=["active", "placebo"])


def test_too_few_observations_for_the_random_part(balanced):
    one = balanced[balanced.session == "pre"]
    with pytest.raises(DesignError, match="more observations than random effects"):
        lmm(one, "VAS ~ arm")
