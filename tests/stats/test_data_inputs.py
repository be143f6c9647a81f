"""How stats functions read their data: Cohort, tidy and wide tables, sessions, grids."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from painmarkers import ClinicalScore, Cohort, Instrument, Session, Subject, register_instrument
from painmarkers.exceptions import DataError, DesignError
from painmarkers.stats import correlate, one_sample_ttest, outcomes, two_sample_ttest
from painmarkers.stats._data import as_table, select_session


@pytest.fixture
def wide():
    rng = np.random.default_rng(9)
    n = 12
    return pd.DataFrame({
        "subject_id": [f"s{i:02d}" for i in range(n)] * 2,
        "group": (["CLBP"] * 6 + ["HC"] * 6) * 2,
        "session": ["pre"] * n + ["post"] * n,
        "VAS": rng.uniform(2, 9, 2 * n),
        "RMDQ": rng.uniform(5, 20, 2 * n),
        "alff__INS_L": rng.normal(size=2 * n),
    })


def test_session_selection_by_label_list_and_mapping(wide):
    assert len(select_session(wide, "pre", "session", "group")) == 12
    assert len(select_session(wide, ["pre", "post"], "session", "group")) == 24
    sel = select_session(wide, {"CLBP": "pre", "HC": "post"}, "session", "group")
    assert set(zip(sel.group, sel.session, strict=True)) == {("CLBP", "pre"), ("HC", "post")}
    assert len(select_session(wide, {}, "session", "group")) == 24  # empty mapping: no filter
    with pytest.raises(DesignError, match=r"Session 'follow_up' is absent from column 'session'"):
        select_session(wide, "follow_up", "session", "group")
    with pytest.raises(DataError, match="no group column 'arm'"):
        select_session(wide, {"CLBP": "pre"}, "session", "arm")


def test_one_sample_with_session_and_duplicate_rows(wide):
    with pytest.raises(DataError, match=r"Subject 's00' has more than one row.*sessions="):
        one_sample_ttest(wide, "alff__INS_L")
    row = one_sample_ttest(wide, "alff__INS_L", sessions="post").iloc[0]
    x = wide.loc[wide.session == "post", "alff__INS_L"]
    np.testing.assert_allclose(row["statistic"], stats.ttest_1samp(x, 0).statistic, rtol=1e-12)


def test_correlation_grid_of_several_x(wide):
    pre = wide[wide.session == "pre"]
    res = correlate(pre, ["VAS", "RMDQ"], ["alff__INS_L", "RMDQ"])
    # the pair RMDQ-RMDQ is skipped
    assert list(zip(res.x, res.y, strict=True)) == [("VAS", "alff__INS_L"), ("VAS", "RMDQ"),
                                                    ("RMDQ", "alff__INS_L")]
    np.testing.assert_allclose(res["r"].iloc[1], np.corrcoef(pre.VAS, pre.RMDQ)[0, 1],
                               rtol=1e-12)


def test_two_sample_subject_without_group_is_reported():
    df = pd.DataFrame({"group": ["A", "A", None, "B", "B"], "v": [1.0, 2.0, 9.0, 4.0, 6.0]},
                      index=["a1", "a2", "x", "b1", "b2"])
    row = two_sample_ttest(df, "v", levels=("A", "B")).iloc[0]
    assert row["n"] == 4 and row["excluded"] == "x (no 'group' label)"


def test_tidy_table_with_duplicate_values_rejected():
    tidy = pd.DataFrame({"subject_id": ["01", "01"], "group": ["CLBP"] * 2,
                         "session": ["pre"] * 2, "kind": ["score"] * 2, "name": ["VAS"] * 2,
                         "roi": [None, None], "value": [5.0, 6.0]})
    with pytest.raises(DataError, match="more than one value of 'VAS' for subject '01'"):
        as_table(tidy)


def test_outcomes_of_an_instrument_where_higher_is_better():
    register_instrument(Instrument("PF_TEST", 0, 100, direction="higher_is_better"),
                        overwrite=True)
    cohort = Cohort([
        Subject("01", "CLBP", sessions=[Session("pre", [ClinicalScore("PF_TEST", 40)]),
                                        Session("post", [ClinicalScore("PF_TEST", 60)])]),
        Subject("02", "CLBP", sessions=[Session("pre", [ClinicalScore("PF_TEST", 50)]),
                                        Session("post", [ClinicalScore("PF_TEST", 40)])]),
    ])
    out = outcomes(cohort, "PF_TEST")
    # improvement = increase: +50 % and -20 %
    np.testing.assert_allclose(out["percent_change"], [50.0, -20.0], rtol=1e-12)
    assert out["responder_substantial"].tolist() == [True, False]


def test_two_levels_shared_by_the_two_group_comparisons():
    from painmarkers.stats._data import two_levels

    assert two_levels(["CLBP", "HC"], None, "group") == ("CLBP", "HC")
    assert two_levels(["1", "2", "3"], [3, 1], "arm") == ("3", "1")  # labels compared as text
    with pytest.raises(DesignError, match=r"Column 'arm' holds 3 arms \['a', 'b', 'c'\]; pass "
                                          r"levels=\(treatment, control\)"):
        two_levels(["a", "b", "c"], None, "arm", noun="arm", hint="levels=(treatment, control)")
    with pytest.raises(DesignError, match=r"Group\(s\) \['X'\] absent from column 'group' "
                                          r"\(present: \['CLBP', 'HC'\]\)"):
        two_levels(["CLBP", "HC"], ("CLBP", "X"), "group")
    with pytest.raises(ValueError, match=r"must name two groups\. Got \('CLBP',\)"):
        two_levels(["CLBP", "HC"], "CLBP", "group")


def test_is_constant_relative_to_the_magnitude():
    from painmarkers.stats._data import is_constant

    assert is_constant([5.0, 5.0, 5.0]) and not is_constant([5.0, 5.0, 5.1])
    assert is_constant([1e6, 1e6 + 1e-7])  # 1e-7 below 1e-12 x 1e6
    deviations = np.array([0.0, 1e-9, -1e-9])  # e.g. values minus their group means
    assert not is_constant(deviations)  # scaled by themselves (at least 1): 2e-9 > 1e-12
    assert is_constant(deviations, scale=[1e4, 1e4])  # scaled by the data: 2e-9 <= 1e-8
