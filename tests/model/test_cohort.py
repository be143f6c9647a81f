"""Tests of Cohort construction, views and derived cohorts."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from painmarkers import ClinicalScore, Cohort, DataError, ScoreRangeError, Session, Subject
from painmarkers.exceptions import RegistryError
from painmarkers.schema import TIDY_COLUMNS


@pytest.fixture
def participants():
    return pd.DataFrame({
        "participant_id": ["sub-01", "sub-02", "sub-03"],
        "group": ["CLBP", "CLBP", "HC"],
        "age": [40, 51, 38],
        "sex": ["F", "M", "F"],
    })


@pytest.fixture
def wide_scores():
    return pd.DataFrame({
        "participant_id": ["sub-01", "sub-01", "sub-02", "sub-02", "sub-03"],
        "session_id": ["ses-pre", "ses-post", "ses-pre", "ses-post", "ses-baseline"],
        "vas": [7.0, 4.5, 8.0, np.nan, 0.0],
        "rmdq": [15, 13, 17, 14, 0],
    })


def test_from_frames_wide(participants, wide_scores):
    cohort = Cohort.from_frames(participants, wide_scores)
    assert len(cohort) == 3 and cohort.n_sessions == 5
    assert cohort.groups == ("CLBP", "HC")
    assert cohort["sub-01"].session("pre").score("VAS") == 7.0
    assert cohort["02"].session("post").score("RMDQ") == 14.0
    # NaN is kept as a missing score, not dropped
    assert np.isnan(cohort["02"].session("post").score("VAS"))
    assert cohort["03"].covariates == {"age": 38, "sex": "F"}


def test_from_frames_long_equals_wide(participants, wide_scores):
    long = wide_scores.melt(id_vars=["participant_id", "session_id"], var_name="instrument",
                            value_name="value")
    a = Cohort.from_frames(participants, wide_scores).to_frame()
    b = Cohort.from_frames(participants, long).to_frame()
    key = ["subject_id", "session", "name"]
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_to_frame_columns_and_values(participants, wide_scores):
    frame = Cohort.from_frames(participants, wide_scores).to_frame()
    assert tuple(frame.columns[: len(TIDY_COLUMNS)]) == TIDY_COLUMNS
    assert list(frame.columns[len(TIDY_COLUMNS):]) == ["extractor", "text"]
    scores = frame[frame["kind"] == "score"]
    assert len(scores) == 10  # 5 sessions x 2 instruments, NaN kept
    vas = scores[scores["name"] == "VAS"].set_index(["subject_id", "session"])["value"]
    assert_allclose(vas.loc[("01", "pre")], 7.0)
    assert_allclose(vas.loc[("01", "post")], 4.5)
    assert frame["value"].dtype == float
    # subject covariates: 3 subjects x (age, sex), session None
    covs = frame[frame["kind"] == "covariate"]
    assert len(covs) == 6 and covs["session"].isna().all()
    assert len(frame) == 16


def test_to_frame_keeps_numeric_and_text_covariates():
    cohort = Cohort([
        Subject("01", "CLBP", {"age": 40, "sex": "F", "bmi": np.nan, "site": "007",
                               "smoker": True}, [Session("pre")]),
        Subject("02", "HC", {"age": 51.5, "sex": np.nan, "bmi": 22.5, "site": "012",
                             "smoker": False}),
    ])
    covs = cohort.to_frame().set_index(["subject_id", "name"])
    assert (covs["kind"] == "covariate").all() and covs["session"].isna().all()
    # numbers in value (float), everything else in text, never coerced
    assert covs.loc[("01", "age"), "value"] == 40.0 and covs.loc[("01", "age"), "text"] is None
    assert covs.loc[("02", "age"), "value"] == 51.5
    assert covs.loc[("01", "sex"), "text"] == "F" and np.isnan(covs.loc[("01", "sex"), "value"])
    assert covs.loc[("01", "site"), "text"] == "007"  # leading zeros kept
    assert covs.loc[("02", "sex"), "text"] is None and np.isnan(covs.loc[("02", "sex"), "value"])
    assert np.isnan(covs.loc[("01", "bmi"), "value"]) and covs.loc[("02", "bmi"), "value"] == 22.5
    assert covs.loc[("01", "smoker"), "value"] == 1.0
    assert covs.loc[("02", "smoker"), "value"] == 0.0
    # a subject without sessions is still in the tidy table through its covariates
    assert set(covs.index.get_level_values("subject_id")) == {"01", "02"}


def test_wide_carries_numeric_session_metadata():
    cohort = Cohort([Subject("01", "CLBP", {"age": 40}, [
        Session("pre", [ClinicalScore("VAS", 7)],
                metadata={"t_r": 2, "mean_fd": 0.12, "acq_time": "10:00", "passed": True}),
        Session("post", [ClinicalScore("VAS", 4)], metadata={"t_r": 2.0, "age": 41}),
    ])])
    wide = cohort.wide().set_index("session")
    assert wide.loc["pre", "t_r"] == 2.0 and wide.loc["pre", "mean_fd"] == 0.12
    assert np.isnan(wide.loc["post", "mean_fd"])
    # text and boolean metadata stay out (as in to_frame)
    assert "acq_time" not in wide.columns and "passed" not in wide.columns
    # a session's metadata wins over the subject's covariate of the same name
    assert wide.loc["pre", "age"] == 40 and wide.loc["post", "age"] == 41
    meta = cohort.to_frame().query("kind == 'metadata'")
    assert sorted(meta["name"]) == ["age", "mean_fd", "t_r", "t_r"]


def test_participants_and_wide(participants, wide_scores):
    cohort = Cohort.from_frames(participants, wide_scores)
    p = cohort.participants()
    assert list(p.columns) == ["subject_id", "group", "age", "sex", "n_sessions"]
    assert p["n_sessions"].tolist() == [2, 2, 1]
    w = cohort.wide()
    assert len(w) == 5
    assert {"subject_id", "group", "session", "age", "VAS", "RMDQ"} <= set(w.columns)


def test_with_measures_and_select(participants, wide_scores):
    cohort = Cohort.from_frames(participants, wide_scores)
    measures = pd.DataFrame({"subject_id": ["01", "03"], "session": ["pre", "baseline"],
                             "roi": ["SMA_L", "SMA_L"], "feature": ["alff", "alff"],
                             "value": [1.2, 0.9]})
    c2 = cohort.with_measures(measures)
    assert c2 is not cohort
    assert cohort["01"].session("pre").measures == ()  # original untouched
    assert c2["01"].session("pre").measure("alff", "SMA_L") == 1.2
    w = c2.wide()
    assert_allclose(w.set_index(["subject_id", "session"]).loc[("03", "baseline"), "alff__SMA_L"],
                    0.9)
    with pytest.raises(DataError, match="two measures"):
        c2.with_measures(measures)
    c3 = c2.with_measures(measures.assign(value=[2.0, 3.0]), replace=True)
    assert c3["01"].session("pre").measure("alff", "SMA_L") == 2.0
    with pytest.raises(DataError, match="Subject '09'"):
        cohort.with_measures(measures.assign(subject_id=["09", "01"]))
    with pytest.raises(DataError, match="no session 'post'"):
        cohort.with_measures(measures.assign(session=["pre", "post"]))

    clbp = cohort.select(levels="CLBP")
    assert clbp.subject_ids == ("01", "02")
    pre = cohort.select(sessions="pre")
    assert pre.subject_ids == ("01", "02") and pre.n_sessions == 2
    assert cohort.select(subjects="sub-03").subject_ids == ("03",)
    with pytest.raises(DataError, match=r"Group\(s\) \['PAIN'\] not in the cohort"):
        cohort.select(levels="PAIN")
    with pytest.raises(DataError, match=r"Session\(s\) \['week4'\]"):
        cohort.select(sessions="week4")


def test_select_old_keywords_warn_and_work(participants, wide_scores):
    cohort = Cohort.from_frames(participants, wide_scores)
    with pytest.warns(FutureWarning, match="levels"):
        old = cohort.select(group="CLBP")
    assert old == cohort.select(levels="CLBP")
    with pytest.warns(FutureWarning, match="sessions"):
        old = cohort.select(session=["pre", "ses-post"])
    assert old == cohort.select(sessions=["pre", "post"])
    with pytest.warns(FutureWarning, match="levels=..."):
        old = cohort.select("HC")
    assert old == cohort.select(levels="HC")


def test_duplicate_subject_ids(participants):
    dup = pd.concat([participants, participants.iloc[[0]]])
    with pytest.raises(DataError, match=r"Duplicate subject id\(s\).*\['01'\]"):
        Cohort.from_frames(dup)
    with pytest.raises(DataError, match=r"Duplicate subject id\(s\) in the cohort: \['01'\]"):
        Cohort([Subject("01"), Subject("sub-01")])


def test_missing_participant_id_column(participants):
    with pytest.raises(DataError, match="needs a subject id column"):
        Cohort.from_frames(participants.rename(columns={"participant_id": "pid"}))


def test_score_of_unknown_subject(participants, wide_scores):
    bad = wide_scores.copy()
    bad.loc[0, "participant_id"] = "sub-99"
    with pytest.raises(DataError, match="Subject '99' appears in the scores table"):
        Cohort.from_frames(participants, bad)


def test_out_of_range_score_names_subject_and_session(participants, wide_scores):
    bad = wide_scores.copy()
    bad.loc[1, "vas"] = 11
    with pytest.raises(ScoreRangeError, match=r"Subject '01', session 'post': VAS score 11"):
        Cohort.from_frames(participants, bad)


def test_non_numeric_score_names_subject(participants, wide_scores):
    bad = wide_scores.astype({"vas": object})
    bad.loc[2, "vas"] = "severe"
    with pytest.raises(DataError, match=r"Subject '02', session 'pre'.*'severe'"):
        Cohort.from_frames(participants, bad)


def test_unknown_wide_column(participants, wide_scores):
    with pytest.raises(DataError, match=r"\['mood'\] are not registered instruments"):
        Cohort.from_frames(participants, wide_scores.assign(mood=1))
    cohort = Cohort.from_frames(participants, wide_scores.assign(pain=1.0),
                                instruments={"vas": "VAS", "pain": "NRS"})
    assert cohort["01"].session("pre").score("NRS") == 1.0


def test_duplicate_score_rows(participants, wide_scores):
    bad = pd.concat([wide_scores, wide_scores.iloc[[0]]])
    with pytest.raises(DataError, match="Subject '01' session 'pre' has more than one VAS"):
        Cohort.from_frames(participants, bad)


def test_sessionless_scores_use_default_session(participants):
    scores = pd.DataFrame({"participant_id": ["sub-01"], "vas": [5.0]})
    cohort = Cohort.from_frames(participants, scores)
    assert cohort["01"].session_labels == ("baseline",)


def test_repr_and_equality():
    subs = [Subject("01", "CLBP", sessions=[Session("pre", [ClinicalScore("VAS", 7)])]),
            Subject("02")]
    a, b = Cohort(subs), Cohort(list(subs))
    assert a == b
    assert repr(a) == "Cohort(2 subjects: CLBP 1, no group 1; 1 sessions)"
    assert "01" in a and "sub-02" in a and "03" not in a
    with pytest.raises(KeyError):
        a["03"]
    with pytest.raises(TypeError, match="Cohort expects Subject"):
        Cohort(["01"])


def test_equality_with_missing_values():
    a = Cohort([Subject("01", covariates={"bmi": float("nan")},
                        sessions=[Session("pre", [ClinicalScore("VAS", float("nan"))])])])
    b = Cohort([Subject("01", covariates={"bmi": np.float64("nan")},
                        sessions=[Session("pre", [ClinicalScore("VAS", np.nan)])])])
    assert a == b
    assert a != Cohort([Subject("01", covariates={"bmi": 1.0})])


def test_duplicate_measure_names_subject(participants):
    measures = pd.DataFrame({"subject_id": ["02", "02"], "session": ["pre", "pre"],
                             "roi": ["SMA_L"] * 2, "feature": ["alff"] * 2, "value": [1.0, 2.0]})
    with pytest.raises(DataError, match=r"Subject '02': Session 'pre' has two measures of "
                                        r"feature 'alff' in ROI 'SMA_L'"):
        Cohort.from_frames(participants, measures=measures)
    cohort = Cohort.from_frames(participants, measures=measures.iloc[:1])
    with pytest.raises(DataError, match=r"Subject '02': Session 'pre' has two measures"):
        cohort.with_measures(measures.iloc[:1])


def test_unknown_instrument_in_long_scores_names_subject_and_session(participants):
    long = pd.DataFrame({"participant_id": ["sub-03"], "session": ["baseline"],
                         "instrument": ["PHQ9"], "value": [3.0]})
    with pytest.raises(RegistryError, match=r"Subject '03', session 'baseline': Unknown "
                                            r"instrument 'PHQ9'"):
        Cohort.from_frames(participants, long)
