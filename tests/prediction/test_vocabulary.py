"""The data-parameter vocabulary in painmarkers.prediction: subject=, sessions=, clusters=,
keyword-only parameters, and the deprecation path of every old spelling."""

import json

import numpy as np
import pandas as pd
import pytest

from painmarkers._results import Result
from painmarkers._versions import versions
from painmarkers.exceptions import DataError, DesignError
from painmarkers.model import Cohort
from painmarkers.prediction import (
    evaluate_biomarker,
    forced_choice_accuracy,
    roc_auc_ci,
    wilson_ci,
)

FAST = {"n_permutations": 3, "n_repeats": 2, "n_bootstrap": 200, "random_state": 0}


def _frame(seed=0, n_pos=12, n_neg=12):
    rng = np.random.default_rng(seed)
    n = n_pos + n_neg
    return pd.DataFrame({"subject_id": [f"sub-{i:02d}" for i in range(n)],
                         "group": ["CLBP"] * n_pos + ["HC"] * n_neg,
                         "alff__SMA_L": rng.normal(size=n) + np.r_[np.ones(n_pos),
                                                                   np.zeros(n_neg)]})


def _same(a, b):
    assert a.auc == b.auc and a.auc_ci_low == b.auc_ci_low
    np.testing.assert_array_equal(a.predictions["score"], b.predictions["score"])
    np.testing.assert_array_equal(a.null_distribution, b.null_distribution)


# ---- renames and keyword-only parameters ---------------------------------------------------
def test_positive_and_later_parameters_keyword_only_with_deprecation():
    df = _frame()
    new = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", **FAST)
    with pytest.warns(FutureWarning, match=r"Passing positive by position.*positive=\.\.\."):
        old = evaluate_biomarker(df, ["alff__SMA_L"], "group", "CLBP", **FAST)
    _same(old, new)
    # the whole old positional signature: positive, model, cv, confounds, site, groups,
    # n_permutations, random_state
    with pytest.warns(FutureWarning, match="subject=.*n_permutations=.*random_state="):
        old = evaluate_biomarker(df, ["alff__SMA_L"], "group", "CLBP", None, None, None,
                                 None, "subject_id", 3, 0, n_repeats=2, n_bootstrap=200)
    _same(old, new)


def test_groups_renamed_subject():
    df = _frame()
    new = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP",
                             subject="subject_id", **FAST)
    with pytest.warns(FutureWarning, match="'groups' parameter.*renamed 'subject'"):
        old = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP",
                                 groups="subject_id", **FAST)
    _same(old, new)
    assert old.parameters["subject"] == "subject_id" and "groups" not in old.parameters
    with pytest.raises(TypeError, match="both 'groups'"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", groups="x",
                           subject="subject_id")


def test_metric_functions_renames():
    rng = np.random.default_rng(1)
    y = np.tile([1, 0], 20)
    g = np.repeat(np.arange(20), 2)
    s = rng.normal(size=40) + 0.5 * y
    new = roc_auc_ci(y, s, method="bootstrap", confidence=0.9, n_bootstrap=200,
                     random_state=0, clusters=g)
    with pytest.warns(FutureWarning, match="method=.*confidence=.*n_bootstrap=.*random_state="):
        old = roc_auc_ci(y, s, "bootstrap", 0.9, 200, 0, clusters=g)
    pd.testing.assert_frame_equal(old, new)
    with pytest.warns(FutureWarning, match="renamed 'clusters'"):
        old = roc_auc_ci(y, s, method="bootstrap", confidence=0.9, n_bootstrap=200,
                         random_state=0, groups=g)
    pd.testing.assert_frame_equal(old, new)
    new = forced_choice_accuracy(y, s, g)
    assert new.equals(forced_choice_accuracy(y, s, clusters=g))
    with pytest.warns(FutureWarning, match="renamed 'clusters'"):
        assert forced_choice_accuracy(y, s, groups=g).equals(new)
    with pytest.warns(FutureWarning, match="confidence="):
        assert wilson_ci(8, 10, 0.9) == wilson_ci(8, 10, confidence=0.9)
    with pytest.raises(DataError, match="clusters has shape"):
        forced_choice_accuracy(y, s, g[:-1])


