"""Seed-style tables: numbers recomputed independently, seed Table 1/2 reproduced from moments."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from painmarkers import Cohort
from painmarkers.exceptions import (
    DataError,
    DesignError,
    PainmarkersWarning,
    ScoreRangeError,
)
from painmarkers.reporting import clinical_table, demographics_table, format_table


def _exact(n, mean, sd, seed):
    """n values with exactly the given sample mean and SD."""
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def _paired_exact(n, mx, sx, my, sy, t, seed=0):
    """pre, post with exact means/SDs and the SD of the differences implied by paired t."""
    sd_d = (mx - my) * np.sqrt(n) / t
    z = np.random.default_rng(seed).normal(size=(n, 2))
    q, _ = np.linalg.qr(z - z.mean(axis=0))
    z1, z2 = q.T * np.sqrt(n - 1)
    rho = (sx**2 + sy**2 - sd_d**2) / (2 * sx * sy)
    return mx + sx * z1, my + sy * (rho * z1 + np.sqrt(1 - rho**2) * z2)


@pytest.fixture
def seed_participants():
    """Participants with the moments of the seed's Table 1 (CLBP n=15, HC n=10)."""
    return pd.DataFrame({
        "participant_id": [f"sub-p{i:02d}" for i in range(15)] + [f"sub-h{i:02d}"
                                                                 for i in range(10)],
        "group": ["CLBP"] * 15 + ["HC"] * 10,
        "age": np.r_[_exact(15, 44.87, 10.89, 1), _exact(10, 40.88, 8.73, 2)],
        "sex": ["F"] * 8 + ["M"] * 7 + ["female"] * 6 + ["male"] * 4,
        "bmi": np.r_[_exact(15, 27.39, 4.59, 3), _exact(10, 23.70, 5.46, 4)],
        "pain_duration_years": np.r_[_exact(15, 1.88, 1.10, 5), [np.nan] * 10],
    })


def test_demographics_reproduces_seed_table1(seed_participants):
    cohort = Cohort.from_frames(seed_participants)
    table = demographics_table(cohort)
    assert list(table["group"]) == ["CLBP", "HC"] and list(table["n"]) == [15, 10]
    clbp, hc = table.iloc[0], table.iloc[1]
    np.testing.assert_allclose([clbp["age_mean"], clbp["age_sd"], clbp["bmi_mean"],
                                clbp["bmi_sd"], clbp["pain_duration_years_mean"],
                                clbp["pain_duration_years_sd"]],
                               [44.87, 10.89, 27.39, 4.59, 1.88, 1.10], rtol=1e-12)
    np.testing.assert_allclose([hc["age_mean"], hc["age_sd"], hc["bmi_mean"], hc["bmi_sd"]],
                               [40.88, 8.73, 23.70, 5.46], rtol=1e-12)
    np.testing.assert_allclose([clbp["female_pct"], clbp["male_pct"], hc["female_pct"],
                                hc["male_pct"]], [800 / 15, 700 / 15, 60.0, 40.0], rtol=1e-12)
    assert np.isnan(hc["pain_duration_years_mean"]) and hc["pain_duration_years_n"] == 0
    assert table["age_mean"].dtype == float
    shown = format_table(table)
    assert shown.loc["CLBP (N=15)", "age"] == "44.87 (10.89)"
    assert shown.loc["HC (N=10)", "bmi"] == "23.70 (5.46)"
    assert shown.loc["HC (N=10)", "pain_duration_years"] == "—"
    assert shown.loc["HC (N=10)", "Female/Male (%)"] == "60/40"
    assert shown.loc["CLBP (N=15)", "Female/Male (%)"] == "53/47"


