"""Percent change (PPR/PDC) and per-subject outcomes with IMMPACT responder flags."""

import numpy as np
import pandas as pd
import pytest

from painmarkers import ClinicalScore, Cohort, Session, Subject
from painmarkers.exceptions import DataError, RegistryError, ScoreRangeError
from painmarkers.schema import OUTCOME_COLUMNS
from painmarkers.stats import outcomes, percent_change
from painmarkers.stats._data import as_table


def test_percent_change_hand_values():
    # PPR = 100 (pre - post) / pre: 8 -> 4 is 50 %, 7.25 -> 4.60 is 36.55 %, worse is negative
    np.testing.assert_allclose(percent_change([8.0, 7.25, 5.0], [4.0, 4.60, 6.0]),
                               [50.0, 100 * 2.65 / 7.25, -20.0], rtol=1e-12)
    # RMDQ 15 -> 13: PDC 13.33 %
    np.testing.assert_allclose(percent_change(15, 13), 100 * 2 / 15, rtol=1e-12)
    # higher is better: improvement is an increase
    np.testing.assert_allclose(percent_change([40.0], [50.0], direction="higher_is_better"),
                               [25.0], rtol=1e-12)
    np.testing.assert_allclose(percent_change([[2.0, 4.0]], [[1.0, np.nan]]), [[50.0, np.nan]])


def test_percent_change_zero_and_negative_baseline():
    with pytest.raises(DataError, match=r"zero baseline: subject 'sub-02' has pre = 0"):
        percent_change([5.0, 0.0], [3.0, 1.0], subjects=["sub-01", "sub-02"])
    with pytest.raises(DataError, match=r"zero baseline: position 1 has pre = 0"):
        percent_change([5.0, 0.0], [3.0, 1.0])
    np.testing.assert_allclose(percent_change([5.0, 0.0], [3.0, 1.0], zero_baseline="nan"),
                               [40.0, np.nan])
    with pytest.raises(DataError, match=r"positive baseline; subject 'b' has pre = -1.0"):
        percent_change([2.0, -1.0], [1.0, 1.0], subjects=["a", "b"])


def test_percent_change_bad_input():
    with pytest.raises(DataError, match=r"'post' must be numeric; subject 'b' has 'x'"):
        percent_change([2.0, 3.0], ["1", "x"], subjects=["a", "b"])
    with pytest.raises(ValueError, match="same shape"):
        percent_change([2.0, 3.0], [1.0])
    with pytest.raises(ValueError, match="'direction' parameter must be one of"):
        percent_change([2.0], [1.0], direction="down")
    with pytest.raises(DataError, match="infinite"):
        percent_change([np.inf], [1.0])


@pytest.fixture
def cohort():
    rows = {"01": (8.0, 4.0), "02": (6.0, 5.0), "03": (10.0, 7.0), "04": (7.0, None),
            "05": (5.0, np.nan)}
    subjects = []
    for sid, (pre, post) in rows.items():
        sessions = [Session("pre", [ClinicalScore("VAS", pre), ClinicalScore("RMDQ", 12)])]
        if post is not None:
            sessions.append(Session("post", [ClinicalScore("VAS", post),
                                              ClinicalScore("RMDQ", 6)]))
        subjects.append(Subject(sid, "CLBP", sessions=sessions))
    subjects.append(Subject("06", "HC", sessions=[Session("baseline",
                                                          [ClinicalScore("VAS", 0.0)])]))
    subjects.append(Subject("07", "CLBP"))
    return Cohort(subjects)


def test_outcomes_one_row_per_subject_with_reasons(cohort):
    out = outcomes(cohort, "VAS")
    assert list(out.columns) == list(OUTCOME_COLUMNS)
    assert list(out["subject_id"]) == ["01", "02", "03", "04", "05", "06", "07"]
    np.testing.assert_allclose(out["percent_change"],
                               [50.0, 100 / 6, 30.0, np.nan, np.nan, np.nan, np.nan], rtol=1e-12)
    np.testing.assert_allclose(out["change"][:3], [-4.0, -1.0, -3.0])
    # IMMPACT: >= 30 % moderate (30 % exactly counts), >= 50 % substantial
    assert out["responder_moderate"].tolist() == [True, False, True] + [pd.NA] * 4
    assert out["responder_substantial"].tolist() == [True, False, False] + [pd.NA] * 4
    reasons = dict(zip(out["subject_id"], out["excluded_reason"], strict=True))
    assert pd.isna(reasons["01"])
    assert reasons["04"] == "no 'post' session"
    assert reasons["05"] == "VAS missing at 'post'"
    assert reasons["06"] == "no 'pre' session; no 'post' session"
    assert reasons["07"] == "no 'pre' session; no 'post' session"
    assert out["group"].tolist() == ["CLBP"] * 5 + ["HC", "CLBP"]
    assert (out["instrument"] == "VAS").all()


