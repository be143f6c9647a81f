"""Subjects lost to a session selection are counted and named, never dropped silently.

Planted missing sessions (a session removed as by a motion rule): every test checks
n, n_excluded and the named ids, and that the numbers still equal SciPy on the rows
that remain.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from painmarkers import ClinicalScore, Cohort, ROIMeasure, Session, Subject
from painmarkers.exceptions import DataError, DesignError
from painmarkers.stats import (
    correlate,
    icc,
    one_sample_ttest,
    outcomes,
    paired_ttest,
    two_sample_ttest,
)


@pytest.fixture
def table():
    """CLBP p00-p07 scanned pre and post, HC h00-h06 scanned at baseline.

    Planted: p02 and p05 lost their 'pre' session, h03 has only a 'followup' row.
    """
    rng = np.random.default_rng(21)
    rows = []
    for i in range(8):
        for ses in ("pre", "post"):
            if ses == "pre" and i in (2, 5):
                continue
            rows.append({"subject_id": f"p{i:02d}", "group": "CLBP", "session": ses,
                         "VAS": rng.uniform(3, 9), "alff__SMA_L": rng.normal(1.2, 0.3)})
    for i in range(7):
        rows.append({"subject_id": f"h{i:02d}", "group": "HC",
                     "session": "followup" if i == 3 else "baseline",
                     "VAS": np.nan, "alff__SMA_L": rng.normal(0.9, 0.3)})
    return pd.DataFrame(rows)


def _values(df, group, session, column="alff__SMA_L"):
    return df.loc[(df.group == group) & (df.session == session), column].to_numpy()


def test_two_sample_counts_subjects_without_the_selected_session(table):
    row = two_sample_ttest(table, "alff__SMA_L", levels=("CLBP", "HC"),
                           sessions={"CLBP": "pre", "HC": "baseline"}).iloc[0]
    assert (row["n"], row["n_x"], row["n_y"], row["n_excluded"]) == (12, 6, 6, 3)
    assert row["excluded"] == ("p02 (no 'pre' session); p05 (no 'pre' session); "
                               "h03 (no 'baseline' session)")
    x, y = _values(table, "CLBP", "pre"), _values(table, "HC", "baseline")
    ref = stats.ttest_ind(x, y)
    np.testing.assert_allclose([row["statistic"], row["p"], row["df"]],
                               [ref.statistic, ref.pvalue, ref.df], rtol=1e-12)


def test_two_sample_single_label_counts_only_the_compared_groups(table):
    data = table.assign(session=table.session.replace({"baseline": "pre"}))
    data = pd.concat([data, pd.DataFrame({"subject_id": ["x0"], "group": ["other"],
                                          "session": ["post"], "alff__SMA_L": [1.0]})])
    row = two_sample_ttest(data, "alff__SMA_L", levels=("CLBP", "HC"), sessions="pre").iloc[0]
    # x0 belongs to neither group: not part of the test, not excluded
    assert row["n_excluded"] == 3 and "x0" not in row["excluded"]
    assert row["excluded"] == ("p02 (no 'pre' session); p05 (no 'pre' session); "
                               "h03 (no 'pre' session)")


def test_one_sample_and_correlate_count_subjects_without_the_session(table):
    clbp = table[table.group == "CLBP"]
    row = one_sample_ttest(clbp, "alff__SMA_L", mu=1.0, sessions="pre").iloc[0]
    assert (row["n"], row["n_excluded"]) == (6, 2)
    assert row["excluded"] == "p02 (no 'pre' session); p05 (no 'pre' session)"
    ref = stats.ttest_1samp(_values(table, "CLBP", "pre"), 1.0)
    np.testing.assert_allclose([row["statistic"], row["p"]], [ref.statistic, ref.pvalue],
                               rtol=1e-12)

    r = correlate(clbp, "VAS", "alff__SMA_L", sessions="pre").iloc[0]
    assert (r["n"], r["n_excluded"]) == (6, 2)
    assert r["excluded"] == "p02 (no 'pre' session); p05 (no 'pre' session)"
    ref = stats.pearsonr(_values(table, "CLBP", "pre", "VAS"), _values(table, "CLBP", "pre"))
    np.testing.assert_allclose([r["r"], r["p"]], [ref.statistic, ref.pvalue], rtol=1e-12)


def test_mapping_form_counts_only_subjects_of_the_mapped_groups(table):
    row = one_sample_ttest(table, "alff__SMA_L", sessions={"HC": "baseline"}).iloc[0]
    assert (row["n"], row["n_excluded"], row["excluded"]) == (6, 1,
                                                               "h03 (no 'baseline' session)")
    ref = stats.ttest_1samp(_values(table, "HC", "baseline"), 0.0)
    np.testing.assert_allclose(row["statistic"], ref.statistic, rtol=1e-12)


def test_lost_session_and_missing_value_are_both_listed(table):
    data = table.copy()
    data.loc[(data.subject_id == "p01") & (data.session == "pre"), "alff__SMA_L"] = np.nan
    clbp = data[data.group == "CLBP"]
    row = one_sample_ttest(clbp, "alff__SMA_L", sessions="pre").iloc[0]
    assert (row["n"], row["n_excluded"]) == (5, 3)
    assert row["excluded"] == ("p02 (no 'pre' session); p05 (no 'pre' session); "
                               "p01 (alff__SMA_L missing)")


def _cohort(n_clbp=50, n_hc=50, seed=0):
    """CLBP scanned pre and post, HC at baseline: 150 sessions for 50 + 50 subjects."""
    rng = np.random.default_rng(seed)

    def session(label, mean):
        return Session(label, scores=[ClinicalScore("VAS", float(rng.uniform(2, 9)))],
                       measures=[ROIMeasure("SMA_L", "alff", float(rng.normal(mean, 0.3)))])

    subjects = [Subject(f"p{i:02d}", "CLBP", sessions=[session("pre", 1.2),
                                                       session("post", 1.0)])
                for i in range(n_clbp)]
    subjects += [Subject(f"h{i:02d}", "HC", sessions=[session("baseline", 0.9)])
                 for i in range(n_hc)]
    return Cohort(subjects)


def _drop_sessions(cohort, removed):
    """Remove (subject, session) pairs as a motion rule does; subjects stay (maybe empty)."""
    out = []
    for sub in cohort:
        kept = tuple(s for s in sub.sessions if (sub.id, s.label) not in removed)
        out.append(dataclasses.replace(sub, sessions=kept))
    return Cohort(out)


def test_motion_removed_sessions_are_counted_on_a_150_session_cohort():
    full = _cohort()
    assert full.n_sessions == 150
    cohort = _drop_sessions(full, {("p03", "pre"), ("p17", "pre"), ("h05", "baseline")})
    sessions = {"CLBP": "pre", "HC": "baseline"}
    row = two_sample_ttest(cohort, "alff__SMA_L", sessions=sessions).iloc[0]
    assert (row["n"], row["n_x"], row["n_y"], row["n_excluded"]) == (97, 48, 49, 3)
    # h05 lost its only session: it has no row at all but is a subject of the cohort
    assert row["excluded"] == ("p03 (no 'pre' session); p17 (no 'pre' session); "
                               "h05 (no 'baseline' session)")
    wide = full.wide()
    x = wide[(wide.session == "pre") & ~wide.subject_id.isin(["p03", "p17"])]["alff__SMA_L"]
    y = wide[(wide.session == "baseline") & (wide.subject_id != "h05")]["alff__SMA_L"]
    ref = stats.ttest_ind(x, y)
    np.testing.assert_allclose([row["statistic"], row["p"]], [ref.statistic, ref.pvalue],
                               rtol=1e-12)


def test_cohort_subjects_without_any_session_are_counted():
    cohort = _drop_sessions(_cohort(6, 4, seed=3), {("p01", "pre"), ("p01", "post"),
                                                    ("h02", "baseline")})
    clbp = Cohort([s for s in cohort if s.group == "CLBP"])
    one = one_sample_ttest(clbp, "alff__SMA_L", sessions="pre").iloc[0]
    assert (one["n"], one["n_excluded"], one["excluded"]) == (5, 1, "p01 (no 'pre' session)")
    paired = paired_ttest(clbp, "alff__SMA_L").iloc[0]
    assert (paired["n"], paired["n_excluded"]) == (5, 1)
    assert paired["excluded"] == "p01 (no 'pre' session, no 'post' session)"
    wide = clbp.wide()
    pre = wide[wide.session == "pre"].set_index("subject_id")["alff__SMA_L"]
    post = wide[wide.session == "post"].set_index("subject_id")["alff__SMA_L"]
    ref = stats.ttest_rel(pre, post.reindex(pre.index))
    np.testing.assert_allclose(paired["statistic"], ref.statistic, rtol=1e-12)
    hc = Cohort([s for s in cohort if s.group == "HC"])
    corr = correlate(hc, "VAS", "alff__SMA_L").iloc[0]  # no session selected
    assert (corr["n"], corr["n_excluded"], corr["excluded"]) == (3, 1, "h02 (no session)")
    out = outcomes(clbp, "VAS").set_index("subject_id")
    assert out.loc["p01", "excluded_reason"] == "no 'pre' session; no 'post' session"


def test_icc_lists_subjects_without_a_session():
    rng = np.random.default_rng(4)
    cohort = _drop_sessions(
        Cohort([Subject(f"s{i}", "HC", sessions=[
            Session(ses, measures=[ROIMeasure("SMA_L", "alff", float(rng.normal()))])
            for ses in ("a", "b")]) for i in range(6)]),
        {("s1", "b"), ("s4", "a"), ("s4", "b")})
    with pytest.raises(DataError, match=r"2 subject\(s\) lack.*s1 \(no 'b' session\)"):
        icc(cohort, "alff__SMA_L")
    res = icc(cohort, "alff__SMA_L", nan_policy="omit")
    assert (res["n"] == 4).all() and (res["n_excluded"] == 2).all()
    assert (res["excluded"] == "s1 (no 'b' session); s4 (no session)").all()
    wide = cohort.wide()
    ref = icc(wide[~wide.subject_id.isin(["s1", "s4"])], "alff__SMA_L")
    np.testing.assert_allclose(res["icc"], ref["icc"], rtol=1e-12)


def test_absent_session_label_still_an_error(table):
    with pytest.raises(DesignError, match=r"Session 'week4' is absent from column 'session'"):
        one_sample_ttest(table, "alff__SMA_L", sessions="week4")


def test_sessions_take_an_optional_bids_prefix():
    """``sessions="ses-pre"`` selects the ``pre`` rows, as ``Cohort.select`` does."""
    from painmarkers.stats import one_sample_ttest

    frame = pd.DataFrame({"subject_id": ["01", "02", "03", "01", "02", "03"],
                          "session": ["pre"] * 3 + ["post"] * 3,
                          "x": [1.0, 2.0, 4.0, 0.0, 0.5, 0.7]})
    plain = one_sample_ttest(frame, "x", sessions="pre")
    prefixed = one_sample_ttest(frame, "x", sessions="ses-pre")
    pd.testing.assert_frame_equal(plain, prefixed)
    assert plain.loc[0, "n"] == 3
    with pytest.raises(DesignError, match=r"Session 'ses-visit3' is absent"):
        one_sample_ttest(frame, "x", sessions="ses-visit3")


def test_pre_post_take_an_optional_bids_prefix_and_refuse_an_absent_session():
    """``outcomes(pre="ses-pre")`` used to give all-NaN rows silently."""
    from painmarkers.stats import outcomes, paired_ttest

    frame = pd.DataFrame({"subject_id": ["01", "02", "03"] * 2,
                          "session": ["pre"] * 3 + ["post"] * 3,
                          "VAS": [6.0, 7.0, 8.0, 3.0, 5.0, 4.0]})
    plain = outcomes(frame, "VAS", pre="pre", post="post")
    pd.testing.assert_frame_equal(outcomes(frame, "VAS", pre="ses-pre", post="ses-post"), plain)
    np.testing.assert_allclose(plain["percent_change"], [50.0, 100 * 2 / 7, 50.0], rtol=1e-12)
    pd.testing.assert_frame_equal(paired_ttest(frame, "VAS", pre="ses-pre", post="post"),
                                  paired_ttest(frame, "VAS"))
    for func in (outcomes, paired_ttest):
        with pytest.raises(DesignError, match=r"Session 'week4' is absent from column "
                                              r"'session' \(present: \['post', 'pre'\]\)"):
            func(frame, "VAS", pre="pre", post="week4")