def test_demographics_equals_pandas_groupby():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"subject_id": [f"s{i}" for i in range(30)],
                       "arm": rng.choice(["A", "B", "C"], 30),
                       "age": rng.normal(40, 9, 30), "sex": rng.choice(["F", "M", None], 30)})
    df.loc[[2, 5], "age"] = np.nan
    table = demographics_table(df, between="arm", variables=["age"], levels=["C", "A"])
    assert list(table["group"]) == ["C", "A"]
    grouped = df.groupby("arm")["age"]
    for _, row in table.iterrows():
        g = row["group"]
        np.testing.assert_allclose([row["age_mean"], row["age_sd"]],
                                   [grouped.mean()[g], grouped.std(ddof=1)[g]], rtol=1e-12)
        assert row["age_n"] == grouped.count()[g]
        sub = df[df.arm == g]
        known = sub["sex"].notna().sum()
        assert row["sex_missing_n"] == len(sub) - known
        np.testing.assert_allclose(row["female_pct"], 100 * (sub["sex"] == "F").sum() / known)
    everyone = demographics_table(df, between=None, variables=["age"], sex=None)
    assert list(everyone["group"]) == ["all"] and everyone["n"].iloc[0] == 30
    np.testing.assert_allclose(everyone["age_mean"], df["age"].mean(), rtol=1e-12)
    assert everyone["female_pct"].isna().all()


def test_demographics_bad_input(seed_participants):
    with pytest.raises(DesignError, match=r"Group\(s\) \['Ctrl'\] absent from column 'group'"):
        demographics_table(seed_participants, levels=["CLBP", "Ctrl"])
    bad = seed_participants.assign(age=seed_participants["age"].astype(object))
    bad.loc[3, "age"] = "forty"
    with pytest.raises(DataError, match=r"'age' must be numeric; subject 'sub-p03' has 'forty'"):
        demographics_table(bad, subject="participant_id")
    with pytest.raises(DataError, match="no column 'height'"):
        demographics_table(seed_participants, variables=["height"])
    dup = pd.concat([seed_participants, seed_participants.iloc[:1]])
    with pytest.raises(DataError, match="Subject 'sub-p00' appears more than once"):
        demographics_table(dup, subject="participant_id")


@pytest.fixture
def seed_clinical():
    """Scores with the moments and paired t of the seed's Table 2 (n=15)."""
    vas_pre, vas_post = _paired_exact(15, 7.25, 0.99, 4.60, 1.03, 6.80, seed=0)
    rm_pre, rm_post = _paired_exact(15, 15.58, 3.40, 13.25, 3.46, 12.72, seed=2)
    ids = [f"p{i:02d}" for i in range(15)]
    scores = pd.DataFrame({"participant_id": ids * 2, "session": ["pre"] * 15 + ["post"] * 15,
                           "vas": np.r_[vas_pre, vas_post], "rmdq": np.r_[rm_pre, rm_post]})
    participants = pd.DataFrame({"participant_id": ids, "group": "CLBP"})
    return Cohort.from_frames(participants, scores), (vas_pre, vas_post, rm_pre, rm_post)