def test_outcomes_disability_alias_and_frame_input(cohort):
    out = outcomes(cohort, "roland-morris")
    assert out["instrument"].iloc[0] == "RMDQ"
    np.testing.assert_allclose(out["percent_change"][:3], [50.0, 50.0, 50.0])
    # same numbers from the wide and the tidy tables
    wide = outcomes(cohort.wide(), "VAS")
    tidy = outcomes(cohort.to_frame(), "VAS")
    expected = outcomes(cohort, "VAS").iloc[:6].reset_index(drop=True)
    pd.testing.assert_frame_equal(wide, expected)
    pd.testing.assert_frame_equal(tidy, expected)


def test_outcomes_zero_baseline(cohort):
    frame = pd.DataFrame({"subject_id": ["a", "a", "b", "b"], "session": ["pre", "post"] * 2,
                          "NRS": [0.0, 2.0, 6.0, 3.0]})
    with pytest.raises(DataError, match=r"subject 'a' has pre = 0"):
        outcomes(frame, "NRS")
    out = outcomes(frame, "NRS", zero_baseline="nan")
    assert out["excluded_reason"].tolist()[0] == "zero baseline"
    np.testing.assert_allclose(out["percent_change"], [np.nan, 50.0])


def test_outcomes_custom_sessions_and_bad_input():
    frame = pd.DataFrame({"subject_id": ["a", "a", "b", "b"], "visit": ["w0", "w8"] * 2,
                          "ODI": [40.0, 20.0, 30.0, 27.0]})
    out = outcomes(frame, "ODI", pre="w0", post="w8", within="visit")
    np.testing.assert_allclose(out["percent_change"], [50.0, 10.0])
    assert out["pre_session"].iloc[0] == "w0" and out["group"].isna().all()
    with pytest.raises(RegistryError, match="Unknown instrument 'PainDETECT'"):
        outcomes(frame, "PainDETECT", within="visit")
    with pytest.raises(DataError, match="no column 'session'"):
        outcomes(frame, "ODI")
    dup = pd.concat([frame, frame.iloc[:1]])
    with pytest.raises(DataError, match="Subject 'a' has more than one row for session 'w0'"):
        outcomes(dup, "ODI", pre="w0", post="w8", within="visit")
    bad = frame.assign(ODI=["40", "20", "thirty", "27"])
    with pytest.raises(DataError, match=r"'ODI' must be numeric; subject 'b' has 'thirty'"):
        outcomes(bad, "ODI", pre="w0", post="w8", within="visit")


def test_tidy_table_pivots_to_wide(cohort):
    wide = as_table(cohort.to_frame())
    expected = cohort.wide()
    assert list(wide.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(wide[["VAS", "RMDQ"]].astype(float),
                                  expected[["VAS", "RMDQ"]].astype(float))


def test_outcomes_score_outside_instrument_range_names_subject_and_session():
    # A table (unlike a Cohort) is not validated on construction: a VAS of 12 must not
    # yield a percent change (it would be 100 (12 - 4) / 12 = 66.7 %).
    frame = pd.DataFrame({"subject_id": ["a", "a", "b", "b"], "session": ["pre", "post"] * 2,
                          "VAS": [7.0, 4.0, 12.0, 4.0]})
    with pytest.raises(ScoreRangeError, match=r"Subject 'b', session 'pre': VAS score 12 is "
                                              r"outside the instrument's valid range \[0, 10\]"):
        outcomes(frame, "VAS")
    with pytest.raises(ScoreRangeError, match=r"Subject 'a', session 'post': RMDQ score -1"):
        outcomes(frame.assign(RMDQ=[15.0, -1.0, 10.0, 8.0]), "RMDQ")
    # in range (bounds inclusive) and NaN are fine
    out = outcomes(frame.assign(VAS=[10.0, 0.0, 5.0, np.nan]), "VAS")
    np.testing.assert_allclose(out["percent_change"], [100.0, np.nan])
