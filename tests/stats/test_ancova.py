"""ancova: inputs (long, wide, tidy, Cohort), exclusions, bad input, result protocol.

The numbers themselves are checked against R, statsmodels and closed forms in
test_ancova_r.py; here the same numbers must come out whatever the input form, and every
bad input gets a clear error or an explicit warning.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from painmarkers import ClinicalScore, Cohort, Session, Subject
from painmarkers._results import Result
from painmarkers.exceptions import DataError, DesignError, InferenceWarning
from painmarkers.stats import AncovaResult, ancova

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "anova"


@pytest.fixture
def long():
    return pd.read_csv(FIX / "data_ancova_two_arms.csv")


def _wide(long):
    post = long[long.session == "post"].set_index("subject_id")
    pre = long[long.session == "pre"].set_index("subject_id")
    return pd.DataFrame({"subject_id": post.index, "arm": post["arm"].to_numpy(),
                         "age": post["age"].to_numpy(), "post": post["VAS"].to_numpy(),
                         "pre": pre.loc[post.index, "VAS"].to_numpy()})


def test_baseline_adjusted_equals_the_wide_ancova(long):
    res = ancova(long, "VAS", "arm", "age", baseline="pre", post="post")
    wide = _wide(long)
    ref = ancova(wide, "post", "arm", ["pre", "age"])
    assert_allclose(res.anova()["F"], ref.anova()["F"], rtol=1e-12)
    assert res.anova()["term"].tolist() == ["arm", "baseline", "age"]
    assert_allclose(res.adjusted_means["emmean"], ref.adjusted_means["emmean"], rtol=1e-12)
    assert res.covariates == ("baseline", "age")
    assert (res.baseline, res.post) == ("pre", "post")


def test_post_defaults_to_post_with_a_baseline(long):
    res = ancova(long, "VAS", "arm", baseline="pre")
    assert res.post == "post" and res.n == 24


def test_post_alone_selects_the_session(long):
    res = ancova(long, "VAS", "arm", post="pre")
    pre = long[long.session == "pre"]
    grand = pre.groupby("arm")["VAS"].mean()
    assert_allclose(res.emmeans("arm").set_index("arm")["emmean"], grand, rtol=1e-12)


def test_several_sessions_without_post_is_an_error(long):
    with pytest.raises(DataError, match=r"more than one row.*post=") as err:
        ancova(long, "VAS", "arm")
    assert "sub-001" in str(err.value)


def test_missing_visits_and_nan_are_excluded_and_counted(long):
    data = long.copy()
    data = data[~((data.subject_id == "sub-003") & (data.session == "pre"))]
    data.loc[(data.subject_id == "sub-007") & (data.session == "post"), "VAS"] = np.nan
    data.loc[data.subject_id == "sub-011", "age"] = np.nan
    data.loc[data.subject_id == "sub-015", "arm"] = np.nan
    res = ancova(data, "VAS", "arm", "age", baseline="pre", post="post")
    assert (res.n, res.n_excluded) == (20, 4)
    assert dict(zip(res.excluded.subject, res.excluded.reason, strict=True)) == {
        "sub-003": "no 'pre' session", "sub-007": "VAS missing at 'post'",
        "sub-011": "age missing", "sub-015": "arm missing"}
    row = res.anova().iloc[0]
    assert (row["n"], row["n_excluded"]) == (20, 4)
    assert row["excluded"].startswith("sub-003 (no 'pre' session); sub-007")
    # the numbers are those of the complete cases
    keep = ~long.subject_id.isin(["sub-003", "sub-007", "sub-011", "sub-015"])
    ref = ancova(long[keep], "VAS", "arm", "age", baseline="pre", post="post")
    assert_allclose(res.anova()["F"], ref.anova()["F"], rtol=1e-12)


def test_cohort_and_tidy_table_give_the_same_numbers(long):
    subjects = []
    for sid, grp in long.groupby("subject_id", sort=False):
        sessions = tuple(Session(r.session, scores=(ClinicalScore("VAS", r.VAS),))
                         for r in grp.itertuples())
        subjects.append(Subject(sid, group=grp["arm"].iloc[0],
                                covariates={"age": float(grp["age"].iloc[0])},
                                sessions=sessions))
    subjects.append(Subject("sub-999", group="sham"))  # no session at all
    cohort = Cohort(subjects)
    ref = ancova(long, "VAS", "arm", "age", baseline="pre")
    res = ancova(cohort, "VAS", "group", "age", baseline="pre")
    assert_allclose(res.anova()["F"], ref.anova()["F"], rtol=1e-10)
    # the tidy table has no subject-level covariates (Cohort.participants() holds them)
    ref = ancova(long, "VAS", "arm", baseline="pre")
    res = ancova(cohort.to_frame(), "VAS", "group", baseline="pre")
    assert_allclose(res.anova()["F"], ref.anova()["F"], rtol=1e-10)
    res = ancova(cohort, "VAS", "group", "age", baseline="pre")
    assert res.n_excluded == 1
    assert res.excluded.reason.tolist() == ["no session"]


def test_levels_order_and_subset():
    data = pd.read_csv(FIX / "data_ancova_oneway.csv")
    res = ancova(data, "VAS", "arm", levels=["d", "a", "b"])
    assert res.factors == {"arm": ["d", "a", "b"]}
    assert res.posthoc["contrast"].tolist() == ["d - a", "d - b", "a - b"]
    assert res.n_excluded == (data.arm == "c").sum()
    assert set(res.excluded.reason) == {"arm 'c' not in levels"}
    full = ancova(data[data.arm != "c"], "VAS", "arm")
    assert_allclose(res.anova()["F"], full.anova()["F"], rtol=1e-12)
    with pytest.raises(DesignError, match=r"\['z'\]"):
        ancova(data, "VAS", "arm", levels=["a", "z"])


def test_categorical_order_is_kept():
    data = pd.read_csv(FIX / "data_ancova_oneway.csv")
    data["arm"] = pd.Categorical(data["arm"], categories=["c", "b", "a", "d"])
    res = ancova(data, "VAS", "arm")
    assert res.factors["arm"] == ["c", "b", "a", "d"]
    assert res.posthoc["contrast"].iloc[0] == "c - b"


def test_dv_as_feature_roi_tuple():
    data = pd.read_csv(FIX / "data_ancova_oneway.csv").rename(columns={"VAS": "alff__SMA_L"})
    res = ancova(data, ("alff", "SMA_L"), "arm")
    assert res.dv == "alff__SMA_L"


def test_posthoc_options():
    data = pd.read_csv(FIX / "data_ancova_oneway.csv")
    res = ancova(data, "VAS", "arm", posthoc=None)
    assert len(res.posthoc) == 0 and "p_adjusted" in res.posthoc.columns
    assert "Pairwise" not in res.summary()
    tukey = ancova(data, "VAS", "arm", posthoc="tukey")
    assert (tukey.posthoc["adjust"] == "tukey").all()
    assert (tukey.posthoc["p_adjusted"] >= tukey.posthoc["p"]).all()
    assert_allclose(res.contrast("arm", adjust="tukey")["p_adjusted"],
                    tukey.posthoc["p_adjusted"], rtol=0)
    assert ancova(data, "VAS", "arm", ss_type=2).anova()["ss_type"].iloc[0] == 2


def test_simple_effects_with_by():
    data = pd.read_csv(FIX / "data_ancova_factorial.csv")
    res = ancova(data, "VAS", ["arm", "sex"], "age")
    tab = res.contrast("arm", by="sex")
    assert tab["by"].unique().tolist() == ["sex = F", "sex = M"]
    assert len(tab) == 6
    means = res.adjusted_means
    assert set(means["term"]) == {"arm", "sex", "arm:sex"}
    assert means.loc[means.term == "arm:sex", "n"].sum() == res.n


# ---------------------------------------------------------------------- bad input
def test_missing_column_is_named(long):
    with pytest.raises(DataError, match="'weight'"):
        ancova(long, "VAS", "arm", "weight", baseline="pre")
    with pytest.raises(DataError, match="'treatment'"):
        ancova(long, "VAS", "treatment", baseline="pre")
    with pytest.raises(DataError, match="'visit'"):
        ancova(long, "VAS", "arm", baseline="pre", within="visit")
    with pytest.raises(DesignError, match="'week4'"):
        ancova(long, "VAS", "arm", baseline="pre", post="week4")


def test_subject_disagreeing_on_the_between_factor(long):
    data = long.copy()
    data.loc[(data.subject_id == "sub-002") & (data.session == "pre"), "arm"] = "sham"
    with pytest.raises(DataError, match="Subject 'sub-002' has different values of 'arm'"):
        ancova(data, "VAS", "arm", baseline="pre")


def test_constant_covariate(long):
    data = long.assign(site=3.0)
    with pytest.raises(DesignError, match="Covariate 'site' is constant"):
        ancova(data, "VAS", "arm", "site", baseline="pre")


def test_covariate_collinear_with_the_factor(long):
    data = long.assign(dose=np.where(long.arm == "active", 2.0, 0.0))
    with pytest.raises(DesignError, match=r"covariate 'dose'.*linear combination") as err:
        ancova(data, "VAS", "arm", "dose", baseline="pre")
    assert "'arm'" in str(err.value)


def test_collinear_covariates_make_a_rank_deficient_design(long):
    data = long.assign(age_months=long["age"] * 12 + 6)
    with pytest.raises(DesignError, match=r"rank deficient.*'age_months'"):
        ancova(data, "VAS", "arm", ["age", "age_months"], baseline="pre")


def test_too_few_subjects_for_the_parameters():
    data = pd.DataFrame({"subject_id": ["a", "b", "c"], "arm": ["x", "y", "y"],
                         "z": [1.0, 2.0, 4.0], "VAS": [1.0, 2.0, 3.0]})
    with pytest.raises(DesignError, match="no error degrees of freedom"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InferenceWarning)
            ancova(data, "VAS", "arm", "z")


def test_empty_cell_of_the_factorial():
    data = pd.read_csv(FIX / "data_ancova_factorial.csv")
    data = data[~((data.arm == "sham") & (data.sex == "M"))]
    with pytest.raises(DesignError, match="arm='sham', sex='M'"):
        ancova(data, "VAS", ["arm", "sex"])


def test_level_with_one_subject_warns_with_the_count():
    data = pd.read_csv(FIX / "data_ancova_oneway.csv")
    data = data[(data.arm != "b") | (data.subject_id == data[data.arm == "b"].subject_id.iloc[0])]
    with pytest.warns(InferenceWarning, match=r"1 cell\(s\).*arm='b'"):
        res = ancova(data, "VAS", "arm")
    assert res.adjusted_means.set_index("level").at["b", "n"] == 1


def test_single_level_and_no_subject_left(long):
    with pytest.raises(DesignError, match="single level"):
        ancova(long[long.arm == "active"], "VAS", "arm", baseline="pre")
    data = long.assign(age=np.nan)
    with pytest.raises(DesignError, match=r"No subject is left.*age missing"):
        ancova(data, "VAS", "arm", "age", baseline="pre")


def test_non_numeric_values_name_the_subject(long):
    data = long.astype({"VAS": object})
    data.loc[3, "VAS"] = "n/a"
    with pytest.raises(DataError, match="'VAS' must be numeric"):
        ancova(data, "VAS", "arm", baseline="pre")


def test_duplicated_session_row(long):
    data = pd.concat([long, long.iloc[[0]]])
    with pytest.raises(DataError, match="more than one row for session"):
        ancova(data, "VAS", "arm", baseline="pre")


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(ss_type=1), "ss_type"), (dict(posthoc="scheffe"), "posthoc"),
    (dict(confidence=95), "confidence"), (dict(baseline="pre", post="pre"), "must differ"),
    (dict(levels={"sex": ["F"]}), "not between factors"),
    (dict(covariates=["age", "age"]), "twice"),
])
def test_invalid_options(long, kwargs, match):
    kw = {"baseline": "pre", **kwargs}
    with pytest.raises(ValueError, match=match):
        ancova(long, "VAS", "arm", **kw)


def test_column_in_two_roles(long):
    with pytest.raises(ValueError, match="'arm' is given both"):
        ancova(long, "VAS", "arm", "arm", baseline="pre")
    with pytest.raises(TypeError, match="'dv'"):
        ancova(long, 3, "arm", baseline="pre")


def test_method_arguments_are_checked(long):
    res = ancova(long, "VAS", "arm", "age", baseline="pre")
    with pytest.raises(ValueError, match="'sex'"):
        res.emmeans("sex")
    with pytest.raises(ValueError, match="adjust"):
        res.contrast("arm", adjust="sidak")
    with pytest.raises(ValueError, match="type"):
        res.anova(1)


# ------------------------------------------------------------------ result protocol
def test_result_protocol(long, tmp_path):
    res = ancova(long, "VAS", "arm", "age", baseline="pre")
    assert isinstance(res, AncovaResult) and isinstance(res, Result)
    assert res.to_frame().equals(res.anova())
    text = res.summary()
    for needle in ("ANCOVA of VAS at 'post', adjusted for its baseline at 'pre'",
                   "Type III", "24 analysed", "Adjusted means", "Pairwise contrasts"):
        assert needle in text
    files = res.save(tmp_path / "out")
    assert set(files) == {"anova", "adjusted_means", "posthoc", "excluded", "summary",
                          "parameters"}
    assert all(p.is_file() for p in files.values())
    back = pd.read_csv(files["anova"])
    assert_allclose(back["F"], res.anova()["F"], rtol=1e-12)
    params = json.loads(files["parameters"].read_text())
    assert params["type"] == "AncovaResult"
    assert params["parameters"]["baseline"] == "pre"
    assert "numpy" in params["versions"]
