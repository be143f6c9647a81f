"""responders: IMMPACT responder rates, Newcombe risk difference, Altman NNT, Fisher's test.

References: R 4.2.2 (``prop.test(correct = FALSE)`` Wilson limits, Newcombe's hybrid
interval built on them, ``fisher.test``) in tests/fixtures/r/anova/responders_*.csv
(``make_fixtures.R``), statsmodels' ``confint_proportions_2indep(method="newcomb")``,
Newcombe's (1998) published Table II (method 10) and Altman's (1998) worked example.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from painmarkers import ClinicalScore, Cohort, Session, Subject
from painmarkers.exceptions import DataError, DesignError
from painmarkers.stats import outcomes, responders
from painmarkers.stats.responders import (
    RESPONDER_COLUMNS,
    newcombe_interval,
    nnt_interval,
    wilson_interval,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "anova"


@pytest.fixture(scope="module")
def tables():
    return pd.read_csv(FIX / "responders_tables.csv")


def test_wilson_and_newcombe_equal_r(tables):
    for r in tables.itertuples():
        assert_allclose(wilson_interval(r.x1, r.n1, r.confidence), [r.l1, r.u1], rtol=1e-12)
        assert_allclose(wilson_interval(r.x2, r.n2, r.confidence), [r.l2, r.u2], rtol=1e-12)
        d, lo, hi = newcombe_interval(r.x1, r.n1, r.x2, r.n2, r.confidence)
        assert_allclose([d, lo, hi], [r.rd, r.lower, r.upper], rtol=1e-12, atol=1e-15)


def test_newcombe_equals_statsmodels(tables):
    from statsmodels.stats.proportion import confint_proportions_2indep

    for r in tables.itertuples():
        ref = confint_proportions_2indep(r.x1, r.n1, r.x2, r.n2, method="newcomb",
                                         compare="diff", alpha=1 - r.confidence)
        assert_allclose(newcombe_interval(r.x1, r.n1, r.x2, r.n2, r.confidence)[1:], ref,
                        rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("counts", "published"), [
    # Newcombe (1998) Stat Med 17:873, Table II, method 10 (score, no continuity correction)
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
])
def test_newcombe_reproduces_the_published_table(counts, published):
    assert_allclose(newcombe_interval(*counts)[1:], published, rtol=0, atol=5e-5)


def test_fisher_p_equals_r(tables):
    for r in tables.itertuples():
        p = stats.fisher_exact([[r.x1, r.n1 - r.x1], [r.x2, r.n2 - r.x2]]).pvalue
        assert_allclose(p, r.fisher_p, rtol=1e-10)


def test_nnt_pieces_follow_altman():
    # RD interval excluding 0: NNTB from 1/U to 1/L
    out = nnt_interval(0.25, 0.1, 0.4)
    assert out["nnt_kind"] == "benefit"
    assert_allclose([out["nnt"], out["nntb_ci_low"], out["nntb_ci_high"]], [4, 2.5, 10])
    assert np.isnan(out["nnth_ci_low"]) and np.isnan(out["nnth_ci_high"])
    # harm: NNTH from 1/|U| to 1/|L|
    out = nnt_interval(-0.25, -0.4, -0.1)
    assert out["nnt_kind"] == "harm"
    assert_allclose([out["nnt"], out["nnth_ci_low"], out["nnth_ci_high"]], [4, 2.5, 10])
    assert np.isnan(out["nntb_ci_low"])
    # an RD interval through 0 (Altman's second case): RD 0.056 (-0.031 to 0.143) reads
    # "NNTB 18 (NNTH 32 to infinity to NNTB 7)", each bound the inverse of an RD limit
    out = nnt_interval(0.056, -0.031, 0.143)
    assert out["nnt_kind"] == "benefit" and round(out["nnt"]) == 18
    assert round(out["nnth_ci_low"]) == 32 and out["nnth_ci_high"] == np.inf
    assert round(out["nntb_ci_low"], 1) == 7.0 and out["nntb_ci_high"] == np.inf
    out = nnt_interval(0.0, -0.1, 0.1)
    assert out["nnt"] == np.inf and out["nnt_kind"] == "none"


@pytest.fixture(scope="module")
def trial():
    return pd.read_csv(FIX / "data_responders.csv")


def test_responders_from_a_long_table_equal_r(trial):
    res = responders(trial, "VAS", levels=["active", "sham"])
    assert list(res.columns) == list(RESPONDER_COLUMNS)
    ref = pd.read_csv(FIX / "responders_data.csv")
    for (_, row), (_, r) in zip(res.iterrows(), ref.iterrows(), strict=True):
        assert row["threshold"] == r["threshold"]
        assert (row["responders_x"], row["n_x"], row["responders_y"], row["n_y"]) == (
            r["x1"], r["n1"], r["x2"], r["n2"])
        assert_allclose([row["proportion_x_low"], row["proportion_x_high"],
                         row["proportion_y_low"], row["proportion_y_high"]],
                        [r["l1"], r["u1"], r["l2"], r["u2"]], rtol=1e-12)
        assert_allclose([row["risk_difference"], row["ci_low"], row["ci_high"], row["p"]],
                        [r["rd"], r["lower"], r["upper"], r["fisher_p"]], rtol=1e-10)
    assert res["n_excluded"].tolist() == [2, 2]
    assert res.at[0, "excluded"] == ("sub-005 (no 'post' session); sub-020 (VAS missing at "
                                     "'pre')")
    moderate = res.iloc[0]
    assert moderate["nnt_kind"] == "benefit"
    assert_allclose([moderate["nnt"], moderate["nntb_ci_low"], moderate["nntb_ci_high"]],
                    [1 / moderate["risk_difference"], 1 / moderate["ci_high"],
                     1 / moderate["ci_low"]], rtol=1e-12)
    substantial = res.iloc[1]  # RD interval includes 0: two pieces through infinity
    assert substantial["ci_low"] < 0 < substantial["ci_high"]
    assert substantial["nntb_ci_high"] == np.inf and substantial["nnth_ci_high"] == np.inf


def test_responder_counts_equal_outcomes_flags(trial):
    per = outcomes(trial, "VAS")
    res = responders(trial, "VAS", levels=["sham", "active"])  # order sets the contrast
    row = res.iloc[0]
    assert row["contrast"] == "sham - active"
    sham = per[(per.group == "sham") & per.percent_change.notna()]
    assert row["responders_x"] == int(sham["responder_moderate"].sum())
    assert row["n_x"] == len(sham)


def test_custom_thresholds_and_confidence(trial):
    res = responders(trial, "VAS", levels=["active", "sham"], moderate=20, substantial=70,
                     confidence=0.9)
    assert res["threshold"].tolist() == [20.0, 70.0]
    row = res.iloc[0]
    ref = newcombe_interval(row["responders_x"], row["n_x"], row["responders_y"], row["n_y"],
                            0.9)
    assert_allclose([row["ci_low"], row["ci_high"]], ref[1:], rtol=1e-12)


def test_cohort_input_counts_subjects_without_a_session():
    subjects = []
    for i, (grp, pre, post) in enumerate([("active", 8, 3), ("active", 6, 5),
                                          ("sham", 7, 6), ("sham", 5, 2),
                                          ("sham", 6, None)]):
        sessions = [Session("pre", scores=(ClinicalScore("VAS", pre),))]
        if post is not None:
            sessions.append(Session("post", scores=(ClinicalScore("VAS", post),)))
        subjects.append(Subject(f"s{i}", group=grp, sessions=tuple(sessions)))
    res = responders(Cohort(subjects), "VAS")
    row = res.iloc[0]
    assert (row["n_x"], row["n_y"], row["n_excluded"]) == (2, 2, 1)
    assert row["excluded"] == "s4 (no 'post' session)"
    assert row["contrast"] == "active - sham"  # sorted by default


def test_bad_input(trial):
    three = trial.copy()
    three.loc[three.subject_id == "sub-001", "group"] = "waitlist"
    with pytest.raises(DesignError, match="3 arms"):
        responders(three, "VAS")
    with pytest.raises(DesignError, match="'placebo'"):
        responders(trial, "VAS", levels=["active", "placebo"])
    with pytest.raises(ValueError, match="two arms"):
        responders(trial, "VAS", levels=["active"])
    with pytest.raises(DataError, match="no_such"):
        responders(trial, "VAS", column="no_such")
    with pytest.raises(ValueError, match="confidence"):
        responders(trial, "VAS", confidence=1.5)
    empty = trial[~((trial.group == "sham") & (trial.session == "post"))]
    with pytest.raises(DesignError, match="'sham' has no subject"):
        responders(empty, "VAS", levels=["active", "sham"])
    with pytest.raises(ValueError, match="count <= n"):
        wilson_interval(5, 3)


def test_missing_arm_label_is_excluded_and_named(trial):
    data = trial.copy()
    data.loc[data.subject_id == "sub-001", "group"] = np.nan
    res = responders(data, "VAS", levels=["active", "sham"])
    assert res.at[0, "n_excluded"] == 3
    assert "sub-001 (no 'group' label)" in res.at[0, "excluded"]