def test_clinical_table_reproduces_seed_table2(seed_clinical):
    cohort, (vas_pre, vas_post, rm_pre, rm_post) = seed_clinical
    table = clinical_table(cohort)  # every instrument with scores: RMDQ, VAS (sorted)
    table = table.set_index("instrument")
    assert set(table.index) == {"VAS", "RMDQ"}
    vas, rm = table.loc["VAS"], table.loc["RMDQ"]
    np.testing.assert_allclose([vas["pre_mean"], vas["pre_sd"], vas["post_mean"], vas["post_sd"],
                                vas["statistic"]], [7.25, 0.99, 4.60, 1.03, 6.80], rtol=1e-10)
    np.testing.assert_allclose([rm["pre_mean"], rm["pre_sd"], rm["post_mean"], rm["post_sd"],
                                rm["statistic"]], [15.58, 3.40, 13.25, 3.46, 12.72], rtol=1e-10)
    assert vas["p"] < 0.001 and rm["p"] < 0.001
    np.testing.assert_allclose(vas["p"], 2 * stats.t.sf(6.80, 14), rtol=1e-8)
    # PPR / PDC recomputed by hand from the per-subject scores
    ppr = 100 * (vas_pre - vas_post) / vas_pre
    pdc = 100 * (rm_pre - rm_post) / rm_pre
    np.testing.assert_allclose([vas["percent_mean"], vas["percent_sd"]],
                               [ppr.mean(), ppr.std(ddof=1)], rtol=1e-12)
    np.testing.assert_allclose([rm["percent_mean"], rm["percent_sd"]],
                               [pdc.mean(), pdc.std(ddof=1)], rtol=1e-12)
    assert (vas["percent_label"], rm["percent_label"]) == ("PPR", "PDC")
    assert vas["n"] == 15 and vas["n_excluded"] == 0 and vas["df"] == 14
    shown = format_table(clinical_table(cohort, ["VAS", "RMDQ"]))
    assert list(shown.columns) == ["VAS (N=15) Mean±SD", "RMDQ (N=15) Mean±SD"]
    assert list(shown.index) == ["Pre", "Post", "PPR% or PDC%", "t", "p"]
    assert shown.loc["Pre", "VAS (N=15) Mean±SD"] == "7.25±0.99"
    assert shown.loc["Post", "RMDQ (N=15) Mean±SD"] == "13.25±3.46"
    assert shown.loc["t", "RMDQ (N=15) Mean±SD"] == "12.72"
    assert shown.loc["p", "VAS (N=15) Mean±SD"] == "< .001"  # APA style


def test_clinical_table_reports_exclusions_and_bad_input():
    df = pd.DataFrame({"subject_id": ["a", "b", "c", "d", "a", "b", "c"],
                       "session": ["pre"] * 4 + ["post"] * 3,
                       "VAS": [8.0, 6.0, 7.0, 9.0, 4.0, 5.0, 4.5]})
    row = clinical_table(df, "VAS").iloc[0]
    assert row["n"] == 3 and row["n_excluded"] == 1 and row["excluded"] == "d (no 'post' session)"
    # the pre mean uses the complete pairs only, like the t-test
    np.testing.assert_allclose(row["pre_mean"], 7.0, rtol=1e-12)
    np.testing.assert_allclose(row["statistic"],
                               stats.ttest_rel([8.0, 6.0, 7.0], [4.0, 5.0, 4.5]).statistic,
                               rtol=1e-12)
    with pytest.raises(DataError, match="no column 'RMDQ'"):
        clinical_table(df, ["VAS", "RMDQ"])
    with pytest.raises(DataError, match="No instrument column"):
        clinical_table(df.rename(columns={"VAS": "pain"}))
    zero = df.assign(VAS=[0.0, 6.0, 7.0, 9.0, 4.0, 5.0, 4.5])
    with pytest.raises(DataError, match="subject 'a' has pre = 0"):
        clinical_table(zero, "VAS")
    row = clinical_table(zero, "VAS", zero_baseline="nan").iloc[0]
    assert row["n"] == 3 and row["percent_n"] == 2
    with pytest.raises(ValueError, match="expects a table from demographics_table"):
        format_table(pd.DataFrame({"a": [1]}))


def test_demographics_subject_without_group_is_reported():
    people = pd.DataFrame({"subject_id": ["a", "b", "c", "d", "e"],
                           "group": ["A", "A", None, "B", "B"],
                           "age": [40.0, 50.0, 99.0, 30.0, 34.0], "sex": list("FMFMF")})
    with pytest.warns(PainmarkersWarning, match=r"Subject\(s\) \['c'\] have no 'group' label"):
        table = demographics_table(people, variables=["age"])
    assert list(table["group"]) == ["A", "B"] and list(table["n"]) == [2, 2]
    np.testing.assert_allclose(table["age_mean"], [45.0, 32.0], rtol=1e-12)
    assert table.attrs["excluded"] == "c (no 'group' label)"
    # everyone has a group: no warning (warnings are errors in this suite), nothing excluded
    assert demographics_table(people.dropna(), variables=["age"]).attrs["excluded"] == ""