# ---- subject= ------------------------------------------------------------------------------
def test_subject_column_rules():
    df = _frame()
    # a table of one row per subject needs no id column: each row is its own subject
    res = evaluate_biomarker(df.drop(columns="subject_id"), ["alff__SMA_L"], "group",
                             positive="CLBP", **FAST)
    assert res.parameters["subject"] is None and res.n_subjects == len(df)
    assert "grouped by row" in res.parameters["cv"]
    # subject=None says so explicitly; the numbers are those of distinct ids
    _same(evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", subject=None,
                             **FAST), res)
    # another subject column, named
    renamed = df.rename(columns={"subject_id": "participant_id"})
    res = evaluate_biomarker(renamed, ["alff__SMA_L"], "group", positive="CLBP",
                             subject="participant_id", **FAST)
    assert res.parameters["subject"] == "participant_id"
    assert set(res.predictions["subject_id"]) == set(df["subject_id"])
    with pytest.raises(DataError, match="subject column 'participant' is not in data"):
        evaluate_biomarker(renamed, ["alff__SMA_L"], "group", positive="CLBP",
                           subject="participant")
    # several sessions and no id column: refused, rows could split across folds
    two = pd.concat([df.assign(session="pre"), df.assign(session="post")])
    with pytest.raises(DataError, match=r"several sessions.*'post', 'pre'.*subject="):
        evaluate_biomarker(two.drop(columns="subject_id"), ["alff__SMA_L"], "group",
                           positive="CLBP")


