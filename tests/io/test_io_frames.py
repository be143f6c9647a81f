"""Parsing participant, score and measure tables into a Cohort (painmarkers.io.tables)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from painmarkers import ClinicalScore, Cohort, ROIMeasure, Session, Subject
from painmarkers.exceptions import DataError, PainmarkersWarning
from painmarkers.io.tables import _osa_distance, check_group_labels


@pytest.fixture
def participants():
    return pd.DataFrame({"participant_id": ["sub-01", "sub-02", "sub-03"],
                         "arm": ["CLBP", "CLBP", "HC"], "age": [40, 51, 38]})


@pytest.fixture
def scores():
    return pd.DataFrame({"pid": ["01", "01", "02", "03"],
                         "visit": ["pre", "post", "pre", "pre"],
                         "vas": [7.0, 4.0, 8.0, 0.0]})


def _expected_cohort():
    """The cohort of the fixtures, built record by record."""
    return Cohort([
        Subject("01", "CLBP", {"age": 40}, [Session("pre", [ClinicalScore("VAS", 7.0)]),
                                            Session("post", [ClinicalScore("VAS", 4.0)])]),
        Subject("02", "CLBP", {"age": 51}, [Session("pre", [ClinicalScore("VAS", 8.0)])]),
        Subject("03", "HC", {"age": 38}, [Session("pre", [ClinicalScore("VAS", 0.0)])]),
    ])


def test_vocabulary_keywords(participants, scores):
    cohort = Cohort.from_frames(participants, scores.rename(columns={"pid": "participant_id"}),
                                between="arm", within="visit")
    assert cohort == _expected_cohort()


@pytest.mark.parametrize("old, new, value", [("subject_col", "subject", "pid"),
                                             ("group_col", "between", "arm"),
                                             ("session_col", "within", "visit")])
def test_old_keywords_warn_and_give_the_same_cohort(participants, scores, old, new, value):
    people = participants.rename(columns={"participant_id": "pid"})
    kwargs = {"subject": "pid", "between": "arm", "within": "visit"}
    del kwargs[new]
    with pytest.warns(FutureWarning, match=f"renamed '{new}'.*Use {new}='{value}'"):
        cohort = Cohort.from_frames(people, scores, **kwargs, **{old: value})
    assert cohort == _expected_cohort()


def test_both_old_and_new_keyword_is_an_error(participants):
    with pytest.raises(TypeError, match="got both 'group_col'"):
        Cohort.from_frames(participants, between="arm", group_col="arm")


def test_measures_parse_like_records(participants):
    measures = pd.DataFrame({
        "subject_id": ["sub-01", "01", "02"], "session": ["ses-pre", "pre", "pre"],
        "roi": ["SMA_L", "INS_L", "SMA_L"], "feature": ["alff"] * 3,
        "value": [1.5, "2.5", np.nan], "extractor": ["ALFF()", np.nan, "ALFF()"]})
    cohort = Cohort.from_frames(participants, measures=measures, between="arm")
    assert cohort["01"].session("pre").measures == (
        ROIMeasure("SMA_L", "alff", 1.5, "ALFF()"), ROIMeasure("INS_L", "alff", 2.5, None))
    assert np.isnan(cohort["02"].session("pre").measure("alff", "SMA_L"))
    assert cohort["03"].sessions == ()


def test_wide_scores_keep_row_order_of_sessions_and_instruments(participants):
    scores = pd.DataFrame({"participant_id": ["01", "01"], "session": ["post", "pre"],
                           "rmdq": [12, 15], "vas": [4.0, 7.0]})
    cohort = Cohort.from_frames(participants, scores, between="arm")
    assert cohort["01"].session_labels == ("post", "pre")
    assert [s.instrument for s in cohort["01"].session("pre").scores] == ["RMDQ", "VAS"]


# -- bad inputs name the subject, session and value -------------------------------------
def test_missing_group_column_is_an_error_unless_between_none(participants):
    with pytest.raises(DataError, match=r"no group column 'group'.*between=None"):
        Cohort.from_frames(participants)
    cohort = Cohort.from_frames(participants, between=None)
    assert [s.group for s in cohort] == [None, None, None]
    assert cohort["01"].covariates == {"arm": "CLBP", "age": 40}


def test_empty_subject_id_is_an_error(participants):
    bad = participants.astype({"participant_id": object})
    bad.loc[1, "participant_id"] = np.nan
    with pytest.raises(DataError, match=r"empty subject id in column 'participant_id' at "
                                        r"index \[1\]"):
        Cohort.from_frames(bad, between="arm")


def test_empty_session_label_names_the_table(participants, scores):
    bad = scores.astype({"visit": object})
    bad.loc[2, "visit"] = None
    with pytest.raises(DataError, match=r"scores table has an empty session"):
        Cohort.from_frames(participants, bad.rename(columns={"pid": "participant_id"}),
                           between="arm", within="visit")


def test_bad_measure_values_name_subject_and_session(participants):
    measures = pd.DataFrame({"subject_id": ["01", "02"], "session": ["pre", "post"],
                             "roi": ["SMA_L", "SMA_L"], "feature": ["alff", "alff"],
                             "value": [1.0, "high"]})
    with pytest.raises(DataError, match=r"Subject '02', session 'post': ROIMeasure "
                                        r"alff/SMA_L value must be a number. Got 'high'"):
        Cohort.from_frames(participants, measures=measures, between="arm")
    with pytest.raises(DataError, match=r"Subject '02', session 'post'.*Got True"):
        Cohort.from_frames(participants, measures=measures.assign(value=[1.0, True]),
                           between="arm")
    with pytest.raises(DataError, match=r"Subject '01', session 'pre': ROIMeasure 'roi' must "
                                        r"be a non-empty string. Got nan"):
        Cohort.from_frames(participants, measures=measures.assign(roi=[np.nan, "x"],
                                                                  value=1.0), between="arm")
    with pytest.raises(DataError, match=r"Subject '02'.*ROIMeasure 'feature'.*Got ' '"):
        Cohort.from_frames(participants, measures=measures.assign(feature=["a", " "],
                                                                  value=1.0), between="arm")
    with pytest.raises(DataError, match=r"Subject '05' appears in the measures table but not"):
        Cohort.from_frames(participants, measures=measures.assign(subject_id=["01", "05"],
                                                                  value=1.0), between="arm")


def test_with_measures_bad_value_names_subject(participants, scores):
    cohort = Cohort.from_frames(participants, scores.rename(columns={"pid": "subject_id"}),
                                between="arm", within="visit")
    frame = pd.DataFrame({"subject_id": ["01"], "session": ["post"], "roi": ["A"],
                          "feature": ["alff"], "value": ["n.a."]})
    with pytest.raises(DataError, match=r"Subject '01', session 'post'.*Got 'n.a.'"):
        cohort.with_measures(frame)


# -- group labels -------------------------------------------------------------------------
def test_group_labels_differing_in_case_or_spacing_are_an_error(participants):
    bad = participants.assign(arm=["CLBP", "clbp", "HC"])
    with pytest.raises(DataError, match=r"differ only in case or spacing: 'CLBP' \(subject\(s\) "
                                        r"'01'\) vs 'clbp' \(subject\(s\) '02'\)"):
        Cohort.from_frames(bad, between="arm")
    bad = participants.assign(arm=["CLBP", "CLBP", "CLBP "])
    with pytest.raises(DataError, match=r"'CLBP ' \(subject\(s\) '03'\)"):
        Cohort.from_frames(bad, between="arm")


def test_near_miss_group_label_warns_naming_it():
    people = pd.DataFrame({"participant_id": [f"{i:02d}" for i in range(8)],
                           "group": ["CLBP"] * 4 + ["CLPB"] + ["HC"] * 3})
    with pytest.warns(PainmarkersWarning, match=r"'CLPB'.*subject\(s\) '04'.*one letter away "
                                                r"from 'CLBP' \(4 subjects\)") as rec:
        cohort = Cohort.from_frames(people)
    assert rec[0].filename == __file__  # through the Cohort facade, at the caller's line
    assert cohort.groups == ("CLBP", "CLPB", "HC")  # kept as it is: the user decides


def test_group_labels_that_are_not_near_misses_do_not_warn():
    people = pd.DataFrame({"participant_id": [f"{i:02d}" for i in range(12)],
                           # two equal-sized groups one letter apart; short labels
                           "group": ["CLBPa"] * 3 + ["CLBPb"] * 3 + ["HC"] * 5 + ["MC"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Cohort.from_frames(people)


def test_subjects_without_group_label_warn(participants):
    people = participants.astype({"arm": object})
    people.loc[2, "arm"] = np.nan
    with pytest.warns(PainmarkersWarning, match=r"Subject\(s\) '03' have no label in the group "
                                                r"column 'arm'") as rec:
        cohort = Cohort.from_frames(people, between="arm")
    assert rec[0].filename == __file__
    assert cohort["03"].group is None


def test_osa_distance_against_hand_counts():
    assert _osa_distance("clbp", "clbp") == 0
    assert _osa_distance("clbp", "clpb") == 1  # adjacent swap
    assert _osa_distance("clbp", "clb") == 1  # deletion
    assert _osa_distance("clbp", "clbpx") == 1  # insertion
    assert _osa_distance("clbp", "clbq") == 1  # substitution
    assert _osa_distance("clbp", "lcpb") == 2
    assert _osa_distance("kitten", "sitting") == 3
    assert _osa_distance("ca", "abc") == 3  # OSA, not Damerau (which gives 2)


def test_check_group_labels_long_subject_lists_are_cut():
    ids = [f"{i:03d}" for i in range(30)]
    with pytest.raises(DataError, match=r"'hc' \(subject\(s\) '010', .*'019' and 10 more\)"):
        check_group_labels(ids, ["HC"] * 10 + ["hc"] * 20, column="group", table="t")


def test_table_shape_errors_keep_their_messages(participants, scores):
    with pytest.raises(DataError, match=r"The measures table lacks column\(s\) \['feature'\]; "
                                        r"it has \['subject_id', 'roi', 'value'\]"):
        Cohort.from_frames(participants, between="arm", measures=pd.DataFrame(
            {"subject_id": ["01"], "roi": ["A"], "value": [1.0]}))
    with pytest.raises(DataError, match=r"The scores table has no subject id column 'pid'"):
        Cohort.from_frames(participants.rename(columns={"participant_id": "pid"}),
                           scores.drop(columns="pid"), subject="pid", between="arm")
    with pytest.raises(DataError, match=r"The scores table needs a subject id column"):
        Cohort.from_frames(participants, scores.drop(columns="pid"), between="arm")
    with pytest.raises(TypeError, match="'participants' parameter must be a pandas DataFrame"):
        Cohort.from_frames({"participant_id": ["01"]})
    with pytest.raises(TypeError, match="'scores' parameter must be a DataFrame"):
        Cohort.from_frames(participants, [1, 2], between="arm")
    with pytest.raises(TypeError, match="'measures' parameter must be a DataFrame"):
        Cohort.from_frames(participants, measures="x", between="arm")
    cohort = Cohort.from_frames(participants, between="arm")
    with pytest.raises(TypeError, match=r"with_measures expects a DataFrame\. Got dict"):
        cohort.with_measures({"subject_id": ["01"]})