def _solve_table2_row(n, pre_mean, pre_sd, post_mean, post_sd, t, pct_mean, pct_sd, high, seed):
    """Scores in [0, high] whose moments, paired t and percent change are the published ones.

    Seven equations in 2n unknowns, solved by least squares with numpy formulas only
    (sample SD ddof=1, PDC = 100 (pre - post) / pre), independent of painmarkers.
    """
    sd_d = (pre_mean - post_mean) * np.sqrt(n) / t  # t = mean_d / (sd_d / sqrt(n))

    def residuals(v):
        x, y = v[:n], v[n:]
        pct = 100 * (x - y) / x
        return [x.mean() - pre_mean, x.std(ddof=1) - pre_sd, y.mean() - post_mean,
                y.std(ddof=1) - post_sd, (x - y).std(ddof=1) - sd_d, pct.mean() - pct_mean,
                pct.std(ddof=1) - pct_sd]

    rng = np.random.default_rng(seed)
    start = np.r_[rng.normal(pre_mean, pre_sd, n), rng.normal(post_mean, post_sd, n)]
    fit = optimize.least_squares(residuals, start, bounds=(1e-6, high), xtol=1e-15, ftol=1e-15,
                                 gtol=1e-15)
    assert np.max(np.abs(residuals(fit.x))) < 1e-9, "construction of the seed data failed"
    return fit.x[:n], fit.x[n:]


def test_clinical_table_reproduces_seed_table2_rmdq_row_with_pdc():
    # Table 2 of the seed (../shared/reference/seed_studies.json): RMDQ n=15, pre 15.58 +/- 3.40,
    # post 13.25 +/- 3.46, PDC 15.89 +/- 7.82 %, paired t 12.72, p < 0.001. Unlike the VAS row,
    # all six numbers can hold at once with scores in [0, 24]; the PDC is a mean of
    # per-subject ratios, so it differs from 100 (15.58 - 13.25) / 15.58 = 14.96 %.
    pre, post = _solve_table2_row(15, 15.58, 3.40, 13.25, 3.46, 12.72, 15.89, 7.82, 24, seed=0)
    ids = [f"p{i:02d}" for i in range(15)]
    cohort = Cohort.from_frames(
        pd.DataFrame({"participant_id": ids, "group": "CLBP"}),
        pd.DataFrame({"participant_id": ids * 2, "session": ["pre"] * 15 + ["post"] * 15,
                      "rmdq": np.r_[pre, post]}))
    row = clinical_table(cohort, ["RMDQ"]).iloc[0]
    np.testing.assert_allclose(
        [row["pre_mean"], row["pre_sd"], row["post_mean"], row["post_sd"], row["percent_mean"],
         row["percent_sd"], row["statistic"]],
        [15.58, 3.40, 13.25, 3.46, 15.89, 7.82, 12.72], rtol=1e-9)
    assert row["percent_label"] == "PDC" and row["n"] == 15 and row["df"] == 14
    np.testing.assert_allclose(row["p"], 2 * stats.t.sf(12.72, 14), rtol=1e-7)
    assert row["p"] < 0.001
    shown = format_table(clinical_table(cohort, ["RMDQ"]))["RMDQ (N=15) Mean±SD"]
    assert list(shown) == ["15.58±3.40", "13.25±3.46", "15.89±7.82", "12.72", "< .001"]


def test_clinical_table_refuses_out_of_range_scores_in_a_table():
    df = pd.DataFrame({"subject_id": ["a", "b", "c"] * 2, "session": ["pre"] * 3 + ["post"] * 3,
                       "RMDQ": [15.0, 25.0, 12.0, 10.0, 20.0, 9.0]})
    with pytest.raises(ScoreRangeError, match=r"Subject 'b', session 'pre': RMDQ score 25"):
        clinical_table(df, "RMDQ")


