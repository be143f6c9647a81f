"""mixed_anova: inputs, exclusions with counts, bad input, result protocol, validity.

Numbers are checked against afex / car / pingouin in test_mixed_anova_r.py.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from painmarkers import ClinicalScore, Cohort, Session, Subject
from painmarkers._results import Result
from painmarkers.exceptions import DataError, DesignError, InferenceWarning
from painmarkers.stats import MixedAnovaResult, mixed_anova

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "anova"


@pytest.fixture
def balanced():
    return pd.read_csv(FIX / "data_mixed_balanced.csv")


def test_incomplete_visits_warn_with_the_count_and_the_reasons():
    data = pd.read_csv(FIX / "data_mixed_unbalanced.csv")
    with pytest.warns(InferenceWarning, match=r"excluded 3 of 26 subjects") as rec:
        res = mixed_anova(data, "y", "arm")
    message = str(rec[0].message)
    assert "sub-003 (no 't2' session)" in message and "lmm" in message
    assert (res.n, res.n_excluded) == (23, 3)
    row = res.anova().iloc[0]
    assert row["n_excluded"] == 3 and "sub-020 (no 't1' session)" in row["excluded"]


def test_nan_scores_and_covariates_are_excluded_and_counted(balanced):
    data = balanced.assign(age=np.repeat(np.linspace(30, 60, 20), 3))
    data.loc[(data.subject_id == "sub-004") & (data.session == "post"), "y"] = np.nan
    data.loc[data.subject_id == "sub-009", "age"] = np.nan
    with pytest.warns(InferenceWarning, match="excluded 1 of 20"):
        res = mixed_anova(data, "y", "arm", covariates="age")
    assert dict(zip(res.excluded.subject, res.excluded.reason, strict=True)) == {
        "sub-004": "y missing at 'post'", "sub-009": "age missing"}
    keep = ~data.subject_id.isin(["sub-004", "sub-009"])
    ref = mixed_anova(data[keep], "y", "arm", covariates="age")
    assert_allclose(res.anova()["F"], ref.anova()["F"], rtol=1e-12)


def test_cohort_input_equals_the_table(balanced):
    subjects = []
    for sid, grp in balanced.groupby("subject_id", sort=False):
        sessions = tuple(Session(r.session, scores=(ClinicalScore("VAS", 5 + r.y / 4),))
                         for r in grp.itertuples())
        subjects.append(Subject(sid, group=grp["arm"].iloc[0], sessions=sessions))
    subjects.append(Subject("sub-099", group="sham"))
    res = mixed_anova(Cohort(subjects), "VAS", "group")  # no warning: not a partial visit
    ref = mixed_anova(balanced, "y", "arm")
    assert_allclose(res.anova()["F"], ref.anova()["F"], rtol=1e-10)
    assert_allclose(res.anova()["ges"], ref.anova()["ges"], rtol=1e-10)
    assert res.excluded.reason.tolist() == ["no session"]
    assert res.sessions == ["pre", "post", "fu"]  # order of first appearance


def test_sessions_subset_and_order(balanced):
    res = mixed_anova(balanced, "y", "arm", sessions=["post", "pre"])
    assert res.sessions == ["post", "pre"]
    ref = mixed_anova(balanced[balanced.session != "fu"], "y", "arm")
    assert_allclose(res.anova()["F"], ref.anova()["F"], rtol=1e-12)
    with pytest.raises(DesignError, match=r"\['week8'\]"):
        mixed_anova(balanced, "y", "arm", sessions=["pre", "week8"])


def test_type3_does_not_depend_on_level_order():
    data = pd.read_csv(FIX / "data_mixed_factorial.csv")
    a = mixed_anova(data, "y", ["arm", "sex"]).anova()
    b = mixed_anova(data, "y", ["sex", "arm"], levels={"arm": ["sham", "active"]}).anova()
    rename = {"sex:arm": "arm:sex", "sex:arm:session": "arm:sex:session"}
    b["term"] = b["term"].replace(rename)
    b = b.set_index("term").loc[a["term"]]
    assert_allclose(b["F"], a["F"].to_numpy(), rtol=1e-10)


def test_repeated_measures_without_between():
    data = pd.read_csv(FIX / "data_mixed_rm.csv")
    res = mixed_anova(data, "y", None)
    assert res.anova()["term"].tolist() == ["session"]
    means = res.cell_means()
    assert means["n"].tolist() == [15] * 4


def test_cell_means(balanced):
    res = mixed_anova(balanced, "y", "arm", confidence=0.9)
    means = res.cell_means()
    assert list(means.columns[:2]) == ["arm", "session"]
    sel = (balanced.arm == "sham") & (balanced.session == "fu")
    row = means[(means.arm == "sham") & (means.session == "fu")].iloc[0]
    v = balanced.loc[sel, "y"]
    half = stats.t.ppf(0.95, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    assert_allclose([row["mean"], row["sd"], row["ci_high"] - row["mean"]],
                    [v.mean(), v.std(ddof=1), half], rtol=1e-12)
    assert row["confidence"] == 0.9


# ---------------------------------------------------------------------- bad input
def test_missing_columns_are_named(balanced):
    with pytest.raises(DataError, match="'group'"):
        mixed_anova(balanced, "y", "group")
    with pytest.raises(DataError, match="'visit'"):
        mixed_anova(balanced, "y", "arm", within="visit")
    with pytest.raises(DataError, match="'age'"):
        mixed_anova(balanced, "y", "arm", covariates="age")


def test_subject_disagreeing_on_a_between_factor(balanced):
    data = balanced.copy()
    data.loc[(data.subject_id == "sub-005") & (data.session == "fu"), "arm"] = "sham"
    with pytest.raises(DataError, match="Subject 'sub-005' has different values of 'arm'"):
        mixed_anova(data, "y", "arm")


def test_covariate_varying_across_sessions(balanced):
    data = balanced.assign(weight=np.arange(len(balanced), dtype=float))
    with pytest.raises(DataError, match="subject-level covariate"):
        mixed_anova(data, "y", "arm", covariates="weight")


def test_constant_and_collinear_covariates(balanced):
    with pytest.raises(DesignError, match="constant"):
        mixed_anova(balanced.assign(site=1.0), "y", "arm", covariates="site")
    data = balanced.assign(dose=np.where(balanced.arm == "active", 1.0, 0.0))
    with pytest.raises(DesignError, match=r"rank deficient: covariate 'dose'"):
        mixed_anova(data, "y", "arm", covariates="dose")


def test_rank_deficient_between_design():
    data = pd.read_csv(FIX / "data_mixed_factorial.csv")
    data = data[~((data.arm == "sham") & (data.sex == "M"))]
    with pytest.raises(DesignError, match="arm='sham', sex='M'"):
        mixed_anova(data, "y", ["arm", "sex"])


def test_level_with_one_subject_warns(balanced):
    keep = (balanced.arm == "active") | (balanced.subject_id == "sub-011")
    with pytest.warns(InferenceWarning, match=r"1 cell\(s\).*arm='sham'"):
        res = mixed_anova(balanced[keep], "y", "arm")
    assert res.n == 11


def test_one_session_and_duplicates(balanced):
    with pytest.raises(DesignError, match="at least two sessions"):
        mixed_anova(balanced[balanced.session == "pre"], "y", "arm")
    with pytest.raises(DataError, match="more than one row for session 'pre'"):
        mixed_anova(pd.concat([balanced, balanced.iloc[[0]]]), "y", "arm")


def test_fewer_error_df_than_session_contrasts_has_no_mauchly_test():
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"subject_id": np.repeat([f"s{i}" for i in range(5)], 5),
                         "arm": np.repeat(["a", "a", "a", "b", "b"], 5),
                         "session": np.tile([f"t{j}" for j in range(5)], 5),
                         "y": rng.normal(size=25)})
    with pytest.warns(InferenceWarning, match=r"singular \(only 3 error df"):
        res = mixed_anova(data, "y", "arm")
    sph = res.sphericity()
    assert sph["W"].isna().all() and sph["p"].isna().all()
    assert np.isfinite(res.anova().set_index("term").at["session", "eps_gg"])


def test_no_complete_subject(balanced):
    data = balanced.copy()
    data.loc[data.session == "fu", "y"] = np.nan
    with pytest.raises(DesignError, match="No subject"), pytest.warns(InferenceWarning):
        mixed_anova(data, "y", "arm")


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(correction="bonferroni"), "correction"), (dict(observed="site"), "observed"),
    (dict(confidence=0), "confidence"), (dict(levels=["a", "b"], between=["arm", "x"]),
                                         "mapping"),
])
def test_invalid_options(balanced, kwargs, match):
    kw = {"between": "arm", **kwargs}
    with pytest.raises(ValueError, match=match):
        mixed_anova(balanced, "y", **kw)


# ------------------------------------------------------------------ result protocol
def test_result_protocol(balanced, tmp_path):
    res = mixed_anova(balanced, "y", "arm", correction="GG")
    assert isinstance(res, MixedAnovaResult) and isinstance(res, Result)
    assert res.to_frame().equals(res.anova())
    assert (res.anova().set_index("term").loc[["session", "arm:session"], "correction"]
            == "GG").all()
    text = res.summary()
    for needle in ("Mixed ANOVA of y", "arm (2) x session (3, within)", "Mauchly",
                   "20 with every session"):
        assert needle in text
    files = res.save(tmp_path)
    assert set(files) == {"anova", "sphericity", "cell_means", "excluded", "summary",
                          "parameters"}
    params = json.loads(files["parameters"].read_text())
    assert params["type"] == "MixedAnovaResult"
    assert params["parameters"]["correction"] == "GG"
    assert_allclose(pd.read_csv(files["anova"])["F"], res.anova()["F"], rtol=1e-12)


# ------------------------------------------------------------------------ validity
def _null_trial(rng, n_per_arm, k, cov):
    """Two arms x k sessions; arm and session main effects, no interaction."""
    L = np.linalg.cholesky(cov)
    n = 2 * n_per_arm
    arm = np.repeat(["active", "sham"], n_per_arm)
    y = (rng.standard_normal((n, k)) @ L.T + np.linspace(0, -1, k)
         + np.where(arm == "active", 0.5, 0.0)[:, None])
    return pd.DataFrame({"subject_id": np.repeat([f"s{i:02d}" for i in range(n)], k),
                         "arm": np.repeat(arm, k),
                         "session": np.tile([f"t{j}" for j in range(k)], n),
                         "y": y.ravel()})


def _null_p(seed, cov, n_trials=2000, n_per_arm=12):
    rng = np.random.default_rng(seed)
    out = np.empty((n_trials, 3))
    for i in range(n_trials):
        tab = mixed_anova(_null_trial(rng, n_per_arm, cov.shape[0], cov), "y", "arm")
        row = tab.anova().set_index("term").loc["arm:session"]
        out[i] = row[["p", "p_gg", "p_hf"]].to_numpy(float)
    return out


@pytest.mark.slow
def test_interaction_p_is_uniform_under_the_null_with_sphericity():
    """Compound symmetry (random intercept): the uncorrected F is exact.

    Recorded (seed 11, 2000 trials, 2 arms x 12 subjects x 4 sessions, intra-subject
    correlation 0.6): KS p = 0.91 (uncorrected p values), rejection rate at .05 = 0.0495
    (uncorrected), 0.0410 (GG), 0.0465 (HF); MC error (1 SD) 0.0049.
    """
    k = 4
    cov = 0.6 * np.ones((k, k)) + 0.4 * np.eye(k)
    p = _null_p(11, cov)
    mc = 3 * np.sqrt(0.05 * 0.95 / len(p))
    assert stats.kstest(p[:, 0], "uniform").pvalue > 0.001
    assert abs(np.mean(p[:, 0] < 0.05) - 0.05) < mc
    assert abs(np.mean(p[:, 2] < 0.05) - 0.05) < mc
    assert np.mean(p[:, 1] < 0.05) < 0.05 + mc  # GG is conservative under sphericity


@pytest.mark.slow
def test_corrections_keep_the_level_without_sphericity():
    """AR(1) errors with growing variance: the uncorrected test is liberal, GG/HF are not.

    Recorded (seed 12, 2000 trials, 2 arms x 12 subjects x 4 sessions, AR(1) rho 0.8, SD
    ratio 1.5 per session; GG epsilon ~0.5): rejection rate at .05 = 0.0900 uncorrected,
    0.0440 GG, 0.0455 HF.  The corrected p values are not exactly uniform (KS p 3e-11
    for GG: the epsilon correction is an approximation, conservative in the tail), so
    only the rates are asserted.
    """
    k = 4
    sd = 1.5 ** np.arange(k)
    cov = 0.8 ** np.abs(np.subtract.outer(np.arange(k), np.arange(k))) * np.outer(sd, sd)
    p = _null_p(12, cov)
    mc = 3 * np.sqrt(0.05 * 0.95 / len(p))
    assert np.mean(p[:, 0] < 0.05) > 0.05 + mc      # sphericity matters here
    assert abs(np.mean(p[:, 1] < 0.05) - 0.05) < mc
    assert abs(np.mean(p[:, 2] < 0.05) - 0.05) < mc