# ---- sessions= -----------------------------------------------------------------------------
def _sessions_frame(seed=3):
    """12 CLBP with pre and post, 12 HC with baseline and followup; sub-03's pre and
    sub-15's baseline were removed (e.g. by the motion rule)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(24):
        sid, patient = f"sub-{i:02d}", i < 12
        for ses in (["pre", "post"] if patient else ["baseline", "followup"]):
            rows.append({"subject_id": sid, "group": "CLBP" if patient else "HC",
                         "session": ses, "age": 40 + i,
                         "alff__SMA_L": rng.normal() + patient * (ses == "pre")})
    df = pd.DataFrame(rows)
    gone = ((df.subject_id == "sub-03") & (df.session == "pre")) | (
        (df.subject_id == "sub-15") & (df.session == "baseline"))
    return df[~gone].reset_index(drop=True)


def test_sessions_mapping_counts_and_names_subjects_without_the_session():
    df = _sessions_frame()
    sessions = {"CLBP": "pre", "HC": "baseline"}
    res = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP",
                             sessions=sessions, n_splits=3, **FAST)
    assert res.n == 22 and res.n_subjects == 22 and res.n_positive == 11
    assert res.excluded[["subject_id", "reason"]].to_dict("records") == [
        {"subject_id": "sub-03", "reason": "no session 'pre'"},
        {"subject_id": "sub-15", "reason": "no session 'baseline'"}]
    assert res.excluded["row"].isna().all()
    assert "no session 'pre': 1" in res.summary()
    assert res.parameters["sessions"] == sessions
    # the same numbers as selecting the rows by hand; rows keep their input numbers
    keep = ((df.group == "CLBP") & (df.session == "pre")) | (
        (df.group == "HC") & (df.session == "baseline"))
    manual = evaluate_biomarker(df[keep], ["alff__SMA_L"], "group", positive="CLBP",
                                n_splits=3, **FAST)
    _same(res, manual)
    np.testing.assert_array_equal(res.predictions["row"], np.flatnonzero(keep))
    assert manual.excluded.empty
    # a list of labels selects the same rows here
    as_list = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP",
                                 sessions=["pre", "baseline"], n_splits=3, **FAST)
    _same(as_list, res)
    assert as_list.excluded["reason"].tolist() == [
        "no session among ['pre', 'baseline']"] * 2


def test_sessions_list_paired_design_and_errors():
    df = _sessions_frame()
    patients = df[df.group == "CLBP"]
    res = evaluate_biomarker(patients, ["alff__SMA_L"], "session", positive="pre",
                             sessions=["pre", "post"], n_splits=3, **FAST)
    assert res.n == 23 and res.n_subjects == 12 and res.excluded.empty
    only_post = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP",
                                   sessions={"CLBP": "post", "HC": "baseline"}, n_splits=3,
                                   **FAST)
    assert only_post.excluded["subject_id"].tolist() == ["sub-15"]
    with pytest.raises(DesignError, match=r"Session 'week4' is absent from column 'session' "
                                          r"\(present: \['baseline', 'followup', 'post', "
                                          r"'pre'\]"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", sessions="week4")
    with pytest.raises(DataError, match=r"group\(s\) \['clbp'\] that are not in column 'group'"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP",
                           sessions={"clbp": "pre", "HC": "baseline"})
    with pytest.raises(DataError, match="session column 'visit'"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", sessions="pre",
                           within="visit")
    with pytest.raises(TypeError, match="'sessions' parameter"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", sessions=3)
    # missing values in an unselected session do not matter
    df.loc[df.session == "post", "alff__SMA_L"] = np.nan
    res = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP",
                             sessions={"CLBP": "pre", "HC": "baseline"}, n_splits=3, **FAST)
    assert res.n == 22


def test_cohort_sessions_and_subjects_without_data():
    rng = np.random.default_rng(4)
    ids = [f"{i:02d}" for i in range(16)]
    participants = pd.DataFrame({"participant_id": ids, "group": ["CLBP"] * 8 + ["HC"] * 8})
    measures = pd.DataFrame([
        {"participant_id": sid, "session": ses, "roi": "SMA_L", "feature": "alff",
         "value": rng.normal() + (int(sid) < 8)}
        for sid in ids[:-1]  # subject 15 has no data at all
        for ses in (["pre", "post"] if int(sid) < 8 else ["baseline"])
        if not (sid == "02" and ses == "pre")])
    cohort = Cohort.from_frames(participants, measures=measures)
    res = evaluate_biomarker(cohort, [("alff", "SMA_L")], "group", positive="CLBP",
                             sessions={"CLBP": "pre", "HC": "baseline"}, n_splits=3, **FAST)
    assert res.n == 14
    assert dict(zip(res.excluded["subject_id"], res.excluded["reason"])) == {
        "02": "no session 'pre'", "15": "no session data"}
    # the Cohort and its wide table are interchangeable inputs
    wide = evaluate_biomarker(cohort.wide(), [("alff", "SMA_L")], "group", positive="CLBP",
                              sessions={"CLBP": "pre", "HC": "baseline"}, n_splits=3, **FAST)
    _same(res, wide)


# ---- result protocol -----------------------------------------------------------------------
def test_result_protocol(tmp_path):
    res = evaluate_biomarker(_frame(), ["alff__SMA_L"], "group", positive="CLBP", **FAST)
    assert isinstance(res, Result)
    assert res.versions == versions() and "versions" not in res.parameters
    files = res.save(tmp_path / "out")
    assert set(files) == {"metrics", "folds", "roc", "calibration", "predictions", "excluded",
                          "null_distribution", "parameters", "summary"}
    assert all(path.is_file() and path.parent == tmp_path / "out" for path in files.values())
    payload = json.loads(files["parameters"].read_text())
    assert payload["type"] == "BiomarkerEvaluation"
    assert payload["parameters"]["positive"] == "CLBP"
    assert payload["versions"] == versions()
    assert files["summary"].read_text().strip() == res.summary()
    assert pd.read_csv(files["null_distribution"])["auc"].size == 3