def _study_cohort():
    """CLBP p0-p5 scanned pre and post, HC h0-h3 at baseline, one subject 'x0' of group 'X'.

    Planted: p1 lost its 'pre' session (kept 'post'), h2 lost its only session (still a
    subject of the cohort), x0 is of a group outside the comparison.
    """
    from painmarkers import ClinicalScore, Session, Subject

    ages = {"p0": 40.0, "p1": 41.0, "p2": 52.0, "p3": 47.0, "p4": 39.0, "p5": 58.0,
            "h0": 33.0, "h1": 36.0, "h2": 80.0, "h3": 42.0, "x0": 60.0}

    def subject(sid, group, labels):
        sessions = [Session(label, [ClinicalScore("VAS", 5.0)]) for label in labels]
        return Subject(sid, group, covariates={"age": ages[sid], "sex": "F"},
                       sessions=sessions)

    subjects = [subject(f"p{i}", "CLBP", ["post"] if i == 1 else ["pre", "post"])
                for i in range(6)]
    subjects += [subject(f"h{i}", "HC", [] if i == 2 else ["baseline"]) for i in range(4)]
    subjects.append(subject("x0", "X", ["baseline"]))
    return Cohort(subjects), ages


def test_demographics_with_sessions_names_everyone_it_could_not_place():
    cohort, ages = _study_cohort()
    sessions = {"CLBP": "pre", "HC": "baseline"}
    table = demographics_table(cohort, sessions=sessions, variables=["age"]).set_index("group")
    assert list(table.index) == ["CLBP", "HC"]
    assert list(table["n"]) == [5, 3] and list(table["n_excluded"]) == [1, 1]
    assert table.attrs["excluded"] == ("p1 (no 'pre' session); h2 (no 'baseline' session); "
                                       "x0 (group 'X' not in sessions)")
    assert table.attrs["n_excluded"] == 3
    assert table["n"].sum() + table.attrs["n_excluded"] == len(cohort)
    np.testing.assert_allclose(table.loc["CLBP", "age_mean"],
                               np.mean([ages[s] for s in ("p0", "p2", "p3", "p4", "p5")]),
                               rtol=1e-12)
    np.testing.assert_allclose(table.loc["HC", "age_sd"],
                               np.std([ages[s] for s in ("h0", "h1", "h3")], ddof=1),
                               rtol=1e-12)
    # the wide table (one row per subject and session) gives the same table; h2 has no row
    wide = demographics_table(cohort.wide(), sessions=sessions, variables=["age"])
    pd.testing.assert_frame_equal(wide.set_index("group")[["n", "age_mean", "age_sd"]],
                                  table[["n", "age_mean", "age_sd"]])
    assert wide.attrs["excluded"] == "p1 (no 'pre' session); x0 (group 'X' not in sessions)"


def test_demographics_without_sessions_tabulates_every_participant_and_lists_levels_left_out():
    cohort, ages = _study_cohort()
    table = demographics_table(cohort, levels=["CLBP", "HC"], variables=["age"])
    assert list(table["n"]) == [6, 4] and list(table["n_excluded"]) == [0, 0]
    assert table.attrs["excluded"] == "x0 (group 'X' not in levels)"
    assert table["n"].sum() + table.attrs["n_excluded"] == len(cohort)
    one_session = demographics_table(cohort, between=None, sessions="baseline",
                                     variables=["age"])
    assert list(one_session["n"]) == [4] and list(one_session["n_excluded"]) == [7]
    np.testing.assert_allclose(one_session["age_mean"],
                               np.mean([ages[s] for s in ("h0", "h1", "h3", "x0")]), rtol=1e-12)
    with pytest.raises(DataError, match=r"appears more than once.*sessions="):
        demographics_table(cohort.wide(), variables=["age"])
